//! Schemas of PostgreSQL sources, read from the live database's system catalog at build time.
//!
//! Every failure is turned into a diagnostic that says what to do: an unreachable server, a wrong
//! password, a missing database, table or column, a missing privilege, an unsupported column type.
//! A `wal_level` other than `logical` is a warning here (the schema is readable) and an error when the
//! app starts replicating.

use std::time::Duration;

use tokio_postgres::error::SqlState;

use super::read::{client_config, host_port, tls_of};
use super::schema::{Column, TableSchema};
use crate::config::{Config, Connection, PostgresConfig, Source};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::types::SqlType;

/// Upper bound for reading one table's schema, connection included.
const INTROSPECTION_TIMEOUT: Duration = Duration::from_secs(30);

fn target(cfg: &tokio_postgres::Config) -> String {
    let (host, port) = host_port(cfg);
    format!("{host}:{port}")
}

pub fn introspect(
    config: &Config,
    conn: &Connection,
    pg: &PostgresConfig,
    source: &Source,
    diags: &mut Diagnostics,
) -> Option<TableSchema> {
    let tls_span = pg
        .sslrootcert
        .as_ref()
        .or(pg.sslmode.as_ref())
        .or(pg.connection_url.as_ref())
        .map_or(conn.kind_span, |s| s.span);
    let tls = tls_of(pg).and_then(|mut tls| {
        // A relative `sslrootcert` is relative to the config, as every path of it.
        tls.root_cert = tls
            .root_cert
            .map(|p| config.resolve_path(&p.display().to_string()));
        tls.connector().map(|c| (tls.mode, c))
    });
    let (tls_mode, connector) = match tls {
        Ok(t) => t,
        Err(e) => {
            diags.push(
                Diagnostic::error("catalog::postgres-tls", e)
                    .label(tls_span, "here")
                    .help("give `sslrootcert` the PEM file of the CA that signed the server's certificate"),
            );
            return None;
        }
    };
    let mut cfg = match client_config(pg) {
        Ok(c) => c,
        Err(e) => {
            let span = pg
                .connection_url
                .as_ref()
                .map_or(conn.kind_span, |u| u.span);
            diags.push(
                Diagnostic::error("catalog::postgres-config", e)
                    .label(span, "here")
                    .help("the form is postgresql://user:password@host:5432/database"),
            );
            return None;
        }
    };
    cfg.ssl_mode(tls_mode.negotiation());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            diags.push(Diagnostic::error(
                "catalog::runtime",
                format!("cannot start the I/O runtime: {e}"),
            ).help("the system is out of threads or file descriptors; check `ulimit -n` and `ulimit -u`"));
            return None;
        }
    };
    let schema_name = source.postgres_schema(pg).to_string();
    let result = runtime.block_on(async {
        tokio::time::timeout(
            INTROSPECTION_TIMEOUT,
            read_table(&cfg, connector, &schema_name, &source.table_name.value),
        )
        .await
        .unwrap_or(Err(Failure::Timeout))
    });
    let user = cfg.get_user().unwrap_or("postgres").to_string();
    let db = cfg.get_dbname().unwrap_or("postgres").to_string();
    match result {
        Ok(table) => {
            if table.wal_level != "logical" {
                diags.push(
                    Diagnostic::warning(
                        "catalog::postgres-wal-level",
                        format!("PostgreSQL at {} has wal_level = {}; following changes needs `logical`", target(&cfg), table.wal_level),
                    )
                    .label(conn.name.span, "this connection")
                    .help("run `ALTER SYSTEM SET wal_level = logical;` as a superuser, then restart PostgreSQL"),
                );
            }
            if !table.can_select {
                diags.push(
                    Diagnostic::error(
                        "catalog::postgres-privilege",
                        format!(
                            "user `{user}` may not read table `{schema_name}.{}`",
                            source.table_name.value
                        ),
                    )
                    .label(source.table_name.span, "no SELECT privilege")
                    .help(format!(
                        "run `GRANT SELECT ON {schema_name}.{} TO {user};`",
                        source.table_name.value
                    )),
                );
            }
            let mut columns = vec![];
            let mut ok = true;
            for c in &table.columns {
                match pg_type(&c.type_name) {
                    Some(ty) => columns.push(Column {
                        name: c.name.clone(),
                        ty,
                        nullable: c.nullable,
                    }),
                    None => {
                        let selected = source
                            .columns
                            .as_ref()
                            .is_none_or(|cols| cols.iter().any(|s| s.value == c.name));
                        if selected {
                            ok = false;
                            diags.push(
                                Diagnostic::error(
                                    "catalog::unsupported-type",
                                    format!(
                                        "type {} of column `{}` (table `{schema_name}.{}`) is not supported yet",
                                        c.display_type, c.name, source.table_name.value
                                    ),
                                )
                                .label(source.table_name.span, format!("column `{}` is {}", c.name, c.display_type))
                                .help("leave the column out with `columns: [...]` on the source, or expose it cast to text through a view"),
                            );
                        }
                        // Keep the position so the primary key indices stay right; dropped below.
                        columns.push(Column {
                            name: c.name.clone(),
                            ty: SqlType::Binary,
                            nullable: true,
                        });
                    }
                }
            }
            if !ok {
                return None;
            }
            let mut pk: Vec<(i32, usize)> = table
                .columns
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.pk_position.map(|p| (p, i)))
                .collect();
            pk.sort();
            Some(TableSchema {
                columns,
                primary_key: pk.into_iter().map(|(_, i)| i).collect(),
                row_image: vec![],
            })
        }
        Err(Failure::NoTable { tables }) => {
            let mut d = Diagnostic::error(
                "catalog::postgres-no-table",
                format!(
                    "table `{schema_name}.{}` does not exist in database `{db}` at {}",
                    source.table_name.value,
                    target(&cfg)
                ),
            )
            .label(source.table_name.span, "no such table");
            let names: Vec<&str> = tables.iter().map(String::as_str).collect();
            d = d.suggest(&source.table_name.value, &names, |names| {
                if names.is_empty() {
                    format!("schema `{schema_name}` has no tables; create it, or set `schema:` on the source")
                } else {
                    format!("tables in `{schema_name}`: {}", names.join(", "))
                }
            });
            diags.push(d);
            None
        }
        Err(Failure::Timeout) => {
            diags.push(
                Diagnostic::error(
                    "catalog::postgres-timeout",
                    format!(
                        "PostgreSQL at {} did not answer within {}s while reading `{schema_name}.{}`",
                        target(&cfg),
                        INTROSPECTION_TIMEOUT.as_secs(),
                        source.table_name.value
                    ),
                )
                .label(conn.kind_span, "this connection")
                .help("check that the server is not overloaded or blocked by a lock on the table (pg_stat_activity)"),
            );
            None
        }
        Err(Failure::Db(e)) => {
            diags.push(connection_error(conn, &cfg, &user, &db, &e));
            None
        }
    }
}

