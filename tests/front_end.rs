//! dozerc's pure front end (config → catalog → bound queries → emitted crate) over configs whose
//! sources get fixed schemas instead of files or databases: what the corpus snapshots and the
//! build matrix run.

use std::path::{Path, PathBuf};

use dozerc::catalog::{Catalog, Column, ImageColumn, SourceEntry, TableSchema};
use dozerc::diagnostic::{render, Diagnostics, RenderOptions, SourceMap};
use dozerc::types::SqlType;

use crate::fuzz::sales_schema;

/// The schemas the corpus configs are checked against: `orders` and `customers` as in the
/// PostgreSQL examples, anything else the e-commerce sales.
pub fn corpus_schema(source: &str) -> TableSchema {
    let c = |name: &str, ty, nullable| Column {
        name: name.into(),
        ty,
        nullable,
    };
    match source {
        "orders" => TableSchema {
            columns: vec![
                c("id", SqlType::Int, false),
                c("customer_id", SqlType::Int, false),
                c("amount", SqlType::Decimal, false),
                c("created_at", SqlType::Timestamp, false),
            ],
            primary_key: vec![0],
            row_image: image(&[64, 64, 0, 0]),
        },
        "customers" => TableSchema {
            columns: vec![
                c("id", SqlType::Int, false),
                c("name", SqlType::String, false),
                c("country", SqlType::String, true),
            ],
            primary_key: vec![0],
            row_image: image(&[32, 0, 0]),
        },
        _ => sales_schema(),
    }
}

/// Where the columns sit in a MySQL table's row images (read only for `!MySQL` sources): in
/// order, signed integers of these widths (0: not an integer).
fn image(int_bits: &[u8]) -> Vec<ImageColumn> {
    int_bits
        .iter()
        .enumerate()
        .map(|(position, &int_bits)| ImageColumn {
            position,
            int_bits,
            unsigned: false,
        })
        .collect()
}

/// `schema` with every timestamp and date column nullable (as in Parquet files written by most
/// tools, whose columns are all optional).
pub fn with_nullable_times(mut schema: TableSchema) -> TableSchema {
    for c in &mut schema.columns {
        if matches!(c.ty, SqlType::Timestamp | SqlType::Date) {
            c.nullable = true;
        }
    }
    schema
}

/// The front end's results for one config.
pub struct FrontEnd {
    pub map: SourceMap,
    pub diags: Diagnostics,
    pub config: dozerc::config::Config,
    pub catalog: Catalog,
    pub queries: Vec<dozerc::sql::BoundQuery>,
}

impl FrontEnd {
    /// The diagnostics, rendered.
    pub fn rendered(&self) -> String {
        self.diags
            .sorted()
            .into_iter()
            .map(|d| render(d, &self.map, RenderOptions::default()) + "\n")
            .collect()
    }

    /// The app crate dozerc emits for the config (fixed paths, so it does not depend on the
    /// machine).
    pub fn emit(
        &self,
        runtime_dir: &Path,
        base_dir: &Path,
    ) -> Result<dozerc::codegen::AppCrate, dozerc::codegen::CodegenError> {
        let program = dozerc::program::Program::new(&self.config, &self.catalog, &self.queries);
        dozerc::codegen::emit(
            &program,
            &dozerc::codegen::EmitOptions {
                runtime_dir,
                config_name: "dozer-config.yaml",
                base_dir,
            },
        )
    }
}

/// Runs the front end on a corpus file; each source's schema is `schema(source name)`.
pub fn front_end(path: &Path, schema: impl Fn(&str) -> TableSchema) -> FrontEnd {
    let name = format!(
        "corpus/{}",
        path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
            .display()
    )
    .replace("corpus/corpus/", "corpus/");
    let text = std::fs::read_to_string(path).unwrap();
    front_end_text(&name, text, schema)
}

/// Runs the front end on a config's text, named `name` in diagnostics.
pub fn front_end_text(name: &str, text: String, schema: impl Fn(&str) -> TableSchema) -> FrontEnd {
    let mut map = SourceMap::default();
    let file = map.add(name.to_string(), text);
    let mut diags = Diagnostics::default();
    let env = |k: &str| (k == "DOZER_TEST_SET").then(|| "value".to_string());
    let config =
        dozerc::config::from_files(&[file], &[], PathBuf::from("."), &map, &env, &mut diags);
    let mut catalog = Catalog::default();
    for s in &config.sources {
        catalog.sources.insert(
            s.name.value.clone(),
            SourceEntry {
                definition: String::new(),
                schema: schema(&s.name.value),
                read: dozerc::catalog::read::reading(&config, s),
            },
        );
    }
    let queries = dozerc::check::check_config(&config, &catalog, &mut diags);
    // As `dozerc check` does: what code generation would refuse is refused now, located.
    dozerc::check::check_generated(&config, &catalog, &queries, &mut diags);
    FrontEnd {
        map,
        diags,
        config,
        catalog,
        queries,
    }
}
