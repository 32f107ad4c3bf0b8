//! Schemas of MySQL and MariaDB sources, read from the live server's `information_schema` at
//! build time, with the server settings the binlog stream needs checked on the way.
//!
//! Every failure is a diagnostic that says what to do: an unreachable server, a wrong password,
//! a missing database or table, a missing privilege, an unsupported column type. Settings the
//! app needs only when it streams (`log_bin`, `binlog_format=ROW`, `binlog_row_image=FULL`) are
//! warnings here — the schema is readable without them — and errors when the app starts.

use std::time::Duration;

use mysql_async::prelude::Queryable;

use super::read::mysql_url;
use super::schema::{Column, ImageColumn, TableSchema};
use crate::config::{Connection, MySqlConfig, Source};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::types::SqlType;

/// Upper bound for reading one table's schema, connection included.
const INTROSPECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// A column as `information_schema.COLUMNS` describes it.
struct MyColumn {
    name: String,
    /// `DATA_TYPE` (`int`, `varchar`, …) and `COLUMN_TYPE` (`int(10) unsigned`, `tinyint(1)`).
    data_type: String,
    column_type: String,
    nullable: bool,
    /// `CHARACTER_SET_NAME` (text columns only).
    charset: Option<String>,
    /// `json_valid(col)` checks it: MariaDB's JSON (a `longtext` with that constraint).
    json_checked: bool,
}

