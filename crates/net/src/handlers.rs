//! [`Handlers`]: the LDK message handlers the caller plugs into the `PeerManager`.

use std::sync::Arc;

use lightning::ln::msgs::{
    BaseMessageHandler, ChannelMessageHandler, OnionMessageHandler, RoutingMessageHandler,
    SendOnlyMessageHandler,
};
use lightning::ln::peer_handler::{ErroringMessageHandler, IgnoringMessageHandler};
use lightning::types::features::{InitFeatures, NodeFeatures};

use crate::features::{be_bytes, OurFeatures};
use crate::PublicKey;

/// A channel-message handler (LDK's `ChannelManager`, or [`ErroringMessageHandler`]).
pub type ChannelHandler = dyn ChannelMessageHandler + Send + Sync;
/// A gossip handler (LDK's `P2PGossipSync`, or [`IgnoringMessageHandler`]).
pub type RoutingHandler = dyn RoutingMessageHandler + Send + Sync;
/// An onion-message handler (LDK's `OnionMessenger`, or [`IgnoringMessageHandler`]).
pub type OnionHandler = dyn OnionMessageHandler + Send + Sync;
/// A send-only handler (LDK's `ChainMonitor`, for peer storage, or [`IgnoringMessageHandler`]).
pub type SendOnlyHandler = dyn SendOnlyMessageHandler + Send + Sync;

/// What the `PeerManager` hands channel, gossip and onion messages to. Custom messages stay
/// this crate's (they become [`PeerEvent`](crate::PeerEvent)s).
#[derive(Clone)]
pub struct Handlers {
    /// Channel messages. `peer_storage` and `peer_storage_retrieval` also reach plugins
    /// as custom messages.
    pub channel: Arc<ChannelHandler>,
    /// Gossip.
    pub routing: Arc<RoutingHandler>,
    /// Onion messages.
    pub onion: Arc<OnionHandler>,
    /// Messages that only go out (merged with the BOLT 1 warnings this crate sends).
    pub send_only: Arc<SendOnlyHandler>,
    /// Told when a read starts handing channel-state messages to `channel` (`true`) and
    /// when that read is done (`false`); see [`ReadWatch`].
    pub read_watch: Option<ReadWatch>,
}

/// Told `true` when a batch of bytes read from a peer first hands a message that changes a
/// channel's state (an HTLC update, `commitment_signed`, `revoke_and_ack`, `update_fee`)
/// to the channel handler, and `false` once LDK is done with that batch. A peer often
/// sends `revoke_and_ack` and `commitment_signed` together: the channel owner can wait
/// for the `false` before writing, so that both monitor updates share one write.
pub type ReadWatch = Arc<dyn Fn(bool) + Send + Sync>;

impl Handlers {
    /// A node without channels: channel messages get an error ("We do not support channel
    /// messages, sorry."), gossip and onion messages are ignored.
    pub fn without_channels() -> Handlers {
        let ignoring = Arc::new(IgnoringMessageHandler {});
        Handlers {
            channel: Arc::new(ErroringMessageHandler::new()),
            routing: ignoring.clone(),
            onion: ignoring.clone(),
            send_only: ignoring,
            read_watch: None,
        }
    }

    /// The init and node feature bits these handlers advertise (what LDK unions into our
    /// init and node announcement), before any plugin adds its own.
    pub fn features(&self) -> OurFeatures {
        let (init, node) = self.raw_features();
        OurFeatures {
            init: be_bytes(init.le_flags()),
            node: be_bytes(node.le_flags()),
        }
    }

    pub(crate) fn raw_features(&self) -> (InitFeatures, NodeFeatures) {
        // Any key works: none of LDK's handlers vary their bits by peer.
        let any = PublicKey::from_slice(&[
            2, 0x79, 0xbe, 0x66, 0x7e, 0xf9, 0xdc, 0xbb, 0xac, 0x55, 0xa0, 0x62, 0x95, 0xce, 0x87,
            0x0b, 0x07, 0x02, 0x9b, 0xfc, 0xdb, 0x2d, 0xce, 0x28, 0xd9, 0x59, 0xf2, 0x81, 0x5b,
            0x16, 0xf8, 0x17, 0x98,
        ]);
        let init = match any {
            Ok(k) => {
                self.channel.provided_init_features(k)
                    | self.routing.provided_init_features(k)
                    | self.onion.provided_init_features(k)
                    | self.send_only.provided_init_features(k)
            }
            Err(_) => InitFeatures::empty(),
        };
        let node = self.channel.provided_node_features()
            | self.routing.provided_node_features()
            | self.onion.provided_node_features()
            | self.send_only.provided_node_features();
        (init, node)
    }
}

/// The feature bits a node without channels advertises by itself: the base a plugin host
/// checks plugin `featurebits` against (`Handlers::without_channels().features()`).
pub fn base_features() -> OurFeatures {
    Handlers::without_channels().features()
}
