//! The gossip handler the peer layer gets: LDK's `P2PGossipSync`, plus one repair.
//!
//! When a channel of ours is announced, each side builds the channel announcement
//! itself and sends its `channel_update` straight to the other (LDK never relays a
//! channel's announcement to its own counterparties). If the peer's update is read
//! before our own announcement has reached our graph, the graph refuses it (unknown
//! channel) and, with nothing ever resending it, our graph lacks the peer's direction.
//! So updates refused for an unknown channel are kept (a few, newest last) and, once a
//! channel announcement for them is accepted, handed back to the peer manager as
//! broadcasts: it applies them to the graph and relays them to our other peers (who
//! would otherwise never hear the counterparty's direction either).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::{
    BaseMessageHandler, ChannelAnnouncement, ChannelUpdate, Init, LightningError, MessageSendEvent,
    NodeAnnouncement, QueryChannelRange, QueryShortChannelIds, ReplyChannelRange,
    ReplyShortChannelIdsEnd, RoutingMessageHandler,
};
use lightning::routing::gossip::NodeId;
use lightning::types::features::{InitFeatures, NodeFeatures};

use crate::types::{GossipSync, Graph};

/// Updates kept for channels not yet in the graph.
const KEEP: usize = 64;

pub struct Gossip {
    sync: Arc<GossipSync>,
    graph: Arc<Graph>,
    early: Mutex<VecDeque<ChannelUpdate>>,
    /// Kept updates whose channel arrived, for the peer manager to broadcast.
    ready: Mutex<Vec<MessageSendEvent>>,
}

impl Gossip {
    pub fn new(sync: Arc<GossipSync>, graph: Arc<Graph>) -> Gossip {
        Gossip {
            sync,
            graph,
            early: Mutex::new(VecDeque::new()),
            ready: Mutex::new(Vec::new()),
        }
    }

    fn keep(&self, msg: &ChannelUpdate) {
        let mut q = self.early.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= KEEP {
            q.pop_front();
        }
        q.push_back(msg.clone());
    }

    /// Queues the kept updates of `scid` (now in the graph) as broadcasts.
    fn replay(&self, scid: u64) {
        let Some((node_id_1, node_id_2)) = self
            .graph
            .read_only()
            .channel(scid)
            .map(|c| (c.node_one, c.node_two))
        else {
            return;
        };
        let mut q = self.early.lock().unwrap_or_else(|p| p.into_inner());
        let (now, rest): (VecDeque<ChannelUpdate>, VecDeque<ChannelUpdate>) = q
            .drain(..)
            .partition(|m| m.contents.short_channel_id == scid);
        *q = rest;
        drop(q);
        let mut ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
        ready.extend(
            now.into_iter()
                .map(|msg| MessageSendEvent::BroadcastChannelUpdate {
                    msg,
                    node_id_1,
                    node_id_2,
                }),
        );
    }
}

impl BaseMessageHandler for Gossip {
    fn get_and_clear_pending_msg_events(&self) -> Vec<MessageSendEvent> {
        let mut events = self.sync.get_and_clear_pending_msg_events();
        events.append(&mut self.ready.lock().unwrap_or_else(|p| p.into_inner()));
        events
    }
    fn peer_disconnected(&self, their_node_id: PublicKey) {
        self.sync.peer_disconnected(their_node_id)
    }
    fn provided_node_features(&self) -> NodeFeatures {
        self.sync.provided_node_features()
    }
    fn provided_init_features(&self, their_node_id: PublicKey) -> InitFeatures {
        self.sync.provided_init_features(their_node_id)
    }
    fn peer_connected(
        &self,
        their_node_id: PublicKey,
        msg: &Init,
        inbound: bool,
    ) -> Result<(), ()> {
        self.sync.peer_connected(their_node_id, msg, inbound)
    }
}

