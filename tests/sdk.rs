//! The generated client SDKs: the e-commerce example's committed SDKs are what its config
//! generates; the TypeScript SDK passes `tsc --strict` and refuses misuse at compile time; the
//! Python SDK passes `mypy --strict`, refuses misuse, and packages; and the TypeScript, Python
//! (sync and asyncio) and React clients, run by node and Python against the real app, read,
//! query, count and follow the change stream across app restarts (SIGTERM and kill -9) without
//! missing or repeating a change.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use dozer_tests::app::{self, Serving};
use dozer_tests::gen_data;
use dozerc::builder;
use serde_json::{json, Value as Json};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/ecommerce")
}

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

#[test]
fn the_committed_sdks_are_what_the_config_generates() {
    let checked = app::check(&example().join("dozer-config.yaml"));
    let (sdk, dir) = builder::sdk(&checked).unwrap();
    let stale = sdk.check(&dir);
    assert!(
        stale.is_empty(),
        "examples/ecommerce/sdk is out of date (run `cargo run -p dozerc -- sdk examples/ecommerce/dozer-config.yaml`): {stale:?}"
    );
    // Deterministic: a second generation is byte for byte the same.
    assert_eq!(builder::sdk(&checked).unwrap().0, sdk);
    // A changed file is reported, and writing restores it.
    let copy = tempfile::tempdir().unwrap();
    let config = app::ecommerce_in(copy.path(), 0, 0);
    let checked = app::check(&config);
    let (sdk, dir) = builder::sdk(&checked).unwrap();
    assert_eq!(
        sdk.check(&dir).len(),
        sdk.files.len(),
        "nothing written yet"
    );
    assert_eq!(sdk.write(&dir).unwrap(), sdk.files.len());
    let index = dir.join("sdk/typescript/index.d.ts");
    std::fs::write(&index, "// edited\n").unwrap();
    let stale = sdk.check(&dir);
    assert_eq!(stale.len(), 1);
    assert_eq!(
        (stale[0].path.clone(), stale[0].how),
        (index, dozerc::sdk::Staleness::Differs)
    );
    assert_eq!(sdk.write(&dir).unwrap(), 1);
    assert!(sdk.check(&dir).is_empty());
    // What an earlier config generated (the app had another name) is reported, and removed
    // with its folder; what a local build leaves is neither.
    let old = dir.join("sdk/python/src/old_name_client/__init__.py");
    app::copy(&dir.join("sdk/python/README.md"), &old);
    let built = dir.join("sdk/typescript/node_modules/x/index.js");
    app::copy(&dir.join("sdk/python/README.md"), &built);
    let stale = sdk.check(&dir);
    assert_eq!(
        stale
            .iter()
            .map(|s| (s.path.clone(), s.how))
            .collect::<Vec<_>>(),
        [(old.clone(), dozerc::sdk::Staleness::NotGenerated)]
    );
    assert_eq!(sdk.write(&dir).unwrap(), 1);
    assert!(!old.exists() && !old.parent().unwrap().exists());
    assert!(built.exists());
    assert!(sdk.check(&dir).is_empty());
}

/// Node packages the tests use (TypeScript, React and its test renderer), installed from npm
/// once per checkout under `target/sdk-node`.
fn node_tools() -> PathBuf {
    app::node_modules(
        "sdk-node",
        &[
            "typescript@5.7.3",
            "react@18.3.1",
            "react-test-renderer@18.3.1",
            "@types/react@18.3.18",
            "@types/react-test-renderer@18.3.1",
            "@types/node@20.17.19",
        ],
    )
}

/// httpx, mypy and hatchling (to build the package) for the Python SDK.
fn python_tools() -> PathBuf {
    app::venv(
        "sdk-venv",
        &["httpx==0.28.1", "mypy==1.13.0", "hatchling==1.27.0"],
        "import httpx, mypy, hatchling",
    )
}

