//! `bench channels`: two boltds on a devchain of the bench's own; channel opens per minute
//! (sequential `fundchannel`s, each answered once its funding transaction is broadcast;
//! LDK takes at most 4 unconfirmed channels per peer, so every 4th is followed by a block
//! and the wait for lock-in, which the figure includes),
//! then the funder's start-up time and RSS with 1, 10 and 100 channels (restarted on
//! the same lightning-dir after its channels reached CHANNELD_NORMAL).

use crate::client::RpcClient;
use crate::daemon::{default_binary, Daemon};
use crate::stats::Table;
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// LDK's limit on a peer's channels awaiting their funding confirmation.
const UNFUNDED_PER_PEER: usize = 4;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The boltd binary [default: $BOLTD_BIN, else next to this executable]; bcli must be
    /// next to it.
    #[arg(long)]
    pub boltd: Option<PathBuf>,
    /// Channel counts at which start-up is measured (opened cumulatively).
    #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
    pub channels: Vec<usize>,
    /// Satoshis per channel.
    #[arg(long, default_value_t = 100_000)]
    pub amount: u64,
}

async fn call(socket: &Path, method: &str, params: Value) -> anyhow::Result<Value> {
    let mut c = RpcClient::connect(socket, "bench-channels").await?;
    match c
        .call(method, params.clone())
        .await
        .with_context(|| format!("{method} {params}"))?
    {
        Ok(v) => Ok(v),
        Err(e) => bail!("{method}: {e}"),
    }
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

async fn wait_normal(socket: &Path, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let v = call(socket, "listpeerchannels", json!({})).await?;
        let normal = v["channels"]
            .as_array()
            .map(|a| a.iter().filter(|c| c["state"] == "CHANNELD_NORMAL").count())
            .unwrap_or(0);
        if normal >= n {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {normal} of {n} channels reached CHANNELD_NORMAL");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn connect(a: &Path, b: &Path) -> anyhow::Result<String> {
    let info = call(b, "getinfo", json!({})).await?;
    let id = info["id"].as_str().unwrap_or_default().to_string();
    let port = info["binding"][0]["port"].as_u64().unwrap_or(0);
    call(
        a,
        "connect",
        json!({"id": format!("{id}@127.0.0.1:{port}")}),
    )
    .await?;
    Ok(id)
}

pub async fn run(args: &Args) -> anyhow::Result<Table> {
    let bin = args.boltd.clone().unwrap_or_else(default_binary);
    let chain_dir = tempfile::Builder::new().prefix("bench-chain-").tempdir()?;
    let dc = devchain::DevChain::spawn(chain_dir.path()).context("devchain")?;
    dc.mine(101)?;
    let opts = vec![
        format!("--bitcoin-datadir={}", dc.datadir.display()),
        "--bitcoin-rpcconnect=127.0.0.1".to_string(),
        format!("--bitcoin-rpcport={}", dc.port),
        "--developer".to_string(),
        "--dev-bitcoind-poll=1".to_string(),
        "--bind-addr=127.0.0.1:0".to_string(),
    ];
    let mut a = Daemon::start(&bin, &opts).await?;
    let b = Daemon::start(&bin, &opts).await?;
    let total = args.channels.iter().copied().max().unwrap_or(0);
    // One coin per channel (sequential opens never wait for change), plus the anchor
    // reserve.
    for i in 0..total {
        // The faucet's payments chain on each other: confirm before mempool limits bite.
        if i % 20 == 19 {
            dc.mine(1)?;
        }
        let addr = call(&a.socket, "newaddr", json!({})).await?["bech32"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        dc.fund(&addr, bitcoin::Amount::from_sat(args.amount + 20_000))?;
    }
    let addr = call(&a.socket, "newaddr", json!({})).await?["bech32"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    dc.fund(
        &addr,
        bitcoin::Amount::from_sat(25_000 * (total as u64 + 2)),
    )?;
    dc.mine(1)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let n = call(&a.socket, "listfunds", json!({})).await?["outputs"]
            .as_array()
            .map(|o| o.iter().filter(|o| o["status"] == "confirmed").count())
            .unwrap_or(0);
        if n > total {
            break;
        }
        if Instant::now() > deadline {
            bail!("funds never confirmed");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut table = Table::new(&["what", "channels", "value"]);
    let mut b_id = connect(&a.socket, &b.socket).await?;
    let mut open = 0usize;
    let mut steps = args.channels.clone();
    steps.sort_unstable();
    for want in steps {
        let n = want - open;
        let t = Instant::now();
        for i in 0..n {
            call(
                &a.socket,
                "fundchannel",
                json!({"id": b_id, "amount": args.amount, "feerate": "1000perkw"}),
            )
            .await?;
            // LDK accepts at most 4 unconfirmed channels per peer: confirm each batch.
            if (i + 1) % UNFUNDED_PER_PEER == 0 && i + 1 < n {
                dc.mine(1)?;
                wait_normal(&a.socket, open + i + 1).await?;
            }
        }
        let secs = t.elapsed().as_secs_f64();
        if n > 0 {
            table.row(vec![
                format!("opens/min ({n}, a block every 4)"),
                want.to_string(),
                format!("{:.0}", n as f64 * 60.0 / secs.max(1e-9)),
            ]);
        }
        open = want;
        dc.mine(6)?;
        wait_normal(&a.socket, open).await?;
        // Restart the funder on the same directory: start-up time and RSS.
        let dir = a.stop_keeping_dir().await;
        let t = Instant::now();
        a = Daemon::start_in(dir, &bin, &opts).await?;
        let startup = t.elapsed();
        wait_normal_count(&a.socket, open).await?;
        table.row(vec![
            "start-up (to getinfo)".into(),
            want.to_string(),
            format!("{} ms", startup.as_millis()),
        ]);
        table.row(vec![
            "RSS after start-up".into(),
            want.to_string(),
            format!("{} MiB", rss_kb(a.pid()) / 1024),
        ]);
        b_id = connect(&a.socket, &b.socket).await?;
    }
    a.stop().await;
    b.stop().await;
    Ok(table)
}

/// The restarted node lists all its channels (loaded from the store).
async fn wait_normal_count(socket: &Path, n: usize) -> anyhow::Result<()> {
    let v = call(socket, "listpeerchannels", json!({})).await?;
    let have = v["channels"].as_array().map(Vec::len).unwrap_or(0);
    if have != n {
        bail!("restarted with {have} channels, expected {n}");
    }
    Ok(())
}
