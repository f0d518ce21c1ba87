//! The strict mempool: valid P2WPKH, P2TR key-path and P2WSH 2-of-2 spends are accepted and
//! mined; every refusal carries bitcoind's code and reject reason.

mod common;

use bitcoin::{Amount, OutPoint, TxOut};
use common::{sign_2of2, sign_p2tr, sign_p2wpkh, unsigned, Key};
use serde_json::json;

const FINAL: u32 = 0xffff_fffd;

fn out(key: &Key, sat: u64) -> TxOut {
    TxOut {
        value: Amount::from_sat(sat),
        script_pubkey: key.p2wpkh(),
    }
}

/// A signed spend of a P2WPKH coin of `key` paying `value - fee` back to `key`.
fn spend(key: &Key, op: OutPoint, prev: &TxOut, fee: u64) -> bitcoin::Transaction {
    let mut tx = unsigned(&[op], vec![out(key, prev.value.to_sat() - fee)], 0, FINAL);
    sign_p2wpkh(&mut tx, 0, prev, key);
    tx
}

#[test]
fn p2wpkh_spend_is_accepted_mined_and_reflected_everywhere() {
    let mut c = common::start();
    let k = Key::new(1);
    let (op, prev) = c.fund(&k.p2wpkh(), Amount::from_sat(100_000));
    let parent = spend(&k, op, &prev, 500);
    let accept = c.test_accept(&parent);
    assert_eq!(accept["allowed"], true, "{accept}");
    assert_eq!(accept["vsize"], parent.vsize());
    assert_eq!(accept["fees"]["base"], 0.000005);
    let parsed: corepc_types::v26::TestMempoolAccept =
        serde_json::from_value(json!([accept])).unwrap();
    assert!(parsed.0[0].allowed);
    let ptxid = c.send(&parent).unwrap();
    // A child of an unconfirmed parent is fine too; the block takes the parent first.
    let child = spend(
        &k,
        OutPoint {
            txid: parent.compute_txid(),
            vout: 0,
        },
        &parent.output[0],
        500,
    );
    let ctxid = c.send(&child).unwrap();
    assert_eq!(
        c.call("gettxout", json!([ptxid, 0])),
        serde_json::Value::Null,
        "spent in the mempool"
    );
    assert_eq!(c.call("gettxout", json!([ctxid, 0]))["confirmations"], 0);
    let hash = c.mine(1).remove(0);
    let block = c.call("getblock", json!([hash]));
    assert_eq!(block["tx"].as_array().unwrap().len(), 3);
    assert_eq!(block["tx"][1], ptxid);
    assert_eq!(block["tx"][2], ctxid);
    assert_eq!(c.call("getrawmempool", json!([])), json!([]));
    assert_eq!(c.call("gettxout", json!([ctxid, 0]))["confirmations"], 1);
    assert_eq!(
        c.call("getrawtransaction", json!([ptxid, true]))["blockhash"],
        hash
    );
    // Sending it again: the outputs are in the chain.
    assert_eq!(
        c.send(&child),
        Err((-27, "Transaction already in block chain".into()))
    );
}

#[test]
fn p2tr_key_path_spend_is_accepted() {
    let mut c = common::start();
    let k = Key::new(2);
    let (op, prev) = c.fund(&k.p2tr(), Amount::from_sat(50_000));
    let mut tx = unsigned(&[op], vec![out(&k, 49_000)], 0, FINAL);
    sign_p2tr(&mut tx, 0, std::slice::from_ref(&prev), &k);
    c.send(&tx).unwrap();
    // A wrong key-path signature (signed for other prevouts) fails in the interpreter.
    let (op2, prev2) = c.fund(&k.p2tr(), Amount::from_sat(50_000));
    let mut bad = unsigned(&[op2], vec![out(&k, 49_000)], 0, FINAL);
    let wrong = TxOut {
        value: Amount::from_sat(1),
        script_pubkey: prev2.script_pubkey.clone(),
    };
    sign_p2tr(&mut bad, 0, &[wrong], &k);
    assert_eq!(
        c.send(&bad),
        Err((
            -26,
            "mandatory-script-verify-flag-failed (Invalid Schnorr signature)".into()
        ))
    );
}