fn connection_error(
    conn: &Connection,
    cfg: &tokio_postgres::Config,
    user: &str,
    db: &str,
    e: &tokio_postgres::Error,
) -> Diagnostic {
    let at = target(cfg);
    let name = &conn.name.value;
    let (message, help) = match (e.as_db_error(), dozer_pg_tls::explain(e)) {
        (Some(db_err), _) if *db_err.code() == SqlState::INVALID_PASSWORD => (
            format!("PostgreSQL at {at} rejected the password of user `{user}` (connection `{name}`)"),
            "check `user` and `password` (put secrets in the environment: `password: \"{{PG_PASSWORD}}\"`)".to_string(),
        ),
        (Some(db_err), _) if *db_err.code() == SqlState::INVALID_AUTHORIZATION_SPECIFICATION => (
            format!("PostgreSQL at {at} refused user `{user}`: {}", db_err.message()),
            "allow the user in pg_hba.conf (e.g. `host all <user> 0.0.0.0/0 scram-sha-256`) and reload PostgreSQL".to_string(),
        ),
        (Some(db_err), _) if *db_err.code() == SqlState::INVALID_CATALOG_NAME => (
            format!("database `{db}` does not exist at {at} (connection `{name}`)"),
            format!("create it (`createdb {db}`) or fix `database:`"),
        ),
        (Some(db_err), _) => (format!("PostgreSQL at {at} (connection `{name}`): {}", db_err.message()), db_err.hint().unwrap_or("check the connection settings").to_string()),
        (None, Some(why)) => (
            format!("cannot connect to PostgreSQL at {at} (connection `{name}`): {why}"),
            "`sslmode` and `sslrootcert` on the connection say how the server's certificate is checked".to_string(),
        ),
        (None, None) => {
            let source = std::error::Error::source(e).map(|s| s.to_string()).unwrap_or_else(|| e.to_string());
            (
                format!("cannot connect to PostgreSQL at {at} (connection `{name}`): {source}"),
                format!("is the server running and reachable? check `host` and `port`; `pg_isready -h {}` tells", at.replace(':', " -p ")),
            )
        }
    };
    Diagnostic::error("catalog::postgres-connect", message)
        .label(conn.kind_span, "this connection")
        .help(help)
}

