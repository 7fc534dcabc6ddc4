//! Counts kept per hour and per day of event time, by type, in the events table: how
//! `GET /counts` answers without reading every event.
//!
//! The archiver counts each sealed period's archive files ([`DynamoStore::count_period`], run
//! after sealing, period by period in order) into items `counts#h#<YYYY-MM-DDTHH>` and
//! `counts#d#<YYYY-MM-DD>` — a map of type → events — and the same per actor
//! (`counts#h#<hour>#<actor>`, `counts#d#<day>#<actor>`), and then moves the head
//! `counts#head` to the period's end. Each item records the last period it holds (`applied`), and is written by a
//! read, a merge and a put conditional on that record: a period counted again (a run that
//! failed half-way, two runs at once) is never counted twice. Events a stream delivered twice
//! into one period are counted once (by id).
//!
//! What the counts hold: every event archived in a period that ended by the head, whatever its
//! time. The archive is by time received, counts by event time, so `counts` reads the events of
//! the hours from [`LATE_MARGIN`] before the head on (and the partial hours at a period's ends)
//! from the index, and takes the rest from the items. An event received after the head with a
//! time more than [`LATE_MARGIN`] before it is missing from the count until its period is
//! counted: at most one seal interval and grace later (an hour and five minutes by default).
//!
//! The items are not events: no index attribute, so no index holds them, and the archiver
//! passes over their stream records (their ids start with [`schema::COUNTS_PREFIX`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use chrono::{DateTime, Duration, DurationRound, NaiveDate, Utc};
use event_model::EventFilter;
use event_model::catalog::{self, Category};
use futures_util::{StreamExt, TryStreamExt};

use super::DynamoStore;
use crate::schema;
use audit_storage::{Bucket, Counts, StoreError};

/// How far before the head `counts` reads events rather than trusting the items: events reach
/// the store (and the archive) a little after their time.
pub const LATE_MARGIN: Duration = Duration::minutes(15);
/// Types one item counts by name at most; more (custom types without end) are counted together
/// under [`OTHER`], so an item stays far below DynamoDB's 400 KB.
const MAX_TYPES: usize = 1000;
/// The types beyond [`MAX_TYPES`], all custom.
const OTHER: &str = "~";
/// Item attributes: the type → events map, and the end of the last period it holds.
const N: &str = "n";
const APPLIED: &str = "applied";
/// The head's attribute: the end of the last period counted.
const THROUGH: &str = "through";
/// Hour items read at most for one answer (a longer period by the hour is read, bounded).
const MAX_HOUR_ITEMS: usize = 2000;

/// Events of one sealed period, by hour of their time and actor, then type.
#[derive(Debug, Default)]
pub struct Tally {
    hours: BTreeMap<(i64, String), BTreeMap<String, u64>>,
    seen: HashSet<u128>,
}

/// One item's additions: its id, when the time it counts ends (for its expiry), and type → n.
type ItemAdd = (String, DateTime<Utc>, BTreeMap<String, u64>);

impl Tally {
    /// Counts one event (once per id) at `time`.
    pub fn add(&mut self, id: uuid::Uuid, time: DateTime<Utc>, actor: &str, ty: &str) {
        if !self.seen.insert(id.as_u128()) {
            return;
        }
        *self
            .hours
            .entry((time.timestamp().div_euclid(3600), actor.to_owned()))
            .or_default()
            .entry(ty.to_owned())
            .or_default() += 1;
    }

    pub fn events(&self) -> usize {
        self.seen.len()
    }

    /// The additions to each item: the hour's and the day's, for all actors and for each.
    fn items(&self) -> Vec<ItemAdd> {
        let mut items: BTreeMap<String, (DateTime<Utc>, BTreeMap<String, u64>)> = BTreeMap::new();
        for ((hour, actor), types) in &self.hours {
            let start = DateTime::from_timestamp(hour * 3600, 0).unwrap_or_default();
            let day = start.date_naive();
            let day_end = day.and_time(chrono::NaiveTime::MIN).and_utc() + Duration::days(1);
            let hour_end = start + Duration::hours(1);
            for (id, end) in [
                (hour_id(start, None), hour_end),
                (day_id(day, None), day_end),
                (hour_id(start, Some(actor)), hour_end),
                (day_id(day, Some(actor)), day_end),
            ] {
                let (_, item) = items.entry(id).or_insert_with(|| (end, BTreeMap::new()));
                for (ty, n) in types {
                    *item.entry(ty.clone()).or_default() += n;
                }
            }
        }
        items.into_iter().map(|(id, (end, add))| (id, end, add)).collect()
    }
}

