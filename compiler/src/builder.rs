//! `dozerc build`: emit the app crate and compile it with cargo into one binary.
//!
//! - The crate goes to `<home_dir>/generated/<app>/`; unchanged files are not rewritten.
//! - Every app shares one persistent cargo target directory (`$DOZERC_TARGET_DIR`, else the user
//!   cache directory), so dependencies and the runtime compile once per machine and a changed query
//!   recompiles only the app crate.
//! - The runtime's `Cargo.lock` is copied into the crate, so every app builds against the versions
//!   dozerc was tested with.
//! - cargo's own progress goes to the terminal; its diagnostics are read as JSON so an error in
//!   generated code is reported with the query it was generated from.

use std::io::{BufRead as _, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::check::Checked;
use crate::codegen::{self, CodegenError, EmitOptions};
use crate::image::{self, ImageError, WrittenImage};
use crate::program::{binary_name as name_of, Program};
use crate::sdk;

#[derive(Debug)]
pub enum BuildError {
    Codegen(CodegenError),
    /// The runtime crate could not be found.
    Runtime(String),
    Io(String, std::io::Error),
    /// cargo failed; the messages were printed.
    Cargo(String),
    Image(ImageError),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Codegen(e) => e.fmt(f),
            BuildError::Runtime(m) => f.write_str(m),
            BuildError::Io(what, e) => write!(f, "{what}: {e}"),
            BuildError::Cargo(m) => f.write_str(m),
            BuildError::Image(e) => write!(f, "cannot write the image: {e}"),
        }
    }
}

impl std::error::Error for BuildError {}

#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// Build without optimizations (faster to compile, slow to run).
    pub debug: bool,
    /// The shared target directory; `None`: `$DOZERC_TARGET_DIR` or the user cache.
    pub target_dir: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct Built {
    pub crate_dir: PathBuf,
    pub binary: PathBuf,
    /// Generated files that changed (0: the crate was up to date).
    pub files_written: usize,
}

/// The `dozer-runtime` crate: `$DOZERC_RUNTIME_DIR`, else the one dozerc was built beside.
pub fn runtime_dir() -> Result<PathBuf, BuildError> {
    let dir = match std::env::var_os("DOZERC_RUNTIME_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime"),
    };
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(BuildError::Runtime(format!(
            "cannot find the dozer-runtime crate at {} (set DOZERC_RUNTIME_DIR to the `runtime` directory of a dozerc checkout)",
            dir.display()
        )));
    }
    dir.canonicalize()
        .map_err(|e| BuildError::Io(format!("cannot resolve {}", dir.display()), e))
}

/// The shared target directory for app builds.
pub fn target_dir(opts: &BuildOptions) -> PathBuf {
    if let Some(d) = &opts.target_dir {
        return d.clone();
    }
    if let Some(d) = std::env::var_os("DOZERC_TARGET_DIR") {
        return PathBuf::from(d);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("dozerc").join("target")
}

/// The app crate's directory: `<home_dir>/generated/<app>`.
pub fn crate_dir(checked: &Checked) -> Option<PathBuf> {
    let config = checked.config.as_ref()?;
    let home = config
        .home_dir
        .as_ref()
        .map_or("./.dozer", |h| h.value.as_str());
    Some(
        config
            .resolve_path(home.trim_start_matches("./"))
            .join("generated")
            .join(name_of(config.app_name())),
    )
}

/// Where dozerc writes the app's OpenAPI document: `<app>.openapi.json` beside the config.
pub fn openapi_path(checked: &Checked) -> Option<PathBuf> {
    let config = checked.config.as_ref()?;
    Some(
        config
            .base_dir
            .join(format!("{}.openapi.json", name_of(config.app_name()))),
    )
}

/// The client SDKs of a checked config (no errors in it), and the directory they belong in (the
/// config's).
pub fn sdk(checked: &Checked) -> Result<(sdk::Sdk, PathBuf), BuildError> {
    let Some(config) = &checked.config else {
        return Err(BuildError::Codegen(CodegenError::Internal(
            "no config to generate SDKs for".into(),
        )));
    };
    let program = Program::new(config, &checked.catalog, &checked.queries);
    let input = sdk::SdkInput::new(&program).map_err(BuildError::Codegen)?;
    Ok((sdk::generate(&input), config.base_dir.clone()))
}

/// Writes the client SDKs beside the config; returns how many files changed.
pub fn write_sdk(checked: &Checked) -> Result<usize, BuildError> {
    let (sdk, dir) = sdk(checked)?;
    sdk.write(&dir)
        .map_err(|e| BuildError::Io(format!("cannot write the SDKs under {}", dir.display()), e))
}

/// The app crate as written: its directory, the number of files written, and which query each
/// function of `src/pipeline.rs` was generated for (to place compiler errors).
pub struct Generated {
    pub dir: PathBuf,
    pub written: usize,
    app: codegen::AppCrate,
}

/// Writes the app crate for a checked config (no errors in it).
pub fn generate(checked: &Checked, config_name: &str) -> Result<Generated, BuildError> {
    let Some(config) = &checked.config else {
        return Err(BuildError::Codegen(CodegenError::Internal(
            "no config to build".into(),
        )));
    };
    let runtime = runtime_dir()?;
    let base_dir = absolute(&config.base_dir)?;
    let program = Program::new(config, &checked.catalog, &checked.queries);
    let app = codegen::emit(
        &program,
        &EmitOptions {
            runtime_dir: &runtime,
            config_name,
            base_dir: &base_dir,
        },
    )
    .map_err(BuildError::Codegen)?;
    let dir = crate_dir(checked)
        .ok_or_else(|| BuildError::Codegen(CodegenError::Internal("no config to build".into())))?;
    let written = app
        .write(&dir)
        .map_err(|e| BuildError::Io(format!("cannot write {}", dir.display()), e))?;
    // The OpenAPI document next to the config, for client generation.
    if let Some(doc) = app.files.get(codegen::OPENAPI_FILE) {
        let path = openapi_path(checked).unwrap_or_else(|| dir.join(codegen::OPENAPI_FILE));
        if std::fs::read_to_string(&path).ok().as_deref() != Some(doc.as_str()) {
            std::fs::write(&path, doc)
                .map_err(|e| BuildError::Io(format!("cannot write {}", path.display()), e))?;
        }
    }
    // The `.proto` files next to the config, for client generation (like the OpenAPI document).
    for (path, text) in &app.files {
        let Some(rel) = path.strip_prefix(&format!("{}/", codegen::PROTO_DIR)) else {
            continue;
        };
        let target = config.base_dir.join(codegen::PROTO_DIR).join(rel);
        if std::fs::read_to_string(&target).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| BuildError::Io(format!("cannot create {}", parent.display()), e))?;
        }
        std::fs::write(&target, text)
            .map_err(|e| BuildError::Io(format!("cannot write {}", target.display()), e))?;
    }
    copy_lock(&runtime.join("../Cargo.lock"), &dir)?;
    Ok(Generated { dir, written, app })
}

