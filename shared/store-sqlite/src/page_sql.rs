//! The SQL of one page of events: which index drives it, and how `q` is searched.
//!
//! `q` uses the FTS5 trigram index when the term has three or more characters and is *rare*
//! (at most [`RARE_TERM_ROWS`] candidate events): the index is kept lean (`detail = none`: rowids
//! only, no positions, which makes it several times cheaper to write), so it answers "holds every
//! trigram of the term", a superset, and `audit_contains` confirms each candidate. The candidates
//! are read once per page, by the probe that finds the term rare, and handed to the page's query.
//! A common term (or one shorter than a trigram) walks the time index instead and tests each row
//! with `audit_contains`, which finds a page's worth of matches quickly precisely because they
//! are common; events are never removed, so a term once found common stays common, and its later
//! pages skip the probe ([`CommonTerms`]).

use event_model::{Categories, EventFilter, Order, Types};
use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;

/// Most FTS matches for which the index path is taken (see the module docs).
const RARE_TERM_ROWS: usize = 5_000;
/// Most common terms remembered; the set is emptied when full.
const COMMON_TERMS_KEPT: usize = 1_024;

/// The trigram queries known to have more than [`RARE_TERM_ROWS`] candidates. Events are never
/// removed, so a term once common stays common and needs no probe again.
#[derive(Default)]
pub(crate) struct CommonTerms(std::sync::Mutex<std::collections::HashSet<String>>);

impl CommonTerms {
    fn contains(&self, terms: &str) -> bool {
        self.0.lock().expect("common terms lock").contains(terms)
    }

    fn insert(&self, terms: String) {
        let mut set = self.0.lock().expect("common terms lock");
        if set.len() >= COMMON_TERMS_KEPT {
            set.clear();
        }
        set.insert(terms);
    }
}

/// Whether a page under `filter` walks one index and tests nothing else (no `q`, no types, no
/// exclusions, and at most one of an actor or a single category): every row it reads is returned, so it reads
/// at most `limit + 1` rows plus the not-yet-indexed tail. Any other condition may read many
/// rows for each one it returns.
pub(crate) fn walks_one_index(filter: &EventFilter) -> bool {
    filter.q.is_none()
        && filter.effective_types() == Types::Any
        && filter.not_actor.is_none()
        && matches!((&filter.actor, filter.categories.len()), (None, 0 | 1) | (Some(_), 0))
}

