//! The REST API of a real app binary: the e-commerce example runs (pipeline and server in one
//! process) on generated data, and every route answers with what the endpoints hold — checked
//! against the binary's own `dump`, which the oracle tests hold to PostgreSQL — while bad requests
//! get 4xx answers that name what is wrong.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dozer_tests::app::{self, App};
use dozer_tests::gen_data;
use serde_json::{json, Value as Json};

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/ecommerce")
}

/// A running app; killed on drop.
struct Running {
    child: Child,
    base: String,
    http: reqwest::blocking::Client,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn start(app: &App) -> Running {
        let mut child = Command::new(&app.binary)
            .args(["run", "--host", "127.0.0.1", "--rest-port", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The server says where it listens before ingesting.
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let base = loop {
            let line = lines.next().expect("the app prints its address").unwrap();
            if let Some(at) = line.split("REST API on ").nth(1) {
                break at.trim().to_string();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        let running = Running {
            child,
            base,
            http: reqwest::blocking::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while running.post("/clv/phase", "").1 != json!("Streaming") {
            assert!(Instant::now() < deadline, "the app never caught up");
            std::thread::sleep(Duration::from_millis(100));
        }
        running
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
    let config = dir.path().join("dozer-config.yaml");
    app::copy(&example().join("dozer-config.yaml"), &config);
    app::copy(
        &example().join("dozer.lock"),
        &dir.path().join("dozer.lock"),
    );
    std::fs::create_dir_all(dir.path().join("data/sales")).unwrap();
    gen_data::generate(20_000, 3, &dir.path().join("data/sales/sales.csv")).unwrap();
    let app = app::build(&config);
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
}
