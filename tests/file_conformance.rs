//! File sources read files as the tools that wrote them mean them: a conformance suite through
//! the real binary, with Python as the oracle (`python/file_writers.py`).
//!
//! - Hand-written bytes: `\n`, `\r\n`, `\r` and mixed line breaks, a last line with and without its
//!   line break, a UTF-8 byte order mark, blank lines, quoted fields holding line breaks, quotes and
//!   delimiters, a header-only file, an empty file, a 3 MiB line.
//! - Files from real writers: Python's `csv` module (its default `\r\n`, `QUOTE_ALL`, Excel-style
//!   `\r\n` with a byte order mark), pandas `to_csv` (also `\r\n` + BOM), DuckDB `COPY … TO`,
//!   PostgreSQL `COPY … TO … CSV HEADER`; JSON lines from Python's `json` and from `jq`, and with
//!   `\r\n`, `\r`, a BOM and blank lines; Parquet from pyarrow with nullable and required columns.
//! - Dozer's `sql/window-functions` and `sql/ttl` samples over NYC TLC-shaped Parquet files whose
//!   columns are all nullable (some pickup times missing), against a direct computation.
//! - The e-commerce reproduction of a CSV with `\r\n` line breaks (its first row used to be lost).
//! - A file appended to while the app follows it, each record written in two parts cut at a
//!   random byte, a last line without its line break (pending in `info`, read after the quiet
//!   period), then a record that is not UTF-8 (the app stops, naming file, line and column).
//!
//! Each CSV case is read twice: with every column a nullable string, where every field must be
//! exactly what Python's `csv` module reads from the same bytes, and (for real writers' files) with
//! the types dozerc infers, where every value must equal Python's reading as that type. The count
//! of records the app reports must equal the number of records Python reads.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dozer_test_support::postgres::TestPostgres;
use dozer_tests::app::{self, App};
use dozer_tests::rng::Rng;

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python/file_writers.py")
}

