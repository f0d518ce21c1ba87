//! Helpers shared by the peer-layer tests: in-process nodes on loopback and a byte-level TCP
//! proxy that can drop or corrupt traffic.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use net::{Handlers, PeerConfig, PeerEvent, PeerEvents, PeerNode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub fn seed(n: u32) -> [u8; 32] {
    let mut s = [0x42u8; 32];
    s[..4].copy_from_slice(&n.to_be_bytes());
    s
}

/// A node with the key from `seed(n)` and no channels; nothing ticks (see [`ticking`]).
pub async fn start(n: u32, cfg: PeerConfig) -> (PeerNode, PeerEvents) {
    let keys = keys::Keys::from_secret(seed(n));
    PeerNode::start(cfg, keys.manager(), Handlers::without_channels())
        .await
        .expect("start peer node")
}

pub async fn node_with(n: u32, f: impl FnOnce(&mut PeerConfig)) -> (PeerNode, PeerEvents) {
    let mut cfg = PeerConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        auto_accept: true,
        connect_timeout: Duration::from_secs(10),
        ..PeerConfig::default()
    };
    f(&mut cfg);
    start(n, cfg).await
}

/// The driver loop a daemon runs, at test speed: ticks `node` every `every` until the test
/// ends.
pub fn ticking(node: &PeerNode, every: Duration) {
    let node = node.clone();
    tokio::spawn(async move {
        let mut iv = tokio::time::interval(every);
        iv.tick().await;
        loop {
            iv.tick().await;
            node.timer_tick_occurred();
        }
    });
}

pub async fn node(n: u32) -> (PeerNode, PeerEvents) {
    node_with(n, |_| {}).await
}

pub fn addr(n: &PeerNode) -> SocketAddr {
    n.bound_addrs()[0]
}

/// Next event within `secs`, or panic naming what we waited for.
pub async fn next(ev: &mut PeerEvents, secs: u64, what: &str) -> PeerEvent {
    match tokio::time::timeout(Duration::from_secs(secs), ev.recv()).await {
        Ok(Some(e)) => e,
        Ok(None) => panic!("event stream closed while waiting for {what}"),
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Skips events until one matches.
pub async fn until<F: Fn(&PeerEvent) -> bool>(
    ev: &mut PeerEvents,
    secs: u64,
    what: &str,
    f: F,
) -> PeerEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, ev.recv()).await {
            Ok(Some(e)) if f(&e) => return e,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("event stream closed while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

/// Nothing but `f`-matching events must arrive for `ms`.
pub async fn quiet_for<F: Fn(&PeerEvent) -> bool>(ev: &mut PeerEvents, ms: u64, forbidden: F) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, ev.recv()).await {
            Ok(Some(e)) => assert!(!forbidden(&e), "unexpected event {e:?}"),
            _ => return,
        }
    }
}

/// Connects `a` to `b` and waits until both sides reported the connection.
pub async fn link(a: &PeerNode, ae: &mut PeerEvents, b: &PeerNode, be: &mut PeerEvents) {
    a.connect(b.node_id(), addr(b)).await.expect("connect");
    let bid = b.node_id();
    let aid = a.node_id();
    until(
        ae,
        10,
        "connected on a",
        |e| matches!(e, PeerEvent::Connected { id, .. } if *id == bid),
    )
    .await;
    until(
        be,
        10,
        "connected on b",
        |e| matches!(e, PeerEvent::Connected { id, .. } if *id == aid),
    )
    .await;
}

/// A one-connection TCP proxy in front of `upstream`. Bytes from the connecting side can be
/// cut off after `forward_limit` bytes, or have one byte flipped once `corrupt` is set.
pub struct Proxy {
    pub addr: SocketAddr,
    pub corrupt: Arc<AtomicBool>,
    pub forward_limit: Arc<AtomicUsize>,
    pub closed: Arc<AtomicBool>,
}

pub async fn proxy(upstream: SocketAddr) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let corrupt = Arc::new(AtomicBool::new(false));
    let forward_limit = Arc::new(AtomicUsize::new(usize::MAX));
    let closed = Arc::new(AtomicBool::new(false));
    let (c2, l2, cl2) = (corrupt.clone(), forward_limit.clone(), closed.clone());
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let server = TcpStream::connect(upstream).await.unwrap();
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, mut sw) = server.into_split();
        let cl3 = cl2.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            loop {
                match sr.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
            cl3.store(true, Ordering::SeqCst);
        });
        let mut sent = 0usize;
        let mut buf = [0u8; 4096];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let limit = l2.load(Ordering::SeqCst);
            let take = n.min(limit.saturating_sub(sent));
            if c2.swap(false, Ordering::SeqCst) && take > 0 {
                buf[take - 1] ^= 0x01;
            }
            if take > 0 && sw.write_all(&buf[..take]).await.is_err() {
                break;
            }
            sent += take;
        }
        // Keep the upstream half open: a silent peer is what some tests want.
        std::future::pending::<()>().await;
    });
    Proxy {
        addr,
        corrupt,
        forward_limit,
        closed,
    }
}

/// Reads until the other side closes; true if it closed within `secs`.
pub async fn closed_within(stream: &mut TcpStream, secs: u64) -> bool {
    let mut buf = [0u8; 1024];
    let r = tokio::time::timeout(Duration::from_secs(secs), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    r.is_ok()
}
