//! Events in SQLite: conditional appends and filtered, keyset-paged reads.
//!
//! Rows are ordered by `(time_us, id)` (the integer form of the shared `<time>#<id>` sort key:
//! compact index entries, same order). The page position is the last returned event's
//! `time_id`; the next page continues strictly after it in the filter's order (a row-value
//! comparison the indexes serve), so every event is delivered exactly once however many share a
//! timestamp.
//!
//! The secondary indexes (trigrams for `q`, `actor_index`, `category_index`) trail the events by
//! a few thousand rows at most: the writer fills them in batches, which is several times cheaper
//! than row by row (each batch rewrites the pages at the end of every actor's and category's
//! range once, not once per commit). Every read through them also reads the not-yet-indexed tail
//! (`seq > indexed_upto`), so every stored event is found as soon as it is acknowledged.
//!
//! How a page's SQL is chosen and written (drivers, `q`): [`crate::page_sql`]. This file is
//! about 450 lines: the store's appends and its four reads, and the one row decoding they share.

use async_trait::async_trait;
use audit_storage::{AppendOutcome, Bucket, Counts, CsvPage, EventPage, EventStore, JsonPage, StoreError};
use event_model::csv_row::{CsvRow, CsvWriter};
use event_model::{Category, Event, EventFilter, EventView, NewEvent, Params};
use rusqlite::{Connection, OptionalExtension, params_from_iter};
use uuid::Uuid;

use crate::page_sql::{CommonTerms, page_sql, walks_one_index};
use crate::{SharedError, SqliteStore};

pub(crate) const COLUMNS: &str =
    "id, time_us, actor, category, type, message, duration_ms, params, source, received_at";
/// The columns of a CSV row (the first seven in [`COLUMNS`]' order).
const CSV_COLUMNS: &str = "id, time_us, actor, category, type, message, duration_ms, source, received_at";

#[async_trait]
impl EventStore for SqliteStore {
    #[tracing::instrument(skip_all, fields(events = events.len()))]
    async fn append(&self, events: Vec<NewEvent>) -> Vec<AppendOutcome> {
        let count = events.len();
        // Everything that needs no database is done here, on the caller's thread, so the one
        // writer thread spends its time on inserts only.
        let rows: Vec<Row> = events.into_iter().map(Row::from).collect();
        let result = self.inner.writer.write(move |conn| append_all(conn, &rows)).await;
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
        // One row by its key: short, so read here (see `ReaderPool::run_here`).
        let found = self.inner.readers.run_here(move |conn| {
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM events WHERE id = ?1"))?
                .query_row([id.as_bytes()], |row| Ok(view_of(row).map(|view| view.to_event())))
                .optional()
        })?;
        found.transpose()
    }

    async fn counts(&self, filter: &EventFilter, bucket: Bucket) -> Result<Counts, StoreError> {
        let filter = filter.clone();
        let inner = self.inner.clone();
        let now = chrono::Utc::now();
        self.inner
            .readers
            .run(move |conn| crate::counts::counts(conn, &inner.common_terms, &filter, bucket, now))
            .await
    }

    async fn actors(&self, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        // The indexed actors in the folded prefix's range, and those of the events not yet
        // indexed (a few thousand at most); each folded prefix sorts before every longer text that
        // starts with it, and every such text before the prefix followed by the last code point.
        let folded = event_model::filter::fold(prefix);
        let upper = format!("{folded}\u{10FFFF}");
        let chars = folded.chars().count() as i64;
        self.inner
            .readers
            .run(move |conn| {
                conn.prepare_cached(
                    "SELECT actor FROM (
                         SELECT folded, actor FROM actors WHERE folded >= ?1 AND folded < ?2
                         UNION
                         SELECT audit_fold(actor), actor FROM events
                         WHERE seq > (SELECT indexed_upto FROM index_state) AND substr(audit_fold(actor), 1, ?3) = ?1
                     ) ORDER BY folded, actor LIMIT ?4",
                )?
                .query_map(rusqlite::params![folded, upper, chars, limit as i64], |r| r.get(0))?
                .collect()
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(limit))]
    async fn query(&self, filter: &EventFilter, limit: usize, after: Option<&str>) -> Result<EventPage, StoreError> {
        let after = read_position(after)?;
        let rows = self
            .read_page(filter, move |conn, common, filter| {
                query_page(conn, common, filter, limit + 1, after)
            })
            .await?;
        let mut rows = rows;
        let next = if rows.len() > limit {
            rows.truncate(limit);
            let last = rows
                .last()
                .and_then(|(key, _)| *key)
                .and_then(|(t, id)| position(t, id));
            Some(last.ok_or_else(|| StoreError::Corrupt("an event row without a readable id or time".into()))?)
        } else {
            None
        };
        let events = rows.into_iter().filter_map(|(_, event)| readable(event)).collect();
        Ok(EventPage { events, next })
    }

