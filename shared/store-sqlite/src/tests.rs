//! The embedded store's own tests: schema and upgrades, the index drivers against a plain filter,
//! two stores on one folder, search folding.

use super::*;
use audit_storage::{AppendOutcome, EventStore};
use event_model::{EventFilter, NewEvent};
use serde_json::json;

fn event(id: &str, actor: &str, message: &str) -> NewEvent {
    let input =
        json!({"id": id, "time": "2026-01-01T00:00:00Z", "actor": actor, "type": "custom.t", "message": message});
    NewEvent::parse(&input, "", chrono::Utc::now(), "test").unwrap()
}

const ID: &str = "0193aa00-0000-7000-8000-000000000001";

#[tokio::test]
async fn stored_events_cannot_be_updated_or_deleted_even_by_sql() {
    let dir = tempfile::TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    assert!(matches!(
        store.append(vec![event(ID, "a", "m")]).await[0],
        AppendOutcome::Created
    ));
    let conn = open_connection(store.path()).unwrap();
    let update = conn.execute("UPDATE events SET actor = 'mallory'", []);
    assert!(update.unwrap_err().to_string().contains("immutable"));
    assert!(conn.execute("DELETE FROM events", []).is_err());
    assert_eq!(store.count_events().await.unwrap(), 1);
}

#[tokio::test]
async fn one_id_appended_by_ten_concurrent_writers_is_stored_once() {
    let dir = tempfile::TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.append(vec![event(ID, "a", "m")]).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap().remove(0) {
            AppendOutcome::Created => created += 1,
            AppendOutcome::Duplicate => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(store.count_events().await.unwrap(), 1);
}

#[tokio::test]
async fn the_search_index_catches_up_when_the_writer_is_idle_and_the_writer_keeps_serving() {
    let dir = tempfile::TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.append(vec![event(ID, "a", "needle in a haystack")]).await;
    let mut lag = store.index_lag().await.unwrap();
    for _ in 0..200 {
        if lag == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        lag = store.index_lag().await.unwrap();
    }
    assert_eq!(lag, 0, "the idle writer indexes the tail");
    let other = "0193aa00-0000-7000-8000-000000000002";
    assert!(matches!(
        store.append(vec![event(other, "b", "more hay")]).await[0],
        AppendOutcome::Created
    ));
    let filter = EventFilter {
        q: Some("NEEDLE".into()),
        ..EventFilter::default()
    };
    assert_eq!(store.query(&filter, 10, None).await.unwrap().events.len(), 1);
    let filter = EventFilter {
        q: Some("more hay".into()),
        ..EventFilter::default()
    };
    assert_eq!(
        store.query(&filter, 10, None).await.unwrap().events.len(),
        1,
        "the unindexed tail is searched"
    );
}

/// Every page of `filter` in turn, `limit` at a time.
/// Every page of `filter`, read both ways (`query`, and `json_page`, which writes rows
/// without building events); both must hold the same events.
async fn read_all(store: &SqliteStore, filter: &EventFilter, limit: usize) -> Vec<event_model::Event> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.query(filter, limit, after.as_deref()).await.unwrap();
        let json = store
            .json_page(filter, limit, after.as_deref(), Vec::new())
            .await
            .unwrap();
        let written: Vec<event_model::Event> = serde_json::from_slice(&json.json).unwrap();
        assert_eq!(written, page.events);
        assert_eq!(json.next, page.next);
        all.extend(page.events);
        match page.next {
            Some(next) => after = Some(next),
            None => return all,
        }
    }
}

