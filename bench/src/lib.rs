//! Benchmarks of the echo server against an idiomatic tokio baseline.
//!
//! # Layout
//!
//! - [`loadgen`]: the load generator (a reactor handler), binary `loadgen`.
//! - [`stats`]: percentiles and the JSON line each run prints.
//! - [`harness`]: what `make bench` runs (binary `bench`): A/B/A/B runs,
//!   shutdown latency, memory per idle connection, client exit latency.
//! - `src/bin/tokio-echo.rs`: the baseline server.

pub mod harness;
pub mod loadgen;
pub mod stats;
