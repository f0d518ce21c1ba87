//! HTLCs we forwarded (`listforwards`, `forward_event`): one row per incoming HTLC that
//! turned out to be a forward, keyed by the incoming channel and HTLC id. The columns a
//! listing filters or sums on are real columns; the rest of the row (the `listforwards`
//! object without its indexes) is JSON in `record`. What the statuses mean and when they
//! change lives in the daemon.

use crate::backend::SqlValue;
use crate::error::StoreError;
use crate::tx::{Store, Tx};

/// One stored forward.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredForward {
    pub created_index: u64,
    /// Bumped by each status change after the first (`None` until then).
    pub updated_index: Option<u64>,
    /// `<incoming channel id hex>/<incoming htlc id>`: what LDK's events name.
    pub key: String,
    pub in_channel: String,
    pub out_channel: Option<String>,
    pub status: String,
    pub fee_msat: Option<u64>,
    pub record: serde_json::Value,
}

/// The columns a caller sets; indexes and the key are the store's.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardFields {
    pub in_channel: String,
    pub out_channel: Option<String>,
    pub status: String,
    pub fee_msat: Option<u64>,
    pub record: serde_json::Value,
}

/// Which forwards a listing wants.
#[derive(Debug, Clone, Default)]
pub struct ForwardQuery {
    pub status: Option<String>,
    pub in_channel: Option<String>,
    pub out_channel: Option<String>,
    /// Order by `updated_index` instead of `created_index` (then only updated rows).
    pub by_updated: bool,
    pub start: u64,
    pub limit: Option<u64>,
}

const COLUMNS: &str =
    "created_index, updated_index, in_key, in_channel, out_channel, status, fee_msat, record";

