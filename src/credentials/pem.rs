//! Splitting pasted PEM text into labelled blocks and classifying them.
//!
//! Operators paste certificates, keys and chains in any order (Keychain exports, `cat`
//! of several files, keys with `EC PARAMETERS` in front). This module finds each
//! `-----BEGIN X-----` … `-----END X-----` block, borrows it from the input without
//! copying (key text stays inside its `SecretString`), and tells certificates, keys and
//! encrypted keys apart. Text outside blocks is ignored.

/// Maximum number of blocks accepted in one input.
const MAX_BLOCKS: usize = 32;

/// What a PEM block holds, judged from its label and headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockKind {
    /// `CERTIFICATE` (or `X509 CERTIFICATE`).
    Certificate,
    /// `PRIVATE KEY` (PKCS#8).
    Pkcs8Key,
    /// `RSA PRIVATE KEY` (PKCS#1).
    RsaKey,
    /// `EC PRIVATE KEY` (SEC1).
    EcKey,
    /// `ENCRYPTED PRIVATE KEY`, or a traditional key with `Proc-Type: 4,ENCRYPTED`.
    EncryptedKey,
    /// Another `… PRIVATE KEY` label (DSA, OpenSSH, …).
    OtherKey,
    /// Anything else (`EC PARAMETERS`, `CERTIFICATE REQUEST`, …): ignored.
    Other,
}

impl BlockKind {
    /// True for every kind of private-key block.
    pub fn is_key(self) -> bool {
        matches!(
            self,
            Self::Pkcs8Key | Self::RsaKey | Self::EcKey | Self::EncryptedKey | Self::OtherKey
        )
    }
}

/// One PEM block borrowed from the input, `text` spanning BEGIN through END lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Block<'a> {
    pub kind: BlockKind,
    pub text: &'a str,
}

/// The text looks like PEM but a block is unterminated, or there are too many blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PemError;

/// Finds all PEM blocks in `input`.
pub(crate) fn blocks(input: &str) -> Result<Vec<Block<'_>>, PemError> {
    const BEGIN: &str = "-----BEGIN ";
    const DASHES: &str = "-----";
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(found) = input.get(pos..).and_then(|s| s.find(BEGIN)) {
        let start = pos + found;
        let label_start = start + BEGIN.len();
        let rest = input.get(label_start..).ok_or(PemError)?;
        let label_len = rest.find(DASHES).ok_or(PemError)?;
        let label = &rest[..label_len];
        if label.contains('\n') || label.len() > 64 {
            return Err(PemError);
        }
        let end_marker = format!("-----END {label}-----");
        let body_start = label_start + label_len + DASHES.len();
        let body = input.get(body_start..).ok_or(PemError)?;
        let end_rel = body.find(&end_marker).ok_or(PemError)?;
        let end = body_start + end_rel + end_marker.len();
        let text = &input[start..end];
        let body = &body[..end_rel];
        if out.len() == MAX_BLOCKS {
            return Err(PemError);
        }
        out.push(Block {
            kind: classify(label, body),
            text,
        });
        pos = end;
    }
    Ok(out)
}

fn classify(label: &str, body: &str) -> BlockKind {
    let encrypted_header = body.contains("Proc-Type:") && body.contains("ENCRYPTED");
    match label {
        "CERTIFICATE" | "X509 CERTIFICATE" => BlockKind::Certificate,
        "ENCRYPTED PRIVATE KEY" => BlockKind::EncryptedKey,
        l if l.ends_with("PRIVATE KEY") && encrypted_header => BlockKind::EncryptedKey,
        "PRIVATE KEY" => BlockKind::Pkcs8Key,
        "RSA PRIVATE KEY" => BlockKind::RsaKey,
        "EC PRIVATE KEY" => BlockKind::EcKey,
        l if l.ends_with("PRIVATE KEY") => BlockKind::OtherKey,
        _ => BlockKind::Other,
    }
}

/// True if `input` has non-whitespace content but no PEM blocks (e.g. pasted garbage).
pub(crate) fn is_non_pem(input: &str, found: &[Block<'_>]) -> bool {
    found.is_empty() && !input.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_classifies() {
        let text = "junk\n-----BEGIN EC PARAMETERS-----\nBggq\n-----END EC PARAMETERS-----\n\
                    -----BEGIN EC PRIVATE KEY-----\nAAA\n-----END EC PRIVATE KEY-----\n\
                    -----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n\
                    -----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: x\n\nCC\n\
                    -----END RSA PRIVATE KEY-----\n";
        let kinds: Vec<_> = blocks(text).unwrap().iter().map(|b| b.kind).collect();
        assert_eq!(
            kinds,
            [
                BlockKind::Other,
                BlockKind::EcKey,
                BlockKind::Certificate,
                BlockKind::EncryptedKey
            ]
        );
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        for bad in [
            "-----BEGIN CERTIFICATE-----\nAAA",
            "-----BEGIN ",
            "-----BEGIN CERT\nIFICATE-----",
            "-----BEGIN CERTIFICATE-----AAA-----END PRIVATE KEY-----",
            "-----BEGIN é-----",
        ] {
            assert!(blocks(bad).is_err(), "{bad:?}");
        }
        assert!(blocks("").unwrap().is_empty());
        assert!(blocks("no pem here").unwrap().is_empty());
        let many = "-----BEGIN X-----\n-----END X-----\n".repeat(MAX_BLOCKS + 1);
        assert!(blocks(&many).is_err());
    }
}
