//! The I/O of one PostgreSQL connection, on a thread of its own: checks, publication and slot,
//! the snapshot, then the replication stream, reconnecting with backoff when the connection is
//! lost. Whole transactions go to the runner through a bounded channel (a runner that falls
//! behind slows the stream down; the server keeps the WAL for the slot).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dozer_types::SqlType;
use pgwire_replication::{Lsn, ReplicationClient, ReplicationConfig, ReplicationEvent};

use super::connection::{lsn_text, quote, PgConnection, PgTable};
use super::delivery::{Delivery, Transaction};
use super::pgoutput::{self, Message, Relation, ReplicaIdentity};
use super::tuples;
use crate::source::chunk::SourceError;
use crate::source::io_thread::{own_runtime, Feed, Stopped};
use crate::source::mirror::RowChange;
use crate::source::wake::Wake;

pub(super) struct Job {
    pub connection: PgConnection,
    pub password: String,
    pub tables: Vec<PgTable>,
    /// The committed position at start (`None`: no snapshot applied yet).
    pub position: Option<u64>,
    pub spool: PathBuf,
    pub committed: Arc<AtomicU64>,
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

/// Whether a server error is the server going away or not being ready (shutdown, restart,
/// "the database system is starting up", too many connections): retry, do not stop the app.
fn transient(db: &tokio_postgres::error::DbError) -> bool {
    let code = db.code().code();
    code.starts_with("57") || code.starts_with("08") || code.starts_with("53")
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) if transient(db) => Failure::Lost(db.message().to_string()),
            Some(db) => Failure::Fatal(format!(
                "{}{}",
                db.message(),
                db.hint().map(|h| format!(" ({h})")).unwrap_or_default()
            )),
            None => Failure::Lost(e.to_string()),
        }
    }
}

pub(super) fn run(job: Job) {
    match own_runtime() {
        Ok(rt) => rt.block_on(job.main()),
        Err(e) => job.feed().fail(e),
    }
}

fn error(message: String) -> SourceError {
    SourceError {
        file: None,
        line: None,
        message,
    }
}

