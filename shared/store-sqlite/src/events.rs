//! Events in SQLite: conditional appends and filtered, keyset-paged reads.
//!
//! The page position is the last returned event's `time_id`; the next page continues strictly
//! after it in the filter's order, so every event is delivered exactly once however many share a
//! timestamp.
//!
//! `q` uses the FTS5 trigram index when the term has three or more characters and is *rare*
//! (at most [`RARE_TERM_ROWS`] matching events): the matching rows are fetched by rowid and
//! ordered. A common term (or one shorter than a trigram) walks the time index instead and tests
//! each row with `audit_contains`, which finds a page's worth of matches quickly precisely
//! because they are common.

use async_trait::async_trait;
use audit_storage::{AppendOutcome, EventPage, EventStore, StoreError};
use event_model::{Category, Event, EventFilter, NewEvent, Order};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params_from_iter};
use uuid::Uuid;

use crate::{SharedError, SqliteStore};

/// Most FTS matches for which the index path is taken (see the module docs).
const RARE_TERM_ROWS: usize = 5_000;

const COLUMNS: &str = "id, time_id, actor, category, type, message, duration_ms, params, source, received_at";

#[async_trait]
impl EventStore for SqliteStore {
    #[tracing::instrument(skip_all, fields(events = events.len()))]
    async fn append(&self, events: Vec<NewEvent>) -> Vec<AppendOutcome> {
        let count = events.len();
        let result = self.inner.writer.write(move |conn| append_all(conn, &events)).await;
        match result {
            Ok(outcomes) => outcomes,
            Err(e) => {
                tracing::error!(error = %e, "append failed");
                let shared = SharedError::new(e);
                (0..count)
                    .map(|_| AppendOutcome::Failed(StoreError::unavailable(shared.clone())))
                    .collect()
            }
        }
    }

    async fn get(&self, id: Uuid) -> Result<Option<Event>, StoreError> {
        let found = self
            .inner
            .readers
            .run(move |conn| {
                conn.prepare_cached(&format!("SELECT {COLUMNS} FROM events WHERE id = ?1"))?
                    .query_row([id.to_string()], read_row)
                    .optional()
            })
            .await?;
        found.transpose()
    }

    #[tracing::instrument(skip_all, fields(limit))]
    async fn query(&self, filter: &EventFilter, limit: usize, after: Option<&str>) -> Result<EventPage, StoreError> {
        if let Some(after) = after
            && !valid_position(after)
        {
            return Err(StoreError::InvalidPosition);
        }
        let filter = filter.clone();
        let after = after.map(str::to_owned);
        let rows = self
            .inner
            .readers
            .run(move |conn| query_page(conn, &filter, limit + 1, after.as_deref()))
            .await?;
        let mut events = rows.into_iter().collect::<Result<Vec<Event>, StoreError>>()?;
        let next = if events.len() > limit {
            events.truncate(limit);
            events.last().map(Event::time_id)
        } else {
            None
        };
        Ok(EventPage { events, next })
    }
}

fn append_all(conn: &Connection, events: &[NewEvent]) -> rusqlite::Result<Vec<AppendOutcome>> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO events (id, time_id, actor, category, type, message, duration_ms, params, source, received_at, fingerprint)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (id) DO NOTHING",
    )?;
    let mut index = conn.prepare_cached("INSERT INTO events_search (rowid, message, actor) VALUES (?1, ?2, ?3)")?;
    let mut existing = conn.prepare_cached("SELECT fingerprint FROM events WHERE id = ?1")?;
    let mut outcomes = Vec::with_capacity(events.len());
    for NewEvent { event: e, fingerprint } in events {
        let id = e.id.to_string();
        let inserted = insert.execute(rusqlite::params![
            id,
            e.time_id(),
            e.actor,
            e.category.code(),
            e.event_type,
            e.message,
            e.duration_ms.map(|d| d as i64),
            serde_json::Value::Object(e.params.clone()).to_string(),
            e.source,
            event_model::time::format(&e.received_at),
            fingerprint,
        ])?;
        if inserted == 1 {
            index.execute(rusqlite::params![conn.last_insert_rowid(), e.message, e.actor])?;
            outcomes.push(AppendOutcome::Created);
        } else {
            let stored: String = existing.query_row([&id], |r| r.get(0))?;
            outcomes.push(if &stored == fingerprint {
                AppendOutcome::Duplicate
            } else {
                AppendOutcome::Conflict
            });
        }
    }
    Ok(outcomes)
}

