//! The ingestion server of one `!Grpc` connection: `dozer.ingest.IngestService` (and reflection,
//! which pydozer's `IngestClient.describe()` reads) on the connection's host and port, on a
//! thread with its own tokio runtime. Each request is checked and turned into row changes here,
//! then queued to the source; its answer waits for the store commit that applied it.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tonic::{Request, Response, Status, Streaming};

use super::table::{GrpcConnection, GrpcTable};
use crate::proto::ingest::ingest_service_server::{IngestService, IngestServiceServer};
use crate::proto::ingest::{IngestArrowRequest, IngestRequest, IngestResponse};
use crate::proto::types::{self as pb, OperationType};
use crate::source::chunk::SourceError;
use crate::source::mirror::{OldValues, RowChange};
use crate::source::wake::Wake;

/// Requests waiting for the runner, at most (then clients wait: backpressure).
const QUEUE: usize = 1024;

/// Changes one streamed request may hold; a longer stream is refused (split it).
const MAX_STREAM_CHANGES: usize = 1_000_000;

/// A checked request, waiting to be applied: its changes (by the source's table index) and
/// where its answer goes.
pub(super) struct Pending {
    pub changes: Vec<(usize, RowChange)>,
    seq_no: u32,
    reply: oneshot::Sender<Result<u32, Status>>,
}

impl Pending {
    /// Answers the client: applied (its `seq_no`), or refused with why.
    pub fn answer(self, refused: Option<String>) {
        // A client that went away does not need its answer.
        let _ = self.reply.send(match refused {
            None => Ok(self.seq_no),
            Some(why) => Err(Status::failed_precondition(why)),
        });
    }
}

/// A running server and the queue of its checked requests.
pub(super) struct IngestServer {
    rx: mpsc::Receiver<Pending>,
    held: Option<Pending>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl IngestServer {
    /// Binds the connection's address (an error that says so when it cannot) and serves on a
    /// thread of its own.
    pub fn start(
        connection: &GrpcConnection,
        tables: &[(usize, GrpcTable)],
        wake: Wake,
    ) -> Result<IngestServer, SourceError> {
        let failed = |message: String| SourceError {
            file: None,
            line: None,
            message,
        };
        let address = format!("{}:{}", connection.host, connection.port);
        let listener = std::net::TcpListener::bind(&address).map_err(|e| {
            failed(format!(
                "connection `{}` cannot listen on {address}: {e}; pick a free `port` for it (or stop what uses this one)",
                connection.name
            ))
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|e| failed(format!("{address}: {e}")))?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let (shutdown, stop) = oneshot::channel::<()>();
        let service = Ingest {
            schemas: Arc::new(Schemas::new(tables)),
            tx,
            wake,
        };
        let name = connection.name.clone();
        let thread = std::thread::Builder::new()
            .name(format!("grpc ingest {name}"))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("connection `{name}`: cannot start the ingestion server: {e}");
                        return;
                    }
                };
                runtime.block_on(async move {
                    if let Err(e) = serve(listener, service, stop).await {
                        eprintln!("connection `{name}`: the ingestion server stopped: {e}");
                    }
                });
            })
            .map_err(|e| failed(format!("cannot start the ingestion thread: {e}")))?;
        Ok(IngestServer {
            rx,
            held: None,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The requests queued now, about `max_records` changes of them (at least one request; a
    /// request is never split).
    pub fn take(&mut self, max_records: usize) -> Vec<Pending> {
        let mut out: Vec<Pending> = self.held.take().into_iter().collect();
        let mut changes: usize = out.iter().map(|p| p.changes.len()).sum();
        while changes < max_records {
            match self.rx.try_recv() {
                Ok(p) => {
                    if changes > 0 && changes + p.changes.len() > max_records {
                        self.held = Some(p);
                        break;
                    }
                    changes += p.changes.len();
                    out.push(p);
                }
                Err(_) => break,
            }
        }
        out
    }
}

impl Drop for IngestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    service: Ingest,
    stop: oneshot::Receiver<()>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let reflection = |b: tonic_reflection::server::Builder<'static>| {
        b.register_encoded_file_descriptor_set(crate::proto::INGEST_DESCRIPTOR_SET)
    };
    let v1 = reflection(tonic_reflection::server::Builder::configure()).build_v1()?;
    let v1alpha = reflection(tonic_reflection::server::Builder::configure()).build_v1alpha()?;
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(IngestServiceServer::new(service).max_decoding_message_size(64 << 20))
        .add_service(v1)
        .add_service(v1alpha)
        .serve_with_incoming_shutdown(incoming, async {
            let _ = stop.await;
        })
        .await?;
    Ok(())
}

/// Each schema's name and the source tables it feeds (several app sources may read one).
struct Schemas {
    tables: Vec<GrpcTable>,
    by_name: HashMap<String, Vec<usize>>,
}