fn python(python: &Path, step: &str, out: &Path) -> String {
    let run = Command::new(python)
        .arg(script())
        .arg(step)
        .arg(out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "file_writers.py {step} failed:\n{text}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    text
}

/// PostgreSQL's own CSV export, as a raw and a typed case.
fn postgres_copy(out: &Path, cases: &mut Vec<serde_json::Value>) {
    let pg = TestPostgres::start().expect("test PostgreSQL");
    let mut client = pg.connect("postgres").unwrap();
    client
        .batch_execute(
            "SET TIME ZONE 'UTC';
             CREATE TABLE exported (id int PRIMARY KEY, amount numeric(10, 3), label text,
                                    flag boolean, at timestamptz, day date);
             INSERT INTO exported
               SELECT i, i * 1.125 - 30, CASE WHEN i % 4 = 0 THEN NULL
                                              WHEN i % 4 = 1 THEN 'a \"quoted\", label'
                                              WHEN i % 4 = 2 THEN E'two\\nlines' ELSE '' END,
                      i % 3 = 0, timestamptz '2024-02-01 00:00:00+00' + i * interval '13 minutes',
                      date '2024-01-01' + i
               FROM generate_series(1, 200) i;",
        )
        .unwrap();
    let mut data = vec![];
    client
        .copy_out("COPY (SELECT * FROM exported ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)")
        .unwrap()
        .read_to_end(&mut data)
        .unwrap();
    for case in ["postgres_copy", "postgres_copy_typed"] {
        std::fs::create_dir_all(out.join("data").join(case)).unwrap();
        std::fs::write(out.join("data").join(case).join("1.csv"), &data).unwrap();
    }
    cases.push(
        serde_json::json!({"name": "postgres_copy", "format": "csv", "raw": true,
        "columns": ["id", "amount", "label", "flag", "at", "day"]}),
    );
    cases.push(serde_json::json!({"name": "postgres_copy_typed", "format": "csv", "raw": false}));
}

/// The issue's reproduction: the e-commerce sales, written with `\r\n` line breaks.
const CRLF_SALES: &str = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\r\n536366,20001,A,23,2010-12-01 08:00:00,0.94,12347,UK\r\n536366,20001,A,16,2010-12-01 08:00:00,0.94,12347,UK\r\n536366,20006,B,21,2010-12-01 08:00:00,2.00,12347,UK\r\n";

/// The app: a table and endpoint per case, Dozer's samples, the e-commerce lifetime value, and
/// the table the follow test appends to.
fn config(cases: &[serde_json::Value]) -> String {
    let mut tables = String::new();
    let mut sources = String::new();
    let mut endpoints = String::new();
    let mut table = |name: &str, config: String| {
        writeln!(
            tables,
            "        - !Table {{ name: {name}, config: {config} }}"
        )
        .unwrap();
        writeln!(
            sources,
            "  - {{ name: s_{name}, table_name: {name}, connection: files }}"
        )
        .unwrap();
    };
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let config = match c["format"].as_str().unwrap() {
            "csv" if c["raw"] == true => {
                let columns: Vec<String> = c["columns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| {
                        format!(
                            "{}: {{ type: string, nullable: true }}",
                            n.as_str().unwrap()
                        )
                    })
                    .collect();
                format!(
                    "!CSV {{ path: {name}, columns: {{ {} }} }}",
                    columns.join(", ")
                )
            }
            "csv" => format!("!CSV {{ path: {name} }}"),
            "jsonl" => format!("!JSONL {{ path: {name} }}"),
            _ => format!("!Parquet {{ path: {name} }}"),
        };
        table(name, config);
        writeln!(
            endpoints,
            "  - {{ name: {name}, path: /{name}, table_name: s_{name} }}"
        )
        .unwrap();
    }
    table("yellow", "!Parquet { path: yellow }".into());
    table("fhvhv", "!Parquet { path: fhvhv }".into());
    table("sales", "!CSV { path: sales }".into());
    table(
        "follow",
        "!CSV { path: follow, quiet_period: 3 SECONDS, columns: { id: { type: string, nullable: true }, name: { type: string, nullable: true }, amount: { type: string, nullable: true } } }".into(),
    );
    for e in ["tumble", "hop", "tumble_ttl", "hop_ttl", "clv"] {
        writeln!(
            endpoints,
            "  - {{ name: {e}, path: /{e}, table_name: {e} }}"
        )
        .unwrap();
    }
    writeln!(
        endpoints,
        "  - {{ name: follow, path: /follow, table_name: s_follow }}"
    )
    .unwrap();
    // The samples' SQL as Dozer's repository has it (its sources are both called `trips`).
    let sql = "
  SELECT t.PULocationID as location, t.tpep_pickup_datetime as pickup_time, t.window_start as start, t.window_end AS end
  INTO tumble
  FROM TUMBLE(s_yellow, tpep_pickup_datetime, '5 MINUTES') t;

  SELECT t.PULocationID as location, t.tpep_pickup_datetime as pickup_time, t.window_start as start, t.window_end AS end
  INTO hop
  FROM HOP(s_yellow, tpep_pickup_datetime, '1 MINUTE', '2 MINUTES') t;

  SELECT t.PULocationID as location, SUM(t.tips) AS total_tips, t.window_start as start, t.window_end AS end
  INTO tumble_ttl
  FROM TTL(TUMBLE(s_fhvhv, pickup_datetime, '5 MINUTES'), pickup_datetime, '10 MINUTES') t
  GROUP BY t.PULocationID, t.window_start, t.window_end;

  SELECT t.PULocationID as location, SUM(t.tips) AS total_tips, t.window_start as start, t.window_end AS end
  INTO hop_ttl
  FROM TTL(HOP(s_fhvhv, pickup_datetime, '2 MINUTE', '5 MINUTES'), pickup_datetime, '10 MINUTES') t
  GROUP BY t.PULocationID, t.window_start, t.window_end;

  SELECT CustomerID, SUM(Quantity*UnitPrice) AS LifetimeValue
  INTO clv
  FROM s_sales
  GROUP BY CustomerID;
";
    format!(
        "version: 1\napp_name: conformance\nconnections:\n  - name: files\n    config: !LocalStorage\n      details:\n        path: ./data\n      tables:\n{tables}sources:\n{sources}sql: |{sql}endpoints:\n{endpoints}"
    )
}

/// The number in "caught up: N rows".
fn caught_up(log: &str) -> u64 {
    log.split("caught up: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `caught up` line in:\n{log}"))
}

