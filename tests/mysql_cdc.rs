//! MySQL sources end to end, against a throwaway MariaDB server: the `examples/ecommerce-mysql`
//! app follows it while a randomized writer changes it (inserts, updates including primary-key
//! changes, deletes, multi-statement transactions, rollbacks, TRUNCATE, two tables joined), and
//! every endpoint is held to MariaDB's own answer to the same SQL on the final tables.
//!
//! - snapshot + stream under kill -9: the binary is SIGKILLed at random moments (the first ones
//!   during the snapshot) and restarted each time; the end state equals MariaDB's answer;
//! - resume: a restart continues from the committed binlog position, with no new snapshot;
//! - atomicity: a transaction that touches two tables feeding two endpoints is never
//!   half-visible;
//! - column types and NULLs, through the snapshot and through the binlog alike;
//! - setup problems (`binlog_format`, the REPLICATION privilege, a purged binlog, a server that
//!   is down, a wrong password, a missing table) stop the app or the check with what to run.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dozer_test_support::mariadb::{typed, TestMariaDb, PASSWORD, USER};
use dozer_test_support::oracle::diff_rows;
use dozer_tests::app::{self, App};
use dozer_tests::rng::Rng;
use dozer_types::SqlType;
use serde_json::Value as Json;

const CUSTOMERS: u64 = 40;

/// A test server with the example's tables and a copy of the example's config pointing at it.
struct Shop {
    db: TestMariaDb,
    _dir: tempfile::TempDir,
    config: PathBuf,
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/ecommerce-mysql")
}

