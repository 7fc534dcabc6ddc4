//! The embedded store's archive and seals against someone with the data folder: each change
//! behind the API is found and named by `verify`, each in its own test; proofs hold offline for
//! untouched events and fail for changed ones.

use std::path::Path;
use std::sync::Arc;

use audit_integrity::verify::{NoStore, Problem, Range, Report, verify};
use audit_integrity::{Ed25519Signer, Proof, Signer};
use audit_storage::{AppendOutcome, EventStore};
use audit_store_sqlite::sealing::SEAL_GRACE;
use audit_store_sqlite::{FolderArchive, Sealer, SqliteStore, StoreAgainstArchive};
use chrono::{Duration, Utc};
use event_model::NewEvent;
use serde_json::json;

struct Sealed {
    dir: tempfile::TempDir,
    store: SqliteStore,
    sealer: Sealer,
    key: Arc<Ed25519Signer>,
    /// Every event id, in the order appended.
    ids: Vec<uuid::Uuid>,
    /// The digests' paths, oldest first.
    digests: Vec<String>,
}

/// Three periods (of 3, 0 and 2 events), each sealed.
async fn sealed_store() -> Sealed {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let key = Arc::new(Ed25519Signer::from_secret(&[3u8; 32]));
    let sealer = Sealer::new(store.clone(), dir.path(), key.clone());
    let mut sealed = Sealed {
        dir,
        store,
        sealer,
        key,
        ids: Vec::new(),
        digests: Vec::new(),
    };
    for events in [3, 0, 2] {
        for _ in 0..events {
            let id = sealed.append(Utc::now()).await;
            sealed.ids.push(id);
        }
        sealed.digests.push(sealed.sealer.seal().await.unwrap().digest.path());
    }
    sealed
}

impl Sealed {
    async fn append(&self, received: chrono::DateTime<Utc>) -> uuid::Uuid {
        let n = self.ids.len();
        let input = json!({"actor": format!("user{n}"), "type": "custom.deploy", "message": format!("Deployed release {n}"),
                           "params": {"release": n, "notes": "ok"}});
        let event = NewEvent::parse(&input, "", received, "ci").unwrap();
        let id = event.event.id;
        let outcome = self.store.append(vec![event]).await;
        assert!(matches!(outcome[0], AppendOutcome::Created));
        id
    }

    async fn verify(&self) -> Report {
        self.verify_at(Utc::now()).await
    }

    /// `verify` as it would run at `now`, with a one-minute seal interval.
    async fn verify_at(&self, now: chrono::DateTime<Utc>) -> Report {
        let head = self.store.seal_state().await.unwrap().head.map(|(link, _)| link);
        let delay = Duration::minutes(1) + SEAL_GRACE;
        let mut check = StoreAgainstArchive::new(self.store.clone(), Range::default(), now, delay, SEAL_GRACE);
        let archive = FolderArchive::new(self.dir.path());
        verify(
            &archive,
            self.key.public_key(),
            Range::default(),
            head.as_ref(),
            &mut check,
        )
        .await
        .unwrap()
    }

    fn sql(&self, sql: &str) {
        let conn = rusqlite::Connection::open(self.dir.path().join("audit.db")).unwrap();
        conn.execute_batch(sql).unwrap();
    }

    /// The archive file the first period's events are in.
    fn first_file(&self) -> std::path::PathBuf {
        let folder = std::fs::read_dir(self.dir.path().join("archive")).unwrap();
        let day = folder.map(|e| e.unwrap().path()).find(|p| p.is_dir()).unwrap();
        let mut files: Vec<_> = std::fs::read_dir(day).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        files.remove(0)
    }

    fn path(&self, relative: &str) -> std::path::PathBuf {
        self.dir.path().join(relative)
    }
}

fn only(report: &Report) -> &Problem {
    assert_eq!(report.problems.len(), 1, "{:#?}", report.problems);
    &report.problems[0]
}