fn query_page(
    conn: &Connection,
    filter: &EventFilter,
    limit: usize,
    after: Option<&str>,
) -> rusqlite::Result<Vec<Result<Event, StoreError>>> {
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<SqlValue> = Vec::new();
    let arg = |v: SqlValue, args: &mut Vec<SqlValue>| {
        args.push(v);
        format!("?{}", args.len())
    };

    if let Some(from) = filter.from {
        clauses.push(format!(
            "time_id >= {}",
            arg(event_model::time::format(&from).into(), &mut args)
        ));
    }
    if let Some(to) = filter.to {
        clauses.push(format!(
            "time_id < {}",
            arg(event_model::time::format(&to).into(), &mut args)
        ));
    }
    if let Some(after) = after {
        let op = if filter.order == Order::Desc { "<" } else { ">" };
        clauses.push(format!("time_id {op} {}", arg(after.to_owned().into(), &mut args)));
    }
    if let Some(actor) = &filter.actor {
        clauses.push(format!("actor = {}", arg(actor.clone().into(), &mut args)));
    }
    let categories = filter.effective_categories();
    if !categories.is_empty() {
        let list: Vec<String> = categories.iter().map(|c| arg(c.clone().into(), &mut args)).collect();
        clauses.push(format!("category IN ({})", list.join(", ")));
    }
    if !filter.types.is_empty() {
        let list: Vec<String> = filter.types.iter().map(|t| arg(t.clone().into(), &mut args)).collect();
        clauses.push(format!("type IN ({})", list.join(", ")));
    }
    if let Some(q) = &filter.q {
        let phrase = fts_phrase(q);
        let rare = q.chars().count() >= 3 && count_matches(conn, &phrase, RARE_TERM_ROWS + 1)? <= RARE_TERM_ROWS;
        if rare {
            clauses.push(format!(
                "seq IN (SELECT rowid FROM events_search WHERE events_search MATCH {})",
                arg(phrase.into(), &mut args)
            ));
        } else {
            clauses.push(format!(
                "audit_contains(message, actor, {})",
                arg(q.clone().into(), &mut args)
            ));
        }
    }

    let direction = if filter.order == Order::Desc { "DESC" } else { "ASC" };
    let where_clause = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM events {where_clause} ORDER BY time_id {direction} LIMIT {}",
        arg((limit as i64).into(), &mut args)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), read_row)?;
    rows.collect()
}

/// Counts FTS matches of `phrase`, stopping at `cap`.
fn count_matches(conn: &Connection, phrase: &str, cap: usize) -> rusqlite::Result<usize> {
    let mut stmt = conn.prepare_cached(
        "SELECT count(*) FROM (SELECT rowid FROM events_search WHERE events_search MATCH ?1 LIMIT ?2)",
    )?;
    stmt.query_row(rusqlite::params![phrase, cap as i64], |r| r.get::<_, i64>(0))
        .map(|n| n as usize)
}

/// An FTS5 query matching `q` as a substring of the message or the actor: one quoted phrase
/// (quotes doubled), so no character of `q` is read as query syntax.
fn fts_phrase(q: &str) -> String {
    format!("{{message actor}} : \"{}\"", q.replace('"', "\"\""))
}

/// A position is a `time_id`: a fixed-width instant, `#`, a UUID.
fn valid_position(p: &str) -> bool {
    p.len() == 64
        && p.as_bytes()[27] == b'#'
        && event_model::time::parse_instant(&p[..27]).is_some()
        && Uuid::parse_str(&p[28..]).is_ok()
}

fn read_row(row: &Row<'_>) -> rusqlite::Result<Result<Event, StoreError>> {
    let id: String = row.get(0)?;
    let time_id: String = row.get(1)?;
    let category: String = row.get(3)?;
    let params: String = row.get(7)?;
    let received_at: String = row.get(9)?;
    let duration: Option<i64> = row.get(6)?;
    let parsed = (|| {
        let corrupt = |what: &str| StoreError::Corrupt(format!("event {id}: bad {what}"));
        Ok(Event {
            id: Uuid::parse_str(&id).map_err(|_| corrupt("id"))?,
            time: time_id
                .get(..27)
                .and_then(event_model::time::parse_instant)
                .ok_or_else(|| corrupt("time"))?,
            actor: row.get(2).map_err(|_| corrupt("actor"))?,
            category: Category::parse(&category).ok_or_else(|| corrupt("category"))?,
            event_type: row.get(4).map_err(|_| corrupt("type"))?,
            message: row.get(5).map_err(|_| corrupt("message"))?,
            duration_ms: duration.map(|d| d as u64),
            params: serde_json::from_str(&params).map_err(|_| corrupt("params"))?,
            source: row.get(8).map_err(|_| corrupt("source"))?,
            received_at: event_model::time::parse_instant(&received_at).ok_or_else(|| corrupt("received_at"))?,
        })
    })();
    Ok(parsed)
}
