//! Runes and commando, byte-compatible with Core Lightning.
//!
//! Owns: the rune format (URL-safe base64 of a 32-byte authcode and the restriction text),
//! the master secret derived from `hsm_secret`, minting and verifying authcodes (SHA-256
//! midstates), restriction parsing and evaluation with Core Lightning's exact refusal texts
//! (`checkrune`'s fields: `id`, `method`, `pnum`, `pname*`, `parr*`, `rate`, `per`, `time`),
//! the blacklist as merged id ranges, and commando's custom-message framing, reassembly and
//! request/reply JSON rules.
//!
//! Must not touch: sockets, storage, the clock, JSON-RPC dispatch. The daemon brings the
//! time, the stored `last_used` of an id, the sender's node id, and wires commando pieces to
//! the peers' custom messages; runes and the blacklist are kept in the store by the daemon.

pub mod blacklist;
pub mod check;
pub mod commando;
mod english;
mod params;
pub mod restriction;
pub mod rune;
pub mod secret;

pub use blacklist::{Blacklist, BlacklistError, BLACKLIST_CAP};
pub use check::{check, CheckError, CheckInput, InvoiceFields, Usage};
pub use restriction::{Alternative, Condition, Restriction};
pub use rune::{MasterRune, Rune, RuneError};
pub use secret::master_secret;
