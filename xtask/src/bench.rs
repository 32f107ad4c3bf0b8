//! `cargo xtask bench [--quick] [--only SECTION]`: dozerc against the baselines the benchmark issue names, measured
//! in one run on this machine, printed as a table and written to `docs/benchmarks.md`.
//!
//! Every figure comes with the baseline it is compared to and the ratio, so a reader sees what
//! the number means on this hardware. Baselines are installed into `target/` (DuckDB from PyPI
//! into a virtualenv, Redis and wrk through apt when missing and running as root). Sections:
//!
//! - **build**: `dozerc check` of the e-commerce example, and `dozerc build` after a one-line
//!   SQL change (warm); the full run also builds with an empty target directory (cold).
//! - **snapshot**: generated sales CSV (1M rows; the full run adds 5M) through the example's four
//!   queries into LMDB (`run --once`): rows/s and peak RSS, against DuckDB computing the same four
//!   results from the same CSV.
//! - **incremental**: 1% more rows appended as a new file: the time until `run --once` has the
//!   results fresh, against DuckDB recomputing them from both files.
//! - **read**: wrk on loopback against REST by-key and a filtered, sorted query, and the gRPC
//!   `query` (xtask's own client), against a bare axum server returning the same record, Redis
//!   `GET` of it (`redis-benchmark`), and axum + tokio-postgres running the equivalent SQL per
//!   request.
//!
//! - **cdc**: PostgreSQL row changes applied per second end to end, against `pg_recvlogical`
//!   reading the same changes from the same publication, and commit-to-visible latency at 10k
//!   changes/s (the ignored test `measure_cdc_throughput_and_freshness` runs it).
//! - **memory**: peak RSS of the pipeline of a join whose state holds every sales row (5M; 1M
//!   with `--quick`), against the 300 MB target.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// One measured figure and what it is compared to.
struct Figure {
    section: &'static str,
    what: String,
    value: f64,
    unit: &'static str,
    /// (name, value); the ratio is `value / baseline` (or its inverse when lower is better).
    baseline: Option<(String, f64)>,
    higher_is_better: bool,
}

#[derive(Default)]
struct Report {
    figures: Vec<Figure>,
    notes: Vec<String>,
    commands: Vec<String>,
}

impl Report {
    fn add(
        &mut self,
        section: &'static str,
        what: impl Into<String>,
        value: f64,
        unit: &'static str,
        baseline: Option<(&str, f64)>,
        higher_is_better: bool,
    ) {
        let f = Figure {
            section,
            what: what.into(),
            value,
            unit,
            baseline: baseline.map(|(n, v)| (n.to_string(), v)),
            higher_is_better,
        };
        eprintln!("  {}", row(&f));
        self.figures.push(f);
    }

    /// Two rows: the p50 and p99 latency (in ms) of `what`.
    fn latencies(&mut self, section: &'static str, what: &str, p50_ms: f64, p99_ms: f64) {
        for (p, ms) in [(50, p50_ms), (99, p99_ms)] {
            self.add(
                section,
                format!("{what}, latency p{p}"),
                ms,
                "ms",
                None,
                false,
            );
        }
    }

    fn note(&mut self, text: impl Into<String>) {
        let text = text.into();
        eprintln!("  note: {text}");
        self.notes.push(text);
    }

    fn table(&self) -> String {
        let mut out = String::from(
            "| section | measurement | dozerc | baseline | baseline figure | ratio |\n|---|---|---|---|---|---|\n",
        );
        for f in &self.figures {
            writeln!(out, "{}", row(f)).ok();
        }
        out
    }
}

fn row(f: &Figure) -> String {
    let (name, base, ratio) = match &f.baseline {
        Some((n, b)) => {
            let r = if f.higher_is_better {
                f.value / b
            } else {
                b / f.value
            };
            (
                n.as_str(),
                format!("{} {}", number(*b), f.unit),
                format!("{r:.2}×"),
            )
        }
        None => ("—", "—".into(), "—".into()),
    };
    format!(
        "| {} | {} | {} {} | {name} | {base} | {ratio} |",
        f.section,
        f.what,
        number(f.value),
        f.unit
    )
}