/// The id of the counts of the hour from `start`, of all actors or of one.
fn hour_id(start: DateTime<Utc>, actor: Option<&str>) -> String {
    counts_id(format_args!("h#{}", start.format("%Y-%m-%dT%H")), actor)
}

/// The id of the counts of `day`, of all actors or of one.
fn day_id(day: NaiveDate, actor: Option<&str>) -> String {
    counts_id(format_args!("d#{}", day.format("%Y-%m-%d")), actor)
}

fn counts_id(period: std::fmt::Arguments<'_>, actor: Option<&str>) -> String {
    match actor {
        Some(actor) => format!("{}{period}#{actor}", schema::COUNTS_PREFIX),
        None => format!("{}{period}", schema::COUNTS_PREFIX),
    }
}

fn head_id() -> String {
    format!("{}head", schema::COUNTS_PREFIX)
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// The type → events map of an item.
fn types_of(item: &HashMap<String, AttributeValue>) -> BTreeMap<String, u64> {
    let Some(AttributeValue::M(map)) = item.get(N) else {
        return BTreeMap::new();
    };
    map.iter()
        .filter_map(|(ty, n)| Some((ty.clone(), n.as_n().ok()?.parse().ok()?)))
        .collect()
}

/// The category a counted type belongs to (custom types, and [`OTHER`], are `custom`).
fn category_of(ty: &str) -> Category {
    catalog::find(ty).map_or(Category::Custom, |t| t.category)
}

/// Whether `filter` is answered from the items: by period, username (or all but one), category,
/// type and outcome; not a text search.
fn countable(filter: &EventFilter) -> bool {
    filter.q.is_none() && (filter.actor.is_none() || filter.not_actor.is_none())
}

/// Whether the filter names a custom type (then [`OTHER`]'s events cannot be judged).
fn names_custom_type(filter: &EventFilter) -> bool {
    filter
        .types
        .iter()
        .chain(&filter.not_types)
        .any(|t| catalog::find(t).is_none())
}

fn hour_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).unwrap_or(t)
}

fn hour_ceil(t: DateTime<Utc>) -> DateTime<Utc> {
    let floor = hour_floor(t);
    if floor == t { t } else { floor + Duration::hours(1) }
}

/// What a count asks of the items and of the index: full hours `[start, end)` from the items,
/// the rest of `[from, to)` by reading.
pub(super) struct Plan {
    pub from: DateTime<Utc>,
    /// The filter's end, if it has one.
    to: Option<DateTime<Utc>>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// The end of the last period the items hold.
    pub head: DateTime<Utc>,
}

impl Plan {
    /// The periods to read events in: before the first full hour, and from the items' end on.
    pub fn reads(&self) -> [(DateTime<Utc>, Option<DateTime<Utc>>); 2] {
        [(self.from, Some(self.start)), (self.end, self.to)]
    }
}

impl DynamoStore {
    /// The end of the last period counted into the items, if any.
    pub async fn counted_through(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let item = self.count_item(head_id(), false).await?;
        Ok(item
            .as_ref()
            .and_then(|i| i.get(THROUGH))
            .and_then(|v| v.as_s().ok())
            .and_then(|t| event_model::time::parse_instant(t)))
    }

