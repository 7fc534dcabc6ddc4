//! The data folder's secrets: the key that signs cursors and download links, the key that signs
//! the archive's digests, and the token
//! hashes generated at first start when no tokens are configured. Both files are created with
//! mode 0600; the tokens themselves are shown once and never stored.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use audit_api::{TokenSet, Tokens, hash_token};
use audit_store_sqlite::private;
use rand::RngCore;

const KEY_FILE: &str = "signing.key";
/// The Ed25519 key that signs the archive's digests (PKCS#8 PEM).
const INTEGRITY_KEY_FILE: &str = "integrity-key.pem";
const TOKENS_FILE: &str = "tokens";

/// The data folder's signing key, made at first start.
pub fn signing_key(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => hex::decode(text.trim()).with_context(|| format!("{} is not hex", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = vec![0u8; 32];
            rand::rng().fill_bytes(&mut key);
            write_private(&path, &hex::encode(&key))?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The data folder's digest-signing key, made at first start.
pub fn integrity_key(data_dir: &Path) -> anyhow::Result<audit_integrity::Ed25519Signer> {
    let path = data_dir.join(INTEGRITY_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => audit_integrity::Ed25519Signer::from_pkcs8_pem(&text)
            .with_context(|| format!("{} is not an Ed25519 private key", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = [0u8; 32];
            rand::rng().fill_bytes(&mut secret);
            let signer = audit_integrity::Ed25519Signer::from_secret(&secret);
            write_private(&path, &signer.to_pkcs8_pem())?;
            Ok(signer)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Tokens made at first start.
pub struct GeneratedTokens {
    pub ingest: String,
    pub read: String,
}

impl GeneratedTokens {
    /// The one-time message that shows them.
    pub fn announcement(&self, data_dir: &Path) -> String {
        format!(
            "No tokens were configured, so two were generated. They are shown only this once; their hashes are in {}.\n  ingest token (POST /events):             {}\n  read token (GET /events, /exports, ...): {}",
            data_dir.join(TOKENS_FILE).display(),
            self.ingest,
            self.read
        )
    }
}

/// How often the tokens file is read again (at a request): a token taken out of it stops working
/// within this, the others go on; SIGHUP makes the next request read it at once.
pub const TOKENS_FILE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The data folder's tokens file, read again as it changes.
struct TokensFile(std::path::PathBuf);

#[async_trait::async_trait]
impl audit_api::TokenSource for TokensFile {
    async fn load(&self) -> anyhow::Result<String> {
        tokio::fs::read_to_string(&self.0)
            .await
            .with_context(|| format!("reading {}", self.0.display()))
    }
}

/// The tokens: from `configured` (`AUDIT_TOKENS`, fixed) if given, else from the data folder's
/// tokens file (read again as it changes, [`TOKENS_FILE_EVERY`]), else generated now (one
/// `ingest` and one `read` token) with their hashes saved in that file.
pub fn tokens(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<(Tokens, Option<GeneratedTokens>)> {
    if let Some(config) = configured.filter(|c| !c.trim().is_empty()) {
        return Ok((Tokens::fixed(TokenSet::parse(config).context("AUDIT_TOKENS")?), None));
    }
    let path = data_dir.join(TOKENS_FILE);
    let from_file = |text: String| -> anyhow::Result<Tokens> {
        let set = TokenSet::parse(&text).with_context(|| format!("parsing {}", path.display()))?;
        Ok(Tokens::reloaded(
            set,
            text,
            Box::new(TokensFile(path.clone())),
            TOKENS_FILE_EVERY,
        ))
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok((from_file(text)?, None)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let generated = GeneratedTokens {
                ingest: new_token(),
                read: new_token(),
            };
            let entries = format!(
                "local-ingest:ingest:{}\nlocal-read:read:{}\n",
                hash_token(&generated.ingest),
                hash_token(&generated.read)
            );
            write_private(&path, &entries)?;
            Ok((from_file(entries)?, Some(generated)))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// A new random token: `aud_` and 256 random bits in hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("aud_{}", hex::encode(bytes))
}

/// Writes a new file `0600` in the data folder, creating the folder (`0700`) if needed.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        private::create_dir(dir).with_context(|| format!("creating the data folder {}", dir.display()))?;
    }
    let mut file = private::file_options()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    private::restrict(path)?;
    Ok(())
}
