//! Writes: each event stored conditionally (never over another), after its day's and its actor's
//! markers.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::NaiveDate;
use event_model::NewEvent;
use futures_util::{FutureExt, StreamExt};
use uuid::Uuid;

use super::DynamoStore;
use crate::item::{ActorMarker, DayMarker, EventItem};
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

/// A marker's write, shared by the events that wait for it: whether it was written.
type Marker<'a> = futures_util::future::Shared<futures_util::future::BoxFuture<'a, bool>>;

/// Most actors a process remembers having marked; past it the set starts again (a marker written
/// twice is the same item, and an unchanged item adds no stream record).
const KNOWN_ACTORS_MAX: usize = 100_000;

impl DynamoStore {
    /// Every event of a batch, written conditionally (at most `WRITE_PARALLELISM` at once, within
    /// `APPEND_DEADLINE`), each after the markers of its day and its actor: every stored event's
    /// day and actor are in the indexes those markers make. Each event waits for its own markers
    /// only, so one slow marker holds up the events that need it and no others.
    pub(super) async fn append_all(&self, events: Vec<NewEvent>) -> Vec<AppendOutcome> {
        // Tells each write from any other, should a write land but its answer be lost.
        let write_id = Uuid::new_v4().to_string();
        let deadline = tokio::time::Instant::now() + APPEND_DEADLINE;
        let days: BTreeSet<NaiveDate> = events.iter().map(|e| e.event.time.date_naive()).collect();
        let actors: BTreeSet<&str> = events.iter().map(|e| e.event.actor.as_str()).collect();
        // Each marker written once, its outcome shared by the events that need it.
        let day_markers: HashMap<NaiveDate, Marker<'_>> = days
            .iter()
            .map(|&day| {
                let marker = async move {
                    let result = self.ensure_day(day).await;
                    if let Err(e) = &result {
                        tracing::warn!(error = %e, %day, "could not write a day marker");
                    }
                    result.is_ok()
                };
                (day, marker.boxed().shared())
            })
            .collect();
        let actor_markers: HashMap<&str, Marker<'_>> = actors
            .iter()
            .map(|&actor| {
                let marker = async move {
                    let result = self.ensure_actor(actor).await;
                    if let Err(e) = &result {
                        tracing::warn!(error = %e, actor, "could not write an actor marker");
                    }
                    result.is_ok()
                };
                (actor, marker.boxed().shared())
            })
            .collect();
        let markers_of = |new: &NewEvent| {
            let day = day_markers[&new.event.time.date_naive()].clone();
            let actor = actor_markers[new.event.actor.as_str()].clone();
            async move {
                let (day, actor) = futures_util::future::join(day, actor).await;
                day && actor
            }
        };
        let unmarked = || {
            AppendOutcome::Failed(StoreError::unavailable(Message(
                "the day or actor marker could not be written".into(),
            )))
        };

        let mut outcomes: Vec<Option<AppendOutcome>> = (0..events.len()).map(|_| None).collect();
        // The first event of each id is written in parallel; a repeat of an id within the batch
        // waits for it, so it is reported as the duplicate (or conflict) it is.
        let mut seen = HashSet::new();
        let (mut first, mut repeats) = (Vec::new(), Vec::new());
        for (i, new) in events.iter().enumerate() {
            if seen.insert(new.event.id) {
                first.push(i);
            } else {
                repeats.push(i);
            }
        }
        let write_id = |i: usize| format!("{write_id}/{i}");
        let events = &events;
        let write = |i: usize| {
            let marked = markers_of(&events[i]);
            let write_id = write_id(i);
            async move {
                if !marked.await {
                    return (i, unmarked());
                }
                (i, self.put(&events[i], &write_id).await)
            }
        };
        {
            let writes = async {
                let mut written = futures_util::stream::iter(first)
                    .map(write)
                    .buffer_unordered(WRITE_PARALLELISM);
                while let Ok(Some((i, outcome))) = tokio::time::timeout_at(deadline, written.next()).await {
                    outcomes[i] = Some(outcome);
                }
                drop(written);
                for i in repeats {
                    if let Ok((i, outcome)) = tokio::time::timeout_at(deadline, write(i)).await {
                        outcomes[i] = Some(outcome);
                    }
                }
            };
            // Every marker is driven from the start (not only when its first event's turn comes).
            let drive = futures_util::future::join_all(day_markers.values().chain(actor_markers.values()).cloned());
            let drive = tokio::time::timeout_at(deadline, drive);
            futures_util::pin_mut!(drive, writes);
            if let futures_util::future::Either::Left((_, writes)) = futures_util::future::select(drive, writes).await {
                writes.await;
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
        self.put_marker(DayMarker::new(day, self.expires_at(end))).await?;
        self.inner.known_days.lock().expect("days lock").insert(day);
        Ok(())
    }

    /// Writes a day's or an actor's marker (the same item each time: a write over it changes
    /// nothing).
    async fn put_marker(&self, marker: impl serde::Serialize) -> Result<(), StoreError> {
        let item = serde_dynamo::to_item(marker).map_err(StoreError::unavailable)?;
        self.inner
            .writes
            .put_item()
            .table_name(&self.inner.layout.events_table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| crate::store_error(e, &self.inner.layout.events_resource()))?;
        Ok(())
    }

    /// Writes the marker of `actor` unless this process has written it.
    async fn ensure_actor(&self, actor: &str) -> Result<(), StoreError> {
        if self.inner.known_actors.lock().expect("actors lock").contains(actor) {
            return Ok(());
        }
        let Some(marker) = ActorMarker::new(actor) else {
            return Ok(()); // an actor is never empty (`NewEvent::parse`)
        };
        self.put_marker(marker).await?;
        let mut known = self.inner.known_actors.lock().expect("actors lock");
        if known.len() >= KNOWN_ACTORS_MAX {
            known.clear();
        }
        known.insert(actor.to_owned());
        Ok(())
    }

    /// Stores one event unless its id is taken. `write_id` is unique to this write.
    async fn put(&self, new: &NewEvent, write_id: &str) -> AppendOutcome {
        let names = &self.inner.layout;
        let item = EventItem::new(new, names, self.expires_at(new.event.time), write_id);
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
