//! The master keyring and envelope encryption of every secret pushgate keeps at rest
//! (API key secrets, private keys, p12 passwords).
//!
//! Sealed format v2: `0x02 ‖ key id (8) ‖ nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16)`,
//! with `0x02 ‖ key id ‖ owner` as associated data. The key id is the first 8 bytes of
//! SHA-256 over a key derived from the master key (never the key itself), so a value names
//! the key that opens it. Version 1 (`0x01 ‖ nonce ‖ ciphertext ‖ tag`, owner as associated
//! data) has no key id: it is still opened, by trying every key of the ring.
//!
//! A [`MasterKey`] is a keyring: the *current* key seals, the current and any *previous* keys
//! open (and verify what was derived from them, e.g. bridge tokens). That is what lets a key
//! rotation roll through replicas without a failed request (README, "Master key and rotation").
//! The owning record's SID is always bound, so a ciphertext moved to another row fails to open.

mod key_file;
pub mod redact;
mod reload;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use openssl::hash::{MessageDigest, hash};
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};

pub use key_file::{
    PREVIOUS_FILE_SUFFIX, check_private_file, create_private_dir, create_private_file,
    read_previous_keys, write_private_atomically,
};

use crate::domain::random_bytes;

const V1: u8 = 1;
const V2: u8 = 2;
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const KEY_ID_PURPOSE: &str = "pushgate master key id v1";
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
    #[error(
        "{path} is readable or writable by other users (mode {mode:o}): it holds a master key; \
         fix it with `chmod 600 {path}` (and make sure its owner is the service user)"
    )]
    KeyFileMode { path: String, mode: u32 },
    #[error("a sealed secret could not be opened (wrong master key, or tampered data)")]
    Open,
    #[error("encryption failed: {0}")]
    Seal(#[from] openssl::error::ErrorStack),
}

/// One 256-bit key and its public id.
#[derive(Clone)]
struct Key {
    bytes: Box<[u8; 32]>,
    id: [u8; KEY_ID_LEN],
}

impl Key {
    fn new(bytes: [u8; 32]) -> Self {
        let derived = hmac_sha256(&bytes, KEY_ID_PURPOSE.as_bytes());
        let digest = hash(MessageDigest::sha256(), &derived).expect("SHA-256 cannot fail");
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        Self {
            bytes: Box::new(bytes),
            id,
        }
    }

    fn open(&self, nonce: &[u8], aad: &[u8], body: &[u8]) -> Option<Vec<u8>> {
        let (ciphertext, tag) = body.split_at(body.len() - TAG_LEN);
        let cipher = Cipher::aes_256_gcm();
        decrypt_aead(
            cipher,
            self.bytes.as_slice(),
            Some(nonce),
            aad,
            ciphertext,
            tag,
        )
        .ok()
    }
}

/// The keyring every stored secret is encrypted with: a current key (seals) and previous
/// keys (still open). Never printed.
#[derive(Clone)]
pub struct MasterKey {
    current: Key,
    previous: Arc<[Key]>,
    /// For a ring read from key files: where to read it again when a value names a key it
    /// lacks (a rotation made beside this process).
    reload: Option<Arc<reload::Reload>>,
}

impl MasterKey {
    fn single(bytes: [u8; 32]) -> Self {
        Self {
            current: Key::new(bytes),
            previous: Arc::from(Vec::new()),
            reload: None,
        }
    }

    /// A new random key (no previous keys).
    pub fn generate() -> Self {
        Self::single(random_bytes())
    }

    /// Decodes a base64 key of exactly 32 bytes (no previous keys).
    pub fn from_base64(encoded: &str) -> Result<Self, SecretsError> {
        let bytes = B64
            .decode(encoded.trim())
            .map_err(|_| SecretsError::BadMasterKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretsError::BadMasterKey)?;
        Ok(Self::single(key))
    }

    /// The current key as base64, for writing the key file.
    pub fn to_base64(&self) -> String {
        B64.encode(self.current.bytes.as_slice())
    }

    /// The current key's public id (hex), safe to print and log.
    pub fn key_id(&self) -> String {
        hex(&self.current.id)
    }

    /// This keyring with every key of `others` added as a previous key (the current key and
    /// duplicates are skipped).
    pub fn with_previous(self, others: impl IntoIterator<Item = MasterKey>) -> Self {
        let mut previous: Vec<Key> = self.previous.to_vec();
        for other in others {
            for key in std::iter::once(&other.current).chain(other.previous.iter()) {
                if key.id != self.current.id && previous.iter().all(|k| k.id != key.id) {
                    previous.push(key.clone());
                }
            }
        }
        Self {
            current: self.current,
            previous: Arc::from(previous),
            reload: self.reload,
        }
    }

    /// The previous keys, each as a one-key ring.
    pub fn previous_keys(&self) -> Vec<MasterKey> {
        self.previous
            .iter()
            .map(|k| Self {
                current: k.clone(),
                previous: Arc::from(Vec::new()),
                reload: None,
            })
            .collect()
    }

