//! SQL semantics as data: the case files of `tests/sql/`, each query run by PostgreSQL and by one
//! app compiled for all of them, compared by value.
//!
//! A case file is a list of records separated by blank lines (format in `tests/sql/README.md`):
//! `statement` records create and fill tables in PostgreSQL; `query <name>` records are
//! dozerc SQL (`SELECT ... INTO <name> ...`), answered by PostgreSQL from the same text without
//! its `INTO` (or from the record's `---- postgres` part where PostgreSQL spells it otherwise);
//! `error <line>:<col> <code>` records are SQL that `dozerc check` must refuse with that
//! diagnostic at that place of the SQL. Every table of the folder is a source of the one app,
//! read from PostgreSQL through its snapshot, and every query one of its endpoints.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use dozer_test_support::oracle::{diff_rows, query_values};
use dozer_test_support::postgres::{TestPostgres, PASSWORD};
use dozer_tests::app;
use dozer_tests::front_end::front_end_text;

/// One record of a case file.
#[derive(Debug)]
enum Record {
    Statement(String),
    Query {
        name: String,
        sql: String,
        postgres: Option<String>,
    },
    Error {
        line: usize,
        column: usize,
        code: String,
        sql: String,
    },
}

/// A record with the file and line it starts at, for messages.
#[derive(Debug)]
struct Case {
    at: String,
    record: Record,
}

fn parse(path: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(path).unwrap();
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut cases = vec![];
    let mut lines = text.lines().enumerate().peekable();
    while let Some((n, line)) = lines.next() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{file}:{}", n + 1);
        // The record's body: the lines up to a blank one.
        let mut body = vec![];
        while let Some((_, l)) = lines.peek() {
            if l.trim().is_empty() {
                break;
            }
            body.push(lines.next().unwrap().1.trim_end().to_string());
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let record = match words.as_slice() {
            ["statement"] => Record::Statement(body.join("\n")),
            ["query", name] => {
                let split = body.iter().position(|l| l == "---- postgres");
                let (sql, postgres) = match split {
                    Some(i) => (body[..i].join("\n"), Some(body[i + 1..].join("\n"))),
                    None => (body.join("\n"), None),
                };
                Record::Query {
                    name: name.to_string(),
                    sql,
                    postgres,
                }
            }
            ["error", place, code] => {
                let (l, c) = place
                    .split_once(':')
                    .unwrap_or_else(|| panic!("{at}: `error LINE:COLUMN CODE`"));
                Record::Error {
                    line: l.parse().unwrap(),
                    column: c.parse().unwrap(),
                    code: code.to_string(),
                    sql: body.join("\n"),
                }
            }
            _ => panic!("{at}: a record starts with `statement`, `query NAME` or `error L:C CODE`, not `{line}`"),
        };
        cases.push(Case { at, record });
    }
    cases
}

/// The case files, in name order.
fn case_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

/// The query without its `INTO <name>`: what PostgreSQL runs.
fn without_into(sql: &str, name: &str) -> String {
    let lower = sql.to_ascii_lowercase();
    let clause = format!("into {}", name.to_ascii_lowercase());
    let at = lower
        .find(&clause)
        .unwrap_or_else(|| panic!("query `{name}` has no `INTO {name}`:\n{sql}"));
    format!("{}{}", &sql[..at], &sql[at + clause.len()..])
}

/// Tables created by `statement` records (`CREATE TABLE <name>`), in order.
fn created_tables(sql: &str) -> Vec<String> {
    let lower = sql.to_ascii_lowercase();
    let mut out = vec![];
    let mut rest = lower.as_str();
    while let Some(i) = rest.find("create table") {
        rest = &rest[i + "create table".len()..];
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        out.push(name);
    }
    out
}

/// The config of the app that runs every query, reading every table from `pg`.
fn config(pg: &TestPostgres, tables: &[String], queries: &[(String, String)]) -> String {
    let mut yaml = format!(
        "version: 1\napp_name: sql_cases\nconnections:\n  - name: pg\n    config: !Postgres\n      user: postgres\n      password: {PASSWORD}\n      host: {}\n      port: {}\n      database: cases\nsources:\n",
        pg.host(),
        pg.port()
    );
    for t in tables {
        writeln!(
            yaml,
            "  - name: {t}\n    table_name: {t}\n    connection: pg"
        )
        .unwrap();
    }
    yaml.push_str("sql: |\n");
    for (_, sql) in queries {
        for line in sql.lines() {
            writeln!(yaml, "  {line}").unwrap();
        }
        yaml.push_str("  ;\n");
    }
    yaml.push_str("endpoints:\n");
    for (name, _) in queries {
        writeln!(
            yaml,
            "  - name: {name}\n    path: /{name}\n    table_name: {name}"
        )
        .unwrap();
    }
    yaml
}

