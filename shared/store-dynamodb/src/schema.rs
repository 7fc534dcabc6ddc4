//! Every table, index and attribute name of the DynamoDB layout (SPEC §4), in one place: the
//! store, `audit-local init`, the tests and the SAM template all use these (a test compares the
//! template with them).
//!
//! **Events table** (partition key [`ID`], on-demand):
//!
//! | attribute | type | role |
//! |---|---|---|
//! | [`ID`] | S | partition key: the event id, `day#YYYY-MM-DD` for a day marker, `actor#<actor>` for an actor marker |
//! | [`TIME_BUCKET`] | S | `YYYY-MM-DD#<shard>`: partition key of [`BY_TIME`]; [`DAYS_BUCKET`] for day markers; `actors#<c>` for actor markers |
//! | [`ACTOR`] | S | partition key of [`BY_ACTOR`]: the actor, or with `actor_shards` > 1 its partition [`actor_partition`] |
//! | [`ACTOR_NAME`] | S | the actor, when [`ACTOR`] holds its partition (absent on items written unsharded) |
//! | [`TIME_ID`] | S | `<time>#<id>` (fixed width): sort key of both indexes; `YYYY-MM-DD` for day markers |
//! | [`SEARCH`] | S | folded message, a line feed, folded actor ([`search_text`]): what `q` looks in |
//! | [`EXPIRES_AT`] | N | TTL in epoch seconds, when a retention period is configured |
//! | `time`, `category`, `type`, `message`, `duration_ms`, `params` (JSON text), `source`, `received_at`, `fingerprint`, `write_id` | | the rest of the event |
//!
//! Both indexes project ALL. A **day marker** is written once per day that has events (before the
//! first event of that day is acknowledged), so a query with an open time range reads the list of
//! days from the [`DAYS_BUCKET`] partition of [`BY_TIME`] instead of walking empty days. An
//! **actor marker** is written once per actor the same way: in [`BY_TIME`], partition
//! `actors#<first character of the folded actor>`, sort key the folded actor, `\u{1}`, the actor
//! ([`actor_marker_key`]): username suggestions by prefix (`GET /actors`) read one partition. It
//! has no [`ACTOR`] attribute, so it is not in [`BY_ACTOR`].
//!
//! **Export-jobs table** (partition key [`JOB_ID`]): the job as JSON in [`JOB`], and [`OPEN`] set
//! only while it is pending or running, the key of the sparse index [`OPEN_JOBS`]; [`REQUESTED_BY`]
//! is the key of [`BY_REQUESTER`] (`GET /exports`: a caller's recent jobs). The same
//! table holds each token's export slots ([`slot_id`], with [`SLOT_JOB`] and [`SLOT_LEASE`]),
//! claimed with conditional writes so the per-token cap holds under concurrent requests.

/// Partition key of the events table.
pub const ID: &str = "id";
/// Partition key of [`BY_TIME`].
pub const TIME_BUCKET: &str = "time_bucket";
/// Partition key of [`BY_ACTOR`].
pub const ACTOR: &str = "actor";
/// The actor of an item whose [`ACTOR`] is one of its partitions ([`actor_partition`]).
pub const ACTOR_NAME: &str = "actor_name";
/// Sort key of both indexes.
pub const TIME_ID: &str = "time_id";
/// What `q` is matched against with `contains()`.
pub const SEARCH: &str = "search";
/// The TTL attribute (epoch seconds), of events (when a retention period is configured) and of
/// export jobs and slots ([`JOB_RETENTION_DAYS`]).
pub const EXPIRES_AT: &str = "expires_at";
pub const CATEGORY: &str = "category";
pub const TYPE: &str = "type";

/// Global secondary index over ([`TIME_BUCKET`], [`TIME_ID`]).
pub const BY_TIME: &str = "by_time";
/// Global secondary index over ([`ACTOR`], [`TIME_ID`]).
pub const BY_ACTOR: &str = "by_actor";

/// The [`TIME_BUCKET`] of the day markers.
pub const DAYS_BUCKET: &str = "days";
/// Prefix of a day marker's [`ID`] (never a UUID, so never an event's id).
pub const DAY_MARKER_PREFIX: &str = "day#";
/// Prefix of an actor marker's [`ID`] (never a UUID, so never an event's id).
pub const ACTOR_MARKER_PREFIX: &str = "actor#";
/// Prefix of the [`TIME_BUCKET`] of actor markers.
pub const ACTORS_BUCKET_PREFIX: &str = "actors#";

/// Prefix of the [`ID`] of the items of kept counts (see `events::kept_counts`).
pub const COUNTS_PREFIX: &str = "counts#";

/// Whether an item's [`ID`] is a marker's (a day's or an actor's) or a counts item's, not an
/// event's.
pub fn is_marker(id: &str) -> bool {
    id.starts_with(DAY_MARKER_PREFIX) || id.starts_with(ACTOR_MARKER_PREFIX) || id.starts_with(COUNTS_PREFIX)
}

/// The [`TIME_BUCKET`] and [`TIME_ID`] of an actor marker, from the actor's folded form
/// ([`event_model::filter::fold`]): the partition of its first character, and a sort key that
/// sorts by the folded form, then the actor. `None` for an empty folded text.
pub fn actor_marker_key(folded: &str, actor: &str) -> Option<(String, String)> {
    let first = folded.chars().next()?;
    Some((
        format!("{ACTORS_BUCKET_PREFIX}{first}"),
        format!("{folded}\u{1}{actor}"),
    ))
}

