//! PostgreSQL over TLS as libpq's `sslmode` means it, for tokio-postgres: the compiler reads
//! source schemas and the app snapshots and checks its sources through the same connector, so a
//! connection that `dozerc check` accepts is one the app can open.
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (libpq's default) | if the server offers it | not checked |
//! | `require` | always | not checked (encryption only) |
//! | `verify-ca` | always | signed by a trusted CA |
//! | `verify-full` | always | signed by a trusted CA and issued for the host connected to |
//!
//! The trusted CAs are `sslrootcert`'s (a PEM file) or, without one, the system's (which
//! `SSL_CERT_FILE` can name). tokio-postgres itself knows only `disable`, `prefer` and `require`
//! (and refuses the verify modes in a URL): [`split_url`] takes them out of a `connection_url`, and
//! the verification happens in the rustls configuration [`PgTls::connector`] builds.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
pub use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SslMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    /// Every mode by its name in a config or URL.
    pub const NAMES: [&'static str; 5] =
        ["disable", "prefer", "require", "verify-ca", "verify-full"];

    pub fn parse(name: &str) -> Option<SslMode> {
        Some(match name {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// The mode tokio-postgres negotiates with (the verify modes require TLS; the connector
    /// verifies).
    pub fn negotiation(self) -> tokio_postgres::config::SslMode {
        match self {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        }
    }

    fn verifies_chain(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// How one connection uses TLS.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PgTls {
    pub mode: SslMode,
    /// `sslrootcert`: the PEM file of the CAs to trust (verify modes).
    pub root_cert: Option<PathBuf>,
}

impl PgTls {
    /// The tokio-postgres connector for this connection. Fails when `sslrootcert` cannot be
    /// read or holds no certificate, saying which file.
    pub fn connector(&self) -> Result<MakeRustlsConnect, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = if self.mode.verifies_chain() {
            let roots = Arc::new(self.roots()?);
            Some(
                WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                    .build()
                    .map_err(|e| format!("cannot use the trusted certificates: {e}"))?,
            )
        } else {
            None
        };
        let verifier = Arc::new(Verifier {
            provider: provider.clone(),
            chain,
            check_name: self.mode == SslMode::VerifyFull,
        });
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }

    fn roots(&self) -> Result<RootCertStore, String> {
        let mut roots = RootCertStore::empty();
        match &self.root_cert {
            Some(path) => {
                let certs = read_pem(path)?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(format!(
                        "`sslrootcert` {} holds no usable certificate",
                        path.display()
                    ));
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(format!(
                        "`sslmode: {}` needs trusted certificates: name the server's CA with `sslrootcert: <file.pem>` (none were found on this system{})",
                        self.mode.name(),
                        found
                            .errors
                            .first()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    ));
                }
            }
        }
        Ok(roots)
    }
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read `sslrootcert` {}: {e}", path.display()))?;
    CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("`sslrootcert` {} is not PEM: {e}", path.display()))
}

/// The server's certificate as the mode checks it. Without `chain` (`require`, `prefer`) it is
/// not checked (libpq's meaning: encryption only); with it, the chain must lead to a trusted CA
/// and, for `verify-full`, name the host. The handshake's signatures are verified always.
#[derive(Debug)]
struct Verifier {
    provider: Arc<CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A `connection_url` without its `sslmode` and `sslrootcert` parameters (which tokio-postgres
/// would refuse or ignore), and their values.
pub fn split_url(url: &str) -> (String, Option<String>, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None, None);
    };
    let (mut mode, mut root) = (None, None);
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => mode = Some(value.to_string()),
                "sslrootcert" => root = Some(percent_decode(value)),
                _ => return !pair.is_empty(),
            }
            false
        })
        .collect();
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, mode, root)
}

/// `%2F` → `/` (a path in a URL parameter).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a failed TLS connection means, if the cause is the server's certificate: which name it
/// was expected to carry and which it does, or that it is not trusted, with what to change.
pub fn explain(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        let tls = e.downcast_ref::<rustls::Error>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(rustls::Error::InvalidCertificate(c)) = tls {
            return Some(match c {
                CertificateError::NotValidForNameContext { expected, presented } => format!(
                    "the server's certificate is not valid for `{}`, the host connected to (it names {}); connect by one of those names, or use `sslmode: verify-ca` to check the CA alone",
                    server_name(expected),
                    if presented.is_empty() {
                        "no host".to_string()
                    } else {
                        presented.join(", ")
                    }
                ),
                CertificateError::NotValidForName => "the server's certificate is not valid for the host connected to; connect by the name it was issued for, or use `sslmode: verify-ca`".to_string(),
                CertificateError::UnknownIssuer => "the server's certificate is not signed by a trusted CA; name its CA with `sslrootcert: <file.pem>`".to_string(),
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => "the server's certificate has expired".to_string(),
                other => format!("the server's certificate was refused: {other:?}"),
            });
        }
        cause = e.source();
    }
    None
}

fn server_name(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(d) => d.as_ref().to_string(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_parses_by_its_name() {
        for name in SslMode::NAMES {
            assert_eq!(SslMode::parse(name).map(SslMode::name), Some(name));
        }
        assert_eq!(SslMode::parse("allow"), None);
    }

    #[test]
    fn a_url_gives_up_its_tls_parameters() {
        assert_eq!(
            split_url("postgresql://u@h/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x"),
            (
                "postgresql://u@h/db?application_name=x".to_string(),
                Some("verify-full".to_string()),
                Some("/etc/ca.pem".to_string())
            )
        );
        assert_eq!(
            split_url("postgresql://u@h/db?sslmode=require"),
            (
                "postgresql://u@h/db".to_string(),
                Some("require".to_string()),
                None
            )
        );
        assert_eq!(
            split_url("postgresql://u@h/db"),
            ("postgresql://u@h/db".to_string(), None, None)
        );
    }

    #[test]
    fn an_unreadable_root_certificate_names_the_file() {
        let tls = PgTls {
            mode: SslMode::VerifyFull,
            root_cert: Some("/nonexistent/ca.pem".into()),
        };
        let e = tls.connector().err().unwrap();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }
}
