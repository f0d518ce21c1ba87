//! Who hears about blocks, and where the recent block hashes are kept.

use std::sync::{Arc, Mutex};

use bitcoin::{Block, BlockHash};

/// A block of our chain, by height and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockRef {
    pub height: u32,
    pub hash: BlockHash,
}

/// Receives the chain as the poller applies it: blocks in height order, each connecting to
/// the previous one; on a reorg one `blocks_disconnected` down to the fork point, then the
/// new branch. After a crash the last block may be delivered again (never skipped).
///
/// Called on the poller's task: keep it quick or hand the work off.
pub trait ChainListener: Send + Sync {
    fn block_connected(&self, block: &Block, height: u32);
    /// Every block above `fork_point` is gone; `fork_point` is the last block both
    /// branches share and is now the tip.
    fn blocks_disconnected(&self, fork_point: BlockRef);
}

/// LDK's chain listeners (ChannelManager, ChainMonitor, OutputSweeper, ...) join as-is.
pub struct LdkListener<L>(pub L);

impl<L> ChainListener for LdkListener<L>
where
    L: lightning::chain::Listen + Send + Sync,
{
    fn block_connected(&self, block: &Block, height: u32) {
        self.0.block_connected(block, height);
    }
    fn blocks_disconnected(&self, fork_point: BlockRef) {
        self.0
            .blocks_disconnected(lightning::chain::BlockLocator::new(
                fork_point.hash,
                fork_point.height,
            ));
    }
}

/// One change to the persisted window of recent block hashes, applied atomically.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HashChange {
    /// Forget every block above this height (a reorg).
    pub remove_above: Option<u32>,
    /// Blocks to add, ascending.
    pub add: Vec<BlockRef>,
    /// Forget every block below this height (the window slides).
    pub remove_below: Option<u32>,
}

/// Why the hash store failed; the poller logs it and retries the block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("block hash store: {0}")]
pub struct HashStoreError(pub String);

/// Durable storage of the last ~100 `(height, hash)` of our chain, so a restart resumes at
/// our tip and can find the fork point of a reorg that happened while we were down. The
/// daemon backs it with its store; this crate holds no SQL.
pub trait HashStore: Send + Sync {
    /// Ascending by height.
    fn load(&self) -> Result<Vec<BlockRef>, HashStoreError>;
    /// Durable when it returns `Ok`.
    fn apply(&mut self, change: &HashChange) -> Result<(), HashStoreError>;
}

/// A [`HashStore`] in memory, shared by clones (so a test can "restart" a poller on it).
#[derive(Debug, Clone, Default)]
pub struct MemoryHashStore(Arc<Mutex<Vec<BlockRef>>>);

impl MemoryHashStore {
    pub fn snapshot(&self) -> Vec<BlockRef> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl HashStore for MemoryHashStore {
    fn load(&self) -> Result<Vec<BlockRef>, HashStoreError> {
        Ok(self.snapshot())
    }
    fn apply(&mut self, change: &HashChange) -> Result<(), HashStoreError> {
        let mut v = self
            .0
            .lock()
            .map_err(|_| HashStoreError("poisoned".into()))?;
        apply_change(&mut v, change);
        Ok(())
    }
}

/// The meaning of a [`HashChange`] on an ascending list; stores may use it as reference.
pub fn apply_change(v: &mut Vec<BlockRef>, change: &HashChange) {
    if let Some(h) = change.remove_above {
        v.retain(|b| b.height <= h);
    }
    for b in &change.add {
        v.retain(|o| o.height != b.height);
        v.push(*b);
    }
    if let Some(h) = change.remove_below {
        v.retain(|b| b.height >= h);
    }
    v.sort_by_key(|b| b.height);
}