fn number(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Runs every section and writes `docs/benchmarks.md`.
pub fn bench(root: &Path, quick: bool, only: Option<&str>) -> Result<()> {
    let runs = |section: &str| only.is_none_or(|o| o == section);
    let work = root.join("target/bench");
    std::fs::create_dir_all(&work)?;
    let started = Instant::now();
    let mut report = Report::default();
    report.commands.push(format!(
        "cargo xtask bench{}",
        if quick { " --quick" } else { "" }
    ));

    if runs("build") {
        eprintln!("build");
        build_section(&mut report, root, &work, quick)?;
    }
    if runs("snapshot") || runs("read") {
        eprintln!("snapshot");
        let app = snapshot_section(&mut report, root, &work, quick)?;
        if runs("read") {
            eprintln!("read path");
            read_section(&mut report, &work, &app, quick)?;
        }
    }
    if runs("cdc") {
        eprintln!("cdc");
        cdc_section(&mut report, quick)?;
    }
    if runs("memory") {
        eprintln!("memory");
        memory_section(&mut report, root, &work, quick)?;
    }
    if only.is_some() {
        // A partial run prints its figures but leaves docs/benchmarks.md to whole runs.
        println!("\n{}", report.table());
        return Ok(());
    }

    let table = report.table();
    println!("\n{table}");
    let doc = document(&report, &table, quick, started.elapsed())?;
    let path = root.join("docs/benchmarks.md");
    std::fs::write(&path, doc)?;
    println!("written to {}", path.display());
    Ok(())
}

fn document(report: &Report, table: &str, quick: bool, took: Duration) -> Result<String> {
    let mut out = String::from("# Benchmarks\n\n");
    out.push_str("Written by `cargo xtask bench` (do not edit by hand); every ratio compares two figures measured in the same run on the same machine. A ratio above 1 means dozerc is better (faster, or less memory).\n\n");
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or_else(|| "?".into(), |kb| format!("{} GiB", kb >> 20));
    writeln!(
        out,
        "- date: {}\n- machine: {cpu}, {cores} cores, {memory}\n- run: {} ({}), {:.0} s\n- commit: {}\n",
        chrono_now(),
        if quick { "quick" } else { "full" },
        report.commands.join("; "),
        took.as_secs_f64(),
        git_head()
    )
    .ok();
    out.push_str(table);
    if !report.notes.is_empty() {
        out.push_str("\nNotes:\n\n");
        for n in &report.notes {
            writeln!(out, "- {n}").ok();
        }
    }
    Ok(out)
}

fn chrono_now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn git_head() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let head = git(&["rev-parse", "--short", "HEAD"]);
    if git(&["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        head
    } else {
        format!("{head} with uncommitted changes")
    }
}

/// The e-commerce example copied into `dir` (config and lock file; data added by the caller).
fn example_in(root: &Path, dir: &Path) -> Result<PathBuf> {
    let example = root.join("examples/ecommerce");
    std::fs::create_dir_all(dir)?;
    let config = dir.join("dozer-config.yaml");
    std::fs::copy(example.join("dozer-config.yaml"), &config)?;
    std::fs::copy(example.join("dozer.lock"), dir.join("dozer.lock"))?;
    Ok(config)
}

fn build_section(report: &mut Report, root: &Path, work: &Path, quick: bool) -> Result<()> {
    let dir = work.join("build-app");
    let _ = std::fs::remove_dir_all(&dir);
    let config = example_in(root, &dir)?;
    // `dozerc check`: the median of five.
    let mut times = vec![];
    for _ in 0..5 {
        let t = Instant::now();
        dozer_tests::app::check(&config);
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    report.add(
        "build",
        "`dozerc check` of the e-commerce example",
        times[2] * 1000.0,
        "ms",
        None,
        false,
    );

    // The target directory the tests build apps into: warm in a checkout that ran them.
    let shared = apps_target(root);
    dozer_tests::app::build_into(&config, &shared);
    // A one-line SQL change: another aggregate in one query.
    let text = std::fs::read_to_string(&config)?;
    let changed = text.replacen(
        "SELECT StockCode, SUM(Quantity) AS BuyCount",
        "SELECT StockCode, SUM(Quantity) AS BuyCount, COUNT(*) AS Orders",
        1,
    );
    if changed == text {
        bail!("the example's bestsellers query changed; update the benchmark's SQL edit");
    }
    std::fs::write(&config, changed)?;
    let t = Instant::now();
    dozer_tests::app::build_into(&config, &shared);
    report.add(
        "build",
        "`dozerc build`, warm (one-line SQL change)",
        t.elapsed().as_secs_f64(),
        "s",
        Some(("target", 15.0)),
        false,
    );
    if quick {
        report.note("build: the cold build (empty target directory) runs only without --quick");
    } else {
        let cold = work.join("cold-target");
        let _ = std::fs::remove_dir_all(&cold);
        let t = Instant::now();
        dozer_tests::app::build_into(&config, &cold);
        report.add(
            "build",
            "`dozerc build`, cold (empty target directory)",
            t.elapsed().as_secs_f64(),
            "s",
            None,
            false,
        );
        let _ = std::fs::remove_dir_all(&cold);
    }
    Ok(())
}

fn apps_target(root: &Path) -> PathBuf {
    root.join("target/dozerc-apps")
}

/// The snapshot app: its binary and a store holding the 1M-row results.
struct SnapshotApp {
    binary: PathBuf,
    home: PathBuf,
}

/// The run with the median first figure of `reps` runs.
fn median_of<T: PartialOrd + Copy, U: Copy>(
    reps: usize,
    mut run: impl FnMut() -> Result<(T, U)>,
) -> Result<(T, U)> {
    let mut runs = (0..reps.max(1))
        .map(|_| run())
        .collect::<Result<Vec<_>>>()?;
    runs.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    Ok(runs[runs.len() / 2])
}

/// `/usr/bin/time`'s wall seconds and peak RSS (MiB) of a command that must succeed.
fn timed(cmd: &mut Command) -> Result<(f64, f64)> {
    let mut timed = Command::new("/usr/bin/time");
    timed
        .args(["-f", "@@ %e %M"])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(d) = cmd.get_current_dir() {
        timed.current_dir(d);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let out = timed
        .stdout(Stdio::null())
        .output()
        .context("running /usr/bin/time (apt install time)")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("{cmd:?} failed:\n{stderr}");
    }
    let line = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("@@ "))
        .context("no /usr/bin/time line")?;
    let mut parts = line.split_whitespace();
    let secs: f64 = parts.next().context("seconds")?.parse()?;
    let kib: f64 = parts.next().context("rss")?.parse()?;
    Ok((secs, kib / 1024.0))
}

fn snapshot_section(
    report: &mut Report,
    root: &Path,
    work: &Path,
    quick: bool,
) -> Result<SnapshotApp> {
    let python = dozer_tests::app::venv("bench-venv", &["duckdb==1.1.3"], "import duckdb");
    let script = root.join("xtask/bench/duckdb_ecommerce.py");
    let sizes: &[u64] = if quick {
        &[1_000_000]
    } else {
        &[1_000_000, 5_000_000]
    };
    let mut first = None;
    for &rows in sizes {
        let csv = root.join(format!("target/data/sales_{rows}/sales.csv"));
        if !csv.is_file() {
            dozer_tests::gen_data::generate(rows, 42, &csv)?;
        }
        let dir = work.join(format!("snapshot-{rows}"));
        let _ = std::fs::remove_dir_all(&dir);
        let config = example_in(root, &dir)?;
        std::fs::create_dir_all(dir.join("data/sales"))?;
        std::fs::hard_link(&csv, dir.join("data/sales/sales.csv"))
            .or_else(|_| std::fs::copy(&csv, dir.join("data/sales/sales.csv")).map(|_| ()))?;
        let binary = dozer_tests::app::build_into(&config, &apps_target(root)).binary;
        let home = dir.join("home");
        let reps = if quick { 1 } else { 3 };
        let (secs, rss) = median_of(reps, || {
            let _ = std::fs::remove_dir_all(&home);
            timed(
                Command::new(&binary)
                    .arg("--home")
                    .arg(&home)
                    .args(["run", "--once"]),
            )
        })?;
        let (duck_secs, duck_rss) =
            median_of(reps, || timed(Command::new(&python).arg(&script).arg(&csv)))?;
        let label = format!("{}M rows", rows / 1_000_000);
        report.add(
            "snapshot",
            format!("{label} through the 4 queries into LMDB (`run --once`), rows/s"),
            rows as f64 / secs,
            "rows/s",
            Some((
                "DuckDB, same 4 results from the CSV",
                rows as f64 / duck_secs,
            )),
            true,
        );
        report.add(
            "snapshot",
            format!("{label}: peak RSS"),
            rss,
            "MiB",
            Some(("DuckDB", duck_rss)),
            false,
        );
        if first.is_none() {
            // Incremental: 1% more rows as a new file; `run --once` picks up where it stopped,
            // DuckDB computes everything again.
            let extra = dir.join("data/sales/sales_extra.csv");
            dozer_tests::gen_data::generate(rows / 100, 7, &extra)?;
            let (inc_secs, _) = timed(
                Command::new(&binary)
                    .arg("--home")
                    .arg(&home)
                    .args(["run", "--once"]),
            )?;
            let (duck_again, _) = timed(Command::new(&python).arg(&script).arg(&csv).arg(&extra))?;
            report.add(
                "incremental",
                format!("{label} + 1% appended: time to fresh results (`run --once` resumes)"),
                inc_secs,
                "s",
                Some(("DuckDB recomputing all four from both files", duck_again)),
                false,
            );
            first = Some(SnapshotApp { binary, home });
        }
    }
    report.note("snapshot: DuckDB computes the four results in memory from scratch on all cores and stores nothing; dozerc parses, maintains incremental state and commits every result (and its indexes) to LMDB");
    first.context("no snapshot")
}

/// wrk's requests/s and latency p50/p99 (ms).
/// The median of `reps` wrk runs (by requests/s): requests/s and latency p50/p99 (ms).
fn wrk(url: &str, script: Option<&Path>, seconds: u64, reps: usize) -> Result<(f64, f64, f64)> {
    let (rps, (p50, p99)) = median_of(reps, || {
        wrk_once(url, script, seconds).map(|(r, a, b)| (r, (a, b)))
    })?;
    Ok((rps, p50, p99))
}

fn wrk_once(url: &str, script: Option<&Path>, seconds: u64) -> Result<(f64, f64, f64)> {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", "-c32", &format!("-d{seconds}s"), "--latency"]);
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    let out = cmd
        .arg(url)
        .output()
        .context("running wrk (apt install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || text.contains("Non-2xx") {
        bail!("wrk {url} failed:\n{text}");
    }
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .context("wrk: no Requests/sec")?
        .trim()
        .parse()?;
    let percentile = |p: &str| -> Result<f64> {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(p))
            .with_context(|| format!("wrk: no {p} line"))?;
        let v = line.split_whitespace().nth(1).context("value")?;
        let (n, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
        let n: f64 = n.parse()?;
        Ok(match unit {
            "us" => n / 1000.0,
            "ms" => n,
            "s" => n * 1000.0,
            _ => n,
        })
    };
    Ok((rps, percentile("50%")?, percentile("99%")?))
}

fn apt_install(package: &str, binary: &str) -> Result<()> {
    if Command::new("which").arg(binary).output()?.status.success() {
        return Ok(());
    }
    crate::command::run(Command::new("apt-get").args(["install", "-y", "-q", package]))
        .with_context(|| format!("{binary} is missing; install {package}"))
}

/// The filtered, sorted query of the read section (REST and gRPC).
const TOP_BESTSELLERS: &str =
    r#"{"$filter": {"BuyCount": {"$gt": 100}}, "$order_by": {"BuyCount": "desc"}, "$limit": 10}"#;

fn read_section(report: &mut Report, work: &Path, app: &SnapshotApp, quick: bool) -> Result<()> {
    apt_install("wrk", "wrk")?;
    let (seconds, reps) = if quick { (5, 1) } else { (10, 3) };
    let serving = dozer_tests::app::Serving::start(
        &app.binary,
        &["--home", app.home.to_str().context("home path")?, "api"],
    );
    let by_key = format!("{}/sales_by_country/France", serving.rest);
    let record = reqwest_get(&by_key)?;
    let (rps, p50, p99) = wrk(&by_key, None, seconds, reps)?;

    // Baselines on the same machine.
    let bare = baselines::bare_axum(record.clone())?;
    let (bare_rps, _, _) = wrk(&format!("http://{bare}/record"), None, seconds, reps)?;
    report.add(
        "read",
        "REST by key, wrk 32 connections, requests/s",
        rps,
        "req/s",
        Some(("bare axum returning the record", bare_rps)),
        true,
    );
    report.latencies("read", "REST by key", p50, p99);

    let query = work.join("query.lua");
    std::fs::write(
        &query,
        r#"wrk.method = "POST"
wrk.body = 'QUERY'
wrk.headers["Content-Type"] = "application/json"
"#
        .replace("QUERY", TOP_BESTSELLERS),
    )?;
    let (q_rps, q50, q99) = wrk(
        &format!("{}/bestsellers/query", serving.rest),
        Some(&query),
        seconds,
        reps,
    )?;
    report.add(
        "read",
        "REST filtered, sorted query (top 10 bestsellers), requests/s",
        q_rps,
        "req/s",
        Some(("bare axum returning the record", bare_rps)),
        true,
    );
    report.latencies("read", "REST query", q50, q99);

    let grpc = super::load::grpc_query(
        &serving.grpc,
        "bestsellers",
        Some(TOP_BESTSELLERS),
        32,
        Duration::from_secs(seconds),
    )?;
    report.add(
        "read",
        "gRPC `query` (same query), requests/s",
        grpc.per_second(),
        "req/s",
        Some(("bare axum returning the record", bare_rps)),
        true,
    );
    let ms = |p: f64| grpc.percentile(p).as_secs_f64() * 1e3;
    report.latencies("read", "gRPC `query`", ms(50.0), ms(99.0));

    match baselines::redis_get(work, &record, seconds) {
        Ok(redis_rps) => report.add(
            "read",
            "REST by key against Redis GET of the record",
            rps,
            "req/s",
            Some(("redis-benchmark GET, 32 clients", redis_rps)),
            true,
        ),
        Err(e) => report.note(format!("read: no Redis baseline: {e:#}")),
    }
    match baselines::sql_per_request(&app.binary, &app.home) {
        Ok(addr) => {
            let (sql_rps, _, _) = wrk(
                &format!("http://{addr}/sales_by_country/France"),
                None,
                seconds,
                reps,
            )?;
            report.add(
                "read",
                "REST by key against axum + tokio-postgres running the SQL per request",
                rps,
                "req/s",
                Some(("per-request SQL server", sql_rps)),
                true,
            );
        }
        Err(e) => report.note(format!("read: no per-request SQL baseline: {e:#}")),
    }
    drop(serving);
    Ok(())
}

const JOIN_CONFIG: &str = r#"version: 1
app_name: join_memory
connections:
  - name: files
    config: !LocalStorage
      details:
        path: ./data
      tables:
        - !Table
          name: sales
          config: !CSV
            path: sales
            extension: .csv
        - !Table
          name: regions
          config: !CSV
            path: regions
            extension: .csv
sources:
  - name: sales_data
    table_name: sales
    connection: files
  - name: regions
    table_name: regions
    connection: files
sql: |
  SELECT s.InvoiceNo, r.Region, SUM(s.Quantity) AS Units, COUNT(*) AS Lines
  INTO units_by_invoice
  FROM sales_data s JOIN regions r ON s.Country = r.Country
  GROUP BY s.InvoiceNo, r.Region;
endpoints:
  - name: units_by_invoice
    path: /units_by_invoice
    table_name: units_by_invoice
"#;

/// Peak memory of a process, read from `/proc/<pid>/status` every 20 ms while it runs.
#[derive(Clone, Copy, Debug, Default)]
struct PeakMemory {
    /// VmHWM: resident pages of any kind (what `/usr/bin/time` reports).
    total_mib: f64,
    /// The largest RssAnon seen: heap and other private memory.
    anon_mib: f64,
    /// The largest RssFile seen: pages of mapped files (the LMDB store), page cache the kernel
    /// may take back at any time.
    file_mib: f64,
}

/// Runs `cmd` to completion: seconds and its peak memory by kind.
fn sampled(cmd: &mut Command) -> Result<(f64, PeakMemory)> {
    let started = std::time::Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = PeakMemory::default();
    let kib = |text: &str, field: &str| -> Option<f64> {
        let line = text.lines().find(|l| l.starts_with(field))?;
        line[field.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<f64>()
            .ok()
    };
    // stderr is drained by a thread so a chatty child never blocks on a full pipe.
    let mut stderr = child.stderr.take().context("the child's stderr")?;
    let drain = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).ok();
        text
    });
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            if let Some(v) = kib(&text, "VmHWM:") {
                peak.total_mib = peak.total_mib.max(v / 1024.0);
            }
            if let Some(v) = kib(&text, "RssAnon:") {
                peak.anon_mib = peak.anon_mib.max(v / 1024.0);
            }
            if let Some(v) = kib(&text, "RssFile:") {
                peak.file_mib = peak.file_mib.max(v / 1024.0);
            }
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let secs = started.elapsed().as_secs_f64();
    let text = drain.join().unwrap_or_default();
    if !status.success() {
        bail!("{cmd:?} failed:\n{text}");
    }
    Ok((secs, peak))
}

