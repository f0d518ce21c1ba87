//! Blocks from outside (`submitblock`) are checked like bitcoind checks them: structure,
//! proof of work, and every transaction (scripts included) against the chain.

mod common;

use bitcoin::{Amount, Block, BlockHash, OutPoint, Transaction, TxOut};
use common::{sign_p2wpkh, unsigned, Key};
use serde_json::json;

fn block_on_tip(c: &mut common::Chain, payout: &Key, txs: Vec<Transaction>, fees: u64) -> Block {
    let tip: BlockHash = c
        .call("getbestblockhash", json!([]))
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let height = c.height() as u32 + 1;
    let time = devchain::node::unix_now() as u32;
    devchain::miner::build(
        tip,
        height,
        time,
        &payout.p2wpkh(),
        txs,
        Amount::from_sat(fees),
        9,
    )
}

fn submit(c: &mut common::Chain, block: &Block) -> serde_json::Value {
    c.call(
        "submitblock",
        json!([bitcoin::consensus::encode::serialize_hex(block)]),
    )
}

#[test]
fn submitted_blocks_are_validated_and_survive_a_restart() {
    let mut c = common::start();
    let k = Key::new(30);
    let (op, prev) = c.fund(&k.p2wpkh(), Amount::from_sat(100_000));
    let before = c.call("getbestblockhash", json!([]));

    // A bad signature inside a block: refused with the script reason, tip unchanged.
    let mut bad = unsigned(
        &[op],
        vec![TxOut {
            value: Amount::from_sat(99_000),
            script_pubkey: k.p2wpkh(),
        }],
        0,
        0xffff_fffd,
    );
    sign_p2wpkh(&mut bad, 0, &prev, &k);
    bad.output[0].value = Amount::from_sat(98_000);
    let block = block_on_tip(&mut c, &k, vec![bad], 2_000);
    assert_eq!(
        submit(&mut c, &block),
        "mandatory-script-verify-flag-failed"
    );
    assert_eq!(c.call("getbestblockhash", json!([])), before);

    // A coinbase claiming more than subsidy plus fees (one satoshi of fees that no tx pays).
    let block = block_on_tip(&mut c, &k, vec![], 1);
    assert_eq!(submit(&mut c, &block), "bad-cb-amount");

    // Outputs above inputs.
    let mut rich = unsigned(
        &[op],
        vec![TxOut {
            value: Amount::from_sat(200_000),
            script_pubkey: k.p2wpkh(),
        }],
        0,
        0xffff_fffd,
    );
    sign_p2wpkh(&mut rich, 0, &prev, &k);
    let block = block_on_tip(&mut c, &k, vec![rich], 0);
    assert_eq!(submit(&mut c, &block), "bad-txns-in-belowout");

    // Proof of work and merkle root are checked before anything else.
    let mut broken = block_on_tip(&mut c, &k, vec![], 0);
    broken.txdata[0].output[0].value = Amount::from_sat(1);
    assert_eq!(submit(&mut c, &broken), "bad-txnmrklroot");

    // A good one is accepted, connected and kept across a restart (scripts checked again).
    let mut good = unsigned(
        &[op],
        vec![TxOut {
            value: Amount::from_sat(99_000),
            script_pubkey: k.p2wpkh(),
        }],
        0,
        0xffff_fffd,
    );
    sign_p2wpkh(&mut good, 0, &prev, &k);
    let block = block_on_tip(&mut c, &k, vec![good.clone()], 1_000);
    assert_eq!(submit(&mut c, &block), serde_json::Value::Null);
    let tip = block.block_hash().to_string();
    assert_eq!(c.call("getbestblockhash", json!([])), tip);
    assert_eq!(
        c.call("gettxout", json!([good.compute_txid().to_string(), 0]))["confirmations"],
        1
    );
    let common::Chain { dc, dir, .. } = c;
    drop(dc);
    let dc = devchain::DevChain::spawn(dir.path()).unwrap();
    let mut rpc = dc.client();
    assert_eq!(rpc.call("getbestblockhash", json!([])).unwrap(), tip);
    let spent = OutPoint {
        txid: op.txid,
        vout: op.vout,
    };
    assert_eq!(
        rpc.call("gettxout", json!([spent.txid.to_string(), spent.vout]))
            .unwrap(),
        serde_json::Value::Null
    );
}

#[test]
fn immature_coinbase_in_a_block_is_refused() {
    let mut c = common::start();
    let k = Key::new(31);
    let hashes: Vec<String> =
        serde_json::from_value(c.call("generatetoaddress", json!([1, k.p2wpkh_address()])))
            .unwrap();
    let cb: bitcoin::Txid = c.call("getblock", json!([hashes[0], 2]))["tx"][0]["txid"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let prev = TxOut {
        value: Amount::from_sat(5_000_000_000),
        script_pubkey: k.p2wpkh(),
    };
    let mut tx = unsigned(
        &[OutPoint { txid: cb, vout: 0 }],
        vec![TxOut {
            value: Amount::from_sat(4_999_000_000),
            script_pubkey: k.p2wpkh(),
        }],
        0,
        0xffff_fffd,
    );
    sign_p2wpkh(&mut tx, 0, &prev, &k);
    let block = block_on_tip(&mut c, &k, vec![tx], 1_000_000);
    assert_eq!(
        submit(&mut c, &block),
        "bad-txns-premature-spend-of-coinbase"
    );
    assert_eq!(c.height(), 1);
}

#[test]
fn generateblock_mines_exactly_the_given_transactions() {
    let mut c = common::start();
    let k = Key::new(32);
    let (op1, prev1) = c.fund(&k.p2wpkh(), Amount::from_sat(100_000));
    let (op2, prev2) = c.fund(&k.p2wpkh(), Amount::from_sat(100_000));
    let pay = |op, prev: &TxOut| {
        let mut tx = unsigned(
            &[op],
            vec![TxOut {
                value: Amount::from_sat(99_000),
                script_pubkey: k.p2wpkh(),
            }],
            0,
            0xffff_fffd,
        );
        sign_p2wpkh(&mut tx, 0, prev, &k);
        tx
    };
    let in_pool = pay(op1, &prev1);
    let in_pool_id = c.send(&in_pool).unwrap();
    let other = c.send(&pay(op2, &prev2)).unwrap();
    let addr = k.p2wpkh_address();
    // Bad signature in a raw transaction: TestBlockValidity refuses, nothing is mined.
    let mut bad = pay(op2, &prev2);
    bad.output[0].value = Amount::from_sat(98_000);
    let (code, msg) = c.call_err("generateblock", json!([addr, [common::hex_of(&bad)]]));
    assert_eq!(
        (code, msg.as_str()),
        (
            -25,
            "TestBlockValidity failed: mandatory-script-verify-flag-failed"
        )
    );
    let height = c.height();
    // `submit: false` hands the block back without adding it.
    let dry = c.call("generateblock", json!([addr, [in_pool_id], false]));
    assert!(dry["hex"].as_str().is_some());
    assert_eq!(c.height(), height);
    let hash = c.call("generateblock", json!([addr, [in_pool_id]]))["hash"].clone();
    assert_eq!(c.height(), height + 1);
    let block = c.call("getblock", json!([hash]));
    assert_eq!(block["tx"].as_array().unwrap().len(), 2);
    assert_eq!(block["tx"][1], in_pool_id);
    let pool = c.call("getrawmempool", json!([]));
    assert!(pool.as_array().unwrap().contains(&json!(other)), "{pool}");
    assert!(!pool.as_array().unwrap().contains(&json!(in_pool_id)));
}
