//! The two small handlers we plug into LDK's `PeerManager`.
//!
//! LDK calls these while holding its own locks, so they never call back into the
//! `PeerManager` and never block: they push into a channel or a queue and return.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, RwLock};

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::{
    self, BaseMessageHandler, ChannelMessageHandler, DecodeError, ErrorAction, Init,
    LightningError, MessageSendEvent, PeerStorage, PeerStorageRetrieval, SendOnlyMessageHandler,
    SocketAddress, WarningMessage,
};
use lightning::ln::peer_handler::{CustomMessageHandler, ErroringMessageHandler};
use lightning::ln::types::ChannelId;
use lightning::ln::wire::CustomMessageReader;
use lightning::types::features::{InitFeatures, NodeFeatures};
use lightning::util::ser::LengthLimitedRead;
use lightning::util::ser::Writeable;
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

/// A send-only handler whose only job is to hand LDK "send this warning, then disconnect"
/// requests: LDK sends the warning, tries to flush it, then drops the connection.
pub(crate) struct Warner {
    pub shared: std::sync::Arc<Shared>,
}

impl BaseMessageHandler for Warner {
    fn get_and_clear_pending_msg_events(&self) -> Vec<MessageSendEvent> {
        match self.shared.warnings.lock() {
            Ok(mut q) => std::mem::take(&mut *q),
            Err(_) => Vec::new(),
        }
    }
    fn peer_disconnected(&self, _their_node_id: PublicKey) {}
    fn provided_node_features(&self) -> NodeFeatures {
        NodeFeatures::empty()
    }
    fn provided_init_features(&self, _their_node_id: PublicKey) -> InitFeatures {
        InitFeatures::empty()
    }
    fn peer_connected(&self, _id: PublicKey, _msg: &Init, _inbound: bool) -> Result<(), ()> {
        Ok(())
    }
}

impl SendOnlyMessageHandler for Warner {}

/// The channel-message handler: LDK's `ErroringMessageHandler` (we have no channels), except
/// that `peer_storage` (7) and `peer_storage_retrieval` (9), which LDK decodes itself, are
/// turned back into raw custom messages: they are not internal types and reach plugins
/// (reference §9.2). The body is LDK's re-encoding (u16 length and data).
const PEER_STORAGE: u16 = 7;
const PEER_STORAGE_RETRIEVAL: u16 = 9;

pub(crate) struct ChanHandler {
    pub inner: ErroringMessageHandler,
    pub custom: std::sync::Arc<CustomHandler>,
}

impl ChanHandler {
    fn deliver(&self, from: PublicKey, msg_type: u16, body: Vec<u8>) {
        // Odd types: always acceptable, so this only forwards (or ignores a rejected peer).
        let _ = self
            .custom
            .handle_custom_message(RawMessage { msg_type, body }, from);
    }
}

/// Forwards each listed channel message to the inner handler unchanged.
macro_rules! erroring {
    ($($name:ident($ty:ty)),* $(,)?) => {
        $(fn $name(&self, their_node_id: PublicKey, msg: $ty) {
            <ErroringMessageHandler as ChannelMessageHandler>::$name(&self.inner, their_node_id, msg)
        })*
    };
}

impl BaseMessageHandler for ChanHandler {
    fn peer_disconnected(&self, their_node_id: PublicKey) {
        BaseMessageHandler::peer_disconnected(&self.inner, their_node_id)
    }
    fn peer_connected(&self, id: PublicKey, msg: &Init, inbound: bool) -> Result<(), ()> {
        BaseMessageHandler::peer_connected(&self.inner, id, msg, inbound)
    }
    fn provided_node_features(&self) -> NodeFeatures {
        BaseMessageHandler::provided_node_features(&self.inner)
    }
    fn provided_init_features(&self, their_node_id: PublicKey) -> InitFeatures {
        BaseMessageHandler::provided_init_features(&self.inner, their_node_id)
    }
    fn get_and_clear_pending_msg_events(&self) -> Vec<MessageSendEvent> {
        BaseMessageHandler::get_and_clear_pending_msg_events(&self.inner)
    }
}

impl ChannelMessageHandler for ChanHandler {
    fn handle_peer_storage(&self, their_node_id: PublicKey, msg: PeerStorage) {
        self.deliver(their_node_id, PEER_STORAGE, msg.encode());
    }
    fn handle_peer_storage_retrieval(&self, their_node_id: PublicKey, msg: PeerStorageRetrieval) {
        self.deliver(their_node_id, PEER_STORAGE_RETRIEVAL, msg.encode());
    }
    fn handle_commitment_signed_batch(
        &self,
        their_node_id: PublicKey,
        channel_id: ChannelId,
        batch: Vec<msgs::CommitmentSigned>,
    ) {
        <ErroringMessageHandler as ChannelMessageHandler>::handle_commitment_signed_batch(
            &self.inner,
            their_node_id,
            channel_id,
            batch,
        )
    }
    fn get_chain_hashes(&self) -> Option<Vec<bitcoin::constants::ChainHash>> {
        <ErroringMessageHandler as ChannelMessageHandler>::get_chain_hashes(&self.inner)
    }
    fn message_received(&self) {
        <ErroringMessageHandler as ChannelMessageHandler>::message_received(&self.inner)
    }
    erroring!(
        handle_open_channel(&msgs::OpenChannel),
        handle_open_channel_v2(&msgs::OpenChannelV2),
        handle_accept_channel(&msgs::AcceptChannel),
        handle_accept_channel_v2(&msgs::AcceptChannelV2),
        handle_funding_created(&msgs::FundingCreated),
        handle_funding_signed(&msgs::FundingSigned),
        handle_channel_ready(&msgs::ChannelReady),
        handle_shutdown(&msgs::Shutdown),
        handle_closing_signed(&msgs::ClosingSigned),
        handle_stfu(&msgs::Stfu),
        handle_splice_init(&msgs::SpliceInit),
        handle_splice_ack(&msgs::SpliceAck),
        handle_splice_locked(&msgs::SpliceLocked),
        handle_tx_add_input(&msgs::TxAddInput),
        handle_tx_add_output(&msgs::TxAddOutput),
        handle_tx_remove_input(&msgs::TxRemoveInput),
        handle_tx_remove_output(&msgs::TxRemoveOutput),
        handle_tx_complete(&msgs::TxComplete),
        handle_tx_signatures(&msgs::TxSignatures),
        handle_tx_init_rbf(&msgs::TxInitRbf),
        handle_tx_ack_rbf(&msgs::TxAckRbf),
        handle_tx_abort(&msgs::TxAbort),
        handle_update_add_htlc(&msgs::UpdateAddHTLC),
        handle_update_fulfill_htlc(msgs::UpdateFulfillHTLC),
        handle_update_fail_htlc(&msgs::UpdateFailHTLC),
        handle_update_fail_malformed_htlc(&msgs::UpdateFailMalformedHTLC),
        handle_commitment_signed(&msgs::CommitmentSigned),
        handle_revoke_and_ack(&msgs::RevokeAndACK),
        handle_update_fee(&msgs::UpdateFee),
        handle_announcement_signatures(&msgs::AnnouncementSignatures),
        handle_channel_reestablish(&msgs::ChannelReestablish),
        handle_channel_update(&msgs::ChannelUpdate),
        handle_error(&msgs::ErrorMessage),
    );
}
