//! `soak`: run two boltd nodes under faults for a bounded time, then check them.
//! See the README section "Fault soak" and the `soak` crate docs.

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::json;
use soak::checks;
use soak::faults;
use soak::node::Node;
use soak::tally::Tally;
use soak::writes;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    about = "Fault soak for boltd: plugin churn, malformed RPC, custom-message floods, garbage peers, db_write backup; then survival/leak/durability checks"
)]
struct Args {
    /// How long to inject faults, in minutes (fractions allowed).
    #[arg(long, default_value_t = 5.0)]
    minutes: f64,
    /// How long to inject faults, in seconds (overrides --minutes).
    #[arg(long)]
    seconds: Option<f64>,
    /// The boltd binary (default: $BOLTD_BIN, else `boltd` next to this executable).
    #[arg(long)]
    boltd: Option<PathBuf>,
    /// Directory holding the cln-plugin test binaries (default: next to this executable).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// The repository (for tests/plugins/*.py and .venv; default: found above this
    /// executable or the current directory).
    #[arg(long)]
    repo: Option<PathBuf>,
    /// Random seed (default: from the clock); printed so a run can be repeated.
    #[arg(long)]
    seed: Option<u64>,
    /// Where the nodes' lightning-dirs go (default: a temporary directory, kept only if a
    /// check fails).
    #[arg(long)]
    dir: Option<PathBuf>,
}

fn find_repo(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(r) = explicit {
        return Ok(r);
    }
    let mut starts = vec![std::env::current_dir()?];
    if let Ok(exe) = std::env::current_exe() {
        starts.push(exe);
    }
    for s in starts {
        for a in s.ancestors() {
            if a.join("tests/plugins/backup.py").is_file() {
                return Ok(a.to_path_buf());
            }
        }
    }
    bail!("cannot find the repository (tests/plugins/backup.py); pass --repo")
}

fn main() -> Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let code = rt.block_on(run(args))?;
    std::process::exit(code)
}

