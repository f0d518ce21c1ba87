//! `bench forwards`: A pays C through B (three boltds on a devchain of the bench's own,
//! B's channel to C unannounced so C's invoices hint it). Forwards per second through B
//! and the payers' `pay` latency with no plugin on B, then with an `htlc_accepted` plugin
//! that continues every HTLC (pyln-client, then cln-plugin; started on B with
//! `plugin start`, so LDK intercepts forwards only for those rows), and the latency each
//! plugin adds per forward (p50 against the no-plugin row). Invoices are made before each
//! row; a row ends at `--seconds` or when its invoices run out.

use crate::client::RpcClient;
use crate::daemon::{default_binary, Daemon};
use crate::stats::{Samples, Table};
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The boltd binary [default: $BOLTD_BIN, else next to this executable]; bcli and the
    /// test plugins (cln-htlc) must be next to it.
    #[arg(long)]
    pub boltd: Option<PathBuf>,
    /// Seconds per row.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Concurrent payers.
    #[arg(long, default_value_t = 8)]
    pub workers: usize,
    /// Invoices made for each row (a row ends when they run out).
    #[arg(long, default_value_t = 300)]
    pub invoices: usize,
    /// The repository (for `tests/plugins` and `.venv`) [default: found from the cwd].
    #[arg(long)]
    pub repo: Option<PathBuf>,
}

async fn call(socket: &Path, method: &str, params: Value) -> anyhow::Result<Value> {
    let mut c = RpcClient::connect(socket, "bench-forwards").await?;
    match c
        .call(method, params.clone())
        .await
        .with_context(|| format!("{method} {params}"))?
    {
        Ok(v) => Ok(v),
        Err(e) => bail!("{method}: {e}"),
    }
}

