//! Invoices we issued and the preimages behind them (our preimage table: LDK is told
//! only the hash, so claiming a payment needs the preimage from here).
//!
//! Three counters live in `vars`, as Core Lightning keeps them: `invoice_created_index`
//! (never reused, also after `delinvoice`), `invoice_updated_index` (bumped by each
//! change after creation) and `invoice_pay_index` (the order payments arrived in). The
//! rules of the RPC commands (labels, statuses, expiry) live in the daemon; this is
//! their storage. Amounts are msat, times are seconds since the epoch.

use crate::backend::SqlValue;
use crate::error::StoreError;
use crate::tx::{Store, Tx};

/// One row of `invoices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInvoice {
    pub created_index: u64,
    pub label: String,
    pub bolt11: String,
    pub payment_hash: [u8; 32],
    pub preimage: [u8; 32],
    pub payment_secret: [u8; 32],
    /// `None` for an "any" amount invoice.
    pub amount_msat: Option<u64>,
    /// `None` once `delinvoice desconly` removed it.
    pub description: Option<String>,
    pub expires_at: u64,
    /// Set once paid (with `amount_received_msat` and `paid_at`).
    pub pay_index: Option<u64>,
    pub amount_received_msat: Option<u64>,
    pub paid_at: Option<u64>,
    /// Set by the first change after creation.
    pub updated_index: Option<u64>,
}

/// What `invoice` stores; the counters are assigned here.
#[derive(Debug, Clone)]
pub struct NewInvoice {
    pub label: String,
    pub bolt11: String,
    pub payment_hash: [u8; 32],
    pub preimage: [u8; 32],
    pub payment_secret: [u8; 32],
    pub amount_msat: Option<u64>,
    pub description: Option<String>,
    pub expires_at: u64,
}

/// Which invoices a listing wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceOrder {
    /// By `created_index`, from `start`.
    Created,
    /// By `updated_index`, from `start` (invoices never changed are left out).
    Updated,
}

/// Why an invoice could not be stored or changed. Texts are Core Lightning's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvoiceError {
    /// The payment hash (so the preimage) is already used by another invoice (901).
    #[error("preimage already used")]
    PreimageUsed,
    /// Another invoice has this label (900).
    #[error("Duplicate label '{0}'")]
    DuplicateLabel(String),
    /// No invoice with that label (905 for delinvoice).
    #[error("Unknown invoice")]
    NotFound,
    /// `desconly` on an invoice whose description is gone (908).
    #[error("Invoice description already removed")]
    NoDescription,
    /// The invoice is paid already: a second payment must not be recorded.
    #[error("Invoice is not unpaid")]
    NotUnpaid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

const COLUMNS: &str = "created_index, label, bolt11, payment_hash, preimage, payment_secret, \
     amount_msat, description, expires_at, pay_index, amount_received_msat, paid_at, updated_index";

fn int(v: u64) -> Result<SqlValue, StoreError> {
    i64::try_from(v)
        .map(SqlValue::Int)
        .map_err(|_| StoreError::Backend(format!("{v} does not fit a BIGINT")))
}

fn opt_int(v: Option<u64>) -> Result<SqlValue, StoreError> {
    v.map_or(Ok(SqlValue::Null), int)
}

fn uint(v: &SqlValue) -> Result<u64, StoreError> {
    u64::try_from(v.as_i64()?).map_err(|_| StoreError::Corrupt(format!("negative value {v:?}")))
}

fn opt_uint(v: &SqlValue) -> Result<Option<u64>, StoreError> {
    match v {
        SqlValue::Null => Ok(None),
        v => uint(v).map(Some),
    }
}

fn bytes32(v: &SqlValue, what: &str) -> Result<[u8; 32], StoreError> {
    v.as_blob()?
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("invoices: {what} is not 32 bytes")))
}

fn row(r: &[SqlValue]) -> Result<StoredInvoice, StoreError> {
    let [ci, label, bolt11, hash, pre, secret, amt, desc, exp, pi, recv, paid, ui] = r else {
        return Err(StoreError::Corrupt(
            "invoices row of the wrong width".into(),
        ));
    };
    Ok(StoredInvoice {
        created_index: uint(ci)?,
        label: label.as_text()?.to_string(),
        bolt11: bolt11.as_text()?.to_string(),
        payment_hash: bytes32(hash, "payment_hash")?,
        preimage: bytes32(pre, "preimage")?,
        payment_secret: bytes32(secret, "payment_secret")?,
        amount_msat: opt_uint(amt)?,
        description: match desc {
            SqlValue::Null => None,
            v => Some(v.as_text()?.to_string()),
        },
        expires_at: uint(exp)?,
        pay_index: opt_uint(pi)?,
        amount_received_msat: opt_uint(recv)?,
        paid_at: opt_uint(paid)?,
        updated_index: opt_uint(ui)?,
    })
}

