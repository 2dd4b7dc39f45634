//! Typed settings, read once from the environment and passed down (no global).
//!
//! Every variable has a default that works against the local PostgreSQL and Redis. A bad value is
//! a [`ConfigError`] naming the variable and what it expects; `main` prints it and exits with 2.
//! Secrets are never echoed back in errors.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use ipnet::IpNet;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The one forwarding header a trusted proxy writes; the other is ignored, since proxies pass
/// a client's own copy of it through unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyHeader {
    /// `X-Forwarded-For` (nginx, HAProxy, most load balancers).
    XForwardedFor,
    /// `Forwarded` (RFC 7239).
    Forwarded,
}

/// All runtime settings of a downwatch instance.
#[derive(Clone)]
pub struct Settings {
    /// PostgreSQL connection URL; the database is created if missing.
    pub database_url: String,
    /// Redis connection URL.
    pub redis_url: String,
    /// Addresses the HTTP server listens on (host names resolved, duplicates dropped).
    pub bind: Vec<SocketAddr>,
    /// Prefix of every Redis key this instance writes.
    pub redis_prefix: String,
    /// Bearer token for admin endpoints; `None` disables them.
    pub admin_token: Option<String>,
    /// HMAC secret for reporter keys; `None` means "generated once, kept in PostgreSQL".
    pub reporter_secret: Option<String>,
    /// Peers whose forwarding header is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Which forwarding header trusted proxies write.
    pub proxy_header: ProxyHeader,
    /// One reporter counts once per service within this window.
    pub dedup_window: Duration,
    /// Sustained report rate allowed per client IP (IPv6: per /64).
    pub rate_per_minute: NonZeroU32,
    /// Reports a client IP may send at once before the sustained rate applies.
    pub rate_burst: NonZeroU32,
    /// Counted reports per client address (IPv6: per /64) per service per cap window.
    pub cap_per_address: u32,
    /// Counted reports per network (IPv4 /24, IPv6 /48) per service per cap window.
    pub cap_per_network: u32,
    /// The sliding window both caps apply over.
    pub cap_window: Duration,
    /// How long minute buckets stay in Redis.
    pub retention: Duration,
    /// Log output format.
    pub log_format: LogFormat,
    /// Upper bound on one Redis round trip before the request answers 503.
    pub redis_timeout: Duration,
    /// Upper bound on a PostgreSQL connection wait or query before answering 503.
    pub database_timeout: Duration,
    /// Connections of the pool that serves requests.
    pub database_pool: usize,
    /// Connections of the pool of the monitor, rollups and catalog refresh, which no request
    /// can take.
    pub background_pool: usize,
    /// Renderings of expensive reads one client address (IPv6: /64) may cause at once.
    pub read_burst: NonZeroU32,
    /// ... and per minute after that.
    pub read_rate_per_minute: NonZeroU32,
    /// Expensive reads (curve, chart, breakdown and board renderings) at once per instance;
    /// more answer 503 at once.
    pub heavy_reads: usize,
    /// How often each instance reloads the service catalog into memory.
    pub catalog_refresh: Duration,
    /// HTTP worker threads; `None` means one per CPU core.
    pub workers: Option<usize>,
    /// The intake's own listen addresses (reports and health only, on workers of their own);
    /// empty: none, reports are taken on `bind` only.
    pub intake_bind: Vec<SocketAddr>,
    /// The intake listener's worker threads; `None` means one per CPU core.
    pub intake_workers: Option<usize>,
    /// How often the monitor evaluates (the leader lease lasts three ticks).
    pub monitor_tick: Duration,
    /// Shards the monitor's services are split into, each with a lease of its own (1: one
    /// leader evaluates every service).
    pub monitor_shards: u32,
    /// How long a request body may take to arrive, from the request's headers, before 408.
    pub body_timeout: Duration,
    /// Most event streams open at once on an instance.
    pub events_max_streams: usize,
    /// Most event streams open at once from one client address (IPv6: /64).
    pub events_max_per_client: usize,
    /// Most missed events replayed to a client resuming with `Last-Event-ID`.
    pub events_replay: usize,
    /// How long a rendered curve, chart or board is shared between identical requests.
    pub read_cache: Duration,
    /// How long the rollup's progress is taken as known by curves (0: looked up every time,
    /// and no stored bins kept in the process).
    pub history_cache: Duration,
    /// Detection parameters.
    pub detect: crate::detect::Params,
    /// Where this site is reached from outside, for links in alerts (no trailing slash).
    pub public_url: String,
    /// Which webhook targets deliveries may reach.
    pub webhook_policy: crate::alerts::TargetPolicy,
    /// Upper bound on one webhook attempt.
    pub webhook_timeout: Duration,
    /// Months of 15-minute history kept in PostgreSQL; `None`: all of it.
    pub history_months: Option<u32>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("bind", &self.bind)
            .field("intake_bind", &self.intake_bind)
            .field("redis_prefix", &self.redis_prefix)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<set>"))
            .field(
                "reporter_secret",
                &self.reporter_secret.as_ref().map(|_| "<set>"),
            )
            .field("trusted_proxies", &self.trusted_proxies)
            .field("dedup_window", &self.dedup_window)
            .field("rate_per_minute", &self.rate_per_minute)
            .field("rate_burst", &self.rate_burst)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

/// A configuration variable with a value that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: expected {expected}{}", got.as_ref().map(|g| format!(", got {g:?}")).unwrap_or_default())]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What a valid value looks like.
    pub expected: String,
    /// The value found, unless it is secret.
    pub got: Option<String>,
}

