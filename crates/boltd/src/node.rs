//! The shared state every command and subsystem sees (`Arc<Node>`).
//!
//! Fields that later subsystems update (peers, features, configuration) sit behind
//! `RwLock`s; nothing here is held across an `.await`.

use std::sync::atomic::AtomicU32;
use std::sync::RwLock;
use std::time::{Instant, SystemTime};

use bitcoin::secp256k1::PublicKey;
use serde_json::{json, Value};

use crate::config::{Config, Settings};
use crate::logging::LogHandle;
use crate::shutdown::Shutdown;

/// The Core Lightning release whose extension surface boltd follows.
pub const CLN_COMPAT: &str = "v26.06";

/// The daemon version string (`getinfo.version`, `--version`, `LIGHTNINGD_VERSION`):
/// `v26.06-boltd-<crate version>`. Tools compare lightningd versions by the part before
/// the first `-` (pyln-testing picks its options and hsm_secret format that way), so they
/// see the Core Lightning release boltd is compatible with.
pub const VERSION: &str = concat!("v26.06-boltd-", env!("CARGO_PKG_VERSION"));

/// What getinfo reports about the peer layer; the peers task keeps it current.
#[derive(Debug, Clone, Default)]
pub struct PeerSummary {
    pub num_peers: u32,
    /// Announced addresses: `[{"type":"ipv4","address":"1.2.3.4","port":9735}]`.
    pub address: Vec<Value>,
    /// Listening addresses: `[{"type":"ipv4","address":"127.0.0.1","port":40123}]`.
    pub binding: Vec<Value>,
}

/// Feature bits as hex (BOLT 9 byte order); the plugin/peer tasks add their bits.
#[derive(Debug, Clone, Default)]
pub struct FeatureSet {
    pub init: String,
    pub node: String,
    pub channel: String,
    pub invoice: String,
}

impl FeatureSet {
    pub fn to_json(&self) -> Value {
        json!({
            "init": self.init,
            "node": self.node,
            "channel": self.channel,
            "invoice": self.invoice,
        })
    }
}

pub struct Node {
    /// All options with sources. Behind a lock because `setconfig` and `plugin start`
    /// change it at run time.
    pub config: RwLock<Config>,
    /// Typed builtin settings resolved at start-up (do not change at run time).
    pub settings: Settings,
    /// `hsm_secret` and the one `KeysManager` everything that signs shares.
    pub keys: keys::Keys,
    pub node_id: PublicKey,
    /// `--alias`, or one derived from the node id.
    pub alias: String,
    /// `--rgb`, or the first three bytes of the node id.
    pub color: [u8; 3],
    pub started_at: SystemTime,
    pub started_instant: Instant,
    pub shutdown: Shutdown,
    pub log: LogHandle,
    pub peers: RwLock<PeerSummary>,
    pub features: RwLock<FeatureSet>,
    pub blockheight: AtomicU32,
}

impl Node {
    pub fn id_hex(&self) -> String {
        self.node_id.to_string()
    }

    pub fn color_hex(&self) -> String {
        hex::encode(self.color)
    }
}

/// A default alias derived from the node id, stable across restarts.
pub fn default_alias(id: &PublicKey) -> String {
    const ADJ: &[&str] = &[
        "SILENT", "BRAVE", "QUICK", "LUCKY", "SHINY", "GENTLE", "ROUGH", "CLEVER",
    ];
    const NOUN: &[&str] = &[
        "BOLT", "SPARK", "STORM", "RIVER", "COMET", "FALCON", "ENGINE", "LANTERN",
    ];
    let b = id.serialize();
    let a = ADJ[usize::from(b[1]) % ADJ.len()];
    let n = NOUN[usize::from(b[2]) % NOUN.len()];
    format!("{a}{n}-{}", hex::encode(&b[1..3]))
}

#[cfg(test)]
mod tests {
    /// pyln-testing (and pyln-client's `NodeVersion`) read `vYY.MM` before the first `-`.
    #[test]
    fn version_leads_with_the_core_lightning_release() {
        let head = super::VERSION.split('-').next().unwrap();
        assert_eq!(head, super::CLN_COMPAT);
        assert!(super::VERSION.ends_with(env!("CARGO_PKG_VERSION")));
    }
}
