//! Our outgoing payments, one row per payment hash (so a hash is never paid twice), each
//! the JSON payment object `listsendpays` shows. The rules (what may be retried, when a
//! payment completes) live in the daemon.

use crate::backend::SqlValue;
use crate::error::StoreError;
use crate::tx::Store;

/// One stored payment.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSendpay {
    pub created_index: u64,
    pub payment_hash: [u8; 32],
    pub record: serde_json::Value,
}

fn row(r: &[SqlValue]) -> Result<StoredSendpay, StoreError> {
    let [ci, hash, rec] = r else {
        return Err(StoreError::Corrupt(
            "sendpays row of the wrong width".into(),
        ));
    };
    let created_index = u64::try_from(ci.as_i64()?)
        .map_err(|_| StoreError::Corrupt("sendpays: negative index".into()))?;
    let payment_hash = hash
        .as_blob()?
        .try_into()
        .map_err(|_| StoreError::Corrupt("sendpays: payment_hash is not 32 bytes".into()))?;
    let record = serde_json::from_str(rec.as_text()?)
        .map_err(|e| StoreError::Corrupt(format!("sendpays: record: {e}")))?;
    Ok(StoredSendpay {
        created_index,
        payment_hash,
        record,
    })
}

impl Store {
    /// Starts a payment of `hash` (durable when this returns): `make` builds its record
    /// from the new `created_index`. If the hash has a row already, nothing is written and
    /// `Err` carries that row, unless `replace` accepts it (a failed payment retried),
    /// in which case its record is replaced and its index kept.
    pub fn sendpay_begin(
        &mut self,
        hash: &[u8; 32],
        replace: impl Fn(&StoredSendpay) -> bool,
        make: impl Fn(u64) -> serde_json::Value,
    ) -> Result<Result<StoredSendpay, StoredSendpay>, StoreError> {
        self.transaction(|tx| {
            let old = tx.query(
                "SELECT created_index, payment_hash, record FROM sendpays WHERE payment_hash = ?",
                &[SqlValue::Blob(hash.to_vec())],
            )?;
            let (index, fresh) = match old.first().map(|r| row(r)).transpose()? {
                Some(o) if !replace(&o) => return Ok(Err(o)),
                Some(o) => (o.created_index, false),
                None => {
                    let last = tx.query("SELECT MAX(created_index) FROM sendpays", &[])?;
                    let last = match last.first().and_then(|r| r.first()) {
                        Some(SqlValue::Null) | None => 0,
                        Some(v) => v.as_i64()?,
                    };
                    (u64::try_from(last).unwrap_or(0) + 1, true)
                }
            };
            let record = make(index);
            let text = SqlValue::Text(record.to_string());
            let idx = SqlValue::Int(i64::try_from(index).unwrap_or(i64::MAX));
            if fresh {
                tx.execute(
                    "INSERT INTO sendpays (created_index, payment_hash, record) VALUES (?, ?, ?)",
                    &[idx, SqlValue::Blob(hash.to_vec()), text],
                )?;
            } else {
                tx.execute(
                    "UPDATE sendpays SET record = ? WHERE created_index = ?",
                    &[text, idx],
                )?;
            }
            Ok(Ok(StoredSendpay {
                created_index: index,
                payment_hash: *hash,
                record,
            }))
        })
    }

    /// Replaces the record of the payment of `hash` (durable when this returns).
    pub fn sendpay_update(
        &mut self,
        hash: &[u8; 32],
        record: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.transaction(|tx| {
            tx.execute(
                "UPDATE sendpays SET record = ? WHERE payment_hash = ?",
                &[
                    SqlValue::Text(record.to_string()),
                    SqlValue::Blob(hash.to_vec()),
                ],
            )?;
            Ok(())
        })
    }

    /// Every payment, by `created_index`.
    pub fn sendpays_list(&mut self) -> Result<Vec<StoredSendpay>, StoreError> {
        let r = self.query(
            "SELECT created_index, payment_hash, record FROM sendpays ORDER BY created_index",
            &[],
        )?;
        r.iter().map(|r| row(r)).collect()
    }
}
