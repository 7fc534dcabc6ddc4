//! The events table: conditional writes that never overwrite, and paged reads over the two
//! indexes (see [`crate::schema`] for the layout and [`crate::position`] for the page positions).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{NaiveDate, Utc};
use event_model::{Event, EventFilter, NewEvent, Order};
use futures_util::StreamExt;
use uuid::Uuid;

use crate::item::{DayMarker, EventItem};
use crate::position::{Position, ShardPos, id_of};
use crate::{Message, schema};
use audit_storage::{AppendOutcome, EventPage, EventStore, StoreError};

/// Conditional writes in flight at once for one append call: a 500-event batch is 10 rounds,
/// well inside the deadline when DynamoDB answers in tens of milliseconds, and still about 25 s of
/// work if half the writes take 2–3 s.
const WRITE_PARALLELISM: usize = 50;

/// How long one append may take. Below the local server's 30 s request timeout and API Gateway's
/// 29 s, so the client always gets per-event results: the events not stored by then are answered
/// `failed` (to be sent again, with the same ids: one that landed after all comes back
/// `duplicate`), never a timeout that says nothing of what was stored.
pub const APPEND_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);
/// DynamoDB requests one page may spend before it returns what it has, with a cursor.
pub const READ_BUDGET: usize = 32;
/// Largest `Limit` of one read.
const MAX_READ_LIMIT: i32 = 1000;
/// Day markers read by the first read of a walk (the day to start with and the one after, to
/// know whether a page that ends a day is the last), and by each later read.
const DAYS_FIRST_READ: i32 = 2;
const DAYS_PER_READ: i32 = 16;

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
    pub names: schema::Names,
    retention: Option<chrono::Duration>,
    /// Days whose marker this process has written or seen written.
    known_days: Mutex<HashSet<NaiveDate>>,
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
    pub fn new(client: Client, names: schema::Names, retention_days: Option<u32>) -> Self {
        DynamoStore {
            inner: Arc::new(Inner {
                writes: with_own_retries(&client, "audit-event-writes"),
                client: with_own_retries(&client, "audit-reads"),
                names,
                retention: retention_days.map(|d| chrono::Duration::days(i64::from(d))),
                known_days: Mutex::new(HashSet::new()),
                counters: Counters::default(),
            }),
        }
    }

    pub fn names(&self) -> &schema::Names {
        &self.inner.names
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
            .table_name(&self.inner.names.events_table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| crate::store_error(e, &self.inner.names.events_resource()))?;
        self.inner.known_days.lock().expect("days lock").insert(day);
        Ok(())
    }

    /// Stores one event unless its id is taken. `write_id` is unique to this write.
    async fn put(&self, new: &NewEvent, write_id: &str) -> AppendOutcome {
        let names = &self.inner.names;
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
            Err(e) => AppendOutcome::Failed(crate::store_error(e, &self.inner.names.events_resource())),
        }
    }

    async fn get_item(&self, id: &str) -> Result<Option<EventItem>, StoreError> {
        self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
        let out = self
            .inner
            .client
            .get_item()
            .table_name(&self.inner.names.events_table)
            .key(schema::ID, AttributeValue::S(id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| crate::store_error(e, &self.inner.names.events_resource()))?;
        match out.item {
            None => Ok(None),
            Some(item) => serde_dynamo::from_item(item)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("event {id}: {e}"))),
        }
    }
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn append(&self, events: Vec<NewEvent>) -> Vec<AppendOutcome> {
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

    async fn get(&self, id: Uuid) -> Result<Option<Event>, StoreError> {
        match self.get_item(&id.to_string()).await? {
            None => Ok(None),
            Some(item) => item.into_event().map(Some),
        }
    }

    async fn query(&self, filter: &EventFilter, limit: usize, after: Option<&str>) -> Result<EventPage, StoreError> {
        let position = after
            .map(|a| Position::decode(a, self.inner.names.time_shards))
            .transpose()?;
        let mut read = Reader::new(self, filter, limit.max(1));
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

/// The inclusive `time_id` bounds of a filter's time range: `from` is inclusive and every
/// `time_id` at `to` sorts after `to`'s own text, so `BETWEEN lo AND hi` is `[from, to)`.
fn bounds(filter: &EventFilter) -> (String, String) {
    let lo = filter
        .from
        .map_or_else(|| "0".to_owned(), |t| event_model::time::format(&t));
    let hi = filter
        .to
        .map_or_else(|| "~".to_owned(), |t| event_model::time::format(&t));
    (lo, hi)
}

/// The FilterExpression of `category`, `type` and `q` (the parts no index serves).
#[derive(Default, Clone)]
struct Filter {
    expression: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Filter {
    fn of(filter: &EventFilter) -> Filter {
        let mut f = Filter::default();
        let mut parts = Vec::new();
        let mut list = |f: &mut Filter, name: &str, attr: &str, values: &[String]| {
            // DynamoDB allows 100 operands in IN; longer lists are checked after reading.
            if values.is_empty() || values.len() > 100 {
                return;
            }
            f.names.insert(format!("#{name}"), attr.to_owned());
            let keys: Vec<String> = (0..values.len()).map(|i| format!(":{name}{i}")).collect();
            for (k, v) in keys.iter().zip(values) {
                f.values.insert(k.clone(), AttributeValue::S(v.clone()));
            }
            parts.push(format!("#{name} IN ({})", keys.join(", ")));
        };
        // Names and values start with `f` so they never meet the key condition's.
        list(&mut f, "fc", schema::CATEGORY, &filter.effective_categories());
        list(&mut f, "ft", schema::TYPE, &filter.types);
        if let Some(q) = &filter.q {
            f.names.insert("#fs".into(), schema::SEARCH.into());
            f.values
                .insert(":fq".into(), AttributeValue::S(event_model::filter::fold(q)));
            parts.push("contains(#fs, :fq)".into());
        }
        if !parts.is_empty() {
            f.expression = Some(parts.join(" AND "));
        }
        f
    }
}

/// One index partition being read in order, from a position.
struct Stream {
    index: &'static str,
    key_name: &'static str,
    key: String,
    /// Through where every match has been delivered.
    pos: ShardPos,
    /// Matches read but not delivered yet.
    buf: VecDeque<EventItem>,
    /// Where the next read starts (after this `time_id`).
    resume: Option<String>,
    fetched: bool,
    exhausted: bool,
    last_limit: i32,
}

impl Stream {
    fn new(index: &'static str, key_name: &'static str, key: String, pos: ShardPos) -> Stream {
        let resume = match &pos {
            ShardPos::After(t) => Some(t.clone()),
            _ => None,
        };
        let exhausted = pos == ShardPos::Done;
        Stream {
            index,
            key_name,
            key,
            pos,
            buf: VecDeque::new(),
            resume,
            fetched: false,
            exhausted,
            last_limit: 0,
        }
    }

    fn needs_read(&self) -> bool {
        self.buf.is_empty() && !self.exhausted
    }

    /// The position to carry in a cursor.
    fn end_pos(&self) -> ShardPos {
        if !self.buf.is_empty() || !self.fetched {
            self.pos.clone()
        } else if self.exhausted {
            ShardPos::Done
        } else {
            ShardPos::After(
                self.resume
                    .clone()
                    .expect("a stream with more to read has a resume point"),
            )
        }
    }
}

enum MergeEnd {
    /// The page is full.
    Full,
    /// Every stream is read to its end.
    Exhausted,
    /// The read budget is spent.
    Budget,
}

/// The reads of one page.
struct Reader<'a> {
    store: &'a DynamoStore,
    filter: &'a EventFilter,
    limit: usize,
    lo: String,
    hi: String,
    expr: Filter,
    events: Vec<Event>,
    requests: usize,
    scanned: u64,
}

impl<'a> Reader<'a> {
    fn new(store: &'a DynamoStore, filter: &'a EventFilter, limit: usize) -> Self {
        let (lo, hi) = bounds(filter);
        Reader {
            store,
            filter,
            limit,
            lo,
            hi,
            expr: Filter::of(filter),
            events: Vec::new(),
            requests: 0,
            scanned: 0,
        }
    }

    fn asc(&self) -> bool {
        self.filter.order == Order::Asc
    }

    fn empty_range(&self) -> bool {
        self.lo >= self.hi
    }

    async fn actor_walk(&mut self, position: Option<Position>) -> Result<EventPage, StoreError> {
        let pos = match position {
            None => ShardPos::Start,
            Some(Position::Actor(p)) => p,
            Some(Position::Time { .. }) => return Err(StoreError::InvalidPosition),
        };
        let actor = self.filter.actor.clone().unwrap_or_default();
        let mut streams = vec![Stream::new(schema::BY_ACTOR, schema::ACTOR, actor, pos)];
        if self.empty_range() {
            return Ok(EventPage::default());
        }
        let end = self.merge(&mut streams).await?;
        let events = std::mem::take(&mut self.events);
        let next = match (end, streams[0].end_pos()) {
            (MergeEnd::Exhausted, _) | (_, ShardPos::Done) => None,
            (_, p) => Some(Position::Actor(p).encode()),
        };
        Ok(EventPage { events, next })
    }

    async fn time_walk(&mut self, position: Option<Position>) -> Result<EventPage, StoreError> {
        if self.empty_range() {
            return Ok(EventPage::default());
        }
        let shards = self.store.inner.names.time_shards;
        let mut days = Days::new(self.filter);
        let (mut day, mut positions) = match position {
            Some(Position::Time { day, shards }) => {
                days.skip_through(day);
                (day, shards)
            }
            Some(Position::Actor(_)) => return Err(StoreError::InvalidPosition),
            None => match days.next(self).await? {
                Some(day) => (day, Position::day_start(day, shards).shards()),
                None => return Ok(EventPage::default()),
            },
        };
        loop {
            let mut streams: Vec<Stream> = positions
                .into_iter()
                .enumerate()
                .map(|(shard, pos)| {
                    let bucket = schema::time_bucket(day, shard as u32);
                    Stream::new(schema::BY_TIME, schema::TIME_BUCKET, bucket, pos)
                })
                .collect();
            let end = self.merge(&mut streams).await?;
            let ends: Vec<ShardPos> = streams.iter().map(Stream::end_pos).collect();
            let day_done = matches!(end, MergeEnd::Exhausted) || ends.iter().all(|p| *p == ShardPos::Done);
            if !day_done {
                let next = Position::Time { day, shards: ends }.encode();
                return Ok(EventPage {
                    events: std::mem::take(&mut self.events),
                    next: Some(next),
                });
            }
            // The day is done: go on with the next one, unless the page is full or the budget
            // spent, in which case the cursor starts at the next day.
            let stop = self.events.len() >= self.limit || self.requests >= READ_BUDGET;
            match days.next(self).await? {
                Some(d) if !stop => {
                    day = d;
                    positions = Position::day_start(d, shards).shards();
                }
                next_day => {
                    return Ok(EventPage {
                        events: std::mem::take(&mut self.events),
                        next: next_day.map(|d| Position::day_start(d, shards).encode()),
                    });
                }
            }
        }
    }

    /// Merges `streams` by `time_id` into the page until it is full, they end, or the budget is
    /// spent. A stream is read only when its buffer is empty, and asked for about its share of
    /// what the page still needs (so a partition is not asked for a page it will mostly not
    /// contribute to).
    async fn merge(&mut self, streams: &mut [Stream]) -> Result<MergeEnd, StoreError> {
        loop {
            if self.events.len() >= self.limit {
                return Ok(MergeEnd::Full);
            }
            let needy: Vec<usize> = (0..streams.len()).filter(|&i| streams[i].needs_read()).collect();
            if !needy.is_empty() {
                if self.requests + needy.len() > READ_BUDGET && self.requests > 0 {
                    return Ok(MergeEnd::Budget);
                }
                let active = streams.iter().filter(|s| !s.exhausted || !s.buf.is_empty()).count();
                let remaining = self.limit - self.events.len();
                let filtered = self.expr.expression.is_some();
                let reads = needy.iter().map(|&i| {
                    let s = &streams[i];
                    let mut limit = if active <= 1 {
                        remaining + 1
                    } else {
                        (remaining as f64 * 1.25 / active as f64).ceil() as usize + 1
                    } as i32;
                    if filtered && s.fetched {
                        // The filter dropped most of the last read: read further next time.
                        limit = limit.max(s.last_limit.saturating_mul(4));
                    }
                    let limit = limit.clamp(1, MAX_READ_LIMIT);
                    (i, limit, self.read(s, limit))
                });
                let (meta, futures): (Vec<(usize, i32)>, Vec<_>) = reads.map(|(i, l, f)| ((i, l), f)).unzip();
                self.requests += futures.len();
                let results = futures_util::future::join_all(futures).await;
                for ((i, limit), result) in meta.into_iter().zip(results) {
                    let (items, scanned, resume) = result?;
                    self.scanned += scanned;
                    let s = &mut streams[i];
                    s.fetched = true;
                    s.last_limit = limit;
                    s.buf.extend(items);
                    s.exhausted = resume.is_none();
                    if resume.is_some() {
                        s.resume = resume;
                    }
                }
                continue;
            }
            let asc = self.asc();
            let best = (0..streams.len())
                .filter(|&i| !streams[i].buf.is_empty())
                .reduce(|a, b| {
                    let (ta, tb) = (&streams[a].buf[0].time_id, &streams[b].buf[0].time_id);
                    if (tb < ta) == asc { b } else { a }
                });
            let Some(best) = best else {
                return Ok(MergeEnd::Exhausted);
            };
            let item = streams[best].buf.pop_front().expect("non-empty");
            streams[best].pos = ShardPos::After(item.time_id.clone());
            let event = match item.into_event() {
                Ok(event) => event,
                Err(e) => {
                    // Set apart: logged with its id and left out, so it stops no listing or export.
                    tracing::error!(error = %e, "an unreadable event is set apart: left out of this page");
                    continue;
                }
            };
            // The FilterExpression already applied; this also covers lists too long for one.
            if self.filter.matches(&event) {
                self.events.push(event);
            }
        }
    }

    /// One Query of a stream: its matches, the items read, and where to resume (`None` at the end).
    fn read(
        &self,
        s: &Stream,
        limit: i32,
    ) -> impl std::future::Future<Output = Result<(Vec<EventItem>, u64, Option<String>), StoreError>> + 'static {
        let names = &self.store.inner.names;
        let mut request = self
            .store
            .inner
            .client
            .query()
            .table_name(&names.events_table)
            .index_name(s.index)
            .key_condition_expression("#k = :k AND #t BETWEEN :lo AND :hi")
            .expression_attribute_names("#k", s.key_name)
            .expression_attribute_names("#t", schema::TIME_ID)
            .expression_attribute_values(":k", AttributeValue::S(s.key.clone()))
            .expression_attribute_values(":lo", AttributeValue::S(self.lo.clone()))
            .expression_attribute_values(":hi", AttributeValue::S(self.hi.clone()))
            .scan_index_forward(self.asc())
            .limit(limit);
        if let Some(expression) = &self.expr.expression {
            request = request.filter_expression(expression);
            for (k, v) in &self.expr.names {
                request = request.expression_attribute_names(k, v);
            }
            for (k, v) in &self.expr.values {
                request = request.expression_attribute_values(k, v.clone());
            }
        }
        if let Some(after) = &s.resume {
            request = request
                .exclusive_start_key(schema::ID, AttributeValue::S(id_of(after).to_owned()))
                .exclusive_start_key(s.key_name, AttributeValue::S(s.key.clone()))
                .exclusive_start_key(schema::TIME_ID, AttributeValue::S(after.clone()));
        }
        let resource = names.events_resource();
        async move {
            let out = request.send().await.map_err(|e| crate::store_error(e, &resource))?;
            let scanned = out.scanned_count.max(0) as u64;
            let resume = match out.last_evaluated_key {
                None => None,
                Some(key) => match key.get(schema::TIME_ID) {
                    Some(AttributeValue::S(t)) => Some(t.clone()),
                    _ => return Err(StoreError::Corrupt("a page key without time_id".into())),
                },
            };
            let items = out
                .items
                .unwrap_or_default()
                .into_iter()
                .map(|item| serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string())))
                .collect::<Result<Vec<EventItem>, _>>()?;
            Ok((items, scanned, resume))
        }
    }
}

