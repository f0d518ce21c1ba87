//! The peer layer: BOLT 8 transport and BOLT 1 messages on LDK's `PeerManager`.
//!
//! Owns: listening sockets, outbound connects with clear errors, disconnects (optionally
//! after a BOLT 1 warning), the list of connected peers with their features, our own
//! init/node feature bits (the handlers' plus the ones plugins add), the even custom message
//! types we accept, and custom messages in both directions.
//!
//! Given from outside, not owned: the node key (an `Arc<KeysManager>` from the `keys`
//! crate), the channel, gossip, onion and send-only message handlers ([`Handlers`]: LDK's
//! `ChannelManager`, `P2PGossipSync`, `OnionMessenger`, `ChainMonitor` once there are
//! channels; [`Handlers::without_channels`] until then), and the timer: the caller's driver
//! loop calls [`PeerNode::timer_tick_occurred`] about every 10 s (pings, ping timeouts,
//! handshake timeouts). It must call that method, not LDK's `PeerManager` tick directly:
//! [`PeerNode::connect`] counts our ticks to tell a handshake timeout from a refused
//! handshake.
//!
//! Must not touch: plugins, JSON-RPC, the store, channel logic. The daemon drives this crate
//! through [`PeerNode`] and reads [`PeerEvent`]s from [`PeerEvents`]; it decides what a
//! connect means (the `peer_connected` hook) and calls [`PeerNode::accept`] or
//! [`PeerNode::disconnect_with_warning`].
//!
//! The sockets and LDK's reads and flushes run on the peer layer's own runtime; every call
//! the caller's runtime makes into the `PeerManager` runs off that runtime's workers
//! ([`off_worker`]): LDK may hold a lock across a store write that waits for the caller's
//! runtime (a `db_write` plugin's reply).
//!
//! The sockets are driven by our own driver (`socket.rs`), which stops reading a peer whose
//! custom messages wait for our plugins beyond a budget, and our custom messages to a peer
//! whose socket is full wait in our queue, not LDK's (`flow.rs`): a peer faster than our
//! plugins, or slower than our senders, is slowed down, never dropped for it.
//!
//! No callback from LDK blocks or calls back into LDK: they push into a channel or a queue.
//! Nothing a peer sends can panic this crate; bad bytes end in a disconnect.

mod config;
mod connect;
mod custom;
mod error;
mod event;
mod features;
mod flow;
mod handlers;
pub mod inbound;
mod listen;
mod log;
mod node;
mod runtime;
mod socket;
pub mod wire;
mod wrap;

pub use bitcoin::secp256k1::PublicKey;
pub use config::PeerConfig;
pub use error::{ConnectError, SendError, StartError};
pub use event::{Direction, PeerEvent, PeerEvents, PeerInfo};
pub use features::OurFeatures;
pub use flow::Credit;
pub use handlers::{
    base_features, ChannelHandler, Handlers, OnionHandler, ReadWatch, RoutingHandler,
    SendOnlyHandler,
};
pub use node::PeerNode;
pub use runtime::off_worker;
pub use socket::Descriptor;
pub use wire::{internal_type_name, RawMessage, MAX_MESSAGE_LEN};
