//! `!Grpc` push ingestion through a real binary, with pydozer 0.2.1's `IngestClient` as Dozer's
//! ingest sample uses it (`python/grpc_ingest.py`): bad requests are refused with what is wrong,
//! a stream is applied whole or not at all, and random inserts, updates and deletes — each
//! answered only once durable — survive SIGKILL at random moments: the endpoints end equal to
//! PostgreSQL's answer on the rows the client was told are in. A Node.js client made from the
//! app's own `ingest.proto` speaks to the same server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dozer_test_support::free_port;
use dozer_test_support::oracle::{diff_rows, load_csv, query_values};
use dozer_test_support::postgres::TestPostgres;
use dozer_tests::app::{self, App};
use dozer_tests::gen_data::Rng;
use dozer_types::SqlType;

const SCHEMAS: &str = r#"{
  "users": {
    "schema": {
      "fields": [
        { "name": "id", "typ": "Int", "nullable": false },
        { "name": "name", "typ": "String", "nullable": false },
        { "name": "score", "typ": "Float", "nullable": true },
        { "name": "active", "typ": "Boolean", "nullable": false },
        { "name": "ts", "typ": "Timestamp", "nullable": false },
        { "name": "team", "typ": "Int", "nullable": true }
      ],
      "primary_index": [0]
    }
  },
  "events": {
    "schema": {
      "fields": [
        { "name": "user_id", "typ": "Int", "nullable": false },
        { "name": "kind", "typ": "String", "nullable": false },
        { "name": "at", "typ": "Timestamp", "nullable": false }
      ]
    }
  }
}"#;

const TEAMS_ORACLE: &str = "SELECT team, COUNT(*), SUM(score), MAX(ts), COUNT(score) FROM users WHERE active GROUP BY team";

/// An app with a `!Grpc` connection on `port` (schemas in a file beside the config).
fn write_app(dir: &Path, port: u16) -> PathBuf {
    std::fs::write(dir.join("schemas.json"), SCHEMAS).unwrap();
    let config = format!(
        "version: 1\napp_name: grpc_ingest\nconnections:\n  - name: ingest\n    config: !Grpc\n      host: 127.0.0.1\n      port: {port}\n      schemas: !Path ./schemas.json\nsources:\n  - name: users\n    table_name: users\n    connection: ingest\n  - name: events\n    table_name: events\n    connection: ingest\nsql: |\n  SELECT team, COUNT(*) AS n, SUM(score) AS total, MAX(ts) AS latest, COUNT(score) AS scored INTO teams FROM users WHERE active GROUP BY team;\nendpoints:\n  - name: users\n    path: /users\n    table_name: users\n  - name: events\n    path: /events\n    table_name: events\n  - name: teams\n    path: /teams\n    table_name: teams\n"
    );
    let path = dir.join("dozer-config.yaml");
    std::fs::write(&path, config).unwrap();
    path
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python/grpc_ingest.py")
}

/// The app's pipeline (no API), killed with SIGKILL when dropped (also when a test fails).
struct Running(Child);

