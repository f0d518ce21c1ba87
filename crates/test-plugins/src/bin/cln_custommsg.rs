//! `cln-custommsg`: a `custommsg` hook written with cln-plugin, for the end-to-end custom
//! message benchmark. Messages of type 0x7777 whose body starts with the sender's wall-clock
//! time (u64 big-endian nanoseconds since the epoch) are counted and their one-way latency
//! kept. The next 4 hex digits name the sender's connection and the 8 after them number
//! its messages: one whose number is not above the last from that connection counts as
//! out of order. `cmsgstats` returns `{"count", "latencies_ns": [...], "out_of_order"}`
//! and resets them; `cmsgstats {"new_run": true}` also forgets the last numbers (senders
//! start counting again).
//!
//! cln-plugin spawns a task per hook call; on a multi-threaded runtime two of them could
//! take the counter's lock in either order, and the plugin would count its own reorders.
//! One thread runs them in the order they were read, so a reorder counted is the daemon's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use cln_plugin::{Builder, Error, Plugin};
use serde_json::{json, Value};

#[derive(Default)]
struct Counts {
    count: u64,
    latencies: Vec<u64>,
    /// The last message number seen per sender connection.
    last: HashMap<u32, u64>,
    out_of_order: u64,
}

#[derive(Clone, Default)]
struct Stats(Arc<Mutex<Counts>>);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), anyhow::Error> {
    let Some(plugin) = Builder::new(tokio::io::stdin(), tokio::io::stdout())
        .hook("custommsg", on_custommsg)
        .rpcmethod(
            "cmsgstats",
            "Counted custom messages and latencies (resets)",
            stats,
        )
        .start(Stats::default())
        .await?
    else {
        return Ok(());
    };
    plugin.join().await
}

async fn on_custommsg(p: Plugin<Stats>, v: Value) -> Result<Value, Error> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let payload = v.get("payload").and_then(Value::as_str).unwrap_or("");
    if payload.len() >= 20 && payload.starts_with("7777") {
        let sent = u64::from_str_radix(&payload[4..20], 16).unwrap_or(now);
        let seq = payload
            .get(20..24)
            .zip(payload.get(24..32))
            .and_then(|(c, n)| {
                Some((
                    u32::from_str_radix(c, 16).ok()?,
                    u64::from_str_radix(n, 16).ok()?,
                ))
            });
        if let Ok(mut s) = p.state().0.lock() {
            s.count += 1;
            s.latencies.push(now.saturating_sub(sent));
            if let Some((conn, n)) = seq {
                if let Some(prev) = s.last.insert(conn, n) {
                    if n <= prev {
                        s.out_of_order += 1;
                    }
                }
            }
        }
    }
    Ok(json!({"result": "continue"}))
}

async fn stats(p: Plugin<Stats>, v: Value) -> Result<Value, Error> {
    let new_run = v.get("new_run").and_then(Value::as_bool).unwrap_or(false);
    let c = match p.state().0.lock() {
        Ok(mut s) => {
            let last = if new_run {
                HashMap::new()
            } else {
                std::mem::take(&mut s.last)
            };
            std::mem::replace(
                &mut *s,
                Counts {
                    last,
                    ..Counts::default()
                },
            )
        }
        Err(_) => Counts::default(),
    };
    Ok(json!({"count": c.count, "latencies_ns": c.latencies, "out_of_order": c.out_of_order}))
}