/// A join whose state holds every sales row: its left side keeps (invoice, country, quantity),
/// nearly all distinct, because the aggregate above groups by invoice. The pipeline's peak RSS
/// while it ingests them, and the store's size for scale.
fn memory_section(report: &mut Report, root: &Path, work: &Path, quick: bool) -> Result<()> {
    let rows: u64 = if quick { 1_000_000 } else { 5_000_000 };
    let csv = root.join(format!("target/data/sales_{rows}/sales.csv"));
    if !csv.is_file() {
        dozer_tests::gen_data::generate(rows, 42, &csv)?;
    }
    let dir = work.join("join-memory");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data/sales"))?;
    std::fs::create_dir_all(dir.join("data/regions"))?;
    std::fs::hard_link(&csv, dir.join("data/sales/sales.csv"))
        .or_else(|_| std::fs::copy(&csv, dir.join("data/sales/sales.csv")).map(|_| ()))?;
    let mut regions = String::from("Country,Region\n");
    for (country, _) in dozer_tests::gen_data::COUNTRIES {
        let region = match *country {
            "United Kingdom" | "EIRE" => "British Isles",
            "Spain" | "Portugal" => "Iberia",
            "Australia" => "Oceania",
            _ => "Western Europe",
        };
        writeln!(regions, "{country},{region}").ok();
    }
    std::fs::write(dir.join("data/regions/regions.csv"), regions)?;
    let config = dir.join("dozer-config.yaml");
    std::fs::write(&config, JOIN_CONFIG)?;
    let binary = dozer_tests::app::build_into(&config, &apps_target(root)).binary;
    let (secs, peak) = sampled(
        Command::new(&binary)
            .arg("--home")
            .arg(dir.join("home"))
            .args(["run", "--once"]),
    )?;
    let target = Some(("target", 300.0 * 1e6 / (1024.0 * 1024.0)));
    let label = format!(
        "join holding {}M sales rows (then grouped), `run --once`",
        rows / 1_000_000
    );
    report.add(
        "memory",
        format!("{label}: peak RSS, all pages"),
        peak.total_mib,
        "MiB",
        target,
        false,
    );
    report.add(
        "memory",
        format!("{label}: peak private memory (RssAnon)"),
        peak.anon_mib,
        "MiB",
        target,
        false,
    );
    report.add(
        "memory",
        format!("{label}: peak mapped store pages (RssFile)"),
        peak.file_mib,
        "MiB",
        None,
        false,
    );
    report.add(
        "memory",
        "the same join: rows/s",
        rows as f64 / secs,
        "rows/s",
        None,
        true,
    );
    let store = std::fs::metadata(dir.join("home/store/data.mdb")).map_or(0, |m| m.len());
    report.note(format!(
        "memory: the join's store (state and results, LMDB) is {} MiB on disk; the RSS beyond the private memory is its file pages that LMDB maps and the join's probes touch (page cache the kernel reclaims under pressure, not heap)",
        store >> 20
    ));
    Ok(())
}