/// The days of a filter's range that have events, in the filter's order, read from the day
/// markers a few at a time (or known without reading when the range is one day).
struct Days {
    first: NaiveDate,
    last: NaiveDate,
    asc: bool,
    buffered: VecDeque<NaiveDate>,
    /// The last day handed out or skipped; reads resume after it.
    after: Option<NaiveDate>,
    exhausted: bool,
    reads: u32,
}

impl Days {
    fn new(filter: &EventFilter) -> Days {
        let first = filter.from.map_or(NaiveDate::MIN, |t| t.date_naive());
        let last = filter
            .to
            .map_or(NaiveDate::MAX, |t| (t - chrono::Duration::microseconds(1)).date_naive());
        Days {
            first: first.max(event_model::time::earliest().date_naive()),
            last: last.min(event_model::time::latest().date_naive()),
            asc: filter.order == Order::Asc,
            buffered: VecDeque::new(),
            after: None,
            exhausted: false,
            reads: 0,
        }
    }

    fn skip_through(&mut self, day: NaiveDate) {
        self.after = Some(day);
    }

    async fn next(&mut self, reader: &mut Reader<'_>) -> Result<Option<NaiveDate>, StoreError> {
        if self.first == self.last {
            // One day: no need to ask which days have events.
            let day = self.first;
            if self.after.is_some() {
                return Ok(None);
            }
            self.after = Some(day);
            return Ok(Some(day));
        }
        if self.buffered.is_empty() && !self.exhausted {
            self.read(reader).await?;
        }
        let day = self.buffered.pop_front();
        if let Some(d) = day {
            self.after = Some(d);
        }
        Ok(day)
    }

