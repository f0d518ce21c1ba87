//! The node's runes: the master rune (from `hsm_secret`), the runes `createrune` issued
//! with when each id was last used, and the blacklist. Kept in memory for checks and in
//! the store for restarts; every change is committed (through `db_write`) before the
//! command that made it answers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonrpc::RpcError;
use runes::blacklist::requested_range;
use runes::{
    Blacklist, CheckError, CheckInput, InvoiceFields, MasterRune, Restriction, Rune, Usage,
};
use serde_json::Value;
use store::StoredRune;

use crate::storage::{store_rpc_error, Storage};

/// Core Lightning's warning for a rune with no restriction besides its id.
pub const UNRESTRICTED_WARNING: &str = "WARNING: This rune has no restrictions! Anyone who has access to this rune could drain funds from your node. Be careful when giving this to apps that you don't trust. Consider using the restrictions parameter to only allow access to specific rpc methods.";

struct State {
    next_id: u64,
    stored: BTreeMap<u64, StoredRune>,
    blacklist: Blacklist,
}

pub struct RuneBook {
    master: MasterRune,
    storage: Storage,
    /// One lock for reads and writes: a check and its `last_used` update are atomic (two
    /// concurrent uses of a `rate=1` rune cannot both pass), and ids are handed out once.
    state: tokio::sync::Mutex<State>,
}

/// What `checkrune` (and commando) asks about.
pub struct CheckRequest {
    pub nodeid: Option<String>,
    pub method: Option<String>,
    /// Raw JSON text of an object or array.
    pub params: Option<String>,
}

fn now_nsec() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn storage_error(e: store::DatastoreError) -> RpcError {
    match e {
        store::DatastoreError::Store(s) => store_rpc_error(&s),
        other => RpcError::daemon(other.to_string()),
    }
}

/// `pinv…` fields: BOLT 11 via LDK's decoder. (BOLT 12 invoices are not decoded yet: they
/// get the BOLT 11 decoder's message, as Core Lightning gives for anything not `lni…`.)
fn decode_invoice(text: &str) -> Result<InvoiceFields, String> {
    use lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef};
    let inv: Bolt11Invoice = text.parse().map_err(|e| format!("{e}"))?;
    Ok(InvoiceFields {
        amount_msat: inv.amount_milli_satoshis(),
        description: match inv.description() {
            Bolt11InvoiceDescriptionRef::Direct(d) => Some(d.as_inner().0.clone()),
            Bolt11InvoiceDescriptionRef::Hash(_) => None,
        },
        node: Some(inv.get_payee_pub_key().to_string()),
    })
}

impl RuneBook {
    /// Loads the stored runes and blacklist; the master rune comes from the seed.
    pub async fn load(seed: &[u8], storage: Storage) -> Result<Arc<RuneBook>, String> {
        let (rows, ranges) = storage
            .run(|s| Ok((s.runes()?, s.runes_blacklist()?)))
            .await
            .map_err(|e| format!("loading runes: {e}"))?;
        let next_id = rows.iter().map(|r| r.id + 1).max().unwrap_or(0);
        Ok(Arc::new(RuneBook {
            master: MasterRune::from_seed(seed),
            storage,
            state: tokio::sync::Mutex::new(State {
                next_id,
                stored: rows.into_iter().map(|r| (r.id, r)).collect(),
                blacklist: Blacklist::from_ranges(ranges),
            }),
        }))
    }

    /// A new stored rune (`base` None), or `base` narrowed (nothing stored, no id used).
    pub async fn create(
        &self,
        base: Option<Rune>,
        restrictions: Vec<Restriction>,
    ) -> Result<Rune, RpcError> {
        let bad = |_| RpcError::invalid_params(restrictions_error());
        if let Some(base) = base {
            return base.restricted(&restrictions).map_err(bad);
        }
        let mut st = self.state.lock().await;
        let id = st.next_id;
        let rune = self.master.mint(id, &restrictions).map_err(bad)?;
        let text = rune.to_base64();
        let t = text.clone();
        self.storage
            .run(move |s| Ok(s.rune_insert(id, &t)?))
            .await
            .map_err(storage_error)?;
        st.next_id = id + 1;
        st.stored.insert(
            id,
            StoredRune {
                id,
                rune: text,
                last_used_nsec: None,
            },
        );
        Ok(rune)
    }

    /// Judges `rune` (already known to carry numeric id `id`); a pass is recorded as the
    /// id's `last_used` (durably) before it is reported.
    pub async fn check(&self, rune: &Rune, id: u64, req: &CheckRequest) -> Result<(), RpcError> {
        let mut st = self.state.lock().await;
        let now = now_nsec();
        let usage = match st.stored.get(&id) {
            Some(r) => Usage::Stored {
                last_used_nsec: r.last_used_nsec,
            },
            None => Usage::NotStored,
        };
        let verdict = {
            let decoder = decode_invoice;
            let input = CheckInput {
                nodeid: req.nodeid.as_deref(),
                method: req.method.as_deref(),
                params: req.params.as_deref(),
                now_nsec: now,
                usage,
                blacklisted: st.blacklist.contains(id),
                decode_invoice: Some(&decoder),
            };
            runes::check(&self.master, rune, &input)
        };
        verdict.map_err(check_error)?;
        if usage != Usage::NotStored {
            self.storage
                .run(move |s| Ok(s.rune_used(id, now)?))
                .await
                .map_err(storage_error)?;
            if let Some(r) = st.stored.get_mut(&id) {
                r.last_used_nsec = Some(now);
            }
        }
        Ok(())
    }