impl Schemas {
    fn new(tables: &[(usize, GrpcTable)]) -> Schemas {
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, (_, t)) in tables.iter().enumerate() {
            by_name.entry(t.table.clone()).or_default().push(i);
        }
        Schemas {
            tables: tables.iter().map(|(_, t)| t.clone()).collect(),
            by_name,
        }
    }

    /// A request's changes, checked: its schema, operation, and every value against its
    /// column's type (and nullability, for new rows).
    fn changes(&self, request: IngestRequest) -> Result<Vec<(usize, RowChange)>, Status> {
        let targets = self.targets(&request.schema_name)?;
        let typ = OperationType::try_from(request.typ).map_err(|_| {
            Status::invalid_argument(format!(
                "`typ` {} is not INSERT (0), DELETE (1) or UPDATE (2)",
                request.typ
            ))
        })?;
        let mut out = Vec::with_capacity(targets.len());
        for &i in targets {
            let t = &self.tables[i];
            let change = match typ {
                OperationType::Insert => RowChange::Insert(row(t, &request.new, "new")?),
                OperationType::Delete => {
                    RowChange::Delete(OldValues::Full(row(t, &request.old, "old")?))
                }
                OperationType::Update => RowChange::Update {
                    // A keyed table's row is found by the new row's key when `old` is left out.
                    old: if request.old.is_empty() && !t.primary_key.is_empty() {
                        None
                    } else {
                        Some(OldValues::Full(row(t, &request.old, "old")?))
                    },
                    new: row(t, &request.new, "new")?,
                },
            };
            out.push((i, change));
        }
        Ok(out)
    }
}

impl Schemas {
    fn targets(&self, schema_name: &str) -> Result<&[usize], Status> {
        self.by_name
            .get(schema_name)
            .map(Vec::as_slice)
            .ok_or_else(|| {
                let mut known: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
                known.sort_unstable();
                Status::not_found(format!(
                    "schema `{schema_name}` is not ingested by this app (its schemas: {})",
                    known.join(", ")
                ))
            })
    }

    /// The rows of an Arrow IPC batch (one or more IPC streams, back to back, as pydozer
    /// writes them), columns found by name; each row an insert unless the request's `metadata`
    /// says otherwise for its position (DELETE: the row is the old row; UPDATE: by its key).
    fn arrow_changes(
        &self,
        request: IngestArrowRequest,
    ) -> Result<Vec<(usize, RowChange)>, Status> {
        let targets = self.targets(&request.schema_name)?;
        let bad = |m: String| Status::invalid_argument(m);
        let mut cursor = std::io::Cursor::new(request.records.as_slice());
        let mut out = vec![];
        let mut row_no: u32 = 0;
        while (cursor.position() as usize) < cursor.get_ref().len() {
            let reader = arrow_ipc::reader::StreamReader::try_new(&mut cursor, None)
                .map_err(|e| bad(format!("`records` is not an Arrow IPC stream: {e}")))?;
            for batch in reader {
                let batch = batch.map_err(|e| bad(format!("`records`: {e}")))?;
                for &i in targets {
                    let t = &self.tables[i];
                    let mut rows: Vec<Vec<dozer_types::Value>> = vec![vec![]; batch.num_rows()];
                    for column in &t.columns {
                        let array = batch.column_by_name(column).ok_or_else(|| {
                            let have: Vec<String> = batch
                                .schema()
                                .fields()
                                .iter()
                                .map(|f| f.name().clone())
                                .collect();
                            bad(format!(
                                "the batch has no column `{column}` of schema `{}` (it has: {})",
                                t.table,
                                have.join(", ")
                            ))
                        })?;
                        crate::source::arrow_values::push_values(array.as_ref(), &mut rows)
                            .map_err(|e| bad(format!("column `{column}`: {e}")))?;
                    }
                    for (r, values) in rows.into_iter().enumerate() {
                        let at = row_no + r as u32;
                        let wire: Vec<pb::Value> =
                            values.iter().map(crate::proto::value::value).collect();
                        let field = format!("row {at}");
                        let typ = request
                            .metadata
                            .get(&at)
                            .map_or(Ok(crate::proto::ingest::OperationType::Insert), |m| {
                                crate::proto::ingest::OperationType::try_from(m.typ)
                            })
                            .map_err(|_| {
                                bad(format!("`metadata` of row {at} has an unknown `typ`"))
                            })?;
                        use crate::proto::ingest::OperationType as Op;
                        let change = match typ {
                            Op::Insert => RowChange::Insert(typed_row(t, &wire, &field, true)?),
                            Op::Delete => RowChange::Delete(OldValues::Full(typed_row(t, &wire, &field, false)?)),
                            Op::Update if !t.primary_key.is_empty() => RowChange::Update {
                                old: None,
                                new: typed_row(t, &wire, &field, true)?,
                            },
                            Op::Update => {
                                return Err(Status::invalid_argument(format!(
                                    "row {at}: an Arrow UPDATE carries no old row, so it needs a schema with a `primary_index` (`{}` has none); send a DELETE and an INSERT",
                                    t.table
                                )))
                            }
                        };
                        out.push((i, change));
                    }
                }
                row_no += batch.num_rows() as u32;
            }
        }
        Ok(out)
    }
}

