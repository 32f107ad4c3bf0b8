//! Snapshot tests over the config corpus in `tests/corpus/`:
//! - `bad/*.yaml` must produce at least one error; the rendered diagnostics are snapshotted
//!   (file:line:col, underlined text, hint).
//! - `good/*.yaml` must produce no error; the schema, key and logical plan of every query are
//!   snapshotted, with any notes.
//!
//! Sources get fixed schemas (no files or databases), so the snapshots only change when the front
//! end does. Run `cargo insta review` after an intended change.

use std::path::{Path, PathBuf};

use dozer_tests::fuzz::sales_schema;
use dozerc::catalog::{Catalog, Column, SourceEntry, TableSchema};
use dozerc::diagnostic::{render, Diagnostics, RenderOptions, SourceMap};
use dozerc::types::SqlType;

fn catalog_for(config: &dozerc::config::Config) -> Catalog {
    let c = |name: &str, ty, nullable| Column {
        name: name.into(),
        ty,
        nullable,
    };
    let mut catalog = Catalog::default();
    for s in &config.sources {
        let schema = match s.name.value.as_str() {
            "orders" => TableSchema {
                columns: vec![
                    c("id", SqlType::Int, false),
                    c("customer_id", SqlType::Int, false),
                    c("amount", SqlType::Decimal, false),
                    c("created_at", SqlType::Timestamp, false),
                ],
                primary_key: vec![0],
            },
            "customers" => TableSchema {
                columns: vec![
                    c("id", SqlType::Int, false),
                    c("name", SqlType::String, false),
                    c("country", SqlType::String, true),
                ],
                primary_key: vec![0],
            },
            _ => sales_schema(),
        };
        catalog.sources.insert(
            s.name.value.clone(),
            SourceEntry {
                definition: String::new(),
                schema,
            },
        );
    }
    catalog
}

/// The pure front end over one corpus file, with the fixed source schemas of [`catalog_for`].
struct FrontEnd {
    map: SourceMap,
    diags: Diagnostics,
    config: dozerc::config::Config,
    catalog: Catalog,
    queries: Vec<dozerc::sql::BoundQuery>,
}

fn front_end(path: &Path) -> FrontEnd {
    let name = format!(
        "corpus/{}",
        path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
            .display()
    )
    .replace("corpus/corpus/", "corpus/");
    let text = std::fs::read_to_string(path).unwrap();
    let mut map = SourceMap::default();
    let file = map.add(name, text);
    let mut diags = Diagnostics::default();
    let env = |k: &str| (k == "DOZER_TEST_SET").then(|| "value".to_string());
    let config =
        dozerc::config::from_files(&[file], &[], PathBuf::from("."), &map, &env, &mut diags);
    let catalog = catalog_for(&config);
    let queries = dozerc::check::check_config(&config, &catalog, &mut diags);
    FrontEnd {
        map,
        diags,
        config,
        catalog,
        queries,
    }
}

/// Runs the pure front end on one corpus file: (rendered diagnostics, has errors, rendered plans).
fn run(path: &Path) -> (String, bool, String) {
    let FrontEnd {
        map,
        diags,
        queries,
        ..
    } = front_end(path);
    for d in diags.iter() {
        assert!(
            d.help.is_some(),
            "{}: diagnostic `{}` ({}) has no hint",
            path.display(),
            d.message,
            d.code
        );
    }
    let rendered: String = diags
        .sorted()
        .into_iter()
        .map(|d| render(d, &map, RenderOptions::default()) + "\n")
        .collect();
    let plans: String = queries
        .iter()
        .map(|q| format!("{} ({})\n{}\n", q.into, q.plan.schema, q.plan))
        .collect();
    (rendered, diags.has_errors(), plans)
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

/// The app crate dozerc emits for a good corpus config, with fixed paths so snapshots do not
/// depend on the machine.
fn emit_good(path: &Path) -> Result<dozerc::codegen::AppCrate, dozerc::codegen::CodegenError> {
    let f = front_end(path);
    assert!(!f.diags.has_errors());
    dozerc::codegen::emit(
        &f.config,
        &f.catalog,
        &f.queries,
        &dozerc::codegen::EmitOptions {
            runtime_dir: Path::new("/dozerc/runtime"),
            config_name: "dozer-config.yaml",
            base_dir: Path::new("/app"),
        },
    )
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