/// What one CDC measurement printed.
struct CdcFigures {
    end_to_end: f64,
    recvlogical: f64,
    p50: f64,
    p99: f64,
}

/// Runs the ignored test `measure_cdc_throughput_and_freshness` (it sets up the cluster, the
/// example app, the writers and the `pg_recvlogical` baseline) and reads what it prints.
fn cdc_run(quick: bool, unindexed: bool) -> Result<CdcFigures> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["test", "-q", "-p", "dozer-tests", "--test", "e2e"])
        .args([
            "postgres_cdc::measure_cdc_throughput_and_freshness",
            "--",
            "--ignored",
            "--nocapture",
            "--exact",
        ])
        .env("DOZER_CDC_RATE", "10000")
        .env("DOZER_CDC_PROBES", if quick { "60" } else { "300" });
    if unindexed {
        cmd.env("DOZER_CDC_UNINDEXED", "1");
    }
    let out = cmd.output().context("running the CDC measurement")?;
    let text = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("the CDC measurement failed:\n{text}");
    }
    // The last number before `unit` on the line that starts with `prefix`.
    let figure = |prefix: &str, before: &str| -> Result<f64> {
        let line = text
            .lines()
            .find(|l| l.starts_with(prefix))
            .with_context(|| format!("the CDC measurement printed no `{prefix}` line:\n{text}"))?;
        let head = &line[..line
            .find(before)
            .with_context(|| format!("no `{before}` in {line}"))?];
        let n = head
            .split_whitespace()
            .last()
            .context("a number")?
            .trim_end_matches("ms")
            .trim_end_matches('s');
        n.parse::<f64>().with_context(|| format!("`{n}` in {line}"))
    };
    Ok(CdcFigures {
        end_to_end: figure("throughput:", "row changes/s end to end")?,
        recvlogical: figure("baseline:", "row changes/s")?,
        p50: figure("freshness at", "ms, p99")?,
        p99: figure("freshness at", "ms, max")?,
    })
}