    /// Without building events: each row's columns are borrowed from SQLite into an
    /// [`EventView`] and written.
    #[tracing::instrument(skip_all, fields(limit))]
    fn searched_through(&self, _filter: &EventFilter, position: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        // A page ends at its last event, and every event before it in the order was examined.
        event_model::time::TimeId::parse(position).map(|t| t.time)
    }

    async fn json_page(
        &self,
        filter: &EventFilter,
        limit: usize,
        after: Option<&str>,
        buf: Vec<u8>,
    ) -> Result<JsonPage, StoreError> {
        let after = read_position(after)?;
        let (json, last) = self
            .read_page(filter, move |conn, common, filter| {
                json_rows(conn, common, filter, limit, after, buf)
            })
            .await?;
        let next = match last {
            Some(key) => Some(
                key.and_then(|(t, id)| position(t, id))
                    .ok_or_else(|| StoreError::Corrupt("an event row without a readable id or time".into()))?,
            ),
            None => None,
        };
        Ok(JsonPage { json, next })
    }

    /// Without building events: each row's columns are borrowed from SQLite straight into the
    /// CSV writer.
    #[tracing::instrument(skip_all, fields(limit))]
    async fn csv_page(
        &self,
        filter: &EventFilter,
        limit: usize,
        after: Option<&str>,
        buf: Vec<u8>,
    ) -> Result<CsvPage, StoreError> {
        let after = read_position(after)?;
        let filter = filter.clone();
        let _search = self.search_permit(&filter).await?;
        let inner = self.inner.clone();
        let written = self
            .inner
            .readers
            .run(move |conn| {
                let mut writer = CsvWriter::continuing(buf);
                let (mut seen, mut rows) = (0usize, 0usize);
                let mut last: Option<(i64, Uuid)> = None;
                let mut more = false;
                let sql = page_sql(conn, &inner.common_terms, &filter, CSV_COLUMNS, limit + 1, after)?;
                let mut stmt = conn.prepare_cached(&sql.0)?;
                let mut cursor = stmt.query(params_from_iter(sql.1))?;
                while let Some(row) = cursor.next()? {
                    if seen == limit {
                        more = true;
                        break;
                    }
                    seen += 1;
                    let id = Uuid::from_slice(row.get_ref(0)?.as_blob()?).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
                    })?;
                    let time_us: i64 = row.get(1)?;
                    last = Some((time_us, id));
                    let written = (|| {
                        let time = chrono::DateTime::from_timestamp_micros(time_us)
                            .ok_or(rusqlite::Error::IntegralValueOutOfRange(1, time_us))?;
                        let duration: Option<i64> = row.get(6)?;
                        // Stored in the fixed-width form: copied, checked only for its shape.
                        let received_at = row.get_ref(8)?.as_str()?;
                        if !event_model::time::is_fixed_width(received_at) {
                            return Err(rusqlite::Error::FromSqlConversionFailure(
                                8,
                                rusqlite::types::Type::Text,
                                "received_at".into(),
                            ));
                        }
                        writer
                            .write_row(&CsvRow {
                                time,
                                actor: row.get_ref(2)?.as_str()?,
                                category: row.get_ref(3)?.as_str()?,
                                event_type: row.get_ref(4)?.as_str()?,
                                message: row.get_ref(5)?.as_str()?,
                                duration_ms: duration.map(|d| d as u64),
                                id,
                                received_at,
                                source: row.get_ref(7)?.as_str()?,
                            })
                            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
                    })();
                    match written {
                        Ok(()) => rows += 1,
                        Err(e) => {
                            tracing::error!(event = %id, error = %e, "an unreadable event is set apart: left out of this export");
                        }
                    }
                }
                let csv = writer
                    .into_inner()
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                Ok((csv, rows, if more { last } else { None }))
            })
            .await?;
        let (csv, rows, last) = written;
        let next = last.and_then(|(time_us, id)| position(time_us, id));
        Ok(CsvPage {
            csv,
            rows: rows as u64,
            next,
        })
    }
}

