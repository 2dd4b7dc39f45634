//! Why a dependency cannot be reached, in words an operator acts on.
//!
//! The drivers say too little when a connection fails: tokio-postgres says "error connecting to
//! server", and Redis's connection manager keeps retrying until the caller's deadline, so a
//! refused connection reads as a timeout. When a call fails, [`diagnose`] opens a plain TCP
//! connection to the same address and names what stops it: the host name that does not resolve,
//! the port that refuses, the address that does not answer. Only when TCP works is the driver's
//! own error the cause (authentication, an unknown database, TLS).

use std::fmt;
use std::time::Duration;

/// Where a dependency is: a host and port, or a Unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A host name or IP address and a port.
    Tcp {
        /// Host name or IP address, as configured.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// A Unix socket (path or directory), as configured.
    Socket(String),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Self::Tcp { host, port } => write!(f, "{host}:{port}"),
            Self::Socket(path) => write!(f, "socket {path}"),
        }
    }
}

/// What stops a TCP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The host name does not resolve.
    UnknownHost(String),
    /// Nothing listens on the port (the host answered with a reset).
    Refused,
    /// No answer within the deadline (a firewall dropping packets, a host that is down).
    TimedOut(Duration),
    /// Any other failure, in the system's words.
    Other(String),
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownHost(detail) => write!(f, "the host name does not resolve ({detail})"),
            Self::Refused => f.write_str("connection refused (nothing listens on that port)"),
            Self::TimedOut(after) => write!(f, "no answer within {} ms", after.as_millis()),
            Self::Other(detail) => f.write_str(detail),
        }
    }
}

/// Opens (and closes) a TCP connection to `address` within `deadline`; `None` when it works, or
/// when the address is a socket (not diagnosed).
pub async fn diagnose(address: &Address, deadline: Duration) -> Option<Cause> {
    let Address::Tcp { host, port } = address else {
        return None;
    };
    let attempt = async {
        let targets: Vec<_> = match tokio::net::lookup_host((host.as_str(), *port)).await {
            Ok(targets) => targets.collect(),
            Err(e) => return Some(Cause::UnknownHost(e.to_string())),
        };
        let mut cause = Some(Cause::UnknownHost("no address".to_owned()));
        for target in targets {
            match tokio::net::TcpStream::connect(target).await {
                Ok(_) => return None,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    cause = Some(Cause::Refused);
                }
                Err(e) => cause = Some(Cause::Other(e.to_string())),
            }
        }
        cause
    };
    tokio::time::timeout(deadline, attempt)
        .await
        .unwrap_or(Some(Cause::TimedOut(deadline)))
}

/// The address a `postgres://` URL connects to (`localhost:5432` when it names none; a `host`
/// parameter wins over the URL's host, as in libpq).
pub fn postgres_address(url: &str) -> Option<Address> {
    let parsed = url::Url::parse(url).ok()?;
    let param = |name: &str| {
        parsed
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let port = param("port")
        .and_then(|p| p.parse().ok())
        .or(parsed.port())
        .unwrap_or(5432);
    let host = param("host")
        .or_else(|| {
            parsed
                .host_str()
                .filter(|h| !h.is_empty())
                .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
        })
        .unwrap_or_else(|| "localhost".to_owned());
    Some(if host.starts_with('/') {
        Address::Socket(host)
    } else {
        Address::Tcp { host, port }
    })
}

/// Explains a failed PostgreSQL connection: the address, and the cause (from TCP when TCP
/// fails, else the driver's own words).
pub async fn postgres_failure(url: &str, driver_error: &str, deadline: Duration) -> String {
    let Some(address) = postgres_address(url) else {
        return format!("cannot connect to PostgreSQL (DATABASE_URL): {driver_error}");
    };
    let cause = diagnose(&address, deadline)
        .await
        .map_or_else(|| driver_error.to_owned(), |cause| cause.to_string());
    format!("cannot connect to PostgreSQL at {address} (DATABASE_URL): {cause}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_addresses_come_from_the_url_and_its_parameters() {
        let tcp = |host: &str, port| Address::Tcp {
            host: host.into(),
            port,
        };
        assert_eq!(
            postgres_address("postgres://u@db.example:6543/x"),
            Some(tcp("db.example", 6543))
        );
        assert_eq!(
            postgres_address("postgres://u@127.0.0.1/x"),
            Some(tcp("127.0.0.1", 5432))
        );
        assert_eq!(
            postgres_address("postgres://u@[::1]:5433/x"),
            Some(tcp("::1", 5433))
        );
        assert_eq!(
            postgres_address("postgres://u@x/db?host=/run/postgresql"),
            Some(Address::Socket("/run/postgresql".into()))
        );
        assert_eq!(
            postgres_address("postgres://u@x/db?host=other&port=7000"),
            Some(tcp("other", 7000))
        );
        assert_eq!(tcp("::1", 5433).to_string(), "[::1]:5433");
    }

    #[actix_web::test]
    async fn a_closed_port_is_refused_and_a_bad_name_does_not_resolve() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Address::Tcp {
            host: "127.0.0.1".into(),
            port,
        };
        assert_eq!(diagnose(&open, Duration::from_secs(5)).await, None);
        drop(listener);
        assert_eq!(
            diagnose(&open, Duration::from_secs(5)).await,
            Some(Cause::Refused)
        );
        let unknown = Address::Tcp {
            host: "no-such-host.invalid".into(),
            port: 1,
        };
        assert!(matches!(
            diagnose(&unknown, Duration::from_secs(5)).await,
            Some(Cause::UnknownHost(_))
        ));
    }
}
