//! Twilio's request signature: `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, URL)). For
//! a JSON body the URL carries `bodySHA256` = hex SHA-256 of the raw body, and only the URL is
//! signed. Twilio's own validators accept the URL with and without the scheme's default port,
//! so this does too; every comparison is constant-time.

use base64::Engine as _;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// Why a signature does not authenticate a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the URL has no bodySHA256 parameter, which Twilio adds for JSON bodies")]
    NoBodyHash,
    #[error("bodySHA256 is not the SHA-256 of the body: the body was changed")]
    BodyChanged,
    #[error("X-Twilio-Signature does not match the URL under the linked account's Auth Token")]
    Mismatch,
}

/// The signature Twilio sends for a JSON request to `url` (which already carries `bodySHA256`).
pub fn sign(auth_token: &SecretString, url: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(hmac_sha1(auth_token, url))
}

/// Checks `signature` over `body` sent to one of `urls` (the request's URL as Twilio may have
/// seen it: with or without credentials, a scheme; each is also tried with and without its
/// default port).
pub fn verify(
    auth_token: &SecretString,
    urls: &[String],
    body: &[u8],
    signature: &str,
) -> Result<(), SignatureError> {
    let Some(first) = urls.first() else {
        return Err(SignatureError::Mismatch);
    };
    // Every candidate has the same path and query: one body check.
    let hash = body_hash(first).ok_or(SignatureError::NoBodyHash)?;
    let actual = hex::encode(openssl::sha::sha256(body));
    if !bool::from(
        hash.to_ascii_lowercase()
            .as_bytes()
            .ct_eq(actual.as_bytes()),
    ) {
        return Err(SignatureError::BodyChanged);
    }
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return Err(SignatureError::Mismatch);
    };
    let mut ok = subtle::Choice::from(0);
    for url in urls {
        for variant in port_variants(url) {
            ok |= hmac_sha1(auth_token, &variant).as_slice().ct_eq(&given);
        }
    }
    if bool::from(ok) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn hmac_sha1(auth_token: &SecretString, data: &str) -> Vec<u8> {
    // An HMAC key of any length and SHA-1 are always available: these cannot fail.
    let key = PKey::hmac(auth_token.expose_secret().as_bytes()).expect("an HMAC key");
    let mut signer = Signer::new(MessageDigest::sha1(), &key).expect("HMAC-SHA1");
    signer.update(data.as_bytes()).expect("HMAC update");
    signer.sign_to_vec().expect("HMAC sign")
}

/// The value of `bodySHA256` in `url`'s query.
fn body_hash(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "bodySHA256")
        .map(|(_, v)| v.into_owned())
}

/// `url` as given, with its scheme's default port added, and with it removed.
fn port_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return out;
    };
    let default = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return out,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    // A port follows the last ':' unless that ':' is inside an IPv6 literal.
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (hostport, None),
    };
    match port {
        Some(p) if p == default => out.push(format!("{scheme}://{userinfo}{host}{tail}")),
        Some(_) => {}
        None => out.push(format!("{scheme}://{userinfo}{host}:{default}{tail}")),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> SecretString {
        SecretString::from("12345678901234567890123456789012")
    }

    fn url_for(base: &str, body: &[u8]) -> String {
        let hash = hex::encode(openssl::sha::sha256(body));
        format!("{base}/v1/twilio/call-notifications?bodySHA256={hash}")
    }

    #[test]
    fn a_signed_request_verifies_with_and_without_the_default_port() {
        let body = br#"{"twi_to":"client:alice"}"#;
        let signed = url_for("https://gw.example", body);
        let sig = sign(&token(), &signed);
        for seen in [
            url_for("https://gw.example", body),
            url_for("https://gw.example:443", body),
        ] {
            assert_eq!(verify(&token(), &[seen], body, &sig), Ok(()));
        }
        let sig443 = sign(&token(), &url_for("https://gw.example:443", body));
        assert_eq!(
            verify(&token(), std::slice::from_ref(&signed), body, &sig443),
            Ok(())
        );
        // Another port is another URL.
        let other = url_for("https://gw.example:8443", body);
        assert_eq!(
            verify(&token(), &[other], body, &sig),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn changed_bodies_tokens_and_urls_are_refused() {
        let body = br#"{"twi_to":"client:alice"}"#;
        let url = url_for("http://127.0.0.1:8080", body);
        let sig = sign(&token(), &url);
        assert_eq!(
            verify(
                &token(),
                std::slice::from_ref(&url),
                br#"{"twi_to":"client:bob"}"#,
                &sig
            ),
            Err(SignatureError::BodyChanged)
        );
        let wrong = SecretString::from("00000000000000000000000000000000");
        assert_eq!(
            verify(&wrong, std::slice::from_ref(&url), body, &sig),
            Err(SignatureError::Mismatch)
        );
        let bare = "http://127.0.0.1:8080/v1/twilio/call-notifications".to_owned();
        assert_eq!(
            verify(
                &token(),
                std::slice::from_ref(&bare),
                body,
                &sign(&token(), &bare)
            ),
            Err(SignatureError::NoBodyHash)
        );
        let moved = url.replace("/v1/", "/v2/");
        assert_eq!(
            verify(&token(), &[moved], body, &sig),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&token(), &[url], body, "not base64!"),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn port_variants_keep_userinfo_and_ipv6() {
        assert_eq!(
            port_variants("https://SK1:s@h/p?q"),
            ["https://SK1:s@h/p?q", "https://SK1:s@h:443/p?q"]
        );
        assert_eq!(
            port_variants("http://[::1]:80/p"),
            ["http://[::1]:80/p", "http://[::1]/p"]
        );
        assert_eq!(
            port_variants("http://[::1]/p"),
            ["http://[::1]/p", "http://[::1]:80/p"]
        );
    }
}
