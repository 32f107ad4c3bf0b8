//! PostgreSQL sources end to end: the `examples/ecommerce-postgres` app follows a throwaway test
//! cluster while a randomized writer changes it (inserts, updates including primary-key changes,
//! deletes, multi-statement transactions, rollbacks, two tables joined), and every endpoint is
//! held to PostgreSQL's own answer to the same SQL on the final tables.
//!
//! - snapshot + stream: rows committed before, during and after the snapshot appear exactly once;
//! - crash safety: the binary is SIGKILLed at random points (at least 10 times; set
//!   `DOZER_CDC_KILLS` for a longer run) and restarted each time;
//! - the server restarted under load: the app reconnects by itself;
//! - atomicity: a transaction that touches two tables feeding two endpoints is never half-visible;
//! - `retire` drops the slot and the publication;
//! - values equal in SQL but written differently (`numeric` of mixed scale, `-0.0`) grouped,
//!   DISTINCT and UNIONed while they stream in, against PostgreSQL's answer.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dozer_test_support::oracle::{diff_rows, query_values};
use dozer_test_support::postgres::{TestPostgres, PASSWORD};
use dozer_tests::app::{self, App};
use dozer_tests::rng::Rng;
use serde_json::Value as Json;

/// A test cluster with the example's tables and a copy of the example's config pointing at it.
struct Shop {
    pg: TestPostgres,
    _dir: tempfile::TempDir,
    config: PathBuf,
}

const CUSTOMERS: i64 = 40;

