//! `bench plugins`: the plugin host end to end, each row on a throw-away boltd.
//!
//! * passthrough: calls/s to `clnmin` (cln-plugin, returns `{}`) and `hello` (pyln-client),
//!   at each `--conns`; then the plugin-only floor (the same `clnmin` called straight over
//!   the plugin's stdin/stdout, no daemon) and the daemon's share of one call's p50
//!   (passthrough p50 at 1 connection minus the floor's p50, the two measured in
//!   alternating slices so that both see the same machine load); and the floor with as many
//!   calls in flight as each `--conns` above 1 (the plugin's own ceiling at that
//!   concurrency);
//! * hook: `getinfo` calls/s through an `rpc_command` chain of 1 and 5 cln-plugin hooks
//!   (copies of `cln-hook`), next to the same call with no hook;
//! * notify: one plugin emits a burst of custom notifications, 10 plugins subscribe;
//!   delivered events/s over all subscribers, deliveries lost (must be 0), and the rate the
//!   emitter got its burst out at (it is slowed while a subscriber's queue is full);
//! * startup: time until the socket answers `getinfo` with 0 and 20 plugins.

use super::drive;
use crate::client::RpcClient;
use crate::daemon::{default_binary, Daemon};
use crate::procstat::ProcStat;
use crate::stats::{fmt_latency, Samples, Summary, Table};
use anyhow::Context;
use futures::{SinkExt, StreamExt};
use jsonrpc::JsonCodec;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_util::codec::{FramedRead, FramedWrite};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The boltd binary [default: $BOLTD_BIN, else next to this executable].
    #[arg(long)]
    pub boltd: Option<PathBuf>,
    /// Seconds per throughput row.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Concurrent connections for the throughput rows.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pub conns: Vec<usize>,
    /// Notifications per subscriber in the fan-out row.
    #[arg(long, default_value_t = 20000)]
    pub events: usize,
    /// The repository (for `tests/plugins` and `.venv`) [default: found from the cwd].
    #[arg(long)]
    pub repo: Option<PathBuf>,
    /// Only these parts (passthrough, hooks, fanout, startup) [default: all].
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

