//! The admin UI in a real browser: seeds a local server (embedded store), then runs a script of
//! `tests/ui/` — headless Chromium driven by playwright-core — against it.
//! - `journal.mjs` compares every listing the page shows with the API's, exports and downloads
//!   the CSV, opens an event's detail and saves its proof, shows the seal and the failed check's
//!   badge; it saves screenshots at 1280 and 390 px into `target/ui-screenshots`.
//! - `defects.mjs` holds the page to the defects an admin found investigating (issue 16): the
//!   export panel's filters, error states and recovery, loading, expired download links,
//!   history while typing, Enter, focus, dates checked in the page, cards at 390 px, the header.
//! - `investigate.mjs` holds the features an investigation uses: a link to one event, the
//!   keyboard, the auto-refresh, the time zone and ranges to the hour; and runs axe-core over
//!   the journal, the filters, the detail and the export panel at 1280 and 390 px (screenshots of
//!   the detail and the export panel).
//!
//! - `search.mjs` (over the DynamoDB store): a rare search whose pages come back short keeps
//!   going by itself and says how far it has searched; on a slow network it offers to go on.
//!
//! Each fails on any console error. Needs `node`, `tests/ui/node_modules` and Chromium at
//! `/usr/bin/chromium` (or `$CHROMIUM`): `scripts/test` installs them. Without them these tests
//! fail and say what is missing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use audit_local::seed::random_input;
use chrono::Utc;
use integration_tests::{Backend, INGEST_TOKEN, Options, Place, READ_TOKEN, TestApp, spawn_app_on, spawn_app_with};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

/// 300 events of every kind over the last ~20 days, 30 % by `system`, and one admin's 70 key
/// rotations, 6 hours apart: more than a page, some with minutes of duration, all found by the
/// search "signing key". Returns them as sent.
async fn seed(app: &TestApp) -> Vec<Value> {
    let now = Utc::now();
    let mut rng = StdRng::seed_from_u64(6);
    let mut events: Vec<_> = (0..300)
        .map(|k| random_input(&mut rng, now - chrono::Duration::minutes(k * 97 + 3)))
        .collect();
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
    events
}

/// Where the browser tests save their screenshots: `target/ui-screenshots`.
fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .join("target/ui-screenshots")
}