    /// `showrunes`' list: one entry for `given`, else every stored rune.
    pub async fn show(&self, given: Option<(String, Rune)>) -> String {
        let st = self.state.lock().await;
        let entries: Vec<String> = match given {
            Some((text, rune)) => {
                let id = rune.numeric_id();
                let row = id.and_then(|i| st.stored.get(&i));
                let stored = row.is_some_and(|r| r.rune == text);
                vec![self.entry(&st, &text, &rune, stored)]
            }
            None => st
                .stored
                .values()
                .filter_map(|r| {
                    let rune = Rune::from_base64(&r.rune).ok()?;
                    Some(self.entry(&st, &r.rune, &rune, true))
                })
                .collect(),
        };
        format!("{{\"runes\":[{}]}}", entries.join(","))
    }

    /// One `showrunes` entry, members in Core Lightning's order. Built as text because
    /// `last_used` is a number with exactly nine decimals.
    fn entry(&self, st: &State, text: &str, rune: &Rune, stored: bool) -> String {
        let js = |s: &str| Value::String(s.to_string()).to_string();
        let mut m = vec![format!("\"rune\":{}", js(text))];
        if !stored {
            m.push("\"stored\":false".into());
        }
        let id = rune.numeric_id();
        if id.is_some_and(|i| st.blacklist.contains(i)) {
            m.push("\"blacklisted\":true".into());
        }
        if self.master.is_derived(rune).is_err() {
            m.push("\"our_rune\":false".into());
        }
        if let Some(ns) = id
            .and_then(|i| st.stored.get(&i))
            .and_then(|r| r.last_used_nsec)
        {
            m.push(format!(
                "\"last_used\":{}.{:09}",
                ns / 1_000_000_000,
                ns % 1_000_000_000
            ));
        }
        m.push(format!(
            "\"unique_id\":{}",
            js(rune.unique_id().unwrap_or(""))
        ));
        let mut all_english = Vec::new();
        let restrictions: Vec<Value> = rune
            .checked_restrictions()
            .iter()
            .map(|r| {
                let english = r.english();
                all_english.push(english.clone());
                let alts: Vec<Value> = r
                    .alternatives
                    .iter()
                    .map(|a| {
                        serde_json::json!({
                            "fieldname": a.field,
                            "value": a.value,
                            "condition": a.condition.as_char().to_string(),
                            "english": a.english(),
                        })
                    })
                    .collect();
                serde_json::json!({"alternatives": alts, "english": english})
            })
            .collect();
        m.push(format!("\"restrictions\":{}", Value::Array(restrictions)));
        m.push(format!(
            "\"restrictions_as_english\":{}",
            js(&all_english.join(" AND "))
        ));
        format!("{{{}}}", m.join(","))
    }

    /// `blacklistrune`: adds (or with `relist` removes) a range, durably, and returns the
    /// whole list.
    pub async fn blacklist(
        &self,
        start: Option<u64>,
        end: Option<u64>,
        relist: bool,
    ) -> Result<Vec<(u64, u64)>, RpcError> {
        let range =
            requested_range(start, end).map_err(|e| RpcError::invalid_params(e.to_string()))?;
        let mut st = self.state.lock().await;
        let Some((s, e)) = range else {
            return Ok(st.blacklist.ranges().to_vec());
        };
        let mut next = st.blacklist.clone();
        if relist {
            next.remove(s, e);
        } else {
            next.add(s, e);
        }
        if next != st.blacklist {
            let ranges = next.ranges().to_vec();
            self.storage
                .run(move |s| Ok(s.set_runes_blacklist(&ranges)?))
                .await
                .map_err(storage_error)?;
            st.blacklist = next;
        }
        Ok(st.blacklist.ranges().to_vec())
    }
}

/// `createrune`'s refusal of anything that is not a list of lists of restriction strings.
pub fn restrictions_error() -> String {
    "restrictions: not a valid restriction (should be array): invalid token (see logs for details)"
        .into()
}

/// A checkrune refusal with its code.
pub fn check_error(e: CheckError) -> RpcError {
    RpcError::new(e.code(), e.to_string())
}

/// `param_rune`: the `rune` parameter must decode and carry a numeric unique id.
pub fn rune_param(name: &str, v: &Value) -> Result<(String, Rune, u64), RpcError> {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let rune = Rune::from_base64(&text).map_err(|_| {
        tracing::debug!("{name}: not a rune: {text}");
        RpcError::invalid_params(format!(
            "{name}: should be base64 string: invalid token (see logs for details)"
        ))
    })?;
    let id = rune.numeric_id().ok_or_else(|| {
        RpcError::invalid_params(format!(
            "{name}: should have valid numeric unique_id: invalid token (see logs for details)"
        ))
    })?;
    Ok((text, rune, id))
}

/// Loads the runes (the `createrune`/`invokerune`, `showrunes`, `checkrune`,
/// `blacklistrune`/`destroyrune` commands are built from the book in `commands::TABLE`).
pub async fn start(node: &crate::node::Node, storage: Storage) -> Result<Arc<RuneBook>, String> {
    RuneBook::load(node.keys.cln_seed(), storage).await
}