fn find_repo(given: Option<&PathBuf>) -> PathBuf {
    if let Some(r) = given {
        return r.clone();
    }
    let mut dir = std::env::current_dir().unwrap_or_default();
    loop {
        if dir.join("tests/plugins/raw_plugin.py").exists() {
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

/// Plugin wrappers in one temp dir: python scripts run with the repo's venv.
struct Kit {
    dir: tempfile::TempDir,
    repo: PathBuf,
    bins: PathBuf,
}

impl Kit {
    fn python(&self) -> PathBuf {
        let v = self.repo.join(".venv/bin/python3");
        if v.exists() {
            v
        } else {
            "python3".into()
        }
    }
    fn py(&self, name: &str, script: &str) -> anyhow::Result<PathBuf> {
        let p = self.dir.path().join(name);
        let script = self.repo.join("tests/plugins").join(script);
        write_exec(
            &p,
            &format!(
                "#!/bin/sh\nexec {} {} \"$@\"\n",
                self.python().display(),
                script.display()
            ),
        )?;
        Ok(p)
    }
    fn raw(&self, name: &str, spec: Value) -> anyhow::Result<PathBuf> {
        let spec_path = self.dir.path().join(format!("{name}.json"));
        std::fs::write(&spec_path, spec.to_string())?;
        let p = self.dir.path().join(name);
        let script = self.repo.join("tests/plugins/raw_plugin.py");
        write_exec(
            &p,
            &format!(
                "#!/bin/sh\nRAW_SPEC={} exec {} {} \"$@\"\n",
                spec_path.display(),
                self.python().display(),
                script.display()
            ),
        )?;
        Ok(p)
    }
    /// A copy of a cln-plugin binary under another name (chains need distinct plugins).
    fn cln_copy(&self, bin: &str, name: &str) -> anyhow::Result<PathBuf> {
        let src = self.bins.join(bin);
        let p = self.dir.path().join(name);
        std::os::unix::fs::symlink(&src, &p)
            .with_context(|| format!("linking {}", src.display()))?;
        Ok(p)
    }
}

fn plugin_args(ps: &[PathBuf]) -> Vec<String> {
    ps.iter()
        .map(|p| format!("--plugin={}", p.display()))
        .collect()
}

async fn call_worker(
    socket: PathBuf,
    method: &'static str,
    params: Value,
    n: usize,
    deadline: Instant,
) -> anyhow::Result<Samples> {
    let mut rpc = RpcClient::connect(&socket, &format!("bench-plugins-{n}")).await?;
    let mut s = Samples::default();
    while Instant::now() < deadline {
        let t = Instant::now();
        let reply = rpc.call(method, params.clone()).await?;
        s.latencies.push(t.elapsed());
        if reply.is_err() {
            s.errors += 1;
        }
    }
    Ok(s)
}

async fn calls(
    table: &mut Table,
    args: &Args,
    d: &Daemon,
    label: &str,
    method: &'static str,
    params: Value,
) -> anyhow::Result<Vec<(usize, Summary)>> {
    let mut out = vec![];
    for &conns in &args.conns {
        let socket = d.socket.clone();
        let p = params.clone();
        let before = d.cost();
        let mut s = drive(conns.max(1), args.seconds, move |n, deadline| {
            call_worker(socket.clone(), method, p.clone(), n, deadline)
        })
        .await?;
        s.cost = Some(d.cost() - before);
        table.latency_row(label, conns.max(1), &s);
        out.push((conns.max(1), s));
    }
    Ok(out)
}

/// One request/response with a plugin over its stdio, skipping anything else it writes.
async fn stdio_call<W, R>(
    w: &mut FramedWrite<W, JsonCodec>,
    r: &mut FramedRead<R, JsonCodec>,
    id: u64,
    method: &str,
    params: Value,
) -> anyhow::Result<Value>
where
    W: tokio::io::AsyncWrite + Unpin,
    R: tokio::io::AsyncRead + Unpin,
{
    let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    w.send(&req).await?;
    loop {
        let frame = r.next().await.context("plugin closed stdout")??;
        let v: Value = serde_json::from_slice(&frame)?;
        if v.get("id") == Some(&json!(id)) {
            return Ok(v);
        }
    }
}

/// cln-hello driven straight over its stdin/stdout, no daemon: what a call costs the
/// plugin alone.
struct Floor {
    child: tokio::process::Child,
    w: FramedWrite<tokio::process::ChildStdin, JsonCodec>,
    r: FramedRead<tokio::process::ChildStdout, JsonCodec>,
    id: u64,
}

impl Floor {
    async fn start(kit: &Kit) -> anyhow::Result<Floor> {
        let mut child = tokio::process::Command::new(kit.bins.join("cln-hello"))
            .current_dir(kit.dir.path())
            .env("LIGHTNINGD_PLUGIN", "1")
            .env("LIGHTNINGD_VERSION", "v26.06")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("spawning cln-hello")?;
        let mut w = FramedWrite::new(child.stdin.take().context("stdin")?, JsonCodec::default());
        let mut r = FramedRead::new(
            child.stdout.take().context("stdout")?,
            JsonCodec::new(1 << 20),
        );
        stdio_call(
            &mut w,
            &mut r,
            1,
            "getmanifest",
            json!({"allow-deprecated-apis": false}),
        )
        .await?;
        let config = json!({"lightning-dir": kit.dir.path(), "rpc-file": "lightning-rpc",
                            "startup": true, "network": "regtest", "feature_set": {}});
        stdio_call(
            &mut w,
            &mut r,
            2,
            "init",
            json!({"options": {}, "configuration": config}),
        )
        .await?;
        Ok(Floor { child, w, r, id: 3 })
    }

    /// `clnmin` one call at a time until `deadline`.
    async fn calls(&mut self, deadline: Instant) -> anyhow::Result<Samples> {
        let mut s = Samples::default();
        while Instant::now() < deadline {
            let t = Instant::now();
            let v = stdio_call(&mut self.w, &mut self.r, self.id, "clnmin", json!({})).await?;
            s.latencies.push(t.elapsed());
            if v.get("result").is_none() {
                s.errors += 1;
            }
            self.id += 1;
        }
        Ok(s)
    }
}

impl Floor {
    /// `clnmin` with `depth` calls in flight until `deadline`: what `depth` connections ask
    /// of the plugin, without the daemon (the most passthrough at that concurrency can get
    /// from this plugin on this machine).
    async fn pipelined(&mut self, depth: usize, deadline: Instant) -> anyhow::Result<Samples> {
        let mut s = Samples::default();
        let mut sent: HashMap<u64, Instant> = HashMap::new();
        while sent.len() < depth.max(1) {
            self.send(&mut sent).await?;
        }
        while !sent.is_empty() {
            let frame = self.r.next().await.context("plugin closed stdout")??;
            let v: Value = serde_json::from_slice(&frame)?;
            let Some(t) = v
                .get("id")
                .and_then(Value::as_u64)
                .and_then(|id| sent.remove(&id))
            else {
                continue;
            };
            s.latencies.push(t.elapsed());
            if v.get("result").is_none() {
                s.errors += 1;
            }
            if Instant::now() < deadline {
                self.send(&mut sent).await?;
            }
        }
        Ok(s)
    }

    async fn send(&mut self, sent: &mut HashMap<u64, Instant>) -> anyhow::Result<()> {
        let req = json!({"jsonrpc": "2.0", "id": self.id, "method": "clnmin", "params": {}});
        sent.insert(self.id, Instant::now());
        self.id += 1;
        self.w.send(&req).await?;
        Ok(())
    }

    fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Rounds the floor and the passthrough it is subtracted from alternate in: on a shared
/// machine the load moves within seconds, and two rows measured one after the other
/// compared two different machines (the share swung from 0 to 75 µs between runs).
const PAIRED_ROUNDS: u32 = 10;

/// The 1-connection passthrough and the floor, measured in alternating slices of
/// `--seconds / PAIRED_ROUNDS` each (so both see the same load).
async fn paired(args: &Args, d: &Daemon, kit: &Kit) -> anyhow::Result<(Summary, Summary)> {
    let mut floor = Floor::start(kit).await?;
    let mut rpc = RpcClient::connect(&d.socket, "bench-plugins-paired").await?;
    let slice = Duration::from_secs_f64(args.seconds / f64::from(PAIRED_ROUNDS));
    let (mut through, mut alone) = (Samples::default(), Samples::default());
    let (mut t_through, mut t_alone) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..PAIRED_ROUNDS {
        let t = Instant::now();
        while t.elapsed() < slice {
            let c = Instant::now();
            let reply = rpc.call("clnmin", json!({})).await?;
            through.latencies.push(c.elapsed());
            if reply.is_err() {
                through.errors += 1;
            }
        }
        t_through += t.elapsed();
        let t = Instant::now();
        alone.merge(floor.calls(t + slice).await?);
        t_alone += t.elapsed();
    }
    Ok((
        Summary::new(through, t_through),
        Summary::new(alone, t_alone),
    ))
}

async fn passthrough(table: &mut Table, args: &Args, bin: &Path, kit: &Kit) -> anyhow::Result<()> {
    let ps = vec![
        kit.bins.join("cln-hello"),
        kit.py("pyln_hello", "pyln_hello.py")?,
    ];
    let d = Daemon::start(bin, &plugin_args(&ps)).await?;
    calls(
        table,
        args,
        &d,
        "passthrough clnmin (cln-plugin)",
        "clnmin",
        json!({}),
    )
    .await?;
    calls(
        table,
        args,
        &d,
        "passthrough hello (pyln)",
        "hello",
        json!(["x"]),
    )
    .await?;
    let (through1, floor) = paired(args, &d, kit).await?;
    d.stop().await;
    table.latency_row("clnmin passthrough, paired with the floor", 1, &through1);
    table.latency_row("clnmin over stdio, no daemon (floor), paired", 1, &floor);
    table.row(vec![
        "daemon's share of passthrough p50 (paired minus floor)".into(),
        "1".into(),
        "-".into(),
        "-".into(),
        "-".into(),
        fmt_latency(through1.p50.saturating_sub(floor.p50)),
        "-".into(),
    ]);
    for &depth in args.conns.iter().filter(|c| **c > 1) {
        let mut floor = Floor::start(kit).await?;
        let before = floor.pid().map(ProcStat::of);
        let t = Instant::now();
        let samples = floor.pipelined(depth, t + secs(args.seconds)).await?;
        let s = Summary::new(samples, t.elapsed());
        let plugin = match (floor.pid(), before) {
            (Some(pid), Some(b)) => (ProcStat::of(pid) - b).per_call(s.calls).0,
            _ => "-".into(),
        };
        table.row(vec![
            "clnmin over stdio, no daemon (floor), calls in flight".into(),
            depth.to_string(),
            s.calls.to_string(),
            s.errors.to_string(),
            format!("{:.0}", s.per_sec),
            fmt_latency(s.p50),
            fmt_latency(s.p99),
            "-".into(),
            "-".into(),
            plugin,
        ]);
    }
    Ok(())
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

async fn hooks(table: &mut Table, args: &Args, bin: &Path, kit: &Kit) -> anyhow::Result<()> {
    for n in [0usize, 1, 5] {
        let ps = (0..n)
            .map(|i| kit.cln_copy("cln-hook", &format!("hook{n}-{i}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let d = Daemon::start(bin, &plugin_args(&ps)).await?;
        let label = format!("getinfo via rpc_command chain of {n}");
        let label: &'static str = Box::leak(label.into_boxed_str());
        calls(table, args, &d, label, "getinfo", json!([])).await?;
        d.stop().await;
    }
    Ok(())
}

async fn count(rpc: &mut RpcClient, method: &'static str) -> anyhow::Result<u64> {
    let r = rpc.call(method, json!({})).await?;
    Ok(r.ok().and_then(|v| v["count"].as_u64()).unwrap_or(0))
}

async fn fanout(table: &mut Table, args: &Args, bin: &Path, kit: &Kit) -> anyhow::Result<()> {
    let topic = "bench_event";
    let emitter = kit.raw(
        "emitter",
        json!({"manifest": {"options": [], "rpcmethods": [{"name": "burst", "usage": "n"}],
                            "notifications": [{"method": topic}]},
               "methods": {"burst": {"burst": {"topic": topic, "n": args.events}}}}),
    )?;
    let mut ps = vec![emitter];
    let mut methods = vec![];
    for i in 0..10 {
        let m: &'static str = Box::leak(format!("count{i}").into_boxed_str());
        methods.push(m);
        ps.push(kit.raw(
            &format!("sub{i}"),
            json!({"manifest": {"options": [], "rpcmethods": [{"name": m, "usage": ""}],
                                "subscriptions": [topic]},
                   "count_topic": topic, "methods": {m: "count"}}),
        )?);
    }
    let d = Daemon::start(bin, &plugin_args(&ps)).await?;
    let (idle_kb, _) = crate::procstat::rss_kb(d.pid());
    let mut rpc = RpcClient::connect(&d.socket, "bench-fanout").await?;
    let t = Instant::now();
    if let Err(e) = rpc.call("burst", json!({"n": args.events})).await? {
        anyhow::bail!("burst failed: {e}");
    }
    // The reply is read after every notification before it was relayed.
    let emitted_in = t.elapsed().max(Duration::from_millis(1));
    // Delivered = what every subscriber counted once the counts stop growing.
    let mut last = 0u64;
    let mut stable_since = Instant::now();
    let mut done_at = Instant::now();
    loop {
        let mut total = 0;
        for m in &methods {
            total += count(&mut rpc, m).await?;
        }
        if total != last {
            last = total;
            stable_since = Instant::now();
            done_at = Instant::now();
        }
        let expected = (args.events * methods.len()) as u64;
        if total >= expected || stable_since.elapsed() > Duration::from_secs(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = done_at.duration_since(t).max(Duration::from_millis(1));
    let expected = (args.events * methods.len()) as u64;
    table.row(vec![
        format!("notify fan-out to {} subscribers", methods.len()),
        "-".into(),
        last.to_string(),
        expected.saturating_sub(last).to_string(),
        format!("{:.0}", last as f64 / elapsed.as_secs_f64()),
        fmt_latency(elapsed),
        "-".into(),
    ]);
    table.row(vec![
        "notify emitter's burst (events/s emitted)".into(),
        "-".into(),
        args.events.to_string(),
        "-".into(),
        format!("{:.0}", args.events as f64 / emitted_in.as_secs_f64()),
        fmt_latency(emitted_in),
        "-".into(),
    ]);
    // What the burst left resident once the daemon had time to give memory back (it
    // trims the heap every 5 s).
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (after_kb, peak_kb) = crate::procstat::rss_kb(d.pid());
    table.row(vec![
        "daemon RSS in fan-out: idle / peak / 6 s after".into(),
        "-".into(),
        format!(
            "{} / {} / {}",
            crate::procstat::fmt_kb(idle_kb),
            crate::procstat::fmt_kb(peak_kb),
            crate::procstat::fmt_kb(after_kb)
        ),
    ]);
    d.stop().await;
    Ok(())
}

async fn startup(table: &mut Table, bin: &Path, kit: &Kit) -> anyhow::Result<()> {
    let cln: Vec<PathBuf> = (0..20)
        .map(|i| kit.cln_copy("cln-hook", &format!("start-cln-{i}")))
        .collect::<anyhow::Result<_>>()?;
    let pyln: Vec<PathBuf> = (0..20)
        .map(|i| {
            kit.raw(
                &format!("start-raw-{i}"),
                json!({"manifest": {"options": [], "rpcmethods": []}}),
            )
        })
        .collect::<anyhow::Result<_>>()?;
    for (label, ps) in [
        ("start-up, no plugins", vec![]),
        ("start-up, 20 cln-plugin plugins", cln),
        ("start-up, 20 python plugins", pyln),
    ] {
        let t = Instant::now();
        let d = Daemon::start(bin, &plugin_args(&ps)).await?;
        let took = t.elapsed();
        d.stop().await;
        table.row(vec![
            label.to_string(),
            "-".into(),
            "1".into(),
            "0".into(),
            "-".into(),
            fmt_latency(took),
            "-".into(),
        ]);
    }
    Ok(())
}

pub async fn run(args: &Args) -> anyhow::Result<Table> {
    let bin = args.boltd.clone().unwrap_or_else(default_binary);
    let repo = find_repo(args.repo.as_ref());
    // Absolute: plugins are spawned with the kit's directory as their cwd.
    let bins = bin
        .parent()
        .map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.to_path_buf()))
        .unwrap_or_default();
    for needed in ["cln-hello", "cln-hook"] {
        if !bins.join(needed).exists() {
            anyhow::bail!(
                "{} missing: build crates/test-plugins (cargo build -p test-plugins)",
                bins.join(needed).display()
            );
        }
    }
    let kit = Kit {
        dir: tempfile::Builder::new()
            .prefix("bench-plugins-")
            .tempdir()?,
        repo,
        bins,
    };
    let mut table = Table::latency();
    let part = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    if part("passthrough") {
        passthrough(&mut table, args, &bin, &kit).await?;
    }
    if part("hooks") {
        hooks(&mut table, args, &bin, &kit).await?;
    }
    if part("fanout") {
        fanout(&mut table, args, &bin, &kit).await?;
    }
    if part("startup") {
        startup(&mut table, &bin, &kit).await?;
    }
    Ok(table)
}
