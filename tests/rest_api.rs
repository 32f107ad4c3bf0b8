//! The REST and gRPC APIs of a real app binary: the e-commerce example runs (pipeline and servers
//! in one process) on generated data, and every route answers with what the endpoints hold —
//! checked against the binary's own `dump`, which the oracle tests hold to PostgreSQL — while bad
//! requests get 4xx answers (INVALID_ARGUMENT, NOT_FOUND) that name what is wrong.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use dozer_tests::app::{self, pydozer, App};
use dozer_tests::gen_data;
use serde_json::{json, Value as Json};

/// A running app; killed on drop.
struct Running {
    /// Kept for its drop, which stops the app.
    _serving: app::Serving,
    base: String,
    grpc: String,
    http: reqwest::blocking::Client,
}

impl Running {
    /// `<app> run` (pipeline and servers) until it has caught up.
    fn start(app: &App) -> Running {
        Running::serve(app, "run")
    }

    /// `<app> <command>` (`run`, or `api` for a server of the store alone) until its store has
    /// caught up.
    fn serve(app: &App, command: &str) -> Running {
        let running = Running::launch(app, &[command]);
        let deadline = Instant::now() + Duration::from_secs(120);
        while running.post("/clv/phase", "").1 != json!("Streaming") {
            assert!(Instant::now() < deadline, "the app never caught up");
            std::thread::sleep(Duration::from_millis(100));
        }
        running
    }

    /// `<app> <args>` on free ports, once it serves.
    fn launch(app: &App, args: &[&str]) -> Running {
        let serving = app::Serving::start(&app.binary, args);
        Running {
            base: serving.rest.clone(),
            grpc: serving.grpc.clone(),
            _serving: serving,
            http: reqwest::blocking::Client::new(),
        }
    }

    fn get(&self, path: &str) -> (u16, Json) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap())
    }

    fn post(&self, path: &str, body: &str) -> (u16, Json) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .body(body.to_string())
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap())
    }

    /// A GET with `If-None-Match: tag` that answers `status`: the answer's ETag and
    /// Cache-Control.
    fn conditional(&self, path: &str, tag: Option<&str>, status: u16) -> (String, String) {
        let mut r = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = tag {
            r = r.header("if-none-match", t);
        }
        let r = r.send().unwrap();
        assert_eq!(r.status().as_u16(), status, "{path} with {tag:?}");
        let header = |h: &str| r.headers()[h].to_str().unwrap().to_string();
        let got = (header("etag"), header("cache-control"));
        if status == 304 {
            assert!(r.bytes().unwrap().is_empty(), "a 304 has no body");
        }
        got
    }

    /// A successful query's records.
    fn query(&self, endpoint: &str, q: Json) -> Vec<Json> {
        let (status, body) = self.post(&format!("/{endpoint}/query"), &q.to_string());
        assert_eq!(status, 200, "{q}: {body}");
        body.as_array().unwrap().clone()
    }

    /// A rejected request's status and message.
    fn rejected(&self, path: &str, body: &str) -> (u16, String) {
        let (status, answer) = self.post(path, body);
        assert!(
            (400..500).contains(&status),
            "{path} {body}: {status} {answer}"
        );
        (status, answer["error"].as_str().unwrap().to_string())
    }
}

/// A record's fields as `dump` prints them, without Dozer's id and version.
fn fields(mut r: Json) -> Json {
    let o = r.as_object_mut().unwrap();
    assert!(o.remove("__dozer_record_id").unwrap().is_u64());
    assert!(o.remove("__dozer_record_version").unwrap().is_u64());
    r
}

fn dump(app: &App, endpoint: &str) -> Vec<Json> {
    let out = app.run(&["dump", endpoint]);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| fields(serde_json::from_str(l).unwrap()))
        .collect()
}

fn same_set(mut a: Vec<Json>, mut b: Vec<Json>, what: &str) {
    let key = |j: &Json| j.to_string();
    a.sort_by_key(key);
    b.sort_by_key(key);
    assert_eq!(a, b, "{what}");
}

fn decimal(j: &Json) -> f64 {
    j.as_str()
        .map_or_else(|| j.as_f64().unwrap(), |s| s.parse().unwrap())
}

