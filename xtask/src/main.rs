//! `cargo xtask <task>`: the project's chores, in Rust so they run wherever cargo does.
//!
//! - `test`: installs what the tests need (PostgreSQL server binaries, jq) when it can, then runs
//!   formatting and lint checks and the whole test suite. This is what CI runs.
//! - `gen-data --rows N [--seed S] [--out FILE]`: deterministic e-commerce sales CSV.
//! - `fuzz [--seconds N] [--seed S]`: mutation-fuzzes the compiler front end.
//! - `bench [--quick] [--only build|snapshot|read|cdc|memory]`: dozerc against its baselines (see
//!   [`bench`]); a whole run writes `docs/benchmarks.md`.
//! - `grpc-load --addr URL --endpoint E [--query JSON] [--connections N] [--seconds S]`: load on
//!   a running app's gRPC `query` (requests/s, latency percentiles).

mod bench;
mod command;
mod load;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::command::run;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("gen-data") => {
            let rows: u64 = flag(&args, "--rows")
                .map(|v| v.parse())
                .transpose()?
                .unwrap_or(1_000_000);
            let seed: u64 = flag(&args, "--seed")
                .map(|v| v.parse())
                .transpose()?
                .unwrap_or(42);
            let out = flag(&args, "--out")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join(format!("target/data/sales_{rows}/sales.csv")));
            dozer_tests::gen_data::generate(rows, seed, &out)?;
            println!("{}", out.display());
            Ok(())
        }
        Some("fuzz") => {
            let seconds: u64 = flag(&args, "--seconds")
                .map(|v| v.parse())
                .transpose()?
                .unwrap_or(180);
            let seed: u64 = flag(&args, "--seed")
                .map(|v| v.parse())
                .transpose()?
                .unwrap_or(1);
            let corpus =
                dozer_tests::fuzz::corpus(&[Path::new("tests/corpus"), Path::new("examples")]);
            println!(
                "fuzzing the front end for {seconds}s from {} corpus files (seed {seed})",
                corpus.len()
            );
            let report =
                dozer_tests::fuzz::fuzz(&corpus, seed, u64::MAX, Duration::from_secs(seconds));
            println!(
                "{} runs ({} reached typed plans), {} crashes",
                report.runs,
                report.reached_plans,
                report.crashes.len()
            );
            if !report.crashes.is_empty() {
                let dir = root.join("target/fuzz-crashes");
                std::fs::create_dir_all(&dir)?;
                for (i, (input, msg)) in report.crashes.iter().enumerate() {
                    let path = dir.join(format!("crash-{i}.yaml"));
                    std::fs::write(&path, input)?;
                    println!("  {}: {msg}", path.display());
                }
                bail!("the front end panicked");
            }
            Ok(())
        }
        Some("bench") => bench::bench(
            &root,
            args.iter().any(|a| a == "--quick"),
            flag(&args, "--only"),
        ),
        Some("grpc-load") => {
            let addr = flag(&args, "--addr").unwrap_or("http://127.0.0.1:50051");
            let endpoint = flag(&args, "--endpoint").context("--endpoint is required")?;
            let connections: usize = flag(&args, "--connections")
                .map(|v| v.parse())
                .transpose()?
                .unwrap_or(32);
            let seconds: u64 = flag(&args, "--seconds")
                .map(|v| v.parse())
                .transpose()?
                .unwrap_or(10);
            let r = load::grpc_query(
                addr,
                endpoint,
                flag(&args, "--query"),
                connections,
                Duration::from_secs(seconds),
            )?;
            println!(
                "{} requests ({} errors) in {:.1}s: {:.0} requests/s, latency p50 {:?}, p99 {:?}",
                r.requests,
                r.errors,
                r.elapsed.as_secs_f64(),
                r.per_second(),
                r.percentile(50.0),
                r.percentile(99.0)
            );
            Ok(())
        }
        _ => {
            eprintln!("usage: cargo xtask <test | bench [--quick] [--only SECTION] | gen-data --rows N [--seed S] [--out FILE] | fuzz [--seconds N] [--seed S] | grpc-load --addr URL --endpoint E [--query JSON] [--connections N] [--seconds S]>");
            std::process::exit(2);
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn has_postgres() -> bool {
    let on_path = std::env::var("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .any(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
        })
        .unwrap_or(false);
    let via_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .is_ok_and(|o| {
            Path::new(String::from_utf8_lossy(&o.stdout).trim())
                .join("initdb")
                .is_file()
        });
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().any(|e| e.path().join("bin/initdb").is_file()))
        .unwrap_or(false);
    (on_path || via_pg_config || debian) && Command::new("psql").arg("--version").output().is_ok()
}

