//! A minimal, bounds-checked DER reader and writer.
//!
//! Owns just enough ASN.1 to find certificate extensions that the `openssl` crate does
//! not expose (Apple's environment and topic extensions) and to encode them in
//! [`devcerts`](super::devcerts). The reader never panics: every length is checked
//! against the remaining input, long-form lengths are capped at four bytes, indefinite
//! lengths and multi-byte tags are rejected, and recursion is depth-limited by callers.

/// ASN.1 universal tag numbers used here (single-byte identifier octets).
pub(crate) mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const PRINTABLE_STRING: u8 = 0x13;
    pub const IA5_STRING: u8 = 0x16;
    pub const SEQUENCE: u8 = 0x30;
    /// `[3] EXPLICIT` in a TBSCertificate: the extensions wrapper.
    pub const CONTEXT_3: u8 = 0xa3;
    /// Bit set on constructed encodings.
    pub const CONSTRUCTED: u8 = 0x20;
}

/// The input is not well-formed DER (as far as this reader checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DerError;

/// One tag-length-value element borrowed from the input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
}

/// Sequential reader over concatenated DER elements.
pub(crate) struct DerReader<'a> {
    rest: &'a [u8],
}

impl<'a> DerReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Reads the next element.
    pub fn read(&mut self) -> Result<Tlv<'a>, DerError> {
        let (&tag, after_tag) = self.rest.split_first().ok_or(DerError)?;
        if tag & 0x1f == 0x1f {
            return Err(DerError); // high-tag-number form: never used by what we parse
        }
        let (&first, mut after_len) = after_tag.split_first().ok_or(DerError)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return Err(DerError); // indefinite length, or absurdly long
            }
            let (len_bytes, rest) = after_len.split_at_checked(n).ok_or(DerError)?;
            after_len = rest;
            len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        let (content, rest) = after_len.split_at_checked(len).ok_or(DerError)?;
        self.rest = rest;
        Ok(Tlv { tag, content })
    }

    /// Reads the next element and requires it to have `expected` as its tag.
    pub fn read_tagged(&mut self, expected: u8) -> Result<&'a [u8], DerError> {
        let tlv = self.read()?;
        if tlv.tag == expected {
            Ok(tlv.content)
        } else {
            Err(DerError)
        }
    }
}

/// One extension found in a certificate: OID content octets and the extnValue octets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawExtension<'a> {
    pub oid: &'a [u8],
    pub value: &'a [u8],
}

/// Lists the extensions of a DER-encoded X.509 certificate.
pub(crate) fn certificate_extensions(cert_der: &[u8]) -> Result<Vec<RawExtension<'_>>, DerError> {
    let certificate = DerReader::new(cert_der).read_tagged(tag::SEQUENCE)?;
    let tbs = DerReader::new(certificate).read_tagged(tag::SEQUENCE)?;
    let mut fields = DerReader::new(tbs);
    let mut out = Vec::new();
    while !fields.is_empty() {
        let field = fields.read()?;
        if field.tag != tag::CONTEXT_3 {
            continue;
        }
        let list = DerReader::new(field.content).read_tagged(tag::SEQUENCE)?;
        let mut list = DerReader::new(list);
        while !list.is_empty() {
            let mut ext = DerReader::new(list.read_tagged(tag::SEQUENCE)?);
            let oid = ext.read_tagged(tag::OID)?;
            let mut next = ext.read()?;
            if next.tag == tag::BOOLEAN {
                next = ext.read()?;
            }
            if next.tag != tag::OCTET_STRING {
                return Err(DerError);
            }
            out.push(RawExtension {
                oid,
                value: next.content,
            });
        }
    }
    Ok(out)
}

/// Collects the string values (UTF8String, IA5String, PrintableString) nested anywhere
/// in `der`, depth-first, up to `max_depth` levels of constructed values.
///
/// Returns what was collected plus whether the input was fully well-formed.
pub(crate) fn collect_strings(der: &[u8], max_depth: usize) -> (Vec<String>, bool) {
    fn walk(der: &[u8], depth: usize, out: &mut Vec<String>) -> Result<(), DerError> {
        let mut reader = DerReader::new(der);
        while !reader.is_empty() {
            let tlv = reader.read()?;
            match tlv.tag {
                tag::UTF8_STRING | tag::IA5_STRING | tag::PRINTABLE_STRING => {
                    let s = std::str::from_utf8(tlv.content).map_err(|_| DerError)?;
                    out.push(s.to_owned());
                }
                t if t & tag::CONSTRUCTED != 0 => {
                    if depth == 0 {
                        return Err(DerError);
                    }
                    walk(tlv.content, depth - 1, out)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    let ok = walk(der, max_depth, &mut out).is_ok();
    (out, ok)
}

/// Encodes one element (definite length).
pub(crate) fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// Content octets of an OBJECT IDENTIFIER given its arcs (`[1, 2, 840, ...]`).
/// Callers pass well-known OIDs with at least two arcs.
pub(crate) fn oid_content(arcs: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    let (first, rest) = match arcs {
        [a, b, rest @ ..] => (a * 40 + b, rest),
        _ => return out,
    };
    for &arc in std::iter::once(&first).chain(rest) {
        let mut chunk = vec![(arc & 0x7f) as u8];
        let mut v = arc >> 7;
        while v > 0 {
            chunk.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        out.extend(chunk.iter().rev());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_bounds() {
        let long = encode(tag::OCTET_STRING, &[7u8; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let tlv = DerReader::new(&long).read().unwrap();
        assert_eq!(tlv.content.len(), 300);
        // Truncated, indefinite, oversized and high-tag inputs are errors, not panics.
        for bad in [
            &long[..long.len() - 1],
            &[0x30, 0x80, 0, 0][..],
            &[0x30, 0x85, 1, 1, 1, 1, 1][..],
            &[0x1f, 0x01, 0x00][..],
            &[0x30][..],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
        ] {
            assert!(DerReader::new(bad).read().is_err());
        }
        assert!(certificate_extensions(&[0x30, 0x03, 0x30, 0x01]).is_err());
        assert!(certificate_extensions(b"garbage").is_err());
    }

    #[test]
    fn oid_encoding() {
        assert_eq!(
            oid_content(&[1, 2, 840, 113_635, 100, 6, 3, 1]),
            [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x63, 0x64, 0x06, 0x03, 0x01]
        );
    }

    #[test]
    fn strings_are_collected_with_depth_limit() {
        let inner = encode(tag::SEQUENCE, &encode(tag::UTF8_STRING, b"voip"));
        let mut seq = encode(tag::UTF8_STRING, b"com.example.app");
        seq.extend(inner);
        let der = encode(tag::SEQUENCE, &seq);
        let (strings, ok) = collect_strings(&der, 4);
        assert!(ok);
        assert_eq!(strings, ["com.example.app", "voip"]);
        let (_, ok) = collect_strings(&der, 0);
        assert!(!ok);
        let mut deep = encode(tag::NULL, &[]);
        for _ in 0..100 {
            deep = encode(tag::SEQUENCE, &deep);
        }
        assert!(!collect_strings(&deep, 8).1);
    }
}
