//! The command line of every app binary (generated `main` calls [`main`]):
//!
//! - `run [--once]`: ingest every source and keep the endpoints up to date; follow new data until
//!   Ctrl-C or SIGTERM, which stop it cleanly between transactions (a SIGKILL loses nothing
//!   committed either). Progress per source: a live line on a terminal, periodic log lines
//!   otherwise.
//! - `dump <endpoint>`: the endpoint's rows as JSON lines; works while `run` is running (LMDB
//!   readers see the last committed batch).
//! - `info`: sources and their positions, endpoints with row counts and fields.
//! - `api`: serve the REST API from the store alone (`run` serves it too, unless `--once` or
//!   `--no-api`); several `api` processes can read one store beside the `run` process.
//! - `token --all [--ttl 24h]` (or `--access <JSON>`): print a token for an app with
//!   authentication.
//! - `health`: ask the running app's `/health` (a container's health check: the image has no
//!   shell or curl).
//!
//! Where the app keeps its store and finds its files is compiled in from the config, and every
//! such setting can be moved when the app starts (`--home`, `--base-dir`, `--host`, the ports, or
//! their `DOZER_*` environment variables), so one binary runs unchanged on a laptop and in a
//! container image.

use std::ffi::OsString;
use std::io::{IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

use crate::api::auth::{parse_ttl, Access, Authorizer};
use crate::api::feed::EventFeed;
use crate::api::grpc;
use crate::api::grpc::messages::TypedMessages;
use crate::api::probe;
use crate::api::rest;
use crate::api::settings::{ApiSettings, MASTER_SECRET_ENV};
use crate::api::state::ApiState;
use crate::app::Runner;
use crate::pipeline::{OpenPipelineAt, PipelineError, SourceKind};
use crate::source::postgres::PgConnection;

/// What the generated `main` knows about its app.
pub struct AppSpec<'a> {
    pub name: &'a str,
    /// The directory of the config the app was built from: relative source paths and a relative
    /// `home_dir` are resolved against it; `--base-dir` (`DOZER_BASE_DIR`) overrides it.
    pub base_dir: PathBuf,
    /// The config's `home_dir` (relative to the base directory unless absolute); `--home`
    /// (`DOZER_HOME`) overrides it.
    pub home_dir: PathBuf,
    /// The config's `cache_max_map_size`: the store's initial map size (it grows by itself).
    pub map_size: Option<usize>,
    /// `app.on_bad_record: skip`.
    pub skip_bad_records: bool,
    /// `app.commit_size`: source records per transaction unless `--batch-records` says otherwise.
    pub batch_records: usize,
    /// The config's `api` section.
    pub api: ApiSettings,
    pub open: OpenPipelineAt<'a>,
    /// The endpoints' typed gRPC messages (generated; `None` with `flags.dynamic: false`).
    pub typed: Option<&'static dyn TypedMessages>,
}

/// Where the API listens, from the command line (overrides the config).
#[derive(clap::Args, Clone, Debug, Default)]
struct ServeArgs {
    /// Address to serve both APIs on (default: the config's `api.rest.host` and `api.grpc.host`).
    #[arg(long, env = "DOZER_API_HOST")]
    host: Option<String>,
    /// REST port (default: the config's `api.rest.port`; 0 picks a free one).
    #[arg(long, env = "DOZER_REST_PORT")]
    rest_port: Option<u16>,
    /// gRPC port (default: the config's `api.grpc.port`; 0 picks a free one).
    #[arg(long, env = "DOZER_GRPC_PORT")]
    grpc_port: Option<u16>,
}

