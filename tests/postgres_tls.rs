//! PostgreSQL over TLS: a cluster with `ssl=on` and a certificate from a CA made by the test,
//! issued for `localhost` alone. `verify-full` against `localhost` checks, snapshots and streams
//! (every connection of the app, replication included, is encrypted: `pg_stat_ssl` says so);
//! `verify-full` against `127.0.0.1` is refused with the name the certificate carries; without
//! the CA the certificate is untrusted; `verify-ca`, `require` and a `connection_url` with the
//! TLS parameters connect.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dozer_test_support::postgres::{TestPostgres, PASSWORD};
use dozer_tests::app;

fn write_config(dir: &Path, name: &str, connection: &str) -> PathBuf {
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dozer-config.yaml");
    std::fs::write(
        &path,
        format!(
            "version: 1\napp_name: tls_{name}\nconnections:\n  - name: pg\n    config: !Postgres\n{connection}sources:\n  - {{ name: items, table_name: items, connection: pg }}\nendpoints:\n  - {{ name: items, path: /items, table_name: items }}\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn postgres_sources_connect_over_tls_as_sslmode_says() {
    let mut pg = TestPostgres::start().expect("test PostgreSQL");
    let ca = pg.enable_tls().unwrap();
    pg.psql("postgres", "CREATE DATABASE shop").unwrap();
    pg.psql(
        "shop",
        "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
         INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 50) i;",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = pg.port();
    let keys = |host: &str, mode: &str, root: Option<&Path>| {
        let mut c = format!(
            "      user: postgres\n      password: {PASSWORD}\n      host: {host}\n      port: {port}\n      database: shop\n      sslmode: {mode}\n"
        );
        if let Some(root) = root {
            c.push_str(&format!("      sslrootcert: {}\n", root.display()));
        }
        c
    };

    // The name the certificate was issued for: checks, snapshots, streams, all encrypted.
    let full = write_config(
        dir.path(),
        "full",
        &keys("localhost", "verify-full", Some(&ca)),
    );
    assert_eq!(app::check_errors(&full), "");
    let built = app::build(&full);
    let serving = app::Serving::start(&built.binary, &["run"]);
    let http = reqwest::blocking::Client::new();
    let count = || -> Option<u64> {
        http.post(format!("{}/items/count", serving.rest))
            .body("{}")
            .send()
            .ok()?
            .json::<serde_json::Value>()
            .ok()?
            .as_u64()
            .or(None)
    };
    let wait_for = |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while count() != Some(n) {
            assert!(
                Instant::now() < deadline,
                "never {n} items (now {:?}):\n{}",
                count(),
                serving.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for(50);
    pg.psql("shop", "INSERT INTO items VALUES (51, 'streamed over TLS')")
        .unwrap();
    wait_for(51);
    let ssl = pg
        .psql(
            "shop",
            "SELECT count(*) FILTER (WHERE s.ssl) || ' ' || count(*) FILTER (WHERE NOT s.ssl)
             FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = 'dozerc'",
        )
        .unwrap();
    let (encrypted, plain) = ssl.trim().split_once(' ').unwrap();
    assert!(
        encrypted.parse::<u32>().unwrap() >= 2,
        "the control session and the replication stream: {ssl}"
    );
    assert_eq!(
        plain, "0",
        "a connection of the app is not encrypted: {ssl}"
    );
    drop(serving);

    // By address, the certificate's name does not match: refused, saying which names it has.
    let by_ip = write_config(
        dir.path(),
        "by_ip",
        &keys("127.0.0.1", "verify-full", Some(&ca)),
    );
    let errors = app::check_errors(&by_ip);
    assert!(
        errors.contains("not valid for `127.0.0.1`") && errors.contains("localhost"),
        "{errors}"
    );
    // Without the test CA, the certificate is not trusted.
    let untrusted = write_config(
        dir.path(),
        "untrusted",
        &keys("localhost", "verify-full", None),
    );
    let errors = app::check_errors(&untrusted);
    assert!(
        errors.contains("not signed by a trusted CA") && errors.contains("sslrootcert"),
        "{errors}"
    );
    // The CA alone, and encryption alone, connect by address.
    for (name, config) in [
        ("ca", keys("127.0.0.1", "verify-ca", Some(&ca))),
        ("require", keys("127.0.0.1", "require", None)),
    ] {
        let config = write_config(dir.path(), name, &config);
        assert_eq!(app::check_errors(&config), "", "sslmode {name}");
    }
    // The same in a `connection_url`, with the verify mode tokio-postgres itself refuses.
    let url = write_config(
        dir.path(),
        "url",
        &format!(
            "      connection_url: postgresql://postgres:{PASSWORD}@localhost:{port}/shop?sslmode=verify-full&sslrootcert={}\n",
            ca.display()
        ),
    );
    assert_eq!(app::check_errors(&url), "");
}
