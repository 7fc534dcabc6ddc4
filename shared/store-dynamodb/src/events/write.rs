//! Writes: each event stored conditionally (never over another), after its day's marker.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::NaiveDate;
use event_model::NewEvent;
use futures_util::StreamExt;
use uuid::Uuid;

use super::DynamoStore;
use crate::item::{DayMarker, EventItem};
use crate::{Message, schema};
use audit_storage::{AppendOutcome, StoreError};

/// Conditional writes in flight at once for one append call: a 500-event batch is 10 rounds,
/// well inside the deadline when DynamoDB answers in tens of milliseconds, and still about 25 s of
/// work if half the writes take 2–3 s.
const WRITE_PARALLELISM: usize = 50;

/// How long one append may take. Below the local server's 30 s request timeout and API Gateway's
/// 29 s, so the client always gets per-event results: the events not stored by then are answered
/// `failed` (to be sent again, with the same ids: one that landed after all comes back
/// `duplicate`), never a timeout that says nothing of what was stored.
const APPEND_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

impl DynamoStore {
    /// Every event of a batch, written conditionally (at most `WRITE_PARALLELISM` at once, within
    /// `APPEND_DEADLINE`), after the day markers of their days.
    pub(super) async fn append_all(&self, events: Vec<NewEvent>) -> Vec<AppendOutcome> {
        // Tells each write from any other, should a write land but its answer be lost.
        let write_id = Uuid::new_v4().to_string();
        let deadline = tokio::time::Instant::now() + APPEND_DEADLINE;
        let days: BTreeSet<NaiveDate> = events.iter().map(|e| e.event.time.date_naive()).collect();
        let markers = futures_util::future::join_all(days.iter().map(|&day| async move {
            let result = self.ensure_day(day).await;
            if let Err(e) = &result {
                tracing::warn!(error = %e, %day, "could not write a day marker");
            }
            (day, result.is_ok())
        }));
        let marked: HashMap<NaiveDate, bool> = match tokio::time::timeout_at(deadline, markers).await {
            Ok(marked) => marked.into_iter().collect(),
            Err(_) => days.iter().map(|&day| (day, false)).collect(),
        };

        let mut outcomes: Vec<Option<AppendOutcome>> = (0..events.len()).map(|_| None).collect();
        // The first event of each id is written in parallel; a repeat of an id within the batch
        // waits for it, so it is reported as the duplicate (or conflict) it is.
        let mut seen = HashSet::new();
        let (mut first, mut repeats) = (Vec::new(), Vec::new());
        for (i, new) in events.iter().enumerate() {
            if !marked[&new.event.time.date_naive()] {
                outcomes[i] = Some(AppendOutcome::Failed(StoreError::unavailable(Message(
                    "the day marker could not be written".into(),
                ))));
            } else if seen.insert(new.event.id) {
                first.push(i);
            } else {
                repeats.push(i);
            }
        }
        let write_id = |i: usize| format!("{write_id}/{i}");
        let events = &events;
        let mut written = futures_util::stream::iter(first)
            .map(|i| async move { (i, self.put(&events[i], &write_id(i)).await) })
            .buffer_unordered(WRITE_PARALLELISM);
        while let Ok(Some((i, outcome))) = tokio::time::timeout_at(deadline, written.next()).await {
            outcomes[i] = Some(outcome);
        }
        drop(written);
        for i in repeats {
            if let Ok(outcome) = tokio::time::timeout_at(deadline, self.put(&events[i], &write_id(i))).await {
                outcomes[i] = Some(outcome);
            }
        }
        let late = outcomes.iter().filter(|o| o.is_none()).count();
        if late > 0 {
            tracing::warn!(late, "events not stored within the append deadline are answered failed");
        }
        outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    AppendOutcome::Failed(StoreError::busy(Message(
                        "the store did not answer within the deadline".into(),
                    )))
                })
            })
            .collect()
    }

    /// Writes the marker of `day` unless this process knows it is there.
    async fn ensure_day(&self, day: NaiveDate) -> Result<(), StoreError> {
        if self.inner.known_days.lock().expect("days lock").contains(&day) {
            return Ok(());
        }
        let end = event_model::time::start_of(day) + chrono::Duration::days(1);
        let item = serde_dynamo::to_item(DayMarker::new(day, self.expires_at(end))).map_err(StoreError::unavailable)?;
        self.inner
            .writes
            .put_item()
            .table_name(&self.inner.layout.events_table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| crate::store_error(e, &self.inner.layout.events_resource()))?;
        self.inner.known_days.lock().expect("days lock").insert(day);
        Ok(())
    }

    /// Stores one event unless its id is taken. `write_id` is unique to this write.
    async fn put(&self, new: &NewEvent, write_id: &str) -> AppendOutcome {
        let names = &self.inner.layout;
        let item = EventItem::new(new, names.time_shards, self.expires_at(new.event.time), write_id);
        let item = match serde_dynamo::to_item(item) {
            Ok(item) => item,
            Err(e) => return AppendOutcome::Failed(StoreError::unavailable(e)),
        };
        let written = self
            .inner
            .writes
            .put_item()
            .table_name(&names.events_table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", schema::ID)
            .send()
            .await;
        match written {
            Ok(_) => AppendOutcome::Created,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                match self.get_item(&new.event.id.to_string()).await {
                    // Our own write, whose answer was lost and retried.
                    Ok(Some(stored)) if stored.write_id == write_id => AppendOutcome::Created,
                    Ok(Some(stored)) if stored.fingerprint == new.fingerprint => AppendOutcome::Duplicate,
                    Ok(Some(_)) => AppendOutcome::Conflict,
                    Ok(None) => AppendOutcome::Failed(StoreError::Corrupt("a taken id has no item".into())),
                    Err(e) => AppendOutcome::Failed(e),
                }
            }
            Err(e) => AppendOutcome::Failed(crate::store_error(e, &self.inner.layout.events_resource())),
        }
    }

    pub(super) async fn get_item(&self, id: &str) -> Result<Option<EventItem>, StoreError> {
        self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
        let out = self
            .inner
            .client
            .get_item()
            .table_name(&self.inner.layout.events_table)
            .key(schema::ID, AttributeValue::S(id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| crate::store_error(e, &self.inner.layout.events_resource()))?;
        match out.item {
            None => Ok(None),
            Some(item) => serde_dynamo::from_item(item)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("event {id}: {e}"))),
        }
    }
}
