//! `cln-custommsg`: a `custommsg` hook written with cln-plugin, for the end-to-end custom
//! message benchmark. Messages of type 0x7777 whose body starts with the sender's wall-clock
//! time (u64 big-endian nanoseconds since the epoch) are counted and their one-way latency
//! kept; `cmsgstats` returns `{"count", "latencies_ns": [...]}` and resets.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use cln_plugin::{Builder, Error, Plugin};
use serde_json::{json, Value};

#[derive(Clone, Default)]
struct Stats(Arc<Mutex<(u64, Vec<u64>)>>);

#[tokio::main]
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
        if let Ok(mut s) = p.state().0.lock() {
            s.0 += 1;
            s.1.push(now.saturating_sub(sent));
        }
    }
    Ok(json!({"result": "continue"}))
}

async fn stats(p: Plugin<Stats>, _v: Value) -> Result<Value, Error> {
    let (count, lat) = match p.state().0.lock() {
        Ok(mut s) => (s.0, std::mem::take(&mut s.1)),
        Err(_) => (0, Vec::new()),
    };
    if let Ok(mut s) = p.state().0.lock() {
        s.0 = 0;
    }
    Ok(json!({"count": count, "latencies_ns": lat}))
}
