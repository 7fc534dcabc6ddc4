//! Page positions of the DynamoDB store (carried, signed, in the API's cursors).
//!
//! - A time walk: the day being merged and, for each of its `TIME_SHARDS` partitions, how far it
//!   has been read — `t|2026-11-27|<s0>|<s1>|…` where each `<s>` is empty (not read yet), `~` (read
//!   to the end of the day) or the `time_id` through which every match has been delivered.
//! - An actor walk: `a|<time_id>` with one partition per actor; with `actor_shards` > 1, the bare
//!   partition's position and then each shard's, `a|<bare>|<s0>|<s1>|…`, each as above.
//!
//! Each partition carries its own position because a filtered read may have examined a partition
//! well past the last event it delivered; the next page starts from there instead of reading it
//! again, and every event is delivered exactly once.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use audit_storage::StoreError;

/// How far one partition has been read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ShardPos {
    Start,
    After(String),
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Position {
    Time {
        day: NaiveDate,
        shards: Vec<ShardPos>,
    },
    /// The actor's bare partition, then each of its shards when it has more than one.
    Actor(Vec<ShardPos>),
}

/// The partitions an actor walk reads for `actor_shards`: the bare one, and the shards if more
/// than one.
pub(crate) fn actor_streams(actor_shards: u32) -> usize {
    if actor_shards > 1 { actor_shards as usize + 1 } else { 1 }
}

impl Position {
    /// The start of `day`'s time walk: no partition read yet.
    pub fn day_start(day: NaiveDate, time_shards: u32) -> Position {
        Position::Time {
            day,
            shards: vec![ShardPos::Start; time_shards as usize],
        }
    }

    /// The partition positions of a time walk (none for an actor walk).
    pub fn shards(self) -> Vec<ShardPos> {
        match self {
            Position::Time { shards, .. } => shards,
            Position::Actor(_) => Vec::new(),
        }
    }

    pub fn encode(&self) -> String {
        fn part(p: &ShardPos) -> &str {
            match p {
                ShardPos::Start => "",
                ShardPos::Done => "~",
                ShardPos::After(t) => t,
            }
        }
        match self {
            Position::Time { day, shards } => {
                let mut s = format!("t|{}", day.format("%Y-%m-%d"));
                for p in shards {
                    s.push('|');
                    s.push_str(part(p));
                }
                s
            }
            Position::Actor(streams) => {
                let mut s = "a".to_owned();
                for p in streams {
                    s.push('|');
                    s.push_str(part(p));
                }
                s
            }
        }
    }

    /// Parses a position this store made for a table of `time_shards` partitions per day and
    /// `actor_shards` per actor.
    pub fn decode(text: &str, time_shards: u32, actor_shards: u32) -> Result<Position, StoreError> {
        let part = |p: &str| -> Result<ShardPos, StoreError> {
            Ok(match p {
                "" => ShardPos::Start,
                "~" => ShardPos::Done,
                t if is_time_id(t) => ShardPos::After(t.to_owned()),
                _ => return Err(StoreError::InvalidPosition),
            })
        };
        let mut parts = text.split('|');
        match parts.next() {
            Some("t") => {
                let day = parts
                    .next()
                    .and_then(event_model::time::parse_date)
                    .ok_or(StoreError::InvalidPosition)?;
                let shards = parts.map(part).collect::<Result<Vec<_>, _>>()?;
                if shards.len() != time_shards as usize {
                    return Err(StoreError::InvalidPosition);
                }
                Ok(Position::Time { day, shards })
            }
            Some("a") => {
                let streams = parts.map(part).collect::<Result<Vec<_>, _>>()?;
                if streams.len() != actor_streams(actor_shards) {
                    return Err(StoreError::InvalidPosition);
                }
                Ok(Position::Actor(streams))
            }
            _ => Err(StoreError::InvalidPosition),
        }
    }
}

