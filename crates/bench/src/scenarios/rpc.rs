//! `bench rpc`: `getinfo` round trips over N persistent connections. Only `getinfo` is
//! used so the same run works unchanged against Core Lightning's `lightning-rpc`.

use super::drive;
use crate::client::RpcClient;
use crate::stats::{Cost, Samples, Table};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The node's JSON-RPC socket (boltd or lightningd).
    #[arg(long)]
    pub socket: PathBuf,
    /// Seconds per row.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Concurrent connections, one row each.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pub conns: Vec<usize>,
    /// The node's process id: adds its CPU time and context switches per call.
    #[arg(long)]
    pub pid: Option<u32>,
}

/// One connection calling `getinfo` back to back until the deadline.
async fn worker(socket: PathBuf, n: usize, deadline: Instant) -> anyhow::Result<Samples> {
    let mut rpc = RpcClient::connect(&socket, &format!("bench-rpc-{n}")).await?;
    let mut s = Samples::default();
    while Instant::now() < deadline {
        let t = Instant::now();
        let reply = rpc.call("getinfo", json!([])).await?;
        s.latencies.push(t.elapsed());
        if reply.is_err() {
            s.errors += 1;
        }
    }
    Ok(s)
}

pub async fn run(args: &Args) -> anyhow::Result<Table> {
    let mut table = Table::latency();
    for &conns in &args.conns {
        let socket = args.socket.clone();
        let before = args.pid.map(Cost::of);
        let mut summary = drive(conns.max(1), args.seconds, move |n, deadline| {
            worker(socket.clone(), n, deadline)
        })
        .await?;
        if let (Some(pid), Some(before)) = (args.pid, before) {
            summary.cost = Some(Cost::of(pid) - before);
        }
        table.latency_row("rpc getinfo", conns.max(1), &summary);
    }
    Ok(table)
}
