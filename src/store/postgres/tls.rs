//! TLS to the PostgreSQL server, as `store.url`'s `sslmode` and
//! `sslrootcert` ask, with libpq's meanings, through rustls
//! (tokio-postgres-rustls):
//!
//! - `disable` (also when no `sslmode` is given, unlike libpq, whose
//!   default is `prefer`): plain text, as before TLS was supported. TLS
//!   costs CPU on every round trip, which on a loopback connection to a
//!   busy machine (the replicas' end-to-end test) made leases late; on a
//!   network, ask for `verify-full`;
//! - `allow`, `prefer`: TLS when the server offers it, else plain text;
//! - `require`: TLS or no connection; the server's certificate is checked
//!   only when a root certificate is at hand (`sslrootcert`, else
//!   `~/.postgresql/root.crt` when it exists), as in `verify-ca`;
//! - `verify-ca`: TLS, with a certificate signed by the root certificate;
//! - `verify-full`: as `verify-ca`, and made out to the host of the URL.
//!
//! tokio-postgres itself knows only `disable`, `prefer` and `require`, and
//! no `sslrootcert`: [`TlsSettings::split`] takes both out of the URL and
//! hands the rest to it, with `require` for the verifying modes.

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How much TLS `store.url` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    fn parse(value: &str) -> Result<Mode, String> {
        Ok(match value {
            "disable" => Mode::Disable,
            "allow" | "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, \
                     verify-full"
                ));
            }
        })
    }
}

/// What `store.url` asks of TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TlsSettings {
    pub(super) mode: Mode,
    /// `sslrootcert`: a PEM file of the certificates to trust.
    pub(super) root_cert: Option<PathBuf>,
}

impl TlsSettings {
    /// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL: the
    /// settings, and the URL tokio-postgres is to parse. A connection string
    /// of `key=value` words goes to tokio-postgres whole, which reads its
    /// `sslmode` (`disable`, `prefer` or `require`) itself.
    pub(super) fn split(url: &str) -> Result<(TlsSettings, String), String> {
        let parsed = match url::Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "postgres" | "postgresql") => parsed,
            _ => {
                let config: tokio_postgres::Config = url
                    .parse()
                    .map_err(|e: tokio_postgres::Error| e.to_string())?;
                let mode = match config.get_ssl_mode() {
                    SslMode::Disable => Mode::Disable,
                    SslMode::Require => Mode::Require,
                    _ => Mode::Prefer,
                };
                let settings = TlsSettings {
                    mode,
                    root_cert: None,
                };
                return Ok((settings, url.to_owned()));
            }
        };
        // Plain text unless asked: see the module's documentation.
        let mut mode = Mode::Disable;
        let mut root_cert = None;
        // The other parameters are kept as they were written: the driver
        // decodes them its own way.
        let mut rest = Vec::new();
        for raw in parsed.query().unwrap_or("").split('&') {
            let Some((key, value)) = url::form_urlencoded::parse(raw.as_bytes()).next() else {
                continue;
            };
            match &*key {
                "sslmode" => mode = Mode::parse(&value)?,
                "sslrootcert" if value == "system" => {
                    return Err("sslrootcert=system is not supported: name a PEM file".into());
                }
                "sslrootcert" => root_cert = Some(PathBuf::from(&*value)),
                _ => rest.push(raw),
            }
        }
        let driver_mode = match mode {
            Mode::Disable => "sslmode=disable",
            Mode::Prefer => "sslmode=prefer",
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => "sslmode=require",
        };
        rest.push(driver_mode);
        let mut driver_url = parsed.clone();
        driver_url.set_query(Some(&rest.join("&")));
        Ok((TlsSettings { mode, root_cert }, driver_url.into()))
    }

    /// The connector for these settings; an error names what is missing
    /// or unreadable.
    pub(super) fn connector(&self) -> Result<MakeRustlsConnect, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let roots = match (&self.root_cert, self.mode) {
            (_, Mode::Disable) => None,
            (Some(path), _) => Some(read_roots(path)?),
            (None, mode) => match default_root_cert().filter(|p| p.exists()) {
                Some(path) => Some(read_roots(&path)?),
                None if matches!(mode, Mode::VerifyCa | Mode::VerifyFull) => {
                    return Err(format!(
                        "sslmode={} needs sslrootcert, a PEM file of the certificate that \
                         signed the server's (or ~/.postgresql/root.crt)",
                        if mode == Mode::VerifyCa {
                            "verify-ca"
                        } else {
                            "verify-full"
                        }
                    ));
                }
                None => None,
            },
        };
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let verifier: Arc<dyn ServerCertVerifier> = match roots {
            None => Arc::new(EncryptionOnly(provider.signature_verification_algorithms)),
            Some(roots) => {
                let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| format!("TLS: {e}"))?;
                if self.mode == Mode::VerifyFull {
                    webpki
                } else {
                    Arc::new(AnyName(webpki))
                }
            }
        };
        let config = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }
}