impl Job {
    fn target(&self) -> String {
        format!("{}:{}", self.connection.host, self.connection.port)
    }

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
        let mut delivered = self.position;
        let mut attempt = 0u32;
        let mut ever_connected = false;
        loop {
            match self.session(&mut delivered, &mut ever_connected).await {
                Ok(()) | Err(Failure::Stopped) => return,
                Err(Failure::Fatal(m)) => {
                    return self.feed().fail(format!(
                        "PostgreSQL connection `{}` ({}): {m}",
                        self.name(),
                        self.target()
                    ))
                }
                Err(Failure::Lost(m)) if !ever_connected => {
                    return self.feed().fail(format!(
                        "cannot connect to PostgreSQL at {} (connection `{}`): {m}; is the server running and reachable? `pg_isready -h {} -p {}` tells",
                        self.target(),
                        self.name(),
                        self.connection.host,
                        self.connection.port
                    ))
                }
                Err(Failure::Lost(m)) => {
                    attempt += 1;
                    let delay = Feed::<Delivery>::backoff(attempt);
                    eprintln!(
                        "{}: lost the PostgreSQL connection ({m}); reconnecting in {:.1}s (attempt {attempt}), resuming after LSN {}",
                        self.name(),
                        delay.as_secs_f64(),
                        lsn_text(delivered.unwrap_or(0))
                    );
                    if self.feed().pause(delay).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    async fn control(&self) -> Result<tokio_postgres::Client, Failure> {
        let tls =
            self.connection.tls.connector().map_err(|e| {
                Failure::Fatal(format!("connection `{}`: {e}", self.connection.name))
            })?;
        let (client, conn) = client_config(&self.connection, &self.password)
            .connect(tls)
            .await
            .map_err(|e| match (e.as_db_error(), dozer_pg_tls::explain(&e)) {
                (Some(db), _)
                    if db.code() == &tokio_postgres::error::SqlState::INVALID_PASSWORD =>
                {
                    Failure::Fatal(format!(
                "the server rejected the password of user `{}`; check `user` and `password`",
                self.connection.user
            ))
                }
                (Some(db), _) if transient(db) => Failure::Lost(db.message().to_string()),
                (Some(db), _) => Failure::Fatal(db.message().to_string()),
                // A certificate that does not check out will not on a retry either.
                (None, Some(why)) => Failure::Fatal(format!(
                    "connection `{}` ({}:{}, sslmode {}): {why}",
                    self.connection.name,
                    self.connection.host,
                    self.connection.port,
                    self.connection.tls.mode.name(),
                )),
                (None, None) => Failure::Lost(
                    std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string()),
                ),
            })?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }

    /// One connection's life: checks, publication, slot, snapshot (first time), stream.
    async fn session(&self, delivered: &mut Option<u64>, ever: &mut bool) -> Result<(), Failure> {
        let control = self.control().await?;
        self.check(&control).await?;
        self.ensure_publication(&control).await?;
        let slot = &self.connection.slot;
        let slot_row = control
            .query_opt(
                "SELECT active_pid, plugin, database FROM pg_replication_slots WHERE slot_name = $1",
                &[slot],
            )
            .await?;
        if let Some(row) = &slot_row {
            let pid: Option<i32> = row.get(0);
            let plugin: Option<String> = row.get(1);
            let database: Option<String> = row.get(2);
            if let Some(pid) = pid {
                return Err(Failure::Lost(format!(
                    "replication slot `{slot}` is in use by server process {pid}"
                )));
            }
            if plugin.as_deref() != Some("pgoutput")
                || database.as_deref() != Some(self.connection.database.as_str())
            {
                return Err(Failure::Fatal(format!(
                    "replication slot `{slot}` exists but is not a pgoutput slot of database `{}`; name another slot with `replication_slot:` on the connection, or drop it: SELECT pg_drop_replication_slot('{slot}');",
                    self.connection.database
                )));
            }
        } else if delivered.is_none() {
            self.check_free_slot(&control).await?;
        }
        let config = ReplicationConfig::new(
            self.connection.host.clone(),
            self.connection.user.clone(),
            self.password.clone(),
            self.connection.database.clone(),
            slot.clone(),
            self.connection.publication.clone(),
        )
        .with_port(self.connection.port)
        .with_tls(replication_tls(&self.connection.tls))
        .with_options(super::text::SESSION_OPTIONS)
        .with_application_name("dozerc")
        .with_status_interval(Duration::from_millis(500))
        .with_wakeup_interval(Duration::from_millis(500));
        let mut client = match *delivered {
            None => {
                if slot_row.is_some() {
                    // A slot from a snapshot that never committed: its snapshot is gone, start over.
                    control
                        .execute("SELECT pg_drop_replication_slot($1)", &[slot])
                        .await?;
                }
                let mut client = ReplicationClient::connect_gated(config)
                    .await
                    .map_err(|e| Failure::Lost(e.to_string()))?;
                let rows = client
                    .simple_query(&format!(
                        "CREATE_REPLICATION_SLOT {} LOGICAL pgoutput (SNAPSHOT 'export')",
                        quote(slot)
                    ))
                    .await
                    .map_err(|e| {
                        Failure::Fatal(format!("cannot create replication slot `{slot}`: {e}"))
                    })?;
                let field = |i: usize| {
                    rows.first()
                        .and_then(|r| r.get(i).cloned().flatten())
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .ok_or_else(|| {
                            Failure::Fatal(
                                "CREATE_REPLICATION_SLOT answered without a snapshot".into(),
                            )
                        })
                };
                let consistent = Lsn::parse(&field(1)?)
                    .map_err(|e| Failure::Fatal(format!("consistent point: {e}")))?
                    .as_u64();
                let snapshot = field(2)?;
                *ever = true;
                eprintln!(
                    "{}: created replication slot `{slot}`; copying a snapshot of {} table(s) consistent with LSN {}",
                    self.name(),
                    self.tables.len(),
                    lsn_text(consistent)
                );
                let files = self.copy_snapshot(&control, &snapshot).await?;
                self.deliver(Delivery::Snapshot {
                    files,
                    lsn: consistent,
                })
                .await?;
                *delivered = Some(consistent);
                client
                    .start()
                    .await
                    .map_err(|e| Failure::Lost(e.to_string()))?;
                client
            }
            Some(lsn) => {
                if slot_row.is_none() {
                    return Err(Failure::Fatal(format!(
                        "replication slot `{slot}` is gone (dropped?), so the changes after LSN {} are lost to this app; delete the app's store to take a new snapshot",
                        lsn_text(lsn)
                    )));
                }
                eprintln!(
                    "{}: following replication slot `{slot}` from LSN {}",
                    self.name(),
                    lsn_text(lsn)
                );
                ReplicationClient::connect(config.with_start_lsn(Lsn(lsn)))
                    .await
                    .map_err(|e| Failure::Lost(e.to_string()))?
            }
        };
        client
            .wait_started()
            .await
            .map_err(|e| Failure::Lost(e.to_string()))?;
        *ever = true;
        // Caught up = everything committed before now is applied. The insert position, not the
        // write position (`pg_current_wal_lsn`): with `synchronous_commit = off` a commit returns
        // before its WAL is written, and a keepalive past the write position could otherwise
        // say "caught up" before that transaction is streamed.
        let target: String = control
            .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
            .await?
            .get(0);
        let target = Lsn::parse(&target)
            .map_err(|e| Failure::Fatal(format!("pg_current_wal_insert_lsn: {e}")))?
            .as_u64();
        let result = self.stream(&mut client, delivered, target).await;
        client.stop();
        result
    }

    /// Everything that must hold before replicating, each failure with what to run.
    async fn check(&self, c: &tokio_postgres::Client) -> Result<(), Failure> {
        let wal_level: String = c
            .query_one("SELECT current_setting('wal_level')", &[])
            .await?
            .get(0);
        if wal_level != "logical" {
            return Err(Failure::Fatal(format!(
                "wal_level is `{wal_level}`; following changes needs `logical`: run `ALTER SYSTEM SET wal_level = logical;` as a superuser, then restart PostgreSQL"
            )));
        }
        let user = &self.connection.user;
        let may: bool = c
            .query_one(
                "SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user",
                &[],
            )
            .await?
            .get(0);
        if !may {
            return Err(Failure::Fatal(format!(
                "user `{user}` may not replicate: run `ALTER ROLE {} REPLICATION;` as a superuser",
                quote(user)
            )));
        }
        for t in &self.tables {
            let row = c
                .query_opt(
                    "SELECT c.oid, c.relreplident::text, has_table_privilege(c.oid, 'SELECT'),
                            EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
                    &[&t.schema, &t.table],
                )
                .await?
                .ok_or_else(|| Failure::Fatal(format!("table {} does not exist (the app was built for it)", t.display())))?;
            let oid: u32 = row.get(0);
            let identity: String = row.get(1);
            let select: bool = row.get(2);
            let has_pk: bool = row.get(3);
            if !select {
                return Err(Failure::Fatal(format!(
                    "user `{user}` may not read {}: run `GRANT SELECT ON {} TO {};`",
                    t.display(),
                    t.qualified(),
                    quote(user)
                )));
            }
            if identity == "n"
                || (!has_pk && identity != "f")
                || (t.primary_key.is_empty() && identity != "f")
            {
                return Err(Failure::Fatal(format!(
                    "{} has no primary key and REPLICA IDENTITY {}, so its updates and deletes cannot be followed: run `ALTER TABLE {} REPLICA IDENTITY FULL;`",
                    t.display(),
                    match identity.as_str() { "n" => "NOTHING", "i" => "USING INDEX", _ => "DEFAULT" },
                    t.qualified()
                )));
            }
            let columns = c
                .query(
                    "SELECT attname::text, atttypid FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped",
                    &[&oid],
                )
                .await?;
            let live: HashMap<String, u32> = columns.iter().map(|r| (r.get(0), r.get(1))).collect();
            for (name, ty) in t.columns.iter().zip(&t.types) {
                match live.get(name) {
                    None => {
                        return Err(Failure::Fatal(format!(
                            "table {} has no column `{name}` any more (the app was built with it); restore it, or change the config and rebuild",
                            t.display()
                        )))
                    }
                    Some(oid) if !type_fits(*ty, *oid) => {
                        return Err(Failure::Fatal(format!(
                            "column `{name}` of {} is no longer {ty} (type oid {oid}); rebuild the app for the new type",
                            t.display()
                        )))
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    async fn check_free_slot(&self, c: &tokio_postgres::Client) -> Result<(), Failure> {
        let row = c
            .query_one(
                "SELECT current_setting('max_replication_slots')::int, (SELECT count(*) FROM pg_replication_slots)::int,
                        (SELECT string_agg(slot_name, ', ') FROM pg_replication_slots WHERE NOT active)",
                &[],
            )
            .await?;
        let (max, used, idle): (i32, i32, Option<String>) = (row.get(0), row.get(1), row.get(2));
        if used >= max {
            return Err(Failure::Fatal(format!(
                "no free replication slot (max_replication_slots = {max}, all in use{}): drop one you no longer need with `SELECT pg_drop_replication_slot('<name>');`, or raise it with `ALTER SYSTEM SET max_replication_slots = {};` and restart PostgreSQL",
                idle.map(|s| format!("; inactive: {s}")).unwrap_or_default(),
                max + 4
            )));
        }
        Ok(())
    }

    /// The app's publication covers every table it reads.
    async fn ensure_publication(&self, c: &tokio_postgres::Client) -> Result<(), Failure> {
        let name = &self.connection.publication;
        let exists = c
            .query_opt(
                "SELECT puballtables FROM pg_publication WHERE pubname = $1",
                &[name],
            )
            .await?;
        let owner_hint = |e: tokio_postgres::Error, sql: &str| {
            match e.as_db_error() {
            Some(db) if transient(db) => Failure::Lost(db.message().to_string()),
            Some(db) => Failure::Fatal(format!(
                "cannot set up publication `{name}`: {}; run `{sql}` as the tables' owner or a superuser",
                db.message()
            )),
            None => Failure::Lost(e.to_string()),
        }
        };
        let tables: Vec<String> = self.tables.iter().map(PgTable::qualified).collect();
        match exists {
            None => {
                let sql = format!(
                    "CREATE PUBLICATION {} FOR TABLE {}",
                    quote(name),
                    tables.join(", ")
                );
                c.batch_execute(&sql)
                    .await
                    .map_err(|e| owner_hint(e, &sql))?;
            }
            Some(row) if row.get::<_, bool>(0) => {}
            Some(_) => {
                let have = c
                    .query("SELECT schemaname::text, tablename::text FROM pg_publication_tables WHERE pubname = $1", &[name])
                    .await?;
                for t in &self.tables {
                    if !have.iter().any(|r| {
                        r.get::<_, String>(0) == t.schema && r.get::<_, String>(1) == t.table
                    }) {
                        let sql = format!(
                            "ALTER PUBLICATION {} ADD TABLE {}",
                            quote(name),
                            t.qualified()
                        );
                        c.batch_execute(&sql)
                            .await
                            .map_err(|e| owner_hint(e, &sql))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Copies every table inside the exported snapshot into spool files.
    async fn copy_snapshot(
        &self,
        c: &tokio_postgres::Client,
        snapshot: &str,
    ) -> Result<Vec<(usize, PathBuf)>, Failure> {
        use std::io::Write as _;
        use tonic::codegen::tokio_stream::StreamExt as _;
        let _ = std::fs::remove_dir_all(&self.spool);
        std::fs::create_dir_all(&self.spool)
            .map_err(|e| Failure::Fatal(format!("cannot create {}: {e}", self.spool.display())))?;
        c.batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT '{}'",
            snapshot.replace('\'', "''")
        ))
        .await?;
        let mut files = vec![];
        for (i, t) in self.tables.iter().enumerate() {
            let path = self.spool.join(format!("{i}.copy"));
            let columns: Vec<String> = t.columns.iter().map(|c| quote(c)).collect();
            let stream = c
                .copy_out(&format!(
                    "COPY (SELECT {} FROM {}) TO STDOUT",
                    columns.join(", "),
                    t.qualified()
                ))
                .await?;
            let mut out =
                std::io::BufWriter::new(std::fs::File::create(&path).map_err(|e| {
                    Failure::Fatal(format!("cannot write {}: {e}", path.display()))
                })?);
            let mut stream = std::pin::pin!(stream);
            let started = std::time::Instant::now();
            let mut rows = 0u64;
            while let Some(bytes) = stream.next().await {
                if self.stop.load(Ordering::SeqCst) {
                    return Err(Failure::Stopped);
                }
                let bytes = bytes?;
                rows += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
                self.copied[i].store(rows, Ordering::Relaxed);
                out.write_all(&bytes)
                    .map_err(|e| Failure::Fatal(format!("cannot write {}: {e}", path.display())))?;
            }
            out.flush()
                .map_err(|e| Failure::Fatal(format!("cannot write {}: {e}", path.display())))?;
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "{}: copied {} ({rows} rows in {secs:.1}s, {:.0} rows/s)",
                self.name(),
                t.display(),
                rows as f64 / secs.max(1e-3)
            );
            files.push((i, path));
        }
        c.batch_execute("COMMIT").await?;
        Ok(files)
    }

    /// Follows the stream: whole transactions to the runner, the runner's commits back to the
    /// server as the flushed position.
    async fn stream(
        &self,
        client: &mut ReplicationClient,
        delivered: &mut Option<u64>,
        target: u64,
    ) -> Result<(), Failure> {
        let mut relations: HashMap<u32, Option<(usize, Vec<usize>)>> = HashMap::new();
        let mut current: Option<Transaction> = None;
        let mut reported = 0u64;
        let mut caught_up = delivered.is_some_and(|d| d >= target);
        if caught_up {
            self.deliver(Delivery::CaughtUp).await?;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            let event = tokio::select! {
                e = client.recv() => e,
                _ = tick.tick() => {
                    if self.stop.load(Ordering::SeqCst) {
                        return Err(Failure::Stopped);
                    }
                    let committed = self.committed.load(Ordering::SeqCst);
                    if committed > reported {
                        client.update_applied_lsn(Lsn(committed));
                        reported = committed;
                    }
                    continue;
                }
            };
            let event = match event {
                Ok(Some(e)) => e,
                Ok(None) => return Err(Failure::Lost("the replication stream ended".into())),
                Err(e) => return Err(Failure::Lost(e.to_string())),
            };
            match event {
                ReplicationEvent::Begin {
                    commit_time_micros, ..
                } => {
                    current = Some(Transaction {
                        end_lsn: 0,
                        // PostgreSQL counts from 2000-01-01.
                        commit_time_us: commit_time_micros + 946_684_800_000_000,
                        changes: vec![],
                    });
                }
                ReplicationEvent::XLogData { data, .. } => {
                    let message =
                        pgoutput::decode(&data).map_err(|e| Failure::Fatal(e.to_string()))?;
                    self.change(message, &mut relations, current.as_mut())?;
                }
                ReplicationEvent::Commit { end_lsn, .. } => {
                    let end = end_lsn.as_u64();
                    if let Some(mut t) = current.take() {
                        // Already delivered before a reconnect: skip.
                        if delivered.is_none_or(|d| end > d) {
                            t.end_lsn = end;
                            if !t.changes.is_empty() {
                                self.deliver(Delivery::Transaction(t)).await?;
                            }
                            *delivered = Some(end);
                        }
                    }
                    if !caught_up && end >= target {
                        caught_up = true;
                        self.deliver(Delivery::CaughtUp).await?;
                    }
                }
                ReplicationEvent::KeepAlive { wal_end, .. } => {
                    let wal_end = wal_end.as_u64();
                    // Nothing open and everything delivered is committed: the WAL up to here holds
                    // nothing more for this app, so the slot may let go of it.
                    let committed = self.committed.load(Ordering::SeqCst);
                    if current.is_none()
                        && delivered.is_some_and(|d| committed >= d)
                        && wal_end > reported
                    {
                        client.update_applied_lsn(Lsn(wal_end));
                        reported = wal_end;
                    }
                    if !caught_up && current.is_none() && wal_end >= target {
                        caught_up = true;
                        self.deliver(Delivery::CaughtUp).await?;
                    }
                }
                _ => {}
            }
        }
    }

    fn change(
        &self,
        message: Message,
        relations: &mut HashMap<u32, Option<(usize, Vec<usize>)>>,
        current: Option<&mut Transaction>,
    ) -> Result<(), Failure> {
        let lookup = |relations: &HashMap<u32, Option<(usize, Vec<usize>)>>, id: u32| {
            relations.get(&id).cloned().flatten()
        };
        let convert = |t: usize, r: Result<RowChange, String>| {
            r.map_err(|m| Failure::Fatal(format!("a change of {}: {m}", self.tables[t].display())))
        };
        let (table, change) = match message {
            Message::Relation(r) => {
                let mapped = self.relation(&r)?;
                relations.insert(r.id, mapped);
                return Ok(());
            }
            Message::Insert { relation, new } => {
                let Some((t, map)) = lookup(relations, relation) else {
                    return Ok(());
                };
                let types = &self.tables[t].types;
                (
                    t,
                    convert(t, tuples::values(&new, &map, types).map(RowChange::Insert))?,
                )
            }
            Message::Update { relation, old, new } => {
                let Some((t, map)) = lookup(relations, relation) else {
                    return Ok(());
                };
                let types = &self.tables[t].types;
                let change = (|| {
                    Ok(RowChange::Update {
                        old: old
                            .as_ref()
                            .map(|o| tuples::old_values(o, &map, types))
                            .transpose()?,
                        new: tuples::values(&new, &map, types)?,
                    })
                })();
                (t, convert(t, change)?)
            }
            Message::Delete { relation, old } => {
                let Some((t, map)) = lookup(relations, relation) else {
                    return Ok(());
                };
                let types = &self.tables[t].types;
                (
                    t,
                    convert(
                        t,
                        tuples::old_values(&old, &map, types).map(RowChange::Delete),
                    )?,
                )
            }
            Message::Truncate { relations: ids } => {
                let Some(current) = current else {
                    return Ok(());
                };
                for id in ids {
                    if let Some((t, _)) = lookup(relations, id) {
                        current.changes.push((t, RowChange::Truncate));
                    }
                }
                return Ok(());
            }
            Message::Other(_) => return Ok(()),
        };
        match current {
            Some(c) => c.changes.push((table, change)),
            None => return Err(Failure::Fatal("a row change outside a transaction".into())),
        }
        Ok(())
    }

    /// Maps a relation's columns to a source's (`None`: not a table of this app). A column the
    /// app reads that is gone or changed type stops the app: its queries no longer fit.
    fn relation(&self, r: &Relation) -> Result<Option<(usize, Vec<usize>)>, Failure> {
        let Some(t) = self
            .tables
            .iter()
            .position(|t| t.schema == r.namespace && t.table == r.name)
        else {
            return Ok(None);
        };
        let table = &self.tables[t];
        if r.identity == ReplicaIdentity::Nothing {
            return Err(Failure::Fatal(format!(
                "{} now has REPLICA IDENTITY NOTHING, so its updates and deletes cannot be followed: run `ALTER TABLE {} REPLICA IDENTITY {};`",
                table.display(),
                table.qualified(),
                if table.primary_key.is_empty() { "FULL" } else { "DEFAULT" }
            )));
        }
        let mut map = vec![];
        for (name, ty) in table.columns.iter().zip(&table.types) {
            let Some(i) = r.columns.iter().position(|c| &c.name == name) else {
                return Err(Failure::Fatal(format!(
                    "column `{name}` of {} was dropped or renamed, and the app's queries read it; the API keeps serving the last consistent data — restore the column, or change the config and rebuild",
                    table.display()
                )));
            };
            if !type_fits(*ty, r.columns[i].type_oid) {
                return Err(Failure::Fatal(format!(
                    "column `{name}` of {} changed type (now oid {}), and the app's queries read it as {ty}; the API keeps serving the last consistent data — rebuild the app for the new type",
                    table.display(),
                    r.columns[i].type_oid
                )));
            }
            map.push(i);
        }
        Ok(Some((t, map)))
    }
}

/// Whether a column of PostgreSQL type `oid` reads as `ty` (the types the catalog maps).
fn type_fits(ty: SqlType, oid: u32) -> bool {
    match ty {
        SqlType::Int => matches!(oid, 20 | 21 | 23),
        SqlType::Decimal => oid == 1700,
        SqlType::Float => matches!(oid, 700 | 701),
        SqlType::String | SqlType::Text => matches!(oid, 18 | 19 | 25 | 1042 | 1043 | 2950),
        SqlType::Boolean => oid == 16,
        SqlType::Timestamp => matches!(oid, 1114 | 1184),
        SqlType::Date => oid == 1082,
        SqlType::Json => matches!(oid, 114 | 3802),
        SqlType::Binary => oid == 17,
        SqlType::UInt | SqlType::Duration => false,
    }
}

/// A control session's configuration (the session pinned to the text forms [`super::text`]
/// reads).
fn client_config(connection: &PgConnection, password: &str) -> tokio_postgres::Config {
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(&connection.host)
        .port(connection.port)
        .user(&connection.user)
        .password(password)
        .dbname(&connection.database)
        .application_name("dozerc")
        .options(super::text::SESSION_OPTIONS)
        .ssl_mode(connection.tls.mode.negotiation())
        .connect_timeout(Duration::from_secs(10));
    cfg
}

/// The replication stream's TLS, as the control sessions': the same mode and trusted CAs.
fn replication_tls(tls: &dozer_pg_tls::PgTls) -> pgwire_replication::TlsConfig {
    use dozer_pg_tls::SslMode;
    pgwire_replication::TlsConfig {
        mode: match tls.mode {
            SslMode::Disable => pgwire_replication::SslMode::Disable,
            SslMode::Prefer => pgwire_replication::SslMode::Prefer,
            SslMode::Require => pgwire_replication::SslMode::Require,
            SslMode::VerifyCa => pgwire_replication::SslMode::VerifyCa,
            SslMode::VerifyFull => pgwire_replication::SslMode::VerifyFull,
        },
        ca_pem_path: tls.root_cert.clone(),
        ..pgwire_replication::TlsConfig::default()
    }
}

/// Drops the app's replication slot and publication on a server (the app is retired): the
/// server stops keeping WAL for it. Returns what was done, a line per object.
pub(super) fn retire(
    connection: &PgConnection,
    password: &str,
) -> Result<Vec<String>, SourceError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| error(format!("cannot start the I/O runtime: {e}")))?;
    let target = format!("{}:{}", connection.host, connection.port);
    let failed = |e: tokio_postgres::Error| {
        let reason = match e.as_db_error() {
            Some(db) => db.message().to_string(),
            None => std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string()),
        };
        error(format!(
            "PostgreSQL connection `{}` ({target}): {reason}",
            connection.name
        ))
    };
    let tls = connection
        .tls
        .connector()
        .map_err(|e| error(format!("connection `{}`: {e}", connection.name)))?;
    rt.block_on(async {
        let (client, conn) = client_config(connection, password)
            .connect(tls)
            .await
            .map_err(failed)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut done = vec![];
        let slot = client
            .query_opt(
                "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1",
                &[&connection.slot],
            )
            .await
            .map_err(failed)?;
        match slot {
            Some(row) => {
                if let Some(pid) = row.get::<_, Option<i32>>(0) {
                    return Err(error(format!(
                        "replication slot `{}` is in use by server process {pid} (is the app still running?); stop the app first",
                        connection.slot
                    )));
                }
                client
                    .execute("SELECT pg_drop_replication_slot($1)", &[&connection.slot])
                    .await
                    .map_err(failed)?;
                done.push(format!("dropped replication slot `{}`", connection.slot));
            }
            None => done.push(format!("replication slot `{}` was not there", connection.slot)),
        }
        let publication = client
            .query_opt(
                "SELECT 1 FROM pg_publication WHERE pubname = $1",
                &[&connection.publication],
            )
            .await
            .map_err(failed)?;
        if publication.is_some() {
            client
                .batch_execute(&format!("DROP PUBLICATION {}", quote(&connection.publication)))
                .await
                .map_err(failed)?;
            done.push(format!("dropped publication `{}`", connection.publication));
        } else {
            done.push(format!("publication `{}` was not there", connection.publication));
        }
        Ok(done)
    })
}