/// Partition key of the export-jobs table.
pub const JOB_ID: &str = "id";
/// The job, as JSON.
pub const JOB: &str = "job";
/// Set (to [`OPEN_VALUE`]) while the job is pending or running: the sparse index's key.
pub const OPEN: &str = "open";
pub const OPEN_VALUE: &str = "open";
/// Sparse global secondary index over ([`OPEN`], [`JOB_ID`]): the unfinished jobs.
pub const OPEN_JOBS: &str = "open_jobs";
/// Who asked for a job (a token's or person's name): the key of [`BY_REQUESTER`].
pub const REQUESTED_BY: &str = "requested_by";
/// Global secondary index over ([`REQUESTED_BY`], [`JOB_ID`]): each caller's jobs, by time (a
/// job id is a UUID v7, whose text sorts by creation). Slots have no [`REQUESTED_BY`].
pub const BY_REQUESTER: &str = "by_requester";
/// The unreadable text of a job that was set apart (its [`JOB`] then holds a failed stub).
pub const UNREADABLE_JOB: &str = "unreadable_job";
/// How long a job's item is kept after it was created (the jobs table's TTL, on
/// [`EXPIRES_AT`]); a slot's item is kept this long after its lease.
pub const JOB_RETENTION_DAYS: i64 = 30;

/// Prefix of an export slot's [`JOB_ID`]: `slot#<token>#<n>` (never a UUID, so never a job's id,
/// and the export function ignores its stream record).
pub const SLOT_PREFIX: &str = "slot#";
/// The job holding a slot.
pub const SLOT_JOB: &str = "job_id";
/// Until when (epoch microseconds, N) a slot is held.
pub const SLOT_LEASE: &str = "lease_until";

/// The [`JOB_ID`] of slot `n` of `token`.
pub fn slot_id(token: &str, n: usize) -> String {
    format!("{SLOT_PREFIX}{token}#{n}")
}

/// Partitions each day's events are spread over in [`BY_TIME`] unless configured otherwise
/// (`AUDIT_TIME_SHARDS`). Fixed for the life of a table: events are placed by it.
pub const DEFAULT_TIME_SHARDS: u32 = 4;
/// Most shards a table may be set up with.
pub const MAX_TIME_SHARDS: u32 = 64;

/// Partitions of [`BY_ACTOR`] each actor's events are spread over unless configured otherwise
/// (`AUDIT_ACTOR_SHARDS`): 1, one partition per actor (the layout before issue 18). With more,
/// an event goes to [`actor_partition`]`(actor, shard_of(id, n))` and an actor's page merges its
/// `n` partitions and its bare one (where its events written unsharded are), so the count may be
/// raised on a table in use; it may not be lowered (events in the partitions above would no
/// longer be read). See docs/SCALE.md.
pub const DEFAULT_ACTOR_SHARDS: u32 = 1;
/// Most actor partitions a table may be set up with.
pub const MAX_ACTOR_SHARDS: u32 = 64;

/// The [`ACTOR`] of an event of `actor` in its partition `shard`: the actor, `\u{1}`, the shard.
/// An actor never holds a control character, so no actor's bare partition is another's shard.
pub fn actor_partition(actor: &str, shard: u32) -> String {
    format!("{actor}\u{1}{shard}")
}

/// The names of one deployment's tables and bucket, and how its events are laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub events_table: String,
    pub jobs_table: String,
    pub bucket: String,
    pub time_shards: u32,
    /// Partitions of [`BY_ACTOR`] per actor ([`DEFAULT_ACTOR_SHARDS`]).
    pub actor_shards: u32,
}

impl Layout {
    /// The local server's names (`audit-local serve --store dynamodb`, `init`).
    pub fn local_defaults() -> Layout {
        Layout {
            events_table: "audit-events".into(),
            jobs_table: "audit-export-jobs".into(),
            bucket: "audit-exports".into(),
            time_shards: DEFAULT_TIME_SHARDS,
            actor_shards: DEFAULT_ACTOR_SHARDS,
        }
    }

    /// The events table, as failures name it.
    pub(crate) fn events_resource(&self) -> String {
        format!("table {}", self.events_table)
    }

    /// The jobs table, as failures name it.
    pub(crate) fn jobs_resource(&self) -> String {
        format!("table {}", self.jobs_table)
    }
}

/// The shard of an event: a stable hash of its id (the first 8 bytes of its SHA-256) modulo
/// `shards`. Stable across versions and platforms, unlike `std`'s hasher.
pub fn shard_of(id: &uuid::Uuid, shards: u32) -> u32 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(id.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(head) % u64::from(shards.max(1))) as u32
}

/// The [`TIME_BUCKET`] of `day` and `shard`.
pub fn time_bucket(day: chrono::NaiveDate, shard: u32) -> String {
    format!("{}#{shard}", day.format("%Y-%m-%d"))
}

/// The folded text (`event_model::filter::fold`) `q` is looked for in. The line feed keeps a
/// match from spanning message and actor (`q` may not hold control characters).
pub fn search_text(message: &str, actor: &str) -> String {
    use event_model::filter::fold;
    format!("{}\n{}", fold(message), fold(actor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread() {
        let id = uuid::Uuid::parse_str("0196f5a0-0000-7000-8000-000000000001").unwrap();
        assert_eq!(shard_of(&id, 4), shard_of(&id, 4));
        let mut counts = [0usize; 4];
        for _ in 0..4000 {
            counts[shard_of(&uuid::Uuid::new_v4(), 4) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
    }
}
