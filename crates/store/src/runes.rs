//! Runes `createrune` issued, when each id was last used, and the blacklist (ranges).
//! The rune rules themselves live in the `runes` crate; this is only their storage.

use crate::backend::SqlValue;
use crate::error::StoreError;
use crate::tx::Store;

/// One row of `runes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRune {
    pub id: u64,
    pub rune: String,
    pub last_used_nsec: Option<u64>,
}

fn int(v: u64) -> Result<SqlValue, StoreError> {
    i64::try_from(v)
        .map(SqlValue::Int)
        .map_err(|_| StoreError::Backend(format!("{v} does not fit a BIGINT")))
}

fn uint(v: &SqlValue) -> Result<u64, StoreError> {
    u64::try_from(v.as_i64()?).map_err(|_| StoreError::Corrupt(format!("negative value {v:?}")))
}

impl Store {
    /// Every stored rune, by id.
    pub fn runes(&mut self) -> Result<Vec<StoredRune>, StoreError> {
        let rows = self.query(
            "SELECT id, rune, last_used_nsec FROM runes ORDER BY id",
            &[],
        )?;
        rows.iter()
            .map(|r| match r.as_slice() {
                [id, rune, last] => Ok(StoredRune {
                    id: uint(id)?,
                    rune: rune.as_text()?.to_string(),
                    last_used_nsec: match last {
                        SqlValue::Null => None,
                        v => Some(uint(v)?),
                    },
                }),
                _ => Err(StoreError::Corrupt("runes row of the wrong width".into())),
            })
            .collect()
    }

    /// Stores a newly issued rune.
    pub fn rune_insert(&mut self, id: u64, rune: &str) -> Result<(), StoreError> {
        self.transaction(|tx| {
            tx.execute(
                "INSERT INTO runes (id, rune) VALUES (?, ?)",
                &[int(id)?, SqlValue::Text(rune.to_string())],
            )
            .map(|_| ())
        })
    }

    /// Records a successful check of any rune with unique id `id` (no row, no change).
    pub fn rune_used(&mut self, id: u64, nsec: u64) -> Result<(), StoreError> {
        self.transaction(|tx| {
            tx.execute(
                "UPDATE runes SET last_used_nsec = ? WHERE id = ?",
                &[int(nsec)?, int(id)?],
            )
            .map(|_| ())
        })
    }

    /// The blacklist as stored.
    pub fn runes_blacklist(&mut self) -> Result<Vec<(u64, u64)>, StoreError> {
        let rows = self.query(
            "SELECT start_index, end_index FROM runes_blacklist ORDER BY start_index",
            &[],
        )?;
        rows.iter()
            .map(|r| match r.as_slice() {
                [s, e] => Ok((uint(s)?, uint(e)?)),
                _ => Err(StoreError::Corrupt(
                    "runes_blacklist row of the wrong width".into(),
                )),
            })
            .collect()
    }

    /// Replaces the whole blacklist in one transaction.
    pub fn set_runes_blacklist(&mut self, ranges: &[(u64, u64)]) -> Result<(), StoreError> {
        self.transaction(|tx| {
            tx.execute("DELETE FROM runes_blacklist", &[])?;
            for &(s, e) in ranges {
                tx.execute(
                    "INSERT INTO runes_blacklist (start_index, end_index) VALUES (?, ?)",
                    &[int(s)?, int(e)?],
                )?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hook::NoHook;
    use std::sync::Arc;

    #[test]
    fn runes_and_blacklist_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        {
            let mut s = Store::open_sqlite(&path, Arc::new(NoHook)).unwrap();
            assert!(s.runes().unwrap().is_empty());
            s.rune_insert(0, "r0").unwrap();
            s.rune_insert(1, "r1").unwrap();
            s.rune_used(1, 1_796_355_476_580_670_400).unwrap();
            s.rune_used(9, 5).unwrap();
            s.set_runes_blacklist(&[(1, 3), (7, 7)]).unwrap();
            s.set_runes_blacklist(&[(1, 4)]).unwrap();
            assert!(s.rune_insert(1, "dup").is_err());
        }
        let mut s = Store::open_sqlite(&path, Arc::new(NoHook)).unwrap();
        assert_eq!(
            s.runes().unwrap(),
            vec![
                StoredRune {
                    id: 0,
                    rune: "r0".into(),
                    last_used_nsec: None
                },
                StoredRune {
                    id: 1,
                    rune: "r1".into(),
                    last_used_nsec: Some(1_796_355_476_580_670_400)
                },
            ]
        );
        assert_eq!(s.runes_blacklist().unwrap(), vec![(1, 4)]);
    }
}
