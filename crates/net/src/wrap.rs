//! Thin wrappers around the caller's channel and send-only handlers (see
//! [`Handlers`](crate::Handlers)) that add what the peer layer itself needs:
//!
//! * [`ChanHandler`]: `peer_storage` (7) and `peer_storage_retrieval` (9), which LDK decodes
//!   itself, also reach plugins as raw custom messages (they are not internal types,
//!   reference §9.2); everything else goes to the caller's handler unchanged.
//! * [`Warner`]: queues "send this warning, then disconnect" requests (LDK sends the
//!   warning, tries to flush it, then drops the connection), merged with the caller's
//!   send-only handler's own messages.
//!
//! Like every handler LDK calls, they never block and never call back into the `PeerManager`.

use std::sync::Arc;

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::{
    self, BaseMessageHandler, ChannelMessageHandler, Init, MessageSendEvent, PeerStorage,
    PeerStorageRetrieval, SendOnlyMessageHandler,
};
use lightning::ln::peer_handler::CustomMessageHandler;
use lightning::ln::types::ChannelId;
use lightning::types::features::{InitFeatures, NodeFeatures};
use lightning::util::ser::Writeable;

use crate::custom::{CustomHandler, Shared};
use crate::flow::channel_state_message;
use crate::handlers::{ChannelHandler, ReadWatch, SendOnlyHandler};
use crate::wire::RawMessage;

const PEER_STORAGE: u16 = 7;
const PEER_STORAGE_RETRIEVAL: u16 = 9;

pub(crate) struct Warner {
    pub shared: Arc<Shared>,
    /// The caller's send-only handler (LDK's `ChainMonitor` once there are channels).
    pub inner: Arc<SendOnlyHandler>,
}

impl BaseMessageHandler for Warner {
    fn get_and_clear_pending_msg_events(&self) -> Vec<MessageSendEvent> {
        let mut out = self.inner.get_and_clear_pending_msg_events();
        if let Ok(mut q) = self.shared.warnings.lock() {
            out.append(&mut q);
        }
        out
    }
    fn peer_disconnected(&self, their_node_id: PublicKey) {
        self.inner.peer_disconnected(their_node_id)
    }
    fn provided_node_features(&self) -> NodeFeatures {
        self.inner.provided_node_features()
    }
    fn provided_init_features(&self, their_node_id: PublicKey) -> InitFeatures {
        self.inner.provided_init_features(their_node_id)
    }
    fn peer_connected(&self, id: PublicKey, msg: &Init, inbound: bool) -> Result<(), ()> {
        self.inner.peer_connected(id, msg, inbound)
    }
}

impl SendOnlyMessageHandler for Warner {}

pub(crate) struct ChanHandler {
    pub inner: Arc<ChannelHandler>,
    pub custom: Arc<CustomHandler>,
    /// Told about reads that change channel state (see [`ReadWatch`]).
    pub read_watch: Option<ReadWatch>,
}

impl ChanHandler {
    fn deliver(&self, from: PublicKey, msg_type: u16, body: Vec<u8>) {
        // Odd types: always acceptable, so this only forwards (or ignores a rejected peer).
        let _ = self
            .custom
            .handle_custom_message(RawMessage { msg_type, body }, from);
    }
}

/// Forwards each listed channel message to the caller's handler unchanged.
macro_rules! forward {
    ($($name:ident($ty:ty)),* $(,)?) => {
        $(fn $name(&self, their_node_id: PublicKey, msg: $ty) {
            ChannelMessageHandler::$name(&*self.inner, their_node_id, msg)
        })*
    };
}

/// [`forward!`] for messages that change a channel's state: the read watch hears of them.
macro_rules! forward_watched {
    ($($name:ident($ty:ty)),* $(,)?) => {
        $(fn $name(&self, their_node_id: PublicKey, msg: $ty) {
            channel_state_message(self.read_watch.as_ref());
            ChannelMessageHandler::$name(&*self.inner, their_node_id, msg)
        })*
    };
}

impl BaseMessageHandler for ChanHandler {
    fn peer_disconnected(&self, their_node_id: PublicKey) {
        BaseMessageHandler::peer_disconnected(&*self.inner, their_node_id)
    }
    fn peer_connected(&self, id: PublicKey, msg: &Init, inbound: bool) -> Result<(), ()> {
        BaseMessageHandler::peer_connected(&*self.inner, id, msg, inbound)
    }
    fn provided_node_features(&self) -> NodeFeatures {
        BaseMessageHandler::provided_node_features(&*self.inner)
    }
    fn provided_init_features(&self, their_node_id: PublicKey) -> InitFeatures {
        BaseMessageHandler::provided_init_features(&*self.inner, their_node_id)
    }
    fn get_and_clear_pending_msg_events(&self) -> Vec<MessageSendEvent> {
        BaseMessageHandler::get_and_clear_pending_msg_events(&*self.inner)
    }
}

impl ChannelMessageHandler for ChanHandler {
    fn handle_peer_storage(&self, their_node_id: PublicKey, msg: PeerStorage) {
        // The body is LDK's re-encoding (u16 length and data).
        self.deliver(their_node_id, PEER_STORAGE, msg.encode());
        self.inner.handle_peer_storage(their_node_id, msg);
    }
    fn handle_peer_storage_retrieval(&self, their_node_id: PublicKey, msg: PeerStorageRetrieval) {
        self.deliver(their_node_id, PEER_STORAGE_RETRIEVAL, msg.encode());
        self.inner.handle_peer_storage_retrieval(their_node_id, msg);
    }
    fn handle_commitment_signed_batch(
        &self,
        their_node_id: PublicKey,
        channel_id: ChannelId,
        batch: Vec<msgs::CommitmentSigned>,
    ) {
        channel_state_message(self.read_watch.as_ref());
        self.inner
            .handle_commitment_signed_batch(their_node_id, channel_id, batch)
    }
    fn get_chain_hashes(&self) -> Option<Vec<bitcoin::constants::ChainHash>> {
        self.inner.get_chain_hashes()
    }
    fn message_received(&self) {
        self.inner.message_received()
    }
    forward!(
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
        handle_announcement_signatures(&msgs::AnnouncementSignatures),
        handle_channel_reestablish(&msgs::ChannelReestablish),
        handle_channel_update(&msgs::ChannelUpdate),
        handle_error(&msgs::ErrorMessage),
    );
    forward_watched!(
        handle_update_add_htlc(&msgs::UpdateAddHTLC),
        handle_update_fulfill_htlc(msgs::UpdateFulfillHTLC),
        handle_update_fail_htlc(&msgs::UpdateFailHTLC),
        handle_update_fail_malformed_htlc(&msgs::UpdateFailMalformedHTLC),
        handle_commitment_signed(&msgs::CommitmentSigned),
        handle_revoke_and_ack(&msgs::RevokeAndACK),
        handle_update_fee(&msgs::UpdateFee),
    );
}
