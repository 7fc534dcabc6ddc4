//! A newcomer's first start: the real `audit-local` binary, in an empty folder, with no options and
//! no environment (no `AUDIT_*`, no `RUST_LOG`) and a umask of 000, serves on the default
//! address, prints two tokens, and with them an event is recorded, read back and exported; the
//! data folder and every file in it are private (0700 / 0600) all the same.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// Kills the server when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The token printed on the line that starts with `label`.
fn token_after(lines: &[String], label: &str) -> String {
    lines
        .iter()
        .find(|l| l.trim_start().starts_with(label))
        .and_then(|l| l.split_whitespace().last())
        .filter(|t| t.starts_with("aud_"))
        .unwrap_or_else(|| panic!("no {label} line in {lines:#?}"))
        .to_owned()
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_first_command_of_the_readme_works_in_an_empty_folder() {
    let folder = tempfile::TempDir::new().unwrap();
    // `sh` sets the umask that a careless shell might have, then becomes the server.
    let mut child = Command::new("/bin/sh")
        .args(["-c", "umask 000; exec \"$0\" serve", env!("CARGO_BIN_EXE_audit-local")])
        .current_dir(folder.path())
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _server = Running(child);
    // The announcement ends with the read token's line; keep reading stdout afterwards so the
    // server never blocks on a full pipe.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        let mut shown = Vec::new();
        for line in lines.by_ref() {
            let last = line.trim_start().starts_with("read token");
            shown.push(line);
            if last {
                break;
            }
        }
        let _ = tx.send(shown);
        lines.for_each(drop);
    });
    let lines = tokio::time::timeout(Duration::from_secs(60), rx)
        .await
        .expect("the tokens are printed at first start (the default address, 127.0.0.1:8080, must be free)")
        .unwrap();
    let ingest = token_after(&lines, "ingest token");
    let read = token_after(&lines, "read token");

    let base = "http://127.0.0.1:8080";
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..1_000 {
        if client
            .get(format!("{base}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(up, "the server answers on the default address");

    let json =
        |request: reqwest::RequestBuilder| async move { request.send().await.unwrap().json::<Value>().await.unwrap() };
    let sent = json(
        client
            .post(format!("{base}/events"))
            .bearer_auth(&ingest)
            .json(&json!({"actor": "newcomer", "type": "custom.first", "message": "my first event"})),
    )
    .await;
    assert_eq!(sent["results"][0]["status"], "created", "{sent}");
    let page = json(client.get(format!("{base}/events?actor=newcomer")).bearer_auth(&read)).await;
    assert_eq!(page["events"][0]["message"], "my first event", "{page}");

    let export = json(
        client
            .post(format!("{base}/exports"))
            .bearer_auth(&read)
            .json(&json!({"actor": "newcomer"})),
    )
    .await;
    let status_url = format!("{base}{}", export["status_url"].as_str().expect("an export job"));
    let mut finished = Value::Null;
    for _ in 0..500 {
        let job = json(client.get(&status_url).bearer_auth(&read)).await;
        if job["status"] == "succeeded" || job["status"] == "failed" {
            finished = job;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(finished["status"], "succeeded", "{finished}");

    #[cfg(unix)]
    {
        let data = folder.path().join("audit-data");
        assert_eq!(mode(&data), 0o700, "the data folder");
        let mut seen = 0;
        let mut folders = vec![data];
        while let Some(dir) = folders.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    assert_eq!(mode(&path), 0o700, "{}", path.display());
                    folders.push(path);
                } else {
                    // Archive files and digests are written once and left read-only.
                    let relative = path.strip_prefix(folder.path()).unwrap().to_string_lossy().into_owned();
                    let sealed = relative.contains("/archive/dt=") || relative.contains("/digests/");
                    assert_eq!(mode(&path), if sealed { 0o400 } else { 0o600 }, "{}", path.display());
                    seen += 1;
                }
            }
        }
        // signing.key, integrity-key.pem, tokens, audit.db with its WAL and shared memory, the export's CSV.
        assert!(seen >= 6, "{seen} files checked");
    }
}
