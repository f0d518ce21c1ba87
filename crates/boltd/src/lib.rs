//! boltd, the daemon: configuration (command line + config files, with a registry that
//! plugin options join at run time), logging, node identity, the JSON-RPC unix socket,
//! the dispatcher and the builtin commands (one module per command under `commands/`),
//! and the start-up / shutdown order that wires the other crates together.
//!
//! Must not touch: JSON framing (the `jsonrpc` crate owns it), plugin processes (the
//! `plugins` crate), peer transport (`net`), SQL (`store`). Those plug in through the
//! seams here: `config::Registry::register` (plugin options), [`services::Services`] (the
//! handles every command is built from, assembled before the RPC socket serves),
//! `commands::TABLE` (the one list of builtins, also the names plugin methods are checked
//! against), `Shutdown::on_exit` (work before exit), `LogHandle::subscribe` (log lines
//! for `log`/`warning` notifications), and the `Node::peers` / `Node::features` fields
//! behind `getinfo`. No process-global state: handles are passed through `Services`.

pub mod after_commit;
pub mod chain_wiring;
pub mod channels;
pub mod coin_moves;
pub mod commando;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod driver;
pub mod forwards;
pub mod gossip;
pub mod gossip_store;
pub mod hook_waits;
pub mod invoices;
pub mod lock;
pub mod logging;
pub mod memory;
pub mod node;
pub mod payments;
pub mod peering;
pub mod plugin_host;
pub mod rpc;
pub mod rune_book;
pub mod services;
pub mod shutdown;
pub mod storage;
pub mod wallet_wiring;

pub use daemon::run;
