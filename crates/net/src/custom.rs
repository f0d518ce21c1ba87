//! Our `CustomMessageHandler` and the state it shares with the rest of the crate: who is
//! connected, who waits for a connect, what goes out at the next `process_events`.
//!
//! LDK calls these while holding its own locks, so they never call back into the
//! `PeerManager` and never block: they push into a channel or a queue and return.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, RwLock};

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::{
    DecodeError, ErrorAction, Init, LightningError, MessageSendEvent, SocketAddress, WarningMessage,
};
use lightning::ln::peer_handler::CustomMessageHandler;
use lightning::ln::types::ChannelId;
use lightning::ln::wire::CustomMessageReader;
use lightning::types::features::{InitFeatures, NodeFeatures};
use lightning::util::ser::LengthLimitedRead;
use tokio::sync::{mpsc, oneshot};

use crate::wire::{read_raw, RawMessage};

/// What the handler saw, in the order LDK reported it (per peer that is arrival order).
#[derive(Debug)]
pub(crate) enum RawEvent {
    Connected {
        id: PublicKey,
        features: InitFeatures,
        inbound: bool,
        /// The `remote_addr` of their init (how they see us), if any.
        remote_addr: Option<SocketAddress>,
    },
    Disconnected {
        id: PublicKey,
    },
    Custom {
        id: PublicKey,
        msg: RawMessage,
    },
}

/// Feature bits plugins asked for, as big-endian bitmaps (the way CLN manifests give them).
#[derive(Default)]
pub(crate) struct PluginFeatures {
    pub init: Vec<u8>,
    pub node: Vec<u8>,
}

/// Shared state between the handlers and the rest of the crate. Locked only briefly and never
/// while calling into LDK (LDK may hold its locks while calling us).
#[derive(Default)]
pub(crate) struct Shared {
    /// Even message types a plugin declared acceptable (`custommessages`).
    pub allowed_even: RwLock<HashSet<u16>>,
    /// Or a live lookup (e.g. the plugin host's current union); must not block.
    pub even_filter: RwLock<Option<EvenFilter>>,
    pub features: RwLock<PluginFeatures>,
    /// Connected peers (init exchanged), as far as the handler knows.
    pub connected: Mutex<HashMap<PublicKey, PeerState>>,
    /// `connect` calls waiting for a peer's init.
    pub waiters: Mutex<HashMap<PublicKey, Vec<oneshot::Sender<()>>>>,
    /// Custom messages waiting for the next `process_events`.
    pub outbox: Mutex<Vec<(PublicKey, RawMessage)>>,
    /// Warning-then-disconnect requests for the next `process_events`.
    pub warnings: Mutex<Vec<MessageSendEvent>>,
}

/// Decides whether an even custom type is acceptable.
pub type EvenFilter = std::sync::Arc<dyn Fn(u16) -> bool + Send + Sync>;

impl Shared {
    fn even_allowed(&self, t: u16) -> bool {
        if self
            .allowed_even
            .read()
            .map(|a| a.contains(&t))
            .unwrap_or(false)
        {
            return true;
        }
        let f = self.even_filter.read().ok().and_then(|f| f.clone());
        f.is_some_and(|f| f(t))
    }
}

/// Where a connected peer stands with the daemon.
#[derive(Clone, Debug)]
pub(crate) struct PeerState {
    pub inbound: bool,
    pub features: InitFeatures,
    /// False while the daemon's `peer_connected` chain runs (see `PeerNode::accept`).
    pub active: bool,
    /// Set once we decided to drop this peer; its further messages are ignored.
    pub rejected: bool,
}

/// Our `CustomMessageHandler`: reads every type LDK doesn't know, applies the even-type
/// policy, and forwards the rest as events.
pub(crate) struct CustomHandler {
    pub shared: std::sync::Arc<Shared>,
    pub events: mpsc::UnboundedSender<RawEvent>,
    /// Whether new peers start active (no gating by the daemon).
    pub auto_accept: bool,
}