/// The runtime's lock file pins every dependency, so an app builds with exactly the versions
/// dozerc was tested with (and offline); cargo adds the app itself to the copy. The copy is made
/// again whenever the runtime's lock changes (a dozerc upgrade), which a marker beside it records.
fn copy_lock(lock: &Path, dir: &Path) -> Result<(), BuildError> {
    let Ok(pinned) = std::fs::read_to_string(lock) else {
        return Ok(()); // an installed dozerc without its workspace: cargo resolves
    };
    let marker = dir.join(".dozerc-lock");
    let print = codegen::fingerprint(&pinned);
    if dir.join("Cargo.lock").is_file()
        && std::fs::read_to_string(&marker).is_ok_and(|m| m.trim() == print)
    {
        return Ok(());
    }
    std::fs::write(dir.join("Cargo.lock"), &pinned)
        .and_then(|()| std::fs::write(&marker, &print))
        .map_err(|e| BuildError::Io("cannot copy Cargo.lock".into(), e))
}

fn absolute(p: &Path) -> Result<PathBuf, BuildError> {
    let p = if p.as_os_str().is_empty() {
        Path::new(".")
    } else {
        p
    };
    p.canonicalize()
        .map_err(|e| BuildError::Io(format!("cannot resolve {}", p.display()), e))
}

