use std::collections::HashSet;

use crate::harness::{READ_TOKEN, custom, spawn_app, urlencode};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

fn sort_key(e: &Value) -> (String, String) {
    (
        e["time"].as_str().unwrap().to_owned(),
        e["id"].as_str().unwrap().to_owned(),
    )
}

fn ids(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn paging_over_1200_events_sharing_timestamps_has_no_gaps_or_repeats_in_both_orders() {
    let app = spawn_app().await;
    let times = ["2026-02-01T10:00:00Z", "2026-02-01T10:00:00.5Z", "2026-02-02T00:00:00Z"];
    let events: Vec<Value> = (0..1200)
        .map(|i| custom(Uuid::new_v4(), times[i % 3], "alice", &format!("same-time {i}")))
        .collect();
    app.ingest_all(&events).await;
    let sent: HashSet<String> = events.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();

    for (order, limit) in [("desc", 7), ("asc", 7), ("desc", 500), ("asc", 1)] {
        let got = app.list_all(&format!("order={order}&limit={limit}")).await;
        assert_eq!(got.len(), 1200, "order={order} limit={limit}");
        let unique: HashSet<String> = ids(&got).into_iter().map(str::to_owned).collect();
        assert_eq!(unique, sent, "order={order} limit={limit}");
        let keys: Vec<_> = got.iter().map(sort_key).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        if order == "desc" {
            sorted.reverse();
        }
        assert_eq!(keys, sorted, "order={order} limit={limit}");
    }
}

#[tokio::test]
async fn a_page_carries_a_link_header_and_the_last_page_a_null_cursor() {
    let app = spawn_app().await;
    let events: Vec<Value> = (0..5)
        .map(|i| custom(Uuid::new_v4(), "2026-02-01T10:00:00Z", "bob", &format!("m{i}")))
        .collect();
    app.ingest_all(&events).await;
    let response = app.get("/events?limit=2&actor=bob", Some(READ_TOKEN)).await;
    let link = response.headers()["link"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let cursor = body["next_cursor"].as_str().unwrap();
    assert_eq!(
        link,
        format!("</events?limit=2&actor=bob&cursor={}>; rel=\"next\"", urlencode(cursor))
    );
    let last = app.page("limit=5&actor=bob").await;
    assert_eq!(last["events"].as_array().unwrap().len(), 5);
    assert!(last["next_cursor"].is_null());
}

/// Events over five days, four actors, several categories and searchable words.
fn dataset() -> Vec<Value> {
    let actors = ["alice", "bob", "Zoë", "system"];
    let mut events = Vec::new();
    for i in 0..400usize {
        let day = 1 + i % 5;
        let time = format!(
            "2026-03-0{day}T{:02}:{:02}:{:02}.{:06}Z",
            i % 24,
            i % 60,
            (i * 7) % 60,
            i * 13
        );
        let actor = actors[i % 4];
        let event = match i % 5 {
            0 => json!({"type": "auth.logged_in"}),
            1 => {
                json!({"type": "auth.login_failed", "params": {"username": if i % 2 == 0 { "ÄRGER-admin" } else { "root" }}})
            }
            2 => json!({"type": "sca.analysis_started", "duration_ms": i,
                        "params": {"project": format!("proj-{}", i % 7), "sequence": i, "run_id": Uuid::new_v4()}}),
            3 => json!({"type": "object.deleted", "params": {"instance": format!("<Policy: 100% \"quoted\" {i}>")}}),
            _ => json!({"type": "custom.note", "message": format!("Note {i}: budget review")}),
        };
        let mut event = event;
        event["id"] = json!(Uuid::new_v4());
        event["time"] = json!(time);
        event["actor"] = json!(actor);
        events.push(event);
    }
    events
}

/// The test's own statement of each filter, independent of the server's code.
fn expected(all: &[Value], pred: impl Fn(&Value) -> bool, asc: bool) -> Vec<Value> {
    let mut out: Vec<Value> = all.iter().filter(|e| pred(e)).cloned().collect();
    out.sort_by_key(sort_key);
    if !asc {
        out.reverse();
    }
    out
}

fn s<'a>(e: &'a Value, field: &str) -> &'a str {
    e[field].as_str().unwrap()
}