async fn wait_for<F, Fut>(what: &str, mut f: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    while !f().await? {
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

async fn fund(dc: &devchain::DevChain, node: &Path, sat: u64) -> anyhow::Result<()> {
    let addr = call(node, "newaddr", json!({})).await?["bech32"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    dc.fund(&addr, bitcoin::Amount::from_sat(sat))?;
    Ok(())
}

async fn open(
    dc: &devchain::DevChain,
    from: &Path,
    to: &Path,
    announce: bool,
) -> anyhow::Result<()> {
    let info = call(to, "getinfo", json!({})).await?;
    let id = info["id"].as_str().unwrap_or_default().to_string();
    let port = info["binding"][0]["port"].as_u64().unwrap_or(0);
    call(
        from,
        "connect",
        json!({"id": format!("{id}@127.0.0.1:{port}")}),
    )
    .await?;
    call(
        from,
        "fundchannel",
        json!({"id": id, "amount": 1_000_000, "announce": announce}),
    )
    .await?;
    dc.mine(6)?;
    Ok(())
}

async fn normal(socket: &Path, n: usize) -> anyhow::Result<bool> {
    let v = call(socket, "listpeerchannels", json!({})).await?;
    Ok(v["channels"]
        .as_array()
        .map(|a| a.iter().filter(|c| c["state"] == "CHANNELD_NORMAL").count() >= n)
        .unwrap_or(false))
}

fn find_repo(given: Option<&PathBuf>) -> PathBuf {
    if let Some(r) = given {
        return r.clone();
    }
    let mut dir = std::env::current_dir().unwrap_or_default();
    loop {
        if dir.join("tests/plugins/htlc_forward_hook.py").exists() {
            return dir;
        }
        if !dir.pop() {
            return PathBuf::from(".");
        }
    }
}

/// Pays `invoices` from `payer` with `workers` concurrent callers for `seconds`.
async fn row(
    payer: &Path,
    invoices: Vec<String>,
    workers: usize,
    seconds: f64,
) -> anyhow::Result<crate::stats::Summary> {
    let pool = Arc::new(Mutex::new(invoices));
    let payer = payer.to_path_buf();
    super::drive(workers, seconds, move |_, deadline| {
        let (pool, payer) = (pool.clone(), payer.clone());
        async move {
            let mut c = RpcClient::connect(&payer, "bench-forwards-pay").await?;
            let mut s = Samples::default();
            while Instant::now() < deadline {
                let Some(bolt11) = pool.lock().ok().and_then(|mut p| p.pop()) else {
                    break;
                };
                let t = Instant::now();
                match c.call("pay", json!({"bolt11": bolt11})).await? {
                    Ok(_) => s.latencies.push(t.elapsed()),
                    Err(_) => s.errors += 1,
                }
            }
            Ok(s)
        }
    })
    .await
}

pub async fn run(args: &Args) -> anyhow::Result<Table> {
    let bin = args.boltd.clone().unwrap_or_else(default_binary);
    let bins = bin
        .parent()
        .map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.to_path_buf()))
        .unwrap_or_default();
    let cln_htlc = bins.join("cln-htlc");
    if !cln_htlc.exists() {
        bail!(
            "{} missing: build crates/test-plugins (cargo build -p test-plugins)",
            cln_htlc.display()
        );
    }
    let repo = std::fs::canonicalize(find_repo(args.repo.as_ref()))?;
    let kit = tempfile::Builder::new()
        .prefix("bench-fwd-kit-")
        .tempdir()?;
    let python = {
        let v = repo.join(".venv/bin/python3");
        if v.exists() {
            v
        } else {
            "python3".into()
        }
    };
    let pyln = kit.path().join("pyln_htlc");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(
            &pyln,
            format!(
                "#!/bin/sh\nexec {} {} \"$@\"\n",
                python.display(),
                repo.join("tests/plugins/htlc_forward_hook.py").display()
            ),
        )?;
        std::fs::set_permissions(&pyln, std::fs::Permissions::from_mode(0o755))?;
    }

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
    let a = Daemon::start(&bin, &opts).await?;
    let b = Daemon::start(&bin, &opts).await?;
    let c = Daemon::start(&bin, &opts).await?;
    fund(&dc, &a.socket, 1_200_000).await?;
    fund(&dc, &b.socket, 1_200_000).await?;
    dc.mine(1)?;
    for n in [&a.socket, &b.socket] {
        wait_for("funds", || async {
            let v = call(n, "listfunds", json!({})).await?;
            Ok(v["outputs"]
                .as_array()
                .is_some_and(|o| o.iter().any(|o| o["status"] == "confirmed")))
        })
        .await?;
    }
    open(&dc, &a.socket, &b.socket, true).await?;
    open(&dc, &b.socket, &c.socket, false).await?;
    wait_for("A's channel", || normal(&a.socket, 1)).await?;
    wait_for("B's channels", || normal(&b.socket, 2)).await?;
    wait_for("C's channel", || normal(&c.socket, 1)).await?;

    let mut table = Table::latency();
    let mut base_p50 = None;
    let rows: [(&str, Option<&Path>); 3] = [
        ("forwards, no plugin", None),
        ("forwards, htlc_accepted pyln (continue)", Some(&pyln)),
        (
            "forwards, htlc_accepted cln-plugin (continue)",
            Some(&cln_htlc),
        ),
    ];
    let mut added = Vec::new();
    for (n, (name, plugin)) in rows.iter().enumerate() {
        let mut invoices = Vec::with_capacity(args.invoices);
        for i in 0..args.invoices {
            let inv = call(
                &c.socket,
                "invoice",
                json!({"amount_msat": 500_000, "label": format!("r{n}-{i}"), "description": "bench"}),
            )
            .await?;
            invoices.push(inv["bolt11"].as_str().unwrap_or_default().to_string());
        }
        if let Some(p) = plugin {
            call(
                &b.socket,
                "plugin",
                json!({"subcommand": "start", "plugin": p.display().to_string()}),
            )
            .await?;
            // B turns interception on within a second of the hook being registered.
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let cost = || crate::stats::Cost {
            daemon: crate::procstat::ProcStat::of(b.pid()),
            plugins: crate::procstat::ProcStat::of_children(b.pid()),
        };
        let before = cost();
        let mut s = row(&a.socket, invoices, args.workers, args.seconds).await?;
        s.cost = Some(cost() - before);
        table.latency_row(name, args.workers, &s);
        match base_p50 {
            None => base_p50 = Some(s.p50),
            Some(b0) => added.push((name.to_string(), s.p50.saturating_sub(b0))),
        }
        if let Some(p) = plugin {
            call(
                &b.socket,
                "plugin",
                json!({"subcommand": "stop", "plugin": p.display().to_string()}),
            )
            .await?;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    for (name, d) in added {
        table.row(vec![
            format!(
                "added p50 per forward: {}",
                name.trim_start_matches("forwards, ")
            ),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            crate::stats::fmt_latency(d),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
        ]);
    }
    let fwd = call(&b.socket, "listforwards", json!({"status": "settled"})).await?;
    table.row(vec![
        "settled forwards recorded by B".into(),
        "-".into(),
        fwd["forwards"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
            .to_string(),
        "-".into(),
        "-".into(),
        "-".into(),
        "-".into(),
        "-".into(),
        "-".into(),
        "-".into(),
    ]);
    a.stop().await;
    b.stop().await;
    c.stop().await;
    Ok(table)
}
