//! The `dozerc` binary end to end: exit codes, human and JSON diagnostics.

use std::process::Command;

fn dozerc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dozerc"))
}

fn repo(path: &str) -> String {
    format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn example_checks_clean_against_its_lock_file() {
    // --locked re-reads the CSV files and fails if the committed dozer.lock is stale.
    let out = dozerc()
        .args(["check", "--locked", "--color", "never"])
        .arg(repo("examples/ecommerce/dozer-config.yaml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("ok: app `ecommerce`: 1 source, 4 queries, 4 endpoints"),
        "{stderr}"
    );
    assert!(
        stderr.contains("one row per window"),
        "the implicit window grouping is noted:\n{stderr}"
    );

    let out = dozerc()
        .args(["schema", "--color", "never"])
        .arg(repo("examples/ecommerce/dozer-config.yaml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("table customer_lifetime_value\n  CustomerID     int null\n  LifetimeValue  decimal not null\n  primary key: (CustomerID)"), "{stdout}");
    assert!(stdout.contains("table daily_sales\n  total_sales  decimal not null\n  start        timestamp not null\n  end          timestamp not null\n  primary key: (start, end)"), "{stdout}");
}

#[test]
fn broken_config_exits_1_with_every_error_located() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("dozer-config.yaml");
    std::fs::write(
        &cfg,
        "version: 1\napp_name: broken\nconections: []\nsources:\n  - name: s\n    table_name: t\n    connection: nope\nsql: |\n  SELECT a + 'x' INTO r FROM s;\n",
    )
    .unwrap();
    let out = dozerc()
        .args(["check", "--color", "never"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("dozer-config.yaml:3:1]") && stderr.contains("did you mean `connections`?"),
        "{stderr}"
    );
    assert!(
        stderr.contains("dozer-config.yaml:7:17]") && stderr.contains("unknown connection"),
        "{stderr}"
    );
    assert!(stderr.contains("error: 2 errors found"), "{stderr}");

    let out = dozerc()
        .args(["check", "--format", "json"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["errors"], 2);
    let first = &json["diagnostics"][0];
    assert_eq!(first["code"], "config::unknown-key");
    assert_eq!(first["labels"][0]["line"], 3);
    assert_eq!(first["labels"][0]["column"], 1);
    assert_eq!(first["labels"][0]["text"], "conections");
}

#[test]
fn missing_config_file_is_an_error_not_a_panic() {
    let out = dozerc()
        .args(["check", "/nonexistent/dozer-config.yaml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot read config file"), "{stderr}");
}

#[test]
fn several_files_merge_and_queries_sql_errors_point_into_their_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data/sales")).unwrap();
    std::fs::create_dir_all(dir.path().join("queries")).unwrap();
    std::fs::write(
        dir.path().join("data/sales/s.csv"),
        "Country,Quantity\nFrance,3\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("dozer-config.yaml"),
        "version: 1\napp_name: merged\nconnections:\n  - name: fs\n    config: !LocalStorage\n      details:\n        path: ./data\n      tables:\n        - !Table\n          name: sales\n          config: !CSV\n            path: sales\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("sources.yaml"),
        "sources:\n  - name: sales_data\n    table_name: sales\n    connection: fs\nsql: SELECT Country, SUM(Quantity) AS n INTO totals FROM sales_data GROUP BY Country;\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("queries/more.sql"), "-- extra queries\nSELECT Country\nINTO countries\nFROM sales_data\nWHERE Quantity > 'many';\n").unwrap();
    let out = dozerc()
        .args(["check", "--color", "never"])
        .arg(dir.path().join("dozer-config.yaml"))
        .arg(dir.path().join("sources.yaml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("queries/more.sql:5:7]"),
        "the SQL error points into the .sql file:\n{stderr}"
    );
    assert!(
        stderr.contains("cannot apply `>` to int and string"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: 1 error found"),
        "only that error: the merged config is otherwise valid:\n{stderr}"
    );
}

#[test]
fn an_image_is_refused_while_the_config_writes_its_secrets_literally() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("dozer-config.yaml");
    std::fs::write(
        &cfg,
        "version: 1\n\
         app_name: secretive\n\
         connections:\n  \
           - name: pg\n    config: !Postgres\n      user: app\n      password: hunter2\n      host: 127.0.0.1\n      port: 1\n      database: shop\n  \
           - name: pg-url\n    config: !Postgres\n      connection_url: postgresql://app:s3cret@127.0.0.1:1/shop\n  \
           - name: pg-env\n    config: !Postgres\n      connection_url: postgresql://app:{{DOZERC_TEST_URL_PASSWORD}}@127.0.0.1:1/shop?sslmode=verify-full\n\
         sources:\n  - name: orders\n    table_name: orders\n    connection: pg\n\
         sql: SELECT id INTO o FROM orders;\n\
         endpoints:\n  - name: o\n    path: /o\n    table_name: o\n\
         api:\n  api_security: !Jwt not-so-secret\n",
    )
    .unwrap();
    let out = dozerc()
        .args(["build", "--image", "--color", "never"])
        .arg(&cfg)
        .env("DOZERC_TEST_URL_PASSWORD", "from-the-environment")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // A password that comes from a variable, inside the URL too, is read by the app when it
    // starts: nothing to refuse.
    assert!(!stderr.contains("connection `pg-env`"), "{stderr}");
    for want in [
        "the password of connection `pg` would be compiled into the image",
        "dozer-config.yaml:7:17]",
        "`password: \"{{PG_PASSWORD}}\"`",
        "`connection_url` of connection `pg-url` holds a password",
        "dozer-config.yaml:13:23]",
        "PG_URL_PASSWORD",
        "the API's JWT secret would be compiled into the image",
        "`api_security: !Jwt \"{{JWT_SECRET}}\"`",
    ] {
        assert!(stderr.contains(want), "{want:?} not in:\n{stderr}");
    }
    // Without `--image` the same config only fails on what `check` finds (here: no server).
    let out = dozerc()
        .args(["check", "--color", "never"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("compiled into the image"), "{stderr}");
}