fn pg_type(type_name: &str) -> Option<SqlType> {
    Some(match type_name {
        "int2" | "int4" | "int8" => SqlType::Int,
        "numeric" => SqlType::Decimal,
        "float4" | "float8" => SqlType::Float,
        "text" | "varchar" | "bpchar" | "char" | "name" | "uuid" => SqlType::String,
        "bool" => SqlType::Boolean,
        "timestamp" | "timestamptz" => SqlType::Timestamp,
        "date" => SqlType::Date,
        "json" | "jsonb" => SqlType::Json,
        "bytea" => SqlType::Binary,
        _ => return None,
    })
}

struct PgColumn {
    name: String,
    type_name: String,
    display_type: String,
    nullable: bool,
    pk_position: Option<i32>,
}

struct PgTable {
    columns: Vec<PgColumn>,
    can_select: bool,
    wal_level: String,
}

enum Failure {
    NoTable { tables: Vec<String> },
    Db(tokio_postgres::Error),
    Timeout,
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Db(e)
    }
}

const COLUMNS_SQL: &str = "
SELECT a.attname::text,
       t.typname::text,
       format_type(a.atttypid, a.atttypmod),
       NOT a.attnotnull,
       array_position((SELECT i.indkey::int2[] FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary), a.attnum),
       has_table_privilege(c.oid, 'SELECT')
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid
JOIN pg_type t ON t.oid = a.atttypid
WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY a.attnum";

async fn read_table(
    cfg: &tokio_postgres::Config,
    tls: dozer_pg_tls::MakeRustlsConnect,
    schema: &str,
    table: &str,
) -> Result<PgTable, Failure> {
    let (client, connection) = cfg.connect(tls).await?;
    let driver = tokio::spawn(connection);
    let rows = client.query(COLUMNS_SQL, &[&schema, &table]).await?;
    if rows.is_empty() {
        let tables = client
            .query(
                "SELECT relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1",
                &[&schema],
            )
            .await?
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect();
        return Err(Failure::NoTable { tables });
    }
    let can_select = rows.iter().all(|r| r.get::<_, bool>(5));
    let columns = rows
        .iter()
        .map(|r| PgColumn {
            name: r.get(0),
            type_name: r.get(1),
            display_type: r.get(2),
            nullable: r.get(3),
            pk_position: r.get(4),
        })
        .collect();
    let wal_level: String = client.query_one("SHOW wal_level", &[]).await?.get(0);
    drop(client);
    let _ = driver.await;
    Ok(PgTable {
        columns,
        can_select,
        wal_level,
    })
}