#[test]
fn p2wsh_2_of_2_spend_is_accepted_and_a_missing_signature_is_not() {
    let mut c = common::start();
    let (a, b) = (Key::new(3), Key::new(4));
    let script = common::multisig_2of2(&a, &b).to_p2wsh();
    let (op, prev) = c.fund(&script, Amount::from_sat(1_000_000));
    let mut tx = unsigned(&[op], vec![out(&a, 990_000)], 0, FINAL);
    sign_2of2(&mut tx, 0, prev.value, &a, &b);
    let mut only_a = tx.clone();
    // Replace b's signature by a's: 2-of-2 needs both.
    let items: Vec<Vec<u8>> = only_a.input[0].witness.iter().map(|w| w.to_vec()).collect();
    only_a.input[0].witness = bitcoin::Witness::from_slice(&[
        items[0].clone(),
        items[1].clone(),
        items[1].clone(),
        items[3].clone(),
    ]);
    let (code, msg) = c.send(&only_a).unwrap_err();
    assert_eq!(code, -26);
    assert!(
        msg.starts_with("mandatory-script-verify-flag-failed ("),
        "{msg}"
    );
    c.send(&tx).unwrap();
}

#[test]
fn bad_signature_is_mandatory_script_verify_flag_failed() {
    let mut c = common::start();
    let k = Key::new(5);
    let (op, prev) = c.fund(&k.p2wpkh(), Amount::from_sat(100_000));
    let mut tx = spend(&k, op, &prev, 500);
    tx.output[0].value = Amount::from_sat(99_000); // signature now covers different outputs
    assert_eq!(
        c.send(&tx),
        Err((-26, "mandatory-script-verify-flag-failed (Script evaluated without error but finished with a false/empty top stack element)".into()))
    );
    // Someone else's key: the witness program does not match.
    let mut other = spend(&Key::new(6), op, &prev, 500);
    other.output[0] = out(&k, 99_000);
    let (code, msg) = c.send(&other).unwrap_err();
    assert_eq!(
        (code, msg.as_str()),
        (
            -26,
            "mandatory-script-verify-flag-failed (Witness program hash mismatch)"
        )
    );
    assert_eq!(c.test_accept(&tx)["reject-reason"], "mandatory-script-verify-flag-failed (Script evaluated without error but finished with a false/empty top stack element)");
}

#[test]
fn missing_or_spent_inputs_are_minus_25() {
    let mut c = common::start();
    let k = Key::new(7);
    let bogus = OutPoint {
        txid: "11".repeat(32).parse().unwrap(),
        vout: 0,
    };
    let tx = spend(&k, bogus, &out(&k, 100_000), 500);
    assert_eq!(
        c.send(&tx),
        Err((-25, "bad-txns-inputs-missingorspent".into()))
    );
    let r = c.test_accept(&tx);
    assert_eq!(
        (r["allowed"].clone(), r["reject-reason"].clone()),
        (json!(false), json!("missing-inputs"))
    );
    // Spent in the chain: also missing.
    let (op, prev) = c.fund(&k.p2wpkh(), Amount::from_sat(100_000));
    c.send(&spend(&k, op, &prev, 500)).unwrap();
    c.mine(1);
    assert_eq!(
        c.send(&spend(&k, op, &prev, 600)),
        Err((-25, "bad-txns-inputs-missingorspent".into()))
    );
}

#[test]
fn double_spend_of_a_non_signalling_tx_is_txn_mempool_conflict() {
    let mut c = common::start();
    let k = Key::new(8);
    let (op, prev) = c.fund(&k.p2wpkh(), Amount::from_sat(100_000));
    // Sequence 0xfffffffe: final, and no BIP125 signal.
    let mut first = unsigned(&[op], vec![out(&k, 99_500)], 0, 0xffff_fffe);
    sign_p2wpkh(&mut first, 0, &prev, &k);
    let txid = c.send(&first).unwrap();
    assert_eq!(
        c.send(&first),
        Ok(txid.clone()),
        "the same transaction again is fine, as in bitcoind"
    );
    assert_eq!(
        c.test_accept(&first)["reject-reason"],
        "txn-already-in-mempool"
    );
    let second = spend(&k, op, &prev, 20_000);
    assert_eq!(c.send(&second), Err((-26, "txn-mempool-conflict".into())));
    assert_eq!(c.call("getrawmempool", json!([])), json!([txid]));
}

