//! Our chain's recent blocks: the poller's window of `(height, hash)`, so a restart
//! resumes at our tip and can find the fork point of a reorg that happened while we were
//! down. Hashes are 32 bytes in internal byte order; this crate knows nothing of Bitcoin.

use crate::backend::SqlValue;
use crate::error::StoreError;
use crate::tx::Store;

/// One change to the window, applied as one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlocksChange {
    /// Forget every block above this height (a reorg).
    pub remove_above: Option<u32>,
    /// Blocks to add (replacing any at the same height).
    pub add: Vec<(u32, [u8; 32])>,
    /// Forget every block below this height (the window slides).
    pub remove_below: Option<u32>,
}

impl Store {
    /// The stored blocks, ascending by height.
    pub fn blocks(&mut self) -> Result<Vec<(u32, [u8; 32])>, StoreError> {
        let rows = self.query("SELECT height, hash FROM blocks ORDER BY height", &[])?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let (Some(h), Some(hash)) = (row.first(), row.get(1)) else {
                return Err(StoreError::Backend("blocks: short row".into()));
            };
            let height = u32::try_from(h.as_i64()?)
                .map_err(|_| StoreError::Backend("blocks: height out of range".into()))?;
            let hash: [u8; 32] = hash.as_blob()?.try_into().map_err(|_| {
                StoreError::Backend(format!("blocks: hash at {height} is not 32 bytes"))
            })?;
            out.push((height, hash));
        }
        Ok(out)
    }

    /// Applies `change` atomically (durable when it returns `Ok`).
    pub fn apply_blocks(&mut self, change: &BlocksChange) -> Result<(), StoreError> {
        self.transaction(|tx| {
            if let Some(h) = change.remove_above {
                tx.execute(
                    "DELETE FROM blocks WHERE height > ?",
                    &[SqlValue::Int(h.into())],
                )?;
            }
            for (height, hash) in &change.add {
                tx.execute(
                    "INSERT INTO blocks (height, hash) VALUES (?, ?) \
                     ON CONFLICT (height) DO UPDATE SET hash = excluded.hash",
                    &[
                        SqlValue::Int((*height).into()),
                        SqlValue::Blob(hash.to_vec()),
                    ],
                )?;
            }
            if let Some(h) = change.remove_below {
                tx.execute(
                    "DELETE FROM blocks WHERE height < ?",
                    &[SqlValue::Int(h.into())],
                )?;
            }
            Ok(())
        })
    }
}
