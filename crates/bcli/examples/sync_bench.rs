//! Initial sync benchmark: a devchain of N blocks carrying M transactions each, then the
//! chain poller syncing all of it through bcli into a listener. Prints a table; never fails
//! on timing.
//!
//! ```text
//! cargo build --release -p bcli --examples --bins
//! target/release/examples/sync_bench [--blocks 1000] [--per-block 100]
//! ```

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bitcoin::{Address, Amount, Block, OutPoint, TxOut};
use chain::{
    BlockRef, ChainListener, FeeConfig, Fees, JsonBackend, MemoryHashStore, PluginCall, Poller,
    PollerConfig,
};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::oneshot;

#[path = "../tests/common/signer.rs"]
mod signer;
use signer::Signer;

fn rpc(client: &mut devchain::Client, method: &str, params: Value) -> Value {
    client
        .call(method, params)
        .unwrap_or_else(|e| panic!("devchain {method}: {e}"))
}

/// Builds the chain: `per_block` lineages, each spending its previous output once a block.
fn build_chain(dc: &devchain::DevChain, blocks: usize, per_block: usize) -> Duration {
    let mut c = dc.client();
    let s = Signer::new();
    let ours = Address::from_script(&s.script, bitcoin::Network::Regtest)
        .expect("p2wpkh")
        .to_string();
    let faucet = rpc(&mut c, "getnewaddress", json!([]));
    let first = rpc(&mut c, "generatetoaddress", json!([1, ours]));
    rpc(&mut c, "generatetoaddress", json!([100, faucet]));
    let block = rpc(&mut c, "getblock", json!([first[0], 2]));
    let txid = block["tx"][0]["txid"]
        .as_str()
        .expect("txid")
        .parse()
        .expect("txid");
    let value = Amount::from_btc(block["tx"][0]["vout"][0]["value"].as_f64().expect("value"))
        .expect("amount");
    let each = Amount::from_sat((value.to_sat() - 1_000_000) / per_block as u64);
    let fan = s.spend(
        (OutPoint { txid, vout: 0 }, value),
        vec![
            TxOut {
                value: each,
                script_pubkey: s.script.clone()
            };
            per_block
        ],
    );
    rpc(
        &mut c,
        "sendrawtransaction",
        json!([bitcoin::consensus::encode::serialize_hex(&fan)]),
    );
    rpc(&mut c, "generatetoaddress", json!([1, faucet]));
    let fan_txid = fan.compute_txid();
    let mut lines: Vec<(OutPoint, Amount)> = (0..per_block as u32)
        .map(|vout| {
            (
                OutPoint {
                    txid: fan_txid,
                    vout,
                },
                each,
            )
        })
        .collect();
    let t = Instant::now();
    for _ in 0..blocks {
        // One batch of sendrawtransaction per block.
        let mut batch = Vec::with_capacity(per_block);
        for (i, line) in lines.iter_mut().enumerate() {
            let value = line.1 - Amount::from_sat(150);
            let tx = s.spend(
                *line,
                vec![TxOut {
                    value,
                    script_pubkey: s.script.clone(),
                }],
            );
            batch.push(
                json!({"jsonrpc": "1.0", "id": i, "method": "sendrawtransaction",
                "params": [bitcoin::consensus::encode::serialize_hex(&tx)]}),
            );
            *line = (
                OutPoint {
                    txid: tx.compute_txid(),
                    vout: 0,
                },
                value,
            );
        }
        let reply = c
            .post(Value::Array(batch).to_string().as_bytes())
            .expect("batch");
        let reply: Value = serde_json::from_slice(&reply).expect("batch reply");
        if let Some(err) = reply
            .as_array()
            .and_then(|a| a.iter().find(|r| !r["error"].is_null()))
        {
            panic!("sendrawtransaction refused: {err}");
        }
        rpc(&mut c, "generatetoaddress", json!([1, faucet]));
    }
    t.elapsed()
}

/// bcli as the node runs it: a child process spoken to over stdin/stdout.
struct BcliProc {
    stdin: tokio::sync::Mutex<tokio::process::ChildStdin>,
    pending: Arc<Mutex<std::collections::HashMap<u64, oneshot::Sender<Value>>>>,
    next: AtomicU64,
    _child: tokio::process::Child,
}