fn rows(rs: Vec<Vec<SqlValue>>) -> Result<Vec<StoredInvoice>, StoreError> {
    rs.iter().map(|r| row(r)).collect()
}

/// Bumps counter `name` in `vars` and returns its new value.
fn next(tx: &mut Tx<'_>, name: &str) -> Result<u64, StoreError> {
    let name = SqlValue::Text(name.to_string());
    let cur = tx.query(
        "SELECT intval FROM vars WHERE name = ?",
        std::slice::from_ref(&name),
    )?;
    let cur = match cur.first().and_then(|r| r.first()) {
        Some(v) => uint(v)?,
        None => return Err(StoreError::Corrupt("vars has no invoice counter".into())),
    };
    let n = cur + 1;
    tx.execute(
        "UPDATE vars SET intval = ? WHERE name = ?",
        &[int(n)?, name],
    )?;
    Ok(n)
}

fn by_label(tx: &mut Tx<'_>, label: &str) -> Result<Option<StoredInvoice>, StoreError> {
    let r = tx.query(
        &format!("SELECT {COLUMNS} FROM invoices WHERE label = ?"),
        &[SqlValue::Text(label.to_string())],
    )?;
    Ok(rows(r)?.pop())
}

fn by_hash(tx: &mut Tx<'_>, hash: &[u8; 32]) -> Result<Option<StoredInvoice>, StoreError> {
    let r = tx.query(
        &format!("SELECT {COLUMNS} FROM invoices WHERE payment_hash = ?"),
        &[SqlValue::Blob(hash.to_vec())],
    )?;
    Ok(rows(r)?.pop())
}

