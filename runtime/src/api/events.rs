//! Live record changes for `OnEvent` subscribers.
//!
//! After each batch commits, the runner publishes the batch's record changes (decoded once, and
//! only while someone listens) on a bounded broadcast channel. Publishing never waits: a subscriber
//! that falls more than [`EventBus::capacity`] batches behind is told so and disconnected, so a slow
//! client can never hold up the pipeline. Each subscriber filters by event type and `$filter`; for
//! an update, a row entering the filter is an INSERT for that subscriber and a row leaving it a
//! DELETE, so a subscriber's view of the filtered rows stays exact.

use std::sync::Arc;

use dozer_types::Value;
use tokio::sync::broadcast;

use super::exec::matches;
use super::query::Filter;
use crate::app::Pipeline;
use crate::codec::DecodeError;
use crate::table::{ChangeKind, RecordChange};

/// One committed record change of an endpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub endpoint: usize,
    pub kind: ChangeKind,
    pub id: u64,
    pub version: u32,
    pub old: Option<Vec<Value>>,
    pub new: Option<Vec<Value>>,
}

/// The changes of one committed batch, in commit order.
pub type Batch = Arc<Vec<Event>>;

pub struct EventBus {
    tx: broadcast::Sender<Batch>,
    capacity: usize,
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        EventBus { tx, capacity }
    }

    /// Batches a subscriber may fall behind before it is disconnected.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Batch> {
        self.tx.subscribe()
    }

    /// Publishes a committed batch's changes (no work at all while nobody listens).
    pub fn publish(
        &self,
        pipeline: &dyn Pipeline,
        changes: Vec<(usize, RecordChange)>,
    ) -> Result<(), DecodeError> {
        if changes.is_empty() || self.tx.receiver_count() == 0 {
            return Ok(());
        }
        let decode = |endpoint: usize, row: Option<Vec<u8>>| {
            row.map(|r| pipeline.decode(endpoint, &r)).transpose()
        };
        let mut events = Vec::with_capacity(changes.len());
        for (endpoint, c) in changes {
            events.push(Event {
                endpoint,
                kind: c.kind,
                id: c.id,
                version: c.version,
                old: decode(endpoint, c.old)?,
                new: decode(endpoint, c.new)?,
            });
        }
        // No receiver left since the check: nothing to do.
        let _ = self.tx.send(Arc::new(events));
        Ok(())
    }
}

/// Which changes a subscriber wants of one endpoint (Dozer's `EventType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventTypes {
    All,
    InsertOnly,
    UpdateOnly,
    DeleteOnly,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::query::CompareOp;

    fn event(kind: ChangeKind, old: Option<i64>, new: Option<i64>) -> Event {
        Event {
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