fn writable(path: &Path) {
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

#[tokio::test]
async fn an_untouched_log_verifies_with_the_store_and_offline_and_its_proofs_hold() {
    let s = sealed_store().await;
    let report = s.verify().await;
    assert!(report.holds(), "{:#?}", report.problems);
    assert_eq!((report.digests, report.files, report.events), (3, 2, 5));
    let offline = verify(
        &FolderArchive::new(s.dir.path()),
        s.key.public_key(),
        Range::default(),
        None,
        &mut NoStore,
    )
    .await
    .unwrap();
    assert!(offline.holds(), "{:#?}", offline.problems);

    // The proof travels as JSON and is checked with the public key's PEM alone.
    let proof = s.sealer.proof(s.ids[4]).await.unwrap();
    let text = serde_json::to_string(&proof).unwrap();
    let key = audit_integrity::PublicKey::from_pem(&s.key.public_key().to_pem()).unwrap();
    let proven = serde_json::from_str::<Proof>(&text).unwrap().check(&key).unwrap();
    assert_eq!(proven.id, s.ids[4].to_string());
    assert_eq!(proven.digest_path, s.digests[2]);
    let other = Ed25519Signer::from_secret(&[4u8; 32]);
    assert!(
        proof.check(other.public_key()).is_err(),
        "another key does not check it"
    );
    let mut edited = proof.clone();
    edited.event["message"] = json!("Deployed nothing");
    assert_eq!(
        edited.check(&key).unwrap_err(),
        audit_integrity::proof::ProofError::EventChanged
    );
}

#[tokio::test]
async fn an_event_changed_in_the_database_is_named_and_its_proof_fails() {
    let s = sealed_store().await;
    s.sql(&format!(
        "DROP TRIGGER events_no_update; UPDATE events SET message = 'Nothing was deployed' WHERE id = x'{}';",
        hex(&s.ids[1])
    ));
    let report = s.verify().await;
    assert!(matches!(only(&report), Problem::EventChanged { id, .. } if *id == s.ids[1].to_string()));
    let proof = s.sealer.proof(s.ids[1]).await.unwrap();
    assert!(proof.check(s.key.public_key()).is_err());
    assert!(
        s.sealer
            .proof(s.ids[0])
            .await
            .unwrap()
            .check(s.key.public_key())
            .is_ok()
    );
}

/// `verify` first compares each stored event as the store spells it with the archived line, and
/// only where they differ in canonical form: numbers that JSON and JCS spell differently (`2.0`,
/// `1e21`, `-0.0`) are no problem, nor the same params respelled behind the API; a change next to
/// them is still named.
#[tokio::test]
async fn params_spelled_otherwise_than_the_canonical_form_verify_and_a_change_beside_them_is_named() {
    let s = sealed_store().await;
    let mut ids = Vec::new();
    for params in [
        json!({"ratio": 2.0, "big": 1e21, "small": 1.5e-7, "labels": ["\u{e000}\u{1f600}", 2.50, -0.0]}),
        json!({"notes": "ok", "release": 7}),
    ] {
        let input = json!({"actor": "anna", "type": "custom.deploy", "message": "Deployed", "params": params});
        let event = NewEvent::parse(&input, "", Utc::now(), "ci").unwrap();
        ids.push(event.event.id);
        assert!(matches!(s.store.append(vec![event]).await[0], AppendOutcome::Created));
    }
    s.sealer.seal().await.unwrap();
    let report = s.verify().await;
    assert!(report.holds(), "{:#?}", report.problems);
    assert_eq!(report.events, 7);

    s.sql(&format!(
        "DROP TRIGGER events_no_update;
         UPDATE events SET params = '{{ \"release\" : 7.0, \"notes\" : \"ok\" }}' WHERE id = x'{}';",
        hex(&ids[1])
    ));
    let report = s.verify().await;
    assert!(
        report.holds(),
        "the same params, spelled otherwise: {:#?}",
        report.problems
    );

    s.sql(&format!(
        "UPDATE events SET actor = 'mallory' WHERE id = x'{}';",
        hex(&ids[1])
    ));
    let report = s.verify().await;
    assert!(matches!(only(&report), Problem::EventChanged { id, .. } if *id == ids[1].to_string()));
}

#[tokio::test]
async fn an_event_deleted_from_the_database_is_named() {
    let s = sealed_store().await;
    s.sql(&format!(
        "DROP TRIGGER events_no_delete; DELETE FROM events WHERE id = x'{}';",
        hex(&s.ids[3])
    ));
    let report = s.verify().await;
    assert!(matches!(only(&report), Problem::EventRemoved { id, .. } if *id == s.ids[3].to_string()));
}

#[tokio::test]
async fn an_event_inserted_behind_the_api_into_a_sealed_period_is_named() {
    let s = sealed_store().await;
    let received = event_model::time::format(&(Utc::now() - Duration::minutes(10)));
    s.sql(&format!(
        "INSERT INTO events (id, time_us, actor, category, type, message, params, source, received_at, fingerprint)
         VALUES (x'0193a5b27c4e7d1a9f000000000000aa', 1, 'mallory', 'custom', 'custom.deploy', 'Deployed', '{{}}', 'ci', '{received}', 'x');"
    ));
    let report = s.verify().await;
    assert!(
        matches!(only(&report), Problem::EventAdded { id, .. } if id == "0193a5b2-7c4e-7d1a-9f00-0000000000aa"),
        "{:#?}",
        report.problems
    );
}

#[tokio::test]
async fn a_changed_byte_of_an_archive_file_is_named() {
    let s = sealed_store().await;
    let file = s.first_file();
    writable(&file);
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
    let report = s.verify().await;
    assert!(
        matches!(only(&report), Problem::FileChanged { file: f, .. } if file.ends_with(f)),
        "{:#?}",
        report.problems
    );
}

#[tokio::test]
async fn a_removed_archive_file_is_named() {
    let s = sealed_store().await;
    let file = s.first_file();
    std::fs::remove_file(&file).unwrap();
    let report = s.verify().await;
    assert!(
        matches!(only(&report), Problem::FileMissing { file: f, .. } if file.ends_with(f)),
        "{:#?}",
        report.problems
    );
}

#[tokio::test]
async fn a_digest_removed_from_the_middle_of_the_chain_is_named() {
    let s = sealed_store().await;
    std::fs::remove_file(s.path(&s.digests[1])).unwrap();
    let report = s.verify().await;
    assert!(
        matches!(only(&report), Problem::DigestMissing { expected, .. } if *expected == s.digests[1]),
        "{:#?}",
        report.problems
    );
}

#[tokio::test]
async fn the_newest_digest_removed_is_named_and_its_events_are_uncovered() {
    let s = sealed_store().await;
    std::fs::remove_file(s.path(&s.digests[2])).unwrap();
    // Ten minutes later: the seal delay (a minute and the grace) has passed for its events.
    let report = s.verify_at(Utc::now() + Duration::minutes(10)).await;
    assert!(report.problems.contains(&Problem::NewestDigestMissing {
        expected: s.digests[2].clone()
    }));
    for id in &s.ids[3..] {
        assert!(
            report
                .problems
                .iter()
                .any(|p| matches!(p, Problem::EventUnsealed { id: named, .. } if *named == id.to_string())),
            "{id} uncovered: {:#?}",
            report.problems
        );
    }
    assert_eq!(report.problems.len(), 3, "{:#?}", report.problems);
}

#[tokio::test]
async fn a_digest_signed_again_with_another_key_is_named() {
    let s = sealed_store().await;
    let path = s.path(&s.digests[0]);
    let mut signed = audit_integrity::SignedDigest::from_bytes(&std::fs::read(&path).unwrap()).unwrap();
    let other = Ed25519Signer::from_secret(&[5u8; 32]);
    signed.digest.key_fingerprint = other.public_key().fingerprint();
    let resigned = signed.digest.sign(&other).await.unwrap();
    writable(&path);
    std::fs::write(&path, resigned.to_bytes()).unwrap();
    let report = s.verify().await;
    assert!(
        report.problems.contains(&Problem::BadSignature {
            digest: s.digests[0].clone()
        }),
        "{:#?}",
        report.problems
    );
}

#[tokio::test]
async fn an_empty_period_is_sealed_and_periods_are_contiguous() {
    let s = sealed_store().await;
    let archive = FolderArchive::new(s.dir.path());
    let mut ends = Vec::new();
    for path in &s.digests {
        let bytes = audit_integrity::Archive::read(&archive, path).await.unwrap().unwrap();
        let signed = audit_integrity::SignedDigest::from_bytes(&bytes).unwrap();
        if let Some(end) = ends.last() {
            assert_eq!(signed.digest.period_start, *end);
        }
        ends.push(signed.digest.period_end);
        if *path == s.digests[1] {
            assert_eq!((signed.digest.events, signed.digest.files.len()), (0, 0));
            assert_eq!(
                signed.digest.merkle_root,
                hex::encode(audit_integrity::merkle::empty_root())
            );
        }
    }
}

#[tokio::test]
async fn an_event_archived_but_not_yet_sealed_has_no_proof_and_is_not_a_problem() {
    let s = sealed_store().await;
    let id = s.append(Utc::now()).await;
    assert_eq!(s.sealer.archive_now().await.unwrap(), 1);
    assert!(matches!(
        s.sealer.proof(id).await,
        Err(audit_store_sqlite::sealing::NoProof::NotSealedYet)
    ));
    let report = s.verify().await;
    assert!(report.holds(), "{:#?}", report.problems);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("1 archive files are in no digest yet")),
        "{:?}",
        report.notes
    );
}