/// Generates the crate and compiles it. cargo's progress goes to stderr; `log` gets dozerc's own
/// messages (errors mapped to queries).
pub fn build(
    checked: &Checked,
    config_name: &str,
    opts: &BuildOptions,
    log: &mut dyn Write,
) -> Result<Built, BuildError> {
    let generated = generate(checked, config_name)?;
    write_sdk(checked)?;
    let (dir, files_written) = (&generated.dir, generated.written);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = target_dir(opts);
    // Apps share the target directory, and cargo puts every app's binary at
    // `<target>/<profile>/<app>`: two apps of the same name (two checkouts, two tests) would
    // overwrite each other's. So each build installs its binary into its own home, and holds this
    // lock from compiling until the binary is installed.
    std::fs::create_dir_all(&target)
        .map_err(|e| BuildError::Io(format!("cannot create {}", target.display()), e))?;
    let lock_path = target.join(".dozerc-build.lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| BuildError::Io(format!("cannot create {}", lock_path.display()), e))?;
    lock.lock()
        .map_err(|e| BuildError::Io(format!("cannot lock {}", lock_path.display()), e))?;
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .arg("--message-format=json-render-diagnostics")
        // A lint wrapper of the calling environment (`cargo clippy`, or CI linting while it builds)
        // is not meant for generated code, and would give the shared target directory a second
        // build of every app crate.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if !opts.debug {
        cmd.arg("--release");
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| BuildError::Io("cannot run cargo (is it on PATH?)".into(), e))?;
    let stdout = child.stdout.take().expect("piped");
    let app = name_of(checked.config.as_ref().expect("checked above").app_name());
    let mut binary = None;
    let mut errors = vec![];
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        match msg["reason"].as_str() {
            Some("compiler-artifact") if msg["target"]["name"] == app.as_str() => {
                if let Some(exe) = msg["executable"].as_str() {
                    binary = Some(PathBuf::from(exe));
                }
            }
            Some("compiler-message") if msg["message"]["level"] == "error" => {
                errors.push(locate_error(&msg["message"], &generated, checked));
            }
            _ => {}
        }
    }
    let status = child
        .wait()
        .map_err(|e| BuildError::Io("cargo did not finish".into(), e))?;
    if !status.success() {
        for e in &errors {
            writeln!(log, "{e}").ok();
        }
        return Err(BuildError::Cargo(format!(
            "cargo could not compile the generated crate in {}{}",
            dir.display(),
            if errors.is_empty() {
                String::new()
            } else {
                " (this is a bug in dozerc: please report it with your config)".into()
            }
        )));
    }
    let built = binary.ok_or_else(|| {
        BuildError::Cargo(format!(
            "cargo built no `{app}` binary in {}",
            dir.display()
        ))
    })?;
    // `<home_dir>/generated/<app>` → `<home_dir>/bin/<app>`.
    let bin_dir = dir
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| dir.join("bin"), |home| home.join("bin"));
    let binary = install(&built, &bin_dir.join(&app))?;
    drop(lock);
    Ok(Built {
        crate_dir: dir.clone(),
        binary,
        files_written,
    })
}

/// `build --image`: the OCI image of a built app (its installed `binary`) and its `Dockerfile`,
/// in `<home_dir>/image/` beside `<home_dir>/bin/`.
pub fn image(
    checked: &Checked,
    binary: &Path,
    tag: &str,
    format: image::ImageFormat,
) -> Result<WrittenImage, BuildError> {
    let Some(config) = &checked.config else {
        return Err(BuildError::Codegen(CodegenError::Internal(
            "no config to build".into(),
        )));
    };
    let program = Program::new(config, &checked.catalog, &checked.queries);
    let ingest_ports = program.sources.iter().filter_map(|s| match &s.read {
        Some(crate::catalog::read::SourceRead::Grpc(g)) => Some(g.port),
        _ => None,
    });
    let layout = image::Layout::new(
        &program.binary_name(),
        program.settings.rest_port,
        program.settings.grpc_port,
    )
    .with_ingest_ports(ingest_ports);
    let home = binary
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    image::write(binary, &layout, tag, format, &home.join("image")).map_err(BuildError::Image)
}

/// Copies the binary cargo built to `to`, atomically (a running app keeps its old file), unless
/// the installed one is already this build's. A copy, not a hard link: the linker may reuse
/// cargo's file for the next build.
fn install(built: &Path, to: &Path) -> Result<PathBuf, BuildError> {
    let io = |what: &str, p: &Path| {
        let what = format!("{what} {}", p.display());
        move |e| BuildError::Io(what, e)
    };
    let meta = std::fs::metadata(built).map_err(io("cannot read", built))?;
    let modified = meta.modified().map_err(io("cannot read", built))?;
    if let Ok(old) = std::fs::metadata(to) {
        if old.len() == meta.len() && old.modified().ok() == Some(modified) {
            return Ok(to.to_path_buf());
        }
    }
    let dir = to.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    let tmp = to.with_extension("installing");
    let _ = std::fs::remove_file(&tmp);
    std::fs::copy(built, &tmp).map_err(io("cannot copy the binary to", &tmp))?;
    std::fs::File::options()
        .write(true)
        .open(&tmp)
        .and_then(|f| f.set_modified(modified))
        .map_err(io("cannot stamp", &tmp))?;
    std::fs::rename(&tmp, to).map_err(io("cannot install", to))?;
    Ok(to.to_path_buf())
}

/// Says which generated file, line and query a compiler error comes from.
fn locate_error(message: &serde_json::Value, generated: &Generated, checked: &Checked) -> String {
    let text = message["message"].as_str().unwrap_or("error");
    let Some(span) = message["spans"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["is_primary"] == true))
    else {
        return format!("error in generated code: {text}");
    };
    let file = span["file_name"].as_str().unwrap_or("?");
    let line = span["line_start"].as_u64().unwrap_or(0);
    let mut out = format!(
        "error in generated code {}/{file}:{line}: {text}",
        generated.dir.display()
    );
    let query = (file == "src/pipeline.rs")
        .then(|| generated.app.query_at(line as usize))
        .flatten()
        .and_then(|i| checked.queries.get(i));
    if let Some(q) = query {
        out.push_str(&format!(
            "\n  generated for `SELECT ... INTO {}`:\n    {}",
            q.into,
            q.sql.trim().replace('\n', "\n    ")
        ));
    }
    out
}
