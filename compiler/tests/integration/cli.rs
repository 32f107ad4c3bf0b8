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
