//! Benchmarks of the echo server against two baselines: the minimal mio
//! echo server (the practical limit of a single-threaded reactor) and an
//! idiomatic tokio server.
//!
//! # Layout
//!
//! - [`loadgen`]: the load generator (a reactor handler), binary `loadgen`.
//! - [`stats`]: percentiles and the JSON line each run prints.
//! - [`harness`]: what `make bench` runs (binary `bench`): A/B/A/B runs,
//!   server CPU per message, the scaling curves over concurrent clients,
//!   memory per idle connection and shutdown latency against the close
//!   floor over idle sizes, client exit latency.
//! - [`idle`]: idle connections by the ten thousand, held by a helper
//!   process (binary `idle-peers`).
//! - [`charts`]: the curves as SVG charts.
//! - `src/bin/mio-echo.rs`: the minimal mio server, no logging, no deadlines.
//! - `src/bin/tokio-echo.rs`: the tokio server.

pub mod charts;
pub mod harness;
pub mod idle;
pub mod loadgen;
pub mod stats;