impl Shop {
    /// `sales` rows to begin with (and `CUSTOMERS` customers).
    fn new(sales: u64) -> Shop {
        let pg = TestPostgres::start().expect("test PostgreSQL");
        pg.psql("postgres", "CREATE DATABASE shop").unwrap();
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/ecommerce-postgres");
        let schema = std::fs::read_to_string(example.join("schema.sql")).unwrap();
        pg.psql("shop", &schema).unwrap();
        pg.psql(
            "shop",
            &format!(
                "INSERT INTO customers SELECT i, (ARRAY['Retail', 'Wholesale', 'Online'])[1 + i % 3] FROM generate_series(1, {CUSTOMERS}) i;
                 INSERT INTO sales (\"InvoiceNo\", \"StockCode\", \"Description\", \"Quantity\", \"InvoiceDate\", \"UnitPrice\", \"CustomerID\", \"Country\")
                 SELECT (500000 + i / 4)::text, (20000 + i % 30)::text, 'ITEM ' || i % 30, 1 + i % 12,
                        timestamp '2024-01-01' + i * interval '90 seconds', (i % 997) / 100.0 + 0.5,
                        CASE WHEN i % 17 = 0 THEN NULL ELSE 1 + i % {CUSTOMERS} END,
                        (ARRAY['United Kingdom', 'France', 'Germany', 'Spain'])[1 + i % 4]
                 FROM generate_series(1, {sales}) i"
            ),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(example.join("dozer-config.yaml"))
            .unwrap()
            .replace("port: 5432", &format!("port: {}", pg.port()))
            .replace("host: localhost", &format!("host: {}", pg.host()))
            .replace("\"{{PG_PASSWORD}}\"", PASSWORD);
        assert!(
            text.contains(&pg.port().to_string()),
            "the example's connection changed"
        );
        let config = dir.path().join("dozer-config.yaml");
        std::fs::write(&config, text).unwrap();
        Shop {
            pg,
            _dir: dir,
            config,
        }
    }

    fn client(&self) -> postgres::Client {
        self.pg.connect("shop").unwrap()
    }

    /// Every endpoint equals PostgreSQL's answer to the same SQL on the final tables.
    fn check_endpoints(&self, app: &App) {
        let mut c = self.client();
        c.batch_execute("SET TIME ZONE 'UTC'").unwrap();
        let checks = [
            (
                "clv",
                r#"SELECT "CustomerID", SUM("Quantity" * "UnitPrice") FROM sales GROUP BY 1"#,
            ),
            (
                "bestsellers",
                r#"SELECT "StockCode", SUM("Quantity") FROM sales GROUP BY 1"#,
            ),
            (
                "sales_by_country",
                r#"SELECT "Country", SUM("Quantity" * "UnitPrice") FROM sales GROUP BY 1"#,
            ),
            (
                "sales_by_segment",
                r#"SELECT c."Segment", COUNT(*), SUM(s."Quantity" * s."UnitPrice") FROM sales s JOIN customers c ON s."CustomerID" = c."CustomerID" GROUP BY 1"#,
            ),
            // TTL(TUMBLE(..), InvoiceDate, '1 DAY'): the rows within a day of the newest
            // InvoiceDate ever seen. The writer only deletes rows older than two days, so the
            // newest one seen is still in the table.
            (
                "daily_sales",
                r#"SELECT SUM("Quantity" * "UnitPrice"), date_trunc('day', "InvoiceDate"), date_trunc('day', "InvoiceDate") + interval '1 day'
                   FROM sales WHERE "InvoiceDate" > (SELECT max("InvoiceDate") FROM sales) - interval '1 day' GROUP BY 2, 3"#,
            ),
            (
                "sales",
                r#"SELECT id, "InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country" FROM sales"#,
            ),
            (
                "customers",
                r#"SELECT "CustomerID", "Segment" FROM customers"#,
            ),
        ];
        for (endpoint, sql) in checks {
            let actual = app.dump(endpoint);
            let expected =
                query_values(&mut c, sql).unwrap_or_else(|e| panic!("oracle: {e}\n{sql}"));
            assert!(!expected.is_empty(), "`{endpoint}`: the oracle has no rows");
            if let Some(diff) = diff_rows(&actual, &expected) {
                panic!("endpoint `{endpoint}` differs from PostgreSQL's\n{sql}\n{diff}");
            }
        }
    }

    /// The number of `sales` rows and the sum of their quantities.
    fn sales_totals(&self) -> (i64, i64) {
        let row = self
            .client()
            .query_one(
                r#"SELECT count(*), coalesce(sum("Quantity"), 0)::bigint FROM sales"#,
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    }
}

/// What the writer may do.
#[derive(Clone, Copy)]
enum Mix {
    /// Inserts only (sales, in transactions of a few rows).
    Inserts,
    /// Everything: inserts, updates (also of primary keys), deletes, customers changing segment,
    /// multi-statement transactions and rollbacks.
    Everything,
}

/// Writes transactions until `stop`, reconnecting when the server goes away. Returns how many
/// transactions it committed (rollbacks and lost commits not counted).
fn write(shop_url: String, seed: u64, mix: Mix, stop: Arc<AtomicBool>, committed: Arc<AtomicU64>) {
    let mut rng = Rng::new(seed);
    // InvoiceDates only grow: each insert is a little after the one before.
    let mut clock: i64 = 0;
    let mut client: Option<postgres::Client> = None;
    while !stop.load(Ordering::SeqCst) {
        let c = match &mut client {
            Some(c) => c,
            None => match postgres::Client::connect(&shop_url, postgres::NoTls) {
                Ok(c) => client.insert(c),
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            },
        };
        let result = transaction(c, &mut rng, mix, &mut clock);
        match result {
            Ok(true) => {
                committed.fetch_add(1, Ordering::SeqCst);
            }
            Ok(false) => {}
            // The server restarted (its sessions end with "terminating connection due to
            // administrator command", class 57, or it is still starting): connect again.
            Err(e)
                if e.is_closed()
                    || e.code().is_none_or(|c| {
                        c.code().starts_with("57") || c.code().starts_with("08")
                    }) =>
            {
                client = None
            }
            Err(e) => panic!("the workload's SQL failed: {e}"),
        }
    }
}

/// One random transaction; `Ok(false)` when it rolled back.
fn transaction(
    c: &mut postgres::Client,
    rng: &mut Rng,
    mix: Mix,
    clock: &mut i64,
) -> Result<bool, postgres::Error> {
    let mut t = c.transaction()?;
    let ops = 1 + rng.below(6);
    for _ in 0..ops {
        let roll = match mix {
            Mix::Inserts => 0,
            Mix::Everything => rng.below(100),
        };
        let pick = (rng.next_u64() >> 1) as i64;
        match roll {
            0..=39 => {
                *clock += 1 + rng.below(900) as i64;
                let customer =
                    (rng.below(20) != 0).then(|| 1 + rng.below(CUSTOMERS as u64 + 10) as i32);
                t.execute(
                    r#"INSERT INTO sales ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country")
                       VALUES ($1, $2, 'NEW', $3, timestamp '2025-01-01' + $4::float8 * interval '1 second', ($5::int) / 100.0, $6, $7)"#,
                    &[
                        &format!("9{}", rng.below(100_000)),
                        &format!("{}", 20000 + rng.below(35)),
                        &(1 + rng.below(20) as i32),
                        &(*clock as f64),
                        &(1 + rng.below(5000) as i32),
                        &customer,
                        &["United Kingdom", "France", "Germany", "Spain", "Japan"][rng.index(5)],
                    ],
                )?;
            }
            40..=59 => {
                t.execute(
                    r#"UPDATE sales SET "Quantity" = $2, "UnitPrice" = "UnitPrice" + 0.25
                       WHERE id = (SELECT id FROM sales WHERE id >= $1 % (SELECT last_value FROM sales_id_seq) ORDER BY id LIMIT 1)"#,
                    &[&pick, &(1 + (pick % 30) as i32)],
                )?;
            }
            60..=67 => {
                // A primary-key change: the old row goes, the new one comes, in one statement.
                t.execute(
                    "UPDATE sales SET id = nextval('sales_id_seq')
                     WHERE id = (SELECT id FROM sales WHERE id >= $1 % (SELECT last_value FROM sales_id_seq) ORDER BY id LIMIT 1)",
                    &[&pick],
                )?;
            }
            68..=79 => {
                // Only rows older than two days before the newest: the newest row ever seen stays.
                t.execute(
                    r#"DELETE FROM sales WHERE id = (SELECT id FROM sales WHERE id >= $1 % (SELECT last_value FROM sales_id_seq)
                         AND "InvoiceDate" < (SELECT max("InvoiceDate") FROM sales) - interval '2 days' ORDER BY id LIMIT 1)"#,
                    &[&pick],
                )?;
            }
            80..=89 => {
                t.execute(
                    r#"UPDATE customers SET "Segment" = $2 WHERE "CustomerID" = $1"#,
                    &[
                        &(1 + (pick % (CUSTOMERS + 10)) as i32),
                        &["Retail", "Wholesale", "Online", "Partner"][rng.index(4)],
                    ],
                )?;
            }
            90..=94 => {
                t.execute(
                    r#"INSERT INTO customers VALUES ($1, 'Late') ON CONFLICT DO NOTHING"#,
                    &[&(CUSTOMERS as i32 + 1 + rng.below(10) as i32)],
                )?;
            }
            _ => {
                t.execute(
                    r#"DELETE FROM customers WHERE "CustomerID" = $1"#,
                    &[&(CUSTOMERS as i32 + 1 + rng.below(10) as i32)],
                )?;
            }
        }
    }
    if matches!(mix, Mix::Everything) && rng.below(10) == 0 {
        t.rollback()?;
        return Ok(false);
    }
    t.commit()?;
    Ok(true)
}

/// A writer thread; stopped (and joined) by [`Writer::finish`].
struct Writer {
    stop: Arc<AtomicBool>,
    committed: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    fn start(shop: &Shop, seed: u64, mix: Mix) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let committed = Arc::new(AtomicU64::new(0));
        let url = shop.pg.url("shop");
        let thread = std::thread::spawn({
            let (stop, committed) = (stop.clone(), committed.clone());
            move || write(url, seed, mix, stop, committed)
        });
        Writer {
            stop,
            committed,
            thread: Some(thread),
        }
    }

    fn committed(&self) -> u64 {
        self.committed.load(Ordering::SeqCst)
    }

    /// Stops writing; returns the committed transactions.
    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("the writer did not panic");
        }
        self.committed()
    }
}