struct MyTable {
    columns: Vec<MyColumn>,
    /// Column names of the primary key, in key order.
    primary_key: Vec<String>,
    settings: [(&'static str, Option<String>); 3],
}

enum Failure {
    NoTable { tables: Vec<String> },
    Server(mysql_async::Error),
    Timeout,
}

impl From<mysql_async::Error> for Failure {
    fn from(e: mysql_async::Error) -> Self {
        Failure::Server(e)
    }
}

/// Whether the binlog reader decodes text in the column's character set.
fn charset_read(c: &MyColumn) -> bool {
    matches!(
        c.charset.as_deref(),
        None | Some("utf8mb4" | "utf8mb3" | "utf8" | "ascii" | "binary" | "latin1")
    )
}

/// The source's type of a column, and its integer width (0: not an integer) and sign; `None`:
/// not supported yet (also text in a character set the binlog reader does not decode).
fn my_type(c: &MyColumn) -> Option<(SqlType, u8, bool)> {
    if !charset_read(c) {
        return None;
    }
    let unsigned = c.column_type.contains("unsigned");
    let int = |bits: u8| (SqlType::Int, bits, unsigned);
    Some(match c.data_type.as_str() {
        // MySQL's BOOL is TINYINT(1).
        "tinyint" if c.column_type.starts_with("tinyint(1)") => (SqlType::Boolean, 8, unsigned),
        "tinyint" => int(8),
        "smallint" => int(16),
        "mediumint" => int(24),
        "int" | "integer" => int(32),
        "bigint" if unsigned => (SqlType::UInt, 64, true),
        "bigint" => int(64),
        "year" => (SqlType::Int, 0, false),
        "bit" if c.column_type == "bit(1)" => (SqlType::Boolean, 0, false),
        "decimal" | "numeric" => (SqlType::Decimal, 0, false),
        "float" | "double" | "real" => (SqlType::Float, 0, false),
        "longtext" if c.json_checked => (SqlType::Json, 0, false),
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => {
            (SqlType::String, 0, false)
        }
        "json" => (SqlType::Json, 0, false),
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
            (SqlType::Binary, 0, false)
        }
        "date" => (SqlType::Date, 0, false),
        "datetime" | "timestamp" => (SqlType::Timestamp, 0, false),
        _ => return None,
    })
}

pub fn introspect(
    conn: &Connection,
    my: &MySqlConfig,
    source: &Source,
    diags: &mut Diagnostics,
) -> Option<TableSchema> {
    let url = match mysql_url(&my.url.value) {
        Ok(u) => u,
        Err(e) => {
            diags.push(
                Diagnostic::error("catalog::mysql-url", e)
                    .label(my.url.span, "here")
                    .help("the form is mysql://user:password@host:3306/database"),
            );
            return None;
        }
    };
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
    let database = source.mysql_database(&url.database).to_string();
    let table_name = &source.table_name.value;
    let at = format!("{}:{}", url.host, url.port);
    let result = runtime.block_on(async {
        tokio::time::timeout(
            INTROSPECTION_TIMEOUT,
            read_table(&my.url.value, &database, table_name),
        )
        .await
        .unwrap_or(Err(Failure::Timeout))
    });
    match result {
        Ok(table) => {
            for (name, value) in &table.settings {
                let (wanted, fix) = match *name {
                    "log_bin" => ("ON", "start the server with `--log-bin` (my.cnf `[mysqld] log_bin = mysql-bin`) and a `server_id`, then restart it"),
                    "binlog_format" => ("ROW", "run `SET GLOBAL binlog_format = 'ROW';` and set `binlog_format = ROW` in my.cnf"),
                    _ => ("FULL", "run `SET GLOBAL binlog_row_image = 'FULL';` and set `binlog_row_image = FULL` in my.cnf"),
                };
                let ok = value.as_deref().is_some_and(|v| {
                    v.eq_ignore_ascii_case(wanted) || (*name == "log_bin" && v == "1")
                });
                if !ok {
                    diags.push(
                        Diagnostic::warning(
                            "catalog::mysql-binlog-setting",
                            format!(
                                "MySQL at {at} has {name} = {}; following changes needs {wanted}",
                                value.as_deref().unwrap_or("unset")
                            ),
                        )
                        .label(conn.name.span, "this connection")
                        .help(fix),
                    );
                }
            }
            let mut columns = vec![];
            let mut row_image = vec![];
            let mut ok = true;
            for (position, c) in table.columns.iter().enumerate() {
                let (ty, int_bits, unsigned) = match my_type(c) {
                    Some(t) => t,
                    None => {
                        let selected = source
                            .columns
                            .as_ref()
                            .is_none_or(|cols| cols.iter().any(|s| s.value == c.name));
                        if selected {
                            ok = false;
                            let d = match &c.charset {
                                Some(charset) if !charset_read(c) => Diagnostic::error(
                                    "catalog::unsupported-charset",
                                    format!(
                                        "character set {charset} of column `{}` (table `{database}.{table_name}`) is not supported yet",
                                        c.name
                                    ),
                                )
                                .label(source.table_name.span, format!("column `{}` is {} in {charset}", c.name, c.column_type))
                                .help(format!("convert the table: ALTER TABLE `{database}`.`{table_name}` CONVERT TO CHARACTER SET utf8mb4; (or leave the column out with `columns: [...]`)")),
                                _ => Diagnostic::error(
                                    "catalog::unsupported-type",
                                    format!(
                                        "type {} of column `{}` (table `{database}.{table_name}`) is not supported yet",
                                        c.column_type, c.name
                                    ),
                                )
                                .label(source.table_name.span, format!("column `{}` is {}", c.name, c.column_type))
                                .help("leave the column out with `columns: [...]` on the source, or expose it cast to text through a view"),
                            };
                            diags.push(d);
                        }
                        // Keep the position so the primary key indices stay right; dropped below.
                        (SqlType::Binary, 0, false)
                    }
                };
                columns.push(Column {
                    name: c.name.clone(),
                    ty,
                    nullable: c.nullable,
                });
                row_image.push(ImageColumn {
                    position,
                    int_bits,
                    unsigned,
                });
            }
            if !ok {
                return None;
            }
            let primary_key = table
                .primary_key
                .iter()
                .filter_map(|k| columns.iter().position(|c| &c.name == k))
                .collect();
            Some(TableSchema {
                columns,
                primary_key,
                row_image,
            })
        }
        Err(Failure::NoTable { tables }) => {
            let mut d = Diagnostic::error(
                "catalog::mysql-no-table",
                format!("table `{database}.{table_name}` does not exist at {at} (or user `{}` may not see it)", url.user),
            )
            .label(source.table_name.span, "no such table");
            let names: Vec<&str> = tables.iter().map(String::as_str).collect();
            d = d.suggest(table_name, &names, |names| {
                if names.is_empty() {
                    format!("database `{database}` has no tables the user can see; create the table, grant SELECT on it (`GRANT SELECT ON {database}.* TO '{}'@'%';`), or set `schema:` on the source to its database", url.user)
                } else {
                    format!("tables in `{database}`: {}", names.join(", "))
                }
            });
            diags.push(d);
            None
        }
        Err(Failure::Timeout) => {
            diags.push(
                Diagnostic::error(
                    "catalog::mysql-timeout",
                    format!(
                        "MySQL at {at} did not answer within {}s while reading `{database}.{table_name}`",
                        INTROSPECTION_TIMEOUT.as_secs()
                    ),
                )
                .label(conn.kind_span, "this connection")
                .help("check that the server is reachable and not overloaded (SHOW PROCESSLIST)"),
            );
            None
        }
        Err(Failure::Server(e)) => {
            diags.push(connection_error(conn, &at, &url.user, &url.database, e));
            None
        }
    }
}

async fn read_table(url: &str, database: &str, table: &str) -> Result<MyTable, Failure> {
    let opts = mysql_async::Opts::from_url(url).map_err(mysql_async::Error::from)?;
    let mut c = mysql_async::Conn::new(opts).await?;
    let columns: Vec<(String, String, String, String, Option<String>)> = c
        .exec(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, CHARACTER_SET_NAME FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (database, table),
        )
        .await?;
    if columns.is_empty() {
        let tables: Vec<String> = c
            .exec(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
                (database,),
            )
            .await?;
        return Err(Failure::NoTable { tables });
    }
    let primary_key: Vec<String> = c
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
            (database, table),
        )
        .await?;
    // MariaDB's JSON is a LONGTEXT with a `json_valid` check (MySQL has no such table before
    // 8.0.16, and a JSON type of its own).
    let checks: Vec<String> = c
        .exec(
            "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?",
            (database, table),
        )
        .await
        .unwrap_or_default();
    let settings: Option<(Option<String>, Option<String>, Option<String>)> = c
        .query_first("SELECT @@GLOBAL.log_bin, @@GLOBAL.binlog_format, @@GLOBAL.binlog_row_image")
        .await?;
    let (log_bin, format, image) = settings.unwrap_or_default();
    let _ = c.disconnect().await;
    Ok(MyTable {
        columns: columns
            .into_iter()
            .map(
                |(name, data_type, column_type, nullable, charset)| MyColumn {
                    json_checked: checks.iter().any(|k| {
                        let k = k.to_ascii_lowercase().replace(' ', "");
                        k == format!("json_valid(`{}`)", name.to_ascii_lowercase())
                    }),
                    name,
                    data_type: data_type.to_ascii_lowercase(),
                    column_type: column_type.to_ascii_lowercase(),
                    nullable: nullable == "YES",
                    charset: charset.map(|s| s.to_ascii_lowercase()),
                },
            )
            .collect(),
        primary_key,
        settings: [
            ("log_bin", log_bin),
            ("binlog_format", format),
            ("binlog_row_image", image),
        ],
    })
}

