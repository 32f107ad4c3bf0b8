//! Live record changes for `OnEvent` subscribers, read from the store's [`EventLog`].
//!
//! Every subscriber follows the log on its own: it reads a page of changes after its position in a
//! short read transaction, sends what its filters select, and when it has caught up waits until a
//! newer position is committed. The process that runs the pipeline says so right after each commit
//! ([`crate::notify`]); `api` processes look at the log's newest position every few milliseconds.
//! So a subscriber never makes the pipeline wait (the log is written in the batch's own
//! transaction, whoever listens), a slow one just reads further behind — until it falls behind the
//! retention, when it is told which positions are gone — and any subscriber can start from a
//! position it saw before (`resume_after`) and miss nothing, across reconnects and restarts.
//!
//! Each subscription filters by event type and `$filter` ANDed with its token's row scope; for an
//! update, a row entering the filter is an INSERT for that subscriber and a row leaving it a
//! DELETE, so a subscriber's view of the filtered rows stays exact and never holds a row outside
//! its scope.

use std::sync::Arc;

use dozer_types::Value;
use tokio::sync::mpsc;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::auth::EndpointGrant;
use super::exec::matches;
use super::feed::{read_newest, EventFeed};
use super::query::{parse_filter, Filter};
use super::state::ApiState;
use crate::event_log::Read;
use crate::table::ChangeKind;

/// One committed record change of an endpoint, decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub position: u64,
    pub endpoint: usize,
    pub kind: ChangeKind,
    pub id: u64,
    pub version: u32,
    pub old: Option<Vec<Value>>,
    pub new: Option<Vec<Value>>,
}

/// Which changes a subscriber wants of one endpoint (Dozer's `EventType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventTypes {
    All,
    InsertOnly,
    UpdateOnly,
    DeleteOnly,
}

impl EventTypes {
    /// The type filter by its gRPC name (`ALL`, `INSERT_ONLY`, `UPDATE_ONLY`, `DELETE_ONLY`),
    /// in any case.
    pub fn from_name(name: &str) -> Option<EventTypes> {
        Some(match name.to_ascii_uppercase().as_str() {
            "ALL" => EventTypes::All,
            "INSERT_ONLY" => EventTypes::InsertOnly,
            "UPDATE_ONLY" => EventTypes::UpdateOnly,
            "DELETE_ONLY" => EventTypes::DeleteOnly,
            _ => return None,
        })
    }
}

/// An event as one subscriber sees it: the operation, the old row (updates) and the row.
pub type Seen<'e> = (ChangeKind, Option<&'e Vec<Value>>, &'e Vec<Value>);

/// What a subscriber sees of an event: the operation after its filter, or nothing.
pub fn view<'e>(event: &'e Event, filter: Option<&Filter>, types: EventTypes) -> Option<Seen<'e>> {
    let passes = |row: &Option<Vec<Value>>| {
        row.as_ref()
            .is_some_and(|r| filter.is_none_or(|f| matches(f, r)))
    };
    let (kind, old, new) = match event.kind {
        ChangeKind::Insert => (ChangeKind::Insert, None, event.new.as_ref()?),
        ChangeKind::Delete => (ChangeKind::Delete, None, event.old.as_ref()?),
        ChangeKind::Update => match (passes(&event.old), passes(&event.new)) {
            (true, true) => (ChangeKind::Update, event.old.as_ref(), event.new.as_ref()?),
            (false, true) => (ChangeKind::Insert, None, event.new.as_ref()?),
            (true, false) => (ChangeKind::Delete, None, event.old.as_ref()?),
            (false, false) => return None,
        },
    };
    if event.kind != ChangeKind::Update && filter.is_some_and(|f| !matches(f, new)) {
        return None;
    }
    let wanted = match types {
        EventTypes::All => true,
        EventTypes::InsertOnly => kind == ChangeKind::Insert,
        EventTypes::UpdateOnly => kind == ChangeKind::Update,
        EventTypes::DeleteOnly => kind == ChangeKind::Delete,
    };
    wanted.then_some((kind, old, new))
}