#[test]
fn bip125_replacement_needs_a_signal_and_more_fee() {
    let mut c = common::start();
    let k = Key::new(19);
    let (op, prev) = c.fund(&k.p2wpkh(), Amount::from_sat(100_000));
    let first = spend(&k, op, &prev, 1_000); // signals (sequence 0xfffffffd)
    let first_id = c.send(&first).unwrap();
    let child = spend(
        &k,
        OutPoint {
            txid: first.compute_txid(),
            vout: 0,
        },
        &first.output[0],
        1_000,
    );
    let child_id = c.send(&child).unwrap();
    let vsize = first.vsize();
    // Higher rate than the direct conflict but less than it plus its child: refused.
    let cheap = spend(&k, op, &prev, 1_500);
    let (code, msg) = c.send(&cheap).unwrap_err();
    assert_eq!(code, -26);
    assert_eq!(
        msg,
        format!("insufficient fee, rejecting replacement {}, less fees than conflicting txs; 0.000015 < 0.00002", cheap.compute_txid())
    );
    // Enough to cover both, but not the relay of the new one.
    let thin = spend(&k, op, &prev, 2_000 + vsize as u64 - 1);
    let (_, msg) = c.send(&thin).unwrap_err();
    assert!(
        msg.starts_with("insufficient fee, rejecting replacement")
            && msg.contains("not enough additional fees to relay"),
        "{msg}"
    );
    let good = spend(&k, op, &prev, 2_000 + vsize as u64);
    let good_id = c.send(&good).unwrap();
    assert_eq!(
        c.call("getrawmempool", json!([])),
        json!([good_id]),
        "{first_id} and its child {child_id} are evicted"
    );
    let hash = c.mine(1).remove(0);
    assert_eq!(c.call("getblock", json!([hash]))["tx"][1], good_id);
}

#[test]
fn future_locktime_is_non_final() {
    let mut c = common::start();
    let k = Key::new(9);
    let (op, prev) = c.fund(&k.p2wpkh(), Amount::from_sat(100_000));
    let height = c.height() as u32;
    // Final means lock_time < next block's height.
    let mut tx = unsigned(&[op], vec![out(&k, 99_000)], height + 1, FINAL);
    sign_p2wpkh(&mut tx, 0, &prev, &k);
    assert_eq!(c.send(&tx), Err((-26, "non-final".into())));
    // All sequences final: the lock time is ignored.
    let mut seq_final = unsigned(&[op], vec![out(&k, 99_000)], height + 10, 0xffff_ffff);
    sign_p2wpkh(&mut seq_final, 0, &prev, &k);
    assert_eq!(c.test_accept(&seq_final)["allowed"], true);
    c.mine(1);
    c.send(&tx).unwrap();
    // Time locks compare with the tip's median-time-past.
    let (op2, prev2) = c.fund(&k.p2wpkh(), Amount::from_sat(100_000));
    let mtp = c.call("getblockchaininfo", json!([]))["mediantime"]
        .as_u64()
        .unwrap() as u32;
    let mut timed = unsigned(&[op2], vec![out(&k, 99_000)], mtp, FINAL);
    sign_p2wpkh(&mut timed, 0, &prev2, &k);
    assert_eq!(c.send(&timed), Err((-26, "non-final".into())));
    let mut earlier = unsigned(&[op2], vec![out(&k, 99_000)], mtp - 1, FINAL);
    sign_p2wpkh(&mut earlier, 0, &prev2, &k);
    c.send(&earlier).unwrap();
}

#[test]
fn relative_height_lock_is_non_bip68_final_until_deep_enough() {
    let mut c = common::start();
    let k = Key::new(10);
    let (op, prev) = c.fund(&k.p2wpkh(), Amount::from_sat(100_000)); // 1 confirmation
    let mut tx = unsigned(&[op], vec![out(&k, 99_000)], 0, 5); // to_self_delay = 5 blocks
    sign_p2wpkh(&mut tx, 0, &prev, &k);
    assert_eq!(c.send(&tx), Err((-26, "non-BIP68-final".into())));
    c.mine(3); // 4 confirmations: the next block would be the 5th... not yet enough
    assert_eq!(c.send(&tx), Err((-26, "non-BIP68-final".into())));
    c.mine(1); // 5 confirmations
    c.send(&tx).unwrap();
    // Version 1 transactions do not get BIP68 semantics.
    let (op2, prev2) = c.fund(&k.p2wpkh(), Amount::from_sat(100_000));
    let mut v1 = unsigned(&[op2], vec![out(&k, 99_000)], 0, 50);
    v1.version = bitcoin::transaction::Version::ONE;
    sign_p2wpkh(&mut v1, 0, &prev2, &k);
    c.send(&v1).unwrap();
}