#[test]
fn files_read_as_their_writers_mean_them() {
    let py = app::file_writers();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    python(&py, "write", out);
    let mut cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("cases.json")).unwrap()).unwrap();
    postgres_copy(out, &mut cases);
    std::fs::write(
        out.join("cases.json"),
        serde_json::to_string(&cases).unwrap(),
    )
    .unwrap();
    std::fs::create_dir_all(out.join("data/sales")).unwrap();
    std::fs::write(out.join("data/sales/sales.csv"), CRLF_SALES).unwrap();
    std::fs::create_dir_all(out.join("data/follow")).unwrap();
    python(&py, "expect", out);
    std::fs::write(out.join("dozer-config.yaml"), config(&cases)).unwrap();
    let app = app::build(&out.join("dozer-config.yaml"));

    let run = app.run(&["run", "--once"]);
    let log = String::from_utf8_lossy(&run.stderr).into_owned();
    let expected: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("expected.json")).unwrap()).unwrap();
    let records: u64 = cases
        .iter()
        .map(|c| {
            expected[c["name"].as_str().unwrap()]
                .as_array()
                .unwrap()
                .len() as u64
        })
        .sum();
    let trips: u64 = ["yellow", "fhvhv"]
        .iter()
        .map(|t| {
            let out = Command::new(&py)
                .arg("-c")
                .arg(format!(
                    "import pyarrow.parquet as pq, glob; print(sum(pq.read_metadata(f).num_rows for f in glob.glob('{}/data/{t}/*.parquet')))",
                    out.display()
                ))
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(
        caught_up(&log),
        records + trips + 3,
        "the app's record count is not the number of records in the files:\n{log}"
    );

    // Every endpoint's rows, with its field types, for the comparison.
    std::fs::create_dir_all(out.join("dumps")).unwrap();
    let mut schemas = serde_json::Map::new();
    let names: Vec<String> = cases
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .chain(["tumble", "hop", "tumble_ttl", "hop_ttl"].map(String::from))
        .collect();
    for name in &names {
        let dump = app.run(&["dump", name]);
        std::fs::write(
            out.join("dumps").join(format!("{name}.jsonl")),
            &dump.stdout,
        )
        .unwrap();
        let fields: Vec<serde_json::Value> = app
            .endpoint_fields(name)
            .into_iter()
            .map(|(n, ty)| serde_json::json!([n, ty.to_string()]))
            .collect();
        schemas.insert(name.clone(), fields.into());
    }
    std::fs::write(
        out.join("schemas.json"),
        serde_json::Value::Object(schemas).to_string(),
    )
    .unwrap();
    let report = python(&py, "compare", out);
    eprintln!("{report}");
    assert_eq!(
        report.lines().filter(|l| l.starts_with("ok ")).count(),
        names.len(),
        "{report}"
    );

    // The reproduction: 23·0.94 + 16·0.94 + 21·2.00.
    let clv = String::from_utf8(app.run(&["dump", "clv"]).stdout).unwrap();
    assert!(clv.contains("\"LifetimeValue\":\"78.66\""), "{clv}");

    follow(&app, out);
}

/// Appends to a followed file record by record, each in two parts.
fn follow(app: &App, out: &Path) {
    let home = out.join("follow-home");
    let mut child = Command::new(&app.binary)
        .args(["--home"])
        .arg(&home)
        .args(["run", "--no-api", "--poll-ms", "10"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let path = out.join("data/follow/1.csv");
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(b"id,name,amount\r\n").unwrap();
    let mut rng = Rng::new(11);
    let mut want = vec![];
    for i in 0..12 {
        let eol = ["\r\n", "\n", "\r"][i % 3];
        let record = format!("{i},\"name {i}{eol}second line\",{i}.5{eol}");
        let cut = 1 + rng.below(record.len() as u64 - 1) as usize;
        file.write_all(&record.as_bytes()[..cut]).unwrap();
        file.flush().unwrap();
        std::thread::sleep(Duration::from_millis(40));
        file.write_all(&record.as_bytes()[cut..]).unwrap();
        file.flush().unwrap();
        want.push(format!("{i}|name {i}{eol}second line|{i}.5"));
    }
    // The last line has no line break: pending until the file has been quiet for 3 s.
    file.write_all(b"99,last,1").unwrap();
    file.flush().unwrap();
    want.push("99|last|1".into());
    let rows = |app: &App| -> Vec<String> {
        let dump = Command::new(&app.binary)
            .arg("--home")
            .arg(&home)
            .args(["dump", "follow"])
            .output()
            .unwrap();
        let mut rows: Vec<String> = String::from_utf8_lossy(&dump.stdout)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                ["id", "name", "amount"]
                    .map(|c| v[c].as_str().unwrap_or_default().to_string())
                    .join("|")
            })
            .collect();
        rows.sort();
        rows
    };
    let started = Instant::now();
    while rows(app).len() < 12 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the followed records are not read: {:?}",
            rows(app)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let info = Command::new(&app.binary)
        .arg("--home")
        .arg(&home)
        .arg("info")
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&info.stdout).into_owned();
    assert!(
        info.contains("9 byte(s) pending: a last line without a line break"),
        "{info}"
    );
    want.sort();
    let started = Instant::now();
    while rows(app) != want {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the followed file's records are not read whole and once:\n{:?}\nwant {want:?}",
            rows(app)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The writer ends the open line, then writes a record that is not UTF-8: the app stops and
    // says where.
    file.write_all(b"\n100,caf\xE9,2\n").unwrap();
    file.flush().unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the app did not stop at a record that is not UTF-8");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("1.csv:27:2 (column `name`): not valid UTF-8"),
        "{log}"
    );
}
