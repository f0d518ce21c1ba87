//! `devchain bench`: `sendrawtransaction` accepted/s, and the time to mine a chain of
//! N blocks carrying M transactions each (what the chain sync benchmark needs), then the
//! time to reload that chain. Prints a table; never fails on timing.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{
    absolute, transaction, Address, Amount, CompressedPublicKey, OutPoint, ScriptBuf, Sequence,
    Transaction, TxIn, TxOut, Witness,
};
use devchain::{Client, DevChain};
use serde_json::{json, Value};

struct Signer {
    secp: Secp256k1<bitcoin::secp256k1::All>,
    secret: SecretKey,
    pubkey: CompressedPublicKey,
    script: ScriptBuf,
}

impl Signer {
    fn new() -> Signer {
        let secp = Secp256k1::new();
        let secret = SecretKey::from_slice(&[7u8; 32]).expect("valid key");
        let pubkey = CompressedPublicKey(secret.public_key(&secp));
        let script = ScriptBuf::new_p2wpkh(&pubkey.wpubkey_hash());
        Signer {
            secp,
            secret,
            pubkey,
            script,
        }
    }

    /// Spends `inputs` (all ours) to `outputs`, signed.
    fn spend(&self, inputs: &[(OutPoint, Amount)], outputs: Vec<TxOut>) -> Transaction {
        let mut tx = Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: inputs
                .iter()
                .map(|(op, _)| TxIn {
                    previous_output: *op,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::MAX,
                    witness: Witness::new(),
                })
                .collect(),
            output: outputs,
        };
        let mut witnesses = Vec::new();
        let mut cache = SighashCache::new(&tx);
        for (i, (_, value)) in inputs.iter().enumerate() {
            let hash = cache
                .p2wpkh_signature_hash(i, &self.script, *value, EcdsaSighashType::All)
                .expect("input exists");
            let sig = self.secp.sign_ecdsa(&Message::from(hash), &self.secret);
            witnesses.push(Witness::p2wpkh(
                &bitcoin::ecdsa::Signature {
                    signature: sig,
                    sighash_type: EcdsaSighashType::All,
                },
                &self.pubkey.0,
            ));
        }
        for (input, w) in tx.input.iter_mut().zip(witnesses) {
            input.witness = w;
        }
        tx
    }
}

fn call(rpc: &mut Client, method: &str, params: Value) -> Result<Value, String> {
    rpc.call(method, params)
        .map_err(|e| format!("{method}: {e}"))
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Splits one mature coinbase of ours into `n` outputs of equal value; returns them confirmed.
fn fan_out(rpc: &mut Client, s: &Signer, n: usize) -> Result<Vec<(OutPoint, Amount)>, String> {
    let addr = Address::from_script(&s.script, devchain::params::NETWORK)
        .map_err(|e| e.to_string())?
        .to_string();
    let hashes = call(rpc, "generatetoaddress", json!([1, addr]))?;
    let faucet = call(rpc, "getnewaddress", json!([]))?;
    call(rpc, "generatetoaddress", json!([100, faucet]))?;
    let block = call(rpc, "getblock", json!([hashes[0], 2]))?;
    let txid = block["tx"][0]["txid"]
        .as_str()
        .ok_or("no coinbase")?
        .parse()
        .map_err(|_| "bad txid")?;
    let value = Amount::from_btc(block["tx"][0]["vout"][0]["value"].as_f64().unwrap_or(0.0))
        .map_err(|e| e.to_string())?;
    let each = Amount::from_sat((value.to_sat() - 1_000_000) / n as u64);
    let tx = s.spend(
        &[(OutPoint { txid, vout: 0 }, value)],
        vec![
            TxOut {
                value: each,
                script_pubkey: s.script.clone()
            };
            n
        ],
    );
    let txid = tx.compute_txid();
    call(
        rpc,
        "sendrawtransaction",
        json!([bitcoin::consensus::encode::serialize_hex(&tx)]),
    )?;
    call(rpc, "generatetoaddress", json!([1, faucet]))?;
    Ok((0..n)
        .map(|vout| {
            (
                OutPoint {
                    txid,
                    vout: vout as u32,
                },
                each,
            )
        })
        .collect())
}

pub fn run(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "devchain bench [--txs N (default 2000)] [--blocks N (default 1000)] [--per-block N (default 100)] [--keep DIR]\n\
             --keep DIR leaves the chain in DIR (a -datadir; DIR must not exist) for sync benchmarks."
        );
        return ExitCode::SUCCESS;
    }
    let keep = args
        .iter()
        .position(|a| a == "--keep")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);
    if keep.as_ref().is_some_and(|k| k.exists()) {
        eprintln!("bench: --keep directory exists already");
        return ExitCode::from(1);
    }
    match bench(
        arg(args, "--txs", 2000),
        arg(args, "--blocks", 1000),
        arg(args, "--per-block", 100),
        keep,
    ) {
        Ok(rows) => {
            println!("{:<52} {:>14}", "measure", "value");
            for (k, v) in rows {
                println!("{k:<52} {v:>14}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench failed: {e}");
            ExitCode::from(1)
        }
    }
}

