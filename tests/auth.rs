//! JWT authentication of a real app binary: every read path (REST and gRPC, common and typed,
//! events, reflection) against every kind of token — none, wrongly signed, expired, for another
//! app, `All`, and scoped by rows, by fields or to another endpoint — with the exact outcome of
//! each; tokens issued by the app's `token` command, `POST /auth/token`, AuthGrpcService and the
//! typed `token` method; pydozer's AuthClient; and a scoped subscriber that never sees a row
//! outside its scope while updates move rows across it.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use dozer_runtime::api::auth::{Access, Authorizer};
use dozer_runtime::api::grpc::typed;
use dozer_runtime::api::query::QueryLimits;
use dozer_runtime::proto::auth::auth_grpc_service_client::AuthGrpcServiceClient;
use dozer_runtime::proto::auth::GetAuthTokenRequest;
use dozer_runtime::proto::common::common_grpc_service_client::CommonGrpcServiceClient;
use dozer_runtime::proto::common::{
    GetEndpointsRequest, GetFieldsRequest, OnEventRequest, QueryRequest,
};
use dozer_runtime::proto::types::{EventFilter, Operation, OperationType};
use dozer_tests::app::{self, App};
use serde_json::{json, Value as Json};
use tonic::Code;

const SECRET: &str = "matrix-secret-0123456789";

const CONFIG: &str = r#"
version: 1
app_name: shop
connections:
  - name: files
    config: !LocalStorage
      details:
        path: ./data
      tables:
        - !Table
          name: orders
          config: !CSV
            path: orders
            extension: .csv
sources:
  - name: orders
    table_name: orders
    connection: files
sql: |
  SELECT customer, SUM(total) AS total, COUNT(*) AS n
  INTO by_customer
  FROM orders
  GROUP BY customer;
endpoints:
  - name: orders
    path: /orders
    table_name: orders
    index:
      primary_key: [id]
  - name: by_customer
    path: /by_customer
    table_name: by_customer
    index:
      primary_key: [customer]
api:
  api_security: !Jwt matrix-secret-0123456789
flags:
  authenticate_server_reflection: true
"#;

const ORDERS: &str = "id,customer,total,note
1,ann,30,first
2,bob,200,big
3,ann,50,second
4,carl,10,small
5,dan,150,medium
";

/// The kinds of token the matrix tries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Missing,
    BadSignature,
    Expired,
    WrongAudience,
    All,
    /// `orders`, customer "ann" only.
    Rows,
    /// `orders`, fields `id` and `total` only.
    Fields,
    /// `by_customer` only, totals of at least 100.
    Other,
}

const KINDS: [Kind; 8] = [
    Kind::Missing,
    Kind::BadSignature,
    Kind::Expired,
    Kind::WrongAudience,
    Kind::All,
    Kind::Rows,
    Kind::Fields,
    Kind::Other,
];

impl Kind {
    fn authenticated(self) -> bool {
        matches!(self, Kind::All | Kind::Rows | Kind::Fields | Kind::Other)
    }

    /// What a refusal says (and it never holds the token).
    fn reason(self) -> &'static str {
        match self {
            Kind::Missing => "authentication required",
            Kind::BadSignature => "signature does not match",
            Kind::Expired => "expired",
            Kind::WrongAudience => "another app",
            _ => "",
        }
    }

    fn sees_orders(self) -> bool {
        matches!(self, Kind::All | Kind::Rows | Kind::Fields)
    }
}

struct Tokens {
    master: String,
    rows: String,
    fields: String,
    other: String,
    bad_signature: String,
    expired: String,
    wrong_audience: String,
}

impl Tokens {
    fn of(&self, kind: Kind) -> Option<&str> {
        Some(match kind {
            Kind::Missing => return None,
            Kind::BadSignature => &self.bad_signature,
            Kind::Expired => &self.expired,
            Kind::WrongAudience => &self.wrong_audience,
            Kind::All => &self.master,
            Kind::Rows => &self.rows,
            Kind::Fields => &self.fields,
            Kind::Other => &self.other,
        })
    }
}

struct Api {
    serving: app::Serving,
    http: reqwest::blocking::Client,
}

