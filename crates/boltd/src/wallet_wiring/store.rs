//! `wallet_records` as the wallet's [`WalletStore`].

use wallet::{Merge, PersistError, Record, WalletStore};

use crate::storage::Storage;

/// More records than this are merged into one when the wallet is opened (a record per
/// block adds up; loading merges them all anyway).
const COMPACT_ABOVE: u64 = 1000;

pub struct StoreRecords {
    storage: Storage,
}

impl StoreRecords {
    pub fn new(storage: Storage) -> StoreRecords {
        StoreRecords { storage }
    }
}

fn persist_err(e: impl std::fmt::Display) -> PersistError {
    PersistError(e.to_string())
}

impl WalletStore for StoreRecords {
    fn load(&mut self) -> Result<Record, PersistError> {
        let (rows, count) = self
            .storage
            .run_blocking(|s| Ok((s.wallet_records()?, s.wallet_record_count()?)))
            .map_err(persist_err)?;
        let mut all = Record::default();
        for bytes in &rows {
            all.merge(Record::from_bytes(bytes)?);
        }
        if count > COMPACT_ABOVE {
            let merged = all.to_bytes()?;
            self.storage
                .run_blocking(move |s| Ok(s.wallet_compact(&merged)?))
                .map_err(persist_err)?;
            tracing::debug!("wallet: {count} records compacted into one");
        }
        Ok(all)
    }

    fn append(&mut self, record: &Record) -> Result<(), PersistError> {
        let bytes = record.to_bytes()?;
        self.storage
            .run_blocking(move |s| Ok(s.wallet_append(&bytes)?))
            .map_err(persist_err)
    }
}
