//! The I/O of one MySQL connection, on a thread of its own: checks, the snapshot, then the binlog
//! stream, reconnecting with backoff when the connection is lost. Whole transactions go to the
//! runner through a bounded channel (a runner that falls behind slows the stream down; the
//! server keeps its binlog files until `binlog_expire_logs_seconds` — purged ones are reported).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dozer_types::{SqlType, Value};
use futures_util::StreamExt;
use mysql_async::binlog::events::{EventData, RowsEventData};
use mysql_async::binlog::row::BinlogRow;
use mysql_async::binlog::value::BinlogValue;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStreamRequest, Conn, OptsBuilder, Row};

use super::connection::{quote, BinlogPosition, MySqlConnection, MySqlTable};
use super::delivery::{Delivery, Transaction};
use super::spool::SpoolWriter;
use super::value::{self, Charset, Column};
use crate::source::chunk::SourceError;
use crate::source::io_thread::{own_runtime, Feed, Stopped};
use crate::source::mirror::{OldValues, RowChange};
use crate::source::wake::Wake;

pub(super) struct Job {
    pub connection: MySqlConnection,
    pub password: String,
    pub tables: Vec<MySqlTable>,
    /// The committed position at start (`None`: no snapshot applied yet).
    pub position: Option<BinlogPosition>,
    pub spool: PathBuf,
    /// Rows copied so far by the snapshot, per table (for progress).
    pub copied: Arc<Vec<AtomicU64>>,
    pub stop: Arc<AtomicBool>,
    pub wake: Wake,
    pub tx: std::sync::mpsc::SyncSender<Result<Delivery, SourceError>>,
}

/// Why a session ended.
enum Failure {
    /// Needs the user: stop the app with this message.
    Fatal(String),
    /// The connection broke: reconnect.
    Lost(String),
    /// The app is stopping.
    Stopped,
}

/// Server errors that mean "try again later" (shutdown, lost or killed connection, too many
/// connections, a lock wait), not a mistake to report.
const TRANSIENT: [u16; 9] = [1040, 1053, 1077, 1152, 1158, 1159, 1160, 1161, 1927];

impl From<mysql_async::Error> for Failure {
    fn from(e: mysql_async::Error) -> Self {
        match e {
            mysql_async::Error::Server(s) if TRANSIENT.contains(&s.code) => {
                Failure::Lost(s.message)
            }
            mysql_async::Error::Server(s) => Failure::Fatal(explain(s.code, &s.message)),
            mysql_async::Error::Io(e) => Failure::Lost(e.to_string()),
            other => Failure::Lost(other.to_string()),
        }
    }
}

/// A server error with what to do about it, where the code says.
fn explain(code: u16, message: &str) -> String {
    match code {
        1045 => format!("{message}; check the user and password in `url`"),
        1049 => format!("{message}; create the database or fix the database in `url`"),
        1146 => format!("{message}; the table must exist before the app starts (run `dozerc check` again after creating it)"),
        1142 | 1143 => format!("{message}; grant it: GRANT SELECT ON <database>.* TO '<user>'@'%';"),
        1227 => format!("{message}; the app reads the binlog as a replica: GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '<user>'@'%'; (MariaDB 10.5+: also BINLOG MONITOR)"),
        1236 => format!("{message}; the binlog the store's position is in is gone from the server (purged, or `RESET MASTER`): delete the app's store to take a new snapshot, and keep binlogs longer (`binlog_expire_logs_seconds`)"),
        _ => format!("{message} (MySQL error {code})"),
    }
}

pub(super) fn run(job: Job) {
    match own_runtime() {
        Ok(rt) => rt.block_on(job.main()),
        Err(e) => job.feed().fail(e),
    }
}

/// The file a rotate event moves to. The stream's first one comes before the format
/// description that says events carry checksums, so its name may end in four CRC bytes — and
/// those may well be digits (`mysql-bin.000001` + `2…`). It names the file that was asked for, so
/// that name is kept; later ones are exact.
fn rotated_to(name: &str, described: bool, requested: &str) -> String {
    if !described && name.starts_with(requested) {
        requested.to_string()
    } else {
        name.to_string()
    }
}

impl Job {
    fn name(&self) -> &str {
        &self.connection.name
    }

