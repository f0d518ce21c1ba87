//! What a block on our chain does to the node: `getinfo.blockheight` follows the tip, and
//! each connected block is a `block_added` notification (reference §6.1; not for the
//! root block, which the poller does not announce; again after a reorg).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bitcoin::Block;
use chain::{BlockRef, ChainListener};
use plugins::PluginHost;
use serde_json::json;

use crate::node::Node;

pub struct NodeListener {
    pub node: Arc<Node>,
    pub plugins: PluginHost,
}

impl ChainListener for NodeListener {
    fn block_connected(&self, block: &Block, height: u32) {
        self.node.blockheight.store(height, Ordering::Relaxed);
        if self.plugins.anyone_cares("block_added") {
            self.plugins.notify(
                "block_added",
                json!({ "hash": block.block_hash().to_string(), "height": height }),
            );
        }
    }

    fn blocks_disconnected(&self, fork_point: BlockRef) {
        self.node
            .blockheight
            .store(fork_point.height, Ordering::Relaxed);
    }
}