impl Shop {
    /// `sales` rows to begin with (and `CUSTOMERS` customers); `extra` is YAML appended to the
    /// config's sources and endpoints (`(sources, endpoints)`).
    fn new(sales: u64, extra: Option<(&str, &str)>) -> Shop {
        let db = TestMariaDb::start().expect("test MariaDB");
        db.root("CREATE DATABASE shop").unwrap();
        let schema = std::fs::read_to_string(example().join("schema.sql")).unwrap();
        db.sql("shop", &schema).unwrap();
        db.sql(
            "shop",
            &format!(
                "INSERT INTO customers SELECT seq, ELT(1 + seq % 3, 'Retail', 'Wholesale', 'Online') FROM seq_1_to_{CUSTOMERS};
                 INSERT INTO sales (InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country)
                 SELECT 500000 + seq DIV 4, 20000 + seq % 30, CONCAT('ITEM ', seq % 30), 1 + seq % 12,
                        TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (seq * 90) SECOND, (seq % 997) / 100.0 + 0.5,
                        IF(seq % 17 = 0, NULL, 1 + seq % {CUSTOMERS}),
                        ELT(1 + seq % 4, 'United Kingdom', 'France', 'Germany', 'Spain')
                 FROM seq_1_to_{sales}"
            ),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut text = std::fs::read_to_string(example().join("dozer-config.yaml"))
            .unwrap()
            .replace("localhost:3306", &format!("{}:{}", db.host(), db.port()))
            .replace("{{MYSQL_PASSWORD}}", PASSWORD);
        assert!(!text.contains("{{"), "the example reads another variable");
        assert!(
            text.contains(&db.port().to_string()) && text.contains(&format!("{USER}:")),
            "the example's connection changed"
        );
        if let Some((sources, endpoints)) = extra {
            text = text.replace("\nsql: |", &format!("{sources}\nsql: |"));
            text = text.replace("\napi:", &format!("{endpoints}\napi:"));
        }
        let config = dir.path().join("dozer-config.yaml");
        std::fs::write(&config, text).unwrap();
        Shop {
            db,
            _dir: dir,
            config,
        }
    }

    /// Every endpoint equals MariaDB's answer to the same SQL on the final tables.
    fn check_endpoints(&self, app: &App) {
        let checks = [
            ("clv", "SELECT CustomerID, SUM(Quantity * UnitPrice) FROM sales GROUP BY 1"),
            ("bestsellers", "SELECT StockCode, SUM(Quantity) FROM sales GROUP BY 1"),
            ("sales_by_country", "SELECT Country, SUM(Quantity * UnitPrice) FROM sales GROUP BY 1"),
            (
                "sales_by_segment",
                "SELECT c.Segment, COUNT(*), SUM(s.Quantity * s.UnitPrice) FROM sales s JOIN customers c ON s.CustomerID = c.CustomerID GROUP BY 1",
            ),
            // TTL(TUMBLE(..), InvoiceDate, '1 DAY'): the rows within a day of the newest
            // InvoiceDate ever seen. The writer only deletes rows older than two days, so the
            // newest one seen is still in the table.
            (
                "daily_sales",
                "SELECT SUM(Quantity * UnitPrice), TIMESTAMP(DATE(InvoiceDate)), TIMESTAMP(DATE(InvoiceDate)) + INTERVAL 1 DAY
                 FROM sales WHERE InvoiceDate > (SELECT MAX(InvoiceDate) FROM sales) - INTERVAL 1 DAY GROUP BY 2, 3",
            ),
            (
                "sales",
                "SELECT id, InvoiceNo, StockCode, Quantity, InvoiceDate, UnitPrice, CustomerID, Country FROM sales",
            ),
            ("customers", "SELECT CustomerID, Segment FROM customers"),
        ];
        for (endpoint, sql) in checks {
            self.check(app, endpoint, sql);
        }
    }

    /// One endpoint equals MariaDB's answer to `sql`.
    fn check(&self, app: &App, endpoint: &str, sql: &str) {
        let types: Vec<SqlType> = app
            .endpoint_fields(endpoint)
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        let expected = typed(self.db.query("shop", sql).unwrap(), &types)
            .unwrap_or_else(|e| panic!("oracle `{endpoint}`: {e}\n{sql}"));
        let actual = app.dump(endpoint);
        if let Some(diff) = diff_rows(&actual, &expected) {
            panic!("endpoint `{endpoint}` differs from MariaDB's\n{sql}\n{diff}");
        }
    }

    fn count(&self, table: &str) -> u64 {
        self.db
            .query("shop", &format!("SELECT COUNT(*) FROM {table}"))
            .unwrap()[0][0]
            .as_deref()
            .unwrap()
            .parse()
            .unwrap()
    }
}

/// A random transaction of the workload, as SQL (`BEGIN; …; COMMIT;` or `…; ROLLBACK;`).
fn transaction(rng: &mut Rng, clock: &mut i64, next_id: &mut u64) -> String {
    let mut sql = String::from("BEGIN;\n");
    for _ in 0..1 + rng.below(6) {
        let pick = rng.below(1 << 20);
        let statement = match rng.below(100) {
            0..=39 => {
                *clock += 1 + rng.below(900) as i64;
                let customer = if rng.below(20) == 0 {
                    "NULL".to_string()
                } else {
                    (1 + rng.below(CUSTOMERS + 10)).to_string()
                };
                format!(
                    "INSERT INTO sales (InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country)
                     VALUES ('9{}', '{}', 'NEW', {}, TIMESTAMP '2025-01-01 00:00:00' + INTERVAL {clock} SECOND, {} / 100.0, {customer}, '{}');",
                    rng.below(100_000),
                    20000 + rng.below(35),
                    1 + rng.below(20),
                    1 + rng.below(5000),
                    ["United Kingdom", "France", "Germany", "Spain", "Japan"][rng.index(5)]
                )
            }
            40..=59 => format!(
                "UPDATE sales SET Quantity = {}, UnitPrice = UnitPrice + 0.25 WHERE id >= {pick} % (SELECT MAX(id) FROM sales AS s) ORDER BY id LIMIT 1;",
                1 + pick % 30
            ),
            60..=67 => {
                // A primary-key change: the old row goes, the new one comes, in one statement.
                // (To negative ids, which AUTO_INCREMENT never hands out.)
                *next_id += 1;
                format!(
                    "UPDATE sales SET id = -{next_id} WHERE id >= {pick} % (SELECT MAX(id) FROM sales AS s) ORDER BY id LIMIT 1;"
                )
            }
            // Only rows older than two days before the newest: the newest row ever seen stays.
            68..=79 => format!(
                "DELETE FROM sales WHERE id >= {pick} % (SELECT MAX(id) FROM sales AS s)
                   AND InvoiceDate < (SELECT MAX(InvoiceDate) FROM sales AS s) - INTERVAL 2 DAY ORDER BY id LIMIT 1;"
            ),
            80..=89 => format!(
                "UPDATE customers SET Segment = '{}' WHERE CustomerID = {};",
                ["Retail", "Wholesale", "Online", "Partner"][rng.index(4)],
                1 + pick % (CUSTOMERS + 10)
            ),
            90..=94 => format!(
                "INSERT IGNORE INTO customers VALUES ({}, 'Late');",
                CUSTOMERS + 1 + rng.below(10)
            ),
            _ => format!(
                "DELETE FROM customers WHERE CustomerID = {};",
                CUSTOMERS + 1 + rng.below(10)
            ),
        };
        sql.push_str(&statement);
        sql.push('\n');
    }
    sql.push_str(if rng.below(10) == 0 {
        "ROLLBACK;\n"
    } else {
        "COMMIT;\n"
    });
    sql
}

/// The workload, fed to one `mariadb` client through its standard input (statements run in
/// order, as one session); stopped by [`Writer::finish`].
struct Writer {
    client: std::process::Child,
    rng: Rng,
    clock: i64,
    next_id: u64,
    sent: u64,
}

impl Writer {
    fn start(shop: &Shop, seed: u64) -> Writer {
        let client = shop
            .db
            .client("shop")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Writer {
            client,
            rng: Rng::new(seed),
            clock: 0,
            next_id: 10_000_000,
            sent: 0,
        }
    }

