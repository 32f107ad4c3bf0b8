//! `dozerc build --image`: the e-commerce example as an OCI image archive, with no daemon and no
//! base image. The archive describes a non-root app with its ports, volume, health check and
//! environment; it loads into podman, where the app answers `/health` and a query as the same
//! binary does on the host, runs as its own user, stops cleanly on SIGTERM and finds its store
//! again on the same volume in a new container. The Dockerfile written beside it builds the same
//! image with podman's builder. A config whose secrets would be compiled in is refused at the
//! value.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use dozer_tests::app;
use dozerc::builder;
use dozerc::image::ImageFormat;
use serde_json::Value as Json;

/// podman with its own store under `dir`, so a test neither sees nor leaves images behind. This
/// machine's sandbox refuses crun's hybrid cgroups and setrlimit: runc with cgroupfs, and no
/// default ulimits.
struct Podman {
    dir: PathBuf,
}

impl Podman {
    fn new(dir: &Path) -> Podman {
        std::fs::write(
            dir.join("containers.conf"),
            "[containers]\ndefault_ulimits = []\n",
        )
        .unwrap();
        Podman {
            dir: dir.to_path_buf(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("podman");
        cmd.arg("--root")
            .arg(self.dir.join("storage"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"])
            .args(args)
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"));
        cmd
    }

    fn output(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .expect("podman (`cargo xtask test` installs Debian's podman and runc)")
    }

    /// Runs podman; panics with its stderr unless it succeeds; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "podman {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.output(&["rm", "--all", "--force", "--time", "0"]);
        let _ = self.output(&["system", "reset", "--force"]);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The archive's files by name.
fn archive_files(path: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
    let mut files = std::collections::BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut data = vec![];
        entry.read_to_end(&mut data).unwrap();
        files.insert(name, data);
    }
    files
}

fn blob(files: &std::collections::BTreeMap<String, Vec<u8>>, digest: &Json) -> Vec<u8> {
    let hex = digest.as_str().unwrap().trim_start_matches("sha256:");
    files[&format!("blobs/sha256/{hex}")].clone()
}

/// GET `url`, or POST `body` to it; the JSON of a 200 answer.
fn answer(url: &str, body: Option<&str>) -> Option<Json> {
    let client = reqwest::blocking::Client::new();
    let request = match body {
        None => client.get(url),
        Some(b) => client
            .post(url)
            .header("content-type", "application/json")
            .body(b.to_string()),
    };
    let answer = request.timeout(Duration::from_secs(5)).send().ok()?;
    answer
        .status()
        .is_success()
        .then(|| answer.json().ok())
        .flatten()
}

/// Polls `url` (POSTing `body` if given) until it answers 200 with JSON `until` accepts.
fn wait_for(
    url: &str,
    body: Option<&str>,
    until: impl Fn(&Json) -> bool,
    what: &str,
    log: impl Fn() -> String,
) -> Json {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(v) = answer(url, body).filter(|v| until(v)) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {url} did not answer in time; the container's log:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn the_image_loads_into_podman_serves_as_a_non_root_user_and_keeps_its_store_on_the_volume() {
    let work = tempfile::tempdir().unwrap();
    let config = app::ecommerce_in(&work.path().join("app"), 3_000, 18);
    let built = app::build(&config);
    let image = builder::image(&built.checked, &built.binary, "e2e", ImageFormat::Oci).unwrap();
    assert_eq!(image.reference, "ecommerce:e2e");
    eprintln!(
        "image: {:.1} MiB archive, {:.1} MiB unpacked",
        image.archive_bytes as f64 / 1048576.0,
        image.layer_bytes as f64 / 1048576.0
    );

    // What the archive says, read as a loader reads it: index → manifest → config and layer.
    let files = archive_files(&image.archive);
    assert_eq!(files["oci-layout"], br#"{"imageLayoutVersion":"1.0.0"}"#);
    let index: Json = serde_json::from_slice(&files["index.json"]).unwrap();
    let entry = &index["manifests"][0];
    assert_eq!(entry["digest"], image.manifest_digest.as_str());
    assert_eq!(
        entry["annotations"]["io.containerd.image.name"],
        "ecommerce:e2e"
    );
    let manifest: Json = serde_json::from_slice(&blob(&files, &entry["digest"])).unwrap();
    let config_blob: Json =
        serde_json::from_slice(&blob(&files, &manifest["config"]["digest"])).unwrap();
    let run = &config_blob["config"];
    assert_eq!(run["User"], "65532:65532");
    assert_eq!(
        run["Entrypoint"],
        serde_json::json!(["/usr/local/bin/ecommerce"])
    );
    assert_eq!(run["Cmd"], serde_json::json!(["run"]));
    assert_eq!(
        run["ExposedPorts"],
        serde_json::json!({"8080/tcp": {}, "50051/tcp": {}})
    );
    assert_eq!(run["Volumes"], serde_json::json!({"/data": {}}));
    assert_eq!(
        run["Healthcheck"]["Test"],
        serde_json::json!(["CMD", "/usr/local/bin/ecommerce", "health"])
    );
    let env: Vec<&str> = run["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for want in [
        "DOZER_HOME=/data",
        "DOZER_BASE_DIR=/app",
        "DOZER_API_HOST=0.0.0.0",
    ] {
        assert!(env.contains(&want), "{want} missing from {env:?}");
    }
    // Docker's loader finds the same config and layer through manifest.json.
    let docker: Json = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(docker[0]["RepoTags"], serde_json::json!(["ecommerce:e2e"]));
    assert_eq!(
        docker[0]["Config"].as_str().unwrap(),
        format!(
            "blobs/sha256/{}",
            manifest["config"]["digest"]
                .as_str()
                .unwrap()
                .trim_start_matches("sha256:")
        )
    );
    // The layer: the binary, the loader and libc it links, CA certificates, the user, and a home
    // owned by it; no shell.
    let layer = blob(&files, &manifest["layers"][0]["digest"]);
    let mut layer = tar::Archive::new(flate2::read::GzDecoder::new(layer.as_slice()));
    let mut paths = std::collections::BTreeMap::new();
    for e in layer.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        paths.insert(e.path().unwrap().display().to_string(), h.uid().unwrap());
    }
    for want in [
        "usr/local/bin/ecommerce",
        "etc/passwd",
        "etc/ssl/certs/ca-certificates.crt",
    ] {
        assert!(
            paths.contains_key(want),
            "{want} not in the layer: {paths:?}"
        );
    }
    assert!(paths.keys().any(|p| p.contains("libc.so")), "{paths:?}");
    assert!(paths.keys().any(|p| p.contains("ld-linux")), "{paths:?}");
    assert_eq!(paths.get("data/"), Some(&65532));
    assert!(!paths.keys().any(|p| p.ends_with("bin/sh")), "{paths:?}");
    // The same binary gives the same image, byte for byte.
    let again = builder::image(&built.checked, &built.binary, "e2e", ImageFormat::Oci).unwrap();
    assert_eq!(again.manifest_digest, image.manifest_digest);

    // What the binary answers on the host, for comparison.
    let host = app::Serving::start(
        &built.binary,
        &[
            "run",
            "--home",
            &work.path().join("host").display().to_string(),
        ],
    );
    // Every customer's lifetime value, in key order: what the container must answer too.
    let all = r#"{"$order_by": {"CustomerID": "asc"}, "$limit": 10000}"#;
    wait_for(
        &format!("{}/clv", host.rest),
        None,
        |_| host.log().contains("caught up"),
        "the host app",
        || host.log(),
    );
    let expected = answer(&format!("{}/clv/query", host.rest), Some(all)).unwrap();
    assert!(
        expected.as_array().is_some_and(|rows| rows.len() > 100),
        "{expected}"
    );
    drop(host);

    let podman = Podman::new(work.path());
    let loaded = podman.ok(&["load", "--input", &image.archive.display().to_string()]);
    assert!(loaded.contains("ecommerce:e2e"), "{loaded}");
    let name = "localhost/ecommerce:e2e";
    podman.ok(&["volume", "create", "ecommerce-store"]);
    let data = format!(
        "{}:/app/data:ro",
        config.parent().unwrap().join("data").display()
    );
    let start = |container: &str, rest: u16| {
        podman.ok(&[
            "run",
            "--detach",
            "--name",
            container,
            "--publish",
            &format!("127.0.0.1:{rest}:8080"),
            "--volume",
            "ecommerce-store:/data",
            "--volume",
            &data,
            name,
        ]);
    };
    let logs = |container: &str| {
        let out = podman.output(&["logs", container]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };

    let rest = free_port();
    start("first", rest);
    wait_for(
        &format!("http://127.0.0.1:{rest}/health"),
        None,
        |v| v["status"] == "SERVING",
        "/health",
        || logs("first"),
    );
    wait_for(
        &format!("http://127.0.0.1:{rest}/clv/query"),
        Some(all),
        |v| *v == expected,
        "the query in the container",
        || logs("first"),
    );
    // The health check the image declares, run inside the container.
    let health = podman.ok(&["exec", "first", "/usr/local/bin/ecommerce", "health"]);
    assert!(health.contains("200"), "{health}");
    // The app runs as the image's user, not root (the kernel's view of the process).
    let pid = podman.ok(&["inspect", "--format", "{{.State.Pid}}", "first"]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid.split_whitespace().skip(1).all(|id| id == "65532"),
        "{uid}"
    );
    // SIGTERM stops it between transactions.
    podman.ok(&["stop", "--time", "30", "first"]);
    let first_log = logs("first");
    assert!(
        first_log.contains("every committed change is kept"),
        "{first_log}"
    );
    podman.ok(&["rm", "first"]);

    // A new container on the same volume: the store is there (`info` reads it without running
    // the pipeline), and the app resumes instead of reading the files again.
    let info = podman.ok(&[
        "run",
        "--rm",
        "--volume",
        "ecommerce-store:/data",
        name,
        "info",
    ]);
    let rows = expected.as_array().unwrap().len();
    assert!(
        info.contains(&format!("endpoint clv (/clv): {rows} rows")),
        "{info}"
    );
    assert!(info.contains("source sales_data: read up to"), "{info}");
    let rest = free_port();
    start("second", rest);
    wait_for(
        &format!("http://127.0.0.1:{rest}/clv/query"),
        Some(all),
        |v| *v == expected,
        "the query after the restart",
        || logs("second"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !logs("second").contains("caught up") {
        assert!(Instant::now() < deadline, "{}", logs("second"));
        std::thread::sleep(Duration::from_millis(200));
    }
    let second_log = logs("second");
    assert!(
        second_log.contains("caught up: 0 rows"),
        "the second container read the files again instead of resuming from the store on the volume:\n{second_log}"
    );
    podman.ok(&["stop", "--time", "30", "second"]);

    // In Docker's layout, podman keeps the image's health check and runs it.
    let docker =
        builder::image(&built.checked, &built.binary, "docker", ImageFormat::Docker).unwrap();
    assert!(docker
        .archive
        .display()
        .to_string()
        .ends_with("ecommerce.docker.tar"));
    let files = archive_files(&docker.archive);
    assert!(!files.contains_key("index.json") && files.contains_key("manifest.json"));
    podman.ok(&["load", "--input", &docker.archive.display().to_string()]);
    let rest = free_port();
    podman.ok(&[
        "run",
        "--detach",
        "--name",
        "checked",
        "--publish",
        &format!("127.0.0.1:{rest}:8080"),
        "--volume",
        &data,
        "localhost/ecommerce:docker",
    ]);
    wait_for(
        &format!("http://127.0.0.1:{rest}/health"),
        None,
        |v| v["status"] == "SERVING",
        "/health in Docker's format",
        || logs("checked"),
    );
    let health = podman.output(&["healthcheck", "run", "checked"]);
    assert!(
        health.status.success(),
        "podman healthcheck: {}{}",
        String::from_utf8_lossy(&health.stdout),
        String::from_utf8_lossy(&health.stderr)
    );
    assert_eq!(
        podman
            .ok(&["inspect", "--format", "{{.State.Health.Status}}", "checked"])
            .trim(),
        "healthy"
    );
    podman.ok(&["stop", "--time", "30", "checked"]);

    // The Dockerfile beside the archive builds the same image with podman's builder (from the
    // loaded image as its base: this machine cannot pull one).
    let context = image.dockerfile.parent().unwrap().display().to_string();
    podman.ok(&[
        "build",
        "--format",
        "docker",
        "--build-arg",
        &format!("BASE={name}"),
        "--tag",
        "ecommerce-own:e2e",
        &context,
    ]);
    let own = podman.ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.User}} {{.Config.Entrypoint}} {{.Config.Cmd}} {{.HealthCheck.Test}}",
        "ecommerce-own:e2e",
    ]);
    assert_eq!(
        own.trim(),
        "65532:65532 [/usr/local/bin/ecommerce] [run] [CMD /usr/local/bin/ecommerce health]"
    );
}
