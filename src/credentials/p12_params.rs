//! The key-derivation cost a `.p12` asks for, read before OpenSSL derives anything.
//!
//! A PKCS#12 file names its own iteration counts: the MAC's (`MacData.iterations`, or PBMAC1's
//! PBKDF2 parameters), and each encrypted part's (PBES2/PBKDF2, PKCS#5 v1 PBES1 and the
//! PKCS#12 PBE schemes of legacy RC2/3DES files) — in `encryptedData` ContentInfos of the
//! AuthenticatedSafe and in shrouded key bags. A 3 KB file asking for 2^31 iterations would
//! cost minutes of CPU to reject, so every count is checked against [`MAX_ITERATIONS`] and
//! their sum against [`MAX_TOTAL_ITERATIONS`] first. Anything this strict DER walk cannot read
//! (BER, truncation, nesting deeper than [`MAX_DEPTH`]) is not a `.p12` we accept.

use super::der::{DerError, DerReader, oid_content, tag};
use super::error::CredentialError;

/// Most iterations accepted for one key derivation. Keychain and OpenSSL exports use
/// 2,048–600,000; one PBKDF2-SHA256 derivation at this bound costs ~0.15 s of CPU.
pub const MAX_ITERATIONS: u64 = 1_000_000;
/// Most iterations accepted over all of one file's derivations (MAC, certificates, key):
/// a file of many encrypted parts can't multiply the bound.
pub const MAX_TOTAL_ITERATIONS: u64 = 3_000_000;
/// Nested safe-contents bags followed at most.
const MAX_DEPTH: usize = 4;

const PKCS7_DATA: &[u64] = &[1, 2, 840, 113_549, 1, 7, 1];
const PKCS7_ENCRYPTED_DATA: &[u64] = &[1, 2, 840, 113_549, 1, 7, 6];
const SHROUDED_KEY_BAG: &[u64] = &[1, 2, 840, 113_549, 1, 12, 10, 1, 2];
const SAFE_CONTENTS_BAG: &[u64] = &[1, 2, 840, 113_549, 1, 12, 10, 1, 6];
const PBES2: &[u64] = &[1, 2, 840, 113_549, 1, 5, 13];
const PBKDF2: &[u64] = &[1, 2, 840, 113_549, 1, 5, 12];
const PBMAC1: &[u64] = &[1, 2, 840, 113_549, 1, 5, 14];
/// `pkcs-12PbeIds` (1.2.840.113549.1.12.1.x) and PKCS#5 v1 PBES1 (1.2.840.113549.1.5.x):
/// `SEQUENCE { salt OCTET STRING, iterations INTEGER }`.
const PKCS12_PBE_PREFIX: &[u64] = &[1, 2, 840, 113_549, 1, 12, 1];
const PBES1_ARCS: [u64; 6] = [1, 3, 4, 6, 10, 11];

/// Iteration counts found, checked as they are found.
struct Budget {
    total: u64,
}

impl Budget {
    fn spend(&mut self, iterations: u64) -> Result<(), CredentialError> {
        self.total = self.total.saturating_add(iterations);
        if iterations > MAX_ITERATIONS || self.total > MAX_TOTAL_ITERATIONS {
            return Err(CredentialError::P12IterationsTooHigh {
                max: MAX_ITERATIONS,
                max_total: MAX_TOTAL_ITERATIONS,
            });
        }
        Ok(())
    }
}

