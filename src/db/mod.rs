//! PostgreSQL: the pool, migrations, and every query (no SQL lives outside this module).
//! Every connection is opened by [`connect`], which honours `sslmode` (TLS).
//!
//! A pool wait, a connection attempt or a query that outlasts the configured timeout becomes a
//! 503 naming PostgreSQL, never a hang.

pub mod alerts;
pub mod bins;
pub mod bootstrap;
pub mod connect;
pub mod incidents;
pub mod memories;
mod pool;
pub mod readings;
pub mod schema;
pub mod secrets;
pub mod services;
pub mod shard_progress;

pub use pool::{Db, query_error};
