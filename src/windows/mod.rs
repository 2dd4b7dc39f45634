//! Minute buckets and dedup entries in Redis: the hot path of every report.
//!
//! Reports are counted by a Lua script (atomic): it checks the reporter against the service's
//! dedup hashes and, for a first report, counts into the service's minute bucket. Reports that
//! arrive together share one call ([`group_commit`]; on a cluster, one call per slot:
//! [`by_slot`]). Reads return whole minutes with zeros for
//! minutes nobody reported in. See [`keys`] for the key schema.
//!
//! Redis is one server or a Redis Cluster ([`RedisTarget`]); every key of a service shares its
//! cluster slot, and everything here works on both (see [`RedisConn`]).

mod by_slot;
mod cluster;
mod connection;
mod count;
pub mod group_commit;
pub mod keys;
mod lease;
mod pipelined;
mod redis_conn;
mod shard_lease;
mod status;
mod store;
mod target;

pub use cluster::Node;
pub use connection::Connection;
pub use count::{CapKeys, CapScope, Caps, CountRequest, Counted, SharedRate};
pub use group_commit::Carried;
pub use keys::KeySchema;
pub use lease::Lease;
pub use redis_conn::RedisConn;
pub use shard_lease::ShardLease;
pub use store::{MAX_BATCH, MinuteBucket, Windows};
pub use target::RedisTarget;