impl Api {
    fn request(&self, method: &str, path: &str, body: &str, token: Option<&str>) -> (u16, Json) {
        let url = format!("{}{path}", self.serving.rest);
        let mut r = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url).body(body.to_string()),
        };
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let r = r.send().unwrap();
        let status = r.status().as_u16();
        let www = r.headers().get("www-authenticate").cloned();
        let body: Json = r.json().unwrap();
        if status == 401 {
            assert!(www.is_some(), "a 401 names the scheme: {path}");
        }
        (status, body)
    }
}

fn write_app(dir: &Path) -> App {
    std::fs::create_dir_all(dir.join("data/orders")).unwrap();
    std::fs::write(dir.join("data/orders/orders_1.csv"), ORDERS).unwrap();
    let config = dir.join("dozer-config.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    app::build(&config)
}

/// Appends one order as a new file (the source picks up new files).
fn append(dir: &Path, n: usize, line: &str) {
    let tmp = dir.join(format!("data/orders/.orders_{n}.tmp"));
    std::fs::write(&tmp, format!("id,customer,total,note\n{line}\n")).unwrap();
    std::fs::rename(&tmp, dir.join(format!("data/orders/orders_{n}.csv"))).unwrap();
}

fn ids(records: &Json) -> Vec<i64> {
    records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn every_read_path_enforces_every_kind_of_token() {
    let dir = tempfile::tempdir().unwrap();
    let app = write_app(dir.path());

    // The master token from the binary; the app's secret also comes from DOZER_MASTER_SECRET.
    let out = app.run(&["token", "--all", "--ttl", "1h"]);
    let master = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let forger = |app: &str, secret: &str| {
        Authorizer::new(
            app,
            secret.as_bytes(),
            Duration::from_secs(5),
            Duration::from_secs(60),
            vec![],
            QueryLimits::default(),
        )
        .unwrap()
    };
    let issue = |auth: &Authorizer, not_after: Option<u64>| {
        auth.issue(&Access::All, "test", Duration::from_secs(600), not_after)
            .unwrap()
            .0
    };
    // DOZER_MASTER_SECRET overrides the config's secret.
    let overridden = std::process::Command::new(&app.binary)
        .env("DOZER_MASTER_SECRET", "from-the-environment")
        .args(["token", "--all"])
        .output()
        .unwrap();
    assert!(overridden.status.success());
    let overridden = String::from_utf8(overridden.stdout).unwrap();
    assert!(forger("shop", "from-the-environment")
        .verify(overridden.trim())
        .is_ok());
    assert!(forger("shop", SECRET).verify(overridden.trim()).is_err());
    assert!(forger("shop", SECRET).verify(&master).is_ok());
    let an_hour_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3600;

    let serving = app::Serving::start(&app.binary, &["run"]);
    let api = Api {
        serving,
        http: reqwest::blocking::Client::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while api.request("POST", "/orders/phase", "", Some(&master)).1 != json!("Streaming") {
        assert!(Instant::now() < deadline, "the app never caught up");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(api.serving.log().contains("needs a token"));

    // Scoped tokens through POST /auth/token, which only an `All` token may use.
    let scoped = |access: Json| {
        let (status, body) = api.request(
            "POST",
            "/auth/token?ttl=30m",
            &access.to_string(),
            Some(&master),
        );
        assert_eq!(status, 200, "{access}: {body}");
        assert!(body["expires_at"].is_string());
        body["token"].as_str().unwrap().to_string()
    };
    let tokens = Tokens {
        rows: scoped(json!({"Custom": {"orders": {"filter": {"customer": "ann"}}}})),
        fields: scoped(json!({"Custom": {"orders": {"fields": ["id", "total"]}}})),
        other: scoped(json!({"Custom": {"by_customer": {"filter": {"total": {"$gte": 100}}}}})),
        bad_signature: issue(&forger("shop", "not-the-secret"), None),
        expired: issue(&forger("shop", SECRET), Some(an_hour_ago)),
        wrong_audience: issue(&forger("blog", SECRET), None),
        master,
    };
    // Issuing: refused to scoped tokens and for accesses that do not fit the app.
    let (status, _) = api.request("POST", "/auth/token", "\"All\"", Some(&tokens.rows));
    assert_eq!(status, 403);
    let (status, _) = api.request("POST", "/auth/token", "\"All\"", None);
    assert_eq!(status, 401);
    for (body, says) in [
        (r#"{"Custom": {"nowhere": {}}}"#, "no endpoint `nowhere`"),
        (
            r#"{"Custom": {"orders": {"fields": ["x"]}}}"#,
            "no field `x`",
        ),
        (
            r#"{"Custom": {"orders": {"filter": {"id": "one"}}}}"#,
            "$filter.id",
        ),
        (r#"{"Some": 1}"#, "not an access"),
    ] {
        let (status, answer) = api.request("POST", "/auth/token", body, Some(&tokens.master));
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(says), "{answer}");
    }

    rest_matrix(&api, &tokens);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(grpc_matrix(&api.serving.grpc, &tokens));
    pydozer_auth(&api.serving.grpc, &tokens.master);
    // Last: this changes the data.
    rt.block_on(scoped_events(&api.serving, &tokens, dir.path()));
}

/// REST: each route × each kind of token.
fn rest_matrix(api: &Api, tokens: &Tokens) {
    let all_orders: Vec<i64> = vec![1, 2, 3, 4, 5];
    for kind in KINDS {
        let token = tokens.of(kind);
        let call = |method: &str, path: &str, body: &str| api.request(method, path, body, token);
        // Health is open to everyone.
        assert_eq!(
            call("GET", "/health", ""),
            (200, json!({"status": "SERVING"}))
        );
        let routes: [(&str, &str, &str); 10] = [
            ("GET", "/", ""),
            ("GET", "/openapi.json", ""),
            ("GET", "/orders", ""),
            ("GET", "/orders/1", ""),
            ("POST", "/orders/query", r#"{"$order_by": {"id": "asc"}}"#),
            ("POST", "/orders/count", ""),
            ("GET", "/orders/oapi", ""),
            ("POST", "/orders/phase", ""),
            ("GET", "/by_customer", ""),
            ("GET", "/by_customer/bob", ""),
        ];
        if !kind.authenticated() {
            for (method, path, body) in routes {
                let (status, answer) = call(method, path, body);
                assert_eq!(status, 401, "{kind:?} {path}: {answer}");
                let message = answer["error"].as_str().unwrap();
                assert!(
                    message.contains(kind.reason()),
                    "{kind:?} {path}: {message}"
                );
                if let Some(t) = token {
                    let signature = t.rsplit('.').next().unwrap();
                    assert!(!message.contains(t) && !message.contains(signature));
                }
            }
            continue;
        }
        // What the token lists.
        let (status, paths) = call("GET", "/", "");
        assert_eq!(status, 200);
        let want_paths = match kind {
            Kind::All => json!(["/orders", "/by_customer"]),
            Kind::Other => json!(["/by_customer"]),
            _ => json!(["/orders"]),
        };
        assert_eq!(paths, want_paths, "{kind:?}");
        let (status, doc) = call("GET", "/openapi.json", "");
        assert_eq!(status, 200);
        let documented: BTreeSet<String> =
            doc["paths"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            documented.iter().any(|p| p.starts_with("/orders")),
            kind.sees_orders(),
            "{kind:?}: {documented:?}"
        );
        assert_eq!(
            documented.iter().any(|p| p.starts_with("/by_customer")),
            matches!(kind, Kind::All | Kind::Other),
            "{kind:?}: {documented:?}"
        );

        if !kind.sees_orders() {
            for (method, path, body) in &routes[2..8] {
                let (status, answer) = call(method, path, body);
                assert_eq!(status, 403, "{kind:?} {path}: {answer}");
                assert!(answer["error"]
                    .as_str()
                    .unwrap()
                    .contains("does not give access to `orders`"));
            }
        } else {
            let (status, list) = call("GET", "/orders", "");
            assert_eq!(status, 200);
            let (_, queried) = call("POST", "/orders/query", r#"{"$order_by": {"id": "asc"}}"#);
            let (_, count) = call("POST", "/orders/count", "");
            let (_, bob) = call(
                "POST",
                "/orders/count",
                r#"{"$filter": {"customer": "bob"}}"#,
            );
            let one = call("GET", "/orders/1", "");
            let two = call("GET", "/orders/2", "");
            assert_eq!(call("POST", "/orders/phase", "").0, 200);
            let (status, oapi) = call("GET", "/orders/oapi", "");
            assert_eq!(status, 200);
            let record_fields: BTreeSet<String> = oapi["components"]["schemas"]["OrdersRecord"]
                ["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            match kind {
                Kind::All => {
                    assert_eq!(ids(&queried), all_orders);
                    assert_eq!(list.as_array().unwrap().len(), 5);
                    assert_eq!((count, bob), (json!(5), json!(1)));
                    assert_eq!((one.0, two.0), (200, 200));
                    assert!(record_fields.contains("customer"));
                }
                Kind::Rows => {
                    // Only ann's rows exist for this token: bob's is "not found", like a
                    // missing one.
                    assert_eq!(ids(&queried), vec![1, 3]);
                    assert_eq!(ids(&list), vec![1, 3]);
                    assert_eq!((count, bob), (json!(2), json!(0)));
                    assert_eq!(one.0, 200);
                    assert_eq!(two.0, 404, "{two:?}");
                    let missing = call("GET", "/orders/99", "");
                    assert_eq!(
                        two.1["error"].as_str().unwrap().replace("`2`", "`99`"),
                        missing.1["error"].as_str().unwrap()
                    );
                    let (_, none) = call(
                        "POST",
                        "/orders/query",
                        r#"{"$filter": {"customer": "bob"}}"#,
                    );
                    assert_eq!(none, json!([]));
                    // A cursor at a row outside the scope is no cursor.
                    let (status, _) = call(
                        "POST",
                        "/orders/query",
                        r#"{"$after": 2, "$order_by": {"total": "asc"}}"#,
                    );
                    assert_eq!(status, 404);
                }
                Kind::Fields => {
                    assert_eq!(ids(&queried), all_orders);
                    for r in queried.as_array().unwrap().iter().chain([&two.1]) {
                        let keys: BTreeSet<&str> =
                            r.as_object().unwrap().keys().map(String::as_str).collect();
                        assert_eq!(
                            keys,
                            BTreeSet::from([
                                "id",
                                "total",
                                "__dozer_record_id",
                                "__dozer_record_version"
                            ]),
                            "{r}"
                        );
                    }
                    assert_eq!(two.0, 200);
                    assert_eq!(
                        record_fields,
                        BTreeSet::from([
                            "id".to_string(),
                            "total".to_string(),
                            "__dozer_record_id".into(),
                            "__dozer_record_version".into()
                        ])
                    );
                    // Hidden fields cannot be filtered or sorted on.
                    for body in [
                        r#"{"$filter": {"customer": "bob"}}"#,
                        r#"{"$order_by": {"note": "asc"}}"#,
                        r#"{"$filter": {"$or": [{"id": 1}, {"note": "big"}]}}"#,
                    ] {
                        let (status, answer) = call("POST", "/orders/query", body);
                        assert_eq!(status, 400, "{body}");
                        assert!(
                            answer["error"]
                                .as_str()
                                .unwrap()
                                .contains("does not give access to field"),
                            "{answer}"
                        );
                    }
                    assert!(bob["error"].is_string(), "{bob}");
                    assert_eq!(count, json!(5));
                }
                _ => unreachable!(),
            }
        }

        // by_customer: All sees every customer, Other those with totals of at least 100.
        let (status, rows) = call("GET", "/by_customer", "");
        let bob = call("GET", "/by_customer/bob", "");
        match kind {
            Kind::All => {
                assert_eq!(
                    (status, rows.as_array().unwrap().len(), bob.0),
                    (200, 4, 200)
                );
            }
            Kind::Other => {
                let customers: BTreeSet<&str> = rows
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["customer"].as_str().unwrap())
                    .collect();
                assert_eq!(customers, BTreeSet::from(["bob", "dan"]));
                assert_eq!(bob.0, 200);
                assert_eq!(call("GET", "/by_customer/ann", "").0, 404);
            }
            _ => assert_eq!((status, bob.0), (403, 403), "{kind:?}"),
        }
    }
}

/// A request with the token's `authorization` metadata.
fn authed<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    if let Some(t) = token {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    r
}

/// The records of a typed `query` answer, undecoded.
#[derive(Clone, PartialEq, dozer_runtime::contract::prost::Message)]
#[prost(prost_path = "::dozer_runtime::contract::prost")]
struct TypedRecords {
    #[prost(bytes = "vec", repeated, tag = "1")]
    records: Vec<Vec<u8>>,
}

/// A typed method's answer (or status), called through a plain gRPC client.
async fn typed_call<Req, Resp>(
    channel: &tonic::transport::Channel,
    method: &str,
    message: Req,
    token: Option<&str>,
) -> Result<Resp, tonic::Status>
where
    Req: dozer_runtime::contract::prost::Message + Send + Sync + 'static,
    Resp: dozer_runtime::contract::prost::Message + Default + Send + Sync + 'static,
{
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let path = format!("/{}/{method}", dozer_types::grpc::service("orders"));
    grpc.unary(
        authed(message, token),
        path.parse().unwrap(),
        tonic_prost::ProstCodec::<Req, Resp>::default(),
    )
    .await
    .map(tonic::Response::into_inner)
}

/// gRPC: each method × each kind of token.
async fn grpc_matrix(url: &str, tokens: &Tokens) {
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;

    let channel = tonic::transport::Endpoint::from_shared(url.to_string())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut common = CommonGrpcServiceClient::new(channel.clone());
    let mut auth = AuthGrpcServiceClient::new(channel.clone());
    let mut health =
        dozer_runtime::proto::health::health_grpc_service_client::HealthGrpcServiceClient::new(
            channel.clone(),
        );
    let mut reflection = ServerReflectionClient::new(channel.clone());
    let orders = |q: Option<&str>| QueryRequest {
        endpoint: "orders".into(),
        query: q.map(str::to_string),
    };
    let events = || OnEventRequest {
        endpoints: [("orders".to_string(), EventFilter::default())].into(),
        resume_after: None,
    };
    for kind in KINDS {
        let token = tokens.of(kind);
        let health_check = health.health_check(authed(Default::default(), token)).await;
        assert!(health_check.is_ok(), "health is open: {kind:?}");

        let query = common.query(authed(orders(None), token)).await;
        let count = common
            .count(authed(
                orders(Some(r#"{"$filter": {"total": {"$gt": 20}}}"#)),
                token,
            ))
            .await;
        let endpoints = common
            .get_endpoints(authed(GetEndpointsRequest {}, token))
            .await;
        let fields = common
            .get_fields(authed(
                GetFieldsRequest {
                    endpoint: "orders".into(),
                },
                token,
            ))
            .await;
        let on_event = common.on_event(authed(events(), token)).await;
        let typed_query =
            typed_call::<_, TypedRecords>(&channel, "query", typed::QueryRequest::default(), token)
                .await;
        let typed_count = typed_call::<_, typed::CountResponse>(
            &channel,
            "count",
            typed::QueryRequest::default(),
            token,
        )
        .await;
        let typed_events = {
            let mut grpc = tonic::client::Grpc::new(channel.clone());
            grpc.ready().await.unwrap();
            let path = format!("/{}/on_event", dozer_types::grpc::service("orders"));
            grpc.server_streaming(
                authed(typed::EventRequest::default(), token),
                path.parse().unwrap(),
                tonic_prost::ProstCodec::<typed::EventRequest, TypedRecords>::default(),
            )
            .await
            .map(|_| ())
        };
        let listed = reflection
            .server_reflection_info(authed(
                tonic::codegen::tokio_stream::iter([ServerReflectionRequest {
                    host: String::new(),
                    message_request: Some(MessageRequest::ListServices(String::new())),
                }]),
                token,
            ))
            .await;
        let issued = auth
            .get_auth_token(authed(
                GetAuthTokenRequest {
                    access_filter: r#"{"Custom": {"orders": {"filter": {"id": 4}}}}"#.into(),
                    ttl_seconds: Some(60),
                },
                token,
            ))
            .await;

        if !kind.authenticated() {
            let statuses = [
                query.err(),
                count.err(),
                endpoints.err(),
                fields.err(),
                on_event.err(),
                typed_query.err(),
                typed_count.err(),
                typed_events.err(),
                listed.err(),
                issued.err(),
            ];
            for (i, s) in statuses.into_iter().enumerate() {
                let s = s.unwrap_or_else(|| panic!("{kind:?}: call {i} answered"));
                assert_eq!(s.code(), Code::Unauthenticated, "{kind:?} call {i}: {s}");
                assert!(
                    s.message().contains(kind.reason()),
                    "{kind:?} call {i}: {s}"
                );
                if let Some(t) = token {
                    assert!(!s.message().contains(t));
                }
            }
            continue;
        }
        assert!(
            listed.is_ok(),
            "{kind:?}: any valid token may use reflection"
        );
        let listed_endpoints = endpoints.unwrap().into_inner().endpoints;
        match kind {
            Kind::All => {
                let records = query.unwrap().into_inner().records;
                assert_eq!(records.len(), 5);
                assert_eq!(count.unwrap().into_inner().count, 4);
                assert_eq!(listed_endpoints, ["orders", "by_customer"]);
                assert_eq!(fields.unwrap().into_inner().fields.len(), 4);
                assert!(on_event.is_ok() && typed_events.is_ok());
                assert_eq!(typed_query.unwrap().records.len(), 5);
                assert_eq!(typed_count.unwrap().count, 5);
                // A token from AuthGrpcService and one from the typed `token` method work.
                let t = issued.unwrap().into_inner().token;
                let one = common.query(authed(orders(None), Some(&t))).await.unwrap();
                assert_eq!(one.into_inner().records.len(), 1);
                let t = typed_call::<_, typed::TokenResponse>(
                    &channel,
                    "token",
                    typed::TokenRequest {
                        filter: Some(r#"{"total": {"$gte": 100}}"#.into()),
                        fields: vec!["id".into()],
                        ttl_seconds: None,
                    },
                    token,
                )
                .await
                .unwrap()
                .token;
                let answer = common
                    .query(authed(orders(None), Some(&t)))
                    .await
                    .unwrap()
                    .into_inner();
                assert_eq!((answer.records.len(), answer.fields.len()), (2, 1));
                assert!(answer.records.iter().all(|r| r.values.len() == 1));
            }
            Kind::Rows => {
                let records = query.unwrap().into_inner().records;
                assert_eq!(records.iter().map(|r| r.id).collect::<Vec<_>>().len(), 2);
                assert_eq!(count.unwrap().into_inner().count, 2);
                assert_eq!(listed_endpoints, ["orders"]);
                assert_eq!(fields.unwrap().into_inner().fields.len(), 4);
                assert!(on_event.is_ok() && typed_events.is_ok());
                assert_eq!(typed_query.unwrap().records.len(), 2);
                assert_eq!(typed_count.unwrap().count, 2);
                assert_eq!(issued.unwrap_err().code(), Code::PermissionDenied);
            }
            Kind::Fields => {
                let answer = query.unwrap().into_inner();
                let names: Vec<String> = answer.fields.iter().map(|f| f.name.clone()).collect();
                assert_eq!(names, ["id", "total"]);
                assert!(answer.records.iter().all(|r| r.values.len() == 2));
                assert_eq!(count.unwrap().into_inner().count, 4);
                let f = fields.unwrap().into_inner();
                assert_eq!(f.fields.len(), 2);
                assert_eq!(f.primary_index, [0]);
                assert!(on_event.is_ok());
                let hidden = common
                    .query(authed(
                        orders(Some(r#"{"$filter": {"note": "big"}}"#)),
                        token,
                    ))
                    .await
                    .unwrap_err();
                assert_eq!(hidden.code(), Code::InvalidArgument);
                // Typed records carry every column: query and on_event are refused, count is not.
                let refused = typed_query.unwrap_err();
                assert_eq!(refused.code(), Code::PermissionDenied);
                assert!(refused.message().contains("CommonGrpcService"), "{refused}");
                assert_eq!(typed_events.unwrap_err().code(), Code::PermissionDenied);
                assert_eq!(typed_count.unwrap().count, 5);
                assert_eq!(issued.unwrap_err().code(), Code::PermissionDenied);
            }
            Kind::Other => {
                for s in [
                    query.err(),
                    count.err(),
                    fields.err(),
                    on_event.err(),
                    typed_query.err(),
                    typed_count.err(),
                    typed_events.err(),
                ] {
                    assert_eq!(s.expect("refused").code(), Code::PermissionDenied);
                }
                assert_eq!(listed_endpoints, ["by_customer"]);
                assert_eq!(issued.unwrap_err().code(), Code::PermissionDenied);
            }
            _ => unreachable!(),
        }
    }
}

/// pydozer: AuthClient issues a scoped token, and ApiClient reads with it.
fn pydozer_auth(url: &str, master: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/pydozer_auth_check.py");
    let address = url.trim_start_matches("http://");
    let out = std::process::Command::new(app::pydozer())
        .arg(script)
        .args([address, master])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        got,
        json!({
            "scoped_customers": ["ann", "ann"],
            "scoped_count": 2,
            "master_count": 5,
            "anonymous": "UNAUTHENTICATED",
            "scoped_issues": "PERMISSION_DENIED",
        })
    );
}

/// The next event of a stream, or `None` when none comes for a while.
async fn next(stream: &mut tonic::Streaming<Operation>, wait: Duration) -> Option<Operation> {
    tokio::time::timeout(wait, stream.message())
        .await
        .ok()
        .map(|m| m.unwrap().expect("the stream stays open"))
}

/// A customer's total in an event record (`by_customer`: customer, total, n).
fn total(r: &Option<dozer_runtime::proto::types::Record>) -> (String, i64) {
    use dozer_runtime::proto::types::value::Value as V;
    let r = r.as_ref().expect("a record");
    match (&r.values[0].value, &r.values[1].value) {
        (Some(V::StringValue(c)), Some(V::IntValue(t))) => (c.clone(), *t),
        other => panic!("{other:?}"),
    }
}

/// A subscriber whose token sees totals of at least 100 gets rows entering the scope as
/// INSERTs, rows leaving it as DELETEs, and nothing about rows outside it; an `All` subscriber
/// sees every change as the UPDATE it is.
/// The same scoped subscription over Server-Sent Events gives the same changes.
async fn scoped_events(serving: &app::Serving, tokens: &Tokens, dir: &Path) {
    let mut client = CommonGrpcServiceClient::connect(serving.grpc.clone())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let sse = |token: Option<&str>| {
        let mut request = http.get(format!("{}/by_customer/events", serving.rest));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request.send()
    };
    let refused = sse(None).await.unwrap();
    assert_eq!(refused.status(), 401, "SSE without a token");
    let mut scoped_sse = sse(Some(tokens.other.as_str())).await.unwrap();
    assert_eq!(scoped_sse.status(), 200);
    let request = || OnEventRequest {
        endpoints: [("by_customer".to_string(), EventFilter::default())].into(),
        resume_after: None,
    };
    let mut scoped = client
        .on_event(authed(request(), Some(&tokens.other)))
        .await
        .unwrap()
        .into_inner();
    let mut all = client
        .on_event(authed(request(), Some(&tokens.master)))
        .await
        .unwrap()
        .into_inner();
    // ann 80 → 130 (enters), bob 200 → -300 (leaves), carl 10 → 15 (outside throughout),
    // dan 150 → 151 (inside throughout). One file each, in order.
    let changes = [
        ("6,ann,50,x", "ann"),
        ("7,bob,-500,x", "bob"),
        ("8,carl,5,x", "carl"),
        ("9,dan,1,x", "dan"),
    ];
    let mut seen = vec![];
    for (n, (line, customer)) in changes.iter().enumerate() {
        append(dir, n + 2, line);
        // The unscoped subscriber's UPDATE of this customer says the change is committed.
        let op = next(&mut all, Duration::from_secs(60))
            .await
            .expect("the change arrives");
        assert_eq!(
            (
                OperationType::try_from(op.typ).unwrap(),
                total(&op.new).0.as_str()
            ),
            (OperationType::Update, *customer)
        );
    }
    while let Some(op) = next(&mut scoped, Duration::from_secs(2)).await {
        let kind = OperationType::try_from(op.typ).unwrap();
        let new = total(&op.new);
        assert!(new.1 >= 100, "{kind:?} of {new:?} outside the scope");
        if let Some(old) = &op.old {
            assert!(total(&Some(old.clone())).1 >= 100);
        }
        seen.push((kind, new.0, new.1));
    }
    assert_eq!(
        seen,
        [
            (OperationType::Insert, "ann".to_string(), 130),
            (OperationType::Delete, "bob".to_string(), 200),
            (OperationType::Update, "dan".to_string(), 151),
        ]
    );
    let mut text = String::new();
    let mut over_sse = vec![];
    while over_sse.len() < seen.len() {
        let chunk = tokio::time::timeout(Duration::from_secs(30), scoped_sse.chunk())
            .await
            .expect("the scoped SSE events arrive")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = text.find("\n\n") {
            let message: String = text.drain(..end + 2).collect();
            let Some(data) = message.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            let event: serde_json::Value = serde_json::from_str(data).unwrap();
            let kind = match event["type"].as_str().unwrap() {
                "INSERT" => OperationType::Insert,
                "UPDATE" => OperationType::Update,
                "DELETE" => OperationType::Delete,
                other => panic!("event type {other}"),
            };
            let new = &event["new"];
            over_sse.push((
                kind,
                new["customer"].as_str().unwrap().to_string(),
                new["total"].as_i64().unwrap(),
            ));
        }
    }
    assert_eq!(over_sse, seen, "SSE and gRPC under the same scoped token");
}
