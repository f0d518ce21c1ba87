//! The `kv` table: opaque values under (primary namespace, secondary namespace, key).
//! This is the storage under LDK's `KVStore` (see `kvstore.rs`, which checks names and
//! orders writes); here it is plain rows, and every write is one [`Store::transaction`]
//! (or part of one holding several, see `KvGroup`), so `db_write` plugins see it like any
//! other.

use crate::backend::SqlValue;
use crate::error::StoreError;
use crate::tx::{Store, Tx};

fn names(primary: &str, secondary: &str, key: &str) -> [SqlValue; 3] {
    [
        SqlValue::Text(primary.to_string()),
        SqlValue::Text(secondary.to_string()),
        SqlValue::Text(key.to_string()),
    ]
}

fn text_column(rows: Vec<Vec<SqlValue>>) -> Result<Vec<String>, StoreError> {
    rows.iter()
        .map(|r| match r.as_slice() {
            [v] => v.as_text().map(str::to_string),
            _ => Err(StoreError::Corrupt("kv row shape".into())),
        })
        .collect()
}

impl Store {
    /// The value under the names, or `None`.
    pub fn kv_read(
        &mut self,
        primary: &str,
        secondary: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self.query(
            "SELECT value FROM kv WHERE primary_namespace = ? AND secondary_namespace = ? AND key = ?",
            &names(primary, secondary, key),
        )?;
        rows.first()
            .and_then(|r| r.first())
            .map(|v| v.as_blob().map(<[u8]>::to_vec))
            .transpose()
    }

    /// Stores `value` under the names (replacing any), durably, once `db_write` agreed.
    pub fn kv_write(
        &mut self,
        primary: &str,
        secondary: &str,
        key: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        self.transaction(|tx| tx.kv_write(primary, secondary, key, value))
    }

    /// Removes the value under the names. Removing nothing succeeds and writes nothing
    /// (no `data_version`, no `db_write`).
    pub fn kv_remove(
        &mut self,
        primary: &str,
        secondary: &str,
        key: &str,
    ) -> Result<(), StoreError> {
        self.transaction(|tx| tx.kv_remove(primary, secondary, key))
    }

    /// The keys stored directly under the two namespaces, in byte order.
    pub fn kv_list(&mut self, primary: &str, secondary: &str) -> Result<Vec<String>, StoreError> {
        let rows = self.query(
            "SELECT key FROM kv WHERE primary_namespace = ? AND secondary_namespace = ? ORDER BY key",
            &[
                SqlValue::Text(primary.to_string()),
                SqlValue::Text(secondary.to_string()),
            ],
        )?;
        text_column(rows)
    }

    /// Every (primary namespace, secondary namespace, key) stored, for migrations.
    pub fn kv_list_all(&mut self) -> Result<Vec<(String, String, String)>, StoreError> {
        let rows = self.query(
            "SELECT primary_namespace, secondary_namespace, key FROM kv \
             ORDER BY primary_namespace, secondary_namespace, key",
            &[],
        )?;
        rows.iter()
            .map(|r| match r.as_slice() {
                [p, s, k] => Ok((
                    p.as_text()?.to_string(),
                    s.as_text()?.to_string(),
                    k.as_text()?.to_string(),
                )),
                _ => Err(StoreError::Corrupt("kv row shape".into())),
            })
            .collect()
    }
}

impl Tx<'_> {
    /// [`Store::kv_write`] inside an open transaction.
    pub fn kv_write(
        &mut self,
        primary: &str,
        secondary: &str,
        key: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        let [p, s, k] = names(primary, secondary, key);
        self.execute(
            "INSERT INTO kv (primary_namespace, secondary_namespace, key, value) \
             VALUES (?, ?, ?, ?) \
             ON CONFLICT (primary_namespace, secondary_namespace, key) \
             DO UPDATE SET value = excluded.value",
            &[p, s, k, SqlValue::Blob(value.to_vec())],
        )
        .map(|_| ())
    }

    /// [`Store::kv_remove`] inside an open transaction.
    pub fn kv_remove(
        &mut self,
        primary: &str,
        secondary: &str,
        key: &str,
    ) -> Result<(), StoreError> {
        let names = names(primary, secondary, key);
        let present = !self
            .query(
                "SELECT 1 FROM kv WHERE primary_namespace = ? AND secondary_namespace = ? AND key = ?",
                &names,
            )?
            .is_empty();
        if present {
            self.execute(
                "DELETE FROM kv WHERE primary_namespace = ? AND secondary_namespace = ? AND key = ?",
                &names,
            )?;
        }
        Ok(())
    }
}
