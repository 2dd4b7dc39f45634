//! Minute buckets and dedup keys in Redis: the hot path of every report.
//!
//! One report is one Lua script call (one round trip, atomic): it checks the reporter's dedup key
//! and, for a first report, counts into the service's minute bucket. Reads return whole minutes
//! with zeros for minutes nobody reported in. See [`keys`] for the key schema.
//!
//! Redis is one server or a Redis Cluster ([`RedisTarget`]); every key of a service shares its
//! cluster slot, and everything here works on both (see [`RedisConn`]).

mod cluster;
mod connection;
pub mod keys;
mod lease;
mod pipelined;
mod redis_conn;
mod status;
mod store;
mod target;

pub use cluster::Node;
pub use connection::Connection;
pub use keys::KeySchema;
pub use lease::Lease;
pub use redis_conn::RedisConn;
pub use store::{
    CapKeys, CapScope, Caps, CountRequest, Counted, MinuteBucket, SharedRate, Windows,
};
pub use target::RedisTarget;
