//! The storage contract (`audit_storage`'s traits), checked against a store directly, without
//! HTTP: `tests/tests/store_contract.rs` runs it over the embedded store and over DynamoDB and S3.
//! Each check fails with what the store did instead.

use audit_storage::{AppendOutcome, EventStore, ExportJob, ExportJobStore, ExportObjects, ExportStatus};
use chrono::{Duration, Utc};
use event_model::{Event, EventFilter, NewEvent};
use serde_json::json;
use uuid::Uuid;

/// Appends: created once, a retry of the same content a duplicate, other content under a taken
/// id a conflict; a stored event reads back exactly; nothing is ever overwritten.
pub async fn appends(store: &dyn EventStore) {
    let now = Utc::now();
    let id = Uuid::now_v7();
    let event = |actor: &str| {
        NewEvent::parse(
            &json!({"id": id, "actor": actor, "type": "custom.contract", "message": "m", "time": "2026-03-01T10:00:00Z"}),
            "",
            now,
            "contract",
        )
        .unwrap()
    };
    let outcomes = store
        .append(vec![event("alice"), event("alice"), event("mallory")])
        .await;
    let kinds: Vec<&str> = outcomes
        .iter()
        .map(|o| match o {
            AppendOutcome::Created => "created",
            AppendOutcome::Duplicate => "duplicate",
            AppendOutcome::Conflict => "conflict",
            AppendOutcome::Failed(_) => "failed",
        })
        .collect();
    assert_eq!(kinds, ["created", "duplicate", "conflict"]);
    let stored = store.get(id).await.unwrap().expect("the event is stored");
    assert_eq!(
        stored,
        event("alice").event,
        "read back exactly, the first content kept"
    );
    assert_eq!(store.get(Uuid::now_v7()).await.unwrap(), None);
}

/// Username suggestions: the actors that start with a prefix whatever its case (folded as `q`
/// is, Greek final sigma included), sorted by their folded form and then as written, each once.
pub async fn actors(store: &dyn EventStore) {
    let now = Utc::now();
    let names = ["ωmega", "Ωmega", "ΩMEGA.ops", "Ωx", "ΟΔΟΣ", "οδοσ-b", "ωmega"];
    let events: Vec<NewEvent> = names
        .iter()
        .map(|actor| NewEvent::parse(&json!({"actor": actor, "type": "auth.logged_in"}), "", now, "contract").unwrap())
        .collect();
    for outcome in store.append(events).await {
        assert!(matches!(outcome, AppendOutcome::Created), "{outcome:?}");
    }
    for (prefix, limit, want) in [
        ("ωM", 10, &["Ωmega", "ωmega", "ΩMEGA.ops"][..]),
        ("ΩMEGA", 2, &["Ωmega", "ωmega"][..]),
        ("ΩMEGA.", 10, &["ΩMEGA.ops"][..]),
        ("οδος", 10, &["ΟΔΟΣ", "οδοσ-b"][..]),
        ("Ωx", 10, &["Ωx"][..]),
        ("Ωz", 10, &[][..]),
    ] {
        assert_eq!(
            store.actors(prefix, limit).await.unwrap(),
            want,
            "prefix {prefix}, limit {limit}"
        );
    }
}

/// Pages (over an empty store): every event under a filter exactly once, in its order, whatever
/// the page size; the JSON and CSV pages hold what `query` holds, with the same positions.
pub async fn pages(store: &dyn EventStore) {
    pages_written_by(&[store], store).await
}

