//! Our outgoing payments, one row per (payment hash, group, part) as Core Lightning keys
//! them, each the JSON payment object `listsendpays` shows. The rules (what may be
//! retried, which parts may join a group, when a payment completes) live in the daemon:
//! it decides inside the same transaction that inserts, so two callers cannot both start
//! the same part.

use crate::backend::SqlValue;
use crate::error::StoreError;
use crate::tx::{Store, Tx};

/// One stored payment part.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSendpay {
    pub created_index: u64,
    pub payment_hash: [u8; 32],
    pub groupid: u64,
    pub partid: u64,
    pub record: serde_json::Value,
}

const COLUMNS: &str = "created_index, payment_hash, groupid, partid, record";

fn int(v: &SqlValue, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v.as_i64()?)
        .map_err(|_| StoreError::Corrupt(format!("sendpays: negative {what}")))
}

fn row(r: &[SqlValue]) -> Result<StoredSendpay, StoreError> {
    let [ci, hash, group, part, rec] = r else {
        return Err(StoreError::Corrupt(
            "sendpays row of the wrong width".into(),
        ));
    };
    let payment_hash = hash
        .as_blob()?
        .try_into()
        .map_err(|_| StoreError::Corrupt("sendpays: payment_hash is not 32 bytes".into()))?;
    let record = serde_json::from_str(rec.as_text()?)
        .map_err(|e| StoreError::Corrupt(format!("sendpays: record: {e}")))?;
    Ok(StoredSendpay {
        created_index: int(ci, "index")?,
        payment_hash,
        groupid: int(group, "groupid")?,
        partid: int(part, "partid")?,
        record,
    })
}

