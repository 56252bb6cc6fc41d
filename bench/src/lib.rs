//! Benchmarks of the echo server against two baselines: the minimal mio
//! echo server (the practical limit of a single-threaded reactor) and an
//! idiomatic tokio server.
//!
//! # Layout
//!
//! - [`loadgen`]: the load generator (a reactor handler), binary `loadgen`.
//! - [`stats`]: percentiles and the JSON line each run prints.
//! - [`harness`]: what `make bench` runs (binary `bench`): A/B/A/B runs,
//!   server CPU per message, shutdown latency against the close floor,
//!   memory per idle connection, client exit latency.
//! - `src/bin/mio-echo.rs`: the minimal mio server, no logging, no deadlines.
//! - `src/bin/tokio-echo.rs`: the tokio server.

pub mod harness;
pub mod loadgen;
pub mod stats;