/// What one subscriber follows of one endpoint.
#[derive(Clone, Debug)]
pub struct Subscription {
    pub endpoint: usize,
    /// The name the subscriber used (events carry it back).
    pub name: String,
    /// The subscriber's `$filter` ANDed with its token's row scope.
    pub filter: Option<Filter>,
    pub types: EventTypes,
    /// The subscriber's access (the fields its events show).
    pub grant: EndpointGrant,
}

/// One endpoint followed by a subscriber (gRPC `OnEvent` or SSE): its `$filter` checked against
/// the endpoint's fields the grant shows, and limited to the grant's rows.
pub fn subscription(
    state: &ApiState,
    grant: EndpointGrant,
    name: &str,
    types: EventTypes,
    filter: Option<&str>,
) -> Result<Subscription, Status> {
    let endpoint = grant.endpoint();
    let filter = match filter.map(str::trim) {
        None | Some("") => None,
        Some(text) => {
            let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
                Status::invalid_argument(format!("the filter of `{name}` is not valid JSON: {e}"))
            })?;
            parse_filter(
                &json,
                &state.pipeline.endpoints()[endpoint].fields,
                grant.visible(),
                state.settings.limits,
            )
            .map_err(|e| Status::invalid_argument(format!("the filter of `{name}`: {e}")))?
        }
    };
    Ok(Subscription {
        endpoint,
        name: name.to_string(),
        filter: grant.restrict(filter),
        types,
        grant,
    })
}

/// Changes read per read transaction.
const PAGE: usize = 512;

/// Messages in flight to one subscriber before its reader waits for it.
const IN_FLIGHT: usize = 128;

/// Where a new subscriber starts: after `resume_after`, or after everything committed so far.
/// A position that is gone or not reached yet is refused here, before the stream starts.
pub fn start(state: &ApiState, resume_after: Option<u64>) -> Result<(EventFeed, u64), Status> {
    let feed = state.events.clone().ok_or_else(|| {
        Status::failed_precondition(
            "OnEvent is off for this app (`flags.push_events: false`); enable it and rebuild",
        )
    })?;
    let Some(after) = resume_after else {
        // What is committed now, so that every change after the subscription arrives.
        let newest = read_newest(&feed.log, &state.store)?;
        return Ok((feed, newest));
    };
    let view = state
        .store
        .read()
        .map_err(|e| Status::internal(e.to_string()))?;
    match feed.log.read_after(&view, after, 1) {
        Ok(Read::Changes(_)) => Ok((feed, after)),
        Ok(Read::Gone { first }) => Err(gone(&feed, after, first)),
        Ok(Read::Future { newest }) => Err(Status::invalid_argument(format!(
            "`resume_after`: position {after} has not been reached; the newest is {newest}"
        ))),
        Err(e) => Err(Status::internal(format!("reading the event log: {e}"))),
    }
}

fn gone(feed: &EventFeed, after: u64, first: u64) -> Status {
    Status::out_of_range(format!(
        "the changes after position {after} up to {} are no longer kept (event retention {}s): read the current state with `query`, then subscribe again without `resume_after`",
        first - 1,
        feed.log.retention().as_secs()
    ))
}

/// Streams the events after position `after` that `subscriptions` select, each turned into a
/// message by `message`, until the receiver goes away or the subscriber falls behind the
/// retention.
pub fn follow<M: Send + 'static>(
    state: Arc<ApiState>,
    feed: EventFeed,
    subscriptions: Vec<Subscription>,
    after: u64,
    message: impl Fn(&Subscription, &Event, Seen<'_>) -> Result<M, Status> + Send + 'static,
) -> ReceiverStream<Result<M, Status>> {
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    tokio::spawn(async move {
        let subscriptions = Arc::new(subscriptions);
        let mut newest = feed.watch();
        let mut stopping = state.stopping.clone();
        let mut cursor = after;
        loop {
            if *stopping.borrow() {
                return;
            }
            let page = {
                let (state, feed, subs) = (state.clone(), feed.clone(), subscriptions.clone());
                tokio::task::spawn_blocking(move || read_page(&state, &feed, &subs, cursor))
                    .await
                    .unwrap_or_else(|e| Err(Status::internal(format!("event reader: {e}"))))
            };
            let (events, reached) = match page {
                Ok(page) => page,
                Err(status) => {
                    let _ = tx.send(Err(status)).await;
                    return;
                }
            };
            for event in &events {
                for s in subscriptions
                    .iter()
                    .filter(|s| s.endpoint == event.endpoint)
                {
                    let Some(seen) = view(event, s.filter.as_ref(), s.types) else {
                        continue;
                    };
                    let m = message(s, event, seen);
                    let failed = m.is_err();
                    if tx.send(m).await.is_err() || failed {
                        return;
                    }
                }
            }
            if reached > cursor {
                cursor = reached;
                continue;
            }
            // Caught up: wait for a newer commit, for the subscriber to leave, or for the server
            // to shut down (the subscriber resumes elsewhere or after the restart).
            tokio::select! {
                _ = tx.closed() => return,
                _ = stopping.wait_for(|stop| *stop) => return,
                r = newest.wait_for(|n| *n > cursor) => if r.is_err() { return },
            }
        }
    });
    ReceiverStream::new(rx)
}

