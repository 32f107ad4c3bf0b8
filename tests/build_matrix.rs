//! A crate dozerc emits must compile whenever `dozerc check` passes: a crate that does not is a
//! compiler bug (the binder's types and the generated code disagree), found here rather than by a
//! user's `dozerc build`.
//!
//! Compiled, all in one cargo build:
//! - every good corpus config with every timestamp and date column made nullable (as in Parquet
//!   files from pyarrow or the NYC TLC, whose columns are all optional);
//! - a matrix over every column type, nullable and NOT NULL, keyed and keyless: TUMBLE, HOP and
//!   TTL over each time column, equi-joins (inner, left, right) on every pair of key types the
//!   binder accepts, every aggregate over every column it accepts, GROUP BY on every column,
//!   DISTINCT and UNION over all of them.
//!
//! Candidate statements are asked of the binder one by one; what it accepts must build. The
//! emitted pipelines and typed services become modules of one crate (built into the tests'
//! shared target directory, so the runtime is compiled once, and at `opt-level = 0`: the question
//! is whether it compiles).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use dozer_tests::front_end::{corpus_schema, front_end, front_end_text, with_nullable_times};
use dozerc::catalog::{Column, TableSchema};
use dozerc::types::SqlType;

/// Every column type a source can have but `duration`, which code generation refuses as "not
/// supported yet" (a source column of that type cannot be built today).
fn types() -> impl Iterator<Item = SqlType> {
    SqlType::ALL.into_iter().filter(|t| *t != SqlType::Duration)
}

/// `c_<type>` NOT NULL and `n_<type>` nullable for every type; `t` is keyed by `c_int`, `u` has
/// no key.
fn matrix_schema(source: &str) -> TableSchema {
    let mut columns = vec![];
    for ty in types() {
        for (prefix, nullable) in [("c", false), ("n", true)] {
            columns.push(Column {
                name: format!("{prefix}_{ty}"),
                ty,
                nullable,
            });
        }
    }
    let primary_key = if source == "t" {
        vec![columns.iter().position(|c| c.name == "c_int").unwrap()]
    } else {
        vec![]
    };
    TableSchema {
        columns,
        primary_key,
        row_image: vec![],
    }
}

fn column_names() -> Vec<String> {
    matrix_schema("u")
        .columns
        .into_iter()
        .map(|c| c.name)
        .collect()
}

/// A config over sources `t` and `u` with `statements` (`SELECT ... INTO qN ...`), each served.
fn matrix_config(statements: &[String]) -> String {
    let mut yaml = String::from(
        "version: 1\napp_name: matrix\nconnections:\n  - name: files\n    config: !LocalStorage\n      details:\n        path: ./data\n      tables:\n        - !Table { name: t, config: !Parquet { path: t } }\n        - !Table { name: u, config: !Parquet { path: u } }\nsources:\n  - { name: t, table_name: t, connection: files }\n  - { name: u, table_name: u, connection: files }\nsql: |\n",
    );
    for s in statements {
        writeln!(yaml, "  {s};").unwrap();
    }
    yaml.push_str("endpoints:\n");
    for i in 0..statements.len() {
        writeln!(yaml, "  - {{ name: q{i}, path: /q{i}, table_name: q{i} }}").unwrap();
    }
    yaml
}

/// Whether the binder accepts `select` (with `INTO q0`) alone.
fn accepted(select: &str) -> bool {
    let f = front_end_text(
        "matrix.yaml",
        matrix_config(&[select.replacen("INTO q ", "INTO q0 ", 1)]),
        matrix_schema,
    );
    !f.diags.has_errors()
}

