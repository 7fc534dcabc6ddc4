//! Reads: index partitions read in order from their positions and merged into a page.

use std::collections::VecDeque;

use aws_sdk_dynamodb::types::AttributeValue;
use event_model::{Event, EventFilter, Order};

use super::DynamoStore;
use super::days::Days;
use super::filter_expression::{FilterExpression, bounds};
use crate::item::EventItem;
use crate::position::{Position, ShardPos, id_of};
use crate::schema;
use audit_storage::{EventPage, StoreError};

/// DynamoDB requests one page may spend before it returns what it has, with a cursor.
pub const READ_BUDGET: usize = 32;
/// Largest `Limit` of one read.
const MAX_READ_LIMIT: i32 = 1000;
/// One index partition being read in order, from a position.
struct Partition {
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

impl Partition {
    fn new(index: &'static str, key_name: &'static str, key: String, pos: ShardPos) -> Partition {
        let resume = match &pos {
            ShardPos::After(t) => Some(t.clone()),
            _ => None,
        };
        let exhausted = pos == ShardPos::Done;
        Partition {
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
pub(super) struct PageRead<'a> {
    pub(super) store: &'a DynamoStore,
    filter: &'a EventFilter,
    limit: usize,
    lo: String,
    hi: String,
    expr: FilterExpression,
    events: Vec<Event>,
    pub(super) requests: usize,
    pub(super) scanned: u64,
}

impl<'a> PageRead<'a> {
    pub(super) fn new(store: &'a DynamoStore, filter: &'a EventFilter, limit: usize) -> Self {
        let (lo, hi) = bounds(filter);
        PageRead {
            store,
            filter,
            limit,
            lo,
            hi,
            expr: FilterExpression::of(filter),
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

    /// The actor's partitions merged: its bare one (all its events when it has one partition;
    /// those written before its events were spread, otherwise) and its shards.
    pub(super) async fn actor_walk(&mut self, position: Option<Position>) -> Result<EventPage, StoreError> {
        let shards = self.store.inner.layout.actor_shards;
        let positions = match position {
            None => vec![ShardPos::Start; crate::position::actor_streams(shards)],
            Some(Position::Actor(p)) => p,
            Some(Position::Time { .. }) => return Err(StoreError::InvalidPosition),
        };
        let actor = self.filter.actor.clone().unwrap_or_default();
        let mut streams: Vec<Partition> = positions
            .into_iter()
            .enumerate()
            .map(|(i, pos)| {
                let key = match i {
                    0 => actor.clone(),
                    shard => schema::actor_partition(&actor, shard as u32 - 1),
                };
                Partition::new(schema::BY_ACTOR, schema::ACTOR, key, pos)
            })
            .collect();
        if self.empty_range() {
            return Ok(EventPage::default());
        }
        let end = self.merge(&mut streams).await?;
        let events = std::mem::take(&mut self.events);
        let ends: Vec<ShardPos> = streams.iter().map(Partition::end_pos).collect();
        let next = match end {
            MergeEnd::Exhausted => None,
            _ if ends.iter().all(|p| *p == ShardPos::Done) => None,
            _ => Some(Position::Actor(ends).encode()),
        };
        Ok(EventPage { events, next })
    }

    pub(super) async fn time_walk(&mut self, position: Option<Position>) -> Result<EventPage, StoreError> {
        if self.empty_range() {
            return Ok(EventPage::default());
        }
        let shards = self.store.inner.layout.time_shards;
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
            let mut streams: Vec<Partition> = positions
                .into_iter()
                .enumerate()
                .map(|(shard, pos)| {
                    let bucket = schema::time_bucket(day, shard as u32);
                    Partition::new(schema::BY_TIME, schema::TIME_BUCKET, bucket, pos)
                })
                .collect();
            let end = self.merge(&mut streams).await?;
            let ends: Vec<ShardPos> = streams.iter().map(Partition::end_pos).collect();
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
    async fn merge(&mut self, streams: &mut [Partition]) -> Result<MergeEnd, StoreError> {
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
        s: &Partition,
        limit: i32,
    ) -> impl std::future::Future<Output = Result<(Vec<EventItem>, u64, Option<String>), StoreError>> + 'static {
        let names = &self.store.inner.layout;
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
