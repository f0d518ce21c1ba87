//! bolt-cli: a `lightning-cli` look-alike for boltd (and any Core Lightning socket).
//!
//! Owns: command-line parsing with lightning-cli's flag spellings, turning arguments into
//! `params` ([`params::build_params`], a pure function and a fuzz target), finding the
//! socket, the request/reply exchange with notifications, output formats, exit codes
//! (0 ok, 1 the daemon returned an error, 2 could not talk to it, 3 usage).
//!
//! Must not touch: daemon internals. It speaks only the public JSON-RPC socket protocol.

pub mod cli;
pub mod client;
pub mod config;
pub mod format;
pub mod notify;
pub mod params;

pub use cli::run;
pub use params::{build_params, InputMode, UsageError};

/// Exit statuses, as lightning-cli documents them.
pub mod exit {
    pub const OK: i32 = 0;
    pub const FROM_DAEMON: i32 = 1;
    pub const TALKING: i32 = 2;
    pub const USAGE: i32 = 3;
}

/// Failures that end the run before a reply is printed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Exit 3.
    #[error("{0}")]
    Usage(String),
    /// Exit 2: connect, write or read failed, or the reply was malformed.
    #[error("{0}")]
    Talk(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => exit::USAGE,
            CliError::Talk(_) => exit::TALKING,
        }
    }
}
