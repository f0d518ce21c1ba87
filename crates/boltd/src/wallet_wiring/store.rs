//! `wallet_records` as the wallet's [`WalletStore`].

use wallet::{Merge, PersistError, Record, WalletStore};

use crate::storage::Storage;

/// More records than this at a load are merged into one by the next append (a record per
/// block adds up; loading merges them all anyway).
const COMPACT_ABOVE: u64 = 1000;

pub struct StoreRecords {
    storage: Storage,
    /// The last load found more than [`COMPACT_ABOVE`] records. Not compacted there: the
    /// wallet loads at start-up, before `db_write` plugins' `init`, where a restart must
    /// write nothing (a cln-plugin plugin exits on a `db_write` before `init`).
    compact: bool,
}

impl StoreRecords {
    pub fn new(storage: Storage) -> StoreRecords {
        StoreRecords {
            storage,
            compact: false,
        }
    }

    /// Replaces every stored record, and `record`, by their merge (one transaction). Only
    /// the wallet appends, one append at a time, so nothing is added between the read and
    /// the write.
    fn compact_with(&mut self, record: &Record) -> Result<(), PersistError> {
        let rows = self
            .storage
            .run_blocking(|s| Ok(s.wallet_records()?))
            .map_err(persist_err)?;
        let mut all = Record::default();
        for bytes in &rows {
            all.merge(Record::from_bytes(bytes)?);
        }
        all.merge(record.clone());
        let merged = all.to_bytes()?;
        self.storage
            .run_blocking(move |s| Ok(s.wallet_compact(&merged)?))
            .map_err(persist_err)?;
        tracing::debug!("wallet: {} records compacted into one", rows.len() + 1);
        Ok(())
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
        self.compact = count > COMPACT_ABOVE;
        Ok(all)
    }

    fn append(&mut self, record: &Record) -> Result<(), PersistError> {
        if self.compact {
            self.compact_with(record)?;
            self.compact = false;
            return Ok(());
        }
        let bytes = record.to_bytes()?;
        self.storage
            .run_blocking(move |s| Ok(s.wallet_append(&bytes)?))
            .map_err(persist_err)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use wallet::{Record, WalletStore};

    use super::{StoreRecords, COMPACT_ABOVE};
    use crate::shutdown::Shutdown;
    use crate::storage::{DbWriteFn, Storage};

    /// A load runs before `db_write` plugins' `init` (the wallet opens at start-up), so a
    /// load of many records writes nothing; the next append merges them all into one.
    #[test]
    fn a_load_of_many_records_writes_nothing_and_the_next_append_compacts() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let writes = Arc::new(AtomicUsize::new(0));
            let counted = writes.clone();
            let sink: DbWriteFn = Arc::new(move |_, _| {
                counted.fetch_add(1, Ordering::SeqCst);
                Box::pin(async { Ok(()) })
            });
            let storage = Storage::open(
                dir.path().join("lightningd.sqlite3"),
                Some(sink),
                Shutdown::new(),
            )
            .await
            .unwrap();
            let count = |s: &Storage| s.run_blocking(|st| Ok(st.wallet_record_count()?)).unwrap();
            let s = storage.clone();
            tokio::task::spawn_blocking(move || {
                let mut records = StoreRecords::new(s.clone());
                for _ in 0..=COMPACT_ABOVE {
                    records.append(&Record::default()).unwrap();
                }
                let before = writes.load(Ordering::SeqCst);
                let mut reopened = StoreRecords::new(s.clone());
                reopened.load().unwrap();
                assert_eq!(writes.load(Ordering::SeqCst), before, "the load wrote");
                assert_eq!(count(&s), COMPACT_ABOVE + 1);
                reopened.append(&Record::default()).unwrap();
                assert_eq!(count(&s), 1);
                reopened.append(&Record::default()).unwrap();
                assert_eq!(count(&s), 2);
            })
            .await
            .unwrap();
        });
    }
}