impl Settings {
    /// Reads settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, which returns a variable's value if it is set.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        Ok(Self {
            database_url: env.database_url()?,
            redis_url: env.redis_url()?,
            bind: env.bind()?,
            redis_prefix: env.redis_prefix()?,
            admin_token: env.secret("DOWNWATCH_ADMIN_TOKEN", 16)?,
            reporter_secret: env.secret("DOWNWATCH_REPORTER_SECRET", 32)?,
            trusted_proxies: env.cidrs("DOWNWATCH_TRUSTED_PROXIES")?,
            proxy_header: env.proxy_header()?,
            dedup_window: minutes(env.number("DOWNWATCH_DEDUP_MINUTES", 60, 1, 7 * 24 * 60)?),
            rate_per_minute: env.nonzero("DOWNWATCH_RATE_PER_MINUTE", 30, 1_000_000)?,
            rate_burst: env.nonzero("DOWNWATCH_RATE_BURST", 10, 1_000_000)?,
            cap_per_address: env
                .nonzero("DOWNWATCH_CAP_PER_ADDRESS", 6, 1_000_000)?
                .get(),
            cap_per_network: env
                .nonzero("DOWNWATCH_CAP_PER_NETWORK", 18, 1_000_000)?
                .get(),
            cap_window: minutes(env.number("DOWNWATCH_CAP_WINDOW_MINUTES", 60, 1, 24 * 60)?),
            retention: minutes(60 * env.number("DOWNWATCH_RETENTION_HOURS", 48, 1, 24 * 90)?),
            log_format: env.log_format()?,
            redis_timeout: millis(env.number("DOWNWATCH_REDIS_TIMEOUT_MS", 500, 10, 60_000)?),
            database_timeout: millis(env.number(
                "DOWNWATCH_DATABASE_TIMEOUT_MS",
                2_000,
                10,
                60_000,
            )?),
            database_pool: env.count("DOWNWATCH_DATABASE_POOL", 16, 1, 1_000)?,
            background_pool: env.count("DOWNWATCH_DATABASE_BACKGROUND_POOL", 4, 1, 100)?,
            read_burst: env.nonzero("DOWNWATCH_READ_BURST", 30, 1_000_000)?,
            read_rate_per_minute: env.nonzero("DOWNWATCH_READ_RATE_PER_MINUTE", 60, 1_000_000)?,
            heavy_reads: env.count("DOWNWATCH_HEAVY_READS", 8, 1, 10_000)?,
            catalog_refresh: Duration::from_secs(env.number(
                "DOWNWATCH_CATALOG_REFRESH_SECONDS",
                10,
                1,
                3_600,
            )?),
            workers: env.threads("DOWNWATCH_WORKERS")?,
            intake_bind: env.intake_bind()?,
            intake_workers: env.threads("DOWNWATCH_INTAKE_WORKERS")?,
            monitor_tick: Duration::from_secs(env.number(
                "DOWNWATCH_MONITOR_TICK_SECONDS",
                15,
                1,
                300,
            )?),
            monitor_shards: u32::try_from(env.number("DOWNWATCH_MONITOR_SHARDS", 1, 1, 1024)?)
                .unwrap_or(1),
            read_cache: millis(env.number("DOWNWATCH_READ_CACHE_MS", 1_000, 0, 60_000)?),
            history_cache: millis(env.number("DOWNWATCH_HISTORY_CACHE_MS", 1_000, 0, 60_000)?),
            events_max_streams: env.count("DOWNWATCH_EVENTS_MAX_STREAMS", 1_000, 1, 100_000)?,
            events_max_per_client: env.count("DOWNWATCH_EVENTS_MAX_PER_CLIENT", 8, 1, 100_000)?,
            events_replay: env.count("DOWNWATCH_EVENTS_REPLAY", 100, 1, 10_000)?,
            body_timeout: millis(env.number("DOWNWATCH_BODY_TIMEOUT_MS", 5_000, 100, 60_000)?),
            detect: env.detect_params()?,
            public_url: env.public_url()?,
            webhook_policy: crate::alerts::TargetPolicy {
                allow_http: env.flag("DOWNWATCH_WEBHOOK_ALLOW_HTTP")?,
                allow_private: env.flag("DOWNWATCH_WEBHOOK_ALLOW_PRIVATE")?,
            },
            webhook_timeout: millis(env.number(
                "DOWNWATCH_WEBHOOK_TIMEOUT_MS",
                10_000,
                100,
                60_000,
            )?),
            history_months: match env.number("DOWNWATCH_HISTORY_MONTHS", 0, 0, 1200)? {
                0 => None,
                months => u32::try_from(months).ok(),
            },
        })
    }
}

