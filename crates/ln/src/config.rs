//! The node's channel policy, as LDK's `UserConfig`.

use std::path::PathBuf;

use bitcoin::Network;
use lightning::util::config::UserConfig;

/// What the daemon decides about channels.
#[derive(Debug, Clone)]
pub struct LnConfig {
    pub network: Network,
    /// The network graph's file (outside the database, like CLN's gossip_store).
    pub graph_path: PathBuf,
    /// Confirmations we require of a channel the peer funds (`funding-confirms`: 3 on
    /// mainnet, 1 elsewhere, as Core Lightning).
    pub funding_confirms: u32,
    /// On-chain sats kept per anchor channel (and for the first one) so commitment and
    /// HTLC transactions can be fee-bumped.
    pub anchor_reserve_per_channel_sat: u64,
}

impl LnConfig {
    pub fn new(network: Network, graph_path: PathBuf) -> LnConfig {
        LnConfig {
            network,
            graph_path,
            funding_confirms: if network == Network::Bitcoin { 3 } else { 1 },
            anchor_reserve_per_channel_sat: 25_000,
        }
    }
}

/// Anchors on; inbound channels wait for our decision (the `openchannel` hook).
pub fn user_config(c: &LnConfig) -> UserConfig {
    let mut u = UserConfig::default();
    u.channel_handshake_config
        .negotiate_anchors_zero_fee_htlc_tx = true;
    u.channel_handshake_config.minimum_depth = c.funding_confirms;
    u.channel_handshake_config.announce_for_forwarding = true;
    u.channel_handshake_limits
        .force_announced_channel_preference = false;
    // LDK 0.3 surfaces every inbound open as `Event::OpenChannelRequest` and waits for
    // our decision (the `openchannel` hook): there is no auto-accept left to turn off.
    u.accept_inbound_channels = true;
    // Core Lightning forwards to unannounced channels (that is what route hints are for);
    // LDK refuses such forwards unless told otherwise.
    u.accept_forwards_to_priv_channels = true;
    u
}

/// The init and node feature bits the running node's handlers advertise (channel
/// manager, gossip sync, onion messenger), known before anything starts: the plugin
/// host checks plugin `featurebits` against these before the channel manager exists.
pub fn provided_features(
    c: &LnConfig,
) -> (
    lightning_types::features::InitFeatures,
    lightning_types::features::NodeFeatures,
) {
    let mut init = lightning::ln::channelmanager::provided_init_features(&user_config(c));
    // P2PGossipSync and OnionMessenger add these to whatever the channel manager says.
    init.set_gossip_queries_optional();
    init.set_onion_messages_optional();
    let mut node: lightning_types::features::NodeFeatures = init.to_context();
    // The channel manager's node context adds keysend.
    node.set_keysend_optional();
    (init, node)
}