fn hex(id: &uuid::Uuid) -> String {
    hex::encode(id.as_bytes())
}

#[tokio::test]
async fn a_file_written_but_never_recorded_before_a_crash_is_replaced_at_the_next_start() {
    let s = sealed_store().await;
    let upto = s.store.seal_state().await.unwrap().archived_upto;
    // What a crash between the rename and the record leaves: a file of the next events.
    let today = event_model::time::format(&Utc::now());
    let orphan = format!(
        "archive/dt={}/{:020}-{:020}.ndjson.gz",
        &today[..10],
        upto + 1,
        upto + 2
    );
    std::fs::create_dir_all(s.dir.path().join(&orphan).parent().unwrap()).unwrap();
    std::fs::write(s.dir.path().join(&orphan), b"half of something").unwrap();
    s.append(Utc::now()).await;
    // The next process: its first archiving removes the orphan, then archives the events again.
    let restarted = Sealer::new(s.store.clone(), s.dir.path(), s.key.clone());
    assert_eq!(restarted.archive_now().await.unwrap(), 1);
    assert!(!s.dir.path().join(&orphan).exists(), "the orphan is gone");
    restarted.seal().await.unwrap();
    let report = s.verify().await;
    assert!(report.holds(), "{:?}", report.problems);
}

#[tokio::test]
async fn a_seal_finishes_while_events_keep_arriving() {
    let s = Arc::new(sealed_store().await);
    let writer = {
        let s = s.clone();
        tokio::spawn(async move {
            loop {
                s.append(Utc::now()).await;
            }
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // Archiving takes what is stored when it starts: it does not chase the newest events.
    let sealed = tokio::time::timeout(std::time::Duration::from_secs(20), s.sealer.seal()).await;
    writer.abort();
    assert!(sealed.expect("the seal finished under a steady ingest").is_ok());
}
