//! Taking a report in: who sent it, whether they may, and counting it.
//!
//! The flow is: validate the body against the catalog, resolve the client address (believing
//! proxy headers only from trusted peers), apply the per-address rate limit, derive the
//! reporter key, then one Redis round trip counts it (see `windows`).

pub mod identity;
pub mod limiter;
pub mod reporter_key;
mod submit;

pub use identity::ProxyPolicy;
pub use limiter::{Allowance, ReportLimiter};
pub use reporter_key::ReporterKeyer;
pub use submit::{Ingest, ReportBody, SubmitError, Submitted, record_rejection};