/// An event as the columns of its row.
struct Row {
    id: [u8; 16],
    time_us: i64,
    actor: String,
    category: &'static str,
    event_type: String,
    message: String,
    duration_ms: Option<i64>,
    params: String,
    source: String,
    received_at: String,
    fingerprint: String,
}

impl From<NewEvent> for Row {
    fn from(NewEvent { event: e, fingerprint }: NewEvent) -> Self {
        Row {
            id: *e.id.as_bytes(),
            time_us: e.time.timestamp_micros(),
            params: e.params.into_string(),
            received_at: event_model::time::format(&e.received_at),
            category: e.category.code(),
            duration_ms: e.duration_ms.map(|d| d as i64),
            actor: e.actor,
            event_type: e.event_type,
            message: e.message,
            source: e.source,
            fingerprint,
        }
    }
}

fn append_all(conn: &Connection, rows: &[Row]) -> rusqlite::Result<Vec<AppendOutcome>> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO events (id, time_us, actor, category, type, message, duration_ms, params, source, received_at, fingerprint)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (id) DO NOTHING",
    )?;
    let mut existing = conn.prepare_cached("SELECT fingerprint FROM events WHERE id = ?1")?;
    let mut outcomes = Vec::with_capacity(rows.len());
    for row in rows {
        let inserted = insert.execute(rusqlite::params![
            row.id,
            row.time_us,
            row.actor,
            row.category,
            row.event_type,
            row.message,
            row.duration_ms,
            row.params,
            row.source,
            row.received_at,
            row.fingerprint,
        ])?;
        if inserted == 1 {
            outcomes.push(AppendOutcome::Created);
        } else {
            let stored: String = existing.query_row([row.id], |r| r.get(0))?;
            outcomes.push(if stored == row.fingerprint {
                AppendOutcome::Duplicate
            } else {
                AppendOutcome::Conflict
            });
        }
    }
    Ok(outcomes)
}

/// A row of a page: its sort key `(time_us, id)` (`None` if even its id cannot be read) and the
/// event, or why it cannot be read. The key is kept raw: only the page's last one is ever turned
/// into a position.
type PageRow = (Option<(i64, Uuid)>, Result<Event, StoreError>);

/// One page of rows.
fn query_page(
    conn: &Connection,
    common: &CommonTerms,
    filter: &EventFilter,
    limit: usize,
    after: Option<(i64, [u8; 16])>,
) -> rusqlite::Result<Vec<PageRow>> {
    let (sql, args) = page_sql(conn, common, filter, COLUMNS, limit, after)?;
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |row| {
        Ok((sort_key(row), view_of(row).map(|view| view.to_event())))
    })?;
    rows.collect()
}

/// One page written as a JSON array appended to `buf`, and, if more rows follow, the sort key of
/// its last row (`Some(None)` if that cannot be read).
#[allow(clippy::type_complexity)]
fn json_rows(
    conn: &Connection,
    common: &CommonTerms,
    filter: &EventFilter,
    limit: usize,
    after: Option<(i64, [u8; 16])>,
    mut buf: Vec<u8>,
) -> rusqlite::Result<(Vec<u8>, Option<Option<(i64, Uuid)>>)> {
    let (sql, args) = page_sql(conn, common, filter, COLUMNS, limit + 1, after)?;
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(args))?;
    let (mut seen, mut written, mut last) = (0, 0, None);
    buf.push(b'[');
    while let Some(row) = rows.next()? {
        if seen == limit {
            buf.push(b']');
            return Ok((buf, Some(last)));
        }
        seen += 1;
        last = sort_key(row);
        if let Some(view) = readable(view_of(row)) {
            if written > 0 {
                buf.push(b',');
            }
            serde_json::to_writer(&mut buf, &view).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            written += 1;
        }
    }
    buf.push(b']');
    Ok((buf, None))
}

/// A row's sort key `(time_us, id)`, if both can be read.
fn sort_key(row: &rusqlite::Row<'_>) -> Option<(i64, Uuid)> {
    let id = row
        .get_ref(0)
        .ok()?
        .as_blob()
        .ok()
        .and_then(|b| Uuid::from_slice(b).ok())?;
    Some((row.get::<_, i64>(1).ok()?, id))
}

/// The event, or `None` for a row that cannot be read, which is logged with its id and left out
/// (set apart) so that it stops no listing or export.
fn readable<T>(event: Result<T, StoreError>) -> Option<T> {
    match event {
        Ok(event) => Some(event),
        Err(e) => {
            tracing::error!(error = %e, "an unreadable event is set apart: left out of this page");
            None
        }
    }
}