/// The subscribed endpoints' events of the next page after `cursor`, and the position the page
/// reaches.
fn read_page(
    state: &ApiState,
    feed: &EventFeed,
    subscriptions: &[Subscription],
    cursor: u64,
) -> Result<(Vec<Event>, u64), Status> {
    let view = state
        .store
        .read()
        .map_err(|e| Status::internal(e.to_string()))?;
    let changes = match feed.log.read_after(&view, cursor, PAGE) {
        Ok(Read::Changes(c)) => c,
        Ok(Read::Gone { first }) => return Err(gone(feed, cursor, first)),
        // The log never goes back; a store replaced under a running server would.
        Ok(Read::Future { newest }) => {
            return Err(Status::aborted(format!(
                "the event log went back from position {cursor} to {newest} (the store was replaced); subscribe again"
            )))
        }
        Err(e) => return Err(Status::internal(format!("reading the event log: {e}"))),
    };
    let reached = changes.last().map_or(cursor, |c| c.position);
    let pipeline = state.pipeline.as_ref();
    let decode = |endpoint: usize, row: Option<Vec<u8>>| {
        row.map(|r| pipeline.decode(endpoint, &r))
            .transpose()
            .map_err(|e| Status::internal(format!("decoding an event: {e}")))
    };
    let mut events = vec![];
    for c in changes {
        if !subscriptions.iter().any(|s| s.endpoint == c.endpoint) {
            continue;
        }
        events.push(Event {
            position: c.position,
            endpoint: c.endpoint,
            kind: c.change.kind,
            id: c.change.id,
            version: c.change.version,
            old: decode(c.endpoint, c.change.old)?,
            new: decode(c.endpoint, c.change.new)?,
        });
    }
    Ok((events, reached))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::query::CompareOp;

    fn event(kind: ChangeKind, old: Option<i64>, new: Option<i64>) -> Event {
        Event {
            position: 1,
            endpoint: 0,
            kind,
            id: 1,
            version: 1,
            old: old.map(|v| vec![Value::Int(v)]),
            new: new.map(|v| vec![Value::Int(v)]),
        }
    }

    #[test]
    fn rows_entering_or_leaving_a_filter_are_inserts_or_deletes() {
        let big = Filter::Compare {
            field: 0,
            op: CompareOp::Gt,
            value: Value::Int(10),
        };
        let f = Some(&big);
        let kind = |e: &Event, t| view(e, f, t).map(|v| v.0);
        use ChangeKind::*;
        assert_eq!(
            kind(&event(Update, Some(5), Some(20)), EventTypes::All),
            Some(Insert)
        );
        assert_eq!(
            kind(&event(Update, Some(20), Some(5)), EventTypes::All),
            Some(Delete)
        );
        assert_eq!(
            kind(&event(Update, Some(20), Some(30)), EventTypes::All),
            Some(Update)
        );
        assert_eq!(
            kind(&event(Update, Some(1), Some(2)), EventTypes::All),
            None
        );
        assert_eq!(kind(&event(Insert, None, Some(2)), EventTypes::All), None);
        assert_eq!(
            kind(&event(Delete, Some(20), None), EventTypes::All),
            Some(Delete)
        );
        assert_eq!(
            kind(&event(Update, Some(5), Some(20)), EventTypes::UpdateOnly),
            None
        );
        assert_eq!(
            kind(&event(Insert, None, Some(20)), EventTypes::InsertOnly),
            Some(Insert)
        );
    }
}
