//! `!Grpc` sources: Dozer's push ingestion service (`dozer.ingest.IngestService`) on the
//! connection's own port, whose clients insert, update and delete rows of the tables its schemas
//! declare.
//!
//! - **Atomic per request.** A unary `ingest` is one change; an `ingest_stream` is every change
//!   of the stream, applied together once the stream ends. A request is checked whole before any
//!   of it is applied (its schema, each value against its column's type and nullability), then
//!   applied in a nested store transaction: an update or delete of a row the table does not hold
//!   undoes the request's other changes and is refused, leaving the rest of the batch.
//! - **Durable before the answer.** Requests queue to the runner, which applies what has arrived
//!   in one store transaction (group commit) and answers each request only after that commit:
//!   an acknowledged change survives any crash, and a change whose answer never came may or may
//!   not have been applied (a client retries it as an upsert or checks).
//! - **Old rows.** Each table's rows are mirrored in the store ([`super::mirror`]): with a primary
//!   key, an update or delete finds the row by its key (whatever else the request's `old` says),
//!   an insert of a key already there replaces the row; without one, `old` must be the whole row.
//!
//! The server runs on a thread of its own with its own tokio runtime ([`server`]), started when
//! the runner first asks for a batch and stopped when the source is dropped.

mod server;
mod table;

use std::sync::{Arc, Mutex};

use heed::{Env, RwTxn, WithoutTls};

use super::chunk::{Chunk, RawRecord, SourceError};
use super::interface::{Sink, Source};
use super::mirror::{Mirror, RowChange, Shape, WeightedRows};
use super::wake::Wake;
use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::error::OpError;

use self::server::{IngestServer, Pending};
pub use self::table::{GrpcConnection, GrpcTable};

/// What the store keeps of a connection: how many requests and changes it applied (for `info`;
/// nothing needs resuming, since every acknowledged change is in the store).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct GrpcPosition {
    requests: u64,
    changes: u64,
}

impl Encode for GrpcPosition {
    fn encode(&self, out: &mut Vec<u8>) {
        self.requests.encode(out);
        self.changes.encode(out);
    }
}

impl Decode for GrpcPosition {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(GrpcPosition {
            requests: u64::decode(r)?,
            changes: u64::decode(r)?,
        })
    }
}

/// The requests of one store transaction.
struct Ready {
    requests: Vec<Pending>,
    end: GrpcPosition,
}

pub struct GrpcSource {
    connection: GrpcConnection,
    key: String,
    /// Each app source this connection feeds, with its table.
    tables: Vec<(usize, GrpcTable)>,
    mirrors: Vec<Mirror>,
    env: Env<WithoutTls>,
    at: GrpcPosition,
    server: Option<IngestServer>,
    wake: Wake,
    ready: Option<Ready>,
    /// Why each request of the ready batch was refused (`None`: applied), as its last apply
    /// found (an apply may run again).
    refused: Mutex<Vec<Option<String>>>,
}

impl GrpcSource {
    pub fn key_of(connection: &GrpcConnection) -> String {
        format!("grpc:{}", connection.name)
    }

    pub fn open(
        env: &Env<WithoutTls>,
        txn: &mut RwTxn,
        tables: Vec<(usize, GrpcTable)>,
        committed: Option<&[u8]>,
        wake: Wake,
    ) -> Result<GrpcSource, OpError> {
        let connection = tables[0].1.connection.clone();
        let at = match committed {
            Some(bytes) => GrpcPosition::decode(&mut Reader::new(bytes))?,
            None => GrpcPosition::default(),
        };
        let mirrors = tables
            .iter()
            .map(|(source, t)| {
                Mirror::open(
                    env,
                    txn,
                    &format!("grpc.rows.{}.{}.{source}", connection.name, t.table),
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(GrpcSource {
            key: Self::key_of(&connection),
            connection,
            tables,
            mirrors,
            env: env.clone(),
            at,
            server: None,
            wake,
            ready: None,
            refused: Mutex::new(vec![]),
        })
    }

    fn shape<'a>(&self, t: &'a GrpcTable) -> Shape<'a> {
        Shape {
            name: &t.table,
            types: &t.types,
            primary_key: &t.primary_key,
        }
    }

    /// Applies one request's changes to the mirrors in a nested transaction: its rows for the
    /// pipeline, per table; or why it is refused, with nothing of it kept.
    fn mirror_request(
        &self,
        txn: &mut RwTxn,
        request: &Pending,
        rows: &mut [WeightedRows],
    ) -> Result<Option<String>, OpError> {
        let mut nested = self.env.nested_write_txn(txn)?;
        let mut out: Vec<(usize, WeightedRows)> = vec![];
        for (table, change) in &request.changes {
            let t = &self.tables[*table].1;
            let mut changed = vec![];
            match self.mirrors[*table].apply(
                &mut nested,
                &self.shape(t),
                change.clone(),
                &mut changed,
            ) {
                Ok(()) => out.push((*table, changed)),
                // A row the table does not hold: the client's mistake, not the store's.
                Err(OpError::Inconsistent(_)) => {
                    nested.abort();
                    return Ok(Some(format!(
                        "{} of schema `{}`: the table holds no such row (check its primary key, or send the whole old row)",
                        match change {
                            RowChange::Update { .. } => "an update",
                            _ => "a delete",
                        },
                        t.table
                    )));
                }
                Err(e) => return Err(e),
            }
        }
        nested.commit()?;
        for (table, changed) in out {
            rows[table].extend(changed);
        }
        Ok(None)
    }
}

impl<E: From<SourceError> + From<OpError>> Source<E> for GrpcSource {
    fn position_key(&self) -> &str {
        &self.key
    }

