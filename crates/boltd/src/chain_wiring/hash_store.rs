//! The store as the poller's [`HashStore`]. The trait is synchronous (the poller calls it
//! between blocks); the store runs on the blocking pool behind the daemon's one lock, so
//! the call leaves the async worker with `block_in_place` while it waits.

use bitcoin::hashes::Hash;
use bitcoin::BlockHash;
use chain::{BlockRef, HashChange, HashStore, HashStoreError};
use store::BlocksChange;

use crate::storage::Storage;

pub struct StoreHashes(pub Storage);

impl StoreHashes {
    fn wait<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut store::Store) -> Result<T, store::StoreError> + Send + 'static,
    ) -> Result<T, HashStoreError> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|e| HashStoreError(format!("no runtime: {e}")))?;
        // block_in_place needs a multi-threaded runtime (the daemon's is); refuse rather
        // than panic elsewhere.
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return Err(HashStoreError("needs a multi-threaded runtime".into()));
        }
        let storage = self.0.clone();
        tokio::task::block_in_place(move || {
            handle.block_on(storage.run(move |s| f(s).map_err(store::DatastoreError::from)))
        })
        .map_err(|e| HashStoreError(e.to_string()))
    }
}

impl HashStore for StoreHashes {
    fn load(&self) -> Result<Vec<BlockRef>, HashStoreError> {
        let rows = self.wait(|s| s.blocks())?;
        Ok(rows
            .into_iter()
            .map(|(height, h)| BlockRef {
                height,
                hash: BlockHash::from_byte_array(h),
            })
            .collect())
    }

    fn apply(&mut self, change: &HashChange) -> Result<(), HashStoreError> {
        let change = BlocksChange {
            remove_above: change.remove_above,
            add: change
                .add
                .iter()
                .map(|b| (b.height, b.hash.to_byte_array()))
                .collect(),
            remove_below: change.remove_below,
        };
        self.wait(move |s| s.apply_blocks(&change))
    }
}