/// Makes sure a tool is there (`found`): installs Debian's `packages` when running as root with
/// apt, else fails with `install` (what to do by hand).
fn ensure(what: &str, found: fn() -> bool, packages: &[&str], install: &str) -> Result<()> {
    if found() {
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if root && Path::new("/usr/bin/apt-get").exists() {
        eprintln!("{what} not found: installing Debian's {packages:?}");
        run(Command::new("apt-get").arg("update").arg("-q"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
        if found() {
            return Ok(());
        }
    }
    bail!("the tests need {what}. {install}")
}

/// PostgreSQL's server binaries, for the tests' throwaway clusters.
fn ensure_postgres() -> Result<()> {
    ensure(
        "PostgreSQL's server binaries (initdb, pg_ctl, postgres) and psql",
        has_postgres,
        &["postgresql", "postgresql-client"],
        "Install them, e.g. `sudo apt-get install postgresql` (Debian/Ubuntu) or `brew install postgresql` (macOS),\n\
         and make sure `initdb` is on PATH or `pg_config --bindir` points at it.",
    )
}

/// MariaDB's server and client, for the MySQL source tests' throwaway servers.
fn ensure_mariadb() -> Result<()> {
    ensure(
        "MariaDB's server (mariadbd, mariadb-install-db) and client (mariadb)",
        || {
            let on = |name: &str, dirs: &[&str]| {
                let path = std::env::var_os("PATH").unwrap_or_default();
                std::env::split_paths(&path)
                    .chain(dirs.iter().map(PathBuf::from))
                    .any(|d| d.join(name).is_file())
            };
            on("mariadbd", &["/usr/sbin"])
                && on("mariadb-install-db", &["/usr/bin"])
                && on("mariadb", &["/usr/bin"])
        },
        &["mariadb-server", "mariadb-client"],
        "Install them, e.g. `sudo apt-get install mariadb-server mariadb-client` or `brew install mariadb`.",
    )
}

/// jq, which the file conformance test writes JSON lines with.
fn ensure_jq() -> Result<()> {
    ensure(
        "jq",
        || Command::new("jq").arg("--version").output().is_ok(),
        &["jq"],
        "Install it, e.g. `sudo apt-get install jq` or `brew install jq`.",
    )
}

/// Node.js 18 or later with npm, for the generated TypeScript and React SDKs' tests.
fn ensure_node() -> Result<()> {
    ensure(
        "Node.js 18 or later with npm",
        || {
            let major = Command::new("node")
                .arg("--version")
                .output()
                .ok()
                .and_then(|o| {
                    let v = String::from_utf8_lossy(&o.stdout).trim().to_string();
                    v.trim_start_matches('v')
                        .split('.')
                        .next()?
                        .parse::<u32>()
                        .ok()
                });
            major.is_some_and(|m| m >= 18) && Command::new("npm").arg("--version").output().is_ok()
        },
        &["nodejs", "npm"],
        "Install them, e.g. `sudo apt-get install nodejs npm` or from https://nodejs.org.",
    )
}

/// podman and runc, which the image test loads and runs the app's image with (crun, podman's
/// default runtime, refuses the hybrid cgroups of some sandboxes; runc runs there).
fn ensure_podman() -> Result<()> {
    ensure(
        "podman with runc",
        || {
            Command::new("podman").arg("--version").output().is_ok()
                && Command::new("runc").arg("--version").output().is_ok()
        },
        &["podman", "runc", "containernetworking-plugins", "iptables"],
        "Install them, e.g. `sudo apt-get install podman runc`.",
    )
}

/// openssl's command line, which the PostgreSQL TLS test makes its CA and certificates with.
fn ensure_openssl() -> Result<()> {
    ensure(
        "openssl",
        || Command::new("openssl").arg("version").output().is_ok(),
        &["openssl"],
        "Install it, e.g. `sudo apt-get install openssl`.",
    )
}

fn test(extra: &[String]) -> Result<()> {
    ensure_postgres()?;
    ensure_mariadb()?;
    ensure_openssl()?;
    ensure_jq()?;
    ensure_node()?;
    ensure_podman()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(&cargo).args(["fmt", "--all", "--", "--check"]))?;
    // What the tests share is made while the tests are compiled: the apps' release build of the
    // runtime (the longest build of the run, into its own target directory) and the Python
    // virtualenvs. Two builds at once keep both cores busy through each one's serial stretches.
    eprintln!("preparing the tests' shared app build and virtualenvs in the background");
    let shared = std::thread::spawn(|| std::panic::catch_unwind(dozer_tests::app::prepare));
    // Clippy lints the workspace's crates while they are compiled for the tests (clippy-driver as
    // the workspace's rustc wrapper, as `cargo clippy` itself runs it), so no separate check build
    // of the whole tree is needed. The same wrapper stays on for running the tests, so nothing is
    // compiled again.
    let driver = clippy_driver(&cargo)?;
    let lint = |cmd: &mut Command| {
        cmd.env("RUSTC_WORKSPACE_WRAPPER", &driver).env(
            "CLIPPY_ARGS",
            "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__",
        );
    };
    let mut build = Command::new(&cargo);
    build.args(["test", "--workspace", "--all-targets", "--no-run"]);
    lint(&mut build);
    let built = run(&mut build);
    let prepared = shared.join();
    built?;
    // The example's committed SDKs are what its config generates (as a user's CI would check).
    let mut sdk = Command::new(&cargo);
    sdk.args(["run", "--quiet", "-p", "dozerc", "--", "sdk", "--check"])
        .arg("examples/ecommerce/dozer-config.yaml");
    lint(&mut sdk);
    run(&mut sdk)?;
    match prepared {
        Ok(Ok(())) => {}
        _ => bail!("preparing the tests failed (the build or pip error is above)"),
    }
    let mut tests = Command::new(&cargo);
    tests.args(["test", "--workspace"]).args(extra);
    lint(&mut tests);
    run_tests(&mut tests)
}

/// Clippy's driver, beside the toolchain's `cargo`.
fn clippy_driver(cargo: &str) -> Result<PathBuf> {
    let cargo = Path::new(cargo);
    let beside = cargo.with_file_name(format!("clippy-driver{}", std::env::consts::EXE_SUFFIX));
    if beside.is_file() {
        return Ok(beside);
    }
    let out = Command::new("rustup")
        .args(["which", "clippy-driver"])
        .output()
        .context("finding clippy-driver (install clippy: `rustup component add clippy`)")?;
    if !out.status.success() {
        bail!("clippy-driver not found; install clippy: `rustup component add clippy`");
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Runs `cargo test`, passing its output through, and closes with one summary line over all test
/// binaries (cargo's own last line is the doc-tests', often "0 passed").
fn run_tests(cmd: &mut Command) -> Result<()> {
    use std::io::{BufRead, BufReader};
    eprintln!("$ {cmd:?}");
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("running {cmd:?}"))?;
    let (mut passed, mut failed, mut ignored) = (0u64, 0u64, 0u64);
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines() {
            let line = line?;
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                let count = |word: &str| -> u64 {
                    rest.split(';')
                        .find_map(|part| {
                            part.trim()
                                .trim_start_matches("ok. ")
                                .trim_start_matches("FAILED. ")
                                .strip_suffix(word)
                        })
                        .and_then(|n| n.trim().parse().ok())
                        .unwrap_or(0)
                };
                passed += count(" passed");
                failed += count(" failed");
                ignored += count(" ignored");
            }
        }
    }
    let status = child.wait()?;
    println!("tests: {passed} passed, {failed} failed, {ignored} skipped");
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    if passed == 0 {
        bail!("no test ran");
    }
    Ok(())
}
