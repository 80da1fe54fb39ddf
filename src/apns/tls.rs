//! TLS for APNs connections: OpenSSL with ALPN `h2`, system roots plus any extra
//! roots from the config, and the client certificate for certificate auth.

use std::pin::Pin;

use openssl::ssl::{SslConnector, SslMethod, SslVersion};
use openssl::x509::X509;
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

use super::auth::ClientIdentity;
use super::config::ApnsError;
use super::config::{ApnsConfig, Endpoint};

/// Builds the connector shared by all of one client's connections.
pub(crate) fn build_connector(
    config: &ApnsConfig,
    identity: Option<&ClientIdentity>,
) -> Result<SslConnector, ApnsError> {
    let tls = |e: openssl::error::ErrorStack| ApnsError::Tls(e.to_string());
    // `SslConnector::builder` already loads the system trust roots and enables
    // peer verification.
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(tls)?;
    builder
        .set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(tls)?;
    builder.set_alpn_protos(b"\x02h2").map_err(tls)?;
    for pem in &config.extra_root_pems {
        let certs = X509::stack_from_pem(pem)
            .map_err(|e| ApnsError::Config(format!("extra root PEM: {e}")))?;
        if certs.is_empty() {
            return Err(ApnsError::Config(
                "extra root PEM holds no certificate".into(),
            ));
        }
        for cert in certs {
            builder.cert_store_mut().add_cert(cert).map_err(tls)?;
        }
    }
    if let Some(id) = identity {
        let cred = |e: openssl::error::ErrorStack| ApnsError::Credential(e.to_string());
        builder.set_certificate(&id.leaf).map_err(cred)?;
        for cert in &id.chain {
            builder.add_extra_chain_cert(cert.clone()).map_err(cred)?;
        }
        builder.set_private_key(&id.key).map_err(cred)?;
        builder
            .check_private_key()
            .map_err(|_| ApnsError::Credential("private key does not match certificate".into()))?;
    }
    Ok(builder.build())
}

/// Runs the TLS handshake over `tcp`, verifying `endpoint.host` (name or IP),
/// and insists on ALPN `h2`.
pub(crate) async fn handshake(
    connector: &SslConnector,
    endpoint: &Endpoint,
    tcp: TcpStream,
) -> Result<SslStream<TcpStream>, String> {
    let ssl = connector
        .configure()
        .and_then(|c| c.into_ssl(&endpoint.host))
        .map_err(|e| format!("TLS setup: {e}"))?;
    let mut stream = SslStream::new(ssl, tcp).map_err(|e| format!("TLS setup: {e}"))?;
    Pin::new(&mut stream)
        .connect()
        .await
        .map_err(|e| format!("TLS handshake with {}: {e}", endpoint.host))?;
    if stream.ssl().selected_alpn_protocol() != Some(b"h2") {
        return Err(format!(
            "{} did not negotiate HTTP/2 (ALPN h2)",
            endpoint.host
        ));
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage_extra_roots() {
        let config = ApnsConfig::default().with_extra_root_pem(b"not a pem".to_vec());
        assert!(matches!(
            build_connector(&config, None),
            Err(ApnsError::Config(_))
        ));
        assert!(build_connector(&ApnsConfig::default(), None).is_ok());
    }
}