impl CustomHandler {
    fn plugin_init_features(&self) -> InitFeatures {
        let f = self
            .shared
            .features
            .read()
            .map(|f| f.init.clone())
            .unwrap_or_default();
        InitFeatures::from_be_bytes(f)
    }

    /// Queue a BOLT 1 warning followed by a disconnect (LDK does both in `process_events`).
    pub(crate) fn queue_warning(shared: &Shared, id: PublicKey, text: String) {
        let ev = MessageSendEvent::HandleError {
            node_id: id,
            action: ErrorAction::DisconnectPeerWithWarning {
                msg: WarningMessage {
                    channel_id: ChannelId::new_zero(),
                    data: text,
                },
            },
        };
        if let Ok(mut q) = shared.warnings.lock() {
            q.push(ev);
        }
    }
}

impl CustomMessageReader for CustomHandler {
    type CustomMessage = RawMessage;
    fn read<R: LengthLimitedRead>(
        &self,
        msg_type: u16,
        buffer: &mut R,
    ) -> Result<Option<RawMessage>, DecodeError> {
        read_raw(msg_type, buffer)
    }
}

impl CustomMessageHandler for CustomHandler {
    fn handle_custom_message(
        &self,
        msg: RawMessage,
        sender: PublicKey,
    ) -> Result<(), LightningError> {
        let mut connected = match self.shared.connected.lock() {
            Ok(c) => c,
            Err(_) => return Ok(()),
        };
        let Some(state) = connected.get_mut(&sender) else {
            return Ok(());
        };
        if state.rejected {
            return Ok(());
        }
        let even = msg.msg_type & 1 == 0;
        let allowed = !even || self.shared.even_allowed(msg.msg_type);
        if !allowed {
            // BOLT 1: an unknown even type means the peer expects something we can't do.
            state.rejected = true;
            drop(connected);
            tracing::warn!(
                peer = %sender,
                "Invalid unknown even msg type {} from peer, disconnecting",
                msg.msg_type
            );
            let text = format!("Invalid unknown even msg {}", hex::encode(msg.to_wire()));
            Self::queue_warning(&self.shared, sender, text);
            return Ok(());
        }
        drop(connected);
        let _ = self.events.send(RawEvent::Custom { id: sender, msg });
        Ok(())
    }

    fn get_and_clear_pending_msg(&self) -> Vec<(PublicKey, RawMessage)> {
        match self.shared.outbox.lock() {
            Ok(mut q) => std::mem::take(&mut *q),
            Err(_) => Vec::new(),
        }
    }

    fn peer_disconnected(&self, id: PublicKey) {
        let was = self
            .shared
            .connected
            .lock()
            .ok()
            .and_then(|mut c| c.remove(&id))
            .is_some();
        if was {
            let _ = self.events.send(RawEvent::Disconnected { id });
        }
    }

    fn peer_connected(&self, id: PublicKey, msg: &Init, inbound: bool) -> Result<(), ()> {
        let state = PeerState {
            inbound,
            features: msg.features.clone(),
            active: self.auto_accept,
            rejected: false,
        };
        if let Ok(mut c) = self.shared.connected.lock() {
            c.insert(id, state);
        }
        let _ = self.events.send(RawEvent::Connected {
            id,
            features: msg.features.clone(),
            inbound,
            remote_addr: msg.remote_network_address.clone(),
        });
        if let Some(ws) = self
            .shared
            .waiters
            .lock()
            .ok()
            .and_then(|mut w| w.remove(&id))
        {
            for w in ws {
                let _ = w.send(());
            }
        }
        Ok(())
    }

    fn provided_node_features(&self) -> NodeFeatures {
        let f = self
            .shared
            .features
            .read()
            .map(|f| f.node.clone())
            .unwrap_or_default();
        NodeFeatures::from_be_bytes(f)
    }

    fn provided_init_features(&self, _their_node_id: PublicKey) -> InitFeatures {
        self.plugin_init_features()
    }
}
