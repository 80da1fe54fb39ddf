//! The master key and envelope encryption of every secret pushgate keeps at rest
//! (API key secrets, private keys, p12 passwords).
//!
//! Sealed format: `0x01 ‖ nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16)`. The owning
//! record's SID is the associated data, so a ciphertext moved to another row fails to open.

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};

use crate::domain::random_bytes;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Why a master key could not be loaded or a sealed value opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("master key must be base64 encoding exactly 32 bytes")]
    BadMasterKey,
    #[error("master key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("a sealed secret could not be opened (wrong master key, or tampered data)")]
    Open,
    #[error("encryption failed: {0}")]
    Seal(#[from] openssl::error::ErrorStack),
}

/// The 256-bit key every stored secret is encrypted with. Never printed.
#[derive(Clone)]
pub struct MasterKey(Box<[u8; 32]>);

impl MasterKey {
    /// A new random key.
    pub fn generate() -> Self {
        Self(Box::new(random_bytes()))
    }

    /// Decodes a base64 key of exactly 32 bytes.
    pub fn from_base64(encoded: &str) -> Result<Self, SecretsError> {
        let bytes = B64
            .decode(encoded.trim())
            .map_err(|_| SecretsError::BadMasterKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretsError::BadMasterKey)?;
        Ok(Self(Box::new(key)))
    }

    /// The key as base64, for writing the key file.
    pub fn to_base64(&self) -> String {
        B64.encode(self.0.as_slice())
    }

    /// Loads the key from `path`, or generates it there (mode 0600) if the file is absent.
    pub fn load_or_create(path: &Path) -> Result<Self, SecretsError> {
        let io = |source| SecretsError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => return Self::from_base64(&text),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            Err(_) => {}
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let key = Self::generate();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                file.write_all(key.to_base64().as_bytes()).map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok(key)
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::from_base64(&std::fs::read_to_string(path).map_err(io)?)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Encrypts `plaintext`, binding it to `owner` (the record's SID).
    pub fn seal(&self, plaintext: &[u8], owner: &str) -> Result<Vec<u8>, SecretsError> {
        let nonce: [u8; NONCE_LEN] = random_bytes();
        let mut tag = [0u8; TAG_LEN];
        let ciphertext = encrypt_aead(
            Cipher::aes_256_gcm(),
            self.0.as_slice(),
            Some(&nonce),
            owner.as_bytes(),
            plaintext,
            &mut tag,
        )?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len() + TAG_LEN);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Decrypts a value sealed for `owner`.
    pub fn open(&self, sealed: &[u8], owner: &str) -> Result<Vec<u8>, SecretsError> {
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != VERSION {
            return Err(SecretsError::Open);
        }
        let (nonce, rest) = sealed[1..].split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        decrypt_aead(
            Cipher::aes_256_gcm(),
            self.0.as_slice(),
            Some(nonce),
            owner.as_bytes(),
            ciphertext,
            tag,
        )
        .map_err(|_| SecretsError::Open)
    }

    /// A 256-bit key for `purpose`, derived from the master key (HMAC-SHA256), so each use
    /// of key material has its own key.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        let derived = openssl::pkey::PKey::hmac(self.0.as_slice())
            .and_then(|key| {
                let mut signer =
                    openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key)?;
                signer.update(purpose.as_bytes())?;
                signer.sign_to_vec()
            })
            .expect("HMAC-SHA256 with a 32-byte key cannot fail");
        out.copy_from_slice(&derived);
        out
    }

    /// Decrypts a sealed UTF-8 secret.
    pub fn open_string(
        &self,
        sealed: &[u8],
        owner: &str,
    ) -> Result<secrecy::SecretString, SecretsError> {
        let bytes = self.open(sealed, owner)?;
        let text = String::from_utf8(bytes).map_err(|_| SecretsError::Open)?;
        Ok(secrecy::SecretString::from(text))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_bound_to_owner() {
        let key = MasterKey::generate();
        let sealed = key.seal(b"top secret", "SK1").unwrap();
        assert!(!sealed.windows(10).any(|w| w == b"top secret"));
        assert_eq!(key.open(&sealed, "SK1").unwrap(), b"top secret");
        assert!(key.open(&sealed, "SK2").is_err(), "owner is bound");
        assert!(MasterKey::generate().open(&sealed, "SK1").is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.open(&tampered, "SK1").is_err());
    }

    #[test]
    fn key_file_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/master.key");
        let a = MasterKey::load_or_create(&path).unwrap();
        let b = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(a.to_base64(), b.to_base64());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!format!("{a:?}").contains(&a.to_base64()));
    }

    #[test]
    fn rejects_short_keys() {
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(MasterKey::from_base64("not base64!").is_err());
    }
}
