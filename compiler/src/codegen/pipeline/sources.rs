//! Sources: each source's row struct and parser, and how the runtime is told to read it (files
//! or a PostgreSQL table), from what the catalog resolved.

use super::{PipelineGen, SourceInfo, SourceRead};
use crate::catalog::read::FileFormat;
use crate::catalog::read::{MySqlRead, Password, PgRead, SourceRead as CatalogRead};
use crate::codegen::error::CodegenError;
use crate::codegen::names::{comment, snake};
use crate::program::ProgramSource;
use crate::sql::plan::PlanSchema;

impl PipelineGen<'_> {
    pub(super) fn add_source(&mut self, s: &ProgramSource) -> Result<(), CodegenError> {
        let name = s.name.clone();
        let entry = s;
        let fields = PlanSchema::source_fields(&entry.schema, None);
        let Some(how) = &entry.read else {
            return Err(CodegenError::Internal(format!(
                "source `{name}` has no way to be read; check reports its connection"
            )));
        };
        let (doc, read) = match how {
            CatalogRead::Files(f) => {
                let doc = format!(
                    "A row of source `{}` (files `{}/*{}`).",
                    comment(&name),
                    comment(&f.dir),
                    comment(&f.extension)
                );
                (doc, SourceRead::Files(f.clone()))
            }
            CatalogRead::Postgres(p) => {
                let doc = format!(
                    "A row of source `{}` (PostgreSQL table `{}.{}` of connection `{}`).",
                    comment(&name),
                    comment(&p.schema),
                    comment(&p.table),
                    comment(&p.connection)
                );
                (doc, SourceRead::Postgres(pg_table(p, &entry.schema)))
            }
            CatalogRead::MySql(m) => {
                let doc = format!(
                    "A row of source `{}` (MySQL table `{}.{}` of connection `{}`).",
                    comment(&name),
                    comment(&m.schema),
                    comment(&m.table),
                    comment(&m.connection)
                );
                (doc, SourceRead::MySql(mysql_table(m, &entry.schema)?))
            }
        };
        let ty = self.add_type(&name, doc, &fields)?;
        let ident = snake(&name);
        self.inputs.insert(ident.clone(), ty);
        self.sources.push(SourceInfo {
            name,
            ident,
            ty,
            read,
        });
        Ok(())
    }

    pub(super) fn parser(&self, s: &SourceInfo) -> Result<String, CodegenError> {
        let t = &self.types[s.ty];
        let mut inits = vec![];
        // How a record is opened, and the accessor prefix and argument for its fields.
        let format = match &s.read {
            SourceRead::Files(f) => f.format,
            // Rows of values, as Parquet's are.
            SourceRead::Postgres(_) | SourceRead::MySql(_) => FileFormat::Parquet,
        };
        let (read, prefix, record) = match format {
            FileFormat::JsonLines => ("let o = at.json(record)?;".to_string(), "json", "&o"),
            FileFormat::Parquet => (
                format!("let v = at.values(record, {})?;", t.fields.len()),
                "value",
                "v",
            ),
            _ => (
                format!("let f = at.csv(record, {})?;", t.fields.len()),
                "csv",
                "f",
            ),
        };
        for (i, (f, sql)) in t.fields.iter().zip(&t.sql_names).enumerate() {
            let null = if f.nullable { "nullable" } else { "required" };
            inits.push(format!(
                "{}: at.{prefix}_{null}({record}, {i}, {sql:?})?",
                f.ident
            ));
        }
        Ok(format!(
            "/// Reads a record of source `{}`; a bad value is reported with its file, line and column.\nfn parse_{}(at: RecordAt<'_>, record: &RawRecord) -> Result<{}, BadRecord> {{ {read} Ok({} {{ {} }}) }}\n",
            comment(&s.name),
            s.ident,
            t.name,
            t.name,
            inits.join(", ")
        ))
    }
}

/// A password as the runtime is told where to find it. It is compiled in only when the config
/// wrote it out; `{{VAR}}` makes the app read the variable when it starts.
fn password(p: &Password) -> String {
    match p {
        Password::Env(var) => format!("Password::Env({var:?}.into())"),
        Password::Literal(secret) => format!("Password::Literal({secret:?}.into())"),
        Password::None => "Password::None".into(),
    }
}

/// A table's column names, types and primary key, as the runtime's `Vec` literals' items.
fn column_lists(columns: &crate::catalog::TableSchema) -> (String, String, String) {
    let names: Vec<String> = columns
        .columns
        .iter()
        .map(|c| format!("{:?}.into()", c.name))
        .collect();
    let types: Vec<String> = columns
        .columns
        .iter()
        .map(|c| format!("SqlType::{:?}", c.ty))
        .collect();
    let key: Vec<String> = columns.primary_key.iter().map(|i| i.to_string()).collect();
    (names.join(", "), types.join(", "), key.join(", "))
}

/// The runtime's description of a MySQL source table.
pub(super) fn mysql_table(
    m: &MySqlRead,
    columns: &crate::catalog::TableSchema,
) -> Result<String, CodegenError> {
    if columns.row_image.len() != columns.columns.len() {
        return Err(CodegenError::Internal(format!(
            "MySQL table `{}.{}` has no row image layout; run `dozerc check --refresh`",
            m.schema, m.table
        )));
    }
    let (names, types, key) = column_lists(columns);
    let positions: Vec<String> = columns
        .row_image
        .iter()
        .map(|c| c.position.to_string())
        .collect();
    let bits: Vec<String> = columns
        .row_image
        .iter()
        .map(|c| c.int_bits.to_string())
        .collect();
    let unsigned: Vec<String> = columns
        .row_image
        .iter()
        .map(|c| c.unsigned.to_string())
        .collect();
    Ok(format!(
        "MySqlTable {{ connection: MySqlConnection {{ name: {:?}.into(), host: {:?}.into(), port: {}, user: {:?}.into(), password: {}, database: {:?}.into(), server_id: {} }}, database: {:?}.into(), table: {:?}.into(), columns: Vec::from([{names}]), types: Vec::from([{types}]), positions: Vec::from([{}]), int_bits: Vec::from([{}]), unsigned: Vec::from([{}]), primary_key: Vec::from([{key}]) }}",
        m.connection,
        m.host,
        m.port,
        m.user,
        password(&m.password),
        m.database,
        m.server_id,
        m.schema,
        m.table,
        positions.join(", "),
        bits.join(", "),
        unsigned.join(", "),
    ))
}

/// The runtime's description of a PostgreSQL source table.
pub(super) fn pg_table(p: &PgRead, columns: &crate::catalog::TableSchema) -> String {
    let password = password(&p.password);
    let (names, types, key) = column_lists(columns);
    // A relative `sslrootcert` is found under the app's base directory, as its source files.
    let tls = format!(
        "PgTls {{ mode: SslMode::{:?}, root_cert: {} }}",
        p.tls_mode,
        match &p.root_cert {
            Some(path) => format!("Some(base.join({path:?}))"),
            None => "None".into(),
        }
    );
    format!(
        "PgTable {{ connection: PgConnection {{ name: {:?}.into(), host: {:?}.into(), port: {}, user: {:?}.into(), password: {password}, database: {:?}.into(), slot: {:?}.into(), publication: {:?}.into(), tls: {tls} }}, schema: {:?}.into(), table: {:?}.into(), columns: Vec::from([{}]), types: Vec::from([{}]), primary_key: Vec::from([{}]) }}",
        p.connection,
        p.host,
        p.port,
        p.user,
        p.database,
        p.slot,
        p.publication,
        p.schema,
        p.table,
        names,
        types,
        key
    )
}
