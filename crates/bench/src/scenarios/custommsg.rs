//! `bench custommsg`: custom messages end to end between two boltd nodes on loopback:
//! `sendcustommsg` RPC on A → BOLT 8 wire → B's `custommsg` hook in a cln-plugin plugin
//! (`cln-custommsg`). Rows for 1 and 8 RPC connections on A.
//!
//! * `sent/s`: sendcustommsg calls answered per second on A (RPC latency p50/p99);
//! * `delivered/s`: hook calls on B per second until the last message arrived, with the
//!   one-way latency (A's wall clock in the message → B's plugin) p50/p99.
//!
//! Flat out, A accepts messages faster than B's hook answers them, so the one-way figure
//! there is mostly time spent queued. The `paced` row sends `--paced-rate` messages/s on
//! one connection, well under the ceiling, for the latency of the path itself.

use super::drive;
use crate::client::RpcClient;
use crate::daemon::{default_binary, Daemon};
use crate::stats::{fmt_latency, Samples, Summary, Table};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The boltd binary [default: $BOLTD_BIN, else next to this executable].
    #[arg(long)]
    pub boltd: Option<PathBuf>,
    /// Seconds per row.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// RPC connections on the sender, one row each.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    pub conns: Vec<usize>,
    /// Messages per second in the paced row (0 leaves the row out).
    #[arg(long, default_value_t = 500)]
    pub paced_rate: u32,
    /// Messages in the fixed-count row (one connection, back to back; 0 leaves it out).
    #[arg(long, default_value_t = 20000)]
    pub count: u32,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Sends until the deadline: back to back, or one message per `pace` when given.
async fn worker(
    socket: PathBuf,
    to: String,
    n: usize,
    deadline: Instant,
    pace: Option<Duration>,
    count: Option<u32>,
) -> anyhow::Result<Samples> {
    let mut rpc = RpcClient::connect(&socket, &format!("bench-cmsg-{n}")).await?;
    let mut s = Samples::default();
    let mut seq = 0u32;
    let mut tick = pace.map(tokio::time::interval);
    while Instant::now() < deadline && count.is_none_or(|c| seq < c) {
        if let Some(t) = tick.as_mut() {
            t.tick().await;
        }
        let msg = format!("7777{:016x}{:04x}{:08x}", now_ns(), n, seq);
        seq += 1;
        let t = Instant::now();
        let r = rpc.call("sendcustommsg", json!([to, msg])).await?;
        s.latencies.push(t.elapsed());
        if r.is_err() {
            s.errors += 1;
        }
    }
    Ok(s)
}

pub async fn run(args: &Args) -> anyhow::Result<Table> {
    let bin = args.boltd.clone().unwrap_or_else(default_binary);
    let plugin = bin
        .parent()
        .map(|d| d.join("cln-custommsg"))
        .unwrap_or_default();
    if !plugin.exists() {
        anyhow::bail!(
            "{} missing: build crates/test-plugins (cargo build -p test-plugins)",
            plugin.display()
        );
    }
    let local = "--bind-addr=127.0.0.1:0".to_string();
    let a = Daemon::start(&bin, std::slice::from_ref(&local)).await?;
    let b = Daemon::start(&bin, &[local, format!("--plugin={}", plugin.display())]).await?;
    let result = rows(args, &a, &b).await;
    a.stop().await;
    b.stop().await;
    result
}

async fn rows(args: &Args, a: &Daemon, b: &Daemon) -> anyhow::Result<Table> {
    let mut brpc = RpcClient::connect(&b.socket, "bench-cmsg-b").await?;
    let info = brpc
        .call("getinfo", json!([]))
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let bid = info["id"].as_str().unwrap_or_default().to_string();
    let port = info["binding"][0]["port"].as_u64().unwrap_or(0);
    let mut arpc = RpcClient::connect(&a.socket, "bench-cmsg-a").await?;
    arpc.call("connect", json!([bid, "127.0.0.1", port]))
        .await?
        .map_err(|e| anyhow::anyhow!("connect: {e}"))?;

    let mut table = Table::new(&[
        "scenario",
        "conns",
        "msgs",
        "errors",
        "sent/s",
        "rpc p50",
        "rpc p99",
        "delivered/s",
        "1-way p50",
        "1-way p99",
        "out of order",
    ]);
    // (connections, paced rate, fixed count)
    let mut plans: Vec<(usize, Option<u32>, Option<u32>)> =
        args.conns.iter().map(|&c| (c.max(1), None, None)).collect();
    if args.paced_rate > 0 {
        plans.push((1, Some(args.paced_rate), None));
    }
    if args.count > 0 {
        plans.push((1, None, Some(args.count)));
    }
    for (conns, rate, fixed) in plans {
        brpc.call("cmsgstats", json!({"new_run": true})).await?.ok(); // reset
        let t0 = Instant::now();
        let (socket, to) = (a.socket.clone(), bid.clone());
        let pace = rate.map(|r| Duration::from_secs_f64(1.0 / f64::from(r)));
        // A fixed count is sent whatever it takes (up to a minute).
        let seconds = if fixed.is_some() { 60.0 } else { args.seconds };
        let sent = drive(conns, seconds, move |n, deadline| {
            worker(socket.clone(), to.clone(), n, deadline, pace, fixed)
        })
        .await?;
        let ok = sent.calls - sent.errors;
        // Wait for the tail to reach B's hook.
        let mut count = 0u64;
        let mut out_of_order = 0u64;
        let mut lat = Vec::new();
        let until = Instant::now() + Duration::from_secs(30);
        while count < ok && Instant::now() < until {
            let r = brpc.call("cmsgstats", json!({})).await?.unwrap_or_default();
            count += r["count"].as_u64().unwrap_or(0);
            out_of_order += r["out_of_order"].as_u64().unwrap_or(0);
            if let Some(l) = r["latencies_ns"].as_array() {
                lat.extend(
                    l.iter()
                        .filter_map(|x| x.as_u64())
                        .map(Duration::from_nanos),
                );
            }
            if count < ok {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let delivered = Summary::new(
            Samples {
                latencies: lat,
                errors: 0,
            },
            t0.elapsed(),
        );
        let label = match (rate, fixed) {
            (Some(r), _) => format!("custommsg paced {r}/s"),
            (None, Some(n)) => format!("custommsg {n} msgs back to back"),
            (None, None) => "custommsg rpc->wire->hook".to_string(),
        };
        table.row(vec![
            label,
            conns.to_string(),
            format!("{}/{}", count, sent.calls),
            sent.errors.to_string(),
            format!("{:.0}", sent.per_sec),
            fmt_latency(sent.p50),
            fmt_latency(sent.p99),
            format!("{:.0}", delivered.per_sec),
            fmt_latency(delivered.p50),
            fmt_latency(delivered.p99),
            out_of_order.to_string(),
        ]);
    }
    Ok(table)
}
