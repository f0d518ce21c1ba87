//! `bench datastore`: datastore writes/s and latency on a throw-away boltd, without a
//! `db_write` plugin and with one (a minimal pyln-client plugin, a minimal cln-plugin
//! plugin, and the replaying pyln backup plugin), plus the latency each adds per write.
//!
//! Every write is one `datastore` call (`create-or-replace`, 32 bytes) over a persistent
//! connection; each commits one transaction, so each waits for every `db_write` plugin.

use super::drive;
use crate::client::RpcClient;
use crate::daemon::{default_binary, Daemon};
use crate::stats::{fmt_latency, Samples, Summary, Table};
use anyhow::Context;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The boltd binary [default: $BOLTD_BIN, else next to this executable].
    #[arg(long)]
    pub boltd: Option<PathBuf>,
    /// Seconds per row.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Concurrent connections, one row each per setup.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pub conns: Vec<usize>,
    /// The repository (for `tests/plugins/*.py` and `.venv`) [default: found from the
    /// current directory].
    #[arg(long)]
    pub repo: Option<PathBuf>,
    /// The cln-plugin db_write plugin [default: `cln-dbwrite` next to the boltd binary].
    #[arg(long)]
    pub cln_plugin: Option<PathBuf>,
    /// Where the databases go [default: the system temp dir]. Pointing it at a tmpfs
    /// (`/dev/shm`) takes fsync out of the figures, leaving the hook's own cost.
    #[arg(long)]
    pub db_dir: Option<PathBuf>,
}

/// One way of running the daemon: a label and its `--plugin`.
struct Setup {
    label: &'static str,
    plugin: Option<PathBuf>,
    /// cln-plugin exits on a db_write before `init`, so its database is created (and
    /// migrated) by a plugin-less run first.
    premigrate: bool,
}

fn find_repo(given: Option<&PathBuf>) -> PathBuf {
    if let Some(r) = given {
        return r.clone();
    }
    let mut dir = std::env::current_dir().unwrap_or_default();
    loop {
        if dir.join("tests/plugins/backup_noop.py").exists() {
            return dir;
        }
        if !dir.pop() {
            return PathBuf::from(".");
        }
    }
}

async fn worker(socket: PathBuf, n: usize, deadline: Instant) -> anyhow::Result<Samples> {
    let mut rpc = RpcClient::connect(&socket, &format!("bench-datastore-{n}")).await?;
    let mut s = Samples::default();
    let mut i = 0u64;
    while Instant::now() < deadline {
        let params = json!({
            "key": ["bench", n.to_string(), (i % 1000).to_string()],
            "hex": format!("{:064x}", i),
            "mode": "create-or-replace",
        });
        let t = Instant::now();
        let reply = rpc.call("datastore", params).await?;
        s.latencies.push(t.elapsed());
        if reply.is_err() {
            s.errors += 1;
        }
        i += 1;
    }
    Ok(s)
}

async fn start(bin: &Path, setup: &Setup, wallet_dir: &Path) -> anyhow::Result<Daemon> {
    let wallet = wallet_dir.join(format!("{}.sqlite3", setup.label.replace(' ', "-")));
    let mut extra = vec![format!("--wallet=sqlite3://{}", wallet.display())];
    // The same node restarted (its keys must match the wallet in the database).
    let dir = if setup.premigrate {
        Some(Daemon::start(bin, &extra).await?.stop_keeping_dir().await)
    } else {
        None
    };
    if let Some(p) = &setup.plugin {
        extra.push(format!("--plugin={}", p.display()));
    }
    let started = match dir {
        Some(dir) => Daemon::start_in(dir, bin, &extra).await,
        None => Daemon::start(bin, &extra).await,
    };
    started.with_context(|| format!("starting boltd for '{}'", setup.label))
}

pub async fn run(args: &Args) -> anyhow::Result<Table> {
    let bin = args.boltd.clone().unwrap_or_else(default_binary);
    let repo = find_repo(args.repo.as_ref());
    // pyln plugins start with `#!/usr/bin/env python3`: prefer the repo's virtualenv.
    let venv_bin = repo.join(".venv/bin");
    if venv_bin.exists() {
        let path = std::env::var("PATH").unwrap_or_default();
        std::env::set_var("PATH", format!("{}:{path}", venv_bin.display()));
    }
    let cln = args.cln_plugin.clone().unwrap_or_else(|| {
        bin.parent()
            .map(|d| d.join("cln-dbwrite"))
            .unwrap_or_default()
    });
    let setups = [
        Setup {
            label: "no db_write plugin",
            plugin: None,
            premigrate: false,
        },
        Setup {
            label: "pyln db_write (continue)",
            plugin: Some(repo.join("tests/plugins/backup_noop.py")),
            premigrate: false,
        },
        Setup {
            label: "cln-plugin db_write (continue)",
            plugin: Some(cln),
            premigrate: true,
        },
        Setup {
            label: "pyln backup (replays)",
            plugin: Some(repo.join("tests/plugins/backup.py")),
            premigrate: false,
        },
    ];
    let mut wallets = tempfile::Builder::new();
    wallets.prefix("bench-wallets-");
    let wallets = match &args.db_dir {
        Some(d) => wallets.tempdir_in(d)?,
        None => wallets.tempdir()?,
    };
    println!("# databases in {}", wallets.path().display());
    let mut table = Table::new(&[
        "scenario",
        "conns",
        "calls",
        "errors",
        "writes/s",
        "p50",
        "p99",
        "added p50",
    ]);
    let mut baseline: Vec<(usize, Duration)> = vec![];
    for setup in &setups {
        if let Some(p) = &setup.plugin {
            if !p.exists() {
                table.row(vec![format!(
                    "{} (skipped: {} missing)",
                    setup.label,
                    p.display()
                )]);
                continue;
            }
        }
        let d = start(&bin, setup, wallets.path()).await?;
        // Warm-up (plugin start, page cache), not measured.
        let socket = d.socket.clone();
        drive(1, 0.3, move |n, deadline| {
            worker(socket.clone(), n, deadline)
        })
        .await?;
        for &conns in &args.conns {
            let socket = d.socket.clone();
            let s: Summary = drive(conns.max(1), args.seconds, move |n, deadline| {
                worker(socket.clone(), n, deadline)
            })
            .await?;
            let added = match baseline.iter().find(|(c, _)| *c == conns) {
                Some((_, base)) if setup.plugin.is_some() => {
                    format!("+{}", fmt_latency(s.p50.saturating_sub(*base)))
                }
                _ => {
                    baseline.push((conns, s.p50));
                    "-".into()
                }
            };
            table.row(vec![
                format!("datastore, {}", setup.label),
                conns.to_string(),
                s.calls.to_string(),
                s.errors.to_string(),
                format!("{:.0}", s.per_sec),
                fmt_latency(s.p50),
                fmt_latency(s.p99),
                added,
            ]);
        }
        d.stop().await;
    }
    Ok(table)
}