#[tokio::test]
async fn every_filter_alone_and_combined_returns_exactly_the_matching_events() {
    let app = spawn_app().await;
    app.ingest_all(&dataset()).await;
    let all = app.list_all("limit=500").await;
    assert_eq!(all.len(), 400);

    type Pred = Box<dyn Fn(&Value) -> bool>;
    let cases: Vec<(&str, Pred)> = vec![
        ("from=2026-03-02", Box::new(|e| s(e, "time") >= "2026-03-02")),
        ("to=2026-03-03", Box::new(|e| s(e, "time") < "2026-03-04")),
        (
            "to=2026-03-03T12:00:00Z",
            Box::new(|e| s(e, "time") < "2026-03-03T12:00:00.000000Z"),
        ),
        (
            "from=2026-03-02T05:00:00%2B02:00&to=2026-03-04",
            Box::new(|e| s(e, "time") >= "2026-03-02T03:00:00.000000Z" && s(e, "time") < "2026-03-05"),
        ),
        (
            "from=2026-03-03&to=2026-03-03",
            Box::new(|e| s(e, "time").starts_with("2026-03-03")),
        ),
        ("actor=bob", Box::new(|e| s(e, "actor") == "bob")),
        ("actor=Zo%C3%AB", Box::new(|e| s(e, "actor") == "Zoë")),
        ("actor=zoë", Box::new(|_| false)),
        ("category=auth", Box::new(|e| s(e, "category") == "auth")),
        (
            "category=custom,sca",
            Box::new(|e| ["custom", "sca"].contains(&s(e, "category"))),
        ),
        (
            "type=auth.login_failed",
            Box::new(|e| s(e, "type") == "auth.login_failed"),
        ),
        (
            "type=auth.login_failed,object.deleted",
            Box::new(|e| ["auth.login_failed", "object.deleted"].contains(&s(e, "type"))),
        ),
        ("type=auth.login_failed&category=sca", Box::new(|_| false)),
        ("q=%C3%A4rger", Box::new(|e| s(e, "message").contains("ÄRGER"))),
        (
            "q=FAILED",
            Box::new(|e| s(e, "message").to_lowercase().contains("failed")),
        ),
        ("q=ZO%C3%8B", Box::new(|e| s(e, "actor") == "Zoë")),
        (
            "q=li",
            Box::new(|e| s(e, "actor").contains("li") || s(e, "message").to_lowercase().contains("li")),
        ),
        (
            "q=100%25%20%22quoted%22",
            Box::new(|e| s(e, "message").contains("100% \"quoted\"")),
        ),
        ("q=%22%20OR%20*", Box::new(|_| false)),
        ("q=proj-3%5D", Box::new(|e| s(e, "message").contains("proj-3]"))),
        (
            "actor=alice&category=auth&from=2026-03-02&to=2026-03-04",
            Box::new(|e| {
                s(e, "actor") == "alice"
                    && s(e, "category") == "auth"
                    && s(e, "time") >= "2026-03-02"
                    && s(e, "time") < "2026-03-05"
            }),
        ),
        (
            "actor=system&q=budget&type=custom.note",
            Box::new(|e| {
                s(e, "actor") == "system" && s(e, "message").contains("budget") && s(e, "type") == "custom.note"
            }),
        ),
        (
            "category=sca&q=proj-2&from=2026-03-03",
            Box::new(|e| {
                s(e, "category") == "sca" && s(e, "message").contains("proj-2") && s(e, "time") >= "2026-03-03"
            }),
        ),
    ];
    for (query, pred) in &cases {
        for (order, asc) in [("desc", false), ("asc", true)] {
            let want = expected(&all, pred, asc);
            let got = app.list_all(&format!("{query}&order={order}&limit=13")).await;
            assert_eq!(ids(&got), ids(&want), "{query}&order={order}");
        }
    }
    // Non-trivial cases really select something.
    assert!(!expected(&all, |e| s(e, "message").contains("ÄRGER"), false).is_empty());
}