/// Refuses a `.p12` whose key derivations would cost more than the bounds allow, before any
/// derivation runs. Bounded work: one pass over at most the input's bytes.
pub(crate) fn check_iterations(pfx: &[u8]) -> Result<(), CredentialError> {
    let malformed = |_: DerError| CredentialError::P12Malformed;
    let mut budget = Budget { total: 0 };
    let mut outer = DerReader::new(pfx);
    let mut fields = DerReader::new(outer.read_tagged(tag::SEQUENCE).map_err(malformed)?);
    fields.read_tagged(INTEGER).map_err(malformed)?; // version
    let auth_safe = content_info(&mut fields).map_err(malformed)?;
    if auth_safe.0 != oid_content(PKCS7_DATA) {
        return Err(CredentialError::P12Malformed); // public-key integrity mode: unsupported
    }
    if !fields.is_empty() {
        mac_data(
            fields.read_tagged(tag::SEQUENCE).map_err(malformed)?,
            &mut budget,
        )?;
    }
    let data = DerReader::new(auth_safe.1)
        .read_tagged(tag::OCTET_STRING)
        .map_err(malformed)?;
    let mut infos = DerReader::new(
        DerReader::new(data)
            .read_tagged(tag::SEQUENCE)
            .map_err(malformed)?,
    );
    while !infos.is_empty() {
        let mut info = DerReader::new(infos.read_tagged(tag::SEQUENCE).map_err(malformed)?);
        let kind = info.read_tagged(tag::OID).map_err(malformed)?;
        let mut content = DerReader::new(info.read_tagged(EXPLICIT_0).map_err(malformed)?);
        if kind == oid_content(PKCS7_DATA) {
            let bags = content.read_tagged(tag::OCTET_STRING).map_err(malformed)?;
            safe_contents(bags, MAX_DEPTH, &mut budget)?;
        } else if kind == oid_content(PKCS7_ENCRYPTED_DATA) {
            let mut encrypted =
                DerReader::new(content.read_tagged(tag::SEQUENCE).map_err(malformed)?);
            encrypted.read_tagged(INTEGER).map_err(malformed)?;
            let mut eci = DerReader::new(encrypted.read_tagged(tag::SEQUENCE).map_err(malformed)?);
            eci.read_tagged(tag::OID).map_err(malformed)?;
            algorithm(
                eci.read_tagged(tag::SEQUENCE).map_err(malformed)?,
                &mut budget,
            )?;
        }
        // Other content types (envelopedData) derive nothing from the password.
    }
    Ok(())
}

const INTEGER: u8 = 0x02;
const EXPLICIT_0: u8 = 0xa0;

/// `ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY }`.
fn content_info<'a>(r: &mut DerReader<'a>) -> Result<(&'a [u8], &'a [u8]), DerError> {
    let mut info = DerReader::new(r.read_tagged(tag::SEQUENCE)?);
    let kind = info.read_tagged(tag::OID)?;
    Ok((kind, info.read_tagged(EXPLICIT_0)?))
}

/// `MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING, iterations INTEGER DEFAULT 1 }`.
fn mac_data(content: &[u8], budget: &mut Budget) -> Result<(), CredentialError> {
    let malformed = |_: DerError| CredentialError::P12Malformed;
    let mut r = DerReader::new(content);
    let mut digest_info = DerReader::new(r.read_tagged(tag::SEQUENCE).map_err(malformed)?);
    let alg = digest_info.read_tagged(tag::SEQUENCE).map_err(malformed)?;
    let mut alg_fields = DerReader::new(alg);
    if alg_fields.read_tagged(tag::OID).map_err(malformed)? == oid_content(PBMAC1) {
        // PBMAC1 ::= SEQUENCE { keyDerivationFunc AlgorithmIdentifier, messageAuthScheme … }
        let params = alg_fields.read_tagged(tag::SEQUENCE).map_err(malformed)?;
        let kdf = DerReader::new(params)
            .read_tagged(tag::SEQUENCE)
            .map_err(malformed)?;
        pbkdf2(kdf, budget)?;
    }
    r.read_tagged(tag::OCTET_STRING).map_err(malformed)?;
    if !r.is_empty() {
        budget.spend(integer(r.read_tagged(INTEGER).map_err(malformed)?)?)?;
    }
    Ok(())
}