#[test]
fn every_route_answers_from_the_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let app = app::build(&app::ecommerce_in(dir.path(), 20_000, 3));
    let api = Running::start(&app);

    // Routes of the app as a whole.
    assert_eq!(
        api.get("/"),
        (
            200,
            json!(["/clv", "/bestsellers", "/sales_by_country", "/daily_sales"])
        )
    );
    assert_eq!(api.get("/health"), (200, json!({"status": "SERVING"})));
    assert_eq!(
        api.post("/sales_by_country/phase", "").1,
        json!("Streaming")
    );

    // Whole endpoints: GET gives the default 50, a query with a large limit everything.
    let countries = dump(&app, "sales_by_country");
    let clv = dump(&app, "clv");
    assert!(clv.len() > 100, "the data has many customers");
    let (status, first) = api.get("/clv");
    assert_eq!(status, 200);
    assert_eq!(first.as_array().unwrap().len(), 50);
    let all: Vec<Json> = api
        .query("clv", json!({"$limit": 10000}))
        .into_iter()
        .map(fields)
        .collect();
    same_set(all, clv.clone(), "all of clv");
    assert_eq!(api.post("/clv/count", "").1, json!(clv.len()));

    // By primary key, and a key that is not there.
    let france = countries
        .iter()
        .find(|c| c["Country"] == "France")
        .unwrap()
        .clone();
    let (status, got) = api.get("/sales_by_country/France");
    assert_eq!((status, fields(got)), (200, france.clone()));
    assert_eq!(api.get("/sales_by_country/Atlantis").0, 404);
    assert_eq!(api.get("/clv/notanumber").0, 400);

    // Filters against the dump, with and without an index (every field has one by default).
    let rich: Vec<Json> = clv
        .iter()
        .filter(|c| decimal(&c["LifetimeValue"]) > 500.0)
        .cloned()
        .collect();
    let q = json!({"$filter": {"LifetimeValue": {"$gt": 500}}, "$limit": 10000});
    same_set(
        api.query("clv", q).into_iter().map(fields).collect(),
        rich.clone(),
        "$gt",
    );
    assert_eq!(
        api.post(
            "/clv/count",
            &json!({"$filter": {"LifetimeValue": {"$gt": "500"}}}).to_string()
        )
        .1,
        json!(rich.len())
    );
    let some = json!({"$filter": {"$or": [{"Country": "France"}, {"Country": {"$in": ["Germany", "Spain"]}}]}});
    let picked: Vec<Json> = countries
        .iter()
        .filter(|c| ["France", "Germany", "Spain"].contains(&c["Country"].as_str().unwrap()))
        .cloned()
        .collect();
    same_set(
        api.query("sales_by_country", some)
            .into_iter()
            .map(fields)
            .collect(),
        picked,
        "$or/$in",
    );
    let not_uk = json!({"$filter": {"$not": {"Country": "United Kingdom"}}, "$limit": 1000});
    assert_eq!(
        api.query("sales_by_country", not_uk).len(),
        countries.len() - 1
    );
    let null_customer = json!({"$filter": {"CustomerID": null}});
    assert_eq!(
        api.query("clv", null_customer).len(),
        clv.iter().filter(|c| c["CustomerID"].is_null()).count()
    );

    // Sorting and paging: the top five, and $after pages that cover everything exactly once.
    let mut by_count = dump(&app, "bestsellers");
    by_count.sort_by(|a, b| {
        b["BuyCount"]
            .as_i64()
            .cmp(&a["BuyCount"].as_i64())
            .then_with(|| b["StockCode"].as_str().cmp(&a["StockCode"].as_str()))
    });
    let top: Vec<Json> = api
        .query(
            "bestsellers",
            json!({"$order_by": {"BuyCount": "desc"}, "$limit": 5}),
        )
        .into_iter()
        .map(fields)
        .collect();
    assert_eq!(top, by_count[..5].to_vec());
    let mut seen = vec![];
    let mut after: Option<u64> = None;
    loop {
        let mut q = json!({"$limit": 7, "$order_by": {"BuyCount": "asc"}});
        if let Some(a) = after {
            q["$after"] = json!(a);
        }
        let page = api.query("bestsellers", q);
        if page.is_empty() {
            break;
        }
        after = page.last().unwrap()["__dozer_record_id"].as_u64();
        seen.extend(page.into_iter().map(fields));
    }
    assert_eq!(seen.len(), by_count.len());
    same_set(seen, by_count, "$after pages");

    // The OpenAPI document: the one dozerc wrote next to the config, and per endpoint. Every record
    // this test received conforms to its endpoint's record schema.
    let written: Json = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("ecommerce.openapi.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(api.get("/openapi.json"), (200, written.clone()));
    let (status, clv_doc) = api.get("/clv/oapi");
    assert_eq!(status, 200);
    assert_eq!(api.post("/clv/oapi", "").1, clv_doc);
    let clv_paths: Vec<&String> = clv_doc["paths"].as_object().unwrap().keys().collect();
    assert!(
        clv_paths.iter().all(|p| p.starts_with("/clv")),
        "{clv_paths:?}"
    );
    for (endpoint, record) in [
        ("clv", "ClvRecord"),
        ("bestsellers", "BestsellersRecord"),
        ("sales_by_country", "SalesByCountryRecord"),
        ("daily_sales", "DailySalesRecord"),
    ] {
        let schema = &written["components"]["schemas"][record];
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .unwrap();
        for r in api.query(endpoint, json!({"$limit": 10000})) {
            if let Err(e) = validator.validate(&r) {
                panic!("{endpoint}: {r} does not match its schema: {e}");
            }
        }
    }

    // Bad requests name what is wrong.
    let cases = [
        (
            "/clv/query",
            r#"{"$filter": {"Customer": 1}}"#,
            "unknown field `Customer`",
        ),
        (
            "/clv/query",
            r#"{"$filter": {"CustomerID": {"$like": 1}}}"#,
            "$filter.CustomerID.$like",
        ),
        (
            "/clv/query",
            r#"{"$filter": {"CustomerID": "x"}}"#,
            "`CustomerID` is int",
        ),
        ("/clv/query", r#"{"$filter": "#, "not valid JSON"),
        ("/clv/query", r#"{"$limit": 100000000}"#, "$limit"),
        ("/clv/count", r#"{"$order": 1}"#, "unknown query key"),
    ];
    for (path, body, message) in cases {
        let (status, error) = api.rejected(path, body);
        assert_eq!(status, 400, "{body}");
        assert!(error.contains(message), "{body}: {error}");
    }
    assert_eq!(api.get("/nowhere").0, 404);
    // A cursor in a sorted query at a record that is not there (in id order it needs none).
    let (status, error) = api.post(
        "/bestsellers/query",
        r#"{"$after": 999999999, "$order_by": {"BuyCount": "desc"}}"#,
    );
    assert_eq!(status, 404, "{error}");

    // Cacheable reads: a repeated read with the answer's tag is a 304 without a body.
    let (tag, _) = api.conditional("/sales_by_country/France", None, 200);
    let (again, cache) = api.conditional("/sales_by_country/France", Some(&tag), 304);
    assert_eq!((again, cache.as_str()), (tag.clone(), "no-cache"));
    let (other, _) = api.conditional("/sales_by_country/Germany", Some(&tag), 200);
    assert_ne!(other, tag, "another request, another tag");

    // (REST answers first: the blocking HTTP client cannot run inside the async gRPC checks.)
    let rest = api.query("sales_by_country", top_countries());
    let rest_count = api.post("/clv/count", "").1;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(grpc_checks(&api, rest.clone(), rest_count));
    pydozer_checks(&api, &rest, countries.len());
    typed_checks(&api, dir.path(), &rest, countries.len());
    grpc_web_check(&api);
    // Last: these change the data.
    let replica = Running::serve(&app, "api");
    let positions = rt.block_on(event_checks(&api, &dir.path().join("data/sales")));
    rt.block_on(resume_checks(
        &api,
        &replica,
        positions,
        &dir.path().join("data/sales"),
    ));
    // After the changes: the old tag no longer holds.
    let (changed, _) = api.conditional("/sales_by_country/France", Some(&tag), 200);
    assert_ne!(changed, tag);
    typed_event_check(&api, dir.path());
    pydozer_event_check(&api, &dir.path().join("data/sales"));
}

/// One source batch changes two endpoints in one transaction, so a reader never sees one updated
/// and not the other: while the app ingests in many small batches, a reader takes the global
/// totals, then every country's, then the totals again; whenever the totals did not move in
/// between, the countries add up to exactly them.
#[test]
fn a_batch_is_seen_in_every_endpoint_or_in_none() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dozer-config.yaml");
    std::fs::write(
        &config,
        r#"version: 1
app_name: atomic
connections:
  - name: files
    config: !LocalStorage
      details: { path: ./data }
      tables:
        - !Table { name: sales, config: !CSV { path: sales, extension: .csv } }
sources:
  - { name: sales_data, table_name: sales, connection: files }
sql: |
  SELECT COUNT(*) AS n, SUM(Quantity) AS q INTO totals FROM sales_data;
  SELECT Country, COUNT(*) AS n, SUM(Quantity) AS q INTO by_country FROM sales_data GROUP BY Country;
endpoints:
  - { name: totals, path: /totals, table_name: totals }
  - { name: by_country, path: /by_country, table_name: by_country }
app:
  commit_size: 100
"#,
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("data/sales")).unwrap();
    gen_data::generate(200_000, 11, &dir.path().join("data/sales/sales.csv")).unwrap();
    let app = app::build(&config);
    // Batches of `app.commit_size` (100) records: 2000 commits.
    let api = Running::launch(&app, &["run"]);
    let totals = |api: &Running| -> Option<(i64, i64)> {
        let (status, rows) = api.get("/totals");
        assert_eq!(status, 200);
        rows.as_array()
            .unwrap()
            .first()
            .map(|r| (r["n"].as_i64().unwrap(), r["q"].as_i64().unwrap()))
    };
    let (mut checked, mut straddled) = (0, 0);
    let mut seen = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    while api.post("/totals/phase", "").1 != json!("Streaming") {
        assert!(Instant::now() < deadline, "the app never caught up");
        let before = totals(&api);
        let countries = api.query("by_country", json!({"$limit": 10000}));
        let after = totals(&api);
        let Some((n, q)) = before else { continue };
        seen.insert(n);
        if before != after {
            straddled += 1;
            continue;
        }
        let sum =
            |field: &str| -> i64 { countries.iter().map(|c| c[field].as_i64().unwrap()).sum() };
        assert_eq!((sum("n"), sum("q")), (n, q), "a reader saw half a batch");
        checked += 1;
    }
    assert_eq!(totals(&api).unwrap().0, 200_000);
    // Not vacuous: the reader saw the data at many different batches (at most 20 could it see
    // with the default 10000 records per batch).
    assert!(
        checked >= 20 && seen.len() >= 100,
        "{checked} checks ({straddled} straddled a commit) over {} states",
        seen.len()
    );
}

/// schemathesis against the served OpenAPI document: every operation, with requests generated from
/// the document (valid ones must be accepted, invalid ones refused with a documented 4xx), answers
/// that match their documented status codes, content types and schemas, and never a 5xx.
#[test]
fn the_openapi_document_holds_under_schemathesis() {
    let dir = tempfile::tempdir().unwrap();
    let app = app::build(&app::ecommerce_in(dir.path(), 5_000, 5));
    let api = Running::start(&app);
    let python = app::schemathesis();
    let out = Command::new(python.with_file_name("schemathesis"))
        .current_dir(dir.path())
        .arg("run")
        .arg(format!("{}/openapi.json", api.base))
        .args(["--checks", "all", "--max-examples", "25", "--seed", "1"])
        .args(["--generation-database", "none", "--no-color"])
        .args(["--request-timeout", "30"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found violations:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, doc) = api.get("/openapi.json");
    // schemathesis leaves out the document's own route.
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| *path != "/openapi.json")
        .flat_map(|(_, p)| p.as_object().unwrap().keys())
        .filter(|k| ["get", "post", "put", "delete", "patch"].contains(&k.as_str()))
        .count();
    assert!(
        report.contains(&format!("Tested: {operations}")),
        "all {operations} operations: {report}"
    );
}

/// The typed service of `sales_by_country` through stubs that grpc_tools generates from the
/// `.proto` files dozerc wrote next to the config: the same records as REST, counts, and an
/// error that names the field.
fn typed_checks(api: &Running, config_dir: &Path, rest: &[Json], countries: usize) {
    let got = typed_script(api, config_dir, &[]);
    let records = got["records"].as_array().unwrap();
    assert_eq!(records.len(), rest.len());
    for (t, r) in records.iter().zip(rest) {
        assert_eq!(t[0], r["__dozer_record_id"]);
        assert_eq!(t[1], r["Country"]);
        let total: f64 = t[2].as_str().unwrap().parse().unwrap();
        assert!(
            (total - decimal(&r["TotalSales"])).abs() < 1e-6,
            "{t} vs {r}"
        );
        assert_eq!(t[3], r["__dozer_record_version"]);
    }
    assert_eq!(got["count"], json!(countries));
    assert_eq!(got["count_filtered"], json!(1));
    assert_eq!(got["bad"][0], "INVALID_ARGUMENT");
    assert!(
        got["bad"][1]
            .as_str()
            .unwrap()
            .contains("unknown field `Land`"),
        "{got}"
    );
}

/// The typed service's on_event: a change made while subscribed arrives as a typed event.
fn typed_event_check(api: &Running, config_dir: &Path) {
    let data = config_dir.join("data/sales");
    let got = typed_script(api, config_dir, &["events", data.to_str().unwrap()]);
    assert_eq!(got["typ"], 0, "INSERT: {got}");
    assert_eq!(got["has_old"], false);
    assert_eq!(got["total"], "10.2");
    let (status, record) = api.get("/sales_by_country/Thule");
    assert_eq!(status, 200);
    assert_eq!(record["__dozer_record_id"], got["id"]);
    assert_eq!(record["__dozer_record_version"], got["version"]);
    assert!(got["position"].as_u64().unwrap() > 0);
}

fn typed_script(api: &Running, config_dir: &Path, extra: &[&str]) -> Json {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/typed_check.py");
    let out = Command::new(pydozer())
        .arg(&script)
        .arg(api.grpc.trim_start_matches("http://"))
        .arg(config_dir.join("proto"))
        .arg(config_dir.join("stubs"))
        .arg("sales_by_country")
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the typed service failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// pydozer's ApiClient: health, query, count and describe against the app.
fn pydozer_checks(api: &Running, rest: &[Json], countries: usize) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/pydozer_check.py");
    let out = Command::new(pydozer())
        .arg(&script)
        .arg(api.grpc.trim_start_matches("http://"))
        .arg("sales_by_country")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pydozer failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // describe() prints the services it finds; the script's answer is its last line.
    let got: Json = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(got["health"], 1, "SERVING");
    assert_eq!(
        got["fields"],
        json!([["Country", 6, false], ["TotalSales", 9, false]])
    );
    let records = got["records"].as_array().unwrap();
    assert_eq!(records.len(), rest.len());
    for (p, r) in records.iter().zip(rest) {
        assert_eq!(p[0], r["__dozer_record_id"]);
        assert_eq!(p[1][0], r["Country"]);
        let total: f64 = p[1][1].as_str().unwrap().parse().unwrap();
        assert!(
            (total - decimal(&r["TotalSales"])).abs() < 1e-6,
            "{p} vs {r}"
        );
    }
    assert_eq!(got["count"], json!(countries));
    assert_eq!(got["count_filtered"], json!(1));
    let services: Vec<&str> = got["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Json::as_str)
        .collect();
    for s in [
        "dozer.common.CommonGrpcService",
        "dozer.health.HealthGrpcService",
        "dozer.generated.sales_by_country.SalesByCountry",
    ] {
        assert!(services.contains(&s), "{services:?}");
    }
}

/// pydozer's on_event receives a change made while it is subscribed.
fn pydozer_event_check(api: &Running, data: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/pydozer_check.py");
    let out = Command::new(pydozer())
        .arg(&script)
        .arg(api.grpc.trim_start_matches("http://"))
        .arg("sales_by_country")
        .arg("events")
        .arg(data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pydozer on_event failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Json = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(got["typ"], 0, "INSERT: {got}");
    assert_eq!(got["endpoint"], "sales_by_country");
    let (status, record) = api.get("/sales_by_country/Lemuria");
    assert_eq!(status, 200);
    assert_eq!(record["__dozer_record_id"], got["id"]);
}

/// gRPC-Web (HTTP/1.1) on the gRPC port: a health check framed as a browser client sends it.
fn grpc_web_check(api: &Running) {
    let response = api
        .http
        .post(format!(
            "{}/dozer.health.HealthGrpcService/healthCheck",
            api.grpc
        ))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        // One data frame: flag 0, length 0 (an empty HealthCheckRequest).
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/grpc-web+proto"
    );
    let body = response.bytes().unwrap();
    // A data frame with HealthCheckResponse { status: SERVING (1) }, then the trailers frame.
    assert_eq!(&body[..7], &[0, 0, 0, 0, 2, 0x08, 0x01], "{body:?}");
    assert_eq!(body[7], 0x80, "trailers follow: {body:?}");
    assert!(
        String::from_utf8_lossy(&body[12..]).contains("grpc-status:0"),
        "{body:?}"
    );
}

fn top_countries() -> Json {
    json!({"$filter": {"TotalSales": {"$gt": 100}}, "$order_by": {"TotalSales": "desc"}, "$limit": 5})
}

/// The gRPC services answer like REST: same records, same errors, Dozer's wire shapes.
/// New sales appended as a file the running app picks up: one for `country`, one for France.
fn append_sales(data: &Path, file: &str, country: &str) {
    let header = gen_data::HEADER.join(",");
    let text = format!(
        "{header}\n999001,85123A,WHITE HANGING HEART,3,2011-12-09 13:00:00,2.55,12346,{country}\n999001,22423,REGENCY CAKESTAND,1,2011-12-09 13:00:00,12.75,12347,France\n"
    );
    // Written aside and renamed, so the app never sees half a file.
    let tmp = data.join(format!(".{file}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, data.join(file)).unwrap();
}

/// OnEvent: a change committed while subscribed arrives, as its subscription's filter and event
/// type select it. Returns the event log positions of the changes seen.
async fn event_checks(api: &Running, data: &Path) -> Vec<u64> {
    use dozer_runtime::proto::common::common_grpc_service_client::CommonGrpcServiceClient;
    use dozer_runtime::proto::common::OnEventRequest;
    use dozer_runtime::proto::types::{EventFilter, EventType, OperationType};

    let mut client = CommonGrpcServiceClient::connect(api.grpc.clone())
        .await
        .unwrap();
    let subscribe = |filter: Option<&str>, typ: EventType| OnEventRequest {
        endpoints: [(
            "sales_by_country".to_string(),
            EventFilter {
                r#type: typ as i32,
                filter: filter.map(str::to_string),
            },
        )]
        .into(),
        resume_after: None,
    };
    let mut all = client
        .on_event(subscribe(None, EventType::All))
        .await
        .unwrap()
        .into_inner();
    let mut atlantis_inserts = client
        .on_event(subscribe(
            Some(r#"{"Country": "Atlantis"}"#),
            EventType::InsertOnly,
        ))
        .await
        .unwrap()
        .into_inner();
    let bad = client
        .on_event(subscribe(Some(r#"{"Land": 1}"#), EventType::All))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().contains("unknown field `Land`"), "{bad}");

    let mut sse = reqwest::Client::new()
        .get(format!("{}/sales_by_country/events", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    let bad_sse = reqwest::Client::new()
        .get(format!(
            "{}/sales_by_country/events?filter={{\"Land\":1}}",
            api.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_sse.status(), 400);

    append_sales(data, "sales_2.csv", "Atlantis");
    let deadline = std::time::Duration::from_secs(60);
    let (mut inserted, mut updated) = (false, false);
    let mut positions = vec![];
    while !(inserted && updated) {
        let op = tokio::time::timeout(deadline, all.message())
            .await
            .expect("events arrive")
            .unwrap()
            .unwrap();
        assert_eq!(op.endpoint_name, "sales_by_country");
        assert!(
            positions.last().is_none_or(|p| *p < op.position),
            "positions grow"
        );
        positions.push(op.position);
        match (
            OperationType::try_from(op.typ).unwrap(),
            country(&op.new).as_str(),
        ) {
            (OperationType::Insert, "Atlantis") => inserted = true,
            (OperationType::Update, "France") => {
                assert_eq!(country(&op.old), "France");
                let (old, new) = (op.old.unwrap(), op.new.unwrap());
                assert_eq!((old.id, new.version), (new.id, old.version + 1));
                updated = true;
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    // The SSE stream carries the same events: positions, operations and records.
    let mut text = String::new();
    let mut sse_events: Vec<Json> = vec![];
    while sse_events.len() < positions.len() {
        let chunk = tokio::time::timeout(deadline, sse.chunk())
            .await
            .expect("SSE events arrive")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = text.find("\n\n") {
            let message: String = text.drain(..end + 2).collect();
            let id = message.lines().find_map(|l| l.strip_prefix("id: "));
            let data = message.lines().find_map(|l| l.strip_prefix("data: "));
            if let (Some(id), Some(data)) = (id, data) {
                let event: Json = serde_json::from_str(data).unwrap();
                assert_eq!(event["position"].to_string(), id);
                sse_events.push(event);
            }
        }
    }
    let sse_positions: Vec<u64> = sse_events
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .collect();
    assert_eq!(sse_positions, positions, "SSE and gRPC positions");
    for e in &sse_events {
        assert_eq!(e["endpoint"], "sales_by_country");
        match e["new"]["Country"].as_str().unwrap() {
            "Atlantis" => assert_eq!(e["type"], "INSERT"),
            "France" => {
                assert_eq!(e["type"], "UPDATE");
                assert_eq!(e["old"]["Country"], "France");
                assert_eq!(
                    e["new"]["__dozer_record_version"].as_u64().unwrap(),
                    e["old"]["__dozer_record_version"].as_u64().unwrap() + 1
                );
            }
            other => panic!("unexpected SSE event for {other}"),
        }
    }
    let op = tokio::time::timeout(deadline, atlantis_inserts.message())
        .await
        .expect("the filtered event")
        .unwrap()
        .unwrap();
    assert_eq!(
        (OperationType::try_from(op.typ).unwrap(), country(&op.new)),
        (OperationType::Insert, "Atlantis".into())
    );
    // Nothing else passes that subscription's filter.
    assert!(tokio::time::timeout(
        std::time::Duration::from_millis(500),
        atlantis_inserts.message()
    )
    .await
    .is_err());
    positions
}

/// The next event of a stream (within a minute).
async fn next_event(
    stream: &mut tonic::Streaming<dozer_runtime::proto::types::Operation>,
) -> dozer_runtime::proto::types::Operation {
    tokio::time::timeout(std::time::Duration::from_secs(60), stream.message())
        .await
        .expect("an event arrives")
        .unwrap()
        .unwrap()
}

/// The first field of an event's record, a string (the country of `sales_by_country`).
fn country(r: &Option<dozer_runtime::proto::types::Record>) -> String {
    use dozer_runtime::proto::types::value::Value as V;
    match &r.as_ref().expect("a record").values[0].value {
        Some(V::StringValue(s)) => s.clone(),
        other => panic!("{other:?}"),
    }
}

/// Resuming: a subscriber that gives the position before some changes gets exactly those changes
/// again, from the pipeline's process and from an `api` process beside it (which follows the
/// store's event log by itself); that process also streams changes committed while it listens.
async fn resume_checks(api: &Running, replica: &Running, seen: Vec<u64>, data: &Path) {
    use dozer_runtime::proto::common::common_grpc_service_client::CommonGrpcServiceClient;
    use dozer_runtime::proto::common::OnEventRequest;
    use dozer_runtime::proto::types::EventFilter;

    let request = |resume_after: Option<u64>| OnEventRequest {
        endpoints: [("sales_by_country".to_string(), EventFilter::default())].into(),
        resume_after,
    };
    let first = seen[0];
    for server in [api, replica] {
        let mut client = CommonGrpcServiceClient::connect(server.grpc.clone())
            .await
            .unwrap();
        let mut again = client
            .on_event(request(Some(first - 1)))
            .await
            .unwrap()
            .into_inner();
        let mut replayed = vec![];
        for _ in &seen {
            replayed.push(next_event(&mut again).await.position);
        }
        assert_eq!(replayed, seen, "{}", server.grpc);
        let future = client
            .on_event(request(Some(u64::MAX / 2)))
            .await
            .unwrap_err();
        assert_eq!(future.code(), tonic::Code::InvalidArgument, "{future}");
        assert!(
            future.message().contains("has not been reached"),
            "{future}"
        );
    }
    // Live from the `api` process: a change the pipeline commits after the subscription.
    let mut client = CommonGrpcServiceClient::connect(replica.grpc.clone())
        .await
        .unwrap();
    let mut live = client.on_event(request(None)).await.unwrap().into_inner();
    append_sales(data, "sales_2b.csv", "Hyperborea");
    let mut countries = vec![];
    while !countries.iter().any(|c: &String| c == "Hyperborea") {
        let op = next_event(&mut live).await;
        assert!(op.position > *seen.last().unwrap());
        countries.push(country(&op.new));
    }
}

async fn grpc_checks(api: &Running, rest: Vec<Json>, rest_count: Json) {
    use dozer_runtime::proto::common::common_grpc_service_client::CommonGrpcServiceClient;
    use dozer_runtime::proto::common::{GetEndpointsRequest, GetFieldsRequest, QueryRequest};
    use dozer_runtime::proto::health::health_grpc_service_client::HealthGrpcServiceClient;
    use dozer_runtime::proto::health::HealthCheckRequest;
    use dozer_runtime::proto::types::{value::Value as V, Type};

    let mut common = CommonGrpcServiceClient::connect(api.grpc.clone())
        .await
        .unwrap();
    let endpoints = common
        .get_endpoints(GetEndpointsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        endpoints.endpoints,
        ["clv", "bestsellers", "sales_by_country", "daily_sales"]
    );
    let fields = common
        .get_fields(GetFieldsRequest {
            endpoint: "sales_by_country".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fields.primary_index, [0]);
    let shape: Vec<(String, i32, bool)> = fields
        .fields
        .iter()
        .map(|f| (f.name.clone(), f.typ, f.nullable))
        .collect();
    assert_eq!(
        shape,
        [
            ("Country".to_string(), Type::String as i32, false),
            ("TotalSales".to_string(), Type::Decimal as i32, false)
        ]
    );

    // A filtered, sorted query: the same records, ids and values as REST's.
    let q = top_countries();
    let grpc = common
        .query(QueryRequest {
            endpoint: "sales_by_country".into(),
            query: Some(q.to_string()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(grpc.records.len(), rest.len());
    for (g, r) in grpc.records.iter().zip(&rest) {
        assert_eq!(g.id, r["__dozer_record_id"].as_u64().unwrap());
        let Some(V::StringValue(country)) = &g.values[0].value else {
            panic!("{g:?}")
        };
        assert_eq!(country, r["Country"].as_str().unwrap());
        let Some(V::DecimalValue(d)) = &g.values[1].value else {
            panic!("{g:?}")
        };
        let mantissa = (u128::from(d.hi) << 64) | (u128::from(d.mid) << 32) | u128::from(d.lo);
        let value =
            mantissa as f64 / 10f64.powi(d.scale as i32) * if d.negative { -1.0 } else { 1.0 };
        assert!(
            (value - decimal(&r["TotalSales"])).abs() < 1e-6,
            "{value} vs {}",
            r["TotalSales"]
        );
    }
    let count = common
        .count(QueryRequest {
            endpoint: "clv".into(),
            query: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(json!(count.count), rest_count);

    // Errors name what is wrong.
    let bad = common
        .query(QueryRequest {
            endpoint: "clv".into(),
            query: Some(r#"{"$filter": {"Customer": 1}}"#.into()),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().contains("unknown field `Customer`"), "{bad}");
    let missing = common
        .count(QueryRequest {
            endpoint: "nope".into(),
            query: None,
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    let mut health = HealthGrpcServiceClient::connect(api.grpc.clone())
        .await
        .unwrap();
    let status = health
        .health_check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.status, 1, "SERVING");

    // Reflection (v1alpha, what pydozer's describe() uses) lists the services.
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    let channel = tonic::transport::Endpoint::from_shared(api.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tonic::codegen::tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("{answer:?}")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in [
        "dozer.common.CommonGrpcService",
        "dozer.health.HealthGrpcService",
        "dozer.generated.clv.Clv",
        "dozer.generated.bestsellers.Bestsellers",
        "dozer.generated.sales_by_country.SalesByCountry",
        "dozer.generated.daily_sales.DailySales",
    ] {
        assert!(names.iter().any(|n| n == service), "{names:?}");
    }
}

/// `api.rest.cors` as a list of origins: a preflight from one of them is allowed (with the
/// `Authorization` header a token needs, and every answer header readable), one from elsewhere
/// gets no `Access-Control-Allow-Origin`; the example's default (Dozer's `cors: true`) allows any
/// origin the same way. `api.grpc.enabled: false` starts no gRPC server.
#[test]
fn cors_follows_the_config_and_a_server_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let config = app::ecommerce_in(dir.path(), 2_000, 11);
    let text = std::fs::read_to_string(&config).unwrap();
    let api_section = "api:\n  rest:\n    port: 8080\n  grpc:\n    port: 50051\n";
    assert!(
        text.ends_with(api_section),
        "the example's api section moved"
    );
    std::fs::write(
        &config,
        text.replace(
            api_section,
            "api:\n  rest:\n    port: 8080\n    cors:\n      - https://shop.example.com\n      - http://localhost:5173\n  grpc:\n    port: 50051\n    enabled: false\n",
        ),
    )
    .unwrap();
    let app = app::build(&config);
    let serving = app::Serving::start(&app.binary, &["run"]);
    assert!(serving.grpc.is_empty(), "{}", serving.log());
    assert!(serving.log().contains("gRPC API off"), "{}", serving.log());
    let http = reqwest::blocking::Client::new();
    let preflight = |origin: &str| {
        http.request(
            reqwest::Method::OPTIONS,
            format!("{}/clv/query", serving.rest),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .unwrap()
    };
    let header = |r: &reqwest::blocking::Response, h: &str| {
        r.headers()
            .get(h)
            .map(|v| v.to_str().unwrap().to_ascii_lowercase())
    };
    for origin in ["https://shop.example.com", "http://localhost:5173"] {
        let r = preflight(origin);
        assert!(r.status().is_success(), "{origin}: {}", r.status());
        assert_eq!(
            header(&r, "access-control-allow-origin").as_deref(),
            Some(origin)
        );
        let allowed = header(&r, "access-control-allow-headers").unwrap_or_default();
        assert!(allowed.contains("authorization"), "{allowed}");
        assert!(header(&r, "vary").unwrap_or_default().contains("origin"));
    }
    let r = preflight("https://elsewhere.example.com");
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    // An ordinary read from an allowed page: marked for it, its ETag readable by the script.
    let r = http
        .get(format!("{}/clv", serving.rest))
        .header("origin", "https://shop.example.com")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("https://shop.example.com")
    );
    assert_eq!(
        header(&r, "access-control-expose-headers").as_deref(),
        Some("*")
    );
    drop(serving);

    // The example as shipped (no `cors` key): any origin, `Authorization` allowed.
    let example = app::build(&app::ecommerce_in(&dir.path().join("default"), 100, 1));
    let serving = app::Serving::start(&example.binary, &["run"]);
    let r = http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/clv/query", serving.rest),
        )
        .header("origin", "https://anywhere.example.org")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization")
        .send()
        .unwrap();
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert!(header(&r, "access-control-allow-headers")
        .unwrap_or_default()
        .contains("authorization"));
    assert!(!serving.grpc.is_empty());
}
