//! File sources through a real binary: the same orders as CSV, JSON lines and Parquet files give
//! the same results as PostgreSQL on those orders, and unreadable records follow the app's
//! `on_bad_record` policy — skipped and reported with file, line and column, or stopping the
//! pipeline until the record is fixed — never silently dropped.

// The conformance suite over files from real writers.
#[path = "file_conformance.rs"]
mod file_conformance;

// The same tables as objects of an S3 protocol server.
#[path = "s3_sources.rs"]
mod s3_sources;

use std::fmt::Write as _;
use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{
    ArrayRef, Decimal128Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use dozer_test_support::oracle::{diff_rows, load_csv, query_values};
use dozer_test_support::postgres::TestPostgres;
use dozer_tests::app::{self, App};
use dozer_tests::gen_data::Rng;
use dozer_types::SqlType;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

struct Order {
    id: i64,
    customer: i64,
    /// Hundredths.
    amount: i64,
    qty: i32,
    /// Unix seconds.
    ts: i64,
    note: Option<String>,
}

fn orders(n: i64, seed: u64) -> Vec<Order> {
    let mut rng = Rng::new(seed);
    let mut ts = 1_700_000_000;
    (1..=n)
        .map(|id| {
            ts += rng.below(600) as i64;
            Order {
                id,
                customer: 1 + rng.below(40) as i64,
                amount: rng.below(100_000) as i64 - 5_000,
                qty: 1 + rng.below(20) as i32,
                ts,
                note: (rng.below(4) != 0).then(|| format!("note {}", rng.below(30))),
            }
        })
        .collect()
}

fn timestamp(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn amount(hundredths: i64) -> String {
    let sign = if hundredths < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{:02}",
        hundredths.abs() / 100,
        hundredths.abs() % 100
    )
}

const HEADER: &str = "id,customer,amount,qty,ts,note\n";

fn csv(orders: &[Order]) -> String {
    let mut out = String::from(HEADER);
    for o in orders {
        let note = o.note.as_deref().unwrap_or_default();
        let ts = timestamp(o.ts);
        let amount = amount(o.amount);
        writeln!(
            out,
            "{},{},{amount},{},{ts},{note}",
            o.id, o.customer, o.qty
        )
        .unwrap();
    }
    out
}

fn json_lines(orders: &[Order]) -> String {
    let mut out = String::new();
    for o in orders {
        let line = serde_json::json!({
            "id": o.id,
            "customer": o.customer,
            // Decimals as strings keep every digit; numbers are read the same way.
            "amount": if o.id % 2 == 0 { serde_json::json!(amount(o.amount)) } else { serde_json::json!(amount(o.amount).parse::<f64>().unwrap()) },
            "qty": o.qty,
            "ts": timestamp(o.ts),
            "note": o.note,
        });
        writeln!(out, "{line}").unwrap();
    }
    out
}

/// Snappy-compressed, in row groups of 500 rows; `qty` is a 32-bit column (read as INT).
fn write_parquet(path: &Path, orders: &[Order]) {
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "id",
            Arc::new(Int64Array::from_iter_values(orders.iter().map(|o| o.id))),
        ),
        (
            "customer",
            Arc::new(Int64Array::from_iter_values(
                orders.iter().map(|o| o.customer),
            )),
        ),
        (
            "amount",
            Arc::new(
                Decimal128Array::from_iter_values(orders.iter().map(|o| o.amount as i128))
                    .with_precision_and_scale(12, 2)
                    .unwrap(),
            ),
        ),
        (
            "qty",
            Arc::new(Int32Array::from_iter_values(orders.iter().map(|o| o.qty))),
        ),
        (
            "ts",
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    orders.iter().map(|o| o.ts * 1_000_000),
                )
                .with_timezone("UTC"),
            ),
        ),
        (
            "note",
            Arc::new(StringArray::from_iter(
                orders.iter().map(|o| o.note.clone()),
            )),
        ),
    ];
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(500))
        .set_compression(Compression::SNAPPY)
        .build();
    let mut w =
        ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// One connection with a table per format, an endpoint per source (every column of every row)