fn int(n: u64) -> SqlValue {
    SqlValue::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn opt_uint(v: &SqlValue) -> Result<Option<u64>, StoreError> {
    match v {
        SqlValue::Null => Ok(None),
        v => u64::try_from(v.as_i64()?)
            .map(Some)
            .map_err(|_| StoreError::Corrupt("forwards: negative number".into())),
    }
}

fn opt_text(v: &SqlValue) -> Result<Option<String>, StoreError> {
    match v {
        SqlValue::Null => Ok(None),
        v => Ok(Some(v.as_text()?.to_string())),
    }
}

fn row(r: &[SqlValue]) -> Result<StoredForward, StoreError> {
    let [ci, ui, key, inc, outc, status, fee, rec] = r else {
        return Err(StoreError::Corrupt(
            "forwards row of the wrong width".into(),
        ));
    };
    Ok(StoredForward {
        created_index: opt_uint(ci)?
            .ok_or_else(|| StoreError::Corrupt("forwards: no created_index".into()))?,
        updated_index: opt_uint(ui)?,
        key: key.as_text()?.to_string(),
        in_channel: inc.as_text()?.to_string(),
        out_channel: opt_text(outc)?,
        status: status.as_text()?.to_string(),
        fee_msat: opt_uint(fee)?,
        record: serde_json::from_str(rec.as_text()?)
            .map_err(|e| StoreError::Corrupt(format!("forwards: record: {e}")))?,
    })
}

fn by_key(tx: &mut Tx<'_>, key: &str) -> Result<Option<StoredForward>, StoreError> {
    let r = tx.query(
        &format!("SELECT {COLUMNS} FROM forwards WHERE in_key = ?"),
        &[SqlValue::Text(key.to_string())],
    )?;
    r.first().map(|r| row(r)).transpose()
}

fn opt(v: &Option<String>) -> SqlValue {
    v.as_ref()
        .map(|s| SqlValue::Text(s.clone()))
        .unwrap_or(SqlValue::Null)
}

impl Store {
    /// Records a new forward under `key` (durable when this returns); `None` if `key` has
    /// a row already (nothing written).
    pub fn forward_insert(
        &mut self,
        key: &str,
        f: &ForwardFields,
    ) -> Result<Option<StoredForward>, StoreError> {
        self.transaction(|tx| {
            if by_key(tx, key)?.is_some() {
                return Ok(None);
            }
            let last = tx.query("SELECT MAX(created_index) FROM forwards", &[])?;
            let last = match last.first().and_then(|r| r.first()) {
                Some(v) => opt_uint(v)?.unwrap_or(0),
                None => 0,
            };
            let created_index = last + 1;
            tx.execute(
                &format!("INSERT INTO forwards ({COLUMNS}) VALUES (?, NULL, ?, ?, ?, ?, ?, ?)"),
                &[
                    int(created_index),
                    SqlValue::Text(key.to_string()),
                    SqlValue::Text(f.in_channel.clone()),
                    opt(&f.out_channel),
                    SqlValue::Text(f.status.clone()),
                    f.fee_msat.map(int).unwrap_or(SqlValue::Null),
                    SqlValue::Text(f.record.to_string()),
                ],
            )?;
            Ok(Some(StoredForward {
                created_index,
                updated_index: None,
                key: key.to_string(),
                in_channel: f.in_channel.clone(),
                out_channel: f.out_channel.clone(),
                status: f.status.clone(),
                fee_msat: f.fee_msat,
                record: f.record.clone(),
            }))
        })
    }

    /// Changes the forward under `key` to what `change` makes of it (durable when this
    /// returns), with a new `updated_index`. `None` when there is no such row or `change`
    /// declines (returns `None`: e.g. the status is already final).
    pub fn forward_update(
        &mut self,
        key: &str,
        change: impl FnOnce(&StoredForward) -> Option<ForwardFields>,
    ) -> Result<Option<StoredForward>, StoreError> {
        self.transaction(|tx| {
            let Some(old) = by_key(tx, key)? else {
                return Ok(None);
            };
            let Some(f) = change(&old) else {
                return Ok(None);
            };
            let cur = tx.query(
                "SELECT intval FROM vars WHERE name = 'forward_updated_index'",
                &[],
            )?;
            let updated = match cur.first().and_then(|r| r.first()) {
                Some(v) => opt_uint(v)?.unwrap_or(0) + 1,
                None => return Err(StoreError::Corrupt("vars has no forward counter".into())),
            };
            tx.execute(
                "UPDATE vars SET intval = ? WHERE name = 'forward_updated_index'",
                &[int(updated)],
            )?;
            tx.execute(
                "UPDATE forwards SET updated_index = ?, in_channel = ?, out_channel = ?, \
                 status = ?, fee_msat = ?, record = ? WHERE in_key = ?",
                &[
                    int(updated),
                    SqlValue::Text(f.in_channel.clone()),
                    opt(&f.out_channel),
                    SqlValue::Text(f.status.clone()),
                    f.fee_msat.map(int).unwrap_or(SqlValue::Null),
                    SqlValue::Text(f.record.to_string()),
                    SqlValue::Text(key.to_string()),
                ],
            )?;
            Ok(Some(StoredForward {
                created_index: old.created_index,
                updated_index: Some(updated),
                key: key.to_string(),
                in_channel: f.in_channel,
                out_channel: f.out_channel,
                status: f.status,
                fee_msat: f.fee_msat,
                record: f.record,
            }))
        })
    }

    /// The forward under `key`.
    pub fn forward_get(&mut self, key: &str) -> Result<Option<StoredForward>, StoreError> {
        self.transaction(|tx| by_key(tx, key))
    }

    /// Forwards still `offered` (a restart checks them against the channels).
    pub fn forwards_offered(&mut self) -> Result<Vec<StoredForward>, StoreError> {
        let r = self.query(
            &format!(
                "SELECT {COLUMNS} FROM forwards WHERE status = 'offered' ORDER BY created_index"
            ),
            &[],
        )?;
        r.iter().map(|r| row(r)).collect()
    }

    /// The forwards `q` selects, in its index order.
    pub fn forwards_list(&mut self, q: &ForwardQuery) -> Result<Vec<StoredForward>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM forwards WHERE 1 = 1");
        let mut params = Vec::new();
        for (col, v) in [
            ("status", &q.status),
            ("in_channel", &q.in_channel),
            ("out_channel", &q.out_channel),
        ] {
            if let Some(v) = v {
                sql.push_str(&format!(" AND {col} = ?"));
                params.push(SqlValue::Text(v.clone()));
            }
        }
        let order = if q.by_updated {
            "updated_index"
        } else {
            "created_index"
        };
        sql.push_str(&format!(" AND {order} >= ? ORDER BY {order}"));
        params.push(int(q.start));
        if let Some(l) = q.limit {
            sql.push_str(" LIMIT ?");
            params.push(int(l));
        }
        let r = self.query(&sql, &params)?;
        r.iter().map(|r| row(r)).collect()
    }

    /// The sum of the fees of settled forwards (`getinfo.fees_collected_msat`).
    pub fn forwards_fees_collected(&mut self) -> Result<u64, StoreError> {
        let r = self.query(
            "SELECT SUM(fee_msat) FROM forwards WHERE status = 'settled'",
            &[],
        )?;
        match r.first().and_then(|r| r.first()) {
            Some(v) => Ok(opt_uint(v)?.unwrap_or(0)),
            None => Ok(0),
        }
    }
}
