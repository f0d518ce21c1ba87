//! `bench wallet`: the on-chain wallet in a throw-away boltd on an in-process devchain.
//! The wallet is filled with `--utxos` outputs (its own `txprepare`/`txsend` fanning one
//! faucet deposit out, `--per-tx` outputs a transaction, mined as it goes), then:
//! `listfunds` latency, `withdraw` latency (coin selection, signing, reservation and the
//! broadcast), and the start-up catch-up after `--blocks` blocks were mined while the
//! node was down (the socket answers once the wallet has them all).

use crate::client::RpcClient;
use crate::daemon::{default_binary, Daemon};
use crate::stats::{fmt_latency, Samples, Summary, Table};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The boltd binary [default: $BOLTD_BIN, else next to this executable].
    #[arg(long)]
    pub boltd: Option<PathBuf>,
    /// Wallet outputs to create.
    #[arg(long, default_value_t = 10_000)]
    pub utxos: usize,
    /// Outputs per fan-out transaction.
    #[arg(long, default_value_t = 500)]
    pub per_tx: usize,
    /// Blocks mined while the node is down (catch-up).
    #[arg(long, default_value_t = 1000)]
    pub blocks: u32,
    /// `listfunds` calls to time.
    #[arg(long, default_value_t = 20)]
    pub listfunds: usize,
    /// `withdraw` calls to time.
    #[arg(long, default_value_t = 10)]
    pub withdraws: usize,
}

async fn call(c: &mut RpcClient, method: &str, params: Value) -> Result<Value> {
    c.call(method, params)
        .await?
        .map_err(|e| anyhow!("{method}: {e}"))
}

fn chain_options(dc: &devchain::DevChain) -> Vec<String> {
    vec![
        format!("--bitcoin-datadir={}", dc.datadir.display()),
        "--bitcoin-rpcconnect=127.0.0.1".into(),
        format!("--bitcoin-rpcport={}", dc.port),
        "--developer".into(),
        "--dev-bitcoind-poll=1".into(),
    ]
}

async fn wait_height(c: &mut RpcClient, height: u64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let info = call(c, "getinfo", json!({})).await?;
        if info["blockheight"].as_u64() == Some(height) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("boltd did not reach block {height}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn height(dc: &devchain::DevChain) -> Result<u64> {
    dc.client()
        .call("getblockcount", json!([]))?
        .as_u64()
        .context("getblockcount")
}

fn timed(samples: &[Duration], wall: Duration) -> Summary {
    Summary::new(
        Samples {
            latencies: samples.to_vec(),
            errors: 0,
        },
        wall,
    )
}

pub async fn run(args: &Args) -> Result<Table> {
    let bin = args.boltd.clone().unwrap_or_else(default_binary);
    let tmp = tempfile::Builder::new().prefix("bench-wallet-").tempdir()?;
    let dc = devchain::DevChain::spawn(&tmp.path().join("chain"))
        .map_err(|e| anyhow!("devchain: {e}"))?;
    dc.mine(101)?;
    let opts = chain_options(&dc);
    let d = Daemon::start(&bin, &opts).await?;
    let mut c = RpcClient::connect(&d.socket, "bench-wallet").await?;
    let addr = call(&mut c, "newaddr", json!({"addresstype": "p2tr"})).await?["p2tr"]
        .as_str()
        .context("newaddr")?
        .to_string();
    let each = 10_000u64;
    let fund_btc = (args.utxos as f64 * (each as f64 + 200.0) + 1_000_000.0) / 1e8;
    dc.client()
        .call("sendtoaddress", json!([addr, format!("{fund_btc:.8}")]))?;
    dc.mine(1)?;
    wait_height(&mut c, height(&dc)?).await?;

    // Fan out: the wallet pays itself.
    let fan_start = Instant::now();
    let mut made = 0;
    while made < args.utxos {
        let n = args.per_tx.min(args.utxos - made);
        let outputs: Vec<Value> = (0..n).map(|_| json!({ addr.clone(): each })).collect();
        let prep = call(
            &mut c,
            "txprepare",
            json!({"outputs": outputs, "feerate": "253perkw", "minconf": 0}),
        )
        .await?;
        call(&mut c, "txsend", json!({"txid": prep["txid"]})).await?;
        dc.mine(1)?;
        made += n;
    }
    wait_height(&mut c, height(&dc)?).await?;
    let fan = fan_start.elapsed();
    let outs = call(&mut c, "listfunds", json!({})).await?["outputs"]
        .as_array()
        .map_or(0, Vec::len);

    let mut table = Table::new(&["measure", "n", "p50", "p99", "total"]);
    table.row(vec![
        format!("fan-out to {outs} wallet outputs"),
        made.to_string(),
        "-".into(),
        "-".into(),
        fmt_latency(fan),
    ]);

    let mut lf = Vec::new();
    let t = Instant::now();
    for _ in 0..args.listfunds {
        let s = Instant::now();
        call(&mut c, "listfunds", json!({})).await?;
        lf.push(s.elapsed());
    }
    let s = timed(&lf, t.elapsed());
    table.row(vec![
        format!("listfunds ({outs} outputs)"),
        s.calls.to_string(),
        fmt_latency(s.p50),
        fmt_latency(s.p99),
        fmt_latency(t.elapsed()),
    ]);

    let dest = dc.client().call("getnewaddress", json!([]))?;
    let mut wd = Vec::new();
    let t = Instant::now();
    for _ in 0..args.withdraws {
        let s = Instant::now();
        call(
            &mut c,
            "withdraw",
            json!({"destination": dest, "satoshi": 100_000, "feerate": "1000perkw"}),
        )
        .await?;
        wd.push(s.elapsed());
    }
    let s = timed(&wd, t.elapsed());
    table.row(vec![
        format!("withdraw 100000sat ({outs} outputs)"),
        s.calls.to_string(),
        fmt_latency(s.p50),
        fmt_latency(s.p99),
        fmt_latency(t.elapsed()),
    ]);

    // Catch-up: down while blocks are mined; the socket answers once every block is
    // applied (the first poller round runs before it binds). A restart with nothing new
    // is the baseline.
    drop(c);
    let dir = d.stop_keeping_dir().await;
    let t = Instant::now();
    let d = Daemon::start_in(dir, &bin, &opts).await?;
    let base = t.elapsed();
    let dir = d.stop_keeping_dir().await;
    dc.mine(args.blocks)?;
    let tip = height(&dc)?;
    let t = Instant::now();
    let d = Daemon::start_in(dir, &bin, &opts).await?;
    let caught_up = t.elapsed();
    let mut c = RpcClient::connect(&d.socket, "bench-wallet").await?;
    let at = call(&mut c, "getinfo", json!({})).await?["blockheight"].as_u64();
    if at != Some(tip) {
        bail!("after the restart boltd is at {at:?}, the chain at {tip}");
    }
    let left = call(&mut c, "listfunds", json!({})).await?["outputs"]
        .as_array()
        .map_or(0, Vec::len);
    drop(c);
    d.stop().await;
    table.row(vec![
        format!("restart, nothing new ({left} outputs)"),
        "1".into(),
        "-".into(),
        "-".into(),
        fmt_latency(base),
    ]);
    table.row(vec![
        format!("restart after {} blocks (catch-up)", args.blocks),
        "1".into(),
        "-".into(),
        "-".into(),
        fmt_latency(caught_up),
    ]);
    Ok(table)
}
