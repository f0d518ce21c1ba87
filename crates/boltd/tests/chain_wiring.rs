//! The daemon's chain pieces on their own: the embedded dev chain launcher (concurrent
//! starters share one server; a later start only connects) and the store-backed block
//! hash window (a restarted poller resumes at its tip).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use bitcoin::BlockHash;
use boltd::chain_wiring::devchain::{ensure, probe};
use boltd::chain_wiring::StoreHashes;
use boltd::shutdown::Shutdown;
use boltd::storage::Storage;
use chain::{BlockRef, HashChange, HashStore};

/// The `devchain` binary next to boltd's, built on demand (`cargo test -p boltd` builds
/// only boltd's own binaries).
fn devchain_bin() -> PathBuf {
    let boltd = PathBuf::from(env!("CARGO_BIN_EXE_boltd"));
    let bin = boltd.with_file_name("devchain");
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "devchain", "--bin", "devchain"])
        .status()
        .expect("cargo build devchain");
    assert!(status.success());
    bin
}

fn stop(dir: &std::path::Path, port: u16) {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut c = devchain::Client::with_cookie(addr, &dir.join("regtest").join(".cookie")).unwrap();
    let _ = c.call("stop", serde_json::json!([]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while probe(dir).is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn concurrent_devchain_starters_share_one_server() {
    let bin = devchain_bin();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("chain");
    let starters: Vec<_> = (0..4)
        .map(|_| {
            let (dir, bin) = (dir.clone(), bin.clone());
            std::thread::spawn(move || ensure(&dir, &bin, Duration::from_secs(30)))
        })
        .collect();
    let got: Vec<_> = starters
        .into_iter()
        .map(|t| t.join().unwrap().expect("a devchain answers"))
        .collect();
    let port = got[0].port;
    assert!(got.iter().all(|r| r.port == port), "{got:?}");
    assert_eq!(got.iter().filter(|r| r.started).count(), 1, "{got:?}");
    // A later start only connects, quickly.
    let t0 = Instant::now();
    let again = ensure(&dir, &bin, Duration::from_secs(30)).unwrap();
    assert_eq!((again.port, again.started), (port, false));
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    let canonical = dir.canonicalize().unwrap();
    stop(&canonical, port);
    assert_eq!(probe(&canonical), None);
}

#[test]
fn a_dead_devchain_is_replaced_by_the_next_starter() {
    let bin = devchain_bin();
    let tmp = tempfile::tempdir().unwrap();
    let first = ensure(tmp.path(), &bin, Duration::from_secs(30)).unwrap();
    stop(&first.dir, first.port);
    // The stale rpcport file stays behind; the next starter must not trust it.
    let second = ensure(tmp.path(), &bin, Duration::from_secs(30)).unwrap();
    assert!(second.started);
    assert_eq!(probe(&second.dir), Some(second.port));
    stop(&second.dir, second.port);
}

fn r(height: u32, n: u8) -> BlockRef {
    BlockRef {
        height,
        hash: BlockHash::from_byte_array([n; 32]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_hashes_survive_a_reopen_through_reorg_and_slide() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("boltd.sqlite3");
    {
        let storage = Storage::open(path.clone(), None, Shutdown::new())
            .await
            .unwrap();
        let mut hashes = StoreHashes(storage);
        hashes
            .apply(&HashChange {
                add: (1..=4).map(|h| r(h, h as u8)).collect(),
                ..Default::default()
            })
            .unwrap();
        hashes
            .apply(&HashChange {
                remove_above: Some(2),
                add: vec![r(3, 33), r(4, 44)],
                remove_below: Some(2),
            })
            .unwrap();
    }
    let storage = Storage::open(path, None, Shutdown::new()).await.unwrap();
    let hashes = StoreHashes(storage);
    assert_eq!(hashes.load().unwrap(), vec![r(2, 2), r(3, 33), r(4, 44)]);
}

#[tokio::test(flavor = "current_thread")]
async fn store_hashes_refuse_a_single_threaded_runtime_instead_of_panicking() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = Storage::open(tmp.path().join("db"), None, Shutdown::new())
        .await
        .unwrap();
    assert!(StoreHashes(storage).load().is_err());
}
