//! The on-chain wallet's records: opaque byte strings appended in order (the wallet crate
//! knows what they mean and how they merge). Each append is one transaction, so
//! `db_write` plugins see every change the wallet makes durable.

use crate::backend::SqlValue;
use crate::error::StoreError;
use crate::tx::Store;

impl Store {
    /// Every record, in the order appended.
    pub fn wallet_records(&mut self) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows = self.query("SELECT record FROM wallet_records ORDER BY id", &[])?;
        rows.iter()
            .map(|r| match r.as_slice() {
                [v] => v.as_blob().map(<[u8]>::to_vec),
                _ => Err(StoreError::Corrupt("wallet_records row shape".into())),
            })
            .collect()
    }

    /// Appends one record, durably (once `db_write` agreed).
    pub fn wallet_append(&mut self, record: &[u8]) -> Result<(), StoreError> {
        self.transaction(|tx| {
            tx.execute(
                "INSERT INTO wallet_records (id, record) \
                 VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM wallet_records), ?)",
                &[SqlValue::Blob(record.to_vec())],
            )
            .map(|_| ())
        })
    }

    /// Replaces every record by `merged` (their merge), atomically.
    pub fn wallet_compact(&mut self, merged: &[u8]) -> Result<(), StoreError> {
        self.transaction(|tx| {
            tx.execute("DELETE FROM wallet_records", &[])?;
            tx.execute(
                "INSERT INTO wallet_records (id, record) VALUES (1, ?)",
                &[SqlValue::Blob(merged.to_vec())],
            )
            .map(|_| ())
        })
    }

    /// How many records there are (to decide when to compact).
    pub fn wallet_record_count(&mut self) -> Result<u64, StoreError> {
        let rows = self.query("SELECT COUNT(*) FROM wallet_records", &[])?;
        let n = rows
            .first()
            .and_then(|r| r.first())
            .ok_or_else(|| StoreError::Corrupt("wallet_records count".into()))?
            .as_i64()?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::{NoHook, Store};

    #[test]
    fn records_come_back_in_order_and_compaction_leaves_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lightningd.sqlite3");
        {
            let mut s = Store::open_sqlite(&path, Arc::new(NoHook)).unwrap();
            for r in [b"a".as_slice(), b"b", b"c"] {
                s.wallet_append(r).unwrap();
            }
        }
        let mut s = Store::open_sqlite(&path, Arc::new(NoHook)).unwrap();
        assert_eq!(
            s.wallet_records().unwrap(),
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
        );
        s.wallet_compact(b"abc").unwrap();
        s.wallet_append(b"d").unwrap();
        assert_eq!(
            s.wallet_records().unwrap(),
            vec![b"abc".to_vec(), b"d".to_vec()]
        );
        assert_eq!(s.wallet_record_count().unwrap(), 2);
    }
}
