//! The catalog against a real PostgreSQL (a throwaway cluster from `dozer-test-support`): types,
//! nullability and primary keys are read from the live database, errors name what to fix, and
//! `dozer.lock` pins the result.

use std::path::{Path, PathBuf};

use dozer_test_support::postgres::TestPostgres;
use dozerc::catalog::LockMode;
use dozerc::check::{check_paths, CheckOptions, Checked};
use dozerc::diagnostic::{render, Diagnostics, RenderOptions, SourceMap};
use dozerc::types::SqlType;

fn write_config(dir: &Path, url: &str, tables: &[&str], sql: &str) -> PathBuf {
    let mut yaml = format!("version: 1\napp_name: pgapp\nconnections:\n  - name: pg\n    config: !Postgres\n      connection_url: {url}\nsources:\n");
    for t in tables {
        yaml.push_str(&format!(
            "  - name: {t}\n    table_name: {t}\n    connection: pg\n"
        ));
    }
    yaml.push_str("sql: |\n");
    for line in sql.lines() {
        yaml.push_str(&format!("  {line}\n"));
    }
    let path = dir.join("dozer-config.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn check(path: &Path, mode: LockMode) -> (Checked, String, bool) {
    let mut map = SourceMap::default();
    let mut diags = Diagnostics::default();
    let checked = check_paths(
        &[path.to_path_buf()],
        CheckOptions { lock_mode: mode },
        &mut map,
        &mut diags,
    );
    let text: String = diags
        .sorted()
        .into_iter()
        .map(|d| render(d, &map, RenderOptions::default()))
        .collect();
    (checked, text, diags.has_errors())
}

#[test]
fn postgres_sources_are_introspected_and_locked() {
    let pg = TestPostgres::start().expect("test PostgreSQL");
    pg.psql("postgres", "CREATE DATABASE shop").unwrap();
    pg.psql(
        "shop",
        "CREATE TABLE users (
            id int8 PRIMARY KEY, name text NOT NULL, email varchar(100), balance numeric(10,2),
            score float8, active bool NOT NULL DEFAULT true, created timestamptz, birthday date,
            meta jsonb, token uuid, avatar bytea, small int2);
         CREATE TABLE orders (user_id int4, line int4, amount numeric NOT NULL, PRIMARY KEY (line, user_id));
         CREATE TABLE shapes (id int PRIMARY KEY, p point);",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url("shop");

    // Types, nullability and (composite, ordered) primary keys come from the database.
    let cfg = write_config(
        dir.path(),
        &url,
        &["users", "orders"],
        "SELECT u.name, SUM(o.amount) AS spent INTO spending FROM users u JOIN orders o ON u.id = o.user_id GROUP BY u.name;",
    );
    let (checked, text, failed) = check(&cfg, LockMode::Normal);
    assert!(!failed, "{text}");
    let users = &checked.catalog.sources["users"].schema;
    let types: Vec<(&str, SqlType, bool)> = users
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.ty, c.nullable))
        .collect();
    assert_eq!(
        types,
        vec![
            ("id", SqlType::Int, false),
            ("name", SqlType::String, false),
            ("email", SqlType::String, true),
            ("balance", SqlType::Decimal, true),
            ("score", SqlType::Float, true),
            ("active", SqlType::Boolean, false),
            ("created", SqlType::Timestamp, true),
            ("birthday", SqlType::Date, true),
            ("meta", SqlType::Json, true),
            ("token", SqlType::String, true),
            ("avatar", SqlType::Binary, true),
            ("small", SqlType::Int, true),
        ]
    );
    assert_eq!(users.primary_key_names(), vec!["id"]);
    assert_eq!(
        checked.catalog.sources["orders"].schema.primary_key_names(),
        vec!["line", "user_id"]
    );
    let lock = std::fs::read_to_string(dir.path().join("dozer.lock")).unwrap();
    assert!(
        lock.contains("\"balance\", \"type\": \"decimal\""),
        "{lock}"
    );
    assert!(
        !lock.contains("postgres:postgres@"),
        "the lock file must not hold the password:\n{lock}"
    );

    // A changed table: the default mode keeps using the lock file; --locked notices.
    pg.psql("shop", "ALTER TABLE users ADD COLUMN nickname text")
        .unwrap();
    let (checked, text, failed) = check(&cfg, LockMode::Normal);
    assert!(!failed, "{text}");
    assert!(checked.catalog.sources["users"]
        .schema
        .column_index("nickname")
        .is_none());
    let (_, text, failed) = check(&cfg, LockMode::Locked);
    assert!(
        failed
            && text.contains("changed since dozer.lock")
            && text.contains("column `nickname` added"),
        "{text}"
    );
    let (checked, text, failed) = check(&cfg, LockMode::Refresh);
    assert!(!failed, "{text}");
    assert!(checked.catalog.sources["users"]
        .schema
        .column_index("nickname")
        .is_some());

    // SQL is checked against the real columns, with suggestions.
    let cfg = write_config(
        dir.path(),
        &url,
        &["users"],
        "SELECT nmae INTO names FROM users;",
    );
    let (_, text, failed) = check(&cfg, LockMode::Refresh);
    assert!(
        failed
            && text.contains("column `nmae` does not exist")
            && text.contains("did you mean `name`?"),
        "{text}"
    );

    // An unsupported column type names the type and the column.
    let cfg = write_config(
        dir.path(),
        &url,
        &["shapes"],
        "SELECT id INTO ids FROM shapes;",
    );
    let (_, text, failed) = check(&cfg, LockMode::Refresh);
    assert!(
        failed && text.contains("type point of column `p`") && text.contains("not supported yet"),
        "{text}"
    );

    // A missing table names the table and suggests the closest one.
    let cfg = write_config(dir.path(), &url, &["user"], "SELECT id INTO ids FROM user;");
    let (_, text, failed) = check(&cfg, LockMode::Refresh);
    assert!(
        failed
            && text.contains("table `public.user` does not exist")
            && text.contains("did you mean `users`?"),
        "{text}"
    );

    // Wrong password, missing database, unreachable server: each says what to fix.
    let bad_pw = url.replace("postgres:postgres@", "postgres:wrong@");
    let cfg = write_config(
        dir.path(),
        &bad_pw,
        &["users"],
        "SELECT id INTO ids FROM users;",
    );
    let (_, text, failed) = check(&cfg, LockMode::Refresh);
    assert!(
        failed && text.contains("rejected the password of user `postgres`"),
        "{text}"
    );
    let message = text.lines().find(|l| l.contains('×')).unwrap_or_default();
    assert!(
        !message.contains("wrong"),
        "the password must not be in the message:\n{text}"
    );

    let no_db = url.replace("/shop", "/nosuchdb");
    let cfg = write_config(
        dir.path(),
        &no_db,
        &["users"],
        "SELECT id INTO ids FROM users;",
    );
    let (_, text, failed) = check(&cfg, LockMode::Refresh);
    assert!(
        failed
            && text.contains("database `nosuchdb` does not exist")
            && text.contains("createdb nosuchdb"),
        "{text}"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let closed = format!("postgresql://postgres:postgres@127.0.0.1:{port}/shop");
    let cfg = write_config(
        dir.path(),
        &closed,
        &["users"],
        "SELECT id INTO ids FROM users;",
    );
    let (_, text, failed) = check(&cfg, LockMode::Refresh);
    assert!(
        failed
            && text.contains("cannot connect to PostgreSQL at 127.0.0.1")
            && text.contains("pg_isready"),
        "{text}"
    );
}