/// The values of `field` (`new` or `old`) as a row of `table`; a refusal that names the value.
fn row(
    table: &GrpcTable,
    values: &[pb::Value],
    field: &str,
) -> Result<Vec<Option<dozer_types::Value>>, Status> {
    typed_row(table, values, field, field == "new")
}

/// The row `values` of `table` (`field` names them in messages), typed by its columns, with
/// NULLs in non-nullable columns refused for a `new` row.
fn typed_row(
    table: &GrpcTable,
    values: &[pb::Value],
    field: &str,
    new: bool,
) -> Result<Vec<Option<dozer_types::Value>>, Status> {
    if values.len() != table.columns.len() {
        return Err(Status::invalid_argument(format!(
            "`{field}` has {} value(s), schema `{}` has {} column(s): {}",
            values.len(),
            table.table,
            table.columns.len(),
            table.columns.join(", ")
        )));
    }
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let column = &table.columns[i];
            let value = crate::proto::value::typed(v.clone(), table.types[i]).map_err(|e| {
                Status::invalid_argument(format!("`{field}[{i}]` (column `{column}`) {e}"))
            })?;
            if value.is_null() && !table.nullable[i] && new {
                return Err(Status::invalid_argument(format!(
                    "`{field}[{i}]` is NULL, but column `{column}` of schema `{}` is not nullable",
                    table.table
                )));
            }
            Ok(Some(value))
        })
        .collect()
}

struct Ingest {
    schemas: Arc<Schemas>,
    tx: mpsc::Sender<Pending>,
    wake: Wake,
}

impl Ingest {
    /// Queues checked changes and waits until they are applied and committed.
    async fn apply(
        &self,
        changes: Vec<(usize, RowChange)>,
        seq_no: u32,
    ) -> Result<Response<IngestResponse>, Status> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending {
                changes,
                seq_no,
                reply,
            })
            .await
            .map_err(|_| {
                Status::unavailable("the app is stopping; send the request again once it runs")
            })?;
        self.wake.notify();
        match answer.await {
            Ok(Ok(seq_no)) => Ok(Response::new(IngestResponse { seq_no })),
            Ok(Err(status)) => Err(status),
            Err(_) => Err(Status::unavailable(
                "the app stopped before the request was committed; it was not applied",
            )),
        }
    }
}

impl Ingest {
    /// Checks every message of a stream (`changes` of each), then applies them all as one
    /// request answered with the last message's `seq_no`; one bad message refuses the stream.
    async fn apply_stream<M>(
        &self,
        mut stream: Streaming<M>,
        seq_no_of: impl Fn(&M) -> u32,
        changes_of: impl Fn(M) -> Result<Vec<(usize, RowChange)>, Status>,
    ) -> Result<Response<IngestResponse>, Status> {
        let mut changes = vec![];
        let (mut seq_no, mut n) = (0, 0usize);
        while let Some(message) = stream.message().await? {
            n += 1;
            seq_no = seq_no_of(&message);
            let more = changes_of(message).map_err(|s| {
                Status::new(
                    s.code(),
                    format!(
                        "message {n} of the stream: {}; nothing of the stream was applied",
                        s.message()
                    ),
                )
            })?;
            changes.extend(more);
            if changes.len() > MAX_STREAM_CHANGES {
                return Err(Status::resource_exhausted(format!(
                    "a stream is applied whole, and this one has more than {MAX_STREAM_CHANGES} changes; split it into several streams"
                )));
            }
        }
        if changes.is_empty() {
            return Ok(Response::new(IngestResponse { seq_no }));
        }
        self.apply(changes, seq_no).await
    }
}

#[tonic::async_trait]
impl IngestService for Ingest {
    async fn ingest(
        &self,
        request: Request<IngestRequest>,
    ) -> Result<Response<IngestResponse>, Status> {
        let request = request.into_inner();
        let seq_no = request.seq_no;
        let changes = self.schemas.changes(request)?;
        self.apply(changes, seq_no).await
    }

    async fn ingest_stream(
        &self,
        request: Request<Streaming<IngestRequest>>,
    ) -> Result<Response<IngestResponse>, Status> {
        self.apply_stream(
            request.into_inner(),
            |m| m.seq_no,
            |m| self.schemas.changes(m),
        )
        .await
    }

    async fn ingest_arrow(
        &self,
        request: Request<IngestArrowRequest>,
    ) -> Result<Response<IngestResponse>, Status> {
        let request = request.into_inner();
        let seq_no = request.seq_no;
        let changes = self.schemas.arrow_changes(request)?;
        self.apply(changes, seq_no).await
    }

    async fn ingest_arrow_stream(
        &self,
        request: Request<Streaming<IngestArrowRequest>>,
    ) -> Result<Response<IngestResponse>, Status> {
        self.apply_stream(
            request.into_inner(),
            |m| m.seq_no,
            |m| self.schemas.arrow_changes(m),
        )
        .await
    }
}