/// `SafeContents ::= SEQUENCE OF SafeBag`, `SafeBag ::= SEQUENCE { bagId, [0] bagValue, … }`.
fn safe_contents(der: &[u8], depth: usize, budget: &mut Budget) -> Result<(), CredentialError> {
    let malformed = |_: DerError| CredentialError::P12Malformed;
    let mut bags = DerReader::new(
        DerReader::new(der)
            .read_tagged(tag::SEQUENCE)
            .map_err(malformed)?,
    );
    while !bags.is_empty() {
        let mut bag = DerReader::new(bags.read_tagged(tag::SEQUENCE).map_err(malformed)?);
        let kind = bag.read_tagged(tag::OID).map_err(malformed)?;
        let value = bag.read_tagged(EXPLICIT_0).map_err(malformed)?;
        if kind == oid_content(SHROUDED_KEY_BAG) {
            // EncryptedPrivateKeyInfo ::= SEQUENCE { encryptionAlgorithm, encryptedData }
            let epki = DerReader::new(value)
                .read_tagged(tag::SEQUENCE)
                .map_err(malformed)?;
            let alg = DerReader::new(epki)
                .read_tagged(tag::SEQUENCE)
                .map_err(malformed)?;
            algorithm(alg, budget)?;
        } else if kind == oid_content(SAFE_CONTENTS_BAG) {
            let Some(depth) = depth.checked_sub(1) else {
                return Err(CredentialError::P12Malformed);
            };
            safe_contents(value, depth, budget)?;
        }
    }
    Ok(())
}

/// An encryption `AlgorithmIdentifier`: its iteration count, or unsupported encryption.
fn algorithm(content: &[u8], budget: &mut Budget) -> Result<(), CredentialError> {
    let malformed = |_: DerError| CredentialError::P12Malformed;
    let mut r = DerReader::new(content);
    let oid = r.read_tagged(tag::OID).map_err(malformed)?;
    let params = r.read_tagged(tag::SEQUENCE).map_err(malformed)?;
    if oid == oid_content(PBES2) {
        // PBES2-params ::= SEQUENCE { keyDerivationFunc AlgorithmIdentifier, encryptionScheme }
        let kdf = DerReader::new(params)
            .read_tagged(tag::SEQUENCE)
            .map_err(malformed)?;
        return pbkdf2(kdf, budget);
    }
    let pbe_v1 = PBES1_ARCS
        .iter()
        .any(|&arc| oid == oid_content(&[1, 2, 840, 113_549, 1, 5, arc]));
    let pkcs12_pbe = (1..=6).any(|arc| oid == oid_content(&[PKCS12_PBE_PREFIX, &[arc]].concat()));
    if !(pbe_v1 || pkcs12_pbe) {
        return Err(CredentialError::P12UnsupportedEncryption);
    }
    let mut p = DerReader::new(params);
    p.read_tagged(tag::OCTET_STRING).map_err(malformed)?;
    budget.spend(integer(p.read_tagged(INTEGER).map_err(malformed)?)?)
}

/// `AlgorithmIdentifier { PBKDF2, PBKDF2-params ::= SEQUENCE { salt, iterationCount, … } }`;
/// any other key derivation function (scrypt) is refused as unsupported.
fn pbkdf2(kdf: &[u8], budget: &mut Budget) -> Result<(), CredentialError> {
    let malformed = |_: DerError| CredentialError::P12Malformed;
    let mut r = DerReader::new(kdf);
    if r.read_tagged(tag::OID).map_err(malformed)? != oid_content(PBKDF2) {
        return Err(CredentialError::P12UnsupportedEncryption);
    }
    let mut params = DerReader::new(r.read_tagged(tag::SEQUENCE).map_err(malformed)?);
    params.read().map_err(malformed)?; // salt: OCTET STRING or AlgorithmIdentifier
    budget.spend(integer(params.read_tagged(INTEGER).map_err(malformed)?)?)
}

/// A non-negative DER INTEGER; values beyond `u64` saturate (they are over any bound).
fn integer(content: &[u8]) -> Result<u64, CredentialError> {
    match content.first() {
        None => Err(CredentialError::P12Malformed),
        Some(b) if b & 0x80 != 0 => Err(CredentialError::P12Malformed),
        Some(_) => {
            let significant = content.iter().skip_while(|&&b| b == 0).count();
            if significant > 8 {
                return Ok(u64::MAX);
            }
            Ok(content
                .iter()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
        }
    }
}