async fn run(args: Args) -> Result<i32> {
    let secs = args.seconds.unwrap_or(args.minutes * 60.0);
    if !(secs.is_finite() && secs > 0.0 && secs <= 24.0 * 3600.0) {
        bail!("the duration must be between 0 and 24 hours");
    }
    let duration = Duration::from_secs_f64(secs);
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let exe_dir = std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let boltd = args
        .boltd
        .or_else(|| std::env::var_os("BOLTD_BIN").map(PathBuf::from))
        .unwrap_or_else(|| exe_dir.join("boltd"));
    let bin_dir = args.bin_dir.unwrap_or(exe_dir);
    let repo = find_repo(args.repo)?;
    let py = repo.join("tests/plugins");
    let need = |p: PathBuf| -> Result<PathBuf> {
        if p.is_file() {
            Ok(p)
        } else {
            bail!(
                "missing {} (build the workspace first: cargo build --workspace)",
                p.display()
            )
        }
    };
    let boltd = need(boltd)?;
    let static_plugins = vec![
        need(py.join("backup.py"))?,
        need(bin_dir.join("cln-custommsg"))?,
    ];
    let dynamic_plugins = vec![
        need(py.join("pyln_hello.py"))?,
        need(bin_dir.join("cln-hello"))?,
        need(bin_dir.join("cln-hook"))?,
    ];
    // Python plugins start with `#!/usr/bin/env python3`: put the venv (pyln-client) first.
    let path_env = format!(
        "{}:{}",
        repo.join(".venv/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (tmp, root) = match args.dir {
        Some(d) => (None, d),
        None => {
            let t = tempfile::Builder::new().prefix("boltd-soak-").tempdir()?;
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    println!(
        "soak: seed {seed}, {:.0}s of faults, nodes under {}",
        duration.as_secs_f64(),
        root.display()
    );

    let a = Arc::new(Node::start(&boltd, "a", &root.join("a"), &static_plugins, &path_env).await?);
    let b = Arc::new(Node::start(&boltd, "b", &root.join("b"), &static_plugins, &path_env).await?);
    match a
        .call("connect", json!([b.id, "127.0.0.1", b.port]))
        .await?
    {
        Ok(_) => {}
        Err(e) => bail!("a could not connect to b: {e}"),
    }
    // Warm up (first write, first custom message) so the baseline is not a cold start.
    for n in [&a, &b] {
        let _ = n
            .call("datastore", json!({"key": ["warmup"], "string": "x"}))
            .await;
    }
    let _ = a.call("sendcustommsg", json!([b.id, "7777"])).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let start_stats = [a.stats(), b.stats()];

    let tally = Tally::default();
    let deadline = Instant::now() + duration;
    let mut jobs = Vec::new();
    let mut writers = Vec::new();
    let mut floods = Vec::new();
    let mut healths = Vec::new();
    for (i, (n, other)) in [(&a, &b), (&b, &a)].into_iter().enumerate() {
        let s = seed.wrapping_add(i as u64 * 100);
        let (n2, t, dp) = (n.clone(), tally.clone(), dynamic_plugins.clone());
        jobs.push(tokio::spawn(async move {
            faults::plugin_churn(&n2, &dp, t, s + 1, deadline).await
        }));
        let (n2, t) = (n.clone(), tally.clone());
        jobs.push(tokio::spawn(async move {
            faults::malformed_rpc(&n2, t, s + 2, deadline).await
        }));
        let (n2, t) = (n.clone(), tally.clone());
        jobs.push(tokio::spawn(async move {
            faults::garbage_peers(&n2, t, s + 3, deadline).await
        }));
        for k in 0..2 {
            let (n2, o2, t) = (n.clone(), other.clone(), tally.clone());
            floods.push(tokio::spawn(async move {
                faults::custommsg_flood(&n2, &o2, t, s + 4 + k, deadline).await
            }));
        }
        let (n2, t) = (n.clone(), tally.clone());
        writers.push(tokio::spawn(async move {
            writes::run(&n2, t, s + 6, deadline).await
        }));
        let (n2, t) = (n.clone(), tally.clone());
        healths.push(tokio::spawn(async move {
            faults::health(&n2, t, deadline).await
        }));
    }
    // Progress while the faults run; the RSS peak of the first half is the plateau the
    // end is compared with (0: no sample, the run was too short for the trend check).
    let mut first_half_peak = [0u64; 2];
    // The first sample under load: the baseline of the absolute RSS check.
    let mut warm_rss = [0u64; 2];
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(Duration::from_secs(15).min(left)).await;
        // The RSS/fd curve tells a plateau (allocator) from a leak (steady growth).
        let (sa, sb) = (a.stats(), b.stats());
        if warm_rss[0] == 0 {
            warm_rss = [sa.rss_kb, sb.rss_kb];
        }
        // Only runs of 4 minutes and more: shorter ones end on the ramp to the plateau.
        if duration >= Duration::from_secs(240)
            && deadline.saturating_duration_since(Instant::now()) >= duration / 2
        {
            first_half_peak[0] = first_half_peak[0].max(sa.rss_kb);
            first_half_peak[1] = first_half_peak[1].max(sb.rss_kb);
        }
        println!(
            "soak: {:>5.0}s left, {} operations, {} failures; a: {} fds {} kB RSS; b: {} fds {} kB RSS",
            deadline.saturating_duration_since(Instant::now()).as_secs_f64(),
            tally.total_ops(),
            tally.failures().len(),
            sa.fds,
            sa.rss_kb,
            sb.fds,
            sb.rss_kb
        );
    }
    for j in jobs {
        let _ = j.await;
    }
    let mut sent = [0u64; 2];
    for (i, f) in floods.into_iter().enumerate() {
        sent[i / 2] += f.await.unwrap_or(0);
    }
    let mut records = Vec::new();
    for w in writers {
        records.push(w.await.context("writer task")?);
    }
    let mut worst = Vec::new();
    for h in healths {
        worst.push(h.await.unwrap_or_default());
    }

    // Settle: back to the start's plugin set (only the static ones), then measure.
    for n in [&a, &b] {
        for p in &dynamic_plugins {
            let _ = n
                .call("plugin", json!(["stop", p.display().to_string()]))
                .await;
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let end_stats = [a.stats(), b.stats()];

    let mut report = String::new();
    let mut received = [0u64; 2];
    for (i, n) in [&a, &b].into_iter().enumerate() {
        if let Some(status) = n.exited() {
            tally.fail(format!("{} is not running: {status}", n.name));
            continue;
        }
        let verified = checks::acknowledged_writes(n, &records[i], &tally).await;
        let rows = checks::backup_equals_live(n, "running", &tally);
        checks::no_leak(
            &n.name,
            &start_stats[i],
            &end_stats[i],
            warm_rss[i],
            first_half_peak[i],
            &tally,
        );
        if let Ok(Ok(v)) = n.call("cmsgstats", json!([])).await {
            received[i] = v["count"].as_u64().unwrap_or(0);
        }
        report.push_str(&format!(
            "{}: acknowledged writes verified {verified} (uncertain {}), datastore rows {rows}, slowest health getinfo {:?}\n",
            n.name,
            records[i].uncertain.len(),
            worst[i]
        ));
    }
    report.push_str(&format!(
        "custom messages: a->b acknowledged {} received {}; b->a acknowledged {} received {}\n",
        sent[0], received[1], sent[1], received[0]
    ));
    for (i, n) in [&a, &b].into_iter().enumerate() {
        let (s, e) = (start_stats[i], end_stats[i]);
        report.push_str(&format!(
            "{}: fds {} -> {} (tolerance +{}), RSS {} kB idle, {} kB under load -> {} kB (tolerance +{} kB; first-half peak {} kB, tolerance +{} kB), threads {} -> {}, children {} -> {}, zombies {}\n",
            n.name, s.fds, e.fds, checks::FD_TOLERANCE, s.rss_kb, warm_rss[i], e.rss_kb,
            checks::RSS_TOLERANCE_KB, first_half_peak[i], checks::RSS_TREND_TOLERANCE_KB,
            s.threads, e.threads, s.children, e.children, e.zombies
        ));
    }
    // A clean stop, then the copy once more (the WAL is folded in at shutdown).
    for n in [&a, &b] {
        match n.stop().await {
            Some(s) if s.success() => {}
            other => tally.fail(format!(
                "{}: stop did not end in a clean exit: {other:?}",
                n.name
            )),
        }
        checks::backup_equals_live(n, "stopped", &tally);
        checks::no_panic_logged(&n.name, &n.dir, &tally);
    }
    for (from, to, s, r) in [
        ("a", "b", sent[0], received[1]),
        ("b", "a", sent[1], received[0]),
    ] {
        if r != s {
            tally.note(format!(
                "{from}->{to}: {s} custom messages acknowledged, {r} reached the receiver's hook"
            ));
        }
    }

    println!("\n{}", tally.render());
    print!("{report}");
    let failures = tally.failures();
    if failures.is_empty() {
        println!("soak: PASS ({} operations, seed {seed})", tally.total_ops());
        Ok(0)
    } else {
        if let Some(t) = tmp {
            let kept = t.keep();
            println!("soak: lightning-dirs kept in {}", kept.display());
        }
        println!("soak: FAIL ({} failures, seed {seed})", failures.len());
        Ok(1)
    }
}
