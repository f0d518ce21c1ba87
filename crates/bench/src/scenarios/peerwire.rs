//! `bench peerwire`: the raw peer-layer ceiling. Two in-process `net` nodes on loopback
//! (real BOLT 8 through LDK, no RPC, no plugins); A sends custom messages to B as fast as a
//! window of unacknowledged messages allows. Latency is one-way (same clock: the send time
//! travels inside the message).

use crate::stats::{fmt_latency, Samples, Summary, Table};
use net::{Handlers, PeerConfig, PeerEvent, PeerNode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Seconds per row.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Message sizes in bytes (type included), one row each.
    #[arg(long, value_delimiter = ',', default_value = "16,1024")]
    pub sizes: Vec<usize>,
    /// Messages in flight (sent, not yet seen by B).
    #[arg(long, default_value_t = 512)]
    pub window: usize,
}

const TYPE: [u8; 2] = [0x77, 0x77];

struct Receiver {
    base: Instant,
    received: AtomicU64,
    latencies: Mutex<Vec<Duration>>,
    window: Semaphore,
}

pub async fn run(args: &Args) -> anyhow::Result<Table> {
    let start = |n: u8| {
        let cfg = PeerConfig {
            listen: vec!["127.0.0.1:0".parse().expect("loopback")],
            auto_accept: true,
            ..PeerConfig::default()
        };
        // No ticks: a short benchmark needs no pings.
        let keys = keys::Keys::from_secret([n; 32]);
        PeerNode::start(cfg, keys.manager(), Handlers::without_channels())
    };
    let (a, _a_events) = start(0xa1).await?;
    let (b, mut b_events) = start(0xb2).await?;
    a.connect(b.node_id(), b.bound_addrs()[0]).await?;

    let rx = Arc::new(Receiver {
        base: Instant::now(),
        received: AtomicU64::new(0),
        latencies: Mutex::new(Vec::new()),
        window: Semaphore::new(0),
    });
    let r = rx.clone();
    tokio::spawn(async move {
        while let Some(ev) = b_events.recv().await {
            if let PeerEvent::CustomMessage { payload, .. } = ev {
                if let Some(sent) = payload.get(2..10) {
                    let sent = u64::from_be_bytes(sent.try_into().unwrap_or([0; 8]));
                    let now = r.base.elapsed().as_nanos() as u64;
                    if let Ok(mut l) = r.latencies.lock() {
                        l.push(Duration::from_nanos(now.saturating_sub(sent)));
                    }
                }
                r.received.fetch_add(1, Ordering::AcqRel);
                r.window.add_permits(1);
            }
        }
    });

    let mut table = Table::new(&["scenario", "size", "msgs", "msgs/s", "MB/s", "p50", "p99"]);
    let bid = b.node_id();
    for &size in &args.sizes {
        let size = size.clamp(10, net::MAX_MESSAGE_LEN);
        rx.received.store(0, Ordering::Release);
        if let Ok(mut l) = rx.latencies.lock() {
            l.clear();
        }
        rx.window.add_permits(args.window.max(1));
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs_f64(args.seconds);
        let mut sent = 0u64;
        let mut msg = vec![0u8; size];
        msg[..2].copy_from_slice(&TYPE);
        while Instant::now() < deadline {
            let permit = rx.window.acquire().await?;
            permit.forget();
            let now = rx.base.elapsed().as_nanos() as u64;
            msg[2..10].copy_from_slice(&now.to_be_bytes());
            a.send_custom(&bid, &msg).await?;
            sent += 1;
        }
        // Let the tail arrive, then take the window back for the next row.
        let wait_until = Instant::now() + Duration::from_secs(10);
        while rx.received.load(Ordering::Acquire) < sent && Instant::now() < wait_until {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let elapsed = t0.elapsed();
        rx.window
            .acquire_many(args.window.max(1) as u32)
            .await?
            .forget();
        let lat = rx.latencies.lock().map(|l| l.clone()).unwrap_or_default();
        let got = rx.received.load(Ordering::Acquire);
        let s = Summary::new(
            Samples {
                latencies: lat,
                errors: sent.saturating_sub(got),
            },
            elapsed,
        );
        let mbps = s.per_sec * size as f64 / 1e6;
        table.row(vec![
            "peerwire a->b".into(),
            size.to_string(),
            s.calls.to_string(),
            format!("{:.0}", s.per_sec),
            format!("{mbps:.1}"),
            fmt_latency(s.p50),
            fmt_latency(s.p99),
        ]);
    }
    a.shutdown();
    b.shutdown();
    Ok(table)
}
