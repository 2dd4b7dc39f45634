//! Opening one PostgreSQL connection the way `DATABASE_URL` asks, TLS included.
//!
//! diesel-async's own `establish` connects with tokio-postgres's `NoTls`: `sslmode=require`
//! fails, and `verify-ca`, `verify-full` and `sslrootcert`, which tokio-postgres does not know,
//! are refused. Managed PostgreSQL requires TLS, so every connection the service opens (both
//! pools, [`super::Db::diagnose`], the maintenance connection that creates the database,
//! migrations) comes from [`PgConnector`] instead. It takes `sslmode` and `sslrootcert` out of
//! the URL, hands the rest to tokio-postgres, and speaks TLS through rustls with the ring
//! provider (as `rediss://` does).
//!
//! `sslmode`, as in libpq except `prefer`:
//! - `disable`, `prefer` or none: plain TCP. libpq's `prefer` tries TLS first without checking
//!   the certificate; here it stays the plain connection it always was, so a deployment that
//!   asks for nothing sees no change. Ask for `require` to encrypt.
//! - `require`: TLS or no connection; the certificate is not checked (no eavesdropping, but no
//!   protection from an impostor), unless `sslrootcert` is given: then as `verify-ca` (libpq too).
//! - `verify-ca`: the certificate must chain to a trusted root; its host name is not checked.
//! - `verify-full`: ... and must name the host connected to (DNS name or IP address).
//!
//! Trusted roots: `sslrootcert=FILE` (PEM, one or more certificates) or, without it (or with
//! `sslrootcert=system`), the system's (which `SSL_CERT_FILE` and `SSL_CERT_DIR` replace).

use std::sync::Arc;

use diesel::{ConnectionError, ConnectionResult};
use diesel_async::AsyncPgConnection;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use tokio_postgres::config::SslMode as WireMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// What `sslmode` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// Plain TCP here (see the module documentation); libpq's default.
    Prefer,
    /// TLS, the certificate unchecked (checked as for `VerifyCa` when `sslrootcert` is given).
    Require,
    /// TLS, the certificate chained to a trusted root.
    VerifyCa,
    /// TLS, the certificate chained to a trusted root and naming the host.
    VerifyFull,
}

/// The `sslmode` values understood, for messages.
pub const SSL_MODES: &str = "disable, prefer, require, verify-ca, verify-full";

impl SslMode {
    /// The `sslmode` of `url` (`Prefer` when it names none), or the value it does not know.
    pub fn of_url(url: &str) -> Result<Self, String> {
        let query = url.split_once('?').map_or("", |(_, query)| query);
        let mut mode = Ok(Self::Prefer);
        for (key, value) in params(query) {
            if key == "sslmode" {
                mode = Self::parse(&decode(value));
            }
        }
        mode
    }

    fn parse(value: &str) -> Result<Self, String> {
        Ok(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => return Err(other.to_owned()),
        })
    }
}

/// A URL query's `key=value` pairs, undecoded.
fn params(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

fn decode(value: &str) -> String {
    percent_encoding::percent_decode_str(value)
        .decode_utf8_lossy()
        .into_owned()
}

/// Opens connections to one URL; the TLS settings are read (and root certificates loaded) once.
#[derive(Clone)]
pub struct PgConnector {
    config: tokio_postgres::Config,
    mode: SslMode,
    tls: Option<MakeRustlsConnect>,
}

impl PgConnector {
    /// Reads `url`; an unknown `sslmode` or an unreadable `sslrootcert` fails here.
    pub fn new(url: &str) -> ConnectionResult<Self> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mode = SslMode::of_url(url)
            .map_err(|other| invalid(format!("sslmode {other:?} is not one of {SSL_MODES}")))?;
        let mut root = None;
        // The other parameters go to tokio-postgres exactly as written.
        let mut kept = Vec::new();
        for (key, value) in params(query) {
            match key {
                "sslmode" => {}
                "sslrootcert" => root = Some(decode(value)),
                _ if value.is_empty() => kept.push(key.to_owned()),
                _ => kept.push(format!("{key}={value}")),
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let mut config: tokio_postgres::Config = rest
            .parse()
            .map_err(|e| invalid(format!("DATABASE_URL: {e}")))?;
        let tls = match mode {
            SslMode::Disable | SslMode::Prefer => {
                config.ssl_mode(WireMode::Disable);
                None
            }
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                config.ssl_mode(WireMode::Require);
                Some(MakeRustlsConnect::new(client_config(
                    mode,
                    root.as_deref(),
                )?))
            }
        };
        Ok(Self { config, mode, tls })
    }

    /// What `sslmode` asked for.
    pub fn mode(&self) -> SslMode {
        self.mode
    }

    /// A new connection; a TLS failure is named as one (an untrusted certificate, a server
    /// without TLS), other failures in PostgreSQL's words.
    pub async fn connect(&self) -> ConnectionResult<AsyncPgConnection> {
        match &self.tls {
            None => {
                let (client, connection) = self
                    .config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| failure(&e, self.mode))?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await
            }
            Some(tls) => {
                let (client, connection) = self
                    .config
                    .connect(tls.clone())
                    .await
                    .map_err(|e| failure(&e, self.mode))?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await
            }
        }
    }
}

/// Opens one connection to `url` (see [`PgConnector`]).
pub async fn connect(url: &str) -> ConnectionResult<AsyncPgConnection> {
    PgConnector::new(url)?.connect().await
}