/// and per aggregate over it.
fn config(on_bad_record: &str) -> String {
    let mut c = format!(
        "version: 1\napp_name: file_sources\napp:\n  on_bad_record: {on_bad_record}\nconnections:\n  - name: files\n    config: !LocalStorage\n      details:\n        path: ./data\n      tables:\n"
    );
    for (table, format, ext) in [
        ("csv", "CSV", ".csv"),
        ("json", "JSONL", ".jsonl"),
        ("pq", "Parquet", ".parquet"),
    ] {
        writeln!(c, "        - !Table\n          name: {table}\n          config: !{format}\n            path: {table}\n            extension: {ext}").unwrap();
        if table == "json" {
            // JSON numbers with a fraction would infer as float; money is exact.
            c.push_str("            columns: { amount: decimal, qty: int }\n");
        }
    }
    c.push_str("sources:\n");
    for t in FORMATS {
        writeln!(
            c,
            "  - name: orders_{t}\n    table_name: {t}\n    connection: files"
        )
        .unwrap();
    }
    // Two of the CSV table's columns, in another order: read by header name.
    c.push_str("  - name: amounts\n    table_name: csv\n    connection: files\n    columns: [amount, customer]\n");
    c.push_str("sql: |\n");
    c.push_str("  SELECT customer, SUM(amount) AS total, COUNT(*) AS n INTO agg_amounts FROM amounts GROUP BY customer;\n");
    for t in FORMATS {
        writeln!(c, "  SELECT customer, COUNT(*) AS n, SUM(amount) AS total, SUM(qty) AS q, MAX(ts) AS latest, COUNT(note) AS notes, MIN(note) AS first_note INTO agg_{t} FROM orders_{t} GROUP BY customer;").unwrap();
    }
    c.push_str(
        "endpoints:\n  - name: agg_amounts\n    path: /agg_amounts\n    table_name: agg_amounts\n",
    );
    for t in FORMATS {
        for ep in [format!("orders_{t}"), format!("agg_{t}")] {
            writeln!(c, "  - name: {ep}\n    path: /{ep}\n    table_name: {ep}").unwrap();
        }
        // Full-text and composite indexes are maintained with every change.
        c.push_str("    index:\n      secondary:\n        create:\n          - !FullText { field: first_note }\n          - !SortedInverted { fields: [n, total] }\n");
    }
    c
}

const FORMATS: [&str; 3] = ["csv", "json", "pq"];

const AGG_ORACLE: &str = "SELECT customer, COUNT(*), SUM(amount), SUM(qty), MAX(ts), COUNT(note), MIN(note COLLATE \"C\") FROM orders GROUP BY customer";

/// Writes the orders as two files per format, the second arriving later (new file in the folder).
fn write_files(data: &Path, part: usize, orders: &[Order]) {
    for t in FORMATS {
        std::fs::create_dir_all(data.join(t)).unwrap();
    }
    std::fs::write(data.join(format!("csv/{part}.csv")), csv(orders)).unwrap();
    std::fs::write(data.join(format!("json/{part}.jsonl")), json_lines(orders)).unwrap();
    write_parquet(&data.join(format!("pq/{part}.parquet")), orders);
}

/// Loads `all` into a throwaway PostgreSQL (through a CSV file under `dir`) and [`compare`]s.
fn compare_with_postgres(app: &App, dir: &Path, all: &[Order]) {
    let pg = TestPostgres::start().expect("test PostgreSQL");
    let mut client = pg.connect("postgres").unwrap();
    client.batch_execute("SET TIME ZONE 'UTC'").unwrap();
    let oracle_csv = dir.join("all.csv");
    std::fs::write(&oracle_csv, csv(all)).unwrap();
    let columns: Vec<(&str, SqlType, bool)> = app.checked.catalog.sources["orders_csv"]
        .schema
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.ty, c.nullable))
        .collect();
    load_csv(&mut client, "orders", &columns, &oracle_csv).unwrap();
    compare(app, &mut client);
}

fn compare(app: &App, client: &mut postgres::Client) {
    let all = query_values(
        client,
        "SELECT id, customer, amount, qty, ts, note FROM orders",
    )
    .unwrap();
    let aggs = query_values(client, AGG_ORACLE).unwrap();
    let amounts = query_values(
        client,
        "SELECT customer, SUM(amount), COUNT(*) FROM orders GROUP BY customer",
    )
    .unwrap();
    if let Some(diff) = diff_rows(&app.dump("agg_amounts"), &amounts) {
        panic!("`agg_amounts` differs:\n{diff}");
    }
    for t in FORMATS {
        let source = format!("orders_{t}");
        if let Some(diff) = diff_rows(&app.dump(&source), &all) {
            panic!("`{source}` differs from the orders:\n{diff}");
        }
        if let Some(diff) = diff_rows(&app.dump(&format!("agg_{t}")), &aggs) {
            panic!("`agg_{t}` differs from PostgreSQL's\n{AGG_ORACLE}\n{diff}");
        }
    }
}