    /// The thread's end of the channel to the runner.
    fn feed(&self) -> Feed<'_, Delivery> {
        Feed {
            tx: &self.tx,
            stop: &self.stop,
            wake: &self.wake,
        }
    }

    /// Hands a delivery to the runner (waiting while its queue is full) and wakes it.
    async fn deliver(&self, d: Delivery) -> Result<(), Failure> {
        self.feed()
            .deliver(d)
            .await
            .map_err(|Stopped| Failure::Stopped)
    }

    async fn main(self) {
        let mut delivered = self.position.clone();
        let mut attempt = 0u32;
        let mut ever_connected = false;
        loop {
            match self.session(&mut delivered, &mut ever_connected).await {
                Ok(()) | Err(Failure::Stopped) => return,
                Err(Failure::Fatal(m)) => {
                    return self.feed().fail(format!(
                        "MySQL connection `{}` ({}): {m}",
                        self.name(),
                        self.connection.target()
                    ))
                }
                Err(Failure::Lost(m)) if !ever_connected => {
                    return self.feed().fail(format!(
                        "cannot connect to MySQL at {} (connection `{}`): {m}; is the server running and reachable? `mysqladmin -h {} -P {} ping` tells",
                        self.connection.target(),
                        self.name(),
                        self.connection.host,
                        self.connection.port
                    ))
                }
                Err(Failure::Lost(m)) => {
                    attempt += 1;
                    let delay = Feed::<Delivery>::backoff(attempt);
                    eprintln!(
                        "{}: lost the MySQL connection ({m}); reconnecting in {:.1}s (attempt {attempt}), resuming after binlog position {}",
                        self.name(),
                        delay.as_secs_f64(),
                        delivered.as_ref().map_or("(snapshot)".into(), |p| p.to_string())
                    );
                    if self.feed().pause(delay).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    async fn connect(&self) -> Result<Conn, Failure> {
        let c = &self.connection;
        let opts = OptsBuilder::default()
            .ip_or_hostname(c.host.clone())
            .tcp_port(c.port)
            .user(Some(c.user.clone()))
            .pass((!self.password.is_empty()).then(|| self.password.clone()))
            .db_name(Some(c.database.clone()))
            .prefer_socket(false);
        match tokio::time::timeout(Duration::from_secs(10), Conn::new(opts)).await {
            Err(_) => Err(Failure::Lost("no answer within 10 s".into())),
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(e.into()),
        }
    }

    /// One connection's life: checks, the snapshot (first time), the stream.
    async fn session(
        &self,
        delivered: &mut Option<BinlogPosition>,
        ever: &mut bool,
    ) -> Result<(), Failure> {
        let mut conn = self.connect().await?;
        *ever = true;
        let charsets = self.check(&mut conn).await?;
        let start = match delivered.clone() {
            Some(p) => {
                self.check_binlog_kept(&mut conn, &p).await?;
                p
            }
            None => {
                let (files, position) = self.snapshot(&mut conn).await?;
                self.deliver(Delivery::Snapshot {
                    files,
                    position: position.clone(),
                })
                .await?;
                *delivered = Some(position.clone());
                position
            }
        };
        let head = head(&mut conn).await?;
        // The control connection is done; the stream has one of its own.
        drop(conn);
        self.stream(start, head, delivered, charsets).await
    }

    /// Settings the stream needs, and the tables, each with what to run when it is wrong.
    /// Returns the character set of each table's columns, as the binlog carries their text.
    async fn check(&self, conn: &mut Conn) -> Result<Vec<Vec<Charset>>, Failure> {
        let row: Option<(Option<String>, Option<String>, Option<String>)> = conn
            .query_first(
                "SELECT @@GLOBAL.log_bin, @@GLOBAL.binlog_format, @@GLOBAL.binlog_row_image",
            )
            .await?;
        let (log_bin, format, image) = row.unwrap_or_default();
        if !matches!(log_bin.as_deref(), Some("1" | "ON")) {
            return Err(Failure::Fatal(
                "the server does not write a binlog: start it with `--log-bin` (my.cnf `[mysqld] log_bin = mysql-bin`) and a `server_id`, then restart it".into(),
            ));
        }
        if !format
            .as_deref()
            .is_some_and(|f| f.eq_ignore_ascii_case("ROW"))
        {
            return Err(Failure::Fatal(format!(
                "binlog_format is {}; row changes need ROW: run `SET GLOBAL binlog_format = 'ROW';` and set `binlog_format = ROW` in my.cnf",
                format.as_deref().unwrap_or("unset")
            )));
        }
        if !image
            .as_deref()
            .is_some_and(|f| f.eq_ignore_ascii_case("FULL"))
        {
            return Err(Failure::Fatal(format!(
                "binlog_row_image is {}; whole old rows need FULL: run `SET GLOBAL binlog_row_image = 'FULL';` and set `binlog_row_image = FULL` in my.cnf",
                image.as_deref().unwrap_or("unset")
            )));
        }
        let mut charsets = vec![];
        for t in &self.tables {
            let columns: Vec<(String, Option<String>)> = conn
                .exec(
                    "SELECT COLUMN_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                    (&t.database, &t.table),
                )
                .await?;
            if columns.is_empty() {
                return Err(Failure::Fatal(format!(
                    "table `{}` does not exist (or user `{}` cannot see it)",
                    t.display(),
                    self.connection.user
                )));
            }
            let table = t
                .columns
                .iter()
                .map(|name| {
                    let Some((_, charset)) = columns.iter().find(|(c, _)| c == name) else {
                        return Err(Failure::Fatal(format!(
                            "column `{name}` of `{}` is gone; the app was compiled for the old schema: run `dozerc build` again and delete the app's store to read the table anew",
                            t.display()
                        )));
                    };
                    Charset::of(charset.as_deref()).map_err(|other| {
                        Failure::Fatal(format!(
                            "not supported yet: column `{name}` of `{}` is in character set {other}; convert it: ALTER TABLE {} CONVERT TO CHARACTER SET utf8mb4;",
                            t.display(),
                            t.qualified()
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            charsets.push(table);
        }
        Ok(charsets)
    }

    /// The store's position must still be in the server's binlog.
    async fn check_binlog_kept(&self, conn: &mut Conn, p: &BinlogPosition) -> Result<(), Failure> {
        let logs: Vec<Row> = conn.query("SHOW BINARY LOGS").await?;
        let kept = logs
            .iter()
            .any(|r| r.get::<String, _>(0).as_deref() == Some(p.file.as_str()));
        if !kept {
            return Err(Failure::Fatal(format!(
                "the store's position {p} is in binlog file `{}`, which the server no longer has (purged by `binlog_expire_logs_seconds` or `PURGE BINARY LOGS`): delete the app's store to take a new snapshot, and keep binlogs longer than the app may be stopped",
                p.file
            )));
        }
        Ok(())
    }

    /// Copies every table inside one consistent-snapshot transaction and returns the spool files
    /// with the binlog position the snapshot is consistent with: every transaction committed
    /// before it is in the copy, every later one is in the stream from it.
    async fn snapshot(
        &self,
        conn: &mut Conn,
    ) -> Result<(Vec<(usize, PathBuf)>, BinlogPosition), Failure> {
        // Text in UTF-8 whatever the columns' character sets, TIMESTAMP values in UTC, as the
        // binlog carries them.
        conn.query_drop("SET NAMES utf8mb4").await?;
        conn.query_drop("SET SESSION time_zone = '+00:00'").await?;
        conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .await?;
        let version: Option<String> = conn.query_first("SELECT VERSION()").await?;
        let mariadb = version.is_some_and(|v| v.contains("MariaDB"));
        let position = if mariadb {
            // MariaDB ties a consistent snapshot to its binlog position without a global lock.
            conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                .await?;
            let rows: Vec<(String, String)> =
                conn.query("SHOW STATUS LIKE 'binlog_snapshot_%'").await?;
            let get = |name: &str| {
                rows.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            };
            match (get("binlog_snapshot_file"), get("binlog_snapshot_position")) {
                (Some(file), Some(offset)) if !file.is_empty() => BinlogPosition {
                    file,
                    offset: offset.parse().map_err(|_| {
                        Failure::Fatal(format!("binlog_snapshot_position `{offset}` is not a number"))
                    })?,
                },
                _ => {
                    return Err(Failure::Fatal(
                        "the server gave no binlog position for the snapshot (binlog_snapshot_file); is the binlog on?".into(),
                    ))
                }
            }
        } else {
            // MySQL: no commit can happen between the snapshot and reading the position.
            conn.query_drop("FLUSH TABLES WITH READ LOCK")
                .await
                .map_err(|e| match Failure::from(e) {
                    Failure::Fatal(m) => Failure::Fatal(format!(
                        "{m}; a consistent snapshot on MySQL takes a brief global read lock: GRANT RELOAD ON *.* TO '<user>'@'%';"
                    )),
                    other => other,
                })?;
            conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                .await?;
            let p = head(conn).await;
            conn.query_drop("UNLOCK TABLES").await?;
            p?
        };
        eprintln!(
            "{}: copying a snapshot of {} table(s) consistent with binlog position {position}",
            self.name(),
            self.tables.len()
        );
        std::fs::create_dir_all(&self.spool)
            .map_err(|e| Failure::Fatal(format!("cannot create {}: {e}", self.spool.display())))?;
        let mut files = vec![];
        for (i, t) in self.tables.iter().enumerate() {
            let path = self.spool.join(format!("{i}.rows"));
            let spool_error =
                |e: std::io::Error| Failure::Fatal(format!("writing {}: {e}", path.display()));
            let mut out = SpoolWriter::create(&path).map_err(spool_error)?;
            let columns: Vec<String> = t.columns.iter().map(|c| quote(c)).collect();
            let select = format!("SELECT {} FROM {}", columns.join(", "), t.qualified());
            // The binary protocol: typed values, as the binlog's.
            let mut result = conn.exec_iter(select, ()).await?;
            let kinds = columns_of(t);
            let started = std::time::Instant::now();
            let mut rows = 0u64;
            while let Some(row) = result.next().await? {
                if self.stop.load(Ordering::SeqCst) {
                    return Err(Failure::Stopped);
                }
                let values = row
                    .unwrap()
                    .into_iter()
                    .zip(&kinds)
                    .enumerate()
                    .map(|(c, (v, k))| {
                        value::value(*k, v).map_err(|m| {
                            Failure::Fatal(format!(
                                "snapshot of {}, column `{}`: {m}",
                                t.display(),
                                t.columns[c]
                            ))
                        })
                    })
                    .collect::<Result<Vec<Value>, Failure>>()?;
                out.write(&values).map_err(spool_error)?;
                self.copied[i].fetch_add(1, Ordering::Relaxed);
                rows += 1;
            }
            drop(result);
            let took = started.elapsed().as_secs_f64();
            eprintln!(
                "{}: copied {} ({rows} rows in {took:.1}s, {:.0} rows/s)",
                self.name(),
                t.display(),
                rows as f64 / took.max(1e-6)
            );
            files.push((i, out.finish().map_err(spool_error)?));
        }
        conn.query_drop("COMMIT").await?;
        Ok((files, position))
    }

    /// Follows the binlog from `start`, delivering each transaction that touches the tables
    /// whole, at its commit. `head` is where the server was when the stream started.
    async fn stream(
        &self,
        start: BinlogPosition,
        head: BinlogPosition,
        delivered: &mut Option<BinlogPosition>,
        charsets: Vec<Vec<Charset>>,
    ) -> Result<(), Failure> {
        let conn = self.connect().await?;
        let request = BinlogStreamRequest::new(self.connection.server_id)
            .with_filename(start.file.as_bytes())
            .with_pos(start.offset);
        let mut stream = conn
            .get_binlog_stream(request)
            .await
            .map_err(|e| self.refused(e))?;
        let mut first = true;
        let mut file = start.file.clone();
        // Whether the stream's format description has come (see `rotated_to`).
        let mut described = false;
        let mut caught_up = start.cmp_order(&head).is_ge();
        if caught_up {
            self.deliver(Delivery::CaughtUp).await?;
        }
        // The open transaction's changes (`None`: between transactions).
        let mut open: Option<Vec<(usize, RowChange)>> = None;
        let kinds: Vec<Vec<Column>> = self
            .tables
            .iter()
            .zip(&charsets)
            .map(|(t, charsets)| {
                columns_of(t)
                    .into_iter()
                    .zip(charsets)
                    .map(|(c, &charset)| Column { charset, ..c })
                    .collect()
            })
            .collect();
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Err(Failure::Stopped);
            }
            let event = match tokio::time::timeout(Duration::from_millis(200), stream.next()).await
            {
                Err(_) => continue,
                Ok(None) => return Err(Failure::Lost("the server ended the binlog stream".into())),
                Ok(Some(Err(e))) if first => return Err(self.refused(e)),
                Ok(Some(e)) => e?,
            };
            first = false;
            let log_pos = u64::from(event.header().log_pos());
            let data = event.read_data().map_err(|e| {
                Failure::Fatal(format!(
                    "an unreadable binlog event at {file}:{log_pos}: {e}"
                ))
            })?;
            let mut commit = false;
            match data {
                Some(EventData::FormatDescriptionEvent(_)) => {
                    described = true;
                    continue;
                }
                Some(EventData::RotateEvent(r)) => {
                    file = rotated_to(&r.name(), described, &file);
                    continue;
                }
                Some(EventData::QueryEvent(q)) => {
                    let query = q.query();
                    let statement = query.trim().trim_end_matches(';').trim();
                    if statement.eq_ignore_ascii_case("BEGIN") {
                        open = Some(vec![]);
                    } else if statement.eq_ignore_ascii_case("COMMIT") {
                        commit = true;
                    } else if let Some(change) =
                        self.statement(&q.schema(), statement, &file, log_pos)?
                    {
                        // TRUNCATE is a statement of its own, outside any transaction.
                        open.get_or_insert_with(Vec::new).extend(change);
                        commit = true;
                    }
                }
                Some(EventData::XidEvent(_)) => commit = true,
                Some(EventData::RowsEvent(rows)) => {
                    let Some(tme) = stream.get_tme(rows.table_id()) else {
                        return Err(Failure::Fatal(format!(
                            "a row event at {file}:{log_pos} without its table map"
                        )));
                    };
                    let (db, name) = (tme.database_name(), tme.table_name());
                    if let Some(i) = self
                        .tables
                        .iter()
                        .position(|t| t.database == db && t.table == name)
                    {
                        let changes = open.get_or_insert_with(Vec::new);
                        for row in rows.rows(tme) {
                            let (before, after) = row.map_err(|e| {
                                Failure::Fatal(format!(
                                    "an unreadable row of {db}.{name} at {file}:{log_pos}: {e}"
                                ))
                            })?;
                            let at = |m: String| {
                                Failure::Fatal(format!(
                                    "a change of {db}.{name} at {file}:{log_pos}: {m}"
                                ))
                            };
                            let t = &self.tables[i];
                            let values = |r: BinlogRow| row_values(r, t, &kinds[i]).map_err(at);
                            let change = match (&rows, before, after) {
                                (
                                    RowsEventData::WriteRowsEvent(_)
                                    | RowsEventData::WriteRowsEventV1(_),
                                    _,
                                    Some(new),
                                ) => RowChange::Insert(values(new)?),
                                (_, Some(old), Some(new)) => RowChange::Update {
                                    old: Some(OldValues::Full(values(old)?)),
                                    new: values(new)?,
                                },
                                (_, Some(old), None) => {
                                    RowChange::Delete(OldValues::Full(values(old)?))
                                }
                                _ => continue,
                            };
                            changes.push((i, change));
                        }
                    }
                }
                _ => {}
            }
            if commit {
                let end = BinlogPosition {
                    file: file.clone(),
                    offset: log_pos,
                };
                let changes = open.take().unwrap_or_default();
                if !changes.is_empty() {
                    self.deliver(Delivery::Transaction(Transaction {
                        end: end.clone(),
                        changes,
                    }))
                    .await?;
                    *delivered = Some(end);
                }
            }
            if !caught_up && open.is_none() && log_pos > 0 {
                let here = BinlogPosition {
                    file: file.clone(),
                    offset: log_pos,
                };
                if here.cmp_order(&head).is_ge() {
                    caught_up = true;
                    self.deliver(Delivery::CaughtUp).await?;
                }
            }
        }
    }

    /// An error of the binlog request: a refusal there (the login worked already) is the
    /// missing REPLICATION SLAVE privilege, whatever the server calls it.
    fn refused(&self, e: mysql_async::Error) -> Failure {
        match e {
            mysql_async::Error::Server(s) if [1044, 1045, 1227].contains(&s.code) => {
                Failure::Fatal(format!(
                    "the server refused to send its binlog to user `{}` ({}); the app reads it as a replica: GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '{}'@'%';",
                    self.connection.user, s.message, self.connection.user
                ))
            }
            other => other.into(),
        }
    }

    /// A statement in the binlog: TRUNCATE of a followed table empties it; other DDL on one
    /// stops the app (its schema was compiled in); anything else is not about these tables.
    fn statement(
        &self,
        schema: &str,
        statement: &str,
        file: &str,
        log_pos: u64,
    ) -> Result<Option<Vec<(usize, RowChange)>>, Failure> {
        let words: Vec<String> = statement
            .split_whitespace()
            .take(6)
            .map(|w| w.to_ascii_uppercase())
            .collect();
        let ddl = matches!(
            words.first().map(String::as_str),
            Some("ALTER" | "DROP" | "RENAME" | "TRUNCATE" | "CREATE")
        );
        if !ddl {
            return Ok(None);
        }
        let lower = statement.to_ascii_lowercase();
        let touched: Vec<usize> = self
            .tables
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                let name = t.table.to_ascii_lowercase();
                let named = lower
                    .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
                    .any(|w| w == name);
                named && (schema == t.database || lower.contains(&t.database.to_ascii_lowercase()))
            })
            .map(|(i, _)| i)
            .collect();
        if touched.is_empty() || words.first().map(String::as_str) == Some("CREATE") {
            return Ok(None);
        }
        if words.first().map(String::as_str) == Some("TRUNCATE") {
            return Ok(Some(
                touched
                    .into_iter()
                    .map(|i| (i, RowChange::Truncate))
                    .collect(),
            ));
        }
        Err(Failure::Fatal(format!(
            "not supported yet: a schema change of {} in the binlog at {file}:{log_pos} (`{}`); the app was compiled for the old schema: run `dozerc build` again and delete the app's store to read the table anew",
            touched
                .iter()
                .map(|&i| format!("`{}`", self.tables[i].display()))
                .collect::<Vec<_>>()
                .join(", "),
            statement.chars().take(120).collect::<String>()
        )))
    }
}

/// Where the server's binlog ends now.
async fn head(conn: &mut Conn) -> Result<BinlogPosition, Failure> {
    // MySQL 8.4 renamed the statement; MariaDB and older MySQL know the old name.
    let rows: Vec<Row> = match conn.query("SHOW MASTER STATUS").await {
        Ok(rows) => rows,
        Err(mysql_async::Error::Server(s)) if s.code == 1064 => {
            conn.query("SHOW BINARY LOG STATUS").await?
        }
        Err(e) => return Err(e.into()),
    };
    let row = rows.first().ok_or_else(|| {
        Failure::Fatal("SHOW MASTER STATUS is empty: the server does not write a binlog; start it with `--log-bin`".into())
    })?;
    match (row.get::<String, _>(0), row.get::<u64, _>(1)) {
        (Some(file), Some(offset)) => Ok(BinlogPosition { file, offset }),
        _ => Err(Failure::Fatal(
            "SHOW MASTER STATUS answered without a file and position".into(),
        )),
    }
}

/// How each column of `t` is converted, its text in UTF-8 (as the snapshot's connection gets it).
fn columns_of(t: &MySqlTable) -> Vec<Column> {
    t.types
        .iter()
        .zip(t.int_bits.iter().zip(&t.unsigned))
        .map(|(&ty, (&int_bits, &unsigned))| Column {
            ty,
            int_bits,
            unsigned,
            charset: Charset::Utf8,
        })
        .collect()
}

/// A binlog row image as the source's columns (`None`: a column the image left out).
fn row_values(
    mut row: BinlogRow,
    t: &MySqlTable,
    kinds: &[Column],
) -> Result<Vec<Option<Value>>, String> {
    t.positions
        .iter()
        .zip(kinds)
        .zip(&t.columns)
        .map(|((&p, &k), name)| {
            let v = match row.take(p) {
                None => return Ok(None),
                Some(BinlogValue::Value(v)) => value::value(k, v),
                Some(BinlogValue::Jsonb(j)) if k.ty == SqlType::Json => {
                    serde_json::Value::try_from(j)
                        .map(Value::Json)
                        .map_err(|e| e.to_string())
                }
                Some(BinlogValue::Jsonb(_)) => Err(format!("a JSON value where {} was expected", k.ty)),
                Some(BinlogValue::JsonDiff(_)) => Err(
                    "a partial JSON update; run `SET GLOBAL binlog_row_value_options = '';` so the binlog carries whole JSON values".into(),
                ),
            };
            v.map(Some).map_err(|m| format!("column `{name}`: {m}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_rotate_event_may_carry_a_checksum() {
        let first = |name: &str| rotated_to(name, false, "mysql-bin.000001");
        assert_eq!(
            first("mysql-bin.000001\u{fffd}&\u{12}\u{3}"),
            "mysql-bin.000001"
        );
        // A CRC whose first byte is a digit.
        assert_eq!(first("mysql-bin.0000012\u{fffd}\u{3}x"), "mysql-bin.000001");
        assert_eq!(
            rotated_to("mysql-bin.000002", true, "mysql-bin.000001"),
            "mysql-bin.000002"
        );
    }
}
