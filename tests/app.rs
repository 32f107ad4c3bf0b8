//! Building and driving real app binaries: `dozerc build` through the library (the same code path
//! as the command line), then the binary's own `run`, `dump` and `info` as child processes.
//!
//! Every test app builds into one shared target directory (`target/dozerc-apps`), so the runtime
//! and its dependencies compile once per checkout and each app costs only its own crate.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dozer_types::{SqlType, Value};
use dozerc::builder::{self, BuildOptions};
use dozerc::catalog::LockMode;
use dozerc::check::{check_paths, CheckOptions, Checked};
use dozerc::diagnostic::{render, Diagnostics, RenderOptions, SourceMap};

/// A built app: its binary and the checked config it came from (for endpoint schemas).
pub struct App {
    pub binary: PathBuf,
    pub checked: Checked,
}

pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/dozerc-apps")
}

/// Checks and builds the app of `config` (release profile) into the tests' shared target
/// directory; panics with the diagnostics or the build error.
pub fn build(config: &Path) -> App {
    build_into(config, &target_dir())
}

/// [`build`] into another cargo target directory (the benchmark's cold build).
pub fn build_into(config: &Path, target: &Path) -> App {
    let checked = check(config);
    let opts = BuildOptions {
        debug: false,
        target_dir: Some(target.to_path_buf()),
    };
    let mut log = vec![];
    match builder::build(&checked, &config.display().to_string(), &opts, &mut log) {
        Ok(built) => App {
            binary: built.binary,
            checked,
        },
        Err(e) => panic!("build failed: {e}\n{}", String::from_utf8_lossy(&log)),
    }
}

/// `dozerc check` of `config` (the lock file as the command uses it); panics with the rendered
/// diagnostics.
pub fn check(config: &Path) -> Checked {
    let mut map = SourceMap::default();
    let mut diags = Diagnostics::default();
    let checked = check_paths(
        &[config.to_path_buf()],
        CheckOptions {
            lock_mode: LockMode::Normal,
        },
        &mut map,
        &mut diags,
    );
    if diags.has_errors() {
        let shown: String = diags
            .sorted()
            .into_iter()
            .map(|d| render(d, &map, RenderOptions::default()))
            .collect();
        panic!("{} does not check:\n{shown}", config.display());
    }
    checked
}

/// `dozerc check`'s rendered errors for `config` (empty when it checks clean).
pub fn check_errors(config: &Path) -> String {
    let mut map = SourceMap::default();
    let mut diags = Diagnostics::default();
    check_paths(
        &[config.to_path_buf()],
        CheckOptions {
            lock_mode: LockMode::Normal,
        },
        &mut map,
        &mut diags,
    );
    diags
        .sorted()
        .into_iter()
        .filter(|d| d.severity == dozerc::diagnostic::Severity::Error)
        .map(|d| render(d, &map, RenderOptions::default()))
        .collect()
}

impl App {
    /// Runs the binary with `args`; panics unless it succeeds.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = Command::new(&self.binary)
            .args(args)
            .output()
            .expect("the app binary runs");
        assert!(
            out.status.success(),
            "`{} {}` failed:\n{}",
            self.binary.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The fields (name, type) of the table an endpoint serves.
    pub fn endpoint_fields(&self, endpoint: &str) -> Vec<(String, SqlType)> {
        let config = self.checked.config.as_ref().expect("checked config");
        let ep = config
            .endpoints
            .iter()
            .find(|e| e.name.value == endpoint)
            .unwrap_or_else(|| panic!("no endpoint {endpoint}"));
        let table = &ep.table_name.value;
        if let Some(q) = self.checked.queries.iter().find(|q| &q.into == table) {
            return q
                .plan
                .schema
                .fields
                .iter()
                .map(|f| (f.name.clone(), f.ty))
                .collect();
        }
        self.checked.catalog.sources[table]
            .schema
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.ty))
            .collect()
    }

    /// An endpoint's rows (`dump`), as values in field order.
    pub fn dump(&self, endpoint: &str) -> Vec<Vec<Value>> {
        let fields = self.endpoint_fields(endpoint);
        let out = self.run(&["dump", endpoint]);
        String::from_utf8(out.stdout)
            .expect("utf-8 dump")
            .lines()
            .map(|line| {
                let object: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
                assert!(object["__dozer_record_id"].as_u64().is_some(), "{line}");
                fields
                    .iter()
                    .map(|(name, ty)| from_json(*ty, &object[name.as_str()]))
                    .collect()
            })
            .collect()
    }
}