#[test]
fn csv_json_lines_and_parquet_give_the_same_results_and_bad_records_are_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let all = orders(2400, 11);
    let (first, second) = all.split_at(1500);
    write_files(&data, 1, first);
    // Unreadable records: a CSV line with a missing field and a JSON line whose qty is text, and
    // in each a line that is not UTF-8 (a Latin-1 `é`; in the CSV in a column every table reads).
    std::fs::write(
        data.join("csv/0-bad.csv"),
        [
            format!("{HEADER}9999,1,2.00,3,2024-01-01 00:00:00\n9998,1,2.0").as_bytes(),
            b"\xE9,3,2024-01-01 00:00:00,x\n",
        ]
        .concat(),
    )
    .unwrap();
    std::fs::write(
        data.join("json/0-bad.jsonl"),
        [
            b"{\"id\": 9999, \"customer\": 1, \"amount\": 1, \"qty\": \"many\", \"ts\": \"2024-01-01 00:00:00\"}\n{\"id\": 9998, \"note\": \"caf".as_slice(),
            b"\xE9\"}\n",
        ]
        .concat(),
    )
    .unwrap();
    std::fs::write(dir.path().join("dozer-config.yaml"), config("skip")).unwrap();
    let app = app::build(&dir.path().join("dozer-config.yaml"));

    let run = app.run(&["run", "--once", "--batch-records", "400"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("6 unreadable record(s) skipped"),
        "{stderr}"
    );
    assert!(
        stderr.contains("0-bad.csv:3:3 (column `amount`): not valid UTF-8"),
        "{stderr}"
    );
    assert!(
        stderr.contains("0-bad.jsonl:2: not valid UTF-8 (byte 26 of the line)"),
        "{stderr}"
    );
    assert!(stderr.contains("5 fields, the header has 6"), "{stderr}");
    assert!(stderr.contains("0-bad.csv:2"), "{stderr}");
    assert!(stderr.contains("0-bad.jsonl:1"), "{stderr}");
    assert!(stderr.contains("`qty`"), "{stderr}");

    // More data arrives as new files; the next run ingests only those.
    write_files(&data, 2, second);
    app.run(&["run", "--once", "--batch-records", "400"]);

    compare_with_postgres(&app, dir.path(), &all);
}

