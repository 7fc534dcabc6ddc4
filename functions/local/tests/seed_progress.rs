//! `audit-local seed` shows its progress (events written, rate, time left) on a terminal, and
//! prints nothing but its summary when its output is not a terminal. The terminal is a real
//! pseudo-terminal, from util-linux's `script`.

use std::process::Command;

const EVENTS: &str = "150000";

#[test]
fn seed_shows_progress_on_a_terminal_only() {
    let bin = env!("CARGO_BIN_EXE_audit-local");
    let piped_dir = tempfile::TempDir::new().unwrap();
    let piped = Command::new(bin)
        .args(["seed", "--events", EVENTS, "--data-dir"])
        .arg(piped_dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(piped.status.success());
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(!stderr.contains("seeding:"), "no progress into a pipe: {stderr}");
    let stdout = String::from_utf8_lossy(&piped.stdout);
    assert!(stdout.starts_with(&format!("seeded {EVENTS} events")), "{stdout}");

    let tty_dir = tempfile::TempDir::new().unwrap();
    let command = format!(
        "RUST_LOG=warn {bin} seed --events {EVENTS} --data-dir {}",
        tty_dir.path().display()
    );
    let on_terminal = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .expect("util-linux script");
    assert!(on_terminal.status.success());
    let shown = String::from_utf8_lossy(&on_terminal.stdout);
    assert!(shown.contains("seeding: "), "{shown}");
    assert!(shown.contains("events/s") && shown.contains("s left"), "{shown}");
    assert!(shown.contains(&format!("seeded {EVENTS} events")), "{shown}");
}
