//! Snapshot tests over the config corpus in `tests/corpus/`:
//! - `bad/*.yaml` must produce at least one error; the rendered diagnostics are snapshotted
//!   (file:line:col, underlined text, hint).
//! - `good/*.yaml` must produce no error; the schema, key and logical plan of every query are
//!   snapshotted, with any notes.
//!
//! Sources get fixed schemas (no files or databases), so the snapshots only change when the front
//! end does. Run `cargo insta review` after an intended change.

// The emitted code of the good corpus (and of every type combination) compiled.
#[path = "build_matrix.rs"]
mod build_matrix;

use std::path::Path;

use dozer_tests::front_end::{corpus_schema, front_end, front_end_text};

/// Runs the pure front end on one corpus file: (rendered diagnostics, has errors, rendered plans).
fn run(path: &Path) -> (String, bool, String) {
    let f = front_end(path, corpus_schema);
    for d in f.diags.iter() {
        assert!(
            d.help.is_some(),
            "{}: diagnostic `{}` ({}) has no hint",
            path.display(),
            d.message,
            d.code
        );
    }
    let plans: String = f
        .queries
        .iter()
        .map(|q| format!("{} ({})\n{}\n", q.into, q.plan.schema, q.plan))
        .collect();
    (f.rendered(), f.diags.has_errors(), plans)
}

#[test]
fn bad_configs_report_located_errors() {
    let mut count = 0;
    insta::glob!("corpus/bad/*.yaml", |path| {
        count += 1;
        let (rendered, has_errors, _) = run(path);
        assert!(
            has_errors,
            "{} produced no error:\n{rendered}",
            path.display()
        );
        // Every error points at a place in the file.
        assert!(
            rendered.contains("╭─["),
            "{}: an error without a location:\n{rendered}",
            path.display()
        );
        insta::assert_snapshot!(rendered);
    });
    assert!(
        count >= 30,
        "the bad corpus should have at least 30 configs, has {count}"
    );
}

#[test]
fn good_configs_type_check() {
    insta::glob!("corpus/good/*.yaml", |path| {
        let (rendered, has_errors, plans) = run(path);
        assert!(!has_errors, "{} has errors:\n{rendered}", path.display());
        insta::assert_snapshot!(format!("{plans}\n{rendered}"));
    });
}

/// What `build` refuses, `check` refuses first, with a location: for every config of the corpus
/// and the examples, a clean check means code generation succeeds, and no diagnostic saying
/// "not supported yet" lacks a place in the config or SQL.
#[test]
fn check_refuses_everything_build_refuses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![];
    for dir in ["corpus/good", "corpus/bad"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            files.push(entry.path());
        }
    }
    for entry in std::fs::read_dir(root.join("../examples"))
        .unwrap()
        .flatten()
    {
        let config = entry.path().join("dozer-config.yaml");
        if config.is_file() {
            files.push(config);
        }
    }
    assert!(files.len() >= 40, "only {} configs", files.len());
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    {
        let f = front_end(path, corpus_schema);
        for d in f.diags.iter() {
            if d.message.contains("not supported yet") {
                assert!(
                    !d.labels.is_empty(),
                    "{}: `{}` has no location",
                    path.display(),
                    d.message
                );
            }
        }
        if !f.diags.has_errors() {
            if let Err(e) = f.emit(Path::new("/dozerc/runtime"), Path::new("/app")) {
                panic!(
                    "{}: check passed, code generation refused: {e}",
                    path.display()
                );
            }
        }
    }
}

/// A source column of a type apps cannot hold (a duration, which only window sizes and TTLs are)
/// is refused by check at the source, not by code generation without a place.
#[test]
fn duration_source_columns_are_refused_at_the_source() {
    let yaml = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/good/ecommerce.yaml"),
    )
    .unwrap();
    let schema = |name: &str| {
        let mut s = corpus_schema(name);
        s.columns.push(dozerc::catalog::Column {
            name: "Elapsed".into(),
            ty: dozerc::types::SqlType::Duration,
            nullable: true,
        });
        s
    };
    let f = front_end_text("duration.yaml", yaml, schema);
    let refused: Vec<_> = f
        .diags
        .iter()
        .filter(|d| d.code == "catalog::unsupported-type")
        .collect();
    assert!(!refused.is_empty(), "{}", f.rendered());
    assert!(refused.iter().all(|d| !d.labels.is_empty()));
    assert!(
        !f.diags.iter().any(|d| d.code.starts_with("codegen::")),
        "{}",
        f.rendered()
    );
}

/// The app crate dozerc emits for a good corpus config, with fixed paths so snapshots do not
/// depend on the machine.
fn emit_good(path: &Path) -> Result<dozerc::codegen::AppCrate, dozerc::codegen::CodegenError> {
    let f = front_end(path, corpus_schema);
    assert!(!f.diags.has_errors());
    f.emit(Path::new("/dozerc/runtime"), Path::new("/app"))
}

#[test]
fn good_configs_generate_deterministic_code() {
    insta::glob!("corpus/good/*.yaml", |path| {
        let first = emit_good(path);
        assert_eq!(
            first,
            emit_good(path),
            "{}: output differs between runs",
            path.display()
        );
        match first {
            Ok(app) => {
                for name in [
                    "Cargo.toml",
                    "README.md",
                    "src/main.rs",
                    "src/pipeline.rs",
                    "src/typed.rs",
                    "openapi.json",
                ] {
                    assert!(app.files.contains_key(name), "{name} missing");
                }
                insta::assert_snapshot!(app.files["src/pipeline.rs"].as_str());
                insta::assert_snapshot!("openapi", app.files["openapi.json"].as_str());
                // The typed gRPC services: each endpoint's `.proto` file, and the Rust generated
                // from them (but the embedded descriptors, which are those files encoded).
                let protos: String = app
                    .files
                    .iter()
                    .filter(|(name, _)| name.starts_with("proto/dozer/generated/"))
                    .map(|(name, text)| format!("// ---- {name}\n{text}"))
                    .collect();
                insta::assert_snapshot!("protos", protos);
                let typed: Vec<&str> = app.files["src/typed.rs"]
                    .lines()
                    .filter(|l| !l.starts_with("const DESCRIPTOR_SET"))
                    .collect();
                insta::assert_snapshot!("typed", typed.join("\n"));
            }
            Err(e) => {
                let e = e.to_string();
                assert!(
                    e.starts_with("not supported yet: "),
                    "{}: {e}",
                    path.display()
                );
                insta::assert_snapshot!(e);
            }
        }
    });
}
