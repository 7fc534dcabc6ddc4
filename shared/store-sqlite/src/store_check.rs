//! `verify`'s comparison of the embedded store with its archive, in both directions: an
//! archived event changed or removed in the database, and an event in the database that no
//! archive file of its period holds (inserted behind the API), or that no digest covers although
//! it is older than the seal delay. Memory stays flat: one archive file's events at a time
//! (files are named by the `seq` range they hold), and the rest of the store in batches.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use audit_integrity::archive::Lines;
use audit_integrity::verify::{Problem, Range, Report, StoreCheck};
use audit_storage::StoreError;
use chrono::{DateTime, Duration, Utc};

use crate::SqliteStore;

/// The store's side of `verify` (see the module documentation).
pub struct StoreAgainstArchive {
    store: SqliteStore,
    range: Range,
    now: DateTime<Utc>,
    /// How long after it is received an event may wait for its digest.
    seal_delay: Duration,
    /// How long after its `received_at` an acknowledged event may still be committed.
    grace: Duration,
    /// The highest `seq` any archive file holds.
    covered_upto: i64,
    named: usize,
}

impl StoreAgainstArchive {
    pub fn new(store: SqliteStore, range: Range, now: DateTime<Utc>, seal_delay: Duration, grace: Duration) -> Self {
        StoreAgainstArchive {
            store,
            range,
            now,
            seal_delay,
            grace,
            covered_upto: 0,
            named: 0,
        }
    }

    /// Whether the file holds exactly the events of its `seq` range in their stored form (see
    /// [`audit_integrity::canonical::write_stored_form`]). The store's side is most of
    /// `verify`'s work (each row read and written out): the range is read in two halves at
    /// once, on two connections, beside the archive's side.
    async fn stored_as(&self, first: i64, last: i64, lines: &Arc<Lines>) -> Result<bool, StoreError> {
        if last - first + 1 != lines.len() as i64 {
            return Ok(false);
        }
        let middle = first + (last - first) / 2;
        let (head, tail) = tokio::try_join!(
            self.store.stored_as(first, middle, lines.clone(), 0),
            self.store
                .stored_as(middle + 1, last, lines.clone(), (middle + 1 - first) as usize)
        )?;
        Ok(head && tail)
    }

    async fn compare(&mut self, file: &str, first: i64, last: i64, lines: Arc<Lines>, report: &mut Report) {
        // Most files hold exactly what the store holds.
        match self.stored_as(first, last, &lines).await {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => {
                report
                    .notes
                    .push(format!("the store could not be read for {file}: {e}"));
                return;
            }
        }
        // Otherwise event by event, in canonical form, by id.
        let stored = match self.store.canonical_events_between(first, last).await {
            Ok(stored) => stored,
            Err(e) => {
                report
                    .notes
                    .push(format!("the store could not be read for {file}: {e}"));
                return;
            }
        };
        let mut by_id: HashMap<String, (DateTime<Utc>, Vec<u8>)> = stored
            .into_iter()
            .filter_map(|(_, received, canonical)| Some((event_id(&canonical)?, (received, canonical))))
            .collect();
        for archived in lines.iter() {
            let Some(id) = event_id(archived) else {
                report.notes.push(format!("{file} holds a line that is not an event"));
                continue;
            };
            match by_id.remove(&id) {
                Some((_, canonical)) if canonical == *archived => {}
                Some(_) => report.name_event(
                    &mut self.named,
                    Problem::EventChanged {
                        id,
                        file: file.to_owned(),
                    },
                ),
                None => {
                    let elsewhere = match uuid::Uuid::parse_str(&id) {
                        Ok(uuid) => self.store.seq_of(uuid).await.ok().flatten(),
                        Err(_) => None,
                    };
                    let problem = if elsewhere.is_some() {
                        Problem::EventChanged {
                            id,
                            file: file.to_owned(),
                        }
                    } else {
                        Problem::EventRemoved {
                            id,
                            file: file.to_owned(),
                        }
                    };
                    report.name_event(&mut self.named, problem);
                }
            }
        }
        let mut added: Vec<(String, DateTime<Utc>)> = by_id.into_iter().map(|(id, (at, _))| (id, at)).collect();
        added.sort();
        for (id, received) in added {
            report.name_event(
                &mut self.named,
                Problem::EventAdded {
                    id,
                    received_at: event_model::time::format(&received),
                },
            );
        }
    }
}

#[async_trait]
impl StoreCheck for StoreAgainstArchive {
    async fn file(&mut self, file: &str, events: Option<Arc<Lines>>, report: &mut Report) {
        let Some((first, last)) = seq_range(file) else {
            report.notes.push(format!(
                "{file} is not named by a seq range: not compared with the store"
            ));
            return;
        };
        self.covered_upto = self.covered_upto.max(last);
        if let Some(events) = events {
            self.compare(file, first, last, events, report).await;
        }
    }

    async fn finish(&mut self, report: &mut Report) {
        let sealed_through = report.sealed_through;
        let mut after = self.covered_upto;
        loop {
            let batch = match self.store.canonical_events_after(after, i64::MAX, 10_000).await {
                Ok(batch) => batch,
                Err(e) => {
                    report.notes.push(format!("the store could not be read: {e}"));
                    return;
                }
            };
            let Some(&(last, ..)) = batch.last() else { return };
            after = last;
            for (_, received, canonical) in batch {
                if self.range.to.is_some_and(|to| received >= to) {
                    continue;
                }
                let id = event_id(&canonical).unwrap_or_default();
                let received_at = event_model::time::format(&received);
                if sealed_through.is_some_and(|through| received < through - self.grace) {
                    report.name_event(&mut self.named, Problem::EventAdded { id, received_at });
                } else if received < self.now - self.seal_delay {
                    report.name_event(&mut self.named, Problem::EventUnsealed { id, received_at });
                }
            }
        }
    }
}

/// The `seq` range an archive file's name says it holds (`<first>-<last>.ndjson.gz`).
pub(crate) fn seq_range(path: &str) -> Option<(i64, i64)> {
    let name = path.rsplit('/').next()?.strip_suffix(".ndjson.gz")?;
    let (first, last) = name.split_once('-')?;
    Some((first.parse().ok()?, last.parse().ok()?))
}

/// The `id` of a canonical event.
fn event_id(canonical: &[u8]) -> Option<String> {
    audit_integrity::canonical::canonical_id(canonical).map(str::to_owned)
}
