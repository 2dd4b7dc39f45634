//! Where Redis is: one server, or a Redis Cluster named by some of its nodes.
//!
//! `REDIS_URL` says which. `redis://host:port` (or `rediss://` for TLS) is one server, as
//! always. `redis+cluster://host:port,host:port,...` (or `rediss+cluster://`) is a cluster: the
//! listed nodes are seeds, asked for the slot map at start and whenever it changes, so a few
//! of them suffice. Credentials before the first node (`redis+cluster://user:pass@a:7000,b:7001`)
//! apply to every node. A cluster has one database, so a path is refused.

use redis::IntoConnectionInfo;

/// The Redis a deployment uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One server, at this `redis://` or `rediss://` URL.
    Single(String),
    /// A Redis Cluster, found through these seed URLs (one `redis://` or `rediss://` each).
    Cluster(Vec<String>),
}

impl RedisTarget {
    /// Reads a `REDIS_URL`; the error says what is wrong, never echoing a password.
    pub fn parse(url: &str) -> Result<Self, String> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err("a redis://, rediss://, redis+cluster:// or rediss+cluster:// URL".into());
        };
        let node_scheme = match scheme {
            "redis+cluster" => "redis",
            "rediss+cluster" => "rediss",
            "redis" | "rediss" => {
                return url
                    .into_connection_info()
                    .map(|_| Self::Single(url.to_owned()))
                    .map_err(|e| format!("a redis:// or rediss:// (TLS) URL Redis accepts ({e})"));
            }
            other => {
                return Err(format!(
                    "a redis://, rediss:// (TLS), redis+cluster:// or rediss+cluster:// URL, not scheme {other}"
                ));
            }
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(format!(
                "{scheme}://host:port,host:port (a cluster has no database, path or options)"
            ));
        }
        let (credentials, nodes) = match rest.rsplit_once('@') {
            Some((credentials, nodes)) => (format!("{credentials}@"), nodes),
            None => (String::new(), rest),
        };
        let seeds: Vec<String> = nodes
            .split(',')
            .map(|node| format!("{node_scheme}://{credentials}{}", node.trim()))
            .collect();
        for (node, seed) in nodes.split(',').zip(&seeds) {
            let node = node.trim();
            if node.is_empty() || !node.contains(':') {
                return Err(format!(
                    "{scheme}://host:port,host:port (each node with its port; got {node:?})"
                ));
            }
            seed.as_str()
                .into_connection_info()
                .map_err(|e| format!("{scheme}:// nodes Redis accepts ({node}: {e})"))?;
        }
        Ok(Self::Cluster(seeds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_server_stays_one_server() {
        assert_eq!(
            RedisTarget::parse("redis://127.0.0.1:6379"),
            Ok(RedisTarget::Single("redis://127.0.0.1:6379".into()))
        );
        assert_eq!(
            RedisTarget::parse("rediss://cache.example:6380/2"),
            Ok(RedisTarget::Single("rediss://cache.example:6380/2".into()))
        );
    }

    #[test]
    fn a_cluster_is_its_seed_nodes_each_with_the_credentials() {
        assert_eq!(
            RedisTarget::parse("redis+cluster://a:7000,b:7001/"),
            Ok(RedisTarget::Cluster(vec![
                "redis://a:7000".into(),
                "redis://b:7001".into()
            ]))
        );
        assert_eq!(
            RedisTarget::parse("rediss+cluster://u:p%40ss@[::1]:7000, 10.0.0.2:7000"),
            Ok(RedisTarget::Cluster(vec![
                "rediss://u:p%40ss@[::1]:7000".into(),
                "rediss://u:p%40ss@10.0.0.2:7000".into()
            ]))
        );
    }

    #[test]
    fn bad_cluster_urls_say_what_is_expected_without_the_password() {
        for bad in [
            "redis+cluster://",
            "redis+cluster://a:7000,,b:7001",
            "redis+cluster://a",
            "redis+cluster://a:7000/1",
            "redis+cluster://u:secret@a:notaport",
            "memcached://a:1",
            "a:7000",
        ] {
            let error = RedisTarget::parse(bad).unwrap_err();
            assert!(!error.contains("secret"), "{bad}: {error}");
            assert!(error.contains("://"), "{bad}: {error}");
        }
    }
}