/// A TypeScript project in `dir`: the tools linked, the given SDK packages copied in (as npm
/// would install them), and the test programs.
fn ts_project(dir: &Path, packages: &[(&str, &Path)]) {
    let tools = node_tools();
    let modules = dir.join("node_modules");
    std::fs::create_dir_all(&modules).unwrap();
    for entry in std::fs::read_dir(&tools).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        std::os::unix::fs::symlink(entry.path(), modules.join(entry.file_name())).unwrap();
    }
    for (name, from) in packages {
        for file in std::fs::read_dir(from).unwrap() {
            let file = file.unwrap();
            app::copy(&file.path(), &modules.join(name).join(file.file_name()));
        }
    }
    for file in std::fs::read_dir(assets().join("typescript")).unwrap() {
        let file = file.unwrap();
        app::copy(&file.path(), &dir.join(file.file_name()));
    }
    std::fs::write(dir.join("package.json"), "{\"type\": \"module\"}\n").unwrap();
    let tsconfig = json!({
        "compilerOptions": {
            "strict": true,
            "target": "es2022",
            "module": "nodenext",
            "moduleResolution": "nodenext",
            "lib": ["es2022", "dom"],
            "types": ["node"],
            "outDir": "out",
            "noUnusedLocals": true,
            "exactOptionalPropertyTypes": true,
            "noUncheckedIndexedAccess": true
        },
        "files": ["scenario.ts", "react.ts", "good_typed.ts"]
    });
    std::fs::write(dir.join("tsconfig.json"), tsconfig.to_string()).unwrap();
}

