//! The wallet hears blocks from the chain crate's poller, like LDK does.

use bdk_wallet::chain::BlockId;
use bitcoin::Block;
use chain::{BlockRef, ChainListener};

use crate::Wallet;

impl ChainListener for Wallet {
    fn block_connected(&self, block: &Block, height: u32) {
        if let Err(e) = self.apply_block(block, height) {
            tracing::error!("wallet: applying block {height}: {e}");
        }
    }

    fn blocks_disconnected(&self, fork_point: BlockRef) {
        let fork = BlockId {
            height: fork_point.height,
            hash: fork_point.hash,
        };
        if let Err(e) = self.disconnect_blocks(fork) {
            tracing::error!("wallet: disconnecting to block {}: {e}", fork_point.height);
        }
    }
}