fn connection_error(
    conn: &Connection,
    at: &str,
    user: &str,
    db: &str,
    e: mysql_async::Error,
) -> Diagnostic {
    let name = &conn.name.value;
    let (message, help) = match e {
        mysql_async::Error::Server(s) if s.code == 1045 => (
            format!("MySQL at {at} rejected user `{user}` (connection `{name}`): {}", s.message),
            "check the user and password in `url` (put secrets in the environment: `url: mysql://app:{{MYSQL_PASSWORD}}@host:3306/db`)".to_string(),
        ),
        mysql_async::Error::Server(s) if s.code == 1049 => (
            format!("database `{db}` does not exist at {at} (connection `{name}`)"),
            format!("create it (`CREATE DATABASE {db};`) or fix the database in `url`"),
        ),
        mysql_async::Error::Server(s) if s.code == 1044 || s.code == 1142 => (
            format!("user `{user}` may not read database `{db}` at {at}: {}", s.message),
            format!("run `GRANT SELECT ON {db}.* TO '{user}'@'%';`"),
        ),
        mysql_async::Error::Server(s) => (
            format!("MySQL at {at} (connection `{name}`): {} (error {})", s.message, s.code),
            "check the connection settings".to_string(),
        ),
        other => (
            format!("cannot connect to MySQL at {at} (connection `{name}`): {other}"),
            format!("is the server running and reachable? check the host and port in `url`; `mysqladmin -h {} ping` tells", at.replace(':', " -P ")),
        ),
    };
    Diagnostic::error("catalog::mysql-connect", message)
        .label(conn.kind_span, "this connection")
        .help(help)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(data_type: &str, column_type: &str) -> MyColumn {
        MyColumn {
            name: "c".into(),
            data_type: data_type.into(),
            column_type: column_type.into(),
            nullable: true,
            charset: None,
            json_checked: false,
        }
    }

    #[test]
    fn types_follow_the_column_type() {
        assert_eq!(
            my_type(&col("tinyint", "tinyint(1)")),
            Some((SqlType::Boolean, 8, false))
        );
        assert_eq!(
            my_type(&col("tinyint", "tinyint(4)")),
            Some((SqlType::Int, 8, false))
        );
        assert_eq!(
            my_type(&col("mediumint", "mediumint(9)")),
            Some((SqlType::Int, 24, false))
        );
        assert_eq!(
            my_type(&col("int", "int(10) unsigned")),
            Some((SqlType::Int, 32, true))
        );
        assert_eq!(
            my_type(&col("bigint", "bigint(20) unsigned")),
            Some((SqlType::UInt, 64, true))
        );
        assert_eq!(
            my_type(&col("decimal", "decimal(10,2)")),
            Some((SqlType::Decimal, 0, false))
        );
        assert_eq!(
            my_type(&col("timestamp", "timestamp(3)")),
            Some((SqlType::Timestamp, 0, false))
        );
        let mut json = col("longtext", "longtext");
        assert_eq!(my_type(&json), Some((SqlType::String, 0, false)));
        json.json_checked = true;
        assert_eq!(my_type(&json), Some((SqlType::Json, 0, false)));
        assert_eq!(my_type(&col("enum", "enum('a','b')")), None);
        assert_eq!(my_type(&col("time", "time")), None);
        let mut sjis = col("varchar", "varchar(10)");
        sjis.charset = Some("sjis".into());
        assert_eq!(my_type(&sjis), None);
        sjis.charset = Some("latin1".into());
        assert_eq!(my_type(&sjis), Some((SqlType::String, 0, false)));
    }
}