    fn all(&self) -> impl Iterator<Item = &Key> {
        std::iter::once(&self.current).chain(self.previous.iter())
    }

    /// This ring, set to read `path` (and its `.previous`/`.new` siblings) again when a value
    /// names a key it lacks: a rotation made beside a running server (`reload.rs`).
    pub fn reloading_from(mut self, path: PathBuf) -> Self {
        self.reload = Some(Arc::new(reload::Reload::new(path)));
        self
    }

    /// The ring in force: the one last read from the key files, if they were read again.
    fn ring(&self) -> Cow<'_, MasterKey> {
        match self.reload.as_ref().and_then(|r| r.current()) {
            Some(ring) => Cow::Owned(ring),
            None => Cow::Borrowed(self),
        }
    }

    /// Encrypts `plaintext` under the current key (format v2), binding it to `owner` (the
    /// record's SID).
    pub fn seal(&self, plaintext: &[u8], owner: &str) -> Result<Vec<u8>, SecretsError> {
        self.ring().seal_here(plaintext, owner)
    }

    fn seal_here(&self, plaintext: &[u8], owner: &str) -> Result<Vec<u8>, SecretsError> {
        let nonce: [u8; NONCE_LEN] = random_bytes();
        let mut tag = [0u8; TAG_LEN];
        let mut out = Vec::with_capacity(1 + KEY_ID_LEN + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(V2);
        out.extend_from_slice(&self.current.id);
        let aad = [out.as_slice(), owner.as_bytes()].concat();
        let ciphertext = encrypt_aead(
            Cipher::aes_256_gcm(),
            self.current.bytes.as_slice(),
            Some(&nonce),
            &aad,
            plaintext,
            &mut tag,
        )?;
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Decrypts a value sealed for `owner`: v2 with the key its id names, v1 with whichever
    /// key of the ring opens it. A v2 value naming a key the ring lacks makes a file-based
    /// ring read its files again.
    pub fn open(&self, sealed: &[u8], owner: &str) -> Result<Vec<u8>, SecretsError> {
        let ring = self.ring();
        match ring.open_here(sealed, owner) {
            Err(SecretsError::Open) if ring.lacks_key_of(sealed) => {
                match self.reload.as_ref().and_then(|r| r.refresh()) {
                    Some(fresh) => fresh.open_here(sealed, owner),
                    None => Err(SecretsError::Open),
                }
            }
            opened => opened,
        }
    }

    /// Whether `sealed` is a v2 value naming a key this ring does not hold.
    fn lacks_key_of(&self, sealed: &[u8]) -> bool {
        sealed.first() == Some(&V2)
            && sealed
                .get(1..1 + KEY_ID_LEN)
                .is_some_and(|id| self.all().all(|k| k.id != id))
    }

    fn open_here(&self, sealed: &[u8], owner: &str) -> Result<Vec<u8>, SecretsError> {
        match sealed.first() {
            Some(&V2) if sealed.len() >= 1 + KEY_ID_LEN + NONCE_LEN + TAG_LEN => {
                let (header, rest) = sealed.split_at(1 + KEY_ID_LEN);
                let key = self
                    .all()
                    .find(|k| k.id == header[1..])
                    .ok_or(SecretsError::Open)?;
                let (nonce, body) = rest.split_at(NONCE_LEN);
                let aad = [header, owner.as_bytes()].concat();
                key.open(nonce, &aad, body).ok_or(SecretsError::Open)
            }
            Some(&V1) if sealed.len() >= 1 + NONCE_LEN + TAG_LEN => {
                let (nonce, body) = sealed[1..].split_at(NONCE_LEN);
                self.all()
                    .find_map(|k| k.open(nonce, owner.as_bytes(), body))
                    .ok_or(SecretsError::Open)
            }
            _ => Err(SecretsError::Open),
        }
    }

    /// Whether `sealed` is already a v2 value under the current key (a rotation skips it).
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        let ring = self.ring();
        sealed.first() == Some(&V2) && sealed.get(1..1 + KEY_ID_LEN) == Some(&ring.current.id[..])
    }

    /// A 256-bit key for `purpose`, derived from the current key (HMAC-SHA256), so each use
    /// of key material has its own key.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        hmac_sha256(self.current.bytes.as_slice(), purpose.as_bytes())
    }

    /// [`derive`](Self::derive) under every key of the ring, current first: what was made
    /// under a previous key still verifies.
    pub fn derive_all(&self, purpose: &str) -> Vec<[u8; 32]> {
        self.all()
            .map(|k| hmac_sha256(k.bytes.as_slice(), purpose.as_bytes()))
            .collect()
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

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let derived = openssl::pkey::PKey::hmac(key)
        .and_then(|key| {
            let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &key)?;
            signer.update(data)?;
            signer.sign_to_vec()
        })
        .expect("HMAC-SHA256 with a 32-byte key cannot fail");
    out.copy_from_slice(&derived);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MasterKey(id {}, {} previous, [redacted])",
            self.key_id(),
            self.previous.len()
        )
    }
}