impl Running {
    fn kill(&mut self) {
        let _ = self.0.kill(); // SIGKILL
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

fn start(app: &App) -> Running {
    Running(
        Command::new(&app.binary)
            .args(["run", "--no-api"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn python(args: &[&str]) -> Command {
    let mut c = Command::new(app::pydozer());
    c.arg(script()).args(args);
    c
}

#[test]
fn pushed_changes_are_answered_once_durable_and_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let url = format!("127.0.0.1:{port}");
    let app = app::build(&write_app(dir.path(), port));
    let mut child = start(&app);
    let out = python(&["refusals", &url]).output().unwrap();
    assert!(
        out.status.success(),
        "grpc_ingest.py refusals:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let model = dir.path().join("users.csv");
    let mut client = python(&["workload", &url, "11", "4000", &model.display().to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut rng = Rng::new(5);
    let mut kills = 0;
    while client.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(100 + rng.below(300)));
        if rng.below(2) == 0 && client.try_wait().unwrap().is_none() {
            child.kill();
            kills += 1;
            std::thread::sleep(Duration::from_millis(rng.below(300)));
            child = start(&app);
        }
    }
    let done = client.wait_with_output().unwrap();
    assert!(done.status.success(), "grpc_ingest.py workload failed");
    eprintln!("{kills} kill(s); {}", String::from_utf8_lossy(&done.stdout));
    assert!(kills > 0);
    child.kill();

    let pg = TestPostgres::start().expect("test PostgreSQL");
    let mut client = pg.connect("postgres").unwrap();
    client.batch_execute("SET TIME ZONE 'UTC'").unwrap();
    let columns: Vec<(&str, SqlType, bool)> = app.checked.catalog.sources["users"]
        .schema
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.ty, c.nullable))
        .collect();
    load_csv(&mut client, "users", &columns, &model).unwrap();
    let users = query_values(
        &mut client,
        "SELECT id, name, score, active, ts, team FROM users",
    )
    .unwrap();
    if let Some(diff) = diff_rows(&app.dump("users"), &users) {
        panic!("`users` differs from what the client was told is in:\n{diff}");
    }
    let teams = query_values(&mut client, TEAMS_ORACLE).unwrap();
    if let Some(diff) = diff_rows(&app.dump("teams"), &teams) {
        panic!("`teams` differs from PostgreSQL's\n{TEAMS_ORACLE}\n{diff}");
    }
    // Two of the three events pushed as rows (one was deleted by its whole row), and the three
    // pushed as Arrow batches.
    let events = app.dump("events");
    assert_eq!(events.len(), 5, "{events:?}");
}

/// A client in another language: Node.js with `@grpc/grpc-js`, its stubs made at run time by
/// `@grpc/proto-loader` from the `ingest.proto` dozerc writes beside the config.
#[test]
fn a_node_client_of_the_apps_proto_ingests() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let config = write_app(dir.path(), port);
    let app = app::build(&config);
    let protos = dir.path().join("proto");
    assert!(
        protos.join("dozer/ingest.proto").exists(),
        "dozerc writes ingest.proto beside the config for clients"
    );
    let client = dir.path().join("client.js");
    std::fs::write(&client, NODE_CLIENT).unwrap();
    let mut child = start(&app);
    let out = Command::new("node")
        .arg(&client)
        .arg(&protos)
        .arg(format!("127.0.0.1:{port}"))
        .env("NODE_PATH", app::grpc_node())
        .output()
        .unwrap();
    child.kill();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let users = app.dump("users");
    assert_eq!(users.len(), 5, "{users:?}");
}

/// One unary insert (retried while the app starts), then a stream of four.
const NODE_CLIENT: &str = r#"
const grpc = require("@grpc/grpc-js");
const loader = require("@grpc/proto-loader");
const [protoDir, url] = process.argv.slice(2);
const definition = loader.loadSync("dozer/ingest.proto", { includeDirs: [protoDir], keepCase: true, enums: String, oneofs: true });
const { IngestService } = grpc.loadPackageDefinition(definition).dozer.ingest;
const client = new IngestService(url, grpc.credentials.createInsecure());
const row = (i) => [{ int_value: i }, { string_value: `u${i}` }, { float_value: 1.5 }, { bool_value: true },
  { string_value: "2024-05-01 10:00:00" }, { int_value: 7 }];
const fail = (e) => { console.error(e); process.exit(1); };
function insert(request, tries) {
  client.ingest(request, (err, answer) => {
    if (err && err.code === grpc.status.UNAVAILABLE && tries > 0) return setTimeout(() => insert(request, tries - 1), 50);
    if (err) return fail(err);
    if (answer.seq_no !== 1) return fail(`seq_no ${answer.seq_no}`);
    const call = client.ingest_stream((err, answer) => {
      if (err) return fail(err);
      if (answer.seq_no !== 5) return fail(`stream seq_no ${answer.seq_no}`);
      process.exit(0);
    });
    for (let i = 2; i <= 5; i++) call.write({ schema_name: "users", typ: "INSERT", new: row(i), seq_no: i });
    call.end();
  });
}
insert({ schema_name: "users", typ: "INSERT", new: row(1), seq_no: 1 }, 200);
"#;
