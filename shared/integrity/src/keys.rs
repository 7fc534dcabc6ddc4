//! The keys digests are signed with, and the one way to check a signature.
//!
//! - The local server signs with Ed25519 (RFC 8032); its private key is a PKCS#8 PEM file in the
//!   data folder (0600), so `openssl pkey` reads it.
//! - On AWS a KMS key signs (`ECC_NIST_P256`, `ECDSA_SHA_256`, `MessageType=RAW`): the private key
//!   never leaves KMS, and its signatures are DER-encoded ECDSA over SHA-256 of the message.
//!
//! Either public key travels as a PEM SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`, what
//! `openssl pkey -pubout` and KMS `GetPublicKey` give), and is named by its fingerprint: the
//! SHA-256 of its DER, in hex.

use async_trait::async_trait;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use sha2::{Digest as _, Sha256};

/// A signature algorithm a digest may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    #[serde(rename = "Ed25519")]
    Ed25519,
    /// ECDSA on P-256 over SHA-256 of the message (KMS `ECDSA_SHA_256`), DER signatures.
    #[serde(rename = "ECDSA_P256_SHA256")]
    EcdsaP256Sha256,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not a PEM or DER public key of Ed25519 or P-256")]
    UnknownPublicKey,
    #[error("not a PKCS#8 Ed25519 private key")]
    BadPrivateKey,
    #[error("the signer failed: {0}")]
    Signer(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A public key that checks digest signatures.
#[derive(Clone)]
pub struct PublicKey {
    algorithm: Algorithm,
    der: Vec<u8>,
    key: Verifying,
}

#[derive(Clone)]
enum Verifying {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({:?}, {})", self.algorithm, self.fingerprint())
    }
}

impl PublicKey {
    /// Reads a SubjectPublicKeyInfo in DER (what KMS `GetPublicKey` returns).
    pub fn from_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey {
                algorithm: Algorithm::Ed25519,
                der: der.to_vec(),
                key: Verifying::Ed25519(key),
            });
        }
        if let Ok(key) = <p256::ecdsa::VerifyingKey as p256::pkcs8::DecodePublicKey>::from_public_key_der(der) {
            return Ok(PublicKey {
                algorithm: Algorithm::EcdsaP256Sha256,
                der: der.to_vec(),
                key: Verifying::P256(key),
            });
        }
        Err(KeyError::UnknownPublicKey)
    }

    /// Reads a PEM `PUBLIC KEY`.
    pub fn from_pem(text: &str) -> Result<PublicKey, KeyError> {
        let (label, der) =
            ed25519_dalek::pkcs8::Document::from_pem(text.trim()).map_err(|_| KeyError::UnknownPublicKey)?;
        if label != "PUBLIC KEY" {
            return Err(KeyError::UnknownPublicKey);
        }
        PublicKey::from_der(der.as_bytes())
    }

    pub fn to_pem(&self) -> String {
        match &self.key {
            Verifying::Ed25519(k) => k.to_public_key_pem(LineEnding::LF).expect("an Ed25519 key encodes"),
            Verifying::P256(k) => {
                p256::pkcs8::EncodePublicKey::to_public_key_pem(k, LineEnding::LF).expect("a P-256 key encodes")
            }
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// `SHA-256` of the key's DER, in hex.
    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(&self.der))
    }

    /// Whether `signature` is this key's over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.key {
            Verifying::Ed25519(k) => {
                ed25519_dalek::Signature::from_slice(signature).is_ok_and(|s| k.verify_strict(message, &s).is_ok())
            }
            Verifying::P256(k) => {
                use p256::ecdsa::signature::Verifier;
                let Ok(s) = p256::ecdsa::Signature::from_der(signature) else {
                    return false;
                };
                // KMS may return either of an ECDSA signature's two valid forms.
                let s = s.normalize_s().unwrap_or(s);
                k.verify(message, &s).is_ok()
            }
        }
    }
}

/// What signs digests: the local key, or KMS on AWS.
#[async_trait]
pub trait Signer: Send + Sync {
    fn public_key(&self) -> &PublicKey;
    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;
}

/// The local server's Ed25519 key.
pub struct Ed25519Signer {
    key: ed25519_dalek::SigningKey,
    public: PublicKey,
}

impl Ed25519Signer {
    /// A key from 32 secret bytes (make them with a CSPRNG).
    pub fn from_secret(secret: &[u8; 32]) -> Ed25519Signer {
        let key = ed25519_dalek::SigningKey::from_bytes(secret);
        let der = key
            .verifying_key()
            .to_public_key_der()
            .expect("an Ed25519 key encodes")
            .into_vec();
        let public = PublicKey {
            algorithm: Algorithm::Ed25519,
            der,
            key: Verifying::Ed25519(key.verifying_key()),
        };
        Ed25519Signer { key, public }
    }

    /// Reads a PKCS#8 PEM private key.
    pub fn from_pkcs8_pem(text: &str) -> Result<Ed25519Signer, KeyError> {
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(text.trim()).map_err(|_| KeyError::BadPrivateKey)?;
        Ok(Ed25519Signer::from_secret(&key.to_bytes()))
    }

    /// The private key as PKCS#8 PEM (to be kept private).
    pub fn to_pkcs8_pem(&self) -> String {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .expect("an Ed25519 key encodes")
            .to_string()
    }

    pub fn sign_now(&self, message: &[u8]) -> Vec<u8> {
        use ed25519_dalek::Signer as _;
        self.key.sign(message).to_bytes().to_vec()
    }
}

#[async_trait]
impl Signer for Ed25519Signer {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        Ok(self.sign_now(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ed25519_key_signs_what_its_public_pem_verifies_and_nothing_else() {
        let signer = Ed25519Signer::from_secret(&[7u8; 32]);
        let again = Ed25519Signer::from_pkcs8_pem(&signer.to_pkcs8_pem()).unwrap();
        assert_eq!(again.public_key().fingerprint(), signer.public_key().fingerprint());
        let public = PublicKey::from_pem(&signer.public_key().to_pem()).unwrap();
        assert_eq!(public.algorithm(), Algorithm::Ed25519);
        let signature = signer.sign_now(b"period end\npath\nhash\nnull");
        assert!(public.verify(b"period end\npath\nhash\nnull", &signature));
        assert!(!public.verify(b"period end\npath\nhash\nnul", &signature));
        let other = Ed25519Signer::from_secret(&[8u8; 32]);
        assert!(!other.public_key().verify(b"period end\npath\nhash\nnull", &signature));
        assert!(!public.verify(b"x", b"not a signature"));
    }

    #[test]
    fn a_p256_key_verifies_der_ecdsa_signatures_over_sha_256_as_kms_makes_them() {
        use p256::ecdsa::signature::Signer as _;
        let secret = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
        let der = p256::pkcs8::EncodePublicKey::to_public_key_der(secret.verifying_key()).unwrap();
        let public = PublicKey::from_der(der.as_bytes()).unwrap();
        assert_eq!(public.algorithm(), Algorithm::EcdsaP256Sha256);
        let signature: p256::ecdsa::Signature = secret.sign(b"message");
        let der_signature = signature.to_der();
        assert!(public.verify(b"message", der_signature.as_bytes()));
        assert!(!public.verify(b"massage", der_signature.as_bytes()));
        assert!(PublicKey::from_pem(&public.to_pem()).is_ok());
        assert!(PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_err());
    }
}
