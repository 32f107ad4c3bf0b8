//! End to end through real binaries: `dozerc build` an app, run it on data, and compare every
//! endpoint with PostgreSQL computing the same SQL on the same data.

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

const CONSTRUCTS_CONFIG: &str = r#"
version: 1
app_name: constructs
connections:
  - name: files
    config: !LocalStorage
      details:
        path: ./data
      tables:
        - !Table
          name: customers
          config: !CSV
            path: customers
            extension: .csv
        - !Table
          name: orders
          config: !CSV
            path: orders
            extension: .csv
sources:
  - name: customers
    table_name: customers
    connection: files
  - name: orders
    table_name: orders
    connection: files
sql: |
  SELECT id, UPPER(note) AS un, qty * 2 + 1 AS q2, ROUND(amount, 1) AS r, COALESCE(note, 'none') AS n,
         CASE WHEN qty > 5 THEN 'big' WHEN qty > 2 THEN 'mid' ELSE 'small' END AS size,
         LENGTH(COALESCE(note, '')) AS len, EXTRACT(YEAR FROM ts) AS y, qty % 3 AS m, -price AS neg
  INTO t_project
  FROM orders
  WHERE (amount > 10 AND note IS NOT NULL) OR qty IN (1, 2) OR note LIKE 'n%5';

  SELECT customer, COUNT(*) AS n, COUNT(note) AS nn, COUNT(DISTINCT qty) AS dq, SUM(amount) AS s,
         SUM(qty) AS sq, AVG(CAST(price AS FLOAT)) AS a, MIN(amount) AS mn, MAX(ts) AS mx, MIN(note) AS first_note
  INTO t_agg
  FROM orders GROUP BY customer HAVING COUNT(*) > 40;

  SELECT COUNT(*) AS n, SUM(qty) AS s, MAX(price) AS mx INTO t_global FROM orders;

  SELECT o.id, c.name, o.amount INTO t_inner
  FROM orders o JOIN customers c ON o.customer = c.id WHERE o.qty > 3;

  SELECT o.id, c.name, c.country INTO t_left FROM orders o LEFT JOIN customers c ON o.customer = c.id;

  SELECT c.id, c.name, o.id AS order_id INTO t_right
  FROM orders o RIGHT JOIN customers c ON o.customer = c.id;

  SELECT customer AS k INTO t_union FROM orders WHERE qty > 8
  UNION SELECT id FROM customers WHERE country IS NULL;

  SELECT id, 'order' AS kind INTO t_union_all FROM orders WHERE qty = 1
  UNION ALL SELECT id, 'customer' FROM customers;

  SELECT DISTINCT customer, qty > 5 AS big INTO t_distinct FROM orders;

  SELECT customer, SUM(qty) AS total INTO t_sums FROM orders GROUP BY customer;

  SELECT MIN(total) AS lo, MAX(total) AS hi, COUNT(*) AS n INTO t_minmax FROM t_sums;

  SELECT s.customer, s.total, c.name INTO t_chain_join
  FROM t_sums s JOIN customers c ON s.customer = c.id WHERE s.total > 100;

  SELECT window_start, window_end, COUNT(*) AS n, SUM(qty) AS s INTO t_hop
  FROM HOP(orders, ts, '1 HOUR', '3 HOURS') GROUP BY window_start, window_end;

  SELECT window_start, COUNT(*) AS n INTO t_ttl
  FROM TTL(TUMBLE(orders, ts, '1 HOUR'), ts, '6 HOURS') GROUP BY window_start;
endpoints:
"#;

