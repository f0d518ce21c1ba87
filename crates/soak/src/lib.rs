//! soak: the fault soak (issue 6). Two real boltd nodes with a mix of plugins, hammered
//! concurrently for a bounded time, then checked for survival, leaks and lost writes.
//!
//! Owns: starting the nodes ([`node`]), the fault generators ([`faults`]), the datastore
//! writer and its record of acknowledged writes ([`writes`]), the end checks ([`checks`])
//! and the printed table ([`tally`]).
//!
//! Must not touch: daemon internals. Everything goes through the daemon's public surfaces
//! (RPC socket, peer port, plugins, its SQLite file read-only, `/proc`), loopback and
//! temporary directories only. It is not part of `run-tests`: run it by hand (README,
//! "Fault soak").

pub mod checks;
pub mod faults;
pub mod node;
pub mod tally;
pub mod writes;

use std::time::Instant;

/// Whether the soak's time is up; every loop checks this, so the run stops by itself.
pub fn done(deadline: Instant) -> bool {
    Instant::now() >= deadline
}
