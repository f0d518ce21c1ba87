//! Blocks from the chain poller to the channel manager, the chain monitor and the
//! sweeper, in order, each block connecting to the last.

use std::sync::Arc;

use bitcoin::Block;
use chain::{BlockRef, ChainListener};
use lightning::chain::{BlockLocator, Listen};

use crate::node::Ln;

/// What a delivered block means to the channel manager.
#[derive(Debug, PartialEq, Eq)]
pub enum BlockFit {
    /// The next block: apply it.
    Next,
    /// At or below what the manager has (a block redelivered after a crash): skip.
    Seen,
    /// Above the manager's tip without connecting to it: blocks are missing.
    Gap,
}

/// Where `height`/`prev` stand relative to the manager's best block.
pub fn fit(best: BlockRef, height: u32, prev: bitcoin::BlockHash) -> BlockFit {
    if height <= best.height {
        BlockFit::Seen
    } else if height == best.height + 1 && prev == best.hash {
        BlockFit::Next
    } else {
        BlockFit::Gap
    }
}

impl Ln {
    /// Applies one block to every LDK listener. LDK panics on a block that does not
    /// connect, so anything else is skipped here (with a log line for a gap).
    pub fn block_connected(&self, block: &Block, height: u32) {
        let _serial = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        let prev = block.header.prev_blockhash;
        let sweeper = fit(self.sweeper_best_block(), height, prev);
        match fit(self.best_block(), height, prev) {
            BlockFit::Next => {
                self.manager.block_connected(block, height);
                self.chain_monitor.block_connected(block, height);
            }
            // Replayed for the sweeper, which is behind.
            BlockFit::Seen if sweeper == BlockFit::Next => {}
            BlockFit::Seen => return,
            BlockFit::Gap => {
                let best = self.best_block();
                tracing::error!(
                    "block {height} does not connect to the channel manager's tip {} at {}; skipped",
                    best.hash,
                    best.height
                );
                return;
            }
        }
        match sweeper {
            BlockFit::Next => self.sweeper.block_connected(block, height),
            BlockFit::Seen => {}
            BlockFit::Gap => {
                let best = self.sweeper_best_block();
                tracing::error!(
                    "block {height} does not connect to the sweeper's tip {} at {}; not given to it",
                    best.hash,
                    best.height
                );
            }
        }
        // A block may mature an output (to_self_delay): sweep it now, not at the next
        // timer tick.
        let _ = self.sweeper.regenerate_and_broadcast_spend_if_necessary();
    }

    /// Every block above `fork_point` is gone.
    pub fn blocks_disconnected(&self, fork_point: BlockRef) {
        let _serial = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        let loc = || BlockLocator::new(fork_point.hash, fork_point.height);
        if self.best_block().height > fork_point.height {
            self.manager.blocks_disconnected(loc());
            self.chain_monitor.blocks_disconnected(loc());
        }
        if self.sweeper_best_block().height > fork_point.height {
            self.sweeper.blocks_disconnected(loc());
        }
    }
}

/// The poller's listener for channels.
pub struct LnListener(pub Arc<Ln>);

impl ChainListener for LnListener {
    fn block_connected(&self, block: &Block, height: u32) {
        self.0.block_connected(block, height);
    }
    fn blocks_disconnected(&self, fork_point: BlockRef) {
        self.0.blocks_disconnected(fork_point);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    fn h(n: u8) -> bitcoin::BlockHash {
        bitcoin::BlockHash::from_byte_array([n; 32])
    }

    #[test]
    fn only_the_next_connecting_block_is_applied() {
        let best = BlockRef {
            height: 10,
            hash: h(10),
        };
        assert_eq!(fit(best, 11, h(10)), BlockFit::Next);
        assert_eq!(fit(best, 10, h(9)), BlockFit::Seen);
        assert_eq!(fit(best, 3, h(2)), BlockFit::Seen);
        assert_eq!(fit(best, 12, h(11)), BlockFit::Gap);
        assert_eq!(fit(best, 11, h(7)), BlockFit::Gap);
    }
}
