//! bench: end-to-end throughput and latency of a Core Lightning-compatible node.
//!
//! Owns: the scenarios (one module each under [`scenarios`]), a minimal async JSON-RPC
//! client ([`client`]), latency statistics and the printed table ([`stats`]), and starting
//! a throw-away boltd for `bench all` ([`daemon`]).
//!
//! Must not touch: daemon internals. Everything goes through the public socket (or, for
//! later scenarios, plugins and peers), so the same scenario can be pointed at Core
//! Lightning for comparison. Timing never fails a run: we measure and print.

pub mod client;
pub mod daemon;
pub mod procstat;
pub mod scenarios;
pub mod stats;
