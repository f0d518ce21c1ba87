//! `bench runes`: `checkrune` calls/s with a 5-restriction rune (each pass records the
//! rune's `last_used` in the store, as Core Lightning does), and commando `getinfo` round
//! trips/s between two boltd nodes on loopback (A's `commando` RPC → custom messages →
//! B checks the rune, runs getinfo through its dispatcher → reply pieces → A).

use super::drive;
use crate::client::RpcClient;
use crate::daemon::{default_binary, Daemon};
use crate::stats::{Samples, Table};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The boltd binary [default: $BOLTD_BIN, else next to this executable].
    #[arg(long)]
    pub boltd: Option<PathBuf>,
    /// Seconds per row.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Concurrent RPC connections, one row each per scenario.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    pub conns: Vec<usize>,
}

/// Five restrictions a `checkrune … getinfo {}` call passes, each evaluated.
fn five_restrictions() -> Value {
    json!([
        ["method=listpeers", "method=getinfo"],
        ["pnum<3"],
        ["time>1700000000"],
        ["pnameamountmsat!"],
        ["method/stop"]
    ])
}

async fn worker(
    socket: PathBuf,
    n: usize,
    deadline: Instant,
    method: &'static str,
    params: Value,
) -> anyhow::Result<Samples> {
    let mut rpc = RpcClient::connect(&socket, &format!("bench-runes-{n}")).await?;
    let mut s = Samples::default();
    while Instant::now() < deadline {
        let t = Instant::now();
        let r = rpc.call(method, params.clone()).await?;
        s.latencies.push(t.elapsed());
        if r.is_err() {
            s.errors += 1;
        }
    }
    Ok(s)
}

async fn call(rpc: &mut RpcClient, method: &str, params: Value) -> anyhow::Result<Value> {
    rpc.call(method, params)
        .await?
        .map_err(|e| anyhow::anyhow!("{method}: {e}"))
}

pub async fn run(args: &Args) -> anyhow::Result<Table> {
    let bin = args.boltd.clone().unwrap_or_else(default_binary);
    let local = "--bind-addr=127.0.0.1:0".to_string();
    let a = Daemon::start(&bin, std::slice::from_ref(&local)).await?;
    let b = Daemon::start(&bin, &[local]).await?;
    let result = rows(args, &a, &b).await;
    a.stop().await;
    b.stop().await;
    result
}

async fn rows(args: &Args, a: &Daemon, b: &Daemon) -> anyhow::Result<Table> {
    let mut brpc = RpcClient::connect(&b.socket, "bench-runes-b").await?;
    let info = call(&mut brpc, "getinfo", json!([])).await?;
    let bid = info["id"].as_str().unwrap_or_default().to_string();
    let port = info["binding"][0]["port"].as_u64().unwrap_or(0);
    let mut arpc = RpcClient::connect(&a.socket, "bench-runes-a").await?;
    call(&mut arpc, "connect", json!([bid, "127.0.0.1", port])).await?;
    let rune = call(
        &mut brpc,
        "createrune",
        json!({"restrictions": five_restrictions()}),
    )
    .await?["rune"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    let mut table = Table::latency();
    let check = json!({"rune": rune, "method": "getinfo", "params": {}});
    for &conns in &args.conns {
        let (socket, p) = (b.socket.clone(), check.clone());
        let s = drive(conns.max(1), args.seconds, move |n, deadline| {
            worker(socket.clone(), n, deadline, "checkrune", p.clone())
        })
        .await?;
        table.latency_row("checkrune 5 restrictions", conns.max(1), &s);
    }
    let remote = json!({"peer_id": bid, "method": "getinfo", "rune": rune});
    for &conns in &args.conns {
        let (socket, p) = (a.socket.clone(), remote.clone());
        let s = drive(conns.max(1), args.seconds, move |n, deadline| {
            worker(socket.clone(), n, deadline, "commando", p.clone())
        })
        .await?;
        table.latency_row("commando getinfo a->b", conns.max(1), &s);
    }
    Ok(table)
}