#[test]
fn a_bad_record_stops_the_pipeline_with_its_location_until_it_is_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let all = orders(300, 5);
    write_files(&data, 1, &all);
    std::fs::write(dir.path().join("dozer-config.yaml"), config("fail")).unwrap();
    // Line 3 of the second JSON file has a date where the amount goes.
    let bad = "{\"id\": 1001, \"customer\": 1, \"amount\": 1, \"qty\": 1, \"ts\": \"2024-01-01 00:00:00\"}\n{\"id\": 1002, \"customer\": 2, \"amount\": 2, \"qty\": 2, \"ts\": \"2024-01-01 00:00:00\"}\n{\"id\": 1003, \"customer\": 3, \"amount\": \"2024-01-01\", \"qty\": 3, \"ts\": \"2024-01-01 00:00:00\"}\n";
    std::fs::write(data.join("json/2.jsonl"), bad).unwrap();
    let app = app::build(&dir.path().join("dozer-config.yaml"));

    let out = Command::new(&app.binary)
        .args(["run", "--once"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2.jsonl:3"), "{stderr}");
    assert!(stderr.contains("`amount`"), "{stderr}");
    assert!(stderr.contains("on_bad_record: skip"), "{stderr}");

    // Fixed in place (the file only changes after the committed position): the run completes,
    // with every record counted once.
    std::fs::write(
        data.join("json/2.jsonl"),
        bad.replace("\"2024-01-01\", \"qty\"", "3, \"qty\""),
    )
    .unwrap();
    app.run(&["run", "--once"]);
    let agg = app.dump("agg_json");
    let counted: i64 = agg
        .iter()
        .map(|r| match r[1] {
            dozer_types::Value::Int(n) => n,
            ref other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(counted, 303);
    assert_eq!(app.dump("orders_json").len(), 303);
}

/// Dozer's markers: with `marker_extension` (or `marker_file: true`, meaning `.marker`) a data
/// file is read once a file of its name with the marker's extension exists, at check time (the
/// schema) and at run time; markers are never data.
#[test]
fn a_marked_table_reads_a_file_only_once_its_marker_exists() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("sales")).unwrap();
    std::fs::create_dir_all(data.join("events")).unwrap();
    std::fs::write(data.join("sales/1.csv"), "id,v\r\n1,10\r\n2,20\r\n").unwrap();
    std::fs::write(data.join("sales/1.done"), "").unwrap();
    // Unfinished: a header the schema must not be read from, and no marker yet.
    std::fs::write(data.join("sales/2.csv"), "id,v,extra\n3,30,x\n4,40,y").unwrap();
    std::fs::write(
        data.join("events/1.jsonl"),
        "{\"id\": 1, \"kind\": \"a\"}\n",
    )
    .unwrap();
    std::fs::write(data.join("events/1.marker"), "").unwrap();
    std::fs::write(
        data.join("events/2.jsonl"),
        "{\"id\": 2, \"kind\": \"b\"}\n",
    )
    .unwrap();
    let config = dir.path().join("dozer-config.yaml");
    std::fs::write(
        &config,
        "version: 1\napp_name: markers\nconnections:\n  - name: files\n    config: !LocalStorage\n      details: { path: ./data }\n      tables:\n        - !Table { name: sales, config: !CSV { path: sales, extension: .csv, marker_extension: .done } }\n        - !Table { name: events, config: !JSONL { path: events, marker_file: true } }\nsources:\n  - { name: sales, table_name: sales, connection: files }\n  - { name: events, table_name: events, connection: files }\nendpoints:\n  - { name: sales, path: /sales, table_name: sales }\n  - { name: events, path: /events, table_name: events }\n",
    )
    .unwrap();
    let app = app::build(&config);
    // The schema came from the finished file alone.
    assert_eq!(
        app.endpoint_fields("sales")
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["id", "v"]
    );
    let ids = |endpoint: &str| -> Vec<i64> {
        let mut ids: Vec<i64> = app
            .dump(endpoint)
            .iter()
            .map(|r| match r[0] {
                dozer_types::Value::Int(n) => n,
                ref other => panic!("{other:?}"),
            })
            .collect();
        ids.sort();
        ids
    };
    app.run(&["run", "--once"]);
    assert_eq!(ids("sales"), [1, 2]);
    assert_eq!(ids("events"), [1]);
    // Finished, in the table's columns this time, and marked: read, the last line too.
    std::fs::write(data.join("sales/2.csv"), "id,v\n3,30\n4,40").unwrap();
    std::fs::write(data.join("sales/2.done"), "").unwrap();
    std::fs::write(data.join("events/2.marker"), "").unwrap();
    app.run(&["run", "--once"]);
    assert_eq!(ids("sales"), [1, 2, 3, 4]);
    assert_eq!(ids("events"), [1, 2]);
}

/// Files named at random (as uploads are) arrive while the app streams, in no name order; CSV and
/// JSON-lines files read to their end get more rows after later files arrived; the app is killed
/// (-9) at random moments and restarted. Every row is read exactly once: the endpoints equal
/// PostgreSQL's answers on the same orders.
#[test]
fn files_named_at_random_are_each_read_once_through_appends_and_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let all = orders(3000, 23);
    let (first, rest) = all.split_at(200);
    // The schema comes from the files there at build time.
    write_files(&data, 0, first);
    std::fs::write(dir.path().join("dozer-config.yaml"), config("fail")).unwrap();
    let app = app::build(&dir.path().join("dozer-config.yaml"));
    let start = || {
        Command::new(&app.binary)
            .args(["run", "--no-api", "--poll-ms", "5", "--batch-records", "60"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = start();
    let mut rng = Rng::new(77);
    let (mut kills, mut appends) = (0, 0);
    for part in rest.chunks(70) {
        if rng.below(4) == 0 {
            // More rows for the first files, long read to their end; Parquet gets a new file.
            let rows = csv(part);
            append(&data.join("csv/0.csv"), rows.strip_prefix(HEADER).unwrap());
            append(&data.join("json/0.jsonl"), &json_lines(part));
            write_parquet(&data.join(format!("pq/{:x}.parquet", rng.next_u64())), part);
            appends += 1;
        } else {
            let name = format!("{:012x}", rng.next_u64());
            std::fs::write(data.join(format!("csv/{name}.csv")), csv(part)).unwrap();
            std::fs::write(data.join(format!("json/{name}.jsonl")), json_lines(part)).unwrap();
            write_parquet(&data.join(format!("pq/{name}.parquet")), part);
        }
        std::thread::sleep(Duration::from_millis(rng.below(60)));
        if rng.below(3) == 0 {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            kills += 1;
            child = start();
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    eprintln!("{kills} kill(s), {appends} append(s)");
    assert!(kills > 0 && appends > 0);
    app.run(&["run", "--once"]);

    compare_with_postgres(&app, dir.path(), &all);
}

fn append(path: &Path, text: &str) {
    use std::io::Write as _;
    let mut f = File::options().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}