#[tokio::test]
async fn index_driven_and_tail_reads_agree_with_a_plain_filter_before_and_after_indexing() {
    let dir = tempfile::TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let actors = ["alice", "bob", "carol", "system", "Zoë"];
    let kinds = [
        ("auth.logged_in", None),
        ("license.activated", None),
        ("secrets.training_started", None),
        ("custom.deploy", Some("Deployed build")),
        ("custom.alert", Some("Disk almost full")),
    ];
    let now = chrono::Utc::now();
    let mut all = Vec::new();
    for i in 0..10_000u32 {
        let (kind, message) = kinds[(i as usize / 5) % kinds.len()];
        let mut input = json!({
            "id": uuid::Uuid::now_v7(),
            // Many events share a timestamp; times are not in insertion order.
            "time": format!("2026-01-0{}T00:00:{:02}Z", 1 + i % 3, (i * 13) % 17),
            "actor": actors[i as usize % actors.len()],
            "type": kind,
        });
        if let Some(message) = message {
            input["message"] = json!(format!("{message} #{}", i % 50));
        }
        all.push(NewEvent::parse(&input, "", now, "test").unwrap());
    }
    for batch in all.chunks(500) {
        store.append(batch.to_vec()).await;
    }
    let events: Vec<event_model::Event> = all.into_iter().map(|e| e.event).collect();

    let filters = [
        json!({"actor": "bob"}),
        json!({"actor": "Zoë", "order": "asc"}),
        json!({"category": "custom"}),
        json!({"category": "auth", "from": "2026-01-02", "to": "2026-01-02"}),
        json!({"category": "license,secrets"}),
        json!({"actor": "system", "category": "custom", "q": "#43"}),
        json!({"q": "DEPLOYED BUILD #43"}),
        json!({"actor": "alice", "type": "custom.deploy", "order": "asc"}),
        json!({"from": "2026-01-03T00:00:05Z"}),
    ];
    for round in ["with a tail", "fully indexed"] {
        if round == "fully indexed" {
            for _ in 0..500 {
                if store.index_lag().await.unwrap() == 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            assert_eq!(store.index_lag().await.unwrap(), 0);
        }
        for f in &filters {
            let filter = EventFilter::from_json(f).unwrap();
            let mut want: Vec<&event_model::Event> = events.iter().filter(|e| filter.matches(e)).collect();
            want.sort_by_key(|e| e.time_id());
            if filter.order == event_model::Order::Desc {
                want.reverse();
            }
            let got = read_all(&store, &filter, 37).await;
            let got_ids: Vec<String> = got.iter().map(|e| e.time_id()).collect();
            let want_ids: Vec<String> = want.iter().map(|e| e.time_id()).collect();
            assert!(!want_ids.is_empty(), "{f} selects something");
            assert_eq!(got_ids, want_ids, "{f} ({round})");
        }
    }
}

#[tokio::test]
async fn two_stores_on_one_folder_append_and_index_without_stepping_on_each_other() {
    let dir = tempfile::TempDir::new().unwrap();
    let a = SqliteStore::open(dir.path()).unwrap();
    let b = SqliteStore::open(dir.path()).unwrap();
    let batch = |n: u32| -> Vec<NewEvent> {
        (0..2_500)
            .map(|i| {
                event(
                    &uuid::Uuid::now_v7().to_string(),
                    &format!("u{}", i % 7),
                    &format!("m{n}-{i}"),
                )
            })
            .collect()
    };
    let (ra, rb) = tokio::join!(
        async {
            for n in 0..2 {
                a.append(batch(n)).await;
            }
        },
        async {
            for n in 2..4 {
                b.append(batch(n)).await;
            }
        }
    );
    let _ = (ra, rb);
    for _ in 0..500 {
        if a.index_lag().await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(a.index_lag().await.unwrap(), 0);
    let conn = open_connection(a.path()).unwrap();
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM events"), 10_000);
    assert_eq!(count("SELECT count(*) FROM actor_index"), 10_000);
    assert_eq!(count("SELECT count(*) FROM category_index"), 10_000);
    assert_eq!(count("SELECT count(*) FROM actors"), 7, "each actor once");
    let filter = EventFilter {
        actor: Some("u3".into()),
        ..EventFilter::default()
    };
    assert_eq!(read_all(&a, &filter, 500).await.len(), 4 * 357);
    // Suggestions from the index alone (nothing is waiting to be indexed).
    assert_eq!(a.actors("U", 3).await.unwrap(), ["u0", "u1", "u2"]);
}

#[tokio::test]
async fn a_database_of_another_schema_version_is_refused_at_open() {
    let dir = tempfile::TempDir::new().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    assert!(
        SqliteStore::open(dir.path()).is_ok(),
        "reopening the same version works"
    );
    let conn = open_connection(&dir.path().join(DB_FILE)).unwrap();
    conn.execute_batch("PRAGMA user_version = 99;").unwrap();
    drop(conn);
    let err = SqliteStore::open(dir.path()).err().expect("refused");
    assert!(err.to_string().contains("version 99"), "{err}");
}

#[tokio::test]
async fn a_version_1_database_gets_its_search_index_rebuilt_over_folded_text() {
    let dir = tempfile::TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.append(vec![event(ID, "a", "ᲛᲐᲠᲗᲚᲘ სიტყვა")]).await;
    store.close().await;
    // Make it what version 1 wrote: the tokenizer's own folding over the raw text.
    let conn = open_connection(&dir.path().join(DB_FILE)).unwrap();
    conn.execute_batch(
        "DROP TABLE events_search;
         CREATE VIRTUAL TABLE events_search USING fts5 (message, actor, content = '',
             tokenize = 'trigram case_sensitive 0', detail = none, columnsize = 0);
         INSERT INTO events_search (rowid, message, actor) SELECT seq, message, actor FROM events;
         UPDATE index_state SET indexed_upto = (SELECT max(seq) FROM events);
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);
    let store = SqliteStore::open(dir.path()).unwrap();
    let filter = EventFilter {
        q: Some("მართლი".into()),
        ..EventFilter::default()
    };
    assert_eq!(store.query(&filter, 10, None).await.unwrap().events.len(), 1);
    let conn = open_connection(&dir.path().join(DB_FILE)).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[tokio::test]
async fn a_version_2_database_gets_its_actors_indexed_and_its_events_counted() {
    let dir = tempfile::TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store
        .append(vec![
            event(ID, "Ana", "m1"),
            event(&uuid::Uuid::now_v7().to_string(), "bob", "m2"),
        ])
        .await;
    store.close().await;
    // Make it what version 2 wrote: no actors table, every event in the other indexes.
    let conn = open_connection(&dir.path().join(DB_FILE)).unwrap();
    conn.execute_batch(
        "DROP TABLE actors;
         DROP TABLE type_counts;
         INSERT OR IGNORE INTO actor_index SELECT actor, time_us, id, seq FROM events;
         UPDATE index_state SET indexed_upto = (SELECT max(seq) FROM events);
         PRAGMA user_version = 2;",
    )
    .unwrap();
    drop(conn);
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(
        store.actors("a", 10).await.unwrap(),
        ["Ana"],
        "from the index the upgrade filled"
    );
    assert_eq!(store.actors("B", 10).await.unwrap(), ["bob"]);
    let counts = store
        .counts(&EventFilter::default(), audit_storage::Bucket::Day)
        .await
        .unwrap();
    assert_eq!((counts.total, counts.exact), (2, true), "counted by the upgrade");
    assert_eq!(
        open_connection(&dir.path().join(DB_FILE))
            .unwrap()
            .query_row("SELECT sum(n) FROM type_counts", [], |r| r.get::<_, i64>(0))
            .unwrap(),
        2
    );
    let conn = open_connection(&dir.path().join(DB_FILE)).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_whose_caller_goes_away_is_interrupted() {
    let dir = tempfile::TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let now = chrono::Utc::now();
    for chunk in 0..60 {
        let batch: Vec<NewEvent> = (0..5_000)
            .map(|i| {
                let input = json!({"id": uuid::Uuid::now_v7(), "time": "2026-01-01T00:00:00Z",
                    "actor": format!("user{}", i % 30), "type": "custom.t",
                    "message": format!("a message that does not hold the term, {chunk}/{i}")});
                NewEvent::parse(&input, "", now, "test").unwrap()
            })
            .collect();
        store.append(batch).await;
    }
    // A term too short for the trigram index, found nowhere: a scan of all 300,000 events.
    let filter = EventFilter {
        q: Some("zq".into()),
        ..EventFilter::default()
    };
    let started = std::time::Instant::now();
    let whole = store.query(&filter, 50, None).await.unwrap();
    let scan = started.elapsed();
    assert!(whole.events.is_empty());
    let cut = scan / 4;
    let abandoned = tokio::time::timeout(cut, store.query(&filter, 50, None)).await;
    assert!(abandoned.is_err(), "the caller gave up after {cut:?}");
    let gave_up = std::time::Instant::now();
    while store.reads_in_progress() > 0 && gave_up.elapsed() < scan {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let stopped_after = gave_up.elapsed();
    assert_eq!(store.reads_in_progress(), 0);
    assert!(
        stopped_after < scan / 4,
        "the abandoned scan stopped {stopped_after:?} after its caller left; a whole scan takes {scan:?}"
    );
}

#[tokio::test]
async fn a_position_the_store_did_not_make_is_refused() {
    let dir = tempfile::TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let filter = EventFilter::default();
    for bad in ["", "x", "2026-01-01T00:00:00.000000Z#not-a-uuid", "' OR 1=1 --"] {
        assert!(
            matches!(
                store.query(&filter, 10, Some(bad)).await,
                Err(StoreError::InvalidPosition)
            ),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn search_uses_the_trigram_index_and_folds_non_ascii_case() {
    let dir = tempfile::TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.append(vec![event(ID, "Łukasz", "ÄRGER mit dem Server")]).await;
    for q in ["ärger", "ÄRGER", "łukasz", "mit dem"] {
        let filter = EventFilter {
            q: Some(q.into()),
            ..EventFilter::default()
        };
        assert_eq!(store.query(&filter, 10, None).await.unwrap().events.len(), 1, "{q}");
    }
    let conn = open_connection(store.path()).unwrap();
    let mut explain = conn
        .prepare("EXPLAIN QUERY PLAN SELECT rowid FROM events_search WHERE events_search MATCH 'ärger'")
        .unwrap();
    let plan: Vec<String> = explain
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let plan = plan.join(" | ");
    assert!(plan.contains("VIRTUAL TABLE INDEX"), "{plan}");
}

/// The counts of `GET /counts` against the events a filter lists: from the hourly counts (with
/// the partial hours at the ends and the events not yet counted there) or row by row.
#[tokio::test]
async fn counts_equal_what_the_filters_list_in_every_bucket() {
    use audit_storage::Bucket;
    let dir = tempfile::TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let now = chrono::Utc::now();
    let types = ["auth.login_failed", "auth.logged_in", "custom.t", "sca.analysis_failed"];
    let batch = |from: usize, to: usize| -> Vec<NewEvent> {
        (from..to)
            .map(|i| {
                // Over three days, 7 minutes apart: hours with several events, some with none.
                let time = chrono::DateTime::parse_from_rfc3339("2026-04-01T00:03:00Z").unwrap()
                    + chrono::Duration::minutes(7 * i as i64);
                let ty = types[i % types.len()];
                let mut input = json!({"id": uuid::Uuid::now_v7(), "time": time.to_rfc3339(), "actor": format!("u{}", i % 5),
                    "type": ty, "params": {"username": "x", "project": "p", "sequence": 1, "run_id": "0193aa00-0000-7000-8000-000000000009"}});
                if ty.starts_with("custom") {
                    input["message"] = json!(format!("custom {i}"));
                }
                NewEvent::parse(&input, "", now, "test").unwrap()
            })
            .collect()
    };
    for outcome in store.append(batch(0, 600)).await {
        assert!(matches!(outcome, audit_storage::AppendOutcome::Created), "{outcome:?}");
    }
    for _ in 0..500 {
        if store.index_lag().await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // A few more, which the writer may not have counted yet.
    store.append(batch(600, 640)).await;
    let filters = [
        json!({}),
        json!({"from": "2026-04-01T05:00:00Z", "to": "2026-04-02T05:00:00Z"}),
        json!({"from": "2026-04-01T05:30:00Z", "to": "2026-04-03T07:10:00Z"}),
        json!({"from": "2026-04-02T10:20:00Z", "to": "2026-04-02T10:50:00Z"}),
        json!({"outcome": "failure", "from": "2026-04-01T01:59:00Z", "to": "2026-04-04T00:00:00Z"}),
        json!({"category": "auth", "not_type": "auth.logged_in"}),
        json!({"type": "custom.t", "from": "2026-04-03T00:00:00Z"}),
        json!({"actor": "u3", "from": "2026-04-01T12:15:00Z", "to": "2026-04-02T12:00:00Z"}),
        json!({"not_actor": "u3", "outcome": "success"}),
        json!({"q": "CUSTOM 1"}),
    ];
    for body in filters {
        let filter = EventFilter::from_json(&body).unwrap();
        let listed = read_all(&store, &filter, 500).await;
        // Hours only over a closed period (an open one runs to today: more hours than an answer holds).
        let buckets = if filter.to.is_some() {
            &[Bucket::Hour, Bucket::Day][..]
        } else {
            &[Bucket::Day][..]
        };
        for &bucket in buckets {
            let counts = store.counts(&filter, bucket).await.unwrap();
            assert!(counts.exact, "{body}");
            assert_eq!(counts.total as usize, listed.len(), "{body} {bucket:?}");
            assert_eq!(counts.buckets.iter().sum::<u64>(), counts.total);
            // Each bucket holds the listed events of its time.
            for (i, n) in counts.buckets.iter().enumerate() {
                let lo = counts.start + chrono::Duration::microseconds(bucket.micros() * i as i64);
                let hi = lo + chrono::Duration::microseconds(bucket.micros());
                let want = listed.iter().filter(|e| e.time >= lo && e.time < hi).count();
                assert_eq!(*n as usize, want, "{body} {bucket:?} bucket {i}");
            }
        }
    }
    assert!(!listed_is_empty(&store).await);
}

async fn listed_is_empty(store: &SqliteStore) -> bool {
    read_all(store, &EventFilter::default(), 500).await.is_empty()
}
