//! `listpays [bolt11] [payment_hash] [status]`: our payments as CLN's xpay plugin sums
//! them up (plugins/xpay/listpays.c): one entry per payment hash and group.

use std::sync::Arc;

use jsonrpc::{Param, RpcError};
use serde_json::{json, Map, Value};

use super::listsendpays::Filter;
use crate::payments::send::Sender;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[
    Param::opt("bolt11"),
    Param::opt("payment_hash"),
    Param::opt("status"),
    Param::opt("index"),
    Param::opt("start"),
    Param::opt("limit"),
];

pub struct Listpays {
    pub sender: Arc<Sender>,
}

/// One `listpays` entry being summed up: the parts of one (payment hash, group).
struct Pay<'a> {
    first: &'a Value,
    bolt11: Option<&'a Value>,
    description: Option<&'a Value>,
    complete: bool,
    pending: bool,
    /// The earliest `completed_at` of a complete part.
    completed_at: Option<u64>,
    preimage: Option<&'a Value>,
    /// Of the parts not failed; `None` once one of them has no `amount_msat`.
    amount: Option<u64>,
    amount_sent: u64,
    nonfailed: u64,
    created_index: u64,
    updated_index: u64,
}

impl<'a> Pay<'a> {
    fn new(p: &'a Value) -> Pay<'a> {
        Pay {
            first: p,
            bolt11: None,
            description: None,
            complete: false,
            pending: false,
            completed_at: None,
            preimage: None,
            amount: Some(0),
            amount_sent: 0,
            nonfailed: 0,
            created_index: u64::MAX,
            updated_index: 0,
        }
    }

    fn add(&mut self, p: &'a Value) {
        let field = |k: &str| p.get(k).filter(|v| !v.is_null());
        self.bolt11 = self.bolt11.or(field("bolt11"));
        self.description = self.description.or(field("description"));
        // The lowest created_index never changes; the highest updated_index shows changes.
        self.created_index = self
            .created_index
            .min(p["created_index"].as_u64().unwrap_or(0));
        self.updated_index = self
            .updated_index
            .max(p["updated_index"].as_u64().unwrap_or(0));
        match p["status"].as_str() {
            Some("complete") => {
                self.complete = true;
                self.preimage = field("payment_preimage");
                if let Some(at) = p["completed_at"].as_u64() {
                    self.completed_at = Some(self.completed_at.map_or(at, |c| c.min(at)));
                }
            }
            Some("pending") => self.pending = true,
            _ => return,
        }
        self.nonfailed += 1;
        self.amount_sent = self
            .amount_sent
            .saturating_add(p["amount_sent_msat"].as_u64().unwrap_or(0));
        self.amount = match (self.amount, p["amount_msat"].as_u64()) {
            (Some(sum), Some(a)) => Some(sum.saturating_add(a)),
            _ => None,
        };
    }

    fn entry(&self) -> Value {
        let mut o = Map::new();
        let first = |k: &str| self.first.get(k).filter(|v| !v.is_null()).cloned();
        if let Some(b) = self.bolt11 {
            o.insert("bolt11".into(), b.clone());
        }
        if let Some(d) = self.description {
            o.insert("description".into(), d.clone());
        }
        if let Some(d) = first("destination") {
            o.insert("destination".into(), d);
        }
        o.insert(
            "payment_hash".into(),
            first("payment_hash").unwrap_or(Value::Null),
        );
        let status = if self.complete {
            "complete"
        } else if self.pending {
            "pending"
        } else {
            "failed"
        };
        o.insert("status".into(), json!(status));
        o.insert("created_at".into(), first("created_at").unwrap_or(json!(0)));
        if let Some(at) = self.completed_at {
            o.insert("completed_at".into(), json!(at));
        }
        if let Some(l) = first("label") {
            o.insert("label".into(), l);
        }
        if let Some(p) = self.preimage {
            o.insert("preimage".into(), p.clone());
        }
        // Tallied over pending and complete parts only.
        if let Some(a) = self.amount.filter(|_| self.nonfailed > 0) {
            o.insert("amount_msat".into(), json!(a));
        }
        o.insert("amount_sent_msat".into(), json!(self.amount_sent));
        if self.nonfailed > 1 {
            o.insert("number_of_parts".into(), json!(self.nonfailed));
        }
        o.insert("created_index".into(), json!(self.created_index));
        if self.updated_index > 0 {
            o.insert("updated_index".into(), json!(self.updated_index));
        }
        Value::Object(o)
    }
}

/// `listpays`' entries for payment objects (as `listsendpays` lists them): one per
/// (payment hash, group), in the order each first appears, summed up as xpay sums them.
pub fn summarize(parts: &[Value]) -> Vec<Value> {
    let mut order: Vec<(&Value, u64)> = Vec::new();
    let mut pays: std::collections::HashMap<(&Value, u64), Pay<'_>> =
        std::collections::HashMap::new();
    for p in parts {
        let key = (&p["payment_hash"], p["groupid"].as_u64().unwrap_or(0));
        let pay = pays.entry(key).or_insert_with(|| {
            order.push(key);
            Pay::new(p)
        });
        pay.add(p);
    }
    order
        .iter()
        .filter_map(|k| pays.get(k).map(Pay::entry))
        .collect()
}

impl Command for Listpays {
    fn name(&self) -> &'static str {
        "listpays"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        Filter::parse(&ctx.bind(PARAMS)?).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let sender = self.sender.clone();
        Box::pin(async move {
            let f = Filter::parse(&ctx.bind(PARAMS)?)?;
            let pays = summarize(&f.apply(sender.list().await?));
            Ok(Reply::Result(json!({ "pays": pays })))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(group: u64, partid: u64, status: &str, amount: u64, index: u64) -> Value {
        let mut p = json!({"created_index": index, "payment_hash": "aa", "groupid": group,
                           "partid": partid, "destination": "02dd", "amount_msat": amount,
                           "amount_sent_msat": amount + 1, "created_at": 100 + index,
                           "status": status, "label": "l"});
        if status == "complete" {
            p["completed_at"] = json!(200 + index);
            p["payment_preimage"] = json!("bb");
            p["updated_index"] = json!(10 + index);
        }
        p
    }

    #[test]
    fn one_entry_per_hash_and_group_summed_as_xpay_sums_them() {
        let parts = [
            part(1, 0, "failed", 5000, 1),
            part(2, 1, "complete", 3000, 2),
            part(2, 2, "failed", 2000, 3),
            part(2, 3, "complete", 2000, 4),
        ];
        let pays = summarize(&parts);
        assert_eq!(pays.len(), 2);
        // A group whose parts all failed: no amount_msat, nothing sent.
        assert_eq!(pays[0]["status"], "failed");
        assert!(pays[0].get("amount_msat").is_none());
        assert_eq!(pays[0]["amount_sent_msat"], 0);
        assert_eq!(pays[0]["created_index"], 1);
        let p = &pays[1];
        assert_eq!(p["status"], "complete");
        assert_eq!(p["amount_msat"], 5000);
        assert_eq!(p["amount_sent_msat"], 5002);
        assert_eq!(p["number_of_parts"], 2);
        assert_eq!(
            (&p["created_index"], &p["updated_index"]),
            (&json!(2), &json!(14))
        );
        assert_eq!(
            (&p["created_at"], &p["completed_at"]),
            (&json!(102), &json!(202))
        );
        assert_eq!(p["preimage"], "bb");
        let keys: Vec<&str> = p
            .as_object()
            .map_or(vec![], |o| o.keys().map(|k| k.as_str()).collect());
        assert_eq!(
            keys,
            [
                "destination",
                "payment_hash",
                "status",
                "created_at",
                "completed_at",
                "label",
                "preimage",
                "amount_msat",
                "amount_sent_msat",
                "number_of_parts",
                "created_index",
                "updated_index"
            ]
        );
    }
}