    /// Sends `n` transactions (the client runs them as fast as the server takes them).
    fn send(&mut self, n: u64) {
        let stdin = self.client.stdin.as_mut().unwrap();
        for _ in 0..n {
            let t = transaction(&mut self.rng, &mut self.clock, &mut self.next_id);
            stdin.write_all(t.as_bytes()).unwrap();
            self.sent += 1;
        }
        stdin.flush().unwrap();
    }

    /// Waits until the client has run everything sent; returns the number of transactions.
    fn finish(mut self) -> u64 {
        drop(self.client.stdin.take());
        let status = self.client.wait().unwrap();
        assert!(status.success(), "the workload's SQL failed ({status})");
        self.sent
    }
}

/// `<app> run --once` (stops when caught up): its log.
fn catch_up(app: &App) -> String {
    let out = app.run(&["run", "--once"]);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `<app> run --once`, expected to fail: its error output.
fn run_fails(app: &App) -> String {
    let out = Command::new(&app.binary)
        .args(["run", "--once"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the app started:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_randomized_workload_survives_kill_9_and_matches_mariadb() {
    let kills: usize = std::env::var("DOZER_CDC_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let shop = Shop::new(20_000, None);
    let app = app::build(&shop.config);
    let mut writer = Writer::start(&shop, 7);
    writer.send(50);
    let mut rng = Rng::new(99);
    let mut snapshot_started = Instant::now();
    for i in 0..kills {
        let mut child = Command::new(&app.binary)
            .args(["run", "--no-api"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if i == 0 {
            snapshot_started = Instant::now();
        }
        // The first runs die during or just after the snapshot, the later ones while streaming.
        let ms = if i < 2 {
            30 + rng.below(300)
        } else {
            100 + rng.below(900)
        };
        writer.send(20 + rng.below(60));
        std::thread::sleep(Duration::from_millis(ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let _ = snapshot_started;
    let sent = writer.finish();
    assert!(sent > 300, "the writer sent only {sent} transactions");
    let started = Instant::now();
    let log = catch_up(&app);
    assert!(log.contains("caught up"), "{log}");
    eprintln!(
        "{sent} transactions, {kills} kills; the last catch-up took {:.1}s",
        started.elapsed().as_secs_f64()
    );
    shop.check_endpoints(&app);

    // A restart resumes from the committed position: no new snapshot, nothing twice — also
    // across a TRUNCATE, which the binlog carries as a statement.
    shop.db
        .sql(
            "shop",
            "INSERT INTO sales (InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country)
             VALUES ('1', '20001', 'AFTER', 5, '2030-01-01 00:00:00', 1.5, 1, 'France');
             CREATE TABLE other (id INT PRIMARY KEY); INSERT INTO other VALUES (1); TRUNCATE TABLE customers;
             INSERT INTO customers VALUES (1, 'Fresh'), (2, 'Fresh');",
        )
        .unwrap();
    let log = catch_up(&app);
    assert!(log.contains("caught up"), "{log}");
    assert!(
        !log.contains("snapshot"),
        "a restart took a new snapshot:\n{log}"
    );
    shop.check_endpoints(&app);
    let info = String::from_utf8_lossy(&app.run(&["info"]).stdout).into_owned();
    assert!(
        info.contains("replicated up to binlog position mysql-bin."),
        "{info}"
    );
}

/// A table of the common column types, as a third source and endpoint of the example.
const KINDS_TABLE: &str = "CREATE TABLE kinds (
    id INT NOT NULL PRIMARY KEY,
    flag BOOLEAN,
    tiny TINYINT, small SMALLINT UNSIGNED, medium MEDIUMINT, regular INT UNSIGNED,
    big BIGINT, ubig BIGINT UNSIGNED,
    price DECIMAL(20, 6), ratio FLOAT, score DOUBLE,
    code CHAR(3) CHARACTER SET ascii, name VARCHAR(40) CHARACTER SET utf8mb4,
    note TEXT CHARACTER SET latin1,
    born DATE, seen DATETIME(6), stamped TIMESTAMP(3) NULL, doc JSON, yr YEAR
)";
const KINDS_SOURCE: &str = "  - name: kinds\n    table_name: kinds\n    connection: shop\n";
const KINDS_ENDPOINT: &str = "  - name: kinds\n    path: /kinds\n    table_name: kinds\n";
const KINDS_SELECT: &str = "SELECT id, flag, tiny, small, medium, regular, big, ubig, price, ratio, score, code, name, note, born, seen, stamped, doc, yr FROM kinds";

fn insert_kinds(shop: &Shop, ids: std::ops::Range<i64>) {
    let mut sql = String::new();
    for id in ids {
        sql.push_str(&if id % 5 == 0 {
            format!("INSERT INTO kinds (id) VALUES ({id});\n")
        } else {
            format!(
                "INSERT INTO kinds VALUES ({id}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 'c{}', 'näme {id}', 'a\\ttab, \\\"quotes\\\", café €', '2024-02-{:02}', '2024-02-03 04:05:06.{:06}', '2024-03-04 05:06:07.{:03}', '{{\"k\": {id}, \"a\": [1, null]}}', {});\n",
                id % 2,
                -128 + id % 256,
                65535 - id,
                -8388608 + id,
                4294967295u64 - id as u64,
                i64::MIN + id,
                u64::MAX - id as u64,
                format_args!("{}.{:06}", -99999999999999i64 + id, id),
                0.1 * id as f64,
                1e300 / id as f64,
                id % 10,
                1 + id % 28,
                id * 7,
                id % 1000,
                1901 + id % 254,
            )
        });
    }
    shop.db.sql("shop", &sql).unwrap();
}

#[test]
fn types_transactions_and_setup_problems() {
    let mut shop = Shop::new(1_000, Some((KINDS_SOURCE, KINDS_ENDPOINT)));
    shop.db.sql("shop", KINDS_TABLE).unwrap();
    insert_kinds(&shop, 1..40);

    // What `dozerc check` says about the server and the tables.
    let check_with = |from: &str, to: &str| {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(&shop.config).unwrap();
        assert!(text.contains(from), "{from}");
        let path = dir.path().join("dozer-config.yaml");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        app::check_errors(&path)
    };
    let said = check_with(&format!(":{PASSWORD}@"), ":wrong@");
    assert!(said.contains(&format!("rejected user `{USER}`")), "{said}");
    let said = check_with("table_name: customers", "table_name: customer");
    assert!(
        said.contains("table `shop.customer` does not exist"),
        "{said}"
    );
    assert!(said.contains("did you mean `customers`"), "{said}");
    shop.db
        .sql(
            "shop",
            "CREATE TABLE odd (id INT PRIMARY KEY, mood ENUM('happy', 'sad'))",
        )
        .unwrap();
    let said = check_with("table_name: kinds", "table_name: odd");
    assert!(
        said.contains("type enum('happy','sad') of column `mood`"),
        "{said}"
    );

    let app = app::build(&shop.config);
    let log = catch_up(&app);
    assert!(log.contains("caught up"), "{log}");
    // Through the snapshot, then through the binlog (inserts, updates to other values and to
    // NULLs, deletes).
    shop.check(&app, "kinds", KINDS_SELECT);
    insert_kinds(&shop, 40..80);
    shop.db
        .sql(
            "shop",
            "UPDATE kinds SET flag = NOT flag, regular = regular - 1, ubig = 18446744073709551615, name = NULL, doc = '[]', stamped = '1999-12-31 23:59:59.999' WHERE id % 3 = 0;
             UPDATE kinds SET tiny = NULL, price = 0.000001, seen = NULL WHERE id % 3 = 1;
             DELETE FROM kinds WHERE id % 7 = 0;",
        )
        .unwrap();
    catch_up(&app);
    shop.check(&app, "kinds", KINDS_SELECT);

    // A transaction over two tables is never half visible.
    let running = app::Serving::start(&app.binary, &["run"]);
    let http = reqwest::blocking::Client::new();
    let count = |endpoint: &str| -> i64 {
        let body: Json = http
            .post(format!("{}/{endpoint}/count", running.rest))
            .body("{}")
            .send()
            .unwrap()
            .json()
            .unwrap();
        body.as_i64().unwrap_or_else(|| panic!("a count: {body}"))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while count("sales") != shop.count("sales") as i64 {
        assert!(Instant::now() < deadline, "no catch-up:\n{}", running.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let (base_sales, base_customers) = (count("sales"), count("customers"));
    let mut client = shop
        .db
        .client("shop")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let transactions = 3_000;
    {
        let stdin = client.stdin.as_mut().unwrap();
        for id in 1_000..1_000 + transactions {
            writeln!(
                stdin,
                "BEGIN; INSERT INTO customers VALUES ({id}, 'Atomic');
                 INSERT INTO sales (InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country)
                 VALUES ('A', '1', 'ATOMIC', 1, '2030-01-01 00:00:00', 1, {id}, 'Atomic'); COMMIT;"
            )
            .unwrap();
        }
    }
    drop(client.stdin.take());
    let (mut windows, mut moved) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let before = count("customers");
        let sales = count("sales");
        let after = count("customers");
        if before == after {
            windows += 1;
            moved += i64::from(before != base_customers);
            assert_eq!(
                sales - base_sales,
                before - base_customers,
                "half a transaction is visible: {sales} sales and {before} customers"
            );
            if before - base_customers == transactions {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the app did not catch up:\n{}",
            running.log()
        );
    }
    assert!(client.wait().unwrap().success());
    eprintln!("{transactions} transactions, {windows} consistent windows ({moved} after changes)");
    assert!(moved > 10, "the reader saw too few changes ({moved})");

    // The server crashes (SIGKILL) under the running app, which reconnects by itself and
    // resumes where it was.
    shop.db.crash_and_restart_with(&[]).unwrap();
    shop.db
        .sql(
            "shop",
            "INSERT INTO customers VALUES (99999, 'After the crash')",
        )
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while count("customers") != shop.count("customers") as i64 {
        assert!(
            Instant::now() < deadline,
            "no catch-up after the crash:\n{}",
            running.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        running.log().contains("reconnecting"),
        "no reconnect logged:\n{}",
        running.log()
    );
    drop(running);
    shop.check_endpoints(&app);

    // Setup problems stop the app with what to run.
    shop.db
        .root("SET GLOBAL binlog_format = 'STATEMENT'")
        .unwrap();
    let said = run_fails(&app);
    assert!(said.contains("SET GLOBAL binlog_format = 'ROW'"), "{said}");
    shop.db.root("SET GLOBAL binlog_format = 'ROW'").unwrap();
    shop.db
        .root("SET GLOBAL binlog_row_image = 'MINIMAL'")
        .unwrap();
    let said = run_fails(&app);
    assert!(
        said.contains("SET GLOBAL binlog_row_image = 'FULL'"),
        "{said}"
    );
    shop.db
        .root("SET GLOBAL binlog_row_image = 'FULL'")
        .unwrap();

    shop.db
        .root(&format!(
            "REVOKE REPLICATION SLAVE ON *.* FROM '{USER}'@'%'"
        ))
        .unwrap();
    shop.db
        .sql(
            "shop",
            "UPDATE customers SET Segment = 'Revoked' WHERE CustomerID = 1",
        )
        .unwrap();
    let said = run_fails(&app);
    assert!(said.contains("GRANT REPLICATION SLAVE"), "{said}");
    shop.db
        .root(&format!("GRANT REPLICATION SLAVE ON *.* TO '{USER}'@'%'"))
        .unwrap();
    catch_up(&app);
    shop.check_endpoints(&app);

    // The binlog file the store's position is in is purged while the app is stopped.
    shop.db
        .root("FLUSH BINARY LOGS; FLUSH BINARY LOGS;")
        .unwrap();
    let newest = shop.db.root("SHOW MASTER STATUS").unwrap();
    let newest = newest.split('\t').next().unwrap().to_string();
    // MariaDB keeps a file until its binlog checkpoint has moved on (crash recovery may need
    // it), so the purge is repeated until only the newest file is left.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        shop.db
            .root(&format!("PURGE BINARY LOGS TO '{newest}'"))
            .unwrap();
        let logs = shop.db.root("SHOW BINARY LOGS").unwrap();
        if logs.lines().count() == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the binlogs were not purged:\n{logs}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let said = run_fails(&app);
    assert!(said.contains("no longer has"), "{said}");
    assert!(said.contains("delete the app's store"), "{said}");

    // A server restarted without its binlog: the app says how to turn it on.
    shop.db.crash_and_restart_with(&["--skip-log-bin"]).unwrap();
    let said = run_fails(&app);
    assert!(said.contains("start it with `--log-bin`"), "{said}");
}

/// Figures for the closing note and the benchmark (`cargo test -p dozer-tests --test e2e --
/// --ignored --nocapture mysql_cdc::measure`): the snapshot's rows per second, and row changes
/// applied per second end to end on the PostgreSQL measurement's workload (200k inserts, 200k
/// updates, 100k deletes in 1000-row transactions), against `mariadb-binlog` reading the same
/// changes from the server. Prints, asserts nothing about time.
#[test]
#[ignore = "a measurement, not a test"]
fn measure_mysql_snapshot_and_cdc_throughput() {
    let rows: u64 = std::env::var("DOZER_MYSQL_SNAPSHOT_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let shop = Shop::new(rows, None);
    let app = app::build(&shop.config);
    let started = Instant::now();
    let log = catch_up(&app);
    let took = started.elapsed().as_secs_f64();
    assert!(log.contains("caught up"), "{log}");
    eprintln!(
        "snapshot: {rows} sales rows (and {CUSTOMERS} customers) copied and applied in {took:.2}s: {:.0} rows/s",
        rows as f64 / took
    );

    let running = app::Serving::start(&app.binary, &["run"]);
    let http = reqwest::blocking::Client::new();
    let visible = |path: &str| {
        http.get(format!("{}{path}", running.rest))
            .send()
            .unwrap()
            .status()
            .as_u16()
            == 200
    };
    let head = shop.db.root("SHOW MASTER STATUS").unwrap();
    let mut at = head.split('\t');
    let (file, pos) = (
        at.next().unwrap().to_string(),
        at.next().unwrap().trim().to_string(),
    );
    let base = rows as i64;
    let mut sql = String::new();
    for k in 0..200 {
        sql.push_str(&format!(
            "INSERT INTO sales (InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country)
             SELECT seq, 20000 + seq % 500, 'ITEM', 1 + seq % 10, TIMESTAMP '2025-01-01 00:00:00' + INTERVAL seq SECOND, (seq % 1000) / 100.0, seq % 5000, 'France'
             FROM seq_{}_to_{};\n",
            k * 1000,
            k * 1000 + 999
        ));
    }
    for k in 0..200i64 {
        sql.push_str(&format!(
            "UPDATE sales SET Quantity = Quantity + 1 WHERE id > {} AND id <= {};\n",
            base + k * 1000,
            base + k * 1000 + 1000
        ));
    }
    for k in 0..100i64 {
        sql.push_str(&format!(
            "DELETE FROM sales WHERE id > {} AND id <= {};\n",
            base + k * 2000,
            base + k * 2000 + 1000
        ));
    }
    sql.push_str("INSERT INTO customers VALUES (1000000, 'marker');\n");
    let started = Instant::now();
    let mut client = shop
        .db
        .client("shop")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    client
        .stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    assert!(client.wait().unwrap().success());
    let written = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    while !visible("/customers/1000000") {
        assert!(
            Instant::now() < deadline,
            "the changes never arrived:\n{}",
            running.log()
        );
        std::thread::sleep(Duration::from_micros(500));
    }
    let seen = started.elapsed();
    let changes = 500_000.0;
    eprintln!(
        "throughput: {changes} row changes committed in {:.2}s ({:.0}/s), all visible after {:.2}s: {:.0} row changes/s end to end",
        written.as_secs_f64(),
        changes / written.as_secs_f64(),
        seen.as_secs_f64(),
        changes / seen.as_secs_f64()
    );
    drop(running);
    // The baseline: the server's own binlog client reading and decoding the same events.
    let end = shop.db.root("SHOW MASTER STATUS").unwrap();
    let end: String = end.split('\t').nth(1).unwrap().trim().to_string();
    let started = Instant::now();
    let out = Command::new("mariadb-binlog")
        .arg("--no-defaults")
        .args(["--read-from-remote-server", "-h", shop.db.host(), "-P"])
        .arg(shop.db.port().to_string())
        .args(["-u", USER])
        .arg(format!("--password={PASSWORD}"))
        .arg(format!("--start-position={pos}"))
        .arg(format!("--stop-position={end}"))
        .args(["--verbose", "--base64-output=DECODE-ROWS", &file])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let read = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "baseline: mariadb-binlog read and decoded the same {changes} row changes in {:.2}s: {:.0} row changes/s",
        read.as_secs_f64(),
        changes / read.as_secs_f64()
    );
}