/// `<app> run` with the API on free ports; its log is kept. Killed on drop.
struct Running {
    app: app::Serving,
    base: String,
    http: reqwest::blocking::Client,
}

impl Running {
    fn start(app: &App) -> Running {
        let app = app::Serving::start(&app.binary, &["run"]);
        Running {
            base: app.rest.clone(),
            app,
            http: reqwest::blocking::Client::new(),
        }
    }

    fn count(&self, endpoint: &str) -> u64 {
        let r = self
            .http
            .post(format!("{}/{endpoint}/count", self.base))
            .body("{}")
            .send()
            .unwrap();
        let body: Json = r.json().unwrap();
        body.as_u64().unwrap_or_else(|| panic!("a count: {body}"))
    }

    fn log(&self) -> String {
        self.app.log()
    }

    /// Waits until the app's `sales` endpoint holds `rows` rows.
    fn wait_for_sales(&self, rows: i64) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.count("sales") != rows as u64 {
            assert!(
                Instant::now() < deadline,
                "the app did not catch up ({} of {rows} rows); its log:\n{}",
                self.count("sales"),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The app of `config` (with `PASSWORD` and `PORT` of the test cluster filled in), built in a
/// folder of its own.
fn build_for(pg: &TestPostgres, config: &str) -> (tempfile::TempDir, App) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dozer-config.yaml");
    std::fs::write(
        &path,
        config
            .replace("PASSWORD", PASSWORD)
            .replace("PORT", &pg.port().to_string()),
    )
    .unwrap();
    let app = app::build(&path);
    (dir, app)
}

/// The app has applied everything the server has (`run --once` stops when caught up).
fn catch_up(app: &App) -> String {
    let out = app.run(&["run", "--once"]);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn rows_from_before_during_and_after_the_snapshot_appear_exactly_once() {
    let shop = Shop::new(30_000);
    let app = app::build(&shop.config);
    // The writer is already at work when the slot and its snapshot are made.
    let writer = Writer::start(&shop, 1, Mix::Inserts);
    while writer.committed() < 20 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let running = Running::start(&app);
    let started = writer.committed();
    std::thread::sleep(Duration::from_millis(1500));
    let committed = writer.finish();
    assert!(
        committed > started,
        "the writer wrote while the app started"
    );
    let (rows, quantity) = shop.sales_totals();
    running.wait_for_sales(rows);
    let log = running.log();
    assert!(log.contains("caught up"), "{log}");
    drop(running);
    // Exactly once: every row once (the key endpoint), and no row counted twice (the totals).
    shop.check_endpoints(&app);
    let units: i64 = app
        .dump("bestsellers")
        .iter()
        .map(|r| match &r[1] {
            dozer_types::Value::Int(n) => *n,
            other => panic!("BuyCount {other:?}"),
        })
        .sum();
    assert_eq!(units, quantity);

    // A restart resumes from the committed position: no new snapshot, nothing twice.
    let mut c = shop.client();
    c.batch_execute(r#"INSERT INTO sales ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country")
                       VALUES ('1', '20001', 'AFTER', 5, '2030-01-01', 1.5, 1, 'France')"#).unwrap();
    let log = catch_up(&app);
    assert!(log.contains("caught up"), "{log}");
    assert!(
        !log.contains("snapshot"),
        "a restart took a new snapshot:\n{log}"
    );
    shop.check_endpoints(&app);

    // Retired: the slot and the publication are gone.
    let out = app.run(&["retire"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("dropped replication slot `dozer_ecommerce_pg_shop`"),
        "{said}"
    );
    assert!(
        said.contains("dropped publication `dozer_ecommerce_pg_shop`"),
        "{said}"
    );
    let left = shop
        .pg
        .psql("shop", "SELECT count(*) FROM pg_replication_slots")
        .unwrap();
    assert_eq!(left.trim(), "0");
}

#[test]
fn a_randomized_workload_survives_kill_9_and_matches_postgres() {
    let kills: usize = std::env::var("DOZER_CDC_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let shop = Shop::new(5_000);
    let app = app::build(&shop.config);
    let writer = Writer::start(&shop, 7, Mix::Everything);
    let mut rng = Rng::new(99);
    for i in 0..kills {
        let mut child = Command::new(&app.binary)
            .args(["run", "--no-api"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The first runs die during or just after the snapshot, the later ones while streaming.
        let ms = if i < 2 {
            30 + rng.below(300)
        } else {
            100 + rng.below(900)
        };
        std::thread::sleep(Duration::from_millis(ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let committed = writer.finish();
    assert!(
        committed > 100,
        "the writer committed only {committed} transactions"
    );
    let log = catch_up(&app);
    assert!(log.contains("caught up"), "{log}");
    shop.check_endpoints(&app);
    // The slot has been told everything applied is flushed, and no more.
    let info = String::from_utf8_lossy(&app.run(&["info"]).stdout).into_owned();
    let flushed = shop
        .pg
        .psql(
            "shop",
            "SELECT confirmed_flush_lsn FROM pg_replication_slots",
        )
        .unwrap();
    let applied = info
        .split("replicated up to LSN ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no position in:\n{info}"));
    assert!(
        lsn(flushed.trim()) <= lsn(applied),
        "the slot was told {flushed} is flushed, the store holds {applied}"
    );
    eprintln!(
        "{committed} transactions, {kills} kills; slot flushed to {}, store at {applied}",
        flushed.trim()
    );
}

/// `16/B374D848` as a number.
fn lsn(text: &str) -> u64 {
    let (hi, lo) = text
        .split_once('/')
        .unwrap_or_else(|| panic!("an LSN: {text}"));
    (u64::from_str_radix(hi, 16).unwrap() << 32) | u64::from_str_radix(lo, 16).unwrap()
}

#[test]
fn the_app_reconnects_when_postgres_restarts_under_load() {
    let shop = Shop::new(5_000);
    let app = app::build(&shop.config);
    let running = Running::start(&app);
    running.wait_for_sales(5_000);
    let writer = Writer::start(&shop, 11, Mix::Everything);
    for down in [None, Some(Duration::from_secs(2))] {
        std::thread::sleep(Duration::from_millis(700));
        match down {
            // A restart, and a server that stays away for a while (refused connections).
            None => shop.pg.restart().unwrap(),
            Some(d) => shop.pg.stop_for(d).unwrap(),
        }
        // The API keeps serving while the source is away.
        assert!(running.count("sales") > 0);
    }
    std::thread::sleep(Duration::from_millis(700));
    let committed = writer.finish();
    assert!(
        committed > 20,
        "the writer committed only {committed} transactions"
    );
    let (rows, _) = shop.sales_totals();
    running.wait_for_sales(rows);
    // Counts match; let the last changes of other tables land too, then compare everything.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = running.log();
        let customers: i64 = shop
            .client()
            .query_one("SELECT count(*) FROM customers", &[])
            .unwrap()
            .get(0);
        if running.count("customers") == customers as u64 {
            assert!(log.contains("reconnecting"), "no reconnect logged:\n{log}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "customers never caught up:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    drop(running);
    let log = catch_up(&app);
    assert!(log.contains("caught up"), "{log}");
    shop.check_endpoints(&app);
}

#[test]
fn a_transaction_over_two_tables_is_never_half_visible() {
    let shop = Shop::new(1_000);
    let app = app::build(&shop.config);
    let running = Running::start(&app);
    running.wait_for_sales(1_000);
    let base_sales = running.count("sales") as i64;
    let base_customers = running.count("customers") as i64;
    // Each transaction adds one customer and one sale of theirs: the two counts move together.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = std::thread::spawn({
        let url = shop.pg.url("shop");
        let stop = stop.clone();
        move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let mut id = 1_000;
            while !stop.load(Ordering::SeqCst) {
                id += 1;
                let mut t = c.transaction().unwrap();
                t.execute(r#"INSERT INTO customers VALUES ($1, 'Atomic')"#, &[&id])
                    .unwrap();
                t.execute(
                    r#"INSERT INTO sales ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country")
                       VALUES ('A', '1', 'ATOMIC', 1, '2030-01-01', 1, $1, 'Atomic')"#,
                    &[&id],
                )
                .unwrap();
                t.commit().unwrap();
            }
            id - 1_000
        }
    });
    let deadline = Instant::now() + Duration::from_secs(3);
    let (mut windows, mut moved) = (0, 0);
    while Instant::now() < deadline {
        let before = running.count("customers") as i64;
        let sales = running.count("sales") as i64;
        let after = running.count("customers") as i64;
        if before == after {
            windows += 1;
            moved += i64::from(before != base_customers);
            assert_eq!(
                sales - base_sales,
                before - base_customers,
                "half a transaction is visible: {sales} sales and {before} customers"
            );
        }
    }
    stop.store(true, Ordering::SeqCst);
    let written = writer.join().unwrap();
    eprintln!("{written} transactions, {windows} consistent windows ({moved} after changes)");
    assert!(moved > 10, "the reader saw too few changes ({moved})");
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
fn setup_problems_stop_the_app_with_what_to_run() {
    let shop = Shop::new(100);
    let app = app::build(&shop.config);

    shop.pg.restart_with("-c wal_level=replica").unwrap();
    let err = run_fails(&app);
    assert!(
        err.contains("wal_level is `replica`")
            && err.contains("ALTER SYSTEM SET wal_level = logical;"),
        "{err}"
    );
    shop.pg.restart().unwrap();

    shop.pg
        .psql(
            "shop",
            "ALTER TABLE customers DROP CONSTRAINT customers_pkey",
        )
        .unwrap();
    let err = run_fails(&app);
    assert!(
        err.contains(r#"ALTER TABLE "public"."customers" REPLICA IDENTITY FULL;"#),
        "{err}"
    );
    shop.pg
        .psql("shop", "ALTER TABLE customers REPLICA IDENTITY FULL")
        .unwrap();
    let log = catch_up(&app);
    assert!(log.contains("caught up"), "{log}");
    shop.check_endpoints(&app);

    // A user who may read the tables but not replicate.
    shop.pg
        .psql(
            "shop",
            "CREATE ROLE reader LOGIN PASSWORD 'pw'; GRANT SELECT ON sales, customers TO reader",
        )
        .unwrap();
    let text = std::fs::read_to_string(&shop.config)
        .unwrap()
        .replace("user: postgres", "user: reader")
        .replace(&format!("password: {PASSWORD}"), "password: pw")
        .replace("_slot: dozer_ecommerce_pg_shop", "_slot: reader_slot")
        .replace(
            "publication: dozer_ecommerce_pg_shop",
            "publication: reader_pub",
        );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dozer-config.yaml");
    std::fs::write(&config, text).unwrap();
    let reader = app::build(&config);
    let err = run_fails(&reader);
    assert!(err.contains(r#"ALTER ROLE "reader" REPLICATION;"#), "{err}");
    // With REPLICATION, the publication still needs the tables' owner.
    shop.pg
        .psql("shop", "ALTER ROLE reader REPLICATION")
        .unwrap();
    let err = run_fails(&reader);
    assert!(err.contains("CREATE PUBLICATION \"reader_pub\""), "{err}");
}

#[test]
fn schema_changes_are_ignored_unless_they_break_a_query_and_the_api_keeps_serving() {
    let shop = Shop::new(100);
    let app = app::build(&shop.config);
    let running = Running::start(&app);
    running.wait_for_sales(100);
    let insert = r#"INSERT INTO sales ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country")
                    VALUES ('S', '20001', 'X', 1, '2030-01-01', 1, 1, 'France')"#;
    // A new column, and dropping one the source does not read: no query notices.
    shop.pg
        .psql("shop", &format!("ALTER TABLE sales ADD COLUMN note text; ALTER TABLE sales DROP COLUMN \"Description\" CASCADE; {}", insert.replace("\"Description\", ", "").replace("'X', ", "")))
        .unwrap();
    running.wait_for_sales(101);
    // Dropping a column the queries read stops the pipeline, naming it; the API goes on.
    shop.pg
        .psql("shop", "ALTER TABLE sales DROP COLUMN \"Country\"; INSERT INTO sales (\"InvoiceNo\", \"StockCode\", \"Quantity\", \"InvoiceDate\", \"UnitPrice\") VALUES ('T', '1', 1, '2030-01-01', 1)")
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !running.log().contains("the pipeline stopped") {
        assert!(
            Instant::now() < deadline,
            "the pipeline went on:\n{}",
            running.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = running.log();
    assert!(log.contains("column `Country` of public.sales"), "{log}");
    assert_eq!(running.count("sales"), 101);
}

/// Figures for the closing note and the benchmark (`cargo test -p dozer-tests --test e2e --
/// --ignored --nocapture postgres_cdc::measure`): row changes applied per second end to end, and commit-to-visible latency under
/// a steady load. Prints, asserts nothing about time.
#[test]
#[ignore = "a measurement, not a test"]
fn measure_cdc_throughput_and_freshness() {
    let shop = Shop::new(0);
    // As PostgreSQL runs by default: a commit returns once its WAL is flushed, and walsenders
    // send only flushed WAL (the test clusters' `synchronous_commit=off` delays it up to
    // `wal_writer_delay`, which would be measured as freshness).
    shop.pg.restart_with("-c synchronous_commit=on").unwrap();
    // DOZER_CDC_UNINDEXED=1: the raw `sales` endpoint without its default secondary indexes (one
    // per column), to show what maintaining them costs.
    if std::env::var_os("DOZER_CDC_UNINDEXED").is_some() {
        let text = std::fs::read_to_string(&shop.config).unwrap();
        let endpoint = "    path: /sales\n    table_name: sales_data\n";
        assert!(
            text.contains(endpoint),
            "the example's `sales` endpoint changed"
        );
        let unindexed = text.replace(
            endpoint,
            &format!("{endpoint}    index:\n      secondary:\n        skip_default: [id, InvoiceNo, StockCode, Quantity, InvoiceDate, UnitPrice, CustomerID, Country]\n"),
        );
        std::fs::write(&shop.config, unindexed).unwrap();
    }
    let app = app::build(&shop.config);
    let running = Running::start(&app);
    if let Ok(pid) = std::env::var("DOZER_CDC_PERF") {
        std::fs::write(&pid, running.app.child.id().to_string()).unwrap();
    }
    let mut c = shop.client();
    let get = |path: &str| {
        running
            .http
            .get(format!("{}{path}", running.base))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    // Polls every half millisecond: a tight loop of requests would take a core from the app on
    // a 2-core machine and be measured as its slowness.
    let wait_for = |path: &str| {
        let deadline = Instant::now() + Duration::from_secs(300);
        while get(path) != 200 {
            assert!(
                Instant::now() < deadline,
                "{path} never appeared:\n{}",
                running.log()
            );
            std::thread::sleep(Duration::from_micros(500));
        }
    };

    wait_for("/customers/1"); // the snapshot is applied

    // The baseline: a second slot on the app's publication, read after the run by
    // `pg_recvlogical` (how fast PostgreSQL hands the same changes out).
    let publication: String = c
        .query_one("SELECT pubname::text FROM pg_publication", &[])
        .unwrap()
        .get(0);
    c.execute(
        "SELECT pg_create_logical_replication_slot('bench_baseline', 'pgoutput')",
        &[],
    )
    .unwrap();

    // Throughput: 200k inserts, 200k updates and 100k deletes in transactions of 1000 rows, as
    // fast as one client commits them; the clock stops when the last one is visible.
    let insert = r#"INSERT INTO sales ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country")
                    SELECT i::text, (20000 + i % 500)::text, 'ITEM', 1 + i % 10, timestamp '2025-01-01' + i * interval '1 second', (i % 1000) / 100.0, i % 5000, 'France'
                    FROM generate_series($1::int, $1::int + 999) i"#;
    let started = Instant::now();
    for k in 0..200 {
        c.execute(insert, &[&(k * 1000)]).unwrap();
    }
    for k in 0..200i64 {
        c.execute(
            r#"UPDATE sales SET "Quantity" = "Quantity" + 1 WHERE id > $1 AND id <= $1 + 1000"#,
            &[&(k * 1000)],
        )
        .unwrap();
    }
    for k in 0..100i64 {
        c.execute(
            "DELETE FROM sales WHERE id > $1 AND id <= $1 + 1000",
            &[&(k * 2000)],
        )
        .unwrap();
    }
    c.execute("INSERT INTO customers VALUES (1000000, 'marker')", &[])
        .unwrap();
    let written = started.elapsed();
    wait_for("/customers/1000000");
    let visible = started.elapsed();
    let changes = 500_000.0;
    eprintln!(
        "throughput: {changes} row changes committed in {:.2}s ({:.0}/s), all visible after {:.2}s: {:.0} row changes/s end to end",
        written.as_secs_f64(),
        changes / written.as_secs_f64(),
        visible.as_secs_f64(),
        changes / visible.as_secs_f64()
    );
    let end: String = c
        .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
        .unwrap()
        .get(0);
    let started = Instant::now();
    let baseline = std::process::Command::new("pg_recvlogical")
        .args([
            "-d",
            &shop.pg.url("shop"),
            "--slot",
            "bench_baseline",
            "--start",
        ])
        .args(["--endpos", &end, "--no-loop", "-f", "/dev/null"])
        .args(["-o", "proto_version=1", "-o"])
        .arg(format!("publication_names={publication}"))
        .output()
        .unwrap();
    let read = started.elapsed();
    assert!(
        baseline.status.success(),
        "{}",
        String::from_utf8_lossy(&baseline.stderr)
    );
    c.execute("SELECT pg_drop_replication_slot('bench_baseline')", &[])
        .unwrap();
    eprintln!(
        "baseline: pg_recvlogical read the same {changes} row changes in {:.2}s: {:.0} row changes/s",
        read.as_secs_f64(),
        changes / read.as_secs_f64()
    );

    // Freshness: a background writer commits a transaction every 10 ms (DOZER_CDC_RATE changes/s,
    // default 10,000) while a probe commits one customer row and polls the API until it is there.
    let rate: usize = std::env::var("DOZER_CDC_RATE")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10_000);
    let per_commit = (rate / 100).max(1);
    let stop = Arc::new(AtomicBool::new(false));
    let load = std::thread::spawn({
        let url = shop.pg.url("shop");
        let stop = stop.clone();
        move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let mut k = 300_000;
            let mut next = Instant::now();
            while !stop.load(Ordering::SeqCst) {
                c.execute(&insert.replace("999", &(per_commit - 1).to_string()), &[&k])
                    .unwrap();
                k += per_commit as i32;
                next += Duration::from_millis(10);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        }
    });
    let probes: i32 = std::env::var("DOZER_CDC_PROBES")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(500);
    let mut latencies = vec![];
    for id in 0..probes {
        c.execute(
            "INSERT INTO customers VALUES ($1, 'probe')",
            &[&(2_000_000 + id)],
        )
        .unwrap();
        let committed = Instant::now();
        wait_for(&format!("/customers/{}", 2_000_000 + id));
        latencies.push(committed.elapsed());
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::SeqCst);
    load.join().unwrap();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    eprintln!(
        "freshness at {rate} changes/s: commit-to-visible p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} probes)",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
        latencies.len()
    );
}

const TYPES_CONFIG: &str = r#"
version: 1
app_name: pg_types
connections:
  - name: pg
    config: !Postgres
      user: postgres
      password: PASSWORD
      host: 127.0.0.1
      port: PORT
      database: shop
sources:
  - name: things
    table_name: things
    connection: pg
    columns: [id, i2, i4, i8, num, f4, f8, t, vc, bp, nm, u, b, ts, tstz, d, j, jb, big]
sql: |
  SELECT COUNT(*) AS n, SUM(i8) AS total INTO things_total FROM things;
endpoints:
  - name: things
    path: /things
    table_name: things
  - name: things_total
    path: /things_total
    table_name: things_total
"#;

#[test]
fn every_type_nulls_unchanged_toast_values_and_truncate_follow_postgres() {
    let pg = TestPostgres::start().expect("test PostgreSQL");
    pg.psql("postgres", "CREATE DATABASE shop").unwrap();
    pg.psql(
        "shop",
        "CREATE TABLE things (id int PRIMARY KEY, i2 int2, i4 int4, i8 int8, num numeric(20, 6), f4 float4, f8 float8,
            t text, vc varchar(20), bp char(4), nm name, u uuid, b bool, ts timestamp, tstz timestamptz, d date,
            j json, jb jsonb, big text, unused bytea);
         -- A value stored out of line (TOAST): big and not compressible below the threshold.
         CREATE FUNCTION big(seed int) RETURNS text LANGUAGE sql AS
           $$ SELECT string_agg(md5((seed * 1000 + i)::text), '') FROM generate_series(1, 300) i $$;
         INSERT INTO things SELECT i, i, i * 1000, i::int8 * 1000000000, i * 1.5, i / 3.0, i / 7.0, 'row ' || i,
            'v' || i, 'c' || i % 10, 'n' || i, md5(i::text)::uuid, i % 2 = 0,
            timestamp '2024-02-29 12:34:56.789' + i * interval '1 hour', timestamptz '2024-01-01 00:00:00+05' + i * interval '1 minute',
            date '2024-01-01' + i, json_build_object('i', i), jsonb_build_object('k', i, 'a', ARRAY[1, 2]),
            big(i), '\\x00ff'
         FROM generate_series(1, 50) i;
         INSERT INTO things (id) VALUES (0);",
    )
    .unwrap();
    let (_dir, app) = build_for(&pg, TYPES_CONFIG);
    let mut c = pg.connect("shop").unwrap();
    c.batch_execute("SET TIME ZONE 'UTC'").unwrap();
    let check = |c: &mut postgres::Client, app: &App| {
        // float4 as its shortest text form (which is how the app reads it), uuid as text.
        let sql = "SELECT id, i2, i4, i8, num, f4::text::float8, f8, t, vc, bp, nm, u::text, b, ts, tstz, d, j, jb, big FROM things";
        let expected = query_values(c, sql).unwrap();
        if let Some(diff) = diff_rows(&app.dump("things"), &expected) {
            panic!("things differ from PostgreSQL's\n{diff}");
        }
        let expected = query_values(c, "SELECT COUNT(*), SUM(i8) FROM things").unwrap();
        if let Some(diff) = diff_rows(&app.dump("things_total"), &expected) {
            panic!("things_total differs from PostgreSQL's\n{diff}");
        }
    };
    // The snapshot, NULLs included.
    let log = catch_up(&app);
    assert!(log.contains("caught up"), "{log}");
    check(&mut c, &app);
    // Streamed: every type, NULLs, an update that leaves the TOAST value out of the stream (the
    // app keeps the old one), an update that changes it, a delete, a truncate and rows after it.
    c.batch_execute(
        "INSERT INTO things SELECT i, -i, -i, -i, -i / 3.0, 'NaN', '-Infinity', 'é ' || i, NULL, NULL, NULL, NULL, NULL,
            NULL, NULL, NULL, NULL, '[]'::jsonb, big(i), NULL FROM generate_series(51, 60) i;
         UPDATE things SET t = 'changed', i8 = i8 + 1 WHERE id <= 20;
         UPDATE things SET big = big(id + 1) WHERE id = 21;
         DELETE FROM things WHERE id = 22;",
    )
    .unwrap();
    let log = catch_up(&app);
    assert!(log.contains("caught up"), "{log}");
    check(&mut c, &app);
    c.batch_execute(
        "TRUNCATE things; INSERT INTO things (id, i8, big) VALUES (1, 7, big(1)), (2, NULL, NULL);",
    )
    .unwrap();
    catch_up(&app);
    check(&mut c, &app);
    assert_eq!(app.dump("things").len(), 2);
}

const SPELLINGS_CONFIG: &str = r#"
version: 1
app_name: pg_spellings
connections:
  - name: pg
    config: !Postgres
      user: postgres
      password: PASSWORD
      host: 127.0.0.1
      port: PORT
      database: shop
sources:
  - name: prices
    table_name: prices
    connection: pg
sql: |
  SELECT discount, COUNT(*) AS n, SUM(price) AS total, MIN(price) AS lo, MAX(price) AS hi,
         COUNT(DISTINCT price) AS prices
  INTO by_discount FROM prices GROUP BY discount;
  SELECT DISTINCT price INTO distinct_prices FROM prices;
  SELECT price AS p INTO union_prices FROM prices UNION SELECT price * 1.0 FROM prices;
  SELECT amount, COUNT(*) AS n INTO by_amount FROM prices GROUP BY amount;
endpoints:
  - { name: by_discount, path: /by_discount, table_name: by_discount }
  - { name: distinct_prices, path: /distinct_prices, table_name: distinct_prices }
  - { name: union_prices, path: /union_prices, table_name: union_prices }
  - { name: by_amount, path: /by_amount, table_name: by_amount }
"#;

/// `0.1` and `0.10`, `2.5` and `2.500`, `0.0` and `-0.0` are equal in SQL. Grouped by, made
/// DISTINCT and UNIONed while changes carrying either spelling stream in, the app keeps running
/// and gives PostgreSQL's answer after every round.
#[test]
fn values_equal_in_sql_but_written_differently_follow_postgres() {
    const DISCOUNTS: [&str; 7] = ["0.1", "0.10", "0.100", "0", "0.00", "-0.0", "NULL"];
    const PRICES: [&str; 6] = ["2.5", "2.50", "2.500", "1", "1.0", "-0.00"];
    const AMOUNTS: [&str; 4] = ["0.0", "-0.0", "1.5", "'NaN'"];
    let pg = TestPostgres::start().expect("test PostgreSQL");
    pg.psql("postgres", "CREATE DATABASE shop").unwrap();
    let mut c = pg.connect("shop").unwrap();
    let mut rng = Rng::new(5);
    let row = |rng: &mut Rng| {
        format!(
            "{}, {}, {}",
            DISCOUNTS[rng.index(DISCOUNTS.len())],
            PRICES[rng.index(PRICES.len())],
            AMOUNTS[rng.index(AMOUNTS.len())]
        )
    };
    let mut snapshot = String::from(
        "CREATE TABLE prices (id int PRIMARY KEY, discount numeric, price numeric NOT NULL, amount float8 NOT NULL);",
    );
    for id in 0..40 {
        write!(
            snapshot,
            "INSERT INTO prices VALUES ({id}, {});",
            row(&mut rng)
        )
        .unwrap();
    }
    c.batch_execute(&snapshot).unwrap();
    let (_dir, app) = build_for(&pg, SPELLINGS_CONFIG);
    let oracle = [
        ("by_discount", "SELECT discount, COUNT(*), SUM(price), MIN(price), MAX(price), COUNT(DISTINCT price) FROM prices GROUP BY discount"),
        ("distinct_prices", "SELECT DISTINCT price FROM prices"),
        ("union_prices", "SELECT price FROM prices UNION SELECT price * 1.0 FROM prices"),
        ("by_amount", "SELECT amount, COUNT(*) FROM prices GROUP BY amount"),
    ];
    let mut next_id = 40;
    for round in 0..6 {
        let log = catch_up(&app);
        assert!(log.contains("caught up"), "round {round}: {log}");
        for (endpoint, sql) in oracle {
            let expected = query_values(&mut c, sql).unwrap();
            if let Some(diff) = diff_rows(&app.dump(endpoint), &expected) {
                panic!("round {round}: {endpoint} differs from PostgreSQL's\n{diff}");
            }
        }
        // A round of transactions: new rows, updates to other spellings of the same values,
        // deletes.
        for _ in 0..8 {
            let mut tx = String::from("BEGIN;");
            for _ in 0..1 + rng.below(4) {
                let id = rng.below(next_id);
                match rng.below(3) {
                    0 => {
                        write!(
                            tx,
                            "INSERT INTO prices VALUES ({next_id}, {});",
                            row(&mut rng)
                        )
                        .unwrap();
                        next_id += 1;
                    }
                    1 => {
                        let r = row(&mut rng);
                        let v: Vec<&str> = r.split(", ").collect();
                        write!(
                            tx,
                            "UPDATE prices SET discount = {}, price = {}, amount = {} WHERE id = {id};",
                            v[0], v[1], v[2]
                        )
                        .unwrap();
                    }
                    _ => write!(tx, "DELETE FROM prices WHERE id = {id};").unwrap(),
                }
            }
            tx.push_str("COMMIT;");
            c.batch_execute(&tx).unwrap();
        }
    }
}