fn bench(
    txs: usize,
    blocks: usize,
    per_block: usize,
    keep: Option<std::path::PathBuf>,
) -> Result<Vec<(String, String)>, String> {
    let dir = match &keep {
        Some(k) => k.clone(),
        None => tempfile_dir()?,
    };
    let mut rows = Vec::new();
    let s = Signer::new();
    let faucet;
    {
        let dc = DevChain::spawn(&dir).map_err(|e| e.to_string())?;
        let mut rpc = dc.client();
        faucet = call(&mut rpc, "getnewaddress", json!([]))?;
        let t = Instant::now();
        call(&mut rpc, "generatetoaddress", json!([101, faucet]))?;
        rows.push((
            "mine 101 empty blocks (ms)".into(),
            format!("{:.1}", ms(t.elapsed())),
        ));

        // sendrawtransaction throughput: independent 1-in-1-out P2WPKH spends, pre-signed.
        let coins = fan_out(&mut rpc, &s, txs.max(1))?;
        let signed: Vec<String> = coins
            .iter()
            .map(|(op, v)| {
                let tx = s.spend(
                    &[(*op, *v)],
                    vec![TxOut {
                        value: *v - Amount::from_sat(200),
                        script_pubkey: s.script.clone(),
                    }],
                );
                bitcoin::consensus::encode::serialize_hex(&tx)
            })
            .collect();
        let t = Instant::now();
        for hex in &signed {
            call(&mut rpc, "sendrawtransaction", json!([hex]))?;
        }
        let took = t.elapsed();
        rows.push((
            format!("sendrawtransaction accepted ({} txs) /s", signed.len()),
            format!("{:.0}", signed.len() as f64 / took.as_secs_f64()),
        ));
        let t = Instant::now();
        call(&mut rpc, "generatetoaddress", json!([1, faucet]))?;
        rows.push((
            format!("mine 1 block with {} txs (ms)", signed.len()),
            format!("{:.1}", ms(t.elapsed())),
        ));

        // A chain of `blocks` blocks with `per_block` transactions each: `per_block` lineages,
        // each spending its previous (confirmed) output once per block.
        let mut lines = fan_out(&mut rpc, &s, per_block.max(1))?;
        let (mut mining, mut submitting) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..blocks {
            let t = Instant::now();
            for line in lines.iter_mut() {
                let value = line.1 - Amount::from_sat(150);
                let tx = s.spend(
                    &[*line],
                    vec![TxOut {
                        value,
                        script_pubkey: s.script.clone(),
                    }],
                );
                call(
                    &mut rpc,
                    "sendrawtransaction",
                    json!([bitcoin::consensus::encode::serialize_hex(&tx)]),
                )?;
                *line = (
                    OutPoint {
                        txid: tx.compute_txid(),
                        vout: 0,
                    },
                    value,
                );
            }
            submitting += t.elapsed();
            let t = Instant::now();
            call(&mut rpc, "generatetoaddress", json!([1, faucet]))?;
            mining += t.elapsed();
        }
        rows.push((
            format!(
                "sign+send {} txs over {} blocks (s)",
                blocks * per_block,
                blocks
            ),
            format!("{:.2}", submitting.as_secs_f64()),
        ));
        rows.push((
            format!("mine {blocks} blocks x {per_block} txs (s)"),
            format!("{:.2}", mining.as_secs_f64()),
        ));
        let height = call(&mut rpc, "getblockcount", json!([]))?;
        rows.push(("chain height".into(), height.to_string()));
    }
    let size = std::fs::metadata(dir.join("regtest/blocks.dat"))
        .map(|m| m.len())
        .unwrap_or(0);
    rows.push((
        "blocks.dat size (MiB)".into(),
        format!("{:.1}", size as f64 / 1048576.0),
    ));
    let t = Instant::now();
    let dc = DevChain::spawn(&dir).map_err(|e| e.to_string())?;
    rows.push((
        "restart: reload the chain until RPC ready (ms)".into(),
        format!("{:.0}", ms(t.elapsed())),
    ));
    drop(dc);
    match keep {
        Some(k) => rows.push(("chain kept in -datadir".into(), k.display().to_string())),
        None => {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    Ok(rows)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn tempfile_dir() -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join(format!(
        "devchain-bench-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}