    fn next_batch(&mut self, max_records: usize) -> Result<bool, SourceError> {
        if self.server.is_none() {
            self.server = Some(IngestServer::start(
                &self.connection,
                &self.tables,
                self.wake.clone(),
            )?);
        }
        if self.ready.is_none() {
            let server = self.server.as_mut().expect("started above");
            let requests = server.take(max_records);
            if !requests.is_empty() {
                let changes: usize = requests.iter().map(|r| r.changes.len()).sum();
                self.ready = Some(Ready {
                    end: GrpcPosition {
                        requests: self.at.requests + requests.len() as u64,
                        changes: self.at.changes + changes as u64,
                    },
                    requests,
                });
            }
        }
        Ok(self.ready.is_some())
    }

    fn batch_position(&self) -> Vec<u8> {
        let mut out = vec![];
        self.ready
            .as_ref()
            .map_or(self.at, |r| r.end)
            .encode(&mut out);
        out
    }

    fn apply(&self, txn: &mut RwTxn, sink: &mut Sink<'_, E>) -> Result<u64, E> {
        let Some(ready) = &self.ready else {
            return Ok(0);
        };
        let mut rows: Vec<WeightedRows> = vec![vec![]; self.tables.len()];
        let mut refused = Vec::with_capacity(ready.requests.len());
        for request in &ready.requests {
            refused.push(self.mirror_request(txn, request, &mut rows)?);
        }
        *self.refused.lock().unwrap_or_else(|p| p.into_inner()) = refused;
        let mut applied = 0;
        let origin: Arc<str> = Arc::from(
            format!(
                "gRPC ingestion of connection `{}`, request {}",
                self.connection.name,
                self.at.requests + 1
            )
            .as_str(),
        );
        for (table, rows) in rows.into_iter().enumerate() {
            if rows.is_empty() {
                continue;
            }
            applied += rows.len() as u64;
            let (records, weights): (Vec<_>, Vec<_>) = rows
                .into_iter()
                .map(|(values, w)| ((self.at.requests + 1, RawRecord::Values(values)), w))
                .unzip();
            let chunk = Chunk {
                origin: origin.clone(),
                records,
                weights,
            };
            sink(txn, self.tables[table].0, &chunk)?;
        }
        Ok(applied)
    }

    fn acknowledge(&mut self) {
        let Some(ready) = self.ready.take() else {
            return;
        };
        self.at = ready.end;
        let refused = std::mem::take(&mut *self.refused.lock().unwrap_or_else(|p| p.into_inner()));
        for (request, refused) in ready.requests.into_iter().zip(refused) {
            request.answer(refused);
        }
    }

    fn describe(&self, committed: Option<&[u8]>) -> Result<Vec<(usize, String)>, SourceError> {
        let at = match committed {
            Some(bytes) => {
                GrpcPosition::decode(&mut Reader::new(bytes)).map_err(|e| SourceError {
                    file: None,
                    line: None,
                    message: format!(
                        "the stored position of connection `{}` is unreadable: {e}",
                        self.connection.name
                    ),
                })?
            }
            None => GrpcPosition::default(),
        };
        Ok(self
            .tables
            .iter()
            .map(|(source, t)| {
                (
                    *source,
                    format!(
                        "schema `{}` pushed to {}:{} ({} request(s), {} change(s) applied on the connection)",
                        t.table, self.connection.host, self.connection.port, at.requests, at.changes
                    ),
                )
            })
            .collect())
    }
}