impl Store {
    /// Stores a new invoice (durable when this returns) and returns it with its
    /// `created_index`. The preimage is checked before the label, as Core Lightning does.
    pub fn invoice_insert(&mut self, new: &NewInvoice) -> Result<StoredInvoice, InvoiceError> {
        self.transaction(|tx| {
            if by_hash(tx, &new.payment_hash)?.is_some() {
                return Err(InvoiceError::PreimageUsed);
            }
            if by_label(tx, &new.label)?.is_some() {
                return Err(InvoiceError::DuplicateLabel(new.label.clone()));
            }
            let created_index = next(tx, "invoice_created_index")?;
            tx.execute(
                "INSERT INTO invoices (created_index, label, bolt11, payment_hash, preimage, \
                 payment_secret, amount_msat, description, expires_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                &[
                    int(created_index)?,
                    SqlValue::Text(new.label.clone()),
                    SqlValue::Text(new.bolt11.clone()),
                    SqlValue::Blob(new.payment_hash.to_vec()),
                    SqlValue::Blob(new.preimage.to_vec()),
                    SqlValue::Blob(new.payment_secret.to_vec()),
                    opt_int(new.amount_msat)?,
                    new.description
                        .clone()
                        .map_or(SqlValue::Null, SqlValue::Text),
                    int(new.expires_at)?,
                ],
            )?;
            Ok(StoredInvoice {
                created_index,
                label: new.label.clone(),
                bolt11: new.bolt11.clone(),
                payment_hash: new.payment_hash,
                preimage: new.preimage,
                payment_secret: new.payment_secret,
                amount_msat: new.amount_msat,
                description: new.description.clone(),
                expires_at: new.expires_at,
                pay_index: None,
                amount_received_msat: None,
                paid_at: None,
                updated_index: None,
            })
        })
    }

    /// The invoice with this label.
    pub fn invoice_by_label(&mut self, label: &str) -> Result<Option<StoredInvoice>, StoreError> {
        let r = self.query(
            &format!("SELECT {COLUMNS} FROM invoices WHERE label = ?"),
            &[SqlValue::Text(label.to_string())],
        )?;
        Ok(rows(r)?.pop())
    }

    /// The invoice with this payment hash (at most one: hashes are unique).
    pub fn invoice_by_hash(
        &mut self,
        hash: &[u8; 32],
    ) -> Result<Option<StoredInvoice>, StoreError> {
        let r = self.query(
            &format!("SELECT {COLUMNS} FROM invoices WHERE payment_hash = ?"),
            &[SqlValue::Blob(hash.to_vec())],
        )?;
        Ok(rows(r)?.pop())
    }

    /// Invoices in `order` from index `start` (inclusive), at most `limit` of them.
    pub fn invoices_list(
        &mut self,
        order: InvoiceOrder,
        start: u64,
        limit: Option<u64>,
    ) -> Result<Vec<StoredInvoice>, StoreError> {
        let col = match order {
            InvoiceOrder::Created => "created_index",
            InvoiceOrder::Updated => "updated_index",
        };
        // SQLite takes -1 as "no limit"; any limit a client gives fits an i64 once capped.
        let limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let r = self.query(
            &format!("SELECT {COLUMNS} FROM invoices WHERE {col} >= ? ORDER BY {col} LIMIT ?"),
            &[int(start)?, SqlValue::Int(limit)],
        )?;
        rows(r)
    }

    /// The paid invoice with the lowest `pay_index` above `after` (`waitanyinvoice`).
    pub fn invoice_paid_after(&mut self, after: u64) -> Result<Option<StoredInvoice>, StoreError> {
        let r = self.query(
            &format!(
                "SELECT {COLUMNS} FROM invoices WHERE pay_index > ? ORDER BY pay_index LIMIT 1"
            ),
            &[int(after)?],
        )?;
        Ok(rows(r)?.pop())
    }

    /// Deletes the invoice with this label and returns it as it was.
    pub fn invoice_delete(&mut self, label: &str) -> Result<StoredInvoice, InvoiceError> {
        self.transaction(|tx| {
            let inv = by_label(tx, label)?.ok_or(InvoiceError::NotFound)?;
            tx.execute(
                "DELETE FROM invoices WHERE label = ?",
                &[SqlValue::Text(label.to_string())],
            )?;
            Ok(inv)
        })
    }

    /// Removes the description of the invoice with this label (`delinvoice desconly`);
    /// returns the invoice as it is now.
    pub fn invoice_delete_description(
        &mut self,
        label: &str,
    ) -> Result<StoredInvoice, InvoiceError> {
        self.transaction(|tx| {
            let mut inv = by_label(tx, label)?.ok_or(InvoiceError::NotFound)?;
            if inv.description.is_none() {
                return Err(InvoiceError::NoDescription);
            }
            let updated = next(tx, "invoice_updated_index")?;
            tx.execute(
                "UPDATE invoices SET description = NULL, updated_index = ? WHERE label = ?",
                &[int(updated)?, SqlValue::Text(label.to_string())],
            )?;
            inv.description = None;
            inv.updated_index = Some(updated);
            Ok(inv)
        })
    }

    /// Records the payment of the invoice with this hash (durable when this returns):
    /// assigns `pay_index` and `updated_index`. Refused if it is paid already, so an
    /// invoice is paid at most once. Expiry is not looked at: whether to take a payment
    /// is decided before it is claimed, and a claimed payment must be recorded.
    pub fn invoice_mark_paid(
        &mut self,
        hash: &[u8; 32],
        amount_received_msat: u64,
        paid_at: u64,
    ) -> Result<StoredInvoice, InvoiceError> {
        self.transaction(|tx| {
            let mut inv = by_hash(tx, hash)?.ok_or(InvoiceError::NotFound)?;
            if inv.pay_index.is_some() {
                return Err(InvoiceError::NotUnpaid);
            }
            let pay_index = next(tx, "invoice_pay_index")?;
            let updated = next(tx, "invoice_updated_index")?;
            tx.execute(
                "UPDATE invoices SET pay_index = ?, amount_received_msat = ?, paid_at = ?, \
                 updated_index = ? WHERE payment_hash = ? AND pay_index IS NULL",
                &[
                    int(pay_index)?,
                    int(amount_received_msat)?,
                    int(paid_at)?,
                    int(updated)?,
                    SqlValue::Blob(hash.to_vec()),
                ],
            )?;
            inv.pay_index = Some(pay_index);
            inv.amount_received_msat = Some(amount_received_msat);
            inv.paid_at = Some(paid_at);
            inv.updated_index = Some(updated);
            Ok(inv)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::hook::NoHook;

    fn store() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open_sqlite(&d.path().join("db.sqlite3"), Arc::new(NoHook)).unwrap();
        (d, s)
    }

    fn new(label: &str, n: u8) -> NewInvoice {
        NewInvoice {
            label: label.into(),
            bolt11: format!("lnbcrt{n}"),
            payment_hash: [n; 32],
            preimage: [n.wrapping_add(100); 32],
            payment_secret: [n.wrapping_add(200); 32],
            amount_msat: Some(1000 * u64::from(n)),
            description: Some(format!("d{n}")),
            expires_at: 1_000 + u64::from(n),
        }
    }

    #[test]
    fn created_index_counts_up_and_is_never_reused() {
        let (_d, mut s) = store();
        assert_eq!(s.invoice_insert(&new("a", 1)).unwrap().created_index, 1);
        assert_eq!(s.invoice_insert(&new("b", 2)).unwrap().created_index, 2);
        s.invoice_delete("b").unwrap();
        assert_eq!(s.invoice_insert(&new("c", 3)).unwrap().created_index, 3);
        let all = s.invoices_list(InvoiceOrder::Created, 0, None).unwrap();
        let labels: Vec<_> = all.iter().map(|i| i.label.as_str()).collect();
        assert_eq!(labels, ["a", "c"]);
        assert_eq!(all[0], s.invoice_by_label("a").unwrap().unwrap());
        let some = s.invoices_list(InvoiceOrder::Created, 2, Some(1)).unwrap();
        assert_eq!(some.len(), 1);
        assert_eq!(some[0].label, "c");
    }

    #[test]
    fn preimage_is_checked_before_label() {
        let (_d, mut s) = store();
        s.invoice_insert(&new("a", 1)).unwrap();
        assert_eq!(
            s.invoice_insert(&new("a", 1)).unwrap_err(),
            InvoiceError::PreimageUsed
        );
        assert_eq!(
            s.invoice_insert(&new("a", 2)).unwrap_err(),
            InvoiceError::DuplicateLabel("a".into())
        );
        // The refused inserts consumed no index.
        assert_eq!(s.invoice_insert(&new("b", 2)).unwrap().created_index, 2);
    }

    #[test]
    fn paid_once_with_pay_and_updated_indexes() {
        let (_d, mut s) = store();
        s.invoice_insert(&new("a", 1)).unwrap();
        s.invoice_insert(&new("b", 2)).unwrap();
        let b = s.invoice_mark_paid(&[2; 32], 2500, 77).unwrap();
        assert_eq!(
            (
                b.pay_index,
                b.updated_index,
                b.amount_received_msat,
                b.paid_at
            ),
            (Some(1), Some(1), Some(2500), Some(77))
        );
        assert_eq!(
            s.invoice_mark_paid(&[2; 32], 2500, 78).unwrap_err(),
            InvoiceError::NotUnpaid
        );
        assert_eq!(
            s.invoice_mark_paid(&[9; 32], 1, 1).unwrap_err(),
            InvoiceError::NotFound
        );
        // Claimed payments are recorded even past the expiry (1001 here).
        let a = s.invoice_mark_paid(&[1; 32], 1000, 5000).unwrap();
        assert_eq!((a.pay_index, a.updated_index), (Some(2), Some(2)));
        assert_eq!(s.invoice_paid_after(0).unwrap().unwrap().label, "b");
        assert_eq!(s.invoice_paid_after(1).unwrap().unwrap().label, "a");
        assert!(s.invoice_paid_after(2).unwrap().is_none());
        let upd = s.invoices_list(InvoiceOrder::Updated, 2, None).unwrap();
        assert_eq!(upd.len(), 1);
        assert_eq!(upd[0], s.invoice_by_hash(&[1; 32]).unwrap().unwrap());
    }

    #[test]
    fn description_removed_once() {
        let (_d, mut s) = store();
        s.invoice_insert(&new("a", 1)).unwrap();
        let a = s.invoice_delete_description("a").unwrap();
        assert_eq!((a.description, a.updated_index), (None, Some(1)));
        assert_eq!(
            s.invoice_delete_description("a").unwrap_err(),
            InvoiceError::NoDescription
        );
        assert_eq!(
            s.invoice_delete_description("zz").unwrap_err(),
            InvoiceError::NotFound
        );
        assert_eq!(s.invoice_delete("zz").unwrap_err(), InvoiceError::NotFound);
    }

    #[test]
    fn survives_reopen() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("db.sqlite3");
        let mut s = Store::open_sqlite(&p, Arc::new(NoHook)).unwrap();
        s.invoice_insert(&new("a", 1)).unwrap();
        s.invoice_mark_paid(&[1; 32], 1000, 5).unwrap();
        drop(s);
        let mut s = Store::open_sqlite(&p, Arc::new(NoHook)).unwrap();
        let a = s.invoice_by_label("a").unwrap().unwrap();
        assert_eq!(a.pay_index, Some(1));
        assert_eq!(a.preimage, [101; 32]);
        assert_eq!(s.invoice_insert(&new("b", 2)).unwrap().created_index, 2);
    }
}