#[derive(Parser)]
#[command(about = "A dozerc app: live SQL results over your sources")]
struct Cli {
    /// The app's home directory (its store lives in `<home>/store`; default: the config's
    /// `home_dir`).
    #[arg(long, global = true, env = "DOZER_HOME")]
    home: Option<PathBuf>,
    /// The directory relative source paths are read from (default: the config's directory when
    /// the app was built).
    #[arg(long, global = true, env = "DOZER_BASE_DIR")]
    base_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest every source and keep the endpoints up to date until Ctrl-C or SIGTERM.
    Run {
        /// Stop once every source is caught up instead of following new data.
        #[arg(long)]
        once: bool,
        /// How often to look for new data once caught up, in milliseconds.
        #[arg(long, default_value_t = 200)]
        poll_ms: u64,
        /// Source records per transaction (a file chunk is one batch); default: the config's
        /// `app.commit_size`, else 10000.
        #[arg(long)]
        batch_records: Option<usize>,
        /// Do not serve the API while running (`--once` never serves).
        #[arg(long)]
        no_api: bool,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Serve the API from the store alone (while another process runs the pipeline, or after).
    Api {
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Print an endpoint's rows as JSON lines.
    Dump { endpoint: String },
    /// Print sources, positions, endpoints and row counts.
    Info,
    /// Print a token for the API (the app must have `api.api_security` or DOZER_MASTER_SECRET).
    Token {
        /// A master token: reads everything and may issue scoped tokens (`POST /auth/token`).
        #[arg(long, conflicts_with = "access", required_unless_present = "access")]
        all: bool,
        /// A scoped token instead: `{"Custom": {"<endpoint>": {"filter": {..}, "fields": [..]}}}`.
        #[arg(long)]
        access: Option<String>,
        /// How long the token is valid: e.g. 3600s, 90m, 24h, 30d.
        #[arg(long, default_value = "24h")]
        ttl: String,
    },
    /// Exit 0 if the app serving on this host answers `/health` (for container health checks).
    Health {
        /// Address the app serves on (default: the config's `api.rest.host`; an "all
        /// interfaces" address is asked on loopback).
        #[arg(long, env = "DOZER_API_HOST")]
        host: Option<String>,
        /// REST port to ask (default: the config's `api.rest.port`).
        #[arg(long, env = "DOZER_REST_PORT")]
        rest_port: Option<u16>,
        /// How long to wait for the answer, in milliseconds.
        #[arg(long, default_value_t = 3000)]
        timeout_ms: u64,
    },
    /// Drop the app's PostgreSQL replication slots and publications (the app is retired; stop it
    /// first). The store cannot follow those sources afterwards: delete it too.
    Retire,
}

#[derive(Debug)]
pub enum CliError {
    Usage(clap::Error),
    Pipeline(PipelineError),
    Output(std::io::Error),
    /// The API server could not start or failed.
    Serve(std::io::Error),
    /// Authentication is misconfigured, or a token cannot be issued.
    Auth(String),
    /// Another process runs this app's pipeline on the same store.
    Busy(String),
    /// `health`: the app did not answer as healthy.
    Unhealthy(String),
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Usage(e) => e.fmt(f),
            CliError::Pipeline(e) => e.fmt(f),
            CliError::Output(e) => write!(f, "writing output: {e}"),
            CliError::Serve(e) => write!(f, "API server: {e}"),
            CliError::Auth(m) | CliError::Busy(m) | CliError::Unhealthy(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CliError {}

impl From<PipelineError> for CliError {
    fn from(e: PipelineError) -> Self {
        CliError::Pipeline(e)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Output(e)
    }
}

/// The app binary's entry point.
pub fn main(spec: AppSpec<'_>) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    let handler = {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
    };
    if let Err(e) = handler {
        eprintln!("warning: cannot catch Ctrl-C/SIGTERM ({e}); stopping will interrupt a transaction (committed data is safe)");
    }
    let tty = std::io::stderr().is_terminal();
    let result = run_with(
        &spec,
        std::env::args_os(),
        &stop,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr(),
        tty,
    );
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(e)) => {
            let _ = e.print();
            ExitCode::from(if e.use_stderr() { 2 } else { 0 })
        }
        // The reader went away (`dump | head`): not an error of ours.
        Err(CliError::Output(e) | CliError::Pipeline(PipelineError::Output(e)))
            if e.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The command line, with its inputs and outputs explicit (for tests).
pub fn run_with(
    spec: &AppSpec<'_>,
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    stop: &AtomicBool,
    out: &mut dyn Write,
    log: &mut dyn Write,
    tty: bool,
) -> Result<(), CliError> {
    let cli = Cli::try_parse_from(args).map_err(CliError::Usage)?;
    if let Command::Health {
        host,
        rest_port,
        timeout_ms,
    } = &cli.command
    {
        let host = host.as_deref().unwrap_or(&spec.api.host);
        let port = rest_port.unwrap_or(spec.api.rest_port);
        let status = probe::health(host, port, Duration::from_millis(*timeout_ms))
            .map_err(CliError::Unhealthy)?;
        writeln!(out, "{}: {status}", spec.name)?;
        return Ok(());
    }
    let base = cli.base_dir.unwrap_or_else(|| spec.base_dir.clone());
    let home = cli.home.unwrap_or_else(|| base.join(&spec.home_dir));
    let open =
        |env: &heed::Env<heed::WithoutTls>, txn: &mut heed::RwTxn| (spec.open)(&base, env, txn);
    let mut runner = Runner::open(&home, spec.map_size, &open, spec.skip_bad_records)?;
    if let Command::Run {
        batch_records,
        once,
        ..
    } = &cli.command
    {
        runner = runner.with_chunk_records(batch_records.unwrap_or(spec.batch_records));
        if *once {
            runner = runner.reading_files_as_they_are();
        }
    }
    match cli.command {
        Command::Run {
            once,
            poll_ms,
            batch_records: _,
            no_api,
            serve,
        } => {
            let _pipeline = claim_pipeline(spec.name, &home)?;
            // The log is written whoever serves it: `api` processes beside this one read it too.
            if spec.api.push_events {
                runner = runner.with_event_log(spec.api.event_retention);
            }
            let api = if once || no_api {
                None
            } else {
                let events = if spec.api.push_events {
                    let newest = {
                        let view = runner.store().read().map_err(PipelineError::from)?;
                        runner
                            .event_log()
                            .newest(&view)
                            .map_err(PipelineError::from)?
                    };
                    let (feed, notifier) = EventFeed::notified(runner.event_log(), newest);
                    runner = runner.with_notifier(notifier);
                    Events::Notified(feed)
                } else {
                    Events::Off
                };
                Some(start_api(spec, &runner, events, &serve, log)?)
            };
            let result = run(
                spec.name,
                &mut runner,
                stop,
                once,
                Duration::from_millis(poll_ms),
                log,
                tty,
            );
            match (result, api) {
                (Ok(()), Some(api)) => api.stop(),
                (Ok(()), None) => Ok(()),
                // The pipeline stopped (a source broke a query, say): the API goes on serving the
                // last consistent data until the app is stopped, so readers are not cut off.
                (Err(e), Some(api)) => {
                    writeln!(
                        log,
                        "error: {e}\n{}: the pipeline stopped; the API keeps serving the last consistent data until the app is stopped (Ctrl-C or SIGTERM)",
                        spec.name
                    )?;
                    while !stop.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    api.stop()?;
                    Err(e)
                }
                (Err(e), None) => Err(e),
            }
        }
        Command::Api { serve } => {
            let events = if spec.api.push_events {
                Events::Poll
            } else {
                Events::Off
            };
            let api = start_api(spec, &runner, events, &serve, log)?;
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            writeln!(log, "{}: stopping the API", spec.name)?;
            api.stop()
        }
        Command::Dump { endpoint } => {
            runner.dump(&endpoint, out)?;
            Ok(())
        }
        Command::Info => info(spec.name, &runner, out),
        Command::Token { all, access, ttl } => {
            let auth = authorizer(spec, &runner)?.ok_or_else(|| {
                CliError::Auth(format!(
                    "{} has no authentication: add `api_security: !Jwt <secret>` to the config's `api` section and build again, or set {MASTER_SECRET_ENV}",
                    spec.name
                ))
            })?;
            let access = match (all, access) {
                (true, _) => Access::All,
                (false, Some(text)) => serde_json::from_str(&text)
                    .map_err(|e| CliError::Auth(format!("`--access` is not an access: {e}")))?,
                (false, None) => {
                    return Err(CliError::Auth(
                        "pass `--all` (a master token) or `--access <JSON>`".into(),
                    ))
                }
            };
            let ttl = parse_ttl(&ttl).map_err(|e| CliError::Auth(format!("`--ttl`: {e}")))?;
            let (token, claims) = auth
                .issue(&access, &format!("{} token", spec.name), ttl, None)
                .map_err(|e| CliError::Auth(e.to_string()))?;
            writeln!(out, "{token}")?;
            writeln!(
                log,
                "{}: token valid until {}",
                spec.name,
                rest::expires_at(claims.exp)
            )?;
            Ok(())
        }
        Command::Health { .. } => unreachable!("answered before the store is opened"),
        Command::Retire => {
            let mut connections: Vec<&PgConnection> = vec![];
            for s in runner.pipeline().sources() {
                if let SourceKind::Postgres(t) = &s.kind {
                    if !connections.iter().any(|c| c.name == t.connection.name) {
                        connections.push(&t.connection);
                    }
                }
            }
            if connections.is_empty() {
                writeln!(
                    out,
                    "{}: no PostgreSQL sources, nothing to retire",
                    spec.name
                )?;
            }
            for c in connections {
                let done = c.retire().map_err(PipelineError::Source)?;
                for line in done {
                    writeln!(out, "connection `{}`: {line}", c.name)?;
                }
            }
            writeln!(
                out,
                "{}: the store in {} cannot follow these sources any more; delete it when you no longer need its data",
                spec.name,
                runner.store().path().display()
            )?;
            Ok(())
        }
    }
}

fn run(
    name: &str,
    runner: &mut Runner,
    stop: &AtomicBool,
    once: bool,
    poll: Duration,
    log: &mut dyn Write,
    tty: bool,
) -> Result<(), CliError> {
    let sources: Vec<String> = runner
        .pipeline()
        .sources()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let mut progress = Progress::new(&sources, tty);
    writeln!(
        log,
        "{name}: ingesting {} source(s) into {}",
        sources.len(),
        runner.store().path().display()
    )?;
    let started = Instant::now();
    let mut caught_up_once = false;
    while !stop.load(Ordering::SeqCst) {
        let stats = runner.step()?;
        progress.update(&runner.progress(), log)?;
        if stats.chunks > 0 {
            continue;
        }
        if stats.busy {
            // A source is still on its way (a snapshot being copied): not caught up yet.
            runner.wait(poll.min(Duration::from_millis(50)));
            continue;
        }
        if !caught_up_once {
            caught_up_once = true;
            runner.mark_streaming()?;
            let total: u64 = runner.ingested().iter().sum();
            progress.finish();
            writeln!(
                log,
                "{name}: caught up: {total} rows in {:.1}s",
                started.elapsed().as_secs_f64()
            )?;
            if runner.bad_records().skipped() > 0 {
                writeln!(
                    log,
                    "{name}: {} unreadable record(s) skipped, e.g.:",
                    runner.bad_records().skipped()
                )?;
                for example in runner.bad_records().examples.iter().take(5) {
                    writeln!(log, "  {example}")?;
                }
            }
        }
        if once {
            break;
        }
        // Wait for new data: a PostgreSQL transaction wakes the runner at once, files are looked
        // at again after `poll`.
        runner.wait(poll);
    }
    if stop.load(Ordering::SeqCst) {
        writeln!(log, "{name}: stopped; every committed change is kept")?;
    }
    Ok(())
}

/// One process at a time runs an app's pipeline on its store: a second one would apply the same
/// source changes again. The returned file holds the claim until it is dropped (or the process
/// dies, however it dies: the lock is the kernel's).
fn claim_pipeline(app: &str, home: &Path) -> Result<std::fs::File, CliError> {
    let path = home.join("pipeline.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| CliError::Busy(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(CliError::Busy(format!(
            "another `{app} run` is running the pipeline on {} (it holds {}); stop it first, or serve beside it with `{app} api`",
            home.display(),
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(CliError::Busy(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}

/// How the API learns of committed changes.
enum Events {
    /// From the runner in this process.
    Notified(EventFeed),
    /// By looking at the store's event log (another process runs the pipeline).
    Poll,
    /// `flags.push_events: false`.
    Off,
}

/// The API server of a running app: a thread with its own tokio runtime.
struct ApiServer {
    shutdown: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
}

impl ApiServer {
    /// Stops accepting requests, lets requests in flight finish, and waits for the server.
    fn stop(self) -> Result<(), CliError> {
        let _ = self.shutdown.send(());
        match self.thread.join() {
            Ok(result) => result.map_err(CliError::Serve),
            Err(_) => Err(CliError::Serve(std::io::Error::other(
                "the API thread panicked",
            ))),
        }
    }
}

/// Binds the REST port (so a port in use is reported right away) and serves on a thread.
fn start_api(
    spec: &AppSpec<'_>,
    runner: &Runner,
    events: Events,
    args: &ServeArgs,
    log: &mut dyn Write,
) -> Result<ApiServer, CliError> {
    let mut settings = spec.api.clone();
    if let Some(h) = &args.host {
        settings.host = h.clone();
        settings.grpc_host = h.clone();
    }
    if let Some(p) = args.rest_port {
        settings.rest_port = p;
    }
    if let Some(p) = args.grpc_port {
        settings.grpc_port = p;
    }
    // Before binding: an app whose secret is missing must not serve its data unauthenticated.
    let auth = authorizer(spec, runner)?;
    let bind = |host: &str, port: u16, what: &str, key: &str, flag: &str| {
        let addr = format!("{host}:{port}");
        let listener = std::net::TcpListener::bind(&addr).map_err(|e| {
            CliError::Serve(std::io::Error::new(
                e.kind(),
                format!("cannot listen for {what} on {addr}: {e} (set `{key}` or pass {flag})"),
            ))
        })?;
        listener.set_nonblocking(true).map_err(CliError::Serve)?;
        Ok::<_, CliError>(listener)
    };
    // `api.rest.enabled: false` / `api.grpc.enabled: false`: that server is not started.
    let mut listen = |enabled: bool, host: &str, port: u16, what: &str, key: &str, flag: &str| {
        if !enabled {
            writeln!(
                log,
                "{}: {what} API off (`{key}.enabled: false`)",
                spec.name
            )?;
            return Ok(None);
        }
        let listener = bind(host, port, what, &format!("{key}.port"), flag)?;
        let addr = listener.local_addr().map_err(CliError::Serve)?;
        let scheme = if what == "REST" { "http://" } else { "" };
        writeln!(log, "{}: {what} API on {scheme}{addr}", spec.name)?;
        Ok::<_, CliError>(Some(listener))
    };
    let rest_listener = listen(
        settings.rest_enabled,
        &settings.host,
        settings.rest_port,
        "REST",
        "api.rest",
        "--rest-port",
    )?;
    let grpc_listener = listen(
        settings.grpc_enabled,
        &settings.grpc_host,
        settings.grpc_port,
        "gRPC",
        "api.grpc",
        "--grpc-port",
    )?;
    if auth.is_some() {
        writeln!(
            log,
            "{}: the API needs a token (`Authorization: Bearer <token>`; `{} token --all` prints one)",
            spec.name, spec.name
        )?;
    }
    let app = spec.name.to_string();
    let typed = spec.typed;
    let (store, pipeline, meta, event_log) = (
        runner.store().clone(),
        runner.pipeline().clone(),
        runner.meta(),
        runner.event_log(),
    );
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("api".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let events = match events {
                    Events::Notified(feed) => Some(feed),
                    Events::Poll => Some(EventFeed::polling(event_log, store.clone())),
                    Events::Off => None,
                };
                // One signal stops both servers and ends the live streams.
                let (tx, rx) = tokio::sync::watch::channel(false);
                tokio::spawn(async move {
                    let _ = stopped.await;
                    let _ = tx.send(true);
                });
                let state = Arc::new(ApiState {
                    app,
                    store,
                    pipeline,
                    meta,
                    settings,
                    events,
                    typed,
                    auth,
                    stopping: rx.clone(),
                });
                let rest_listener = rest_listener
                    .map(tokio::net::TcpListener::from_std)
                    .transpose()?;
                let grpc_listener = grpc_listener
                    .map(tokio::net::TcpListener::from_std)
                    .transpose()?;
                let until = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
                    let _ = rx.wait_for(|stop| *stop).await;
                };
                let grpc = grpc_listener.map(|listener| {
                    tokio::spawn(grpc::server::serve(
                        listener,
                        state.clone(),
                        until(rx.clone()),
                    ))
                });
                match rest_listener {
                    Some(listener) => rest::serve(listener, state, until(rx)).await?,
                    None => until(rx).await,
                }
                match grpc {
                    Some(grpc) => grpc
                        .await
                        .map_err(std::io::Error::other)?
                        .map_err(std::io::Error::other),
                    None => Ok(()),
                }
            })
        })
        .map_err(CliError::Serve)?;
    Ok(ApiServer { shutdown, thread })
}

/// The app's token checks, when it has authentication (the config's secret or
/// DOZER_MASTER_SECRET).
fn authorizer(spec: &AppSpec<'_>, runner: &Runner) -> Result<Option<Authorizer>, CliError> {
    let settings = &spec.api.auth;
    let Some(secret) = settings.secret().map_err(CliError::Auth)? else {
        return Ok(None);
    };
    Authorizer::new(
        spec.name,
        &secret,
        settings.leeway,
        settings.token_ttl,
        runner.pipeline().endpoints().to_vec(),
        spec.api.limits,
    )
    .map(Some)
    .map_err(CliError::Auth)
}

fn info(name: &str, runner: &Runner, out: &mut dyn Write) -> Result<(), CliError> {
    writeln!(out, "app {name}")?;
    writeln!(
        out,
        "store {} (map {} MiB)",
        runner.store().path().display(),
        runner.store().map_size() >> 20
    )?;
    for (s, p) in runner.pipeline().sources().iter().zip(runner.positions()?) {
        writeln!(out, "source {}: {p}", s.name)?;
    }
    for (e, rows) in runner
        .pipeline()
        .endpoints()
        .iter()
        .zip(runner.row_counts()?)
    {
        writeln!(out, "endpoint {} ({}): {rows} rows", e.name, e.path)?;
        for f in &e.fields {
            writeln!(
                out,
                "  {} {}{}",
                f.name,
                f.ty,
                if f.nullable { " null" } else { " not null" }
            )?;
        }
    }
    Ok(())
}

/// Rows and rows/s per source: live lines on a terminal, a log line every few seconds otherwise.
struct Progress {
    bars: Option<(indicatif::MultiProgress, Vec<indicatif::ProgressBar>)>,
    names: Vec<String>,
    last_log: Instant,
    /// Rows per source at the last log line.
    logged: Vec<u64>,
}

const LOG_EVERY: Duration = Duration::from_secs(5);

impl Progress {
    fn new(names: &[String], tty: bool) -> Self {
        let bars = tty.then(|| {
            let multi = indicatif::MultiProgress::new();
            let style = indicatif::ProgressStyle::with_template(
                "{spinner} {prefix}: {human_pos} rows ({per_sec})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
            let bars = names
                .iter()
                .map(|n| {
                    let bar = multi.add(
                        indicatif::ProgressBar::new_spinner()
                            .with_style(style.clone())
                            .with_prefix(n.clone()),
                    );
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                })
                .collect();
            (multi, bars)
        });
        Progress {
            bars,
            names: names.to_vec(),
            last_log: Instant::now(),
            logged: vec![0; names.len()],
        }
    }

    fn update(&mut self, ingested: &[u64], log: &mut dyn Write) -> std::io::Result<()> {
        if let Some((_, bars)) = &self.bars {
            for (bar, n) in bars.iter().zip(ingested) {
                bar.set_position(*n);
            }
        } else if self.last_log.elapsed() >= LOG_EVERY {
            // A line per source that moved since the last one, with its rate over that interval:
            // an idle app (caught up, following) stays quiet.
            let secs = self.last_log.elapsed().as_secs_f64().max(1e-3);
            self.last_log = Instant::now();
            for ((name, n), logged) in self.names.iter().zip(ingested).zip(&mut self.logged) {
                if *n != *logged {
                    let rate = n.saturating_sub(*logged) as f64 / secs;
                    writeln!(log, "{name}: {n} rows ({rate:.0} rows/s)")?;
                    *logged = *n;
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self) {
        if let Some((_, bars)) = &self.bars {
            for bar in bars {
                bar.finish();
            }
        }
    }
}