/// libpq's default root certificate file.
fn default_root_cert() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| Path::new(&home).join(".postgresql/root.crt"))
}

fn read_roots(path: &Path) -> Result<RootCertStore, String> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("sslrootcert {shown}: {e}"))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("sslrootcert {shown}: no certificate in it"));
    }
    Ok(roots)
}

/// `verify-ca`, and `require` with a root certificate: the chain must lead
/// to a root, the name on the certificate is not looked at.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require` without a root certificate, as in libpq: the
/// connection is encrypted, and the server's certificate is taken as it
/// is (the handshake's signatures are still checked against it).
#[derive(Debug)]
struct EncryptionOnly(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for EncryptionOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> (TlsSettings, String) {
        TlsSettings::split(url).unwrap()
    }

    #[test]
    fn the_url_modes_map_to_the_drivers_and_the_root_cert_is_taken_out() {
        let (tls, rest) = split("postgres://lw:pw@db.example:5432/news");
        assert_eq!(tls.mode, Mode::Disable);
        assert_eq!(
            rest,
            "postgres://lw:pw@db.example:5432/news?sslmode=disable"
        );
        for (asked, mode, driver) in [
            ("disable", Mode::Disable, "disable"),
            ("allow", Mode::Prefer, "prefer"),
            ("prefer", Mode::Prefer, "prefer"),
            ("require", Mode::Require, "require"),
            ("verify-ca", Mode::VerifyCa, "require"),
            ("verify-full", Mode::VerifyFull, "require"),
        ] {
            let (tls, rest) = split(&format!(
                "postgres://lw@db.example/news?options=-c%20x&sslmode={asked}\
                 &sslrootcert=%2Fetc%2Fca.pem"
            ));
            assert_eq!(tls.mode, mode, "{asked}");
            assert_eq!(tls.root_cert.as_deref(), Some(Path::new("/etc/ca.pem")));
            assert_eq!(
                rest,
                format!("postgres://lw@db.example/news?options=-c%20x&sslmode={driver}")
            );
            rest.parse::<tokio_postgres::Config>()
                .expect("the driver reads what is left");
        }
        let (tls, _) = split("host=db.example user=lw sslmode=require");
        assert_eq!(tls.mode, Mode::Require);
    }

    #[test]
    fn a_mode_or_root_cert_that_cannot_be_honoured_is_refused_by_name() {
        let err = TlsSettings::split("postgres://db.example/news?sslmode=verify").unwrap_err();
        assert!(err.contains("sslmode=verify is not one of"), "{err}");
        let err = TlsSettings::split("postgres://db.example/news?sslrootcert=system").unwrap_err();
        assert!(err.contains("sslrootcert=system"), "{err}");
        let missing = TlsSettings {
            mode: Mode::VerifyFull,
            root_cert: Some("/nonexistent/ca.pem".into()),
        };
        let err = missing.connector().err().expect("an unreadable root cert");
        assert!(err.contains("sslrootcert /nonexistent/ca.pem"), "{err}");
    }
}
