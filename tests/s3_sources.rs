//! `!S3Storage` tables against a real S3 protocol server (moto, with signatures checked): the
//! orders of the file tests uploaded as CSV, JSON-lines and Parquet objects by boto3, named at
//! random, polled for while the app is killed with SIGKILL at random moments, end equal to
//! PostgreSQL's answer — every object read exactly once. A wrong key and a missing bucket are
//! errors that say what to fix, at build time and when the app runs.

use std::process::Command;
use std::time::Duration;

use dozer_test_support::s3::TestS3;

use super::*;

const BUCKET: &str = "shop-data";

/// The file tests' config with the tables as prefixes of `bucket` on `s3`.
fn s3_config(s3: &TestS3, bucket: &str, secret: &str) -> String {
    let local = "config: !LocalStorage\n      details:\n        path: ./data\n";
    let remote = format!(
        "config: !S3Storage\n      details:\n        bucket_name: {bucket}\n        region: {}\n        endpoint: {}\n        access_key_id: {}\n        secret_access_key: {secret}\n",
        s3.region, s3.endpoint, s3.access_key_id
    );
    let c = config("fail");
    assert!(c.contains(local));
    c.replace(local, &remote)
}

/// Rendered diagnostics as one line (they wrap at the terminal's width).
fn flat(rendered: &str) -> String {
    rendered
        .split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ")
}

fn start_s3() -> TestS3 {
    TestS3::start(&app::moto()).expect("moto's S3 server")
}

#[test]
fn objects_named_at_random_are_each_read_once_through_polling_and_kill_9() {
    let s3 = start_s3();
    s3.create_bucket(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    let all = orders(2400, 31);
    let (first, rest) = all.split_at(300);
    // The schema comes from the objects there at build time.
    let upload = dir.path().join("upload");
    write_files(&upload.join("0"), 0, first);
    s3.upload_dir(BUCKET, &upload.join("0"), "");
    let config = dir.path().join("dozer-config.yaml");
    std::fs::write(&config, s3_config(&s3, BUCKET, &s3.secret_access_key)).unwrap();
    let app = app::build(&config);
    let start = || {
        Command::new(&app.binary)
            .args([
                "run",
                "--no-api",
                "--poll-ms",
                "20",
                "--batch-records",
                "90",
            ])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = start();
    let mut rng = Rng::new(91);
    let mut kills = 0;
    for (i, part) in rest.chunks(150).enumerate() {
        // Names that sort anywhere among the objects already read.
        let name = format!("{:012x}", rng.next_u64());
        let batch = upload.join(format!("{}", i + 1));
        for t in FORMATS {
            std::fs::create_dir_all(batch.join(t)).unwrap();
        }
        std::fs::write(batch.join(format!("csv/{name}.csv")), csv(part)).unwrap();
        std::fs::write(batch.join(format!("json/{name}.jsonl")), json_lines(part)).unwrap();
        write_parquet(&batch.join(format!("pq/{name}.parquet")), part);
        s3.upload_dir(BUCKET, &batch, "");
        std::thread::sleep(Duration::from_millis(rng.below(300)));
        if rng.below(3) == 0 {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            kills += 1;
            child = start();
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    eprintln!("{kills} kill(s)");
    assert!(kills > 0);
    app.run(&["run", "--once"]);
    compare_with_postgres(&app, dir.path(), &all);

    // A bucket that is gone when the app runs: the error names it and says what to do.
    s3.python(
        r#"
import sys
bucket = sys.argv[1]
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
    for o in page.get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=o["Key"])
s3.delete_bucket(Bucket=bucket)
"#,
        &[BUCKET],
    );
    let out = Command::new(&app.binary)
        .args(["run", "--once", "--no-api"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "bucket `{BUCKET}` does not exist at {}",
            s3.endpoint
        )),
        "{said}"
    );
}

#[test]
fn a_wrong_key_and_a_missing_bucket_are_build_errors_that_say_what_to_fix() {
    let s3 = start_s3();
    s3.create_bucket(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    write_files(&dir.path().join("upload"), 0, &orders(20, 5));
    s3.upload_dir(BUCKET, &dir.path().join("upload"), "");
    let config = dir.path().join("dozer-config.yaml");

    std::fs::write(&config, s3_config(&s3, BUCKET, "not-the-secret")).unwrap();
    let said = flat(&app::check_errors(&config));
    assert!(
        said.contains(&format!(
            "{} refused the credentials of connection `files` (SignatureDoesNotMatch)",
            s3.endpoint
        )),
        "{said}"
    );
    assert!(said.contains("secret_access_key"), "{said}");

    std::fs::write(
        &config,
        s3_config(&s3, "no-such-bucket", &s3.secret_access_key),
    )
    .unwrap();
    let said = flat(&app::check_errors(&config));
    assert!(
        said.contains(&format!(
            "bucket `no-such-bucket` does not exist at {}",
            s3.endpoint
        )),
        "{said}"
    );

    // The right key checks clean: the schema is read from the objects (and locked, so that
    // later checks need the bucket no more than local builds need the folder).
    std::fs::write(&config, s3_config(&s3, BUCKET, &s3.secret_access_key)).unwrap();
    assert_eq!(app::check_errors(&config), "");
}

/// Figures for the closing note (`cargo test --release --test e2e -- --ignored --nocapture
/// measure_s3_objects`): `run --once` over many small objects and over one large one per format,
/// from S3 (moto on this machine) and from the same files on local disk, the baseline. Prints,
/// asserts nothing about time.
#[test]
#[ignore = "a measurement, not a test"]
fn measure_s3_objects() {
    let s3 = start_s3();
    for (objects, rows) in [(500usize, 100usize), (1, 50_000)] {
        let bucket = format!("measure-{objects}");
        s3.create_bucket(&bucket);
        let dir = tempfile::tempdir().unwrap();
        let all = orders((objects * rows) as i64, 3);
        let data = dir.path().join("data");
        for (i, part) in all.chunks(rows).enumerate() {
            write_files(&data, i, part);
        }
        s3.upload_dir(&bucket, &data, "");
        let remote = dir.path().join("remote.yaml");
        std::fs::write(&remote, s3_config(&s3, &bucket, &s3.secret_access_key)).unwrap();
        let local = dir.path().join("local.yaml");
        std::fs::write(&local, config("fail")).unwrap();
        for (what, config) in [("local files", &local), ("S3 objects", &remote)] {
            let app = app::build(config);
            let home = tempfile::tempdir().unwrap();
            let started = std::time::Instant::now();
            let out = Command::new(&app.binary)
                .args(["run", "--once", "--no-api", "--home"])
                .arg(home.path())
                .output()
                .unwrap();
            let secs = started.elapsed().as_secs_f64();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let files = 3 * objects;
            eprintln!(
                "{what}: {files} file(s) of {rows} rows (3 formats): {secs:.2} s, {:.0} files/s, {:.0} rows/s",
                files as f64 / secs,
                (3 * objects * rows) as f64 / secs
            );
        }
    }
}
