//! How many events match a filter, and when (`GET /counts`): from the hourly counts by type the
//! writer keeps (`type_counts`, filled with the other batch indexes) when the filter is made of
//! time and type-derived parts only (period, category, type, outcome, `not_type`); otherwise by
//! counting the filter's rows, up to [`COUNT_BUDGET`] rows or `COUNT_DEADLINE` (then the answer is
//! "more than").

use chrono::{DateTime, Utc};
use event_model::{Category, EventFilter, Order};
use rusqlite::{Connection, params_from_iter};

use crate::page_sql::{CommonTerms, page_sql};
use audit_storage::{Bucket, Counts};

/// Most rows counted one by one for a filter the hourly counts cannot answer (a username, a
/// search), and for how long: then the count is a lower bound.
pub(crate) const COUNT_BUDGET: usize = 250_000;
const COUNT_DEADLINE: std::time::Duration = std::time::Duration::from_millis(150);

const HOUR_US: i64 = 3_600_000_000;

/// The counts of `filter` in buckets of `bucket`, over its period (or from the first event to
/// now when it has no bound), read in one snapshot.
pub(crate) fn counts(
    conn: &Connection,
    common: &CommonTerms,
    filter: &EventFilter,
    bucket: Bucket,
    now: DateTime<Utc>,
) -> rusqlite::Result<Counts> {
    let tx = conn.unchecked_transaction()?;
    let edge = |sql: &str| tx.query_row(sql, [], |r| r.get::<_, Option<i64>>(0));
    let from = match filter.from {
        Some(t) => t.timestamp_micros(),
        None => match edge("SELECT min(time_us) FROM events")? {
            Some(t) => t,
            None => return Ok(Counts::empty(bucket)),
        },
    };
    let to = match filter.to {
        Some(t) => t.timestamp_micros(),
        None => now
            .timestamp_micros()
            .max(edge("SELECT max(time_us) FROM events")?.map_or(i64::MIN, |t| t + 1)),
    };
    let mut counts = Counts::over(
        bucket,
        DateTime::from_timestamp_micros(from).unwrap_or_default(),
        DateTime::from_timestamp_micros(to).unwrap_or_default(),
    );
    if counts.buckets.is_empty() {
        return Ok(counts);
    }
    // Only what falls in the buckets is counted: a clipped period's earlier part is left out.
    let from = from.max(counts.start.timestamp_micros());
    if by_hourly_counts(filter) {
        let allowed = |ty: &str, category: &str| {
            Category::parse(category).is_some_and(|category| filter.allows_kind(category, ty))
        };
        // Whole hours from the hourly counts (with the events not yet counted there); the partial
        // hours at either end, if any, from the events themselves.
        let (whole_from, whole_to) = (ceil_hour(from), to.div_euclid(HOUR_US) * HOUR_US);
        let whole = whole_from < whole_to;
        let edges = if whole {
            vec![(from, whole_from), (whole_to, to)]
        } else {
            vec![(from, to)]
        };
        if whole {
            let mut stmt = tx.prepare_cached(
                "SELECT hour_us, type, category, n FROM type_counts WHERE hour_us >= ?1 AND hour_us < ?2",
            )?;
            let mut rows = stmt.query([whole_from, whole_to])?;
            while let Some(row) = rows.next()? {
                if allowed(row.get_ref(1)?.as_str()?, row.get_ref(2)?.as_str()?) {
                    counts.add(row.get(0)?, row.get::<_, i64>(3)? as u64);
                }
            }
            events_in(
                &tx,
                // By `seq` (the rowid): the time index would walk the whole period.
                "SELECT time_us, type, category FROM events NOT INDEXED WHERE seq > (SELECT indexed_upto FROM index_state) \
                 AND time_us >= ?1 AND time_us < ?2",
                (whole_from, whole_to),
                |t, ty, c| {
                    if allowed(ty, c) {
                        counts.add(t, 1);
                    }
                },
            )?;
        }
        for (lo, hi) in edges.into_iter().filter(|(lo, hi)| lo < hi) {
            events_in(
                &tx,
                "SELECT time_us, type, category FROM events INDEXED BY events_by_time WHERE time_us >= ?1 AND time_us < ?2",
                (lo, hi),
                |t, ty, c| {
                    if allowed(ty, c) {
                        counts.add(t, 1);
                    }
                },
            )?;
        }
    } else {
        // Row by row through the page's own SQL (its index choice, its search), oldest first.
        let mut scan = filter.clone();
        scan.order = Order::Asc;
        // `id, time_us`: the index drivers order their merge by these two columns.
        let (sql, args) = page_sql(&tx, common, &scan, "id, time_us", COUNT_BUDGET + 1, None)?;
        let mut stmt = tx.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let (mut read, started) = (0, std::time::Instant::now());
        while let Some(row) = rows.next()? {
            read += 1;
            if read > COUNT_BUDGET || (read % 256 == 0 && started.elapsed() > COUNT_DEADLINE) {
                counts.exact = false;
                break;
            }
            counts.add(row.get(1)?, 1);
        }
    }
    Ok(counts)
}

/// Whether the hourly counts by type answer `filter`: no username and no search.
fn by_hourly_counts(filter: &EventFilter) -> bool {
    filter.actor.is_none() && filter.not_actor.is_none() && filter.q.is_none()
}

fn ceil_hour(t: i64) -> i64 {
    (t + HOUR_US - 1).div_euclid(HOUR_US) * HOUR_US
}

/// The rows of `sql` (time, type, category) over `[lo, hi)`, each handed to `each`.
fn events_in(
    conn: &Connection,
    sql: &str,
    (lo, hi): (i64, i64),
    mut each: impl FnMut(i64, &str, &str),
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query([lo, hi])?;
    while let Some(row) = rows.next()? {
        each(row.get(0)?, row.get_ref(1)?.as_str()?, row.get_ref(2)?.as_str()?);
    }
    Ok(())
}
