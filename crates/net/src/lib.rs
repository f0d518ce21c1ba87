//! The peer layer: BOLT 8 transport and BOLT 1 messages on LDK's `PeerManager`.
//!
//! Owns: the node key (derived from the `hsm_secret` seed the way LDK's `KeysManager` does),
//! listening sockets, outbound connects with clear errors, disconnects (optionally after a
//! BOLT 1 warning), the list of connected peers with their features, our own init/node feature
//! bits (including the ones plugins add), the even custom message types we accept, and custom
//! messages in both directions. LDK's timer tick runs pings and handshake timeouts.
//!
//! Must not touch: plugins, JSON-RPC, the store. The daemon drives this crate through
//! [`PeerNode`] and reads [`PeerEvent`]s from [`PeerEvents`]; it decides what a connect means
//! (the `peer_connected` hook) and calls [`PeerNode::accept`] or
//! [`PeerNode::disconnect_with_warning`].
//!
//! No callback from LDK blocks or calls back into LDK: they push into a channel or a queue.
//! Nothing a peer sends can panic this crate; bad bytes end in a disconnect.

mod error;
mod handler;
pub mod inbound;
mod log;
mod node;
pub mod wire;

pub use bitcoin::secp256k1::PublicKey;
pub use error::{ConnectError, SendError, StartError};
pub use node::{
    base_features, node_id_from_seed, Direction, OurFeatures, PeerConfig, PeerEvent, PeerEvents,
    PeerInfo, PeerNode,
};
pub use wire::{internal_type_name, RawMessage, MAX_MESSAGE_LEN};
