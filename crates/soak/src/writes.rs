//! The datastore writer: creates, replaces and deletes keys under `["soak", <node>, n]`
//! for the whole run while the db_write backup plugin replays every transaction, and
//! records exactly which writes the daemon acknowledged. A write whose answer was lost
//! (connection broke, timeout) is "uncertain": either outcome is accepted for that key.

use crate::node::{call, Node};
use crate::tally::Tally;
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Record {
    /// Key (its last component) -> the value the daemon last acknowledged; `None`: the
    /// acknowledged delete.
    pub acked: BTreeMap<u64, Option<String>>,
    pub uncertain: BTreeSet<u64>,
}

pub fn key(node: &str, n: u64) -> Value {
    json!(["soak", node, n.to_string()])
}

pub async fn run(node: &Node, tally: Tally, seed: u64, deadline: Instant) -> Record {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut rec = Record::default();
    let mut next = 0u64;
    let mut client = None;
    while !crate::done(deadline) {
        let c = match &mut client {
            Some(c) => c,
            None => match node.client("writer").await {
                Ok(c) => client.insert(c),
                Err(e) => {
                    tally.fail(format!("{}: writer cannot connect: {e}", node.name));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let live: Vec<u64> = rec
            .acked
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| *k)
            .collect();
        let roll = rng.gen_range(0..10);
        let (kind, n, method, params, after) = if roll < 2 && !live.is_empty() {
            let n = live[rng.gen_range(0..live.len())];
            let v = format!("replaced-{}", rng.gen::<u32>());
            let p = json!({"key": key(&node.name, n), "string": v, "mode": "must-replace"});
            ("datastore replace", n, "datastore", p, Some(v))
        } else if roll < 3 && !live.is_empty() {
            let n = live[rng.gen_range(0..live.len())];
            let p = json!({"key": key(&node.name, n)});
            ("deldatastore", n, "deldatastore", p, None)
        } else {
            next += 1;
            let v = format!("value-{next}-{}", "x".repeat(rng.gen_range(0..200)));
            let p = json!({"key": key(&node.name, next), "string": v, "mode": "must-create"});
            ("datastore create", next, "datastore", p, Some(v))
        };
        let kind = format!("{}: {kind}", node.name);
        match call(c, method, params).await {
            Ok(Ok(_)) => {
                tally.op(&kind, true);
                rec.acked.insert(n, after);
                rec.uncertain.remove(&n);
            }
            Ok(Err(e)) => {
                // Our model says this must succeed: an error here is a finding.
                tally.op(&kind, false);
                if !rec.uncertain.contains(&n) {
                    tally.fail(format!("{kind} key {n} refused: {e}"));
                }
            }
            Err(e) => {
                tally.op(&kind, false);
                tally.note(format!(
                    "{}: datastore write lost its answer ({e})",
                    node.name
                ));
                rec.uncertain.insert(n);
                client = None;
            }
        }
        // Bounded rate: the point is writes interleaved with faults, not throughput.
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..20))).await;
    }
    rec
}