impl BcliProc {
    async fn start(path: &PathBuf, datadir: &std::path::Path, port: u16) -> BcliProc {
        let mut child = tokio::process::Command::new(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (build it: cargo build --release -p bcli)",
                    path.display()
                )
            });
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let pending: Arc<Mutex<std::collections::HashMap<u64, oneshot::Sender<Value>>>> =
            Arc::default();
        let p = pending.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            let mut buf = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if !line.is_empty() {
                    buf.push_str(&line);
                    continue;
                }
                if let Ok(msg) = serde_json::from_str::<Value>(&buf) {
                    if let Some(tx) = msg["id"]
                        .as_u64()
                        .and_then(|id| p.lock().unwrap().remove(&id))
                    {
                        let _ = tx.send(msg);
                    }
                }
                buf.clear();
            }
        });
        let b = BcliProc {
            stdin: tokio::sync::Mutex::new(stdin),
            pending,
            next: AtomicU64::new(1),
            _child: child,
        };
        b.request("getmanifest", json!({})).await.expect("manifest");
        let init = json!({"options": {"bitcoin-datadir": datadir, "bitcoin-rpcport": port},
            "configuration": {"lightning-dir": "/nonexistent", "rpc-file": "x", "startup": true,
                "network": "regtest", "feature_set": {}}});
        b.request("init", init).await.expect("init");
        b
    }

    async fn request(&self, method: &str, params: Value) -> Option<Value> {
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        let mut bytes = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
            .to_string()
            .into_bytes();
        bytes.extend_from_slice(b"\n\n");
        self.stdin.lock().await.write_all(&bytes).await.ok()?;
        rx.await.ok()
    }
}

impl PluginCall for BcliProc {
    async fn call(&self, method: &'static str, params: Value) -> Result<Value, String> {
        let r = self.request(method, params).await.ok_or("bcli died")?;
        match r.get("error") {
            Some(e) => Err(e.to_string()),
            None => Ok(r["result"].clone()),
        }
    }
}

#[derive(Default)]
struct Counter {
    blocks: AtomicU64,
    txs: AtomicU64,
}

impl ChainListener for Counter {
    fn block_connected(&self, block: &Block, _height: u32) {
        self.blocks.fetch_add(1, Ordering::Relaxed);
        self.txs
            .fetch_add(block.txdata.len() as u64, Ordering::Relaxed);
    }
    fn blocks_disconnected(&self, _fork_point: BlockRef) {}
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let blocks = arg(&args, "--blocks", 1000);
    let per_block = arg(&args, "--per-block", 100);
    let bcli_path = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("bcli")))
        .expect("bcli path");
    let dir = std::env::temp_dir().join(format!("sync-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let dc = devchain::DevChain::spawn(&dir).expect("devchain");

    let (build, dc) = tokio::task::spawn_blocking(move || {
        let took = build_chain(&dc, blocks, per_block);
        (took, dc)
    })
    .await
    .expect("build");
    let tip = rpc(&mut dc.client(), "getblockcount", json!([]))
        .as_u64()
        .unwrap_or(0) as u32;

    let bcli = BcliProc::start(&bcli_path, &dir, dc.port).await;
    let config = PollerConfig {
        // Start just below the benchmark's blocks: they are the sync.
        rescan: blocks as u32,
        ..PollerConfig::new("regtest")
    };
    let fees = Arc::new(Fees::new(FeeConfig::default()));
    let mut poller = Poller::new(
        Arc::new(JsonBackend(bcli)),
        Box::new(MemoryHashStore::default()),
        fees,
        config,
    )
    .expect("poller");
    let counter = Arc::new(Counter::default());
    poller.add_listener(counter.clone());
    let t = Instant::now();
    loop {
        match poller.sync().await {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => panic!("sync: {e}"),
        }
    }
    let sync = t.elapsed();
    let synced = counter.blocks.load(Ordering::Relaxed);
    let txs = counter.txs.load(Ordering::Relaxed);
    assert_eq!(poller.tip().map(|t| t.height), Some(tip));

    println!("{:<48} {:>12}", "measure", "value");
    let row = |k: &str, v: String| println!("{k:<48} {v:>12}");
    row(
        "blocks x txs per block (besides coinbase)",
        format!("{blocks} x {per_block}"),
    );
    row(
        "build the chain on devchain (s)",
        format!("{:.1}", build.as_secs_f64()),
    );
    row("blocks synced through bcli", synced.to_string());
    row("transactions synced", txs.to_string());
    row("initial sync (s)", format!("{:.2}", sync.as_secs_f64()));
    row(
        "blocks/s",
        format!("{:.0}", synced as f64 / sync.as_secs_f64()),
    );
    row(
        "transactions/s",
        format!("{:.0}", txs as f64 / sync.as_secs_f64()),
    );
    drop(dc);
    let _ = std::fs::remove_dir_all(&dir);
}