/// An `error` record's SQL alone in a config over every table of the folder, and the YAML line
/// its SQL starts on (indented by two spaces).
fn error_config(sources: &[String], sql: &str) -> (String, usize) {
    let mut yaml = String::from(
        "version: 1\napp_name: sql_case\nconnections:\n  - name: pg\n    config: !Postgres\n      user: postgres\n      host: 127.0.0.1\n      database: cases\nsources:\n",
    );
    for t in sources {
        writeln!(yaml, "  - {{name: {t}, table_name: {t}, connection: pg}}").unwrap();
    }
    yaml.push_str("sql: |\n");
    let first = yaml.lines().count() + 1;
    for line in sql.lines() {
        writeln!(yaml, "  {line}").unwrap();
    }
    (yaml, first)
}

#[test]
fn sql_cases_match_postgres() {
    let files = case_files();
    assert!(!files.is_empty(), "no case files in tests/sql/");
    let cases: Vec<Case> = files.iter().flat_map(|f| parse(f)).collect();

    let pg = TestPostgres::start().expect("test PostgreSQL");
    pg.psql("postgres", "CREATE DATABASE cases").unwrap();
    let mut client = pg.connect("cases").unwrap();
    client.batch_execute("SET TIME ZONE 'UTC'").unwrap();
    let mut tables: Vec<String> = vec![];
    let mut queries: Vec<(String, String)> = vec![];
    let mut names = BTreeSet::new();
    for case in &cases {
        match &case.record {
            Record::Statement(sql) => {
                client.batch_execute(sql).unwrap_or_else(|e| {
                    panic!("{}: PostgreSQL refused the statement: {e}", case.at)
                });
                for t in created_tables(sql) {
                    assert!(
                        !tables.contains(&t),
                        "{}: table `{t}` exists already (table names are global to tests/sql/)",
                        case.at
                    );
                    tables.push(t);
                }
            }
            Record::Query { name, sql, .. } => {
                assert!(
                    names.insert(name.clone()),
                    "{}: a second query `{name}`",
                    case.at
                );
                queries.push((name.clone(), sql.clone()));
            }
            Record::Error { .. } => {}
        }
    }

    // One app for every query.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dozer-config.yaml");
    std::fs::write(&path, config(&pg, &tables, &queries)).unwrap();
    let app = app::build(&path);
    let out = app.run(&["run", "--once"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("caught up"), "{log}");

    let mut failures = vec![];
    let mut compared = 0;
    for case in &cases {
        match &case.record {
            Record::Statement(_) => {}
            Record::Query {
                name,
                sql,
                postgres,
            } => {
                let oracle = postgres.clone().unwrap_or_else(|| without_into(sql, name));
                let expected = match query_values(&mut client, &oracle) {
                    Ok(rows) => rows,
                    Err(e) => {
                        failures.push(format!("{}: PostgreSQL: {e}\n{oracle}", case.at));
                        continue;
                    }
                };
                let actual = app.dump(name);
                if let Some(diff) = diff_rows(&actual, &expected) {
                    failures.push(format!(
                        "{}: `{name}` differs from PostgreSQL's\n{sql}\n{diff}",
                        case.at
                    ));
                }
                compared += 1;
            }
            Record::Error {
                line,
                column,
                code,
                sql,
            } => {
                let schema = |name: &str| app.checked.catalog.sources[name].schema.clone();
                let (yaml, first) = error_config(&tables, sql);
                let f = front_end_text("case.yaml", yaml, schema);
                let rendered = f.rendered();
                let want = format!("case.yaml:{}:{}", first + line - 1, column + 2);
                let found = f.diags.iter().any(|d| d.code == code) && rendered.contains(&want);
                if !found {
                    failures.push(format!(
                        "{}: expected `{code}` at {line}:{column} of the SQL ({want}), got:\n{rendered}",
                        case.at
                    ));
                }
            }
        }
    }
    assert!(compared >= 40, "only {compared} queries compared");
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