fn sql_int(v: u64) -> SqlValue {
    SqlValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn of_hash(tx: &mut Tx<'_>, hash: &[u8; 32]) -> Result<Vec<StoredSendpay>, StoreError> {
    let rows = tx.query(
        &format!("SELECT {COLUMNS} FROM sendpays WHERE payment_hash = ? ORDER BY created_index"),
        &[SqlValue::Blob(hash.to_vec())],
    )?;
    rows.iter().map(|r| row(r)).collect()
}

fn next_index(tx: &mut Tx<'_>) -> Result<u64, StoreError> {
    let last = tx.query("SELECT MAX(created_index) FROM sendpays", &[])?;
    let last = match last.first().and_then(|r| r.first()) {
        Some(SqlValue::Null) | None => 0,
        Some(v) => v.as_i64()?,
    };
    Ok(u64::try_from(last).unwrap_or(0) + 1)
}

/// What [`Store::sendpay_add`]'s caller decided, having seen the hash's parts.
pub enum Admit<E> {
    /// Insert a new part as (groupid, partid).
    Insert { groupid: u64, partid: u64 },
    /// Replace this part's record (a failed attempt started again), keeping its index.
    Replace(u64),
    /// Write nothing.
    Refuse(E),
}

impl Store {
    /// Starts a payment part (durable when this returns): `decide` sees every part of
    /// `hash` and says what to do; `make` builds the record from the `created_index` and
    /// the (groupid, partid) it gets.
    pub fn sendpay_add<E>(
        &mut self,
        hash: &[u8; 32],
        decide: impl FnOnce(&[StoredSendpay]) -> Admit<E>,
        make: impl FnOnce(u64, u64, u64) -> serde_json::Value,
    ) -> Result<Result<StoredSendpay, E>, StoreError> {
        self.transaction(|tx| {
            let parts = of_hash(tx, hash)?;
            let (index, groupid, partid, fresh) = match decide(&parts) {
                Admit::Refuse(e) => return Ok(Err(e)),
                Admit::Insert { groupid, partid } => {
                    // The table's key would refuse it, and a refused statement stops the
                    // store: a caller's slip must not.
                    if parts
                        .iter()
                        .any(|p| (p.groupid, p.partid) == (groupid, partid))
                    {
                        return Err(StoreError::Corrupt(format!(
                            "sendpays: part {groupid}/{partid} exists"
                        )));
                    }
                    (next_index(tx)?, groupid, partid, true)
                }
                Admit::Replace(index) => {
                    let old = parts
                        .iter()
                        .find(|p| p.created_index == index)
                        .ok_or_else(|| StoreError::Corrupt("sendpays: no such part".into()))?;
                    (index, old.groupid, old.partid, false)
                }
            };
            let record = make(index, groupid, partid);
            let text = SqlValue::Text(record.to_string());
            if fresh {
                tx.execute(
                    &format!("INSERT INTO sendpays ({COLUMNS}) VALUES (?, ?, ?, ?, ?)"),
                    &[
                        sql_int(index),
                        SqlValue::Blob(hash.to_vec()),
                        sql_int(groupid),
                        sql_int(partid),
                        text,
                    ],
                )?;
            } else {
                tx.execute(
                    "UPDATE sendpays SET record = ? WHERE created_index = ?",
                    &[text, sql_int(index)],
                )?;
            }
            Ok(Ok(StoredSendpay {
                created_index: index,
                payment_hash: *hash,
                groupid,
                partid,
                record,
            }))
        })
    }

    /// Replaces the record of part `created_index` (durable when this returns). With
    /// `changed` (a status change, not only our notes) the record gets the next
    /// `updated_index`. Returns the record as stored.
    pub fn sendpay_update(
        &mut self,
        created_index: u64,
        record: &serde_json::Value,
        changed: bool,
    ) -> Result<serde_json::Value, StoreError> {
        self.transaction(|tx| {
            let mut record = record.clone();
            if changed {
                let name = SqlValue::Text("sendpay_updated_index".into());
                let cur = tx.query(
                    "SELECT intval FROM vars WHERE name = ?",
                    std::slice::from_ref(&name),
                )?;
                let cur = match cur.first().and_then(|r| r.first()) {
                    Some(v) => int(v, "updated_index")?,
                    None => return Err(StoreError::Corrupt("vars has no sendpay counter".into())),
                };
                tx.execute(
                    "UPDATE vars SET intval = ? WHERE name = ?",
                    &[sql_int(cur + 1), name],
                )?;
                with_updated_index(&mut record, cur + 1);
            }
            tx.execute(
                "UPDATE sendpays SET record = ? WHERE created_index = ?",
                &[SqlValue::Text(record.to_string()), sql_int(created_index)],
            )?;
            Ok(record)
        })
    }

    /// Every part of `hash`, by `created_index`.
    pub fn sendpays_of(&mut self, hash: &[u8; 32]) -> Result<Vec<StoredSendpay>, StoreError> {
        self.transaction(|tx| of_hash(tx, hash))
    }

    /// Every part, by `created_index`.
    pub fn sendpays_list(&mut self) -> Result<Vec<StoredSendpay>, StoreError> {
        let r = self.query(
            &format!("SELECT {COLUMNS} FROM sendpays ORDER BY created_index"),
            &[],
        )?;
        r.iter().map(|r| row(r)).collect()
    }
}

/// Sets `updated_index`, placed right after `groupid` the first time, where Core
/// Lightning's `json_add_payment_fields` writes it (a record without one gets it last).
fn with_updated_index(record: &mut serde_json::Value, index: u64) {
    let Some(o) = record.as_object_mut() else {
        return;
    };
    let value = serde_json::json!(index);
    if o.contains_key("updated_index") || !o.contains_key("groupid") {
        o.insert("updated_index".into(), value);
        return;
    }
    let mut ordered = serde_json::Map::with_capacity(o.len() + 1);
    for (k, v) in std::mem::take(o) {
        let after = k == "groupid";
        ordered.insert(k, v);
        if after {
            ordered.insert("updated_index".into(), value.clone());
        }
    }
    *o = ordered;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open_sqlite(
            &d.path().join("db.sqlite3"),
            std::sync::Arc::new(crate::NoHook),
        )
        .unwrap();
        (d, s)
    }

    #[test]
    fn parts_of_one_hash_are_rows_of_their_own_and_a_refusal_writes_nothing() {
        let (_d, mut s) = store();
        let h = [7u8; 32];
        let make = |i, g, p| json!({"created_index": i, "groupid": g, "partid": p});
        let a = s
            .sendpay_add(
                &h,
                |_| Admit::<()>::Insert {
                    groupid: 1,
                    partid: 0,
                },
                make,
            )
            .unwrap()
            .unwrap();
        let b = s
            .sendpay_add(
                &h,
                |parts| {
                    assert_eq!(parts.len(), 1);
                    Admit::<()>::Insert {
                        groupid: 2,
                        partid: 1,
                    }
                },
                make,
            )
            .unwrap()
            .unwrap();
        assert_eq!((a.created_index, b.created_index), (1, 2));
        assert_eq!(
            s.sendpay_add(&h, |_| Admit::Refuse("no"), make).unwrap(),
            Err("no")
        );
        // The same key twice is refused, and the store goes on.
        assert!(s
            .sendpay_add(
                &h,
                |_| Admit::<()>::Insert {
                    groupid: 2,
                    partid: 1
                },
                make
            )
            .is_err());
        assert_eq!(s.sendpays_of(&h).unwrap().len(), 2);
        let r = s
            .sendpay_add(&h, |_| Admit::<()>::Replace(1), |i, g, p| json!([i, g, p]))
            .unwrap()
            .unwrap();
        assert_eq!(r.record, json!([1, 1, 0]));
        assert_eq!(
            s.sendpay_update(2, &json!({"x": 1}), false).unwrap(),
            json!({"x": 1})
        );
        assert_eq!(
            s.sendpay_update(2, &json!({"x": 2}), true).unwrap(),
            json!({"x": 2, "updated_index": 1})
        );
        s.sendpay_update(1, &json!({"y": 1}), true).unwrap();
        let all = s.sendpays_of(&h).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].record, json!({"x": 2, "updated_index": 1}));
        assert_eq!(all[0].record, json!({"y": 1, "updated_index": 2}));
        assert_eq!((all[1].groupid, all[1].partid), (2, 1));
        assert!(s.sendpays_of(&[0; 32]).unwrap().is_empty());
        assert_eq!(s.sendpays_list().unwrap(), all);
    }

    #[test]
    fn updated_index_follows_groupid_as_core_lightning_orders_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = crate::Store::open_sqlite(
            &dir.path().join("lightningd.sqlite3"),
            std::sync::Arc::new(crate::NoHook),
        )
        .unwrap();
        let h = [3; 32];
        let r = json!({"created_index": 1, "id": 1, "payment_hash": "03", "groupid": 1,
            "destination": "02aa", "status": "pending"});
        let added = s
            .sendpay_add(
                &h,
                |_| Admit::<()>::Insert {
                    groupid: 1,
                    partid: 0,
                },
                |_, _, _| r.clone(),
            )
            .unwrap()
            .unwrap();
        let keys = |v: &serde_json::Value| -> Vec<String> {
            v.as_object().unwrap().keys().cloned().collect()
        };
        let want = [
            "created_index",
            "id",
            "payment_hash",
            "groupid",
            "updated_index",
            "destination",
            "status",
        ];
        let once = s.sendpay_update(added.created_index, &r, true).unwrap();
        assert_eq!(keys(&once), want);
        let twice = s.sendpay_update(added.created_index, &once, true).unwrap();
        assert_eq!(keys(&twice), want);
        assert_eq!(twice["updated_index"], 2);
        assert_eq!(keys(&s.sendpays_of(&h).unwrap()[0].record), want);
        // A record without a groupid gets it last.
        let bare = s
            .sendpay_update(added.created_index, &json!({"x": 1}), true)
            .unwrap();
        assert_eq!(keys(&bare), ["x", "updated_index"]);
    }
}