/// Every endpoint of the constructs app and the PostgreSQL query that must give the same rows
/// (the same SQL where PostgreSQL has it; hand-written equivalents for HOP, TUMBLE and TTL).
const CONSTRUCTS_ORACLE: &[(&str, &str)] = &[
    ("t_project", "SELECT id, UPPER(note), qty * 2 + 1, ROUND(amount, 1), COALESCE(note, 'none'), CASE WHEN qty > 5 THEN 'big' WHEN qty > 2 THEN 'mid' ELSE 'small' END, LENGTH(COALESCE(note, '')), EXTRACT(YEAR FROM ts), qty % 3, -price FROM orders WHERE (amount > 10 AND note IS NOT NULL) OR qty IN (1, 2) OR note LIKE 'n%5'"),
    ("t_agg", "SELECT customer, COUNT(*), COUNT(note), COUNT(DISTINCT qty), SUM(amount), SUM(qty), AVG(CAST(price AS FLOAT)), MIN(amount), MAX(ts), MIN(note COLLATE \"C\") FROM orders GROUP BY customer HAVING COUNT(*) > 40"),
    ("t_global", "SELECT COUNT(*), SUM(qty), MAX(price) FROM orders"),
    ("t_inner", "SELECT o.id, c.name, o.amount FROM orders o JOIN customers c ON o.customer = c.id WHERE o.qty > 3"),
    ("t_left", "SELECT o.id, c.name, c.country FROM orders o LEFT JOIN customers c ON o.customer = c.id"),
    ("t_right", "SELECT c.id, c.name, o.id FROM orders o RIGHT JOIN customers c ON o.customer = c.id"),
    ("t_union", "SELECT customer FROM orders WHERE qty > 8 UNION SELECT id FROM customers WHERE country IS NULL"),
    ("t_union_all", "SELECT id, 'order' FROM orders WHERE qty = 1 UNION ALL SELECT id, 'customer' FROM customers"),
    ("t_distinct", "SELECT DISTINCT customer, qty > 5 FROM orders"),
    ("t_sums", "SELECT customer, SUM(qty) FROM orders GROUP BY customer"),
    ("t_minmax", "SELECT MIN(total), MAX(total), COUNT(*) FROM (SELECT customer, SUM(qty) AS total FROM orders GROUP BY customer) s"),
    ("t_chain_join", "SELECT s.customer, s.total, c.name FROM (SELECT customer, SUM(qty) AS total FROM orders GROUP BY customer) s JOIN customers c ON s.customer = c.id WHERE s.total > 100"),
    ("t_hop", "SELECT ws, ws + interval '3 hours', COUNT(*), SUM(qty) FROM orders, LATERAL generate_series(date_bin('1 hour', ts, TIMESTAMPTZ 'epoch') - interval '2 hours', date_bin('1 hour', ts, TIMESTAMPTZ 'epoch'), interval '1 hour') ws GROUP BY ws"),
    ("t_ttl", "SELECT date_trunc('hour', ts), COUNT(*) FROM orders WHERE ts > (SELECT max(ts) FROM orders) - interval '6 hours' GROUP BY 1"),
];

#[test]
fn every_construct_matches_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = CONSTRUCTS_CONFIG.to_string();
    for (name, _) in CONSTRUCTS_ORACLE {
        config.push_str(&format!(
            "  - name: {name}\n    path: /{name}\n    table_name: {name}\n"
        ));
    }
    std::fs::write(dir.path().join("dozer-config.yaml"), config).unwrap();

    // Customers 1..=50 and 70..=75 (no orders); orders reference 1..=60 (51..=60 have no
    // customer). Orders arrive in several files, so several batches.
    let mut rng = gen_data::Rng::new(7);
    let mut customers = String::from("id,name,country\n");
    for id in (1..=50).chain(70..=75) {
        let country = ["FR", "DE", "", "UK"][rng.below(4) as usize];
        customers.push_str(&format!("{id},name {id},{country}\n"));
    }
    let all_customers = dir.path().join("all-customers.csv");
    std::fs::write(&all_customers, &customers).unwrap();
    app::copy(&all_customers, &dir.path().join("data/customers/c.csv"));
    let mut all_orders = String::from("id,customer,amount,qty,price,ts,note\n");
    let mut t = 1_700_000_000i64;
    let orders = 3000u64;
    std::fs::create_dir_all(dir.path().join("data/orders")).unwrap();
    let mut file = String::from("id,customer,amount,qty,price,ts,note\n");
    for id in 1..=orders {
        t += rng.below(180) as i64;
        let ts = chrono::DateTime::from_timestamp(t, 0)
            .unwrap()
            .format("%Y-%m-%d %H:%M:%S");
        let note = if rng.below(10) < 3 {
            String::new()
        } else {
            format!("n{}", rng.below(40))
        };
        let line = format!(
            "{id},{},{}.{:02},{},{}.{},{ts},{note}\n",
            1 + rng.below(60),
            rng.below(50),
            rng.below(100),
            rng.below(10),
            rng.below(100),
            rng.below(10),
        );
        all_orders.push_str(&line);
        file.push_str(&line);
        if id % 700 == 0 || id == orders {
            std::fs::write(dir.path().join(format!("data/orders/o-{id:05}.csv")), &file).unwrap();
            file = String::from("id,customer,amount,qty,price,ts,note\n");
        }
    }
    let all_orders_path = dir.path().join("all-orders.csv");
    std::fs::write(&all_orders_path, &all_orders).unwrap();

    let app = app::build(&dir.path().join("dozer-config.yaml"));
    app.run(&["run", "--once", "--batch-records", "333"]);

    let pg = TestPostgres::start().expect("test PostgreSQL");
    let mut client = pg.connect("postgres").unwrap();
    client.batch_execute("SET TIME ZONE 'UTC'").unwrap();
    for (source, path) in [("customers", &all_customers), ("orders", &all_orders_path)] {
        let schema = &app.checked.catalog.sources[source].schema;
        let columns: Vec<(&str, SqlType, bool)> = schema
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.ty, c.nullable))
            .collect();
        load_csv(&mut client, source, &columns, path).unwrap();
    }
    for (endpoint, sql) in CONSTRUCTS_ORACLE {
        check_against_oracle(&app, &mut client, endpoint, sql);
    }
}