fn tsc(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("node")
        .arg(dir.join("node_modules/typescript/bin/tsc"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// A second app beside the example: the same source with a `json` column and no primary key,
/// whose SDK has what the example's lacks (a field the API filters but does not order, reads by
/// record id).
fn typed_app(dir: &Path) -> PathBuf {
    let config = app::ecommerce_in(dir, 0, 0);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("app_name: ecommerce", "app_name: typed")
        .replace(
            "  GROUP BY StockCode;\n",
            "  GROUP BY StockCode;\n\n  SELECT StockCode, Quantity, CAST(Description AS JSON) AS info\n  INTO descriptions\n  FROM sales_data;\n",
        )
        .replace(
            "endpoints:\n",
            "endpoints:\n  - name: descriptions\n    path: /descriptions\n    table_name: descriptions\n\n",
        );
    std::fs::write(&config, text).unwrap();
    let checked = app::check(&config);
    let (sdk, dir) = builder::sdk(&checked).unwrap();
    sdk.write(&dir).unwrap();
    dir.join("sdk")
}

#[test]
fn the_typescript_sdk_compiles_strictly_and_refuses_misuse() {
    let work = tempfile::tempdir().unwrap();
    let typed = typed_app(&work.path().join("typed"));
    let project = work.path().join("project");
    let sdk = example().join("sdk");
    ts_project(
        &project,
        &[
            ("ecommerce-client", &sdk.join("typescript")),
            ("ecommerce-react", &sdk.join("react")),
            ("typed-client", &typed.join("typescript")),
        ],
    );
    let out = tsc(&project, &["-p", ".", "--noEmit"]);
    assert!(
        out.status.success(),
        "tsc --strict:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The stream parser holds on CRLF line breaks split across writes.
    let out = Command::new("node")
        .arg(project.join("sse_crlf.mjs"))
        .current_dir(&project)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        got,
        json!({"opened": 7, "seen": [[8, "INSERT", 1, 8], [9, "UPDATE", 2, 9]]})
    );
    // Each misuse is a compile error naming it.
    for (program, expected) in [
        (
            "bad_field.ts",
            "'Land' does not exist in type 'SalesByCountryFilter'",
        ),
        ("bad_order.ts", "'$gt' does not exist in type"),
        ("bad_contains.ts", "'$contains' does not exist in type"),
        ("bad_sort.ts", "'info' does not exist in type"),
        (
            "bad_key.ts",
            "is not assignable to parameter of type 'never'",
        ),
    ] {
        let out = tsc(
            &project,
            &[
                "--strict",
                "--noEmit",
                "--module",
                "nodenext",
                "--moduleResolution",
                "nodenext",
                "--target",
                "es2022",
                "--types",
                "node",
                program,
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{program} compiled");
        assert_eq!(
            text.lines().filter(|l| l.contains("error TS")).count(),
            1,
            "{program}: {text}"
        );
        assert!(text.contains(expected), "{program}: {text}");
    }
}

#[test]
fn the_python_sdk_passes_mypy_strict_refuses_misuse_and_packages() {
    let python = python_tools();
    let src = example().join("sdk/python/src");
    let mypy = |files: &[PathBuf]| {
        Command::new(&python)
            .args(["-m", "mypy", "--strict", "--no-incremental"])
            .args(files)
            .env("PYTHONPATH", &src)
            .output()
            .unwrap()
    };
    let out = mypy(&[
        src.join("ecommerce_client"),
        assets().join("python/sdk_scenario.py"),
    ]);
    assert!(
        out.status.success(),
        "mypy --strict:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // One error on each line marked `# error`, and none elsewhere.
    let misuse = assets().join("python/sdk_typing_errors.py");
    let marked: Vec<usize> = std::fs::read_to_string(&misuse)
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("  # error: "))
        .map(|(i, _)| i + 1)
        .collect();
    let out = mypy(std::slice::from_ref(&misuse));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<usize> = text
        .lines()
        .filter(|l| l.contains(": error:"))
        .map(|l| l.split(':').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(lines, marked, "{text}");
    // The package builds into a wheel with its type marker.
    let wheels = tempfile::tempdir().unwrap();
    let out = Command::new(&python)
        .args([
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
        ])
        .arg("--wheel-dir")
        .arg(wheels.path())
        .arg(example().join("sdk/python"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pip wheel: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wheel = std::fs::read_dir(wheels.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let names = Command::new(&python)
        .args([
            "-c",
            "import sys, zipfile; print('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))",
        ])
        .arg(&wheel)
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&names.stdout);
    for f in ["ecommerce_client/py.typed", "ecommerce_client/_client.py"] {
        assert!(
            names.lines().any(|n| n == f),
            "{f} not in the wheel: {names}"
        );
    }
}

/// The running example app on fixed ports (so clients reconnect to it after a restart).
struct Running {
    binary: PathBuf,
    data: PathBuf,
    ports: (u16, u16),
    serving: Option<Serving>,
    files: usize,
}

impl Running {
    fn start(binary: &Path, data: &Path) -> Running {
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let mut app = Running {
            binary: binary.to_path_buf(),
            data: data.to_path_buf(),
            ports: (free(), free()),
            serving: None,
            files: 0,
        };
        app.up();
        app
    }

    fn up(&mut self) {
        self.serving = Some(Serving::start_on(
            &self.binary,
            &["run"],
            self.ports.0,
            self.ports.1,
        ));
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.0)
    }

    /// Stops the app: SIGTERM (and it must stop, with subscribers connected), or kill -9.
    fn down(&mut self, graceful: bool) {
        let mut serving = self.serving.take().expect("running");
        if graceful {
            let pid = serving.child.id().to_string();
            assert!(Command::new("kill").arg(&pid).status().unwrap().success());
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while serving.child.try_wait().unwrap().is_none() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the app did not stop on SIGTERM with a change stream open:\n{}",
                    serving.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        } else {
            serving.child.kill().unwrap();
            serving.child.wait().unwrap();
        }
    }

    /// A new sales file: one sale for `country`, one for France.
    fn append(&mut self, country: &str) {
        self.files += 1;
        let name = format!("sdk_{}.csv", self.files);
        let header = gen_data::HEADER.join(",");
        let invoice = 990_000 + self.files;
        let text = format!(
            "{header}\n{invoice},85123A,WHITE HANGING HEART,3,2011-12-09 13:00:00,2.55,12346,{country}\n{invoice},22423,REGENCY CAKESTAND,1,2011-12-09 13:00:00,12.75,12347,France\n"
        );
        let tmp = self.data.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(tmp, self.data.join(name)).unwrap();
    }

    fn rest(&self, method: reqwest::Method, path: &str, body: Option<Json>) -> Json {
        let client = reqwest::blocking::Client::new();
        let mut request = client.request(method, format!("{}{path}", self.url()));
        if let Some(b) = body {
            request = request.json(&b);
        }
        request.send().unwrap().json().unwrap()
    }
}

/// A client program driven over stdin/stdout: JSON lines out, cues in.
struct Driven {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Driven {
    fn start(mut cmd: Command) -> Driven {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for stream in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Driven {
            child,
            stdin,
            lines,
            seen: vec![],
        }
    }

    /// The next line that is the step `step`.
    fn step(&mut self, step: &str) -> Json {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(90))
                .unwrap_or_else(|_| {
                    panic!(
                        "no `{step}` from the client; it said:\n{}",
                        self.seen.join("\n")
                    )
                });
            self.seen.push(line.clone());
            if let Ok(j) = serde_json::from_str::<Json>(&line) {
                if j["step"] == step {
                    return j;
                }
            }
        }
    }

    fn cue(&mut self, word: &str) {
        writeln!(self.stdin, "{word}").unwrap();
        self.stdin.flush().unwrap();
    }
}

impl Drop for Driven {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The reads a client reports against what the REST API answers.
fn check_reads(app: &Running, reads: &Json, int_type: &str) {
    let countries = app.rest(
        reqwest::Method::POST,
        "/sales_by_country/query",
        Some(json!({"$order_by": {"Country": "asc"}})),
    );
    let names: Vec<Json> = countries
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Country"].clone())
        .collect();
    assert_eq!(reads["countries"], Json::Array(names.clone()), "{reads}");
    assert_eq!(reads["count"], json!(names.len()));
    let big = app.rest(
        reqwest::Method::POST,
        "/sales_by_country/count",
        Some(json!({"$filter": {"TotalSales": {"$gt": 100}}})),
    );
    assert_eq!(reads["big"], big);
    let france = app.rest(reqwest::Method::GET, "/sales_by_country/France", None);
    assert_eq!(reads["france"], france["TotalSales"]);
    assert_eq!(reads["customerType"], int_type, "{reads}");
    assert!(
        reads["missing"].as_str().unwrap().starts_with("404: "),
        "{reads}"
    );
    assert!(
        reads["refused"]
            .as_str()
            .unwrap()
            .starts_with("400: `$filter.Land`: unknown field `Land`"),
        "{reads}"
    );
}

/// The change-stream protocol every client follows: subscribe, a file with `before`, a restart
/// (graceful or kill -9) with a file with `after` appended while the app is down; the client
/// sees the four changes once each, in position order, and a stream resumed after the second
/// gives the last two.
fn follow_across_restart(
    app: &mut Running,
    client: &mut Driven,
    before: &str,
    after: &str,
    graceful: bool,
) -> Json {
    client.step("subscribed");
    app.append(before);
    client.cue("appended");
    let mut events = vec![client.step("event"), client.step("event")];
    app.down(graceful);
    app.append(after);
    app.up();
    events.push(client.step("event"));
    events.push(client.step("event"));
    let done = client.step("done");
    let positions: Vec<u64> = events
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "positions grow: {events:?}"
    );
    let batch = |events: &[Json]| {
        let mut b: Vec<(String, String)> = events
            .iter()
            .map(|e| {
                (
                    e["type"].as_str().unwrap().to_string(),
                    e["country"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        b.sort();
        b
    };
    let expect = |country: &str| {
        vec![
            ("INSERT".to_string(), country.to_string()),
            ("UPDATE".to_string(), "France".to_string()),
        ]
    };
    assert_eq!(batch(&events[..2]), expect(before), "{events:?}");
    assert_eq!(batch(&events[2..]), expect(after), "{events:?}");
    for e in &events {
        if e["type"] == "UPDATE" {
            assert_eq!(e["version"], e["oldVersion"].as_u64().unwrap() + 1, "{e}");
        }
    }
    let without_step = |e: &Json| {
        let mut e = e.clone();
        e.as_object_mut().unwrap().remove("step");
        e
    };
    let last_two: Vec<Json> = events[2..].iter().map(without_step).collect();
    assert_eq!(done["resumed"], Json::Array(last_two), "{done}");
    assert_eq!(done["both"], 2);
    done
}

#[test]
fn the_sdks_read_and_follow_the_running_app() {
    let dir = tempfile::tempdir().unwrap();
    let config = app::ecommerce_in(dir.path(), 400, 7);
    let built = app::build(&config);
    let data = dir.path().join("data/sales");
    let mut app = Running::start(&built.binary, &data);
    // One pipeline per store: a second `run` beside it is refused, saying what to do.
    let second = Command::new(&built.binary)
        .args(["run", "--once"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{said}");
    assert!(
        said.contains("another `ecommerce run` is running the pipeline")
            && said.contains("`ecommerce api`"),
        "{said}"
    );

    // TypeScript, compiled by tsc, run by node.
    let project = dir.path().join("ts");
    let sdk = example().join("sdk");
    let typed = typed_app(&dir.path().join("typed"));
    ts_project(
        &project,
        &[
            ("ecommerce-client", &sdk.join("typescript")),
            ("ecommerce-react", &sdk.join("react")),
            ("typed-client", &typed.join("typescript")),
        ],
    );
    let out = tsc(&project, &["-p", "."]);
    assert!(
        out.status.success(),
        "tsc: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let node = |script: &str, args: &[&str]| {
        let mut cmd = Command::new("node");
        cmd.arg(project.join("out").join(script)).args(args);
        cmd.current_dir(&project);
        cmd
    };
    let mut ts = Driven::start(node("scenario.js", &[&app.url(), "Atlantis", "Hyperborea"]));
    let reads = ts.step("reads");
    check_reads(&app, &reads, "bigint");
    assert_eq!(reads["sameByNumber"], true, "{reads}");
    let cache = ts.step("cache");
    assert_eq!(
        cache["second"],
        json!({"fresh": false, "sameEtag": true, "same": true}),
        "a repeated query is revalidated (304): {cache}"
    );
    let done = follow_across_restart(&mut app, &mut ts, "Atlantis", "Hyperborea", true);
    assert_eq!(done["afterChange"]["fresh"], true, "{done}");
    assert_eq!(done["afterChange"]["newEtag"], true, "{done}");
    drop(ts);

    // Python, sync and asyncio.
    let python = python_tools();
    for (mode, before, after, graceful) in [
        ("sync", "Lemuria", "Mu", false),
        ("async", "Thule", "Avalon", true),
    ] {
        let mut cmd = Command::new(&python);
        cmd.arg(assets().join("python/sdk_scenario.py"))
            .args([&app.url(), mode, before, after])
            .env("PYTHONPATH", example().join("sdk/python/src"));
        let mut py = Driven::start(cmd);
        let reads = py.step("reads");
        check_reads(&app, &reads, "int");
        follow_across_restart(&mut app, &mut py, before, after, graceful);
    }

    // React: useLive and useQuery follow an appended file.
    let mut react = Driven::start(node("react.js", &[&app.url(), "Shangri-La"]));
    let rendered = react.step("rendered");
    assert!(
        !rendered["live"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().starts_with("Shangri-La:")),
        "{rendered}"
    );
    app.append("Shangri-La");
    react.cue("appended");
    let done = react.step("done");
    assert_eq!(done["live"], done["fresh"], "{done}");
    let queried: Vec<&str> = done["queried"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(queried.len(), 2, "{done}");
    assert!(queried[0].starts_with("France:") && queried[1].starts_with("Shangri-La:"));
}
