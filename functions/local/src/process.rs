//! The real `audit-local` binary as a child process on 127.0.0.1, for the tests that need the
//! process itself (crashes, logs) and for the benchmarks: started on a free port with given
//! tokens, data folder and environment, ready once `/health` answers, and stopped when dropped
//! (SIGTERM, so it drains and flushes its logs; SIGKILL if it has not gone after 5 s).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How the child's standard output and error are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Thrown away.
    Discard,
    /// Piped, for the caller to read from `child`.
    Piped,
}

pub struct ServerProcess {
    pub child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl ServerProcess {
    /// Starts `bin serve` over `data_dir` with `AUDIT_TOKENS` set to `tokens` (hashed entries)
    /// and `env` on top, and waits (up to 60 s) until `/health` answers 200.
    pub async fn start(
        bin: &Path,
        data_dir: &Path,
        tokens: &str,
        env: &[(String, String)],
        output: Output,
    ) -> anyhow::Result<ServerProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let pipe = || match output {
            Output::Discard => Stdio::null(),
            Output::Piped => Stdio::piped(),
        };
        let child = Command::new(bin)
            .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(data_dir)
            .env("AUDIT_TOKENS", tokens)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(pipe())
            .stderr(pipe())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let server = ServerProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..3_000 {
            if healthy(port).await {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!("{} did not answer /health within 60 s", bin.display())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the process to end (SIGKILL after 5 s).
    pub fn stop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

/// Whether `GET /health` on `port` answers 200 (one HTTP/1.1 exchange over a plain socket).
async fn healthy(port: u16) -> bool {
    let exchange = async {
        let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        socket
            .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await?;
        let mut head = [0u8; 12];
        socket.read_exact(&mut head).await?;
        std::io::Result::Ok(head.starts_with(b"HTTP/1.1 200"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), exchange).await,
        Ok(Ok(true))
    )
}