/// PostgreSQL CDC: the example as shipped, and again without the default indexes of its raw
/// `sales` endpoint (what maintaining them costs).
fn cdc_section(report: &mut Report, quick: bool) -> Result<()> {
    for (unindexed, label) in [(false, ""), (true, ", raw `sales` endpoint unindexed")] {
        let f = cdc_run(quick, unindexed)?;
        report.add(
            "cdc",
            format!("500k mixed row changes (1000-row transactions) applied end to end{label}, changes/s"),
            f.end_to_end,
            "changes/s",
            Some(("pg_recvlogical reading the same changes", f.recvlogical)),
            true,
        );
        report.add(
            "cdc",
            format!("commit-to-visible p50 at 10k changes/s{label}"),
            f.p50,
            "ms",
            Some(("target", 5.0)),
            false,
        );
        report.add(
            "cdc",
            format!("commit-to-visible p99 at 10k changes/s{label}"),
            f.p99,
            "ms",
            Some(("target", 25.0)),
            false,
        );
    }
    report.note("cdc: the app is the ecommerce-postgres example; as shipped, its raw `sales` endpoint has Dozer's default secondary index on every column (8 B-trees kept in the commit of every change); the `unindexed` rows skip them with `index.secondary.skip_default`");
    Ok(())
}