#[tokio::test]
async fn a_common_search_term_pages_to_the_same_answer_as_a_rare_one() {
    // More matches than the trigram index path takes (5,000), so `q` walks the time index.
    let app = spawn_app().await;
    let events: Vec<Value> = (0..5200)
        .map(|i| {
            custom(
                Uuid::new_v4(),
                &format!("2026-04-01T00:{:02}:{:02}Z", (i / 60) % 60, i % 60),
                "ci",
                &format!("Common Term #{i:05}"),
            )
        })
        .collect();
    app.ingest_all(&events).await;
    let common = app.list_all("q=common%20term&limit=500").await;
    assert_eq!(common.len(), 5200);
    let keys: Vec<_> = common.iter().map(sort_key).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(keys, sorted);
    let rare = app.list_all("q=TERM%20%2304999").await;
    assert_eq!(rare.len(), 1);
    assert_eq!(rare[0]["message"], "Common Term #04999");
}

#[tokio::test]
async fn a_cursor_is_refused_when_tampered_or_reused_with_other_filters() {
    let app = spawn_app().await;
    let events: Vec<Value> = (0..5)
        .map(|i| custom(Uuid::new_v4(), "2026-02-01T10:00:00Z", "bob", &format!("m{i}")))
        .collect();
    app.ingest_all(&events).await;
    let page = app.page("limit=2").await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();

    let other_filter = app
        .get(
            &format!("/events?limit=2&actor=bob&cursor={}", urlencode(&cursor)),
            Some(READ_TOKEN),
        )
        .await;
    assert_eq!(other_filter.status(), StatusCode::BAD_REQUEST);
    let body: Value = other_filter.json().await.unwrap();
    assert_eq!(body["type"], "urn:audit-log:problem:invalid-cursor");

    let other_order = app
        .get(
            &format!("/events?limit=2&order=asc&cursor={}", urlencode(&cursor)),
            Some(READ_TOKEN),
        )
        .await;
    assert_eq!(other_order.status(), StatusCode::BAD_REQUEST);

    // A different limit is not another filter: the cursor still works.
    let bigger = app
        .get(
            &format!("/events?limit=3&cursor={}", urlencode(&cursor)),
            Some(READ_TOKEN),
        )
        .await;
    assert_eq!(bigger.status(), StatusCode::OK);

    let mut tampered = cursor.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for bad in [tampered.as_str(), "x", &cursor[..cursor.len() - 2], "eyJ9.eyJ9"] {
        let response = app
            .get(&format!("/events?limit=2&cursor={}", urlencode(bad)), Some(READ_TOKEN))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "cursor {bad}");
    }
}

#[tokio::test]
async fn search_folds_greek_final_sigma_and_georgian_mtavruli_on_every_store() {
    let app = spawn_app().await;
    let events = [
        custom(uuid::Uuid::new_v4(), "2026-05-01T10:00:00Z", "nikos", "ΟΔΟΣΑ ΚΛΕΙΣΤΗ"),
        custom(uuid::Uuid::new_v4(), "2026-05-01T10:00:01Z", "nino", "ᲛᲐᲠᲗᲚᲘ ᲡᲘᲢᲧᲕᲐ"),
    ];
    app.ingest_all(&events).await;
    for (q, want) in [("ΟΔΟΣ", 1), ("οδοσα", 1), ("მართლი", 1), ("ᲡᲘᲢᲧᲕᲐ", 1)] {
        let found = app.list_all(&format!("q={}", crate::harness::urlencode(q))).await;
        assert_eq!(found.len(), want, "q={q}");
    }
}

