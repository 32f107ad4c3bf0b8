//! The `dozerc` command line.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use dozerc::builder::{self, BuildOptions, Built};
use dozerc::catalog::LockMode;
use dozerc::check::{check_paths, CheckOptions, Checked};
use dozerc::diagnostic::{render, to_json, Diagnostics, RenderOptions, SourceMap};
use dozerc::sql::plan::Key;

#[derive(Parser)]
#[command(
    name = "dozerc",
    version,
    about = "Compile dozer-config.yaml + SQL into a real-time data API binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Human,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(clap::Args)]
struct Common {
    /// Config files (merged in order); SQL is also read from `queries/*.sql` beside the first one.
    #[arg(default_value = "dozer-config.yaml")]
    config: Vec<PathBuf>,
    /// Resolve every source live and fail if its schema differs from dozer.lock.
    #[arg(long, conflicts_with = "refresh")]
    locked: bool,
    /// Resolve every source live and rewrite dozer.lock.
    #[arg(long)]
    refresh: bool,
    #[arg(long, value_enum, default_value = "auto")]
    color: Color,
}

#[derive(Subcommand)]
enum Command {
    /// Type-check the config and SQL against the real source schemas; print every problem.
    Check {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Check, generate the app crate and compile it into one binary; prints the binary's path last.
    Build {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        build: BuildArgs,
    },
    /// Build the app, then run it (`<app> run` with the arguments after `--`).
    Run {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        build: BuildArgs,
        /// Arguments for the app's `run` command (e.g. `-- --once`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Write the typed client SDKs (TypeScript, Python, React) to `sdk/` beside the config,
    /// without compiling the app; `--check` only tells whether the committed ones are current.
    Sdk {
        #[command(flatten)]
        common: Common,
        /// Change nothing; exit non-zero listing each SDK file that differs from what the config
        /// generates now (for CI).
        #[arg(long)]
        check: bool,
    },
    /// Print the schema and primary key of every source and every SELECT ... INTO table.
    Schema {
        #[command(flatten)]
        common: Common,
        /// Also print each table's logical plan.
        #[arg(long)]
        plan: bool,
    },
}

#[derive(clap::Args)]
struct BuildArgs {
    /// Compile without optimizations (quicker to build, much slower to run).
    #[arg(long)]
    debug: bool,
    /// The cargo target directory shared by all apps (default: $DOZERC_TARGET_DIR or
    /// ~/.cache/dozerc/target).
    #[arg(long)]
    target_dir: Option<PathBuf>,
    /// Also write an OCI image archive of the app (no daemon, no base image; `podman load -i` or
    /// `docker load -i`) and a Dockerfile, in `<home_dir>/image/`; prints the archive's path last.
    #[arg(long)]
    image: bool,
    /// The image's tag (its name is the app's).
    #[arg(long, default_value = "latest", requires = "image")]
    tag: String,
    /// The archive's layout: `oci` (loads into podman and Docker), or `docker` (Docker's
    /// `docker save` layout, the one from which podman also keeps the health check).
    #[arg(long, value_enum, default_value = "oci", requires = "image")]
    image_format: dozerc::image::ImageFormat,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let started = Instant::now();
    let (common, format, plan) = match &cli.command {
        Command::Check { common, format } => (common, *format, false),
        Command::Schema { common, plan } => (common, Format::Human, *plan),
        Command::Build { common, .. }
        | Command::Run { common, .. }
        | Command::Sdk { common, .. } => (common, Format::Human, false),
    };
    let lock_mode = if common.locked {
        LockMode::Locked
    } else if common.refresh {
        LockMode::Refresh
    } else {
        LockMode::Normal
    };
    let mut map = SourceMap::default();
    let mut diags = Diagnostics::default();
    let checked = check_paths(
        &common.config,
        CheckOptions { lock_mode },
        &mut map,
        &mut diags,
    );
    let wants_image = matches!(&cli.command, Command::Build { build, .. } if build.image);
    if let (true, Some(config)) = (wants_image, &checked.config) {
        for d in dozerc::image::check(config) {
            diags.push(d);
        }
    }

    let color = match common.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    match format {
        Format::Json => {
            let list: Vec<_> = diags
                .sorted()
                .into_iter()
                .map(|d| to_json(d, &map))
                .collect();
            let out = serde_json::json!({
                "ok": !diags.has_errors(),
                "errors": diags.error_count(),
                "warnings": diags.warning_count(),
                "diagnostics": list,
            });
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        }
        Format::Human => {
            let opts = RenderOptions { color, width: 100 };
            for d in diags.sorted() {
                eprint!("{}", render(d, &map, opts));
                eprintln!();
            }
            if matches!(cli.command, Command::Schema { .. }) && !diags.has_errors() {
                print_schema(&checked, plan);
            }
            eprintln!(
                "{}",
                summary(&checked, &diags, started.elapsed().as_secs_f64())
            );
        }
    }
    if diags.has_errors() {
        return ExitCode::FAILURE;
    }
    match &cli.command {
        Command::Build { common, build } => match build_app(&checked, common, build) {
            Ok(built) if build.image => image(&checked, &built, build),
            Ok(built) => {
                println!("{}", built.binary.display());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Run {
            common,
            build,
            args,
        } => match build_app(&checked, common, build) {
            Ok(built) => run_app(&built.binary, args),
            Err(code) => code,
        },
        Command::Sdk { check, .. } => sdk(&checked, *check),
        _ => ExitCode::SUCCESS,
    }
}

fn sdk(checked: &Checked, check: bool) -> ExitCode {
    let (sdk, dir) = match builder::sdk(checked) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if check {
        let stale = sdk.check(&dir);
        if stale.is_empty() {
            eprintln!(
                "the SDKs under {} are current ({} files)",
                dir.join(dozerc::sdk::SDK_DIR).display(),
                sdk.files.len()
            );
            return ExitCode::SUCCESS;
        }
        for s in &stale {
            eprintln!(
                "{}: {}",
                s.path.display(),
                match s.how {
                    dozerc::sdk::Staleness::Differs => "differs from what the config generates",
                    dozerc::sdk::Staleness::Missing => "missing",
                    dozerc::sdk::Staleness::NotGenerated =>
                        "not generated by this config any more (`dozerc sdk` removes it)",
                }
            );
        }
        eprintln!(
            "error: {} SDK file{} out of date; run `dozerc sdk` and commit the result",
            stale.len(),
            if stale.len() == 1 { " is" } else { "s are" }
        );
        return ExitCode::FAILURE;
    }
    match sdk.write(&dir) {
        Ok(written) => {
            eprintln!(
                "wrote the SDKs to {} ({written} of {} files changed)",
                dir.join(dozerc::sdk::SDK_DIR).display(),
                sdk.files.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write the SDKs under {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}

fn image(checked: &Checked, built: &Built, args: &BuildArgs) -> ExitCode {
    let started = Instant::now();
    match builder::image(checked, &built.binary, &args.tag, args.image_format) {
        Ok(image) => {
            let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
            eprintln!(
                "wrote the image {} to {} in {:.1}s: {:.1} MiB ({:.1} MiB unpacked), manifest {}",
                image.reference,
                image.archive.display(),
                started.elapsed().as_secs_f64(),
                mib(image.archive_bytes),
                mib(image.layer_bytes),
                image.manifest_digest
            );
            eprintln!(
                "  load it: podman load -i {0}   (or docker load -i {0})
  run it:  podman run -p {1}:{1} -p {2}:{2} -v {3}-store:/data {4}
  own build: {5} (context: its directory)",
                image.archive.display(),
                image.layout.rest_port,
                image.layout.grpc_port,
                image.layout.app,
                image.reference,
                image.dockerfile.display()
            );
            println!("{}", image.archive.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn build_app(checked: &Checked, common: &Common, args: &BuildArgs) -> Result<Built, ExitCode> {
    let started = Instant::now();
    let config_name = common
        .config
        .first()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let opts = BuildOptions {
        debug: args.debug,
        target_dir: args.target_dir.clone(),
    };
    match builder::build(checked, &config_name, &opts, &mut std::io::stderr()) {
        Ok(built) => {
            eprintln!(
                "built {} in {:.1}s ({} generated file{} changed, crate in {})",
                built.binary.display(),
                started.elapsed().as_secs_f64(),
                built.files_written,
                if built.files_written == 1 { "" } else { "s" },
                built.crate_dir.display()
            );
            Ok(built)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// Replaces this process with the app's `run` (so Ctrl-C and SIGTERM reach the app alone).
fn run_app(binary: &std::path::Path, args: &[String]) -> ExitCode {
    let mut cmd = std::process::Command::new(binary);
    cmd.arg("run").args(args);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        let e = cmd.exec();
        eprintln!("error: cannot run {}: {e}", binary.display());
        ExitCode::FAILURE
    }
    #[cfg(not(unix))]
    match cmd.status() {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: cannot run {}: {e}", binary.display());
            ExitCode::FAILURE
        }
    }
}

fn summary(checked: &Checked, diags: &Diagnostics, secs: f64) -> String {
    let plural = |n: usize, one: &str| {
        let many = match one {
            "query" => "queries".to_string(),
            other => format!("{other}s"),
        };
        format!("{n} {}", if n == 1 { one } else { many.as_str() })
    };
    if diags.has_errors() {
        let mut s = format!("error: {} found", plural(diags.error_count(), "error"));
        if diags.warning_count() > 0 {
            s.push_str(&format!(", {}", plural(diags.warning_count(), "warning")));
        }
        return s;
    }
    let Some(config) = &checked.config else {
        return "ok".into();
    };
    format!(
        "ok: app `{}`: {}, {}, {}{} ({:.2}s)",
        config.app_name(),
        plural(config.sources.len(), "source"),
        plural(checked.queries.len(), "query"),
        plural(config.endpoints.len(), "endpoint"),
        if diags.warning_count() > 0 {
            format!(", {}", plural(diags.warning_count(), "warning"))
        } else {
            String::new()
        },
        secs
    )
}

fn print_schema(checked: &Checked, with_plan: bool) {
    let Some(config) = &checked.config else {
        return;
    };
    let print_fields = |fields: &[(String, String)], key: &str| {
        let width = fields.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        for (n, t) in fields {
            println!("  {n:width$}  {t}");
        }
        println!("  primary key: {key}");
    };
    for source in &config.sources {
        let Some(entry) = checked.catalog.sources.get(&source.name.value) else {
            continue;
        };
        println!("source {}", source.name.value);
        let fields: Vec<(String, String)> = entry
            .schema
            .columns
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    format!("{}{}", c.ty, if c.nullable { " null" } else { " not null" }),
                )
            })
            .collect();
        let pk = entry.schema.primary_key_names();
        print_fields(
            &fields,
            &if pk.is_empty() {
                "none (records get a synthetic id)".into()
            } else {
                format!("({})", pk.join(", "))
            },
        );
        println!();
    }
    for q in &checked.queries {
        println!("table {}", q.into);
        let fields: Vec<(String, String)> = q
            .plan
            .schema
            .fields
            .iter()
            .map(|f| {
                (
                    f.name.clone(),
                    format!("{}{}", f.ty, if f.nullable { " null" } else { " not null" }),
                )
            })
            .collect();
        let key = match &q.plan.schema.key {
            Key::Columns(_) => format!("({})", q.plan.schema.key_names().join(", ")),
            Key::Singleton => "() (a single row)".into(),
            Key::Synthetic => "none (records get a synthetic id)".into(),
        };
        print_fields(&fields, &key);
        if with_plan {
            println!("  plan:");
            for line in q.plan.to_string().lines() {
                println!("    {line}");
            }
        }
        println!();
    }
}