    async fn read(&mut self, reader: &mut Reader<'_>) -> Result<(), StoreError> {
        let fmt = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
        let store = &reader.store.inner;
        let mut request = store
            .client
            .query()
            .table_name(&store.names.events_table)
            .index_name(schema::BY_TIME)
            .key_condition_expression("#k = :k AND #t BETWEEN :lo AND :hi")
            .expression_attribute_names("#k", schema::TIME_BUCKET)
            .expression_attribute_names("#t", schema::TIME_ID)
            .expression_attribute_values(":k", AttributeValue::S(schema::DAYS_BUCKET.into()))
            .expression_attribute_values(":lo", AttributeValue::S(fmt(self.first)))
            .expression_attribute_values(":hi", AttributeValue::S(fmt(self.last)))
            .scan_index_forward(self.asc)
            .limit(if self.reads == 0 {
                DAYS_FIRST_READ
            } else {
                DAYS_PER_READ
            });
        if let Some(after) = self.after {
            let marker = DayMarker::new(after, None);
            request = request
                .exclusive_start_key(schema::ID, AttributeValue::S(marker.id))
                .exclusive_start_key(schema::TIME_BUCKET, AttributeValue::S(marker.time_bucket))
                .exclusive_start_key(schema::TIME_ID, AttributeValue::S(marker.time_id));
        }
        reader.requests += 1;
        self.reads += 1;
        let out = request
            .send()
            .await
            .map_err(|e| crate::store_error(e, &store.names.events_resource()))?;
        reader.scanned += out.scanned_count.max(0) as u64;
        self.exhausted = out.last_evaluated_key.is_none();
        for item in out.items.unwrap_or_default() {
            let marker: DayMarker = serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let day = event_model::time::parse_date(&marker.time_id)
                .ok_or_else(|| StoreError::Corrupt(format!("day marker {}", marker.id)))?;
            self.buffered.push_back(day);
        }
        Ok(())
    }
}