fn invalid(message: String) -> ConnectionError {
    ConnectionError::InvalidConnectionUrl(message)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(mode: SslMode, root: Option<&str>) -> ConnectionResult<ClientConfig> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("TLS: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, root) {
        (SslMode::Require, None) => Arc::new(Unchecked(provider)),
        (SslMode::VerifyFull, root) => web_pki(root, provider)?,
        (_, root) => Arc::new(ChainOnly(web_pki(root, provider)?)),
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// The standard verifier (chain and host name) over the roots `sslrootcert` names.
fn web_pki(
    root: Option<&str>,
    provider: Arc<CryptoProvider>,
) -> ConnectionResult<Arc<WebPkiServerVerifier>> {
    let mut roots = RootCertStore::empty();
    match root {
        Some(file) if file != "system" => {
            let certs = CertificateDer::pem_file_iter(file)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|e| invalid(format!("sslrootcert {file}: {e}")))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(invalid(format!(
                    "sslrootcert {file}: no certificate in the file"
                )));
            }
        }
        _ => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(invalid(
                    "no system root certificates to check PostgreSQL's against; name a CA file \
                     with sslrootcert="
                        .to_owned(),
                ));
            }
        }
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| invalid(format!("TLS: {e}")))
}

/// `verify-ca`: the chain is checked, the host name is not. rustls checks the chain first, so
/// a name error means the chain was good.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
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

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `require` without `sslrootcert`: any certificate, but the handshake's signatures are still
/// checked against it (the server holds the key of the certificate it shows).
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A failed connection in words naming the cause: TLS failures say TLS and what to change.
fn failure(e: &tokio_postgres::Error, mode: SslMode) -> ConnectionError {
    ConnectionError::BadConnection(describe(e, mode))
}

fn describe(e: &tokio_postgres::Error, mode: SslMode) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = db.message().to_owned();
        if let Some(hint) = db.hint() {
            text.push_str(&format!(" ({hint})"));
        }
        return text;
    }
    // tokio-postgres's own words ("error performing TLS handshake") leave out the cause.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let tls = cause.downcast_ref::<rustls::Error>().or_else(|| {
            cause
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(tls) = tls {
            return tls_failure(tls, mode);
        }
        let words = cause.to_string();
        if words == "server does not support TLS" {
            return format!(
                "TLS: sslmode={} requires TLS but the server does not offer it (ssl = off in its \
                 postgresql.conf)",
                mode_name(mode)
            );
        }
        text = format!("{text}: {words}");
        source = cause.source();
    }
    text
}

fn tls_failure(e: &rustls::Error, mode: SslMode) -> String {
    let mode = mode_name(mode);
    match e {
        rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => format!(
            "TLS: the server's certificate is not signed by a trusted CA ({e}); sslmode={mode} \
             checks it against sslrootcert= or the system's roots"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "TLS: the server's certificate does not name the host connected to ({e}); \
             sslmode=verify-full checks the name, verify-ca does not"
        ),
        rustls::Error::InvalidCertificate(_) => {
            format!("TLS: the server's certificate is not accepted ({e})")
        }
        other => format!("TLS handshake failed ({other})"),
    }
}

fn mode_name(mode: SslMode) -> &'static str {
    match mode {
        SslMode::Disable => "disable",
        SslMode::Prefer => "prefer",
        SslMode::Require => "require",
        SslMode::VerifyCa => "verify-ca",
        SslMode::VerifyFull => "verify-full",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_read_and_the_rest_goes_to_tokio_postgres() {
        let plain = PgConnector::new("postgres://u@db.example:6543/x").unwrap();
        assert_eq!(plain.mode(), SslMode::Prefer);
        assert!(plain.tls.is_none());
        assert_eq!(plain.config.get_ssl_mode(), WireMode::Disable);

        let tls = PgConnector::new(
            "postgres://u@db.example/x?application_name=a%20b&sslmode=require&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(tls.mode(), SslMode::Require);
        assert!(tls.tls.is_some());
        assert_eq!(tls.config.get_ssl_mode(), WireMode::Require);
        assert_eq!(tls.config.get_application_name(), Some("a b"));
        assert_eq!(
            tls.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(3))
        );

        let disabled = PgConnector::new("postgres://u@h/x?sslmode=disable").unwrap();
        assert_eq!(disabled.mode(), SslMode::Disable);
        assert!(disabled.tls.is_none());
    }

    #[test]
    fn a_bad_sslmode_or_root_file_is_refused_with_its_name() {
        let err = PgConnector::new("postgres://u@h/x?sslmode=verify")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("sslmode \"verify\" is not one of"), "{err}");
        let err =
            PgConnector::new("postgres://u@h/x?sslmode=verify-ca&sslrootcert=/nonexistent.pem")
                .err()
                .unwrap()
                .to_string();
        assert!(err.contains("sslrootcert /nonexistent.pem"), "{err}");
        let empty = std::env::temp_dir().join(format!("dw-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = PgConnector::new(&format!(
            "postgres://u@h/x?sslmode=verify-full&sslrootcert={}",
            empty.display()
        ))
        .err()
        .unwrap()
        .to_string();
        std::fs::remove_file(&empty).unwrap();
        assert!(err.contains("no certificate in the file"), "{err}");
    }
}