    async fn count_item(
        &self,
        id: String,
        consistent: bool,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .inner
            .client
            .get_item()
            .table_name(&self.inner.layout.events_table)
            .key(schema::ID, s(id))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| crate::store_error(e, &self.inner.layout.events_resource()))?;
        Ok(out.item)
    }

    /// Adds the events of the sealed period that ended at `end` to the kept counts, then moves
    /// the head there. Periods are to be counted in order; one counted already changes nothing.
    pub async fn count_period(&self, end: DateTime<Utc>, tally: &Tally) -> Result<(), StoreError> {
        let applied = event_model::time::format(&end);
        futures_util::stream::iter(tally.items())
            .map(|(id, end, add)| {
                let applied = applied.clone();
                async move { self.merge_counts(id, end, &applied, &add).await }
            })
            .buffer_unordered(8)
            .try_collect::<()>()
            .await?;
        let put = self
            .inner
            .client
            .put_item()
            .table_name(&self.inner.layout.events_table)
            .item(schema::ID, s(head_id()))
            .item(THROUGH, s(applied.clone()))
            .condition_expression("attribute_not_exists(#t) OR #t < :t")
            .expression_attribute_names("#t", THROUGH)
            .expression_attribute_values(":t", s(applied))
            .send()
            .await;
        // Not written: another run has counted this period or a later one.
        crate::conditional(put, &self.inner.layout.events_resource()).map(drop)
    }

    /// One item's read, merge and conditional put (again if another writer came between).
    async fn merge_counts(
        &self,
        id: String,
        end: DateTime<Utc>,
        applied: &str,
        add: &BTreeMap<String, u64>,
    ) -> Result<(), StoreError> {
        for _ in 0..8 {
            let current = self.count_item(id.clone(), true).await?;
            let before = current
                .as_ref()
                .and_then(|i| i.get(APPLIED))
                .and_then(|v| v.as_s().ok())
                .cloned();
            if before.as_deref().is_some_and(|b| b >= applied) {
                return Ok(()); // this period is in it
            }
            let mut types = current.as_ref().map(types_of).unwrap_or_default();
            for (ty, n) in add {
                let key = if types.contains_key(ty) || types.len() < MAX_TYPES {
                    ty.as_str()
                } else {
                    OTHER
                };
                *types.entry(key.to_owned()).or_default() += n;
            }
            let map = types
                .into_iter()
                .map(|(ty, n)| (ty, AttributeValue::N(n.to_string())))
                .collect();
            let mut put = self
                .inner
                .client
                .put_item()
                .table_name(&self.inner.layout.events_table)
                .item(schema::ID, s(id.clone()))
                .item(APPLIED, s(applied))
                .item(N, AttributeValue::M(map))
                .expression_attribute_names("#a", APPLIED);
            put = match before {
                Some(b) => put
                    .condition_expression("#a = :b")
                    .expression_attribute_values(":b", s(b)),
                None => put.condition_expression("attribute_not_exists(#a)"),
            };
            // An item lives as long as the events it counts.
            if let Some(expires) = self.expires_at(end) {
                put = put.item(schema::EXPIRES_AT, AttributeValue::N(expires.to_string()));
            }
            if crate::conditional(put.send().await, &self.inner.layout.events_resource())? {
                return Ok(());
            }
        }
        Err(StoreError::Unavailable(
            format!("the counts item {id} kept changing under its update").into(),
        ))
    }

    /// How the kept counts can answer `filter` over `[from, to)`: `None` when they cannot (no
    /// period counted yet, a filter by username or text, or no full hour before the head).
    pub(super) async fn count_plan(
        &self,
        filter: &EventFilter,
        from: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Plan>, StoreError> {
        if !countable(filter) {
            return Ok(None);
        }
        let Some(head) = self.counted_through().await? else {
            return Ok(None);
        };
        let start = hour_ceil(from);
        let end = hour_floor(head - LATE_MARGIN).min(hour_floor(filter.to.unwrap_or(now)));
        Ok((start < end).then_some(Plan {
            from,
            to: filter.to,
            start,
            end,
            head,
        }))
    }

    /// Adds the kept counts of the plan's full hours to `counts` (by day where a whole day is
    /// in it and the buckets are days): all actors', one actor's, or all but one actor's (all
    /// actors' less that one's). `false` when they cannot answer exactly after all (more custom
    /// types than an item names, and a filter naming one).
    pub(super) async fn add_kept(
        &self,
        filter: &EventFilter,
        plan: &Plan,
        counts: &mut Counts,
        bucket: Bucket,
    ) -> Result<bool, StoreError> {
        // Whole days by their day item when the buckets are days; other hours by theirs. Each
        // unit of time is added (+1) or taken away (-1) from its bucket.
        let mut units = Vec::new();
        let mut t = plan.start;
        while t < plan.end {
            let day_end = t.date_naive().and_time(chrono::NaiveTime::MIN).and_utc() + Duration::days(1);
            if bucket == Bucket::Day && t.time() == chrono::NaiveTime::MIN && day_end <= plan.end {
                units.push((t, true));
                t = day_end;
            } else {
                units.push((t, false));
                t += Duration::hours(1);
            }
        }
        let id = |(t, whole_day): (DateTime<Utc>, bool), actor: Option<&str>| {
            if whole_day {
                day_id(t.date_naive(), actor)
            } else {
                hour_id(t, actor)
            }
        };
        let mut ids: Vec<(String, DateTime<Utc>, i64)> = Vec::new();
        for &unit in &units {
            match (&filter.actor, &filter.not_actor) {
                (Some(actor), _) => ids.push((id(unit, Some(actor)), unit.0, 1)),
                (None, Some(hidden)) => {
                    ids.push((id(unit, None), unit.0, 1));
                    ids.push((id(unit, Some(hidden)), unit.0, -1));
                }
                (None, None) => ids.push((id(unit, None), unit.0, 1)),
            }
        }
        if ids.len() > MAX_HOUR_ITEMS {
            return Ok(false);
        }
        let items = self
            .count_items(ids.iter().map(|(id, ..)| id.clone()).collect())
            .await?;
        let other_unknown = names_custom_type(filter);
        let mut sums: BTreeMap<DateTime<Utc>, i64> = BTreeMap::new();
        for (id, at, sign) in ids {
            let Some(item) = items.get(&id) else { continue };
            for (ty, n) in types_of(item) {
                if ty == OTHER && other_unknown && n > 0 {
                    return Ok(false);
                }
                if filter.allows_kind(category_of(&ty), &ty) {
                    *sums.entry(at).or_default() += sign * n as i64;
                }
            }
        }
        for (at, n) in sums {
            counts.add(at.timestamp_micros(), n.max(0) as u64);
        }
        Ok(true)
    }

    /// Count items by id (BatchGetItem, 100 at a time, four at once), those that exist.
    async fn count_items(
        &self,
        ids: Vec<String>,
    ) -> Result<HashMap<String, HashMap<String, AttributeValue>>, StoreError> {
        let table = &self.inner.layout.events_table;
        let chunks: Vec<Vec<String>> = ids.chunks(100).map(<[String]>::to_vec).collect();
        let found: Vec<Vec<HashMap<String, AttributeValue>>> = futures_util::stream::iter(chunks)
            .map(|chunk| async move {
                let mut keys = KeysAndAttributes::builder();
                for id in chunk {
                    keys = keys.keys(HashMap::from([(schema::ID.to_owned(), s(id))]));
                }
                let mut request = HashMap::from([(table.clone(), keys.build().map_err(StoreError::unavailable)?)]);
                let mut items = Vec::new();
                for attempt in 0..10u32 {
                    self.inner
                        .counters
                        .requests
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let out = self
                        .inner
                        .client
                        .batch_get_item()
                        .set_request_items(Some(request))
                        .send()
                        .await
                        .map_err(|e| crate::store_error(e, &self.inner.layout.events_resource()))?;
                    items.extend(out.responses.unwrap_or_default().remove(table).unwrap_or_default());
                    match out.unprocessed_keys.filter(|u| !u.is_empty()) {
                        None => return Ok(items),
                        Some(rest) => {
                            request = rest;
                            tokio::time::sleep(std::time::Duration::from_millis(20 << attempt.min(6))).await;
                        }
                    }
                }
                Err(StoreError::Unavailable("count items stayed unprocessed".into()))
            })
            .buffer_unordered(4)
            .try_collect()
            .await?;
        Ok(found
            .into_iter()
            .flatten()
            .filter_map(|item| {
                let id = item.get(schema::ID)?.as_s().ok()?.clone();
                Some((id, item))
            })
            .collect())
    }
}