/// [`pages`], the events written by each of `writers` in turn (a store before and after a
/// layout change, say) and read through `store`.
pub async fn pages_written_by(writers: &[&dyn EventStore], store: &dyn EventStore) {
    let now = Utc::now();
    let events: Vec<NewEvent> = (0..120)
        .map(|i| {
            let actor = ["alice", "bob", "system"][i % 3];
            // Many share an instant, so order within one rests on the id.
            let time = format!("2026-03-0{}T10:00:{:02}Z", 1 + i % 3, i % 7);
            // Every fourth a catalog type whose outcome is a success (for `outcome`, `not_type`).
            let body = if i % 4 == 3 {
                json!({"actor": actor, "type": "auth.logged_in", "time": time})
            } else {
                json!({"actor": actor, "type": "custom.contract", "message": format!("event {i}"), "time": time})
            };
            NewEvent::parse(&body, "", now, "contract").unwrap()
        })
        .collect();
    let share = events.len().div_ceil(writers.len());
    for (writer, part) in writers.iter().zip(events.chunks(share)) {
        for outcome in writer.append(part.to_vec()).await {
            assert!(matches!(outcome, AppendOutcome::Created), "{outcome:?}");
        }
    }
    let all: Vec<Event> = events.into_iter().map(|e| e.event).collect();
    for query in [
        json!({}),
        json!({"order": "asc"}),
        json!({"actor": "bob"}),
        json!({"q": "EVENT 1"}),
        json!({"from": "2026-03-02", "to": "2026-03-02", "order": "asc"}),
        json!({"type": "custom.contract", "category": "auth"}),
        json!({"not_actor": "system"}),
        json!({"not_type": "auth.logged_in", "order": "asc"}),
        json!({"outcome": "success", "not_actor": "bob"}),
        json!({"outcome": "info", "actor": "bob"}),
        json!({"outcome": "failure"}),
    ] {
        let filter = EventFilter::from_json(&query).unwrap();
        let mut want: Vec<&Event> = all.iter().filter(|e| filter.matches(e)).collect();
        want.sort_by_key(|e| e.time_id());
        if filter.order == event_model::Order::Desc {
            want.reverse();
        }
        let contradictory = query == json!({"outcome": "failure"}) || query.get("category").is_some();
        assert_eq!(
            want.is_empty(),
            contradictory,
            "{query}: the test's events are chosen to match"
        );
        for limit in [1, 7, 50, 500] {
            let (mut got, mut after) = (Vec::new(), None::<String>);
            loop {
                let page = store.query(&filter, limit, after.as_deref()).await.unwrap();
                assert!(page.events.len() <= limit);
                let json = store
                    .json_page(&filter, limit, after.as_deref(), Vec::new())
                    .await
                    .unwrap();
                let written: Vec<Event> = serde_json::from_slice(&json.json).unwrap();
                assert_eq!(written, page.events, "{query} limit {limit}: the JSON page is the page");
                assert_eq!(json.next, page.next, "{query} limit {limit}");
                let csv = store
                    .csv_page(&filter, limit, after.as_deref(), Vec::new())
                    .await
                    .unwrap();
                assert_eq!(csv.rows as usize, page.events.len(), "{query} limit {limit}: CSV rows");
                assert_eq!(csv.next, page.next, "{query} limit {limit}");
                got.extend(page.events);
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            let got: Vec<String> = got.iter().map(Event::time_id).collect();
            let want: Vec<String> = want.iter().map(|e| e.time_id()).collect();
            assert_eq!(got, want, "{query} in pages of {limit}");
        }
    }
    let bad = store.query(&EventFilter::default(), 10, Some("not a position")).await;
    assert!(bad.is_err(), "a position the store did not make is refused");
}

/// Export jobs: created and read back; only an unfinished job is updated; unfinished jobs are
/// listed; at most `limit` slots per token, concurrent claims included, freed by release.
pub async fn jobs(store: &dyn ExportJobStore) {
    let now = Utc::now();
    let token = format!("contract-{}", Uuid::new_v4().simple());
    let mut job = ExportJob::new(EventFilter::default(), &token, now);
    store.create_job(&job).await.unwrap();
    assert_eq!(store.get_job(job.id).await.unwrap().as_ref(), Some(&job));
    assert!(store.unfinished_jobs().await.unwrap().iter().any(|j| j.id == job.id));
    job.status = ExportStatus::Running;
    job.rows = 10;
    assert!(store.update_job(&job).await.unwrap(), "an unfinished job is updated");
    job.succeed(100, now);
    assert!(store.update_job(&job).await.unwrap());
    let mut late = job.clone();
    late.fail("too late", now);
    assert!(
        !store.update_job(&late).await.unwrap(),
        "a finished job is never changed"
    );
    assert_eq!(
        store.get_job(job.id).await.unwrap().unwrap().status,
        ExportStatus::Succeeded
    );
    assert!(!store.unfinished_jobs().await.unwrap().iter().any(|j| j.id == job.id));

    // A caller's recent jobs, newest first; nobody else's.
    let mut mine = vec![job.id];
    for _ in 0..3 {
        let newer = ExportJob {
            format: audit_storage::ExportFormat::Ndjson,
            ..ExportJob::new(EventFilter::default(), &token, now)
        };
        store.create_job(&newer).await.unwrap();
        mine.push(newer.id);
    }
    let other = ExportJob::new(EventFilter::default(), &format!("{token}-other"), now);
    store.create_job(&other).await.unwrap();
    mine.reverse();
    let recent: Vec<Uuid> = store
        .recent_jobs(&token, 10)
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(recent, mine, "every job of the caller, newest first");
    let two = store.recent_jobs(&token, 2).await.unwrap();
    assert_eq!(two.iter().map(|j| j.id).collect::<Vec<_>>(), mine[..2]);
    assert_eq!(
        two[0].format,
        audit_storage::ExportFormat::Ndjson,
        "read back with its format"
    );
    assert_eq!(store.recent_jobs(&format!("{token}-other"), 10).await.unwrap(), [other]);

    let until = now + Duration::minutes(5);
    let claims: Vec<Uuid> = (0..12).map(|_| Uuid::new_v4()).collect();
    let taken =
        futures_util::future::join_all(claims.iter().map(|id| store.claim_slot(&token, *id, 3, now, until))).await;
    let held: Vec<Uuid> = claims
        .iter()
        .zip(taken)
        .filter_map(|(id, t)| t.unwrap().then_some(*id))
        .collect();
    assert_eq!(held.len(), 3, "twelve concurrent claims take exactly three slots");
    store.release_slot(&token, held[0]).await.unwrap();
    assert!(
        store.claim_slot(&token, Uuid::new_v4(), 3, now, until).await.unwrap(),
        "a released slot is free"
    );
    assert!(!store.claim_slot(&token, Uuid::new_v4(), 3, now, until).await.unwrap());
    let later = until + Duration::seconds(1);
    assert!(
        store
            .claim_slot(&token, Uuid::new_v4(), 3, later, later + Duration::minutes(5))
            .await
            .unwrap(),
        "a slot whose lease has passed is free again"
    );
}

/// Export objects: a finished object has its size and a link with its expiry that downloads it;
/// an aborted one leaves nothing. `fetch` downloads a link's URL (a local link needs the server
/// that serves it).
pub async fn objects<F, Fut>(objects: &dyn ExportObjects, fetch: F)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = (reqwest::StatusCode, Vec<u8>)>,
{
    let key = format!("exports/contract-{}.csv", Uuid::new_v4());
    let mut upload = objects.start(&key).await.unwrap();
    for chunk in [b"a,b\r\n".to_vec(), vec![b'x'; 100_000], b"\r\n".to_vec()] {
        upload.write(chunk).await.unwrap();
    }
    assert_eq!(upload.finish().await.unwrap(), 100_007);
    let link = objects.download_link(&key, "contract.csv").await.unwrap();
    assert!(link.expires_at > Utc::now());
    let (status, body) = fetch(link.url).await;
    assert_eq!(
        (status.as_u16(), body.len()),
        (200, 100_007),
        "the link downloads the object"
    );

    let gone = format!("exports/contract-{}.csv", Uuid::new_v4());
    let mut aborted = objects.start(&gone).await.unwrap();
    aborted.write(b"half".to_vec()).await.unwrap();
    aborted.abort().await;
    let link = objects.download_link(&gone, "gone.csv").await.unwrap();
    let (status, _) = fetch(link.url).await;
    assert!(status.is_client_error(), "an aborted object is not there: {status}");
}