fn reqwest_get(url: &str) -> Result<String> {
    let out = Command::new("curl")
        .args(["-sf", url])
        .output()
        .context("curl")?;
    if !out.status.success() {
        bail!("GET {url} failed");
    }
    Ok(String::from_utf8(out.stdout)?)
}

mod baselines {
    //! The servers dozerc's read path is compared to, run inside this process.

    use std::net::SocketAddr;
    use std::path::Path;
    use std::process::Command;

    use anyhow::{bail, Context, Result};

    /// Serves `record` (JSON) at `/record` with axum on a free port; runs until the process ends.
    pub fn bare_axum(record: String) -> Result<SocketAddr> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = axum::Router::new().route(
                    "/record",
                    axum::routing::get(move || {
                        let r = record.clone();
                        async move { ([("content-type", "application/json")], r) }
                    }),
                );
                let _ = axum::serve(listener, app).await;
            });
        });
        Ok(addr)
    }

    /// `redis-benchmark` GET of the record from a throwaway redis-server: requests/s.
    pub fn redis_get(work: &Path, record: &str, seconds: u64) -> Result<f64> {
        super::apt_install("redis-server", "redis-server")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut server = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(work)
            .stdout(std::process::Stdio::null())
            .spawn()
            .context("redis-server")?;
        let result = (|| {
            let cli = |args: &[&str]| {
                Command::new("redis-cli")
                    .args(["-p", &port.to_string()])
                    .args(args)
                    .output()
            };
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !cli(&["PING"]).is_ok_and(|o| o.stdout.starts_with(b"PONG")) {
                if std::time::Instant::now() > deadline {
                    bail!("redis-server did not start");
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            cli(&["SET", "sales_by_country:France", record])?;
            // About as many requests as wrk sends in its run.
            let n = (seconds * 100_000).to_string();
            let out = Command::new("redis-benchmark")
                .args([
                    "-p",
                    &port.to_string(),
                    "-c",
                    "32",
                    "-n",
                    &n,
                    "--csv",
                    "GET",
                    "sales_by_country:France",
                ])
                .output()?;
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text
                .lines()
                .last()
                .context("redis-benchmark printed nothing")?;
            let rps = line
                .split(',')
                .nth(1)
                .context("no rps column")?
                .trim_matches('"')
                .parse()?;
            Ok(rps)
        })();
        let _ = server.kill();
        let _ = server.wait();
        result
    }

    /// A small axum + tokio-postgres server answering `GET /sales_by_country/{country}` with one
    /// SQL query per request against a PostgreSQL holding the same rows; its address.
    pub fn sql_per_request(binary: &Path, home: &Path) -> Result<SocketAddr> {
        let pg = dozer_test_support::postgres::TestPostgres::start().map_err(anyhow::Error::msg)?;
        let dump = Command::new(binary)
            .arg("--home")
            .arg(home)
            .args(["dump", "sales_by_country"])
            .output()?;
        if !dump.status.success() {
            bail!("dump failed");
        }
        let mut sql = String::from("CREATE TABLE sales_by_country (country text PRIMARY KEY, total_sales numeric);\nINSERT INTO sales_by_country VALUES\n");
        let rows: Vec<String> = String::from_utf8(dump.stdout)?
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
                format!(
                    "('{}', {})",
                    v["Country"]
                        .as_str()
                        .unwrap_or_default()
                        .replace('\'', "''"),
                    v["TotalSales"]
                        .as_str()
                        .map_or_else(|| v["TotalSales"].to_string(), str::to_string)
                )
            })
            .collect();
        sql.push_str(&rows.join(",\n"));
        sql.push_str(";\n");
        pg.psql("postgres", &sql).map_err(anyhow::Error::msg)?;
        let url = pg.url("postgres");
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        std::thread::spawn(move || {
            // The cluster lives as long as the server.
            let _pg = pg;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                let mut clients = vec![];
                for _ in 0..4 {
                    match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
                        Ok((client, connection)) => {
                            tokio::spawn(connection);
                            clients.push(client);
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    }
                }
                let clients = std::sync::Arc::new(clients);
                let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
                let app = axum::Router::new().route(
                    "/sales_by_country/{country}",
                    axum::routing::get(move |axum::extract::Path(country): axum::extract::Path<String>| {
                        let (clients, next) = (clients.clone(), next.clone());
                        async move {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % clients.len();
                            let row = clients[i]
                                .query_opt(
                                    "SELECT json_build_object('Country', country, 'TotalSales', total_sales::text)::text FROM sales_by_country WHERE country = $1",
                                    &[&country],
                                )
                                .await;
                            match row {
                                Ok(Some(r)) => (axum::http::StatusCode::OK, r.get::<_, String>(0)),
                                Ok(None) => (axum::http::StatusCode::NOT_FOUND, "{}".to_string()),
                                Err(e) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
                            }
                        }
                    }),
                );
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let _ = ready_tx.send(Ok(()));
                let _ = axum::serve(listener, app).await;
            });
        });
        ready_rx
            .recv()
            .context("the SQL server thread ended")?
            .map_err(anyhow::Error::msg)?;
        Ok(addr)
    }
}