impl Position {
    /// The time through which a page that ended here has examined every event, in the walk's
    /// order (newest first unless `asc`): for a search that came back short, how far it got. A
    /// time walk is as far as its least advanced partition; one that has not started on its day
    /// has examined the days before it (in the walk's order) and none of this one.
    pub fn searched_through(&self, asc: bool) -> Option<DateTime<Utc>> {
        let time = |p: &ShardPos, day: NaiveDate| -> DateTime<Utc> {
            let start = day.and_time(NaiveTime::MIN).and_utc();
            let end = start + chrono::Duration::days(1);
            match (p, asc) {
                (ShardPos::After(t), _) => event_model::time::TimeId::parse(t).map_or(start, |t| t.time),
                (ShardPos::Start, false) | (ShardPos::Done, true) => end,
                (ShardPos::Start, true) | (ShardPos::Done, false) => start,
            }
        };
        match self {
            Position::Time { day, shards } => {
                let each = shards.iter().map(|p| time(p, *day));
                if asc { each.min() } else { each.max() }
            }
            // Each partition has delivered every event before (in the walk's order) its position:
            // the walk as far as its least advanced one. Not said before every one has started.
            Position::Actor(streams) => {
                if streams.contains(&ShardPos::Start) {
                    return None;
                }
                let each = streams.iter().filter_map(|p| match p {
                    ShardPos::After(t) => event_model::time::TimeId::parse(t).map(|t| t.time),
                    _ => None,
                });
                if asc { each.min() } else { each.max() }
            }
        }
    }
}

/// `<RFC 3339 µs time>#<uuid>`, as the store writes it.
fn is_time_id(text: &str) -> bool {
    event_model::time::TimeId::parse(text).is_some()
}

/// The event id at the end of a `time_id`.
pub(crate) fn id_of(time_id: &str) -> &str {
    time_id.rsplit_once('#').map_or("", |(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_strangers_are_refused() {
        let t = "2026-11-27T10:15:30.123456Z#0196f5a0-0000-7000-8000-000000000001".to_owned();
        let time = Position::Time {
            day: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
            shards: vec![
                ShardPos::Start,
                ShardPos::After(t.clone()),
                ShardPos::Done,
                ShardPos::Start,
            ],
        };
        assert_eq!(Position::decode(&time.encode(), 4, 1).unwrap(), time);
        assert!(Position::decode(&time.encode(), 8, 1).is_err(), "another shard count");
        let actor = Position::Actor(vec![ShardPos::After(t.clone())]);
        assert_eq!(actor.encode(), format!("a|{t}"), "one partition per actor: as before");
        assert_eq!(Position::decode(&actor.encode(), 4, 1).unwrap(), actor);
        let sharded = Position::Actor(vec![ShardPos::Done, ShardPos::After(t.clone()), ShardPos::Start]);
        assert_eq!(Position::decode(&sharded.encode(), 4, 2).unwrap(), sharded);
        assert!(
            Position::decode(&sharded.encode(), 4, 1).is_err(),
            "another actor shard count"
        );
        assert!(Position::decode(&actor.encode(), 4, 2).is_err());
        assert_eq!(
            time.searched_through(false).map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-11-28T00:00:00+00:00"),
            "a partition not started on the day: nothing of the day searched, newest first"
        );
        assert_eq!(
            time.searched_through(true).map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-11-27T00:00:00+00:00"),
            "oldest first: the same partition has searched up to the day's start"
        );
        let mid = Position::Time {
            day: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
            shards: vec![
                ShardPos::Done,
                ShardPos::After(t.clone()),
                ShardPos::Done,
                ShardPos::Done,
            ],
        };
        assert_eq!(
            mid.searched_through(false).map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-11-27T10:15:30.123456+00:00")
        );
        for bad in ["", "x|1", "a|junk", "t|2026-13-01||||", "a|~|~", "t|2026-11-27|a|b|c|d"] {
            assert!(Position::decode(bad, 4, 1).is_err(), "{bad}");
        }
    }
}