#[test]
fn relative_time_lock_waits_for_median_time_past() {
    let mut c = common::start();
    let k = Key::new(11);
    let now = c.call("getblockchaininfo", json!([]))["time"]
        .as_u64()
        .unwrap_or(0)
        .max(1_700_000_000);
    c.call("setmocktime", json!([now]));
    let (op, prev) = c.fund(&k.p2wpkh(), Amount::from_sat(100_000));
    // Type flag (bit 22) + 2 units of 512 s.
    let mut tx = unsigned(&[op], vec![out(&k, 99_000)], 0, (1 << 22) | 2);
    sign_p2wpkh(&mut tx, 0, &prev, &k);
    assert_eq!(c.send(&tx), Err((-26, "non-BIP68-final".into())));
    // Blocks 2000 s later lift the median past the lock once enough of them are mined.
    c.call("setmocktime", json!([now + 2_000]));
    c.mine(11);
    c.send(&tx).unwrap();
}

#[test]
fn immature_coinbase_spend_is_refused_with_its_depth() {
    let mut c = common::start();
    let k = Key::new(12);
    let hashes: Vec<String> =
        serde_json::from_value(c.call("generatetoaddress", json!([1, k.p2wpkh_address()])))
            .unwrap();
    let cb = c.call("getblock", json!([hashes[0], 2]))["tx"][0]["txid"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let prev = TxOut {
        value: Amount::from_sat(5_000_000_000),
        script_pubkey: k.p2wpkh(),
    };
    let tx = spend(&k, OutPoint { txid: cb, vout: 0 }, &prev, 1_000);
    c.mine(98); // coinbase at depth 99 for the next block
    assert_eq!(
        c.send(&tx),
        Err((
            -26,
            "bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth 99".into()
        ))
    );
    assert_eq!(
        c.test_accept(&tx)["reject-reason"],
        "bad-txns-premature-spend-of-coinbase"
    );
    c.mine(1);
    c.send(&tx).unwrap();
}

#[test]
fn fee_below_minimum_relay_is_refused() {
    let mut c = common::start();
    let k = Key::new(13);
    let (op, prev) = c.fund(&k.p2wpkh(), Amount::from_sat(100_000));
    let tx = spend(&k, op, &prev, 0);
    let vsize = tx.vsize();
    assert_eq!(
        c.send(&tx),
        Err((-26, format!("min relay fee not met, 0 < {vsize}")))
    );
    assert_eq!(c.test_accept(&tx)["reject-reason"], "min relay fee not met");
    // A signature's length varies by a byte, and so may the vsize: each transaction is
    // measured on its own.
    let tx = spend(&k, op, &prev, vsize as u64 - 1);
    let short = tx.vsize();
    if short > vsize - 1 {
        assert_eq!(
            c.send(&tx),
            Err((
                -26,
                format!("min relay fee not met, {} < {short}", vsize - 1)
            ))
        );
    }
    let tx = spend(&k, op, &prev, vsize as u64 + 1);
    assert!(tx.vsize() <= vsize + 1);
    c.send(&tx).unwrap();
}

#[test]
fn outputs_above_inputs_are_bad_txns_in_belowout() {
    let mut c = common::start();
    let k = Key::new(14);
    let (op, prev) = c.fund(&k.p2wpkh(), Amount::from_sat(100_000));
    let mut tx = unsigned(&[op], vec![out(&k, 200_000)], 0, FINAL);
    sign_p2wpkh(&mut tx, 0, &prev, &k);
    assert_eq!(
        c.send(&tx),
        Err((
            -26,
            "bad-txns-in-belowout, value in (0.001) < value out (0.002)".into()
        ))
    );
}

#[test]
fn undecodable_transactions_are_minus_22() {
    let mut c = common::start();
    assert_eq!(
        c.call_err("sendrawtransaction", json!(["00"])),
        (
            -22,
            "TX decode failed. Make sure the tx has at least one input.".into()
        )
    );
    assert_eq!(
        c.call_err("testmempoolaccept", json!([["zz"]])),
        (
            -22,
            "TX decode failed: zz Make sure the tx has at least one input.".into()
        )
    );
    assert_eq!(c.call_err("testmempoolaccept", json!([[]])).0, -8);
}

#[test]
fn dust_outputs_and_tiny_transactions_are_non_standard() {
    let mut c = common::start();
    let k = Key::new(15);
    let (op, prev) = c.fund(&k.p2wpkh(), Amount::from_sat(100_000));
    let mut tx = unsigned(&[op], vec![out(&k, 90_000), out(&k, 293)], 0, FINAL);
    sign_p2wpkh(&mut tx, 0, &prev, &k);
    assert_eq!(c.send(&tx), Err((-26, "dust".into())));
    let mut ok = unsigned(&[op], vec![out(&k, 90_000), out(&k, 294)], 0, FINAL);
    sign_p2wpkh(&mut ok, 0, &prev, &k);
    assert_eq!(c.test_accept(&ok)["allowed"], true);
    let mut v3 = ok.clone();
    v3.version = bitcoin::transaction::Version(3);
    sign_p2wpkh(&mut v3, 0, &prev, &k);
    assert_eq!(c.send(&v3), Err((-26, "version".into())));
}

#[test]
fn fee_above_maxfeerate_is_refused_unless_zero() {
    let mut c = common::start();
    let k = Key::new(16);
    let (op, prev) = c.fund(&k.p2wpkh(), Amount::from_sat(10_000_000));
    let tx = spend(&k, op, &prev, 5_000_000); // far above 0.10 BTC/kvB
    let hex = common::hex_of(&tx);
    assert_eq!(
        c.call_err("sendrawtransaction", json!([hex])),
        (
            -25,
            "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)".into()
        )
    );
    assert_eq!(c.test_accept(&tx)["reject-reason"], "max-fee-exceeded");
    c.call("sendrawtransaction", json!([hex, 0]));
}

#[test]
fn unconfirmed_chains_stop_at_25() {
    let mut c = common::start();
    let k = Key::new(17);
    let (mut op, mut prev) = c.fund(&k.p2wpkh(), Amount::from_sat(1_000_000));
    for _ in 0..25 {
        let tx = spend(&k, op, &prev, 200);
        c.send(&tx).unwrap();
        op = OutPoint {
            txid: tx.compute_txid(),
            vout: 0,
        };
        prev = tx.output[0].clone();
    }
    let (code, msg) = c.send(&spend(&k, op, &prev, 200)).unwrap_err();
    assert_eq!(code, -26);
    assert!(msg.starts_with("too-long-mempool-chain"), "{msg}");
    // One block takes the whole chain, parents first.
    let hash = c.mine(1).remove(0);
    assert_eq!(
        c.call("getblock", json!([hash]))["tx"]
            .as_array()
            .unwrap()
            .len(),
        26
    );
    c.send(&spend(&k, op, &prev, 200)).unwrap();
}

#[test]
fn mined_conflict_evicts_the_mempool_spend_and_its_children() {
    let mut c = common::start();
    let k = Key::new(18);
    let (op, prev) = c.fund(&k.p2wpkh(), Amount::from_sat(100_000));
    let a = spend(&k, op, &prev, 500);
    c.send(&a).unwrap();
    let a_child = spend(
        &k,
        OutPoint {
            txid: a.compute_txid(),
            vout: 0,
        },
        &a.output[0],
        500,
    );
    c.send(&a_child).unwrap();
    // A block that confirms a conflicting spend (built and submitted from outside).
    let b = spend(&k, op, &prev, 3_000);
    let tip: bitcoin::BlockHash = c
        .call("getbestblockhash", json!([]))
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let height = c.height() as u32 + 1;
    let block = devchain::miner::build(
        tip,
        height,
        devchain::node::unix_now() as u32,
        &k.p2wpkh(),
        vec![b.clone()],
        Amount::from_sat(3_000),
        1,
    );
    let hexblock = bitcoin::consensus::encode::serialize_hex(&block);
    assert_eq!(
        c.call("submitblock", json!([hexblock])),
        serde_json::Value::Null
    );
    assert_eq!(
        c.call("getbestblockhash", json!([])),
        block.block_hash().to_string()
    );
    assert_eq!(c.call("getrawmempool", json!([])), json!([]));
    assert_eq!(c.call("submitblock", json!([hexblock])), "duplicate");
}

#[test]
fn replacements_may_not_spend_what_they_evict_or_add_unconfirmed_inputs() {
    let mut c = common::start();
    let k = Key::new(20);
    let (op, prev) = c.fund(&k.p2wpkh(), Amount::from_sat(100_000));
    let first = spend(&k, op, &prev, 1_000);
    c.send(&first).unwrap();
    // Spends both the coin `first` spends and `first`'s own output.
    let first_out = OutPoint {
        txid: first.compute_txid(),
        vout: 0,
    };
    let mut both = unsigned(&[op, first_out], vec![out(&k, 150_000)], 0, FINAL);
    sign_p2wpkh(&mut both, 0, &prev, &k);
    sign_p2wpkh(&mut both, 1, &first.output[0], &k);
    assert_eq!(
        c.send(&both),
        Err((
            -26,
            format!(
                "bad-txns-spends-conflicting-tx, {} spends conflicting transaction {}",
                both.compute_txid(),
                first.compute_txid()
            )
        ))
    );
    // An unrelated unconfirmed coin may not join a replacement.
    let (op2, prev2) = c.fund_unconfirmed(&k.p2wpkh(), Amount::from_sat(100_000));
    let mut adds = unsigned(&[op, op2], vec![out(&k, 150_000)], 0, FINAL);
    sign_p2wpkh(&mut adds, 0, &prev, &k);
    sign_p2wpkh(&mut adds, 1, &prev2, &k);
    assert_eq!(
        c.send(&adds),
        Err((
            -26,
            format!(
                "replacement-adds-unconfirmed, replacement {} adds unconfirmed input, idx 1",
                adds.compute_txid()
            )
        ))
    );
}

#[test]
fn mempool_views_parse_as_bitcoin_core_26_types() {
    let mut c = common::start();
    let k = Key::new(21);
    let (op, prev) = c.fund(&k.p2wpkh(), Amount::from_sat(100_000));
    let parent = spend(&k, op, &prev, 1_000);
    let ptxid = c.send(&parent).unwrap();
    let child = spend(
        &k,
        OutPoint {
            txid: parent.compute_txid(),
            vout: 0,
        },
        &parent.output[0],
        1_000,
    );
    let ctxid = c.send(&child).unwrap();
    let verbose: corepc_types::v26::GetRawMempoolVerbose =
        serde_json::from_value(c.call("getrawmempool", json!([true]))).unwrap();
    let verbose = verbose.into_model().unwrap();
    assert_eq!(verbose.0.len(), 2);
    let entry: corepc_types::v26::GetMempoolEntry =
        serde_json::from_value(c.call("getmempoolentry", json!([ctxid]))).unwrap();
    let entry = entry.into_model().unwrap().0;
    assert_eq!(entry.ancestor_count, 2);
    assert_eq!(
        entry
            .depends
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>(),
        vec![ptxid.clone()]
    );
    assert_eq!(entry.fees.base, Amount::from_sat(1_000));
    assert_eq!(entry.fees.ancestor, Amount::from_sat(2_000));
    // gettxout without the mempool sees the confirmed, unspent-in-chain coin.
    assert_eq!(
        c.call("gettxout", json!([op.txid.to_string(), op.vout]))["value"],
        serde_json::Value::Null
    );
    assert_eq!(
        c.call("gettxout", json!([op.txid.to_string(), op.vout, false]))["value"],
        0.001
    );
    assert_eq!(
        c.call("gettxout", json!([ptxid, 0, false])),
        serde_json::Value::Null
    );
    let (code, msg) = c.call_err("getmempoolentry", json!(["22".repeat(32)]));
    assert_eq!((code, msg.as_str()), (-5, "Transaction not in mempool"));
}
