//! The events table: conditional writes that never overwrite, and paged reads over the two
//! indexes (see [`crate::schema`] for the layout and [`crate::position`] for the page positions).
//! In rooms: `write` (appends and day markers), `filter_expression` (what no index serves),
//! `read` (index partitions merged into a page) and `days` (which days of a range have events).

mod days;
mod filter_expression;
pub mod kept_counts;
mod read;
mod write;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, NaiveDate, Utc};
use event_model::{Event, EventFilter, NewEvent};
use uuid::Uuid;

use crate::position::Position;
use crate::schema;
use audit_storage::{AppendOutcome, Bucket, Counts, EventPage, EventStore, StoreError};

pub use read::READ_BUDGET;

/// Read counters, for benchmarks and logs.
#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    scanned: AtomicU64,
    returned: AtomicU64,
}

/// What the store's reads have cost so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Query and GetItem requests sent.
    pub requests: u64,
    /// Items DynamoDB read (`ScannedCount`), before any filter.
    pub items_read: u64,
    /// Events handed back to callers.
    pub events_returned: u64,
}

/// Pages (of [`COUNT_PAGE`] events) `counts` reads at most before answering "more than".
const COUNT_PAGES: usize = 10;
const COUNT_PAGE: usize = 500;

/// Events and export jobs in DynamoDB.
#[derive(Clone)]
pub struct DynamoStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// Reads, and the export jobs.
    pub client: Client,
    /// Event and day-marker writes.
    pub writes: Client,
    pub layout: schema::Layout,
    pub(crate) retention: Option<chrono::Duration>,
    /// Days whose marker this process has written or seen written.
    known_days: Mutex<HashSet<NaiveDate>>,
    /// Actors whose marker this process has written (emptied when it holds `KNOWN_ACTORS_MAX`).
    known_actors: Mutex<HashSet<String>>,
    counters: Counters,
}

/// `client` with a retry partition of its own whose retries are not limited by a quota.
fn with_own_retries(client: &Client, partition: &'static str) -> Client {
    use aws_sdk_dynamodb::config::retry::{RetryPartition, TokenBucket};
    let partition = RetryPartition::custom(partition)
        .token_bucket(TokenBucket::unlimited())
        .build();
    Client::from_conf(client.config().to_builder().retry_partition(partition).build())
}

impl DynamoStore {
    /// A store over existing tables (see [`crate::init`]). `retention_days` sets each event's TTL.
    ///
    /// Event writes and everything else (reads, export jobs) get clients of their own, each with
    /// its own retry partition and no retry quota: every call gets the SDK's attempts with
    /// backoff (see [`crate::sdk_config`]), and a storm of throttled writes cannot use up the
    /// retries of reads. (The SDK's default quota, shared by every call of the process, ran dry
    /// 0.38 s into a throttling storm and then failed calls at their first attempt.)
    pub fn new(client: Client, layout: schema::Layout, retention_days: Option<u32>) -> Self {
        DynamoStore {
            inner: Arc::new(Inner {
                writes: with_own_retries(&client, "audit-event-writes"),
                client: with_own_retries(&client, "audit-reads"),
                layout,
                retention: retention_days.map(|d| chrono::Duration::days(i64::from(d))),
                known_days: Mutex::new(HashSet::new()),
                known_actors: Mutex::new(HashSet::new()),
                counters: Counters::default(),
            }),
        }
    }

    pub fn layout(&self) -> &schema::Layout {
        &self.inner.layout
    }

    pub fn read_stats(&self) -> ReadStats {
        let c = &self.inner.counters;
        ReadStats {
            requests: c.requests.load(Ordering::Relaxed),
            items_read: c.scanned.load(Ordering::Relaxed),
            events_returned: c.returned.load(Ordering::Relaxed),
        }
    }

    fn expires_at(&self, t: chrono::DateTime<Utc>) -> Option<i64> {
        self.inner.retention.map(|r| (t + r).timestamp())
    }
}

impl DynamoStore {
    /// Counts by reading the matching events from `from`, oldest first, for at most
    /// [`COUNT_PAGES`] pages: exact for a small answer, else a lower bound.
    async fn counts_by_reading(
        &self,
        filter: &EventFilter,
        from: DateTime<Utc>,
        bucket: Bucket,
    ) -> Result<Counts, StoreError> {
        let mut pages = COUNT_PAGES;
        let (times, finished) = self.read_times(filter, &mut pages).await?;
        let mut counts = counts_of(filter, bucket, from, Utc::now(), times);
        counts.exact &= finished;
        Ok(counts)
    }

    /// The times (µs) of the events matching `filter`, oldest first, read page by page while
    /// `pages` lasts; `true` when they were read to the end.
    async fn read_times(&self, filter: &EventFilter, pages: &mut usize) -> Result<(Vec<i64>, bool), StoreError> {
        let mut scan = filter.clone();
        scan.order = event_model::Order::Asc;
        let mut times = Vec::new();
        let mut after: Option<String> = None;
        while *pages > 0 {
            *pages -= 1;
            let page = self.query(&scan, COUNT_PAGE, after.as_deref()).await?;
            times.extend(page.events.iter().map(|e| e.time.timestamp_micros()));
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok((times, true)),
            }
        }
        Ok((times, false))
    }
}

