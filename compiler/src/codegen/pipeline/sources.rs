//! Sources: each source's row struct and parser, and how the runtime is told to read it (files
//! or a PostgreSQL table), from what the catalog resolved.

use super::{PipelineGen, SourceInfo, SourceRead};
use crate::catalog::read::FileFormat;
use crate::catalog::read::{
    FileFolder, GrpcRead, MySqlRead, Password, PgRead, SourceRead as CatalogRead,
};
use crate::codegen::error::CodegenError;
use crate::codegen::names::{comment, snake};
use crate::program::ProgramSource;
use crate::sql::plan::PlanSchema;
use dozer_folder::Credential;

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
                    comment(&folder_location(&f.folder)),
                    comment(&f.extension)
                );
                (doc, SourceRead::Files(f.clone()))
            }
            CatalogRead::Delta(f) => {
                let doc = format!(
                    "A row of source `{}` (Delta table `{}`).",
                    comment(&name),
                    comment(&folder_location(f))
                );
                let (names, types, _) = column_lists(&entry.schema);
                let table = format!(
                    "DeltaTable {{ folder: {}, columns: Vec::from([{names}]), types: Vec::from([{types}]) }}",
                    folder(f),
                );
                (doc, SourceRead::Delta(table))
            }
            CatalogRead::Grpc(g) => {
                let doc = format!(
                    "A row of source `{}` (schema `{}` pushed to connection `{}` on {}:{}).",
                    comment(&name),
                    comment(&g.table),
                    comment(&g.connection),
                    comment(&g.host),
                    g.port
                );
                (doc, SourceRead::Grpc(grpc_table(g, &entry.schema)))
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
            SourceRead::Postgres(_)
            | SourceRead::MySql(_)
            | SourceRead::Delta(_)
            | SourceRead::Grpc(_) => FileFormat::Parquet,
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

/// An object store's credential, likewise.
fn credential(c: &Credential) -> String {
    match c {
        Credential::Env(var) => format!("Credential::Env({var:?}.into())"),
        Credential::Literal(secret) => format!("Credential::Literal({secret:?}.into())"),
        Credential::None => "Credential::None".into(),
    }
}

/// A file table's folder, as the runtime opens it: a local directory relative to `base` (the
/// config's directory) unless absolute, or an S3 location whose credentials the app reads when
/// it starts unless the config wrote them out.
pub(super) fn folder(f: &FileFolder) -> String {
    let opt = |v: &Option<String>| match v {
        Some(v) => format!("Some({v:?}.into())"),
        None => "None".into(),
    };
    match f {
        FileFolder::Local(dir) => format!("Folder::local(base.join({dir:?}))"),
        FileFolder::S3(s3) => format!(
            "Folder::s3(S3Location {{ connection: {:?}.into(), bucket: {:?}.into(), prefix: {:?}.into(), region: {}, endpoint: {}, access_key_id: {}, secret_access_key: {} }}, Patience::Run)",
            s3.connection,
            s3.bucket,
            s3.prefix,
            opt(&s3.region),
            opt(&s3.endpoint),
            credential(&s3.access_key_id),
            credential(&s3.secret_access_key),
        ),
    }
}

/// Where a folder is, for comments: its path, or its `s3://` URL.
fn folder_location(f: &FileFolder) -> String {
    let at = match f {
        FileFolder::Local(dir) => dir.clone(),
        FileFolder::S3(s3) => format!("s3://{}/{}", s3.bucket, s3.prefix),
    };
    at.trim_end_matches('/').to_string()
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

/// The runtime's description of a `!Grpc` source table.
pub(super) fn grpc_table(g: &GrpcRead, columns: &crate::catalog::TableSchema) -> String {
    let (names, types, key) = column_lists(columns);
    let nullable: Vec<String> = columns
        .columns
        .iter()
        .map(|c| c.nullable.to_string())
        .collect();
    format!(
        "GrpcTable {{ connection: GrpcConnection {{ name: {:?}.into(), host: {:?}.into(), port: {} }}, table: {:?}.into(), columns: Vec::from([{names}]), types: Vec::from([{types}]), nullable: Vec::from([{}]), primary_key: Vec::from([{key}]) }}",
        g.connection,
        g.host,
        g.port,
        g.table,
        nullable.join(", "),
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use dozer_folder::S3Location;

    #[test]
    fn s3_credentials_from_variables_are_read_when_the_app_starts() {
        let s3 = |key: Credential, secret: Credential| {
            folder(&FileFolder::S3(Box::new(S3Location {
                connection: "lake".into(),
                bucket: "shop-data".into(),
                prefix: "exports/orders".into(),
                region: Some("eu-west-1".into()),
                endpoint: None,
                access_key_id: key,
                secret_access_key: secret,
            })))
        };
        let from_env = s3(
            Credential::Env("AWS_ACCESS_KEY_ID".into()),
            Credential::Env("LAKE_SECRET".into()),
        );
        assert!(
            from_env.contains(r#"secret_access_key: Credential::Env("LAKE_SECRET".into())"#),
            "{from_env}"
        );
        assert!(!from_env.contains("Literal"), "{from_env}");
        // Left out: the app's AWS_* variables apply.
        let defaults = s3(Credential::None, Credential::None);
        assert!(
            defaults
                .contains("access_key_id: Credential::None, secret_access_key: Credential::None"),
            "{defaults}"
        );
        assert!(defaults.contains(r#"prefix: "exports/orders".into(), region: Some("eu-west-1".into()), endpoint: None"#), "{defaults}");
    }
}