/// Runs `tests/ui/<script>` against `app` with `env`, within five minutes.
async fn run_script(app: &TestApp, script: &str, env: &[(&str, &str)]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
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
    let run = tokio::process::Command::new("node")
        .arg(root.join("ui").join(script))
        .env("AUDIT_URL", &app.base)
        .env("AUDIT_READ_TOKEN", READ_TOKEN)
        .env("AUDIT_INGEST_TOKEN", INGEST_TOKEN)
        .env("CHROMIUM", &chromium)
        .envs(env.iter().copied())
        .kill_on_drop(true)
        .status();
    let status = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the browser test finishes within 5 minutes")
        .expect("node runs (is Node.js installed?)");
    assert!(
        status.success(),
        "the browser test {script} failed (its output is above)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_page_works_in_a_real_browser() {
    let app = spawn_app_on(Backend::Sqlite).await;
    let events = seed(&app).await;
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

    let shots = screenshots();
    let shots_text = shots.to_str().expect("a UTF-8 path");
    run_script(
        &app,
        "journal.mjs",
        &[
            ("AUDIT_UI_ACTOR", "dana.admin"),
            ("AUDIT_UI_SEARCH", "signing key"),
            ("AUDIT_SCREENSHOTS", shots_text),
            ("AUDIT_UI_ALARM", "1"),
        ],
    )
    .await;
    assert!(shots.join("journal-1280.png").is_file() && shots.join("journal-390.png").is_file());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_defects_found_investigating_stay_fixed() {
    // Download links live 4 s here, so the test can click one past its lifetime.
    let link_secs = 4;
    let options = Options {
        link_ttl: chrono::Duration::seconds(link_secs),
        ..Options::default()
    };
    let app = spawn_app_with(Place::new(Backend::Sqlite).await, options).await;
    seed(&app).await;
    // A 3,700-character message (a reconciliation report pasted whole).
    let long =
        "Ledger reconciliation finished with differences: ".to_owned() + &"account 4711 off by 0.01; ".repeat(140);
    app.ingest_all(&[json!({
        "id": uuid::Uuid::new_v4(),
        "time": event_model::time::format(&(Utc::now() - chrono::Duration::seconds(30))),
        "actor": "system",
        "type": "custom.reconciliation",
        "message": long,
    })])
    .await;
    run_script(&app, "defects.mjs", &[("AUDIT_UI_LINK_SECS", &link_secs.to_string())]).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_an_investigation_uses_works() {
    let app = spawn_app_on(Backend::Sqlite).await;
    seed(&app).await;
    let shots = screenshots();
    run_script(
        &app,
        "investigate.mjs",
        &[("AUDIT_SCREENSHOTS", shots.to_str().expect("a UTF-8 path"))],
    )
    .await;
    assert!(shots.join("detail-390.png").is_file() && shots.join("export-1280.png").is_file());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rare_search_on_dynamodb_keeps_going_by_itself() {
    // 40 days of events and a word only on the oldest day: each page of the search reads a
    // bounded number of day partitions and comes back short.
    let app = spawn_app_on(Backend::DynamoDb).await;
    let now = Utc::now();
    let mut events: Vec<Value> = (0..1_200i64)
        .map(|k| {
            json!({
                "time": event_model::time::format(&(now - chrono::Duration::minutes(k * 48 + 7))),
                "actor": "system",
                "type": "custom.move",
                "message": format!("Moved granite block {k}"),
            })
        })
        .collect();
    for minutes in [40 * 1440 - 30, 40 * 1440 - 300] {
        events.push(json!({
            "time": event_model::time::format(&(now - chrono::Duration::minutes(minutes))),
            "actor": "lena.live",
            "type": "custom.find",
            "message": "Found obsidian under the floor",
        }));
    }
    app.ingest_all(&events).await;
    run_script(&app, "search.mjs", &[("AUDIT_UI_RARE", "obsidian")]).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_sign_in_with_a_real_openid_provider_and_their_reads_are_theirs() {
    use tokio::io::AsyncBufReadExt;
    const AUDIENCE: &str = "urn:audit-log";
    // The provider's port, chosen first: the server must know its issuer, and the provider the
    // server's page (its only redirect URI).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let issuer = format!("http://127.0.0.1:{port}");
    let options = Options {
        oidc: Some(audit_local::OidcConfig {
            settings: audit_api::jwt::JwtSettings {
                issuer: issuer.clone(),
                audience: AUDIENCE.into(),
                role_claim: "groups".into(),
                read_value: "audit-readers".into(),
            },
            jwks_url: None,
            sign_in: Some(audit_local::SignIn {
                issuer: issuer.clone(),
                client_id: "audit-ui".into(),
                scopes: "openid profile email".into(),
            }),
        }),
        ..Options::default()
    };
    let app = spawn_app_with(Place::new(Backend::Sqlite).await, options).await;
    seed(&app).await;
    let mut provider = tokio::process::Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/provider.mjs"))
        .env("PROVIDER_PORT", port.to_string())
        .env("AUDIT_UI_URL", format!("{}/", app.base))
        .env("AUDIT_AUDIENCE", AUDIENCE)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs the OpenID provider");
    let mut lines = tokio::io::BufReader::new(provider.stdout.take().expect("its output")).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("its output") {
            if line.starts_with("provider: ready") {
                return true;
            }
        }
        false
    });
    assert!(
        ready.await.unwrap_or(false),
        "the OpenID provider started (is `npm ci --prefix tests/ui` done?)"
    );
    run_script(&app, "signin.mjs", &[("AUDIT_OIDC_ISSUER", &issuer)]).await;
    provider.kill().await.expect("the provider stops");
    app.stop().await;
}