impl RoutingMessageHandler for Gossip {
    fn handle_node_announcement(
        &self,
        their_node_id: Option<PublicKey>,
        msg: &NodeAnnouncement,
    ) -> Result<bool, LightningError> {
        self.sync.handle_node_announcement(their_node_id, msg)
    }
    fn handle_channel_announcement(
        &self,
        their_node_id: Option<PublicKey>,
        msg: &ChannelAnnouncement,
    ) -> Result<bool, LightningError> {
        let r = self.sync.handle_channel_announcement(their_node_id, msg);
        if self
            .graph
            .read_only()
            .channel(msg.contents.short_channel_id)
            .is_some()
        {
            self.replay(msg.contents.short_channel_id);
        }
        r
    }
    fn handle_channel_update(
        &self,
        their_node_id: Option<PublicKey>,
        msg: &ChannelUpdate,
    ) -> Result<Option<(NodeId, NodeId)>, LightningError> {
        let r = self.sync.handle_channel_update(their_node_id, msg);
        if r.is_err()
            && their_node_id.is_some()
            && self
                .graph
                .read_only()
                .channel(msg.contents.short_channel_id)
                .is_none()
        {
            self.keep(msg);
        }
        r
    }
    fn get_next_channel_announcement(
        &self,
        starting_point: u64,
    ) -> Option<(
        ChannelAnnouncement,
        Option<ChannelUpdate>,
        Option<ChannelUpdate>,
    )> {
        self.sync.get_next_channel_announcement(starting_point)
    }
    fn get_next_node_announcement(
        &self,
        starting_point: Option<&NodeId>,
    ) -> Option<NodeAnnouncement> {
        self.sync.get_next_node_announcement(starting_point)
    }
    fn handle_reply_channel_range(
        &self,
        their_node_id: PublicKey,
        msg: ReplyChannelRange,
    ) -> Result<(), LightningError> {
        self.sync.handle_reply_channel_range(their_node_id, msg)
    }
    fn handle_reply_short_channel_ids_end(
        &self,
        their_node_id: PublicKey,
        msg: ReplyShortChannelIdsEnd,
    ) -> Result<(), LightningError> {
        self.sync
            .handle_reply_short_channel_ids_end(their_node_id, msg)
    }
    fn handle_query_channel_range(
        &self,
        their_node_id: PublicKey,
        msg: QueryChannelRange,
    ) -> Result<(), LightningError> {
        self.sync.handle_query_channel_range(their_node_id, msg)
    }
    fn handle_query_short_channel_ids(
        &self,
        their_node_id: PublicKey,
        msg: QueryShortChannelIds,
    ) -> Result<(), LightningError> {
        self.sync.handle_query_short_channel_ids(their_node_id, msg)
    }
    fn processing_queue_high(&self) -> bool {
        self.sync.processing_queue_high()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::constants::ChainHash;
    use bitcoin::hashes::{sha256d, Hash};
    use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
    use bitcoin::Network;
    use lightning::ln::msgs::{UnsignedChannelAnnouncement, UnsignedChannelUpdate};
    use lightning::routing::gossip::P2PGossipSync;
    use lightning::routing::utxo::UtxoLookup;
    use lightning::types::features::ChannelFeatures;
    use lightning::util::ser::Writeable;

    fn key(b: u8) -> (SecretKey, PublicKey) {
        let sk = SecretKey::from_slice(&[b; 32]).unwrap();
        (sk, PublicKey::from_secret_key(&Secp256k1::new(), &sk))
    }

    fn digest(bytes: &[u8]) -> Message {
        Message::from_digest(sha256d::Hash::hash(bytes).to_byte_array())
    }

    #[test]
    fn a_peer_update_read_before_our_announcement_lands_once_the_channel_does() {
        let secp = Secp256k1::new();
        let graph = Arc::new(Graph::new(Network::Regtest, Arc::new(crate::LdkLogger)));
        let sync: Arc<GossipSync> = Arc::new(P2PGossipSync::new(
            graph.clone(),
            None::<Arc<dyn UtxoLookup + Send + Sync>>,
            Arc::new(crate::LdkLogger),
        ));
        let g = Gossip::new(sync, graph.clone());
        let (mut n1, mut n2) = (key(1), key(2));
        if NodeId::from_pubkey(&n1.1) > NodeId::from_pubkey(&n2.1) {
            std::mem::swap(&mut n1, &mut n2);
        }
        let (b1, b2) = (key(3), key(4));
        let chain_hash = ChainHash::using_genesis_block(Network::Regtest);
        let scid = (103u64 << 40) | (1 << 16);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as u32;
        let upd = UnsignedChannelUpdate {
            chain_hash,
            short_channel_id: scid,
            timestamp: now,
            message_flags: 1,
            channel_flags: 1,
            cltv_expiry_delta: 72,
            htlc_minimum_msat: 1,
            htlc_maximum_msat: 1_000_000,
            fee_base_msat: 1000,
            fee_proportional_millionths: 1,
            excess_data: vec![],
        };
        let update = ChannelUpdate {
            signature: secp.sign_ecdsa(&digest(&upd.encode()[..]), &n2.0),
            contents: upd,
        };
        let peer = Some(n2.1);
        assert!(g.handle_channel_update(peer, &update).is_err());

        let ann = UnsignedChannelAnnouncement {
            features: ChannelFeatures::empty(),
            chain_hash,
            short_channel_id: scid,
            node_id_1: NodeId::from_pubkey(&n1.1),
            node_id_2: NodeId::from_pubkey(&n2.1),
            bitcoin_key_1: NodeId::from_pubkey(&b1.1),
            bitcoin_key_2: NodeId::from_pubkey(&b2.1),
            excess_data: vec![],
        };
        let m = digest(&ann.encode()[..]);
        let signed = ChannelAnnouncement {
            node_signature_1: secp.sign_ecdsa(&m, &n1.0),
            node_signature_2: secp.sign_ecdsa(&m, &n2.0),
            bitcoin_signature_1: secp.sign_ecdsa(&m, &b1.0),
            bitcoin_signature_2: secp.sign_ecdsa(&m, &b2.0),
            contents: ann,
        };
        // Our own announcement reaches the graph after the peer's update was refused.
        g.handle_channel_announcement(None, &signed).unwrap();
        // The peer manager takes the kept update as a broadcast: it applies it (as below)
        // and relays it.
        let events = g.get_and_clear_pending_msg_events();
        let [MessageSendEvent::BroadcastChannelUpdate { msg, .. }] = &events[..] else {
            panic!("expected one broadcast, got {events:?}");
        };
        assert_eq!(msg, &update);
        g.handle_channel_update(None, msg).unwrap();
        assert!(g.get_and_clear_pending_msg_events().is_empty());
        let ro = graph.read_only();
        let chan = ro.channel(scid).unwrap();
        let two_to_one = chan
            .two_to_one
            .as_ref()
            .expect("the kept update was applied");
        assert_eq!(two_to_one.fees.proportional_millionths, 1);
        assert!(chan.one_to_two.is_none());
    }
}