/// Buckets of `bucket` from `from` to the filter's end (or `now`, or past the last event read,
/// when it has none), holding the events read at `times` (µs, oldest first).
fn counts_of(filter: &EventFilter, bucket: Bucket, from: DateTime<Utc>, now: DateTime<Utc>, times: Vec<i64>) -> Counts {
    let at = |t: i64| DateTime::from_timestamp_micros(t).unwrap_or_default();
    let to = filter
        .to
        .unwrap_or_else(|| now.max(times.last().map_or(DateTime::UNIX_EPOCH, |&t| at(t + 1))));
    let mut counts = Counts::over(bucket, from, to);
    for t in times {
        counts.add(t, 1);
    }
    counts
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn append(&self, events: Vec<NewEvent>) -> Vec<AppendOutcome> {
        self.append_all(events).await
    }

    async fn get(&self, id: Uuid) -> Result<Option<Event>, StoreError> {
        match self.get_item(&id.to_string()).await? {
            None => Ok(None),
            Some(item) => item.into_event().map(Some),
        }
    }

    /// From the counts kept as the archive is sealed ([`kept_counts`]) where they can answer,
    /// with the hours they do not hold yet read from the index; otherwise by reading the
    /// matching events, oldest first, for at most [`COUNT_PAGES`] pages: exact for a small
    /// answer, else a lower bound.
    async fn counts(&self, filter: &EventFilter, bucket: Bucket) -> Result<Counts, StoreError> {
        let now = Utc::now();
        // An open period starts at the journal's first event (as the embedded store's).
        let from = match filter.from {
            Some(from) => from,
            None => {
                let first = EventFilter {
                    order: event_model::Order::Asc,
                    ..EventFilter::default()
                };
                match self.query(&first, 1, None).await?.events.first() {
                    Some(e) => e.time,
                    None => return Ok(Counts::empty(bucket)),
                }
            }
        };
        let Some(plan) = self.count_plan(filter, from, now).await? else {
            return self.counts_by_reading(filter, from, bucket).await;
        };
        // The partial first hour and the hours the kept counts do not hold yet, by reading.
        let mut pages = COUNT_PAGES;
        let mut times = Vec::new();
        let mut finished = true;
        for (lo, hi) in plan.reads() {
            if hi.is_some_and(|hi| lo >= hi) {
                continue;
            }
            let mut part = filter.clone();
            part.from = Some(lo);
            part.to = hi;
            let (read, done) = self.read_times(&part, &mut pages).await?;
            times.extend(read);
            finished &= done;
        }
        let mut counts = counts_of(filter, bucket, plan.from, now, times);
        if !self.add_kept(filter, &plan, &mut counts, bucket).await? {
            return self.counts_by_reading(filter, plan.from, bucket).await;
        }
        counts.exact &= finished;
        counts.counted_through = Some(plan.head);
        Ok(counts)
    }

    async fn actors(&self, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let folded = event_model::filter::fold(prefix);
        // The actor markers of the prefix's first character, from the prefix on (one Query).
        let Some((bucket, _)) = schema::actor_marker_key(&folded, "") else {
            return Ok(Vec::new());
        };
        self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
        let out = self
            .inner
            .client
            .query()
            .table_name(&self.inner.layout.events_table)
            .index_name(schema::BY_TIME)
            .key_condition_expression("#b = :b AND begins_with(#t, :p)")
            .expression_attribute_names("#b", schema::TIME_BUCKET)
            .expression_attribute_names("#t", schema::TIME_ID)
            .expression_attribute_values(":b", AttributeValue::S(bucket))
            .expression_attribute_values(":p", AttributeValue::S(folded))
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(|e| crate::store_error(e, &self.inner.layout.events_resource()))?;
        let actors = out
            .items()
            .iter()
            .filter_map(|item| match item.get(schema::ID) {
                Some(AttributeValue::S(id)) => id.strip_prefix(schema::ACTOR_MARKER_PREFIX).map(str::to_owned),
                _ => None,
            })
            .take(limit)
            .collect();
        Ok(actors)
    }

    fn searched_through(&self, filter: &EventFilter, position: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        Position::decode(position, self.inner.layout.time_shards, self.inner.layout.actor_shards)
            .ok()?
            .searched_through(filter.order == event_model::Order::Asc)
    }

    async fn query(&self, filter: &EventFilter, limit: usize, after: Option<&str>) -> Result<EventPage, StoreError> {
        let position = after
            .map(|a| Position::decode(a, self.inner.layout.time_shards, self.inner.layout.actor_shards))
            .transpose()?;
        if filter.effective_categories() == event_model::Categories::None {
            // The category and type filters contradict each other: nothing to read.
            return Ok(EventPage::default());
        }
        let mut read = read::PageRead::new(self, filter, limit.max(1));
        let page = if filter.actor.is_some() {
            read.actor_walk(position).await?
        } else {
            read.time_walk(position).await?
        };
        let c = &self.inner.counters;
        c.requests.fetch_add(read.requests as u64, Ordering::Relaxed);
        c.scanned.fetch_add(read.scanned, Ordering::Relaxed);
        c.returned.fetch_add(page.events.len() as u64, Ordering::Relaxed);
        tracing::debug!(
            requests = read.requests,
            items_read = read.scanned,
            returned = page.events.len(),
            "query page"
        );
        Ok(page)
    }
}
