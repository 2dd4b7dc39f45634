//! downwatch: a self-hostable backend that aggregates crowd-sourced "it's down" reports.
//!
//! The binary in `main.rs` only parses the command line; everything else lives here so that
//! integration tests drive exactly the code that production runs.

pub mod alerts;
pub mod api;
pub mod app;
pub mod backtest;
pub mod catalog;
pub mod chart;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod detect;
pub mod domain;
pub mod error;
pub mod events;
#[cfg(test)]
mod hostile;
pub mod http;
pub mod ingest;
pub mod monitor;
pub mod query;
pub mod reach;
pub mod simulate;
pub mod store;
pub mod telemetry;
pub mod time;
pub mod web;
pub mod windows;