impl SqliteStore {
    /// Runs a page's read: here for a page that walks one index (see [`walks_one_index`]),
    /// otherwise on a blocking thread, with a search permit for `q`.
    async fn read_page<T: Send + 'static>(
        &self,
        filter: &EventFilter,
        read: impl FnOnce(&Connection, &CommonTerms, &EventFilter) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        if walks_one_index(filter) {
            let common = &self.inner.common_terms;
            return self.inner.readers.run_here(|conn| read(conn, common, filter));
        }
        let filter = filter.clone();
        let _search = self.search_permit(&filter).await?;
        let inner = self.inner.clone();
        self.inner
            .readers
            .run(move |conn| read(conn, &inner.common_terms, &filter))
            .await
    }

    /// For the query benchmark: runs the SQL of a page on the calling thread and steps through
    /// its rows, touching every column without turning rows into events, and returns how many
    /// rows it read. This is the floor under [`EventStore::query`].
    #[doc(hidden)]
    pub fn page_sql_only(&self, filter: &EventFilter, limit: usize, after: Option<&str>) -> Result<usize, StoreError> {
        let after = read_position(after)?;
        self.inner.readers.run_here(|conn| {
            let (sql, args) = page_sql(conn, &self.inner.common_terms, filter, COLUMNS, limit + 1, after)?;
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut rows = stmt.query(params_from_iter(args))?;
            let mut read = 0;
            while let Some(row) = rows.next()? {
                for i in 0..row.as_ref().column_count() {
                    row.get_ref(i)?;
                }
                read += 1;
            }
            Ok(read)
        })
    }

    /// A permit to run a read with `q` (see `Inner::searches`); none needed without `q`.
    async fn search_permit(
        &self,
        filter: &EventFilter,
    ) -> Result<Option<tokio::sync::SemaphorePermit<'_>>, StoreError> {
        if filter.q.is_none() {
            return Ok(None);
        }
        self.inner
            .searches
            .acquire()
            .await
            .map(Some)
            .map_err(StoreError::unavailable)
    }
}

/// The position after the row `(time_us, id)`: its [`TimeId`](event_model::time::TimeId).
fn position(time_us: i64, id: Uuid) -> Option<String> {
    chrono::DateTime::from_timestamp_micros(time_us).map(|t| event_model::time::TimeId::new(t, id).to_string())
}

/// The position a page starts after, if any; one this store did not make is refused.
fn read_position(after: Option<&str>) -> Result<Option<(i64, [u8; 16])>, StoreError> {
    after
        .map(|p| parse_position(p).ok_or(StoreError::InvalidPosition))
        .transpose()
}

/// A position is a [`TimeId`](event_model::time::TimeId), as `(time_us, id)`.
fn parse_position(p: &str) -> Option<(i64, [u8; 16])> {
    let key = event_model::time::TimeId::parse(p)?;
    Some((key.time.timestamp_micros(), *key.id.as_bytes()))
}

/// A row's event, borrowed from the row, or why it cannot be read.
pub(crate) fn view_of<'r>(row: &'r rusqlite::Row<'_>) -> Result<EventView<'r>, StoreError> {
    let id = row
        .get_ref(0)
        .ok()
        .and_then(|v| v.as_blob().ok())
        .and_then(|b| Uuid::from_slice(b).ok())
        .ok_or_else(|| StoreError::Corrupt("an event id is not 16 bytes".into()))?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("event {id}: bad {what}"));
    let text = |i: usize, what: &str| {
        row.get_ref(i)
            .ok()
            .and_then(|v| v.as_str().ok())
            .ok_or_else(|| corrupt(what))
    };
    let time_us: i64 = row.get(1).map_err(|_| corrupt("time"))?;
    let duration: Option<i64> = row.get(6).map_err(|_| corrupt("duration_ms"))?;
    Ok(EventView {
        id,
        time: chrono::DateTime::from_timestamp_micros(time_us).ok_or_else(|| corrupt("time"))?,
        actor: text(2, "actor")?,
        category: Category::parse(text(3, "category")?).ok_or_else(|| corrupt("category"))?,
        event_type: text(4, "type")?,
        message: text(5, "message")?,
        duration_ms: duration.map(|d| d as u64),
        params: Params::check(text(7, "params")?).ok_or_else(|| corrupt("params"))?,
        source: text(8, "source")?,
        received_at: event_model::time::parse_instant(text(9, "received_at")?).ok_or_else(|| corrupt("received_at"))?,
    })
}
