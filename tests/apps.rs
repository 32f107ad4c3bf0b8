//! End to end through real binaries: `dozerc build` an app, run it on data, and compare every
//! endpoint with PostgreSQL computing the same SQL on the same data. (Every construct and
//! function against PostgreSQL: `sql_cases.rs` over the case files of `tests/sql/`.)

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dozer_test_support::oracle::{diff_rows, load_csv, query_values};
use dozer_test_support::postgres::TestPostgres;
use dozer_tests::app::{self, App};
use dozer_tests::gen_data;
use dozer_types::SqlType;

fn check_against_oracle(app: &App, client: &mut postgres::Client, endpoint: &str, sql: &str) {
    let actual = app.dump(endpoint);
    let expected = query_values(client, sql).unwrap_or_else(|e| panic!("oracle: {e}\n{sql}"));
    assert!(
        !expected.is_empty(),
        "`{endpoint}`: the oracle has no rows; the test data misses the case"
    );
    if let Some(diff) = diff_rows(&actual, &expected) {
        panic!("endpoint `{endpoint}` differs from PostgreSQL's\n{sql}\n{diff}");
    }
}

/// Writes `rows` generated sales rows as `files` CSV files (with headers) under `dir`, and the
/// same rows as one file at `all` for the oracle.
fn write_sales(dir: &Path, all: &Path, rows: u64, files: usize) {
    let mut text = vec![];
    gen_data::write_sales(&mut text, rows, 42).unwrap();
    std::fs::write(all, &text).unwrap();
    let text = String::from_utf8(text).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let body: Vec<&str> = lines.collect();
    std::fs::create_dir_all(dir).unwrap();
    for (i, part) in body.chunks(body.len().div_ceil(files)).enumerate() {
        let mut f = format!("{header}\n");
        for l in part {
            f.push_str(l);
            f.push('\n');
        }
        std::fs::write(dir.join(format!("sales-{i:03}.csv")), f).unwrap();
    }
}

#[test]
fn ecommerce_survives_kill_9_mid_ingest_and_matches_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let config = app::ecommerce_in(dir.path(), 0, 0);
    let all = dir.path().join("all-sales.csv");
    write_sales(&dir.path().join("data/sales"), &all, 120_000, 4);
    let app = app::build(&config);

    // Ingest in small transactions and SIGKILL the process once some (not all) are committed.
    let mut child = Command::new(&app.binary)
        .args(["run", "--once", "--batch-records", "500"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut killed_mid_ingest = false;
    loop {
        if child.try_wait().unwrap().is_some() {
            break; // finished before we saw a commit: the restart below still checks the result
        }
        let info = Command::new(&app.binary).arg("info").output().unwrap();
        let info = String::from_utf8_lossy(&info.stdout);
        if info.contains("read up to") {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            killed_mid_ingest = !info.contains("sales-003.csv");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("killed mid-ingest: {killed_mid_ingest}");

    // Restart: it resumes after the last committed transaction.
    let out = app.run(&["run", "--once"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("caught up"), "{log}");
    // A second run has nothing left to ingest.
    let again = app.run(&["run", "--once"]);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("caught up: 0 rows"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let pg = TestPostgres::start().expect("test PostgreSQL");
    let mut client = pg.connect("postgres").unwrap();
    client.batch_execute("SET TIME ZONE 'UTC'").unwrap();
    let schema = &app.checked.catalog.sources["sales_data"].schema;
    let columns: Vec<(&str, SqlType, bool)> = schema
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.ty, c.nullable))
        .collect();
    assert_eq!(
        load_csv(&mut client, "sales_data", &columns, &all).unwrap(),
        120_000
    );
    let q = |c: &str| format!("\"{c}\"");
    check_against_oracle(
        &app,
        &mut client,
        "clv",
        &format!(
            "SELECT {c}, SUM({qty} * {price}) FROM sales_data GROUP BY {c}",
            c = q("CustomerID"),
            qty = q("Quantity"),
            price = q("UnitPrice")
        ),
    );
    check_against_oracle(
        &app,
        &mut client,
        "bestsellers",
        "SELECT \"StockCode\", SUM(\"Quantity\") FROM sales_data GROUP BY \"StockCode\"",
    );
    check_against_oracle(
        &app,
        &mut client,
        "sales_by_country",
        "SELECT \"Country\", SUM(\"Quantity\" * \"UnitPrice\") FROM sales_data GROUP BY \"Country\"",
    );
    // TTL(TUMBLE(...), InvoiceDate, '1 DAY'): once everything is in, the rows within a day of the
    // newest InvoiceDate, summed per day.
    check_against_oracle(
        &app,
        &mut client,
        "daily_sales",
        "SELECT SUM(\"Quantity\" * \"UnitPrice\"), date_trunc('day', \"InvoiceDate\"), \
         date_trunc('day', \"InvoiceDate\") + interval '1 day' FROM sales_data \
         WHERE \"InvoiceDate\" > (SELECT max(\"InvoiceDate\") FROM sales_data) - interval '1 day' \
         GROUP BY 2, 3",
    );
}
