//! The admin UI in a real browser: seeds a local server (embedded store), then runs
//! `tests/ui/journal.mjs` — headless Chromium driven by playwright-core — against it. The script
//! compares every listing the page shows with the API's, exports and downloads the CSV, opens an
//! event's detail and saves its proof, shows the seal and the failed check's badge, and fails on any
//! console error; it saves screenshots at 1280 and 390 px into
//! `target/ui-screenshots`.
//!
//! Needs `node`, `tests/ui/node_modules` and Chromium at `/usr/bin/chromium` (or `$CHROMIUM`):
//! `scripts/test` installs them. Without them this test fails and says what is missing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use audit_local::seed::random_input;
use chrono::Utc;
use integration_tests::{Backend, INGEST_TOKEN, READ_TOKEN, spawn_app_on};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_page_works_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("ui/journal.mjs");
    assert!(
        root.join("ui/node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci --prefix tests/ui` (scripts/test does)"
    );
    let chromium = std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        chromium.exists(),
        "no Chromium at {}: install Debian's `chromium` package (scripts/test does) or set CHROMIUM",
        chromium.display()
    );

    let app = spawn_app_on(Backend::Sqlite).await;
    let now = Utc::now();
    let mut rng = StdRng::seed_from_u64(6);
    // 300 events of every kind over the last ~20 days, 30 % by `system`...
    let mut events: Vec<_> = (0..300)
        .map(|k| random_input(&mut rng, now - chrono::Duration::minutes(k * 97 + 3)))
        .collect();
    // ...and one admin's 70 key rotations, 6 hours apart: more than a page, some with minutes of
    // duration, all found by the search "signing key".
    events.extend((0..70).map(|k| {
        json!({
            "id": uuid::Uuid::new_v4(),
            "time": event_model::time::format(&(now - chrono::Duration::hours(k * 6 + 1))),
            "actor": "dana.admin",
            "type": "custom.key_rotation",
            "message": format!("Rotated signing key #{k}"),
            "duration_ms": 92_000 + k * 1000,
            "params": {"key": format!("k-{k}"), "reason": "scheduled"},
        })
    }));
    app.ingest_all(&events).await;
    // Sealed, then one event changed behind the API and the log checked: the header's badge.
    let changed = events[1]["id"].as_str().expect("an id").replace('-', "");
    let dir = app.data_path();
    let key = audit_local::secrets::integrity_key(dir).expect("the integrity key");
    let store = audit_store_sqlite::SqliteStore::open(dir).expect("the store");
    let sealer = audit_store_sqlite::Sealer::new(store, dir, std::sync::Arc::new(key));
    sealer.seal().await.expect("sealed");
    rusqlite::Connection::open(dir.join("audit.db"))
        .expect("the database")
        .execute_batch(&format!(
            "DROP TRIGGER events_no_update; UPDATE events SET message = message || '!' WHERE id = x'{changed}';"
        ))
        .expect("changed behind the API");
    let report = audit_local::integrity::check(&sealer, Default::default(), Duration::from_secs(3600))
        .await
        .expect("checked");
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);

    let shots = root.parent().expect("workspace").join("target/ui-screenshots");
    let run = tokio::process::Command::new("node")
        .arg(&script)
        .env("AUDIT_URL", &app.base)
        .env("AUDIT_READ_TOKEN", READ_TOKEN)
        .env("AUDIT_INGEST_TOKEN", INGEST_TOKEN)
        .env("AUDIT_UI_ACTOR", "dana.admin")
        .env("AUDIT_UI_SEARCH", "signing key")
        .env("AUDIT_SCREENSHOTS", &shots)
        .env("AUDIT_UI_ALARM", "1")
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true)
        .status();
    let status = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the browser test finishes within 5 minutes")
        .expect("node runs (is Node.js installed?)");
    assert!(status.success(), "the browser test failed (its output is above)");
    assert!(shots.join("journal-1280.png").is_file() && shots.join("journal-390.png").is_file());
    app.stop().await;
}