/// The value a field's JSON form (as `dump` and the REST API print it) stands for.
pub fn from_json(ty: SqlType, v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    if v.is_null() {
        return Value::Null;
    }
    let text = || {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    };
    match ty {
        SqlType::Boolean => Value::Boolean(v.as_bool().expect("bool")),
        SqlType::Int => Value::Int(v.as_i64().expect("int")),
        SqlType::UInt => Value::UInt(v.as_u64().expect("uint")),
        SqlType::Float => match v {
            J::Number(n) => Value::Float(n.as_f64().expect("float")),
            other => Value::Float(other.as_str().and_then(|s| s.parse().ok()).expect("float")),
        },
        SqlType::Decimal => Value::Decimal(text().parse().expect("decimal")),
        SqlType::String => Value::String(text()),
        SqlType::Text => Value::Text(text()),
        SqlType::Timestamp => Value::Timestamp(
            chrono::DateTime::parse_from_rfc3339(&text())
                .expect("RFC 3339")
                .to_utc(),
        ),
        SqlType::Date => Value::Date(text().parse().expect("date")),
        SqlType::Json => Value::Json(v.clone()),
        SqlType::Binary | SqlType::Duration => panic!("{ty} in a test endpoint"),
    }
}

/// A running app binary that serves its API; its stderr is collected. Killed on drop.
pub struct Serving {
    pub child: std::process::Child,
    /// `http://127.0.0.1:<port>` of the REST API and of the gRPC API (empty when the config
    /// turns gRPC off).
    pub rest: String,
    pub grpc: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Serving {
    /// `<binary> <args>` with both APIs on free ports of 127.0.0.1, once it says where they are.
    pub fn start(binary: &Path, args: &[&str]) -> Serving {
        Serving::start_on(binary, args, 0, 0)
    }

    /// [`Serving::start`] on the given ports (0: any free one), for an app restarted where its
    /// clients expect it.
    pub fn start_on(binary: &Path, args: &[&str], rest_port: u16, grpc_port: u16) -> Serving {
        use std::io::BufRead as _;
        let mut child = Command::new(binary)
            .args(args)
            .args(["--host", "127.0.0.1", "--rest-port"])
            .arg(rest_port.to_string())
            .arg("--grpc-port")
            .arg(grpc_port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (mut rest, mut grpc) = (None, None);
        while rest.is_none() || grpc.is_none() {
            let line = lines.next().expect("the app prints its addresses").unwrap();
            if let Some(at) = line.split("REST API on ").nth(1) {
                rest = Some(at.trim().to_string());
            }
            if let Some(at) = line.split("gRPC API on ").nth(1) {
                grpc = Some(format!("http://{}", at.trim()));
            }
            // `api.grpc.enabled: false`: no gRPC address.
            if line.contains("gRPC API off") {
                grpc = Some(String::new());
            }
            log.lock().unwrap().push_str(&format!("{line}\n"));
        }
        std::thread::spawn({
            let log = log.clone();
            move || {
                for line in lines.map_while(Result::ok) {
                    log.lock().unwrap().push_str(&format!("{line}\n"));
                }
            }
        });
        Serving {
            child,
            rest: rest.unwrap(),
            grpc: grpc.unwrap(),
            log,
        }
    }

    /// Everything the app wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The e-commerce example's config and lock file copied into `dir`, with `rows` generated sales
/// (seeded) as `data/sales/sales.csv`; returns the config's path.
pub fn ecommerce_in(dir: &Path, rows: u64, seed: u64) -> PathBuf {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/ecommerce");
    let config = dir.join("dozer-config.yaml");
    copy(&example.join("dozer-config.yaml"), &config);
    copy(&example.join("dozer.lock"), &dir.join("dozer.lock"));
    if rows > 0 {
        std::fs::create_dir_all(dir.join("data/sales")).unwrap();
        crate::gen_data::generate(rows, seed, &dir.join("data/sales/sales.csv")).unwrap();
    }
    config
}

pub fn copy(from: &Path, to: &Path) {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
}

/// A virtualenv under `target/` with `packages` from PyPI, made once per checkout (`import` is a
/// Python statement that succeeds once they are installed).
pub fn venv(name: &str, packages: &[&str], import: &str) -> std::path::PathBuf {
    // The tests run as threads of one binary: one of them makes a virtualenv while the others
    // that need one wait.
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = MAKING.lock().unwrap_or_else(|p| p.into_inner());
    let venv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target")
        .join(name);
    let python = venv.join("bin/python");
    let ready = || {
        Command::new(&python)
            .args(["-c", import])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ready() {
        let made = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .unwrap();
        assert!(made.success(), "python3 -m venv failed");
        let pip = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet"])
            .args(packages)
            .status()
            .unwrap();
        assert!(pip.success(), "pip install {packages:?} failed");
        assert!(ready(), "{packages:?} do not import");
    }
    python
}

/// Node packages from npm under `target/<name>`, installed once per checkout (again when the
/// list changes); their `node_modules` folder.
pub fn node_modules(name: &str, packages: &[&str]) -> std::path::PathBuf {
    // As with virtualenvs: one test installs while the others that need it wait.
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = MAKING.lock().unwrap_or_else(|p| p.into_inner());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target")
        .join(name);
    let marker = dir.join(".installed");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(&packages.join(" ")) {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("package.json"), "{\"private\": true}\n").unwrap();
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent"])
            .args(packages)
            .current_dir(&dir)
            .status()
            .expect("npm (install Node.js 18 or later)");
        assert!(status.success(), "npm install {packages:?} failed");
        std::fs::write(&marker, packages.join(" ")).unwrap();
    }
    dir.join("node_modules")
}

/// Node's gRPC client and proto loader, for a client of the app's `.proto` files in another
/// language than pydozer's.
pub fn grpc_node() -> std::path::PathBuf {
    node_modules(
        "grpc-node",
        &["@grpc/grpc-js@1.12.5", "@grpc/proto-loader@0.7.13"],
    )
}

/// schemathesis, to hold an app's API to its OpenAPI document.
pub fn schemathesis() -> std::path::PathBuf {
    venv(
        "schemathesis-venv",
        &["schemathesis==4.32.5"],
        "import schemathesis",
    )
}

/// pandas, pyarrow and DuckDB: the writers of the file conformance cases.
pub fn file_writers() -> std::path::PathBuf {
    venv(
        "writers-venv",
        &["pandas==2.2.3", "pyarrow==18.1.0", "duckdb==1.1.3"],
        "import pandas, pyarrow, duckdb",
    )
}

/// What the test run shares, made ahead (`cargo xtask test` does it while fmt and clippy run):
/// the apps' release build of the runtime and its dependencies — the longest build of the run —
/// by building a small app into the shared target directory, and every Python virtualenv.
/// Panics like the tests do when something cannot be made.
pub fn prepare() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    build(&ecommerce_in(dir.path(), 0, 0));
    pydozer();
    schemathesis();
    file_writers();
    moto();
    delta_writers();
    grpc_node();
}

/// delta-rs (the `deltalake` package) with pyarrow and pandas: the writer of the Delta tests'
/// tables and the reader of their final rows.
pub fn delta_writers() -> std::path::PathBuf {
    venv(
        "delta-venv",
        &["deltalake==1.6.6", "pyarrow==18.1.0", "pandas==2.2.3"],
        "import deltalake, pyarrow, pandas",
    )
}

/// moto's S3 protocol server and boto3, the S3 sources' peer and uploader.
pub fn moto() -> std::path::PathBuf {
    venv(
        "moto-venv",
        &["moto[server]==5.2.1"],
        "import moto.server, boto3",
    )
}

/// Dozer's Python client, pydozer 0.2.1 (its pyarrow 11 predates numpy 2), and grpcio-tools of
/// the same protobuf generation to make stubs from the app's own `.proto` files.
pub fn pydozer() -> std::path::PathBuf {
    venv(
        "pydozer-venv",
        &["pydozer==0.2.1", "numpy<2", "grpcio-tools==1.62.3"],
        "import pydozer.api, grpc_tools.protoc",
    )
}
