//! A slow or stuck client cannot tie the server up: unfinished headers are cut off, a body that
//! never arrives gets 408, and other clients are served meanwhile.

use std::time::Duration;

use crate::harness::{INGEST_TOKEN, Options, new_place, spawn_app_with};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn app_with_short_timeouts() -> crate::harness::TestApp {
    let options = Options {
        header_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(300),
        ..Options::default()
    };
    spawn_app_with(new_place().await, options).await
}

/// Reads until the server closes the connection (or 5 s pass); returns what it sent.
async fn read_until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read_all).await.ok()?;
    Some(String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let app = app_with_short_timeouts().await;
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    // Others are served while it dawdles.
    assert_eq!(app.get("/health", None).await.status(), StatusCode::OK);
    let sent = read_until_closed(&mut slow)
        .await
        .expect("the server closes the connection");
    assert!(!sent.contains("200 OK"), "{sent}");
}

#[tokio::test]
async fn a_body_that_never_arrives_gets_408_and_stores_nothing() {
    let app = app_with_short_timeouts().await;
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {INGEST_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"actor\": \"a\", "
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let sent = read_until_closed(&mut slow)
        .await
        .expect("the server answers and closes");
    assert!(sent.starts_with("HTTP/1.1 408"), "{sent}");
    assert!(
        sent.contains("application/problem+json") && sent.contains("request-timeout"),
        "{sent}"
    );
    assert_eq!(app.count().await, 0);
}