/// The matrix's statements the binder accepts, numbered `INTO q<i>`.
fn matrix_statements() -> Vec<String> {
    let cols = column_names();
    let mut candidates: Vec<String> = vec![];
    // Windows and TTL over each time column, keyed and keyless.
    for time in ["c_timestamp", "n_timestamp"] {
        for src in ["t", "u"] {
            let tumble = format!("TUMBLE({src}, {time}, '5 MINUTES')");
            let hop = format!("HOP({src}, {time}, '1 MINUTE', '5 MINUTES')");
            candidates.extend([
                format!("SELECT * INTO q FROM {tumble}"),
                format!("SELECT * INTO q FROM {hop}"),
                format!("SELECT window_start, window_end, COUNT(*) AS n, SUM(n_decimal) AS s, MAX({time}) AS m INTO q FROM {tumble} GROUP BY window_start, window_end"),
                format!("SELECT * INTO q FROM TTL({src}, {time}, '1 DAY')"),
                format!("SELECT * INTO q FROM TTL({tumble}, {time}, '10 MINUTES')"),
                format!("SELECT x.c_int AS location, SUM(x.n_float) AS total, x.window_start AS start, x.window_end AS end INTO q FROM TTL({hop}, {time}, '10 MINUTES') x GROUP BY x.c_int, x.window_start, x.window_end"),
            ]);
        }
    }
    // Joins on every pair of types the binder accepts: nullable and NOT NULL keys, each kind.
    for a in types() {
        for b in types() {
            for (kind, l, r) in [
                ("JOIN", "n", "c"),
                ("LEFT JOIN", "c", "n"),
                ("RIGHT JOIN", "n", "n"),
            ] {
                candidates.push(format!(
                    "SELECT l.c_int AS lk, l.{l}_{a} AS la, r.{r}_{b} AS rb, r.n_string AS rs INTO q FROM t l {kind} u r ON l.{l}_{a} = r.{r}_{b}"
                ));
            }
        }
    }
    // Every aggregate the binder accepts over every column, grouped and global; GROUP BY on every
    // column.
    let mut global = vec![];
    for col in &cols {
        let aggs: Vec<String> = [
            "COUNT({})",
            "COUNT(DISTINCT {})",
            "SUM({})",
            "AVG({})",
            "MIN({})",
            "MAX({})",
        ]
        .iter()
        .map(|f| f.replace("{}", col))
        .filter(|agg| {
            accepted(&format!(
                "SELECT c_int, {agg} AS a INTO q FROM t GROUP BY c_int"
            ))
        })
        .collect();
        let named: Vec<String> = aggs
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{a} AS a{i}"))
            .collect();
        candidates.push(format!(
            "SELECT n_string, {} INTO q FROM u GROUP BY n_string",
            named.join(", ")
        ));
        global.extend(
            aggs.iter()
                .enumerate()
                .map(|(i, a)| format!("{a} AS {col}_{i}")),
        );
        candidates.push(format!(
            "SELECT {col}, COUNT(*) AS n INTO q FROM u GROUP BY {col}"
        ));
    }
    candidates.push(format!("SELECT {} INTO q FROM t", global.join(", ")));
    candidates.push("SELECT DISTINCT * INTO q FROM u".into());
    candidates.push("SELECT * INTO q FROM t UNION SELECT * FROM u".into());
    candidates.push("SELECT * INTO q FROM t UNION ALL SELECT * FROM u".into());
    candidates
        .into_iter()
        .filter(|s| accepted(s))
        .enumerate()
        .map(|(i, s)| s.replacen("INTO q ", &format!("INTO q{i} "), 1))
        .collect()
}

#[test]
fn every_crate_that_checks_builds() {
    let runtime = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime");
    let runtime = runtime.canonicalize().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/build-matrix");
    let _ = std::fs::remove_dir_all(root.join("src"));
    std::fs::create_dir_all(root.join("src")).unwrap();

    let mut variants: Vec<(String, dozerc::codegen::AppCrate)> = vec![];
    let mut good: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/good"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
    good.sort();
    for path in &good {
        let f = front_end(path, |s| with_nullable_times(corpus_schema(s)));
        assert!(
            !f.diags.has_errors(),
            "{} with nullable times does not check:\n{}",
            path.display(),
            f.rendered()
        );
        let name = path
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .replace('-', "_");
        let app = f
            .emit(&runtime, &root)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        variants.push((name, app));
    }
    let statements = matrix_statements();
    if std::env::var_os("DOZER_SHOW_MATRIX").is_some() {
        eprintln!("{}", statements.join(";\n"));
    }
    assert!(
        statements.len() > 80,
        "only {} matrix statements",
        statements.len()
    );
    let f = front_end_text("matrix.yaml", matrix_config(&statements), matrix_schema);
    assert!(!f.diags.has_errors(), "{}", f.rendered());
    variants.push(("matrix".into(), f.emit(&runtime, &root).unwrap()));

    let mut main = String::from(
        "//! Every variant's pipeline and typed services (see tests/build_matrix.rs).\n\n",
    );
    let mut uses = String::new();
    for (name, app) in &variants {
        let dir = root.join("src").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for file in ["pipeline.rs", "typed.rs"] {
            std::fs::write(dir.join(file), &app.files[&format!("src/{file}")]).unwrap();
        }
        writeln!(
            main,
            "mod {name} {{\n    #[path = \"{0}/pipeline.rs\"]\n    pub mod pipeline;\n    #[path = \"{0}/typed.rs\"]\n    pub mod typed;\n}}",
            dir.display()
        )
        .unwrap();
        writeln!(
            uses,
            "    let _: &dyn TypedMessages = &{name}::typed::Typed;\n    let _ = {name}::pipeline::open;"
        )
        .unwrap();
    }
    writeln!(
        main,
        "\nuse dozer_runtime::contract::TypedMessages;\n\nfn main() {{\n{uses}}}"
    )
    .unwrap();
    std::fs::write(root.join("src/main.rs"), main).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        format!(
            "[package]\nname = \"dozerc-build-matrix\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\ndozer-runtime = {{ path = \"{}\" }}\n\n# Dependencies as every test app builds them (shared, prebuilt); this crate only type-checks\n# and links.\n[profile.release]\nlto = \"off\"\nincremental = true\ncodegen-units = 16\n\n[profile.release.package.dozerc-build-matrix]\nopt-level = 0\n\n[workspace]\n",
            runtime.display()
        ),
    )
    .unwrap();
    std::fs::copy(runtime.join("../Cargo.lock"), root.join("Cargo.lock")).unwrap();
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(dozer_tests::app::target_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the emitted code of {} variants ({} matrix statements) does not compile:\n{}",
        variants.len(),
        statements.len(),
        String::from_utf8_lossy(&out.stderr)
    );
}