fn minutes(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

struct Env<'a, F>(&'a F);

impl<F: Fn(&str) -> Option<String>> Env<'_, F> {
    /// The trimmed value, treating an empty variable as unset.
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// `true` or `false`, false when unset.
    fn flag(&self, name: &'static str) -> Result<bool, ConfigError> {
        match self.get(name).as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(Self::error(name, "true or false", Some(other))),
        }
    }

    /// The site's public address: `DOWNWATCH_PUBLIC_URL`, or the bound address.
    fn public_url(&self) -> Result<String, ConfigError> {
        const NAME: &str = "DOWNWATCH_PUBLIC_URL";
        let Some(raw) = self.get(NAME) else {
            let bind = self.get("DOWNWATCH_BIND");
            return Ok(format!(
                "http://{}",
                bind.as_deref().unwrap_or("127.0.0.1:8080")
            ));
        };
        match url::Url::parse(&raw) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
                Ok(raw.trim_end_matches('/').to_owned())
            }
            _ => Err(Self::error(
                NAME,
                "an http(s) URL like https://downwatch.example.com",
                Some(&raw),
            )),
        }
    }

    fn error(
        variable: &'static str,
        expected: impl Into<String>,
        got: Option<&str>,
    ) -> ConfigError {
        ConfigError {
            variable,
            expected: expected.into(),
            got: got.map(str::to_owned),
        }
    }

    fn number(
        &self,
        name: &'static str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        let expected = format!("a whole number from {min} to {max}");
        let value: u64 = match self.get(name) {
            None => return Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|_| Self::error(name, &expected, Some(&raw)))?,
        };
        if (min..=max).contains(&value) {
            Ok(value)
        } else {
            Err(Self::error(name, expected, Some(&value.to_string())))
        }
    }

    /// A count of things held in memory (connections, permits) as a `usize`.
    fn count(
        &self,
        name: &'static str,
        default: usize,
        min: usize,
        max: usize,
    ) -> Result<usize, ConfigError> {
        let widen = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let value = self.number(name, widen(default), widen(min), widen(max))?;
        Ok(usize::try_from(value).expect("at most max, itself a usize"))
    }

    /// A number of worker threads (1-256), `None` when unset (one per core).
    fn threads(&self, name: &'static str) -> Result<Option<usize>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(_) => self.count(name, 1, 1, 256).map(Some),
        }
    }

    fn nonzero(
        &self,
        name: &'static str,
        default: u32,
        max: u32,
    ) -> Result<NonZeroU32, ConfigError> {
        let value = self.number(name, u64::from(default), 1, u64::from(max))?;
        Ok(u32::try_from(value)
            .ok()
            .and_then(NonZeroU32::new)
            .expect("range starts at 1, ends within u32"))
    }

    fn url(
        &self,
        name: &'static str,
        default: &str,
        schemes: &[&str],
    ) -> Result<String, ConfigError> {
        let raw = self.get(name).unwrap_or_else(|| default.to_owned());
        let expected = format!("a URL with scheme {}", schemes.join(" or "));
        match url::Url::parse(&raw) {
            // The URL may carry a password: only the scheme is echoed.
            Ok(url) if schemes.contains(&url.scheme()) => Ok(raw),
            Ok(url) => Err(Self::error(
                name,
                expected,
                Some(&format!("scheme {}", url.scheme())),
            )),
            Err(e) => Err(Self::error(name, format!("{expected} ({e})"), None)),
        }
    }

    fn database_url(&self) -> Result<String, ConfigError> {
        let url = self.url(
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/downwatch",
            &["postgres", "postgresql"],
        )?;
        crate::db::connect::SslMode::of_url(&url)
            .map(|_| url)
            .map_err(|other| {
                Self::error(
                    "DATABASE_URL",
                    format!("sslmode {}", crate::db::connect::SSL_MODES),
                    Some(&format!("sslmode={other}")),
                )
            })
    }

    fn redis_url(&self) -> Result<String, ConfigError> {
        let url = self
            .get("REDIS_URL")
            .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
        // The error never echoes the URL: it may carry a password.
        crate::windows::RedisTarget::parse(&url)
            .map(|_| url)
            .map_err(|expected| Self::error("REDIS_URL", expected, None))
    }

    fn secret(&self, name: &'static str, min_len: usize) -> Result<Option<String>, ConfigError> {
        match self.get(name) {
            Some(v) if v.len() < min_len => Err(Self::error(
                name,
                format!("at least {min_len} characters (the value is not shown)"),
                None,
            )),
            other => Ok(other),
        }
    }

    fn redis_prefix(&self) -> Result<String, ConfigError> {
        let name = "DOWNWATCH_REDIS_PREFIX";
        let raw = self.get(name).unwrap_or_else(|| "dw".to_owned());
        let ok = raw.len() <= 64
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':' | b'.'));
        if ok {
            Ok(raw)
        } else {
            Err(Self::error(
                name,
                "1 to 64 characters of A-Z a-z 0-9 _ - : . (no braces: they would break hash tags)",
                Some(&raw),
            ))
        }
    }

    fn cidrs(&self, name: &'static str) -> Result<Vec<IpNet>, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(Vec::new());
        };
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        Self::error(
                            name,
                            "a comma-separated list of CIDR blocks or addresses, like 10.0.0.0/8,::1",
                            Some(item),
                        )
                    })
            })
            .collect()
    }

    /// `DOWNWATCH_BIND`: comma-separated `host:port` items, each an IP address or a host name
    /// (every address it resolves to is listened on).
    fn bind(&self) -> Result<Vec<SocketAddr>, ConfigError> {
        let raw = self
            .get("DOWNWATCH_BIND")
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        Self::addresses("DOWNWATCH_BIND", &raw)
    }

    /// `DOWNWATCH_INTAKE_BIND`: the intake's own listen addresses, as `DOWNWATCH_BIND`; none
    /// when unset (reports are then taken on the main listener only).
    fn intake_bind(&self) -> Result<Vec<SocketAddr>, ConfigError> {
        match self.get("DOWNWATCH_INTAKE_BIND") {
            None => Ok(Vec::new()),
            Some(raw) => Self::addresses("DOWNWATCH_INTAKE_BIND", &raw),
        }
    }

    /// Comma-separated `host:port` items of variable `name`, resolved and deduplicated.
    fn addresses(name: &'static str, raw: &str) -> Result<Vec<SocketAddr>, ConfigError> {
        use std::net::ToSocketAddrs;
        const EXPECTED: &str = "comma-separated addresses with a port, like 127.0.0.1:8080, [::]:8080 or localhost:8080";
        let mut all: Vec<SocketAddr> = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let resolved: Vec<SocketAddr> = match item.parse::<SocketAddr>() {
                Ok(address) => vec![address],
                Err(_) => {
                    let (host, port) = item
                        .rsplit_once(':')
                        .filter(|(host, _)| !host.is_empty())
                        .ok_or_else(|| Self::error(name, EXPECTED, Some(item)))?;
                    let port: u16 = port
                        .parse()
                        .map_err(|_| Self::error(name, EXPECTED, Some(item)))?;
                    (host, port)
                        .to_socket_addrs()
                        .map_err(|e| {
                            Self::error(
                                name,
                                format!("{EXPECTED}; {host:?} does not resolve ({e})"),
                                Some(item),
                            )
                        })?
                        .collect()
                }
            };
            for address in resolved {
                if !all.contains(&address) {
                    all.push(address);
                }
            }
        }
        if all.is_empty() {
            return Err(Self::error(name, EXPECTED, Some(raw)));
        }
        Ok(all)
    }

    fn proxy_header(&self) -> Result<ProxyHeader, ConfigError> {
        match self
            .get("DOWNWATCH_PROXY_HEADER")
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("x-forwarded-for") => Ok(ProxyHeader::XForwardedFor),
            Some("forwarded") => Ok(ProxyHeader::Forwarded),
            Some(other) => Err(Self::error(
                "DOWNWATCH_PROXY_HEADER",
                "x-forwarded-for or forwarded",
                Some(other),
            )),
        }
    }

    fn decimal(
        &self,
        name: &'static str,
        default: f64,
        min: f64,
        max: f64,
    ) -> Result<f64, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        raw.parse::<f64>()
            .ok()
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(|| Self::error(name, format!("a number from {min} to {max}"), Some(&raw)))
    }

    /// The detection parameters people most often tune; the rest keep their defaults.
    fn detect_params(&self) -> Result<crate::detect::Params, ConfigError> {
        let d = crate::detect::Params::default();
        Ok(crate::detect::Params {
            z_elevated: self.decimal("DOWNWATCH_DETECT_Z_ELEVATED", d.z_elevated, 1.0, 50.0)?,
            z_outage: self.decimal("DOWNWATCH_DETECT_Z_OUTAGE", d.z_outage, 1.0, 100.0)?,
            min_excess_elevated: self.decimal(
                "DOWNWATCH_DETECT_MIN_EXCESS_ELEVATED",
                d.min_excess_elevated,
                0.0,
                1e6,
            )?,
            min_excess_outage: self.decimal(
                "DOWNWATCH_DETECT_MIN_EXCESS_OUTAGE",
                d.min_excess_outage,
                0.0,
                1e6,
            )?,
            confirm_minutes: self.decimal(
                "DOWNWATCH_DETECT_CONFIRM_MINUTES",
                d.confirm_minutes,
                1.0,
                60.0,
            )?,
            resolve_minutes: self.decimal(
                "DOWNWATCH_DETECT_RESOLVE_MINUTES",
                d.resolve_minutes,
                1.0,
                1440.0,
            )?,
            ..d
        })
    }

    fn log_format(&self) -> Result<LogFormat, ConfigError> {
        match self.get("DOWNWATCH_LOG_FORMAT").as_deref() {
            None | Some("text") => Ok(LogFormat::Text),
            Some("json") => Ok(LogFormat::Json),
            Some(other) => Err(Self::error(
                "DOWNWATCH_LOG_FORMAT",
                "text or json",
                Some(other),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_work_on_a_local_machine() {
        let s = settings(&[]).unwrap();
        assert_eq!(
            s.database_url,
            "postgres://postgres@127.0.0.1:5432/downwatch"
        );
        assert_eq!(s.redis_url, "redis://127.0.0.1:6379");
        assert_eq!(s.bind, ["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]);
        assert_eq!(s.redis_prefix, "dw");
        assert_eq!(s.dedup_window, Duration::from_secs(3600));
        assert_eq!(s.retention, Duration::from_secs(48 * 3600));
        assert!(s.admin_token.is_none() && s.reporter_secret.is_none());
        assert!(s.trusted_proxies.is_empty());
        assert_eq!(s.log_format, LogFormat::Text);
    }

    #[test]
    fn bad_numbers_name_the_variable() {
        let err = settings(&[("DOWNWATCH_RATE_PER_MINUTE", "lots")]).unwrap_err();
        assert_eq!(err.variable, "DOWNWATCH_RATE_PER_MINUTE");
        assert_eq!(
            err.to_string(),
            "DOWNWATCH_RATE_PER_MINUTE: expected a whole number from 1 to 1000000, got \"lots\""
        );
        let err = settings(&[("DOWNWATCH_DEDUP_MINUTES", "0")]).unwrap_err();
        assert_eq!(err.variable, "DOWNWATCH_DEDUP_MINUTES");
    }

    #[test]
    fn secrets_are_never_echoed() {
        let err = settings(&[("DOWNWATCH_ADMIN_TOKEN", "short-secret")]).unwrap_err();
        assert_eq!(err.variable, "DOWNWATCH_ADMIN_TOKEN");
        assert!(!err.to_string().contains("short-secret"));
        let err = settings(&[("DATABASE_URL", "mysql://root:hunter2@db/x")]).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn database_url_sslmode_is_checked_without_echoing_the_password() {
        let err =
            settings(&[("DATABASE_URL", "postgres://u:hunter2@db/x?sslmode=verify")]).unwrap_err();
        assert_eq!(err.variable, "DATABASE_URL");
        assert!(err.to_string().contains("got \"sslmode=verify\""), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let ok = settings(&[("DATABASE_URL", "postgres://u@db/x?sslmode=verify-full")]).unwrap();
        assert!(ok.database_url.ends_with("sslmode=verify-full"));
    }

    #[test]
    fn bind_takes_host_names_and_several_addresses() {
        let bind = |value: &str| settings(&[("DOWNWATCH_BIND", value)]).map(|s| s.bind);
        let localhost = bind("localhost:8080").unwrap();
        assert!(
            !localhost.is_empty()
                && localhost
                    .iter()
                    .all(|a| a.ip().is_loopback() && a.port() == 8080),
            "{localhost:?}"
        );
        let several = bind("127.0.0.1:8080, [::1]:9090,127.0.0.1:8080").unwrap();
        assert_eq!(
            several,
            [
                "127.0.0.1:8080".parse::<SocketAddr>().unwrap(),
                "[::1]:9090".parse().unwrap()
            ]
        );
        for bad in [
            "localhost",
            "127.0.0.1",
            ":8080",
            "localhost:http",
            ",",
            "no-such-host.invalid:80",
        ] {
            let err = bind(bad).unwrap_err();
            assert_eq!(err.variable, "DOWNWATCH_BIND", "{bad}");
            assert!(err.to_string().contains("localhost:8080"), "{err}");
        }
    }

    #[test]
    fn the_intake_listener_is_off_unless_bound_and_its_errors_name_it() {
        let unset = settings(&[]).unwrap();
        assert!(unset.intake_bind.is_empty());
        assert_eq!(unset.intake_workers, None);
        let set = settings(&[
            ("DOWNWATCH_INTAKE_BIND", "127.0.0.1:8081"),
            ("DOWNWATCH_INTAKE_WORKERS", "1"),
        ])
        .unwrap();
        assert_eq!(
            set.intake_bind,
            ["127.0.0.1:8081".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(set.intake_workers, Some(1));
        let err = settings(&[("DOWNWATCH_INTAKE_BIND", "8081")]).unwrap_err();
        assert_eq!(err.variable, "DOWNWATCH_INTAKE_BIND");
        let err = settings(&[("DOWNWATCH_INTAKE_WORKERS", "0")]).unwrap_err();
        assert_eq!(err.variable, "DOWNWATCH_INTAKE_WORKERS");
    }

    #[test]
    fn proxies_accept_cidrs_and_plain_addresses() {
        let s = settings(&[("DOWNWATCH_TRUSTED_PROXIES", "10.0.0.0/8, ::1,192.168.1.7")]).unwrap();
        assert_eq!(s.trusted_proxies.len(), 3);
        let err = settings(&[("DOWNWATCH_TRUSTED_PROXIES", "10.0.0.0/8,nope")]).unwrap_err();
        assert_eq!(err.got.as_deref(), Some("nope"));
    }

    #[test]
    fn prefix_rejects_braces_and_log_format_is_checked() {
        assert_eq!(
            settings(&[("DOWNWATCH_REDIS_PREFIX", "a{b}")])
                .unwrap_err()
                .variable,
            "DOWNWATCH_REDIS_PREFIX"
        );
        assert_eq!(
            settings(&[("DOWNWATCH_LOG_FORMAT", "xml")])
                .unwrap_err()
                .variable,
            "DOWNWATCH_LOG_FORMAT"
        );
        assert_eq!(
            settings(&[("DOWNWATCH_LOG_FORMAT", "json")])
                .unwrap()
                .log_format,
            LogFormat::Json
        );
    }
}