#[tokio::test]
async fn usernames_are_suggested_by_prefix_whatever_its_case_and_the_actor_filter_stays_exact() {
    let app = spawn_app().await;
    let events = [
        custom(Uuid::new_v4(), "2026-05-01T10:00:00Z", "Marta.Kowalska", "one"),
        custom(Uuid::new_v4(), "2026-05-01T10:00:01Z", "marta.nowak", "two"),
        custom(Uuid::new_v4(), "2026-05-01T10:00:02Z", "martin", "three"),
        custom(Uuid::new_v4(), "2026-05-01T10:00:03Z", "marta.nowak", "four"),
    ];
    app.ingest_all(&events).await;
    let suggest = |query: &'static str| {
        let app = &app;
        async move {
            let response = app.get(&format!("/actors?{query}"), Some(READ_TOKEN)).await;
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = suggest("prefix=MARTA").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"actors": ["Marta.Kowalska", "marta.nowak"]}));
    let (_, body) = suggest("prefix=mar&limit=2").await;
    assert_eq!(body["actors"], json!(["Marta.Kowalska", "marta.nowak"]));
    let (_, body) = suggest("prefix=mart&limit=50").await;
    assert_eq!(body["actors"].as_array().unwrap().len(), 3);
    let (_, body) = suggest("prefix=zz").await;
    assert_eq!(body["actors"], json!([]));
    for bad in [
        "",
        "prefix=",
        "prefix=a&limit=0",
        "prefix=a&limit=51",
        "prefix=a&user=b",
        "prefix=%07",
    ] {
        let (status, body) = suggest(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    // The filter is exact: `marta` is nobody.
    assert_eq!(app.list_all("actor=marta").await.len(), 0);
    assert_eq!(app.list_all("actor=marta.nowak").await.len(), 2);
}

#[tokio::test]
async fn counts_match_the_listing_in_total_and_per_bucket() {
    let app = spawn_app().await;
    let events: Vec<Value> = (0..30)
        .map(|i| {
            custom(
                Uuid::new_v4(),
                &format!("2026-06-0{}T{:02}:{:02}:00Z", 1 + i % 3, 8 + i % 5, i),
                if i % 2 == 0 { "counted.even" } else { "counted.odd" },
                &format!("counted {i}"),
            )
        })
        .collect();
    app.ingest_all(&events).await;
    let get = |query: String| {
        let app = &app;
        async move {
            let response = app.get(&format!("/counts?{query}"), Some(READ_TOKEN)).await;
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let period = "from=2026-06-01T00:00:00Z&to=2026-06-04T00:00:00Z";
    let (status, body) = get(format!("{period}&bucket=day")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 30);
    assert_eq!(body["exact"], true);
    assert_eq!(body["bucket"], "day");
    let days: Vec<u64> = body["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .collect();
    assert_eq!(days, [10, 10, 10]);
    assert_eq!(body["buckets"][1]["start"], "2026-06-02T00:00:00.000000Z");
    for filters in [
        format!("{period}&actor=counted.even"),
        format!("{period}&not_actor=counted.even&q=COUNTED%202"),
        "from=2026-06-01T08:30:00Z&to=2026-06-02T10:00:00Z".to_owned(),
    ] {
        let (status, body) = get(format!("{filters}&bucket=hour")).await;
        assert_eq!(status, StatusCode::OK, "{filters}: {body}");
        let listed = app.list_all(&filters).await;
        assert_eq!(body["total"].as_u64().unwrap() as usize, listed.len(), "{filters}");
        let per_bucket: u64 = body["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["count"].as_u64().unwrap())
            .sum();
        assert_eq!(per_bucket, body["total"].as_u64().unwrap());
    }
    for bad in [
        "bucket=week",
        "limit=5",
        "cursor=x",
        "from=2020-01-01&bucket=hour",
        "user=x",
    ] {
        let (status, body) = get(bad.to_owned()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}
