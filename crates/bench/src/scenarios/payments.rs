//! `bench payments`: two boltds on a devchain of the bench's own, one channel a → b;
//! payments/s and p50/p99 of `pay` (invoices made beforehand, outside the timing) over 1
//! and 8 RPC connections and of `keysend`, with no plugin on the payee (its CPU per
//! payment is the cost column); then what a payee's hook adds: an `invoice_payment`
//! plugin (pyln-client and cln-plugin) and an `htlc_accepted` plugin (pyln-client and
//! cln-plugin), each answering `continue` at once, started and stopped on the payee
//! (`plugin start`/`stop`) so that slices with and without it alternate on the same
//! channel and machine state. The payer's state grows with every payment (LDK keeps
//! completed payments for 7 timer ticks, about 7 minutes, and every manager write encodes
//! them), so rows taken one after another would mix the hook's cost with that drift: each
//! hook is measured on a pair of nodes of its own, opened for it, and the "added p50" rows
//! are paired minus unpaired: the median of the rounds' differences (the figure to quote),
//! and over the pooled slices.

use crate::client::RpcClient;
use crate::daemon::{default_binary, Daemon};
use crate::scenarios::drive;
use crate::stats::{fmt_latency, Samples, Summary, Table};
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The boltd binary [default: $BOLTD_BIN, else next to this executable]; cln-payhook
    /// must be next to it.
    #[arg(long)]
    pub boltd: Option<PathBuf>,
    /// Seconds per row.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Millisatoshis per payment.
    #[arg(long, default_value_t = 100_000)]
    pub amount_msat: u64,
    /// The repository (for tests/plugins and .venv) [default: found upwards from here].
    #[arg(long)]
    pub repo: Option<PathBuf>,
    /// Only the rows without a plugin (pay over 1 and 8 connections, keysend).
    #[arg(long)]
    pub no_hooks: bool,
}

/// The channel's size: room for every payment of every row.
const CHANNEL_SAT: u64 = 10_000_000;
/// Invoices made before a `pay` row, per second of it and connection (a row ends early
/// if they run out: its rate still holds).
const POOL_PER_SEC_CONN: f64 = 300.0;

async fn call(socket: &Path, method: &str, params: Value) -> anyhow::Result<Value> {
    let mut c = RpcClient::connect(socket, "bench-payments").await?;
    match c
        .call(method, params.clone())
        .await
        .with_context(|| format!("{method} {params}"))?
    {
        Ok(v) => Ok(v),
        Err(e) => bail!("{method}: {e}"),
    }
}

fn find_repo(given: Option<&PathBuf>) -> PathBuf {
    if let Some(r) = given {
        return r.clone();
    }
    let mut dir = std::env::current_dir().unwrap_or_default();
    loop {
        if dir.join("tests/plugins/invoice_payment_hook.py").exists() {
            return dir;
        }
        if !dir.pop() {
            return PathBuf::from(".");
        }
    }
}