/// The SELECT of one page of `columns` (plain column names) under `filter`, and its arguments.
///
/// The page is read through one *driver*, chosen for a bounded cost:
/// - a rare `q`: the trigram index's candidates (plus the events indexed after the probe read
///   them), filtered and sorted;
/// - an `actor`: `actor_index` walked in order from the position, joined to the events;
/// - a single category: `category_index` the same way;
/// - otherwise the time index of the events table.
///
/// `actor_index` and `category_index` are filled by the writer in batches (see `writer`), so
/// the index drivers also read the events not yet indexed (`seq > indexed_upto`, a few thousand at
/// most) and merge both in order. Both parts read one snapshot, and they never overlap.
pub(crate) fn page_sql(
    conn: &Connection,
    common: &CommonTerms,
    filter: &EventFilter,
    columns: &str,
    limit: usize,
    after: Option<(i64, [u8; 16])>,
) -> rusqlite::Result<(String, Vec<SqlValue>)> {
    let mut args: Vec<SqlValue> = Vec::new();
    let mut arg = |v: SqlValue| {
        args.push(v);
        format!("?{}", args.len())
    };
    let desc = filter.order == Order::Desc;
    let direction = if desc { "DESC" } else { "ASC" };

    // Range and position, written once per table alias.
    // One bound per side, the tighter one: on the cursor's side of a page the cursor's time
    // replaces the period's bound, so the index is entered at the cursor, not at the end of the
    // period (which made every page of a period cost the rows before it).
    let (from_us, to_us) = (
        filter.from.map(|t| t.timestamp_micros()),
        filter.to.map(|t| t.timestamp_micros()),
    );
    let (lower, upper) = match after {
        Some((t, _)) if desc && to_us.is_none_or(|to| t < to) => (from_us.map(|f| (">=", f)), Some(("<=", t))),
        Some((t, _)) if !desc && from_us.is_none_or(|from| t >= from) => (Some((">=", t)), to_us.map(|u| ("<", u))),
        _ => (from_us.map(|f| (">=", f)), to_us.map(|u| ("<", u))),
    };
    let lower = lower.map(|(op, v)| (op, arg(v.into())));
    let upper = upper.map(|(op, v)| (op, arg(v.into())));
    let after = after.map(|(t, id)| (arg(t.into()), arg(id.to_vec().into())));
    let bounds = |alias: &str| {
        let mut c = Vec::new();
        for (op, value) in lower.iter().chain(upper.iter()) {
            c.push(format!("{alias}.time_us {op} {value}"));
        }
        if let Some((t, id)) = &after {
            let op = if desc { "<" } else { ">" };
            c.push(format!("({alias}.time_us, {alias}.id) {op} ({t}, {id})"));
        }
        c
    };

    let actor = filter.actor.as_ref().map(|a| arg(a.clone().into()));
    let (categories, contradictory): (Vec<String>, bool) = match filter.effective_categories() {
        Categories::Any => (Vec::new(), false),
        Categories::OneOf(of) => (of.iter().map(|c| arg(c.code().to_owned().into())).collect(), false),
        Categories::None => (Vec::new(), true),
    };
    let not_actor = filter.not_actor.as_ref().map(|a| arg(a.clone().into()));
    let mut type_list = |types: Vec<String>| -> String {
        let args: Vec<String> = types.into_iter().map(|t| arg(t.into())).collect();
        args.join(", ")
    };
    let types = match filter.effective_types() {
        Types::Any => None,
        Types::OneOf(types) => Some(format!("e.type IN ({})", type_list(types))),
        Types::NoneOf(types) => Some(format!("e.type NOT IN ({})", type_list(types))),
        // Nothing can match (as for contradictory categories below).
        Types::Nothing => Some("0".to_owned()),
    };
    let mut rare = None;
    let mut needle = None;
    if let Some(q) = &filter.q {
        let folded = event_model::filter::fold(q);
        if let Some(terms) = fts_trigrams(&folded)
            && !common.contains(&terms)
        {
            match rare_candidates(conn, &terms)? {
                Some((upto, rowids)) => rare = Some((arg(rowids.into()), arg(upto.into()))),
                None => common.insert(terms),
            }
        }
        needle = Some(arg(folded.into()));
    }

    enum Driver {
        Time,
        Index {
            table: &'static str,
            column: &'static str,
            value: String,
        },
    }
    let driver = match (&rare, &actor, categories.as_slice()) {
        (Some(_), _, _) => Driver::Time,
        (None, Some(actor), _) => Driver::Index {
            table: "actor_index",
            column: "actor",
            value: actor.clone(),
        },
        (None, None, [category]) => Driver::Index {
            table: "category_index",
            column: "category",
            value: category.clone(),
        },
        _ => Driver::Time,
    };

    // Filters on the events table (alias `e`), other than the driver's own.
    let mut filters = Vec::new();
    if let Some(actor) = &actor {
        filters.push(format!("e.actor = {actor}"));
    }
    if !categories.is_empty() {
        filters.push(format!("e.category IN ({})", categories.join(", ")));
    }
    if contradictory {
        // Nothing can match: a constant false condition, which SQLite checks once, reading nothing.
        filters.push("0".to_owned());
    }
    if let Some(not_actor) = &not_actor {
        filters.push(format!("e.actor <> {not_actor}"));
    }
    if let Some(types) = types {
        filters.push(types);
    }
    if let Some((rowids, upto)) = &rare {
        filters.push(format!(
            "e.seq IN (SELECT value FROM json_each({rowids}) UNION ALL SELECT seq FROM events WHERE seq > {upto})"
        ));
    }
    if let Some(needle) = &needle {
        filters.push(format!("audit_contains(e.message, e.actor, {needle})"));
    }

    let limit = arg((limit as i64).into());
    let e_columns = columns
        .split(", ")
        .map(|c| format!("e.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = match driver {
        Driver::Time => {
            let mut clauses = bounds("e");
            clauses.extend(filters);
            format!(
                "SELECT {e_columns} FROM events e {} ORDER BY e.time_us {direction}, e.id {direction} LIMIT {limit}",
                where_clause(&clauses)
            )
        }
        Driver::Index { table, column, value } => {
            let mut indexed = vec![format!("x.{column} = {value}")];
            indexed.extend(bounds("x"));
            indexed.extend(filters.iter().cloned());
            let mut tail = vec!["e.seq > (SELECT indexed_upto FROM index_state)".to_owned()];
            tail.extend(bounds("e"));
            tail.extend(filters);
            // Result columns 1 and 2 are `id` and `time_us` (see COLUMNS and CSV_COLUMNS).
            format!(
                "SELECT * FROM (SELECT {e_columns} FROM {table} x CROSS JOIN events e ON e.seq = x.seq {} \
                   ORDER BY x.time_us {direction}, x.id {direction} LIMIT {limit}) \
                 UNION ALL \
                 SELECT * FROM (SELECT {e_columns} FROM events e NOT INDEXED {} \
                   ORDER BY e.time_us {direction}, e.id {direction} LIMIT {limit}) \
                 ORDER BY 2 {direction}, 1 {direction} LIMIT {limit}",
                where_clause(&indexed),
                where_clause(&tail)
            )
        }
    };
    Ok((sql, args))
}

fn where_clause(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    }
}

/// The trigram index's candidates for `terms` if there are at most [`RARE_TERM_ROWS`]: how far
/// the index reached and the candidates' rowids (a JSON array), read in one statement, so one
/// snapshot. Events past that reach are read from the table, so none is missed however far the
/// index moves on before the page's query runs.
fn rare_candidates(conn: &Connection, terms: &str) -> rusqlite::Result<Option<(i64, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT (SELECT indexed_upto FROM index_state), count(*), json_group_array(rowid) \
         FROM (SELECT rowid FROM events_search WHERE events_search MATCH ?1 LIMIT ?2)",
    )?;
    let (upto, count, rowids): (i64, i64, String) = stmt
        .query_row(rusqlite::params![terms, RARE_TERM_ROWS as i64 + 1], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    Ok((count as usize <= RARE_TERM_ROWS).then_some((upto, rowids)))
}

/// An FTS5 query for the rows holding every trigram of `q` (in the message or the actor): each
/// trigram quoted (quotes doubled), so no character of `q` is read as query syntax. `None` when
/// `q` is shorter than a trigram.
fn fts_trigrams(q: &str) -> Option<String> {
    let chars: Vec<char> = q.chars().collect();
    if chars.len() < 3 {
        return None;
    }
    let mut terms: Vec<String> = chars
        .windows(3)
        .map(|w| w.iter().collect::<String>().replace('"', "\"\""))
        .collect();
    terms.sort();
    terms.dedup();
    Some(terms.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(" "))
}