fn write_exec(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// The payee's plugin for one row, as a launcher script in `dir`.
enum Hook {
    Pyln(&'static str),
    Cln(&'static str),
}

fn launcher(dir: &Path, repo: &Path, bins: &Path, hook: &Hook) -> anyhow::Result<PathBuf> {
    let (name, text) = match hook {
        Hook::Pyln(script) => {
            let venv = repo.join(".venv/bin/python3");
            let python = if venv.exists() {
                venv
            } else {
                "python3".into()
            };
            (
                format!("py-{script}"),
                format!(
                    "#!/bin/sh\nexec {} {} \"$@\"\n",
                    python.display(),
                    repo.join("tests/plugins").join(script).display()
                ),
            )
        }
        Hook::Cln(hook) => (
            format!("cln-{hook}"),
            format!(
                "#!/bin/sh\nCLN_PAYHOOK={hook} exec {} \"$@\"\n",
                bins.join("cln-payhook").display()
            ),
        ),
    };
    let p = dir.join(name);
    write_exec(&p, &text)?;
    Ok(p)
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

/// Until a's channel to `peer` is usable (normal and reestablished).
async fn wait_usable(a: &Path, peer: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = call(a, "listpeerchannels", json!({"id": peer})).await?;
        let ok = v["channels"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["state"] == "CHANNELD_NORMAL" && c["reestablished"] == true)
        });
        if ok {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the channel did not become usable: {v}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `n` invoices of b's, made over 8 connections.
async fn invoices(b: &Path, n: usize, amount_msat: u64, tag: &str) -> anyhow::Result<Vec<String>> {
    let per = n.div_ceil(8);
    let mut tasks = Vec::new();
    for w in 0..8 {
        let socket = b.to_path_buf();
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let mut c = RpcClient::connect(&socket, "bench-invoices").await?;
            let mut out = Vec::with_capacity(per);
            for i in 0..per {
                let label = format!("{tag}-{w}-{i}");
                match c
                    .call(
                        "invoice",
                        json!({"amount_msat": amount_msat, "label": label, "description": "bench"}),
                    )
                    .await?
                {
                    Ok(v) => out.push(v["bolt11"].as_str().unwrap_or_default().to_string()),
                    Err(e) => bail!("invoice: {e}"),
                }
            }
            anyhow::Ok(out)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

/// Invoices of b's for a `pay` row of `n` connections.
async fn pool(
    b: &Path,
    args: &Args,
    n: usize,
    tag: &str,
) -> anyhow::Result<Arc<Mutex<Vec<String>>>> {
    let want = (POOL_PER_SEC_CONN * args.seconds * n as f64).max(50.0) as usize;
    let pool = invoices(b, want, args.amount_msat, tag).await?;
    Ok(Arc::new(Mutex::new(pool)))
}

/// `a - b`, signed: a hook can measure faster than none when it adds less than the noise.
fn signed_latency(a: Duration, b: Duration) -> String {
    if a >= b {
        fmt_latency(a - b)
    } else {
        format!("-{}", fmt_latency(b - a))
    }
}

/// What [`paired`] measured for one hook.
struct Paired {
    with: Summary,
    without: Summary,
    /// The median over rounds of (p50 with it − p50 without it) in microseconds.
    added_p50_us: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Microseconds, signed, as a latency cell.
fn signed_us(us: f64) -> String {
    let d = Duration::from_secs_f64(us.abs() / 1e6);
    if us < 0.0 {
        format!("-{}", fmt_latency(d))
    } else {
        fmt_latency(d)
    }
}

/// Slices of `pay` on one connection with the payee's plugin and without it, alternating
/// `PAIRED_ROUNDS` times over `--seconds` each (so both see the same channel state and
/// load); the plugin is started and stopped between slices, outside the timing.
///
/// Why the rounds alternate which slice comes first: the channel's state grows all along
/// (see the module doc), so a slice taken second is slower by the drift alone; in the same
/// order every round that drift was counted as the hook's. Why the added p50 is the median
/// of the rounds' differences: a burst of load from outside falls on one round, not on the
/// pooled samples of one side. Why a pause after each start and stop: the daemon's own
/// work for the plugin's arrival or departure (its manifest, `init`, notifications) is a
/// cost of the lifecycle, not of each hooked payment.
async fn paired(
    args: &Args,
    a: &Path,
    b: &Daemon,
    plugin: &Path,
    tag: &str,
) -> anyhow::Result<Paired> {
    let name = plugin
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pool = pool(&b.socket, args, 1, &format!("paired-{tag}")).await?;
    let slice = args.seconds / f64::from(PAIRED_ROUNDS);
    let (mut with, mut without) = (Samples::default(), Samples::default());
    let (mut t_with, mut t_without) = (Duration::ZERO, Duration::ZERO);
    let mut added = Vec::new();
    // One slice of payments on the pool: its samples and how long it took.
    let measure = || {
        let (pool, a) = (pool.clone(), a.to_path_buf());
        let t = Instant::now();
        let run = pay_worker(
            a,
            Some(pool),
            (String::new(), 0),
            t + Duration::from_secs_f64(slice),
        );
        async move { anyhow::Ok((run.await?, t.elapsed())) }
    };
    let start = || {
        call(
            &b.socket,
            "plugin",
            json!({"subcommand": "start", "plugin": plugin.display().to_string()}),
        )
    };
    let stop = || {
        call(
            &b.socket,
            "plugin",
            json!({"subcommand": "stop", "plugin": name}),
        )
    };
    for round in 0..PAIRED_ROUNDS {
        let with_first = round % 2 == 1;
        let (mut s_with, mut s_without) = (None, None);
        for hooked in [with_first, !with_first] {
            if hooked {
                start().await?;
                tokio::time::sleep(SETTLE).await;
            }
            let (s, took) = measure().await?;
            if hooked {
                stop().await?;
                tokio::time::sleep(SETTLE).await;
                t_with += took;
                s_with = Some(s);
            } else {
                t_without += took;
                s_without = Some(s);
            }
        }
        let (Some(sw), Some(so)) = (s_with, s_without) else {
            continue;
        };
        let (pw, po) = (
            Summary::new(sw.clone(), Duration::ZERO).p50,
            Summary::new(so.clone(), Duration::ZERO).p50,
        );
        if !sw.latencies.is_empty() && !so.latencies.is_empty() {
            added.push(pw.as_secs_f64() * 1e6 - po.as_secs_f64() * 1e6);
        }
        with.merge(sw);
        without.merge(so);
    }
    Ok(Paired {
        with: Summary::new(with, t_with),
        without: Summary::new(without, t_without),
        added_p50_us: median(added),
    })
}

/// Rounds of a paired hook measurement.
const PAIRED_ROUNDS: u32 = 10;
/// Left between a plugin's start or stop and the next slice.
const SETTLE: Duration = Duration::from_millis(200);

/// One worker: `pay`s from the shared pool (or `keysend`s) until the deadline.
async fn pay_worker(
    socket: PathBuf,
    pool: Option<Arc<Mutex<Vec<String>>>>,
    keysend: (String, u64),
    deadline: Instant,
) -> anyhow::Result<Samples> {
    let mut rpc = RpcClient::connect(&socket, "bench-pay").await?;
    let mut s = Samples::default();
    while Instant::now() < deadline {
        let (method, params) = match &pool {
            Some(p) => {
                let next = p.lock().ok().and_then(|mut v| v.pop());
                let Some(bolt11) = next else { break };
                ("pay", json!({"bolt11": bolt11}))
            }
            None => (
                "keysend",
                json!({"destination": keysend.0, "amount_msat": keysend.1}),
            ),
        };
        let t = Instant::now();
        let reply = rpc.call(method, params).await?;
        s.latencies.push(t.elapsed());
        if reply.is_err() {
            s.errors += 1;
        }
    }
    Ok(s)
}

/// Two fresh boltds with a channel a → b, usable.
struct Pair {
    a: Daemon,
    b: Daemon,
    b_id: String,
}

impl Pair {
    async fn open(bin: &Path, opts: &[String], dc: &devchain::DevChain) -> anyhow::Result<Pair> {
        let a = Daemon::start(bin, opts).await?;
        let b = Daemon::start(bin, opts).await?;
        let addr = call(&a.socket, "newaddr", json!({})).await?["bech32"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        dc.fund(&addr, bitcoin::Amount::from_sat(CHANNEL_SAT + 100_000))?;
        dc.mine(1)?;
        let deadline = Instant::now() + Duration::from_secs(120);
        while call(&a.socket, "listfunds", json!({})).await?["outputs"]
            .as_array()
            .is_none_or(|o| !o.iter().any(|o| o["status"] == "confirmed"))
        {
            if Instant::now() > deadline {
                bail!("funds never confirmed");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let b_id = connect(&a.socket, &b.socket).await?;
        call(
            &a.socket,
            "fundchannel",
            json!({"id": b_id, "amount": CHANNEL_SAT, "feerate": "1000perkw"}),
        )
        .await?;
        dc.mine(6)?;
        wait_usable(&a.socket, &b_id).await?;
        Ok(Pair { a, b, b_id })
    }

    async fn stop(self) {
        self.a.stop().await;
        self.b.stop().await;
    }
}

pub async fn run(args: &Args) -> anyhow::Result<Table> {
    let bin = args.boltd.clone().unwrap_or_else(default_binary);
    let repo = find_repo(args.repo.as_ref());
    let bins = bin
        .parent()
        .map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.to_path_buf()))
        .unwrap_or_default();
    if !bins.join("cln-payhook").exists() {
        bail!(
            "{} missing: build crates/test-plugins (cargo build -p test-plugins)",
            bins.join("cln-payhook").display()
        );
    }
    let kit = tempfile::Builder::new()
        .prefix("bench-payhooks-")
        .tempdir()?;
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
    let Pair { a, b, b_id } = Pair::open(&bin, &opts, &dc).await?;
    let mut table = Table::latency();
    for &n in &[1usize, 8] {
        let pool = pool(&b.socket, args, n, &format!("c{n}")).await?;
        let socket = a.socket.clone();
        let before = b.cost();
        let ks = (b_id.clone(), args.amount_msat);
        let mut s = drive(n, args.seconds, move |_, deadline| {
            pay_worker(socket.clone(), Some(pool.clone()), ks.clone(), deadline)
        })
        .await?;
        s.cost = Some(b.cost() - before);
        table.latency_row("pay, no plugin", n, &s);
    }
    let socket = a.socket.clone();
    let before = b.cost();
    let ks = (b_id.clone(), args.amount_msat);
    let mut s = drive(1, args.seconds, move |_, deadline| {
        pay_worker(socket.clone(), None, ks.clone(), deadline)
    })
    .await?;
    s.cost = Some(b.cost() - before);
    table.latency_row("keysend, no plugin", 1, &s);
    a.stop().await;
    b.stop().await;
    if args.no_hooks {
        return Ok(table);
    }

    let hooks: [(&str, Hook); 4] = [
        (
            "invoice_payment pyln",
            Hook::Pyln("invoice_payment_hook.py"),
        ),
        ("invoice_payment cln-plugin", Hook::Cln("invoice_payment")),
        ("htlc_accepted pyln", Hook::Pyln("htlc_accepted_hook.py")),
        ("htlc_accepted cln-plugin", Hook::Cln("htlc_accepted")),
    ];
    for (label, hook) in &hooks {
        let plugin = launcher(kit.path(), &repo, &bins, hook)?;
        let nodes = Pair::open(&bin, &opts, &dc).await?;
        let p = paired(args, &nodes.a.socket, &nodes.b, &plugin, label).await?;
        nodes.stop().await;
        table.latency_row(&format!("pay, {label} (paired)"), 1, &p.with);
        table.latency_row(
            &format!("pay, no plugin (paired with {label})"),
            1,
            &p.without,
        );
        table.row(vec![
            format!("{label}: added p50 (median of rounds' paired minus without)"),
            "1".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            signed_us(p.added_p50_us),
            "-".into(),
        ]);
        table.row(vec![
            format!("{label}: added p50 (pooled paired minus without)"),
            "1".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            signed_latency(p.with.p50, p.without.p50),
            "-".into(),
        ]);
    }
    Ok(table)
}
