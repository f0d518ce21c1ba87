//! The wallet against a real devchain: deposits, withdrawals, reorgs, restarts, reservations
//! and concurrent spends.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use bitcoin::hashes::Hash;
use bitcoin::{Amount, OutPoint};
use common::{open_wallet, Feeder};
use wallet::{AddressType, OutputStatus, SpendError, SpendRequest};

const NORMAL: u64 = 2_500; // 10 sat/vB

fn pay(script: bitcoin::ScriptBuf, sat: u64) -> SpendRequest {
    SpendRequest {
        outputs: vec![(script, Amount::from_sat(sat))],
        drain_to: None,
        feerate_per_kw: NORMAL,
        minconf: 1,
        utxos: None,
        reserve: wallet::DEFAULT_RESERVE,
    }
}

/// A devchain with 101 blocks, a wallet synced to it, and `deposits` (one per amount,
/// alternating bech32 and p2tr addresses) mined in one block.
fn funded(
    deposits: &[u64],
) -> (
    tempfile::TempDir,
    devchain::DevChain,
    wallet::Wallet,
    Feeder,
) {
    let dir = tempfile::tempdir().unwrap();
    let dc = devchain::DevChain::spawn(&dir.path().join("chain")).unwrap();
    dc.mine(101).unwrap();
    let w = open_wallet(dir.path());
    let mut f = Feeder::new(&dc);
    for (i, sat) in deposits.iter().enumerate() {
        let ty = if i % 2 == 0 {
            AddressType::Bech32
        } else {
            AddressType::P2tr
        };
        let a = w.new_address(ty).unwrap();
        dc.fund(&a.to_string(), Amount::from_sat(*sat)).unwrap();
    }
    dc.mine(1).unwrap();
    f.sync(&w);
    (dir, dc, w, f)
}

#[test]
fn deposits_to_both_address_types_are_confirmed_at_their_block() {
    let (_d, _dc, w, _f) = funded(&[100_000, 250_000]);
    let outs = w.outputs(false);
    assert_eq!(outs.len(), 2);
    assert!(outs
        .iter()
        .all(|o| o.status == OutputStatus::Confirmed && o.blockheight == Some(102)));
    let types: HashSet<_> = outs.iter().map(|o| o.address_type).collect();
    assert_eq!(types.len(), 2);
    assert_eq!(w.total(), Amount::from_sat(350_000));
    assert_eq!(w.tip().height, 102);
}

#[test]
fn a_withdrawal_spending_both_types_is_accepted_and_confirmed() {
    let (_d, dc, w, mut f) = funded(&[100_000, 250_000]);
    let dest = f.external_address();
    // Needs both coins: a bech32 and a p2tr input in one transaction.
    let spend = w.spend(&pay(dest.script_pubkey(), 300_000)).unwrap();
    assert_eq!(spend.inputs.len(), 2);
    f.broadcast(&spend.tx)
        .expect("devchain's strict mempool accepts the signed spend");
    w.transaction_unconfirmed(&spend.tx).unwrap();
    let expect = Amount::from_sat(350_000 - 300_000) - spend.fee;
    assert_eq!(w.total(), expect);
    let change: Vec<_> = w.outputs(false);
    assert_eq!(change.len(), 1);
    assert_eq!(change[0].status, OutputStatus::Unconfirmed);
    assert_eq!(change[0].address_type, AddressType::P2tr);
    dc.mine(1).unwrap();
    f.sync(&w);
    let outs = w.outputs(true);
    assert_eq!(
        outs.iter()
            .filter(|o| o.status == OutputStatus::Spent)
            .count(),
        2
    );
    assert_eq!(w.outputs(false)[0].status, OutputStatus::Confirmed);
    assert_eq!(w.total(), expect);
}

#[test]
fn withdrawing_all_leaves_nothing_and_pays_one_output() {
    let (_d, _dc, w, mut f) = funded(&[100_000, 250_000]);
    let dest = f.external_address();
    let req = SpendRequest {
        outputs: vec![],
        drain_to: Some(dest.script_pubkey()),
        ..pay(dest.script_pubkey(), 0)
    };
    let spend = w.spend(&req).unwrap();
    assert_eq!(spend.tx.output.len(), 1);
    assert_eq!(
        spend.tx.output[0].value,
        Amount::from_sat(350_000) - spend.fee
    );
    f.broadcast(&spend.tx).unwrap();
    w.transaction_unconfirmed(&spend.tx).unwrap();
    assert_eq!(w.total(), Amount::ZERO);
}

#[test]
fn a_deposit_whose_block_is_disconnected_is_unconfirmed_then_confirmed_again() {
    let (_d, dc, w, mut f) = funded(&[100_000]);
    let tip = f.chain[102];
    f.rpc
        .call("invalidateblock", serde_json::json!([tip.to_string()]))
        .unwrap();
    f.sync(&w);
    assert_eq!(w.tip().height, 101);
    let outs = w.outputs(false);
    assert_eq!(outs.len(), 1, "the deposit is still ours");
    assert_eq!(outs[0].status, OutputStatus::Unconfirmed);
    assert_eq!(outs[0].blockheight, None);
    dc.mine(1).unwrap();
    f.sync(&w);
    let outs = w.outputs(false);
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0].status, OutputStatus::Confirmed);
    assert_eq!(outs[0].blockheight, Some(102));
    assert_ne!(f.chain[102], tip, "re-mined in a different block");
    assert_eq!(w.total(), Amount::from_sat(100_000));
}

#[test]
fn a_restart_keeps_outputs_addresses_and_reservations() {
    let (d, dc, w, mut f) = funded(&[100_000, 250_000]);
    let dest = f.external_address();
    let spend = w.spend(&pay(dest.script_pubkey(), 50_000)).unwrap();
    let outs_before = w.outputs(true);
    let addrs_before = w.issued_addresses();
    drop(w);
    // The "crash": the signed spend was never broadcast.
    let w = open_wallet(d.path());
    assert_eq!(w.outputs(true), outs_before);
    assert_eq!(w.issued_addresses(), addrs_before);
    let reserved: Vec<_> = w
        .outputs(false)
        .into_iter()
        .filter(|o| o.reserved_to_block.is_some())
        .collect();
    assert_eq!(reserved.len(), spend.inputs.len());
    assert_eq!(
        reserved[0].reserved_to_block,
        Some(102 + wallet::DEFAULT_RESERVE)
    );
    // It was broadcast after all, and confirms: recognised as ours, nothing counted twice.
    f.broadcast(&spend.tx).unwrap();
    dc.mine(1).unwrap();
    f.sync(&w);
    assert_eq!(w.total(), Amount::from_sat(350_000 - 50_000) - spend.fee);
    assert!(w
        .outputs(false)
        .iter()
        .all(|o| o.status == OutputStatus::Confirmed));
}

#[test]
fn concurrent_spends_never_pick_the_same_coin() {
    let deposits = vec![60_000u64; 12];
    let (_d, _dc, w, mut f) = funded(&deposits);
    let w = Arc::new(w);
    let script = f.external_address().script_pubkey();
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let w = w.clone();
            let script = script.clone();
            std::thread::spawn(move || w.spend(&pay(script, 50_000)).unwrap().inputs)
        })
        .collect();
    let mut seen: HashSet<OutPoint> = HashSet::new();
    for t in threads {
        for op in t.join().unwrap() {
            assert!(seen.insert(op), "{op} spent twice");
        }
    }
    assert_eq!(seen.len(), 6);
    let reserved = w
        .outputs(false)
        .iter()
        .filter(|o| o.reserved_to_block.is_some())
        .count();
    assert_eq!(reserved, 6);
}

#[test]
fn reserved_coins_are_not_spent_and_unreserve_releases_them() {
    let (_d, _dc, w, mut f) = funded(&[100_000]);
    let op = w.outputs(false)[0].outpoint;
    let r = w.reserve(&[op], true, 72).unwrap();
    assert_eq!(r[0].reserved_to_block, 102 + 72);
    assert!(!r[0].was_reserved);
    assert!(matches!(
        w.reserve(&[op], true, 72),
        Err(SpendError::AlreadyReserved(_))
    ));
    let script = f.external_address().script_pubkey();
    let e = w.spend(&pay(script.clone(), 10_000)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Could not afford 10000sat using all 0 available UTXOs: 10000sat short"
    );
    let r = w.unreserve(&[op], 72).unwrap();
    assert!(!r[0].reserved);
    w.spend(&pay(script, 10_000)).unwrap();
}

#[test]
fn bad_amounts_and_feerates_are_refused_and_reserve_nothing() {
    let (_d, _dc, w, mut f) = funded(&[100_000]);
    let script = f.external_address().script_pubkey();
    let e = w.spend(&pay(script.clone(), 200_000)).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("Could not afford 200000sat using all 1 available UTXOs: "),
        "{e}"
    );
    assert!(matches!(
        w.spend(&pay(script.clone(), 100)),
        Err(SpendError::Dust(100))
    ));
    assert!(matches!(
        w.spend(&pay(script.clone(), 21_000_000 * 100_000_000 + 1)),
        Err(SpendError::TooMuch(_))
    ));
    for bad in [0, 252, 2_500_001, u64::MAX] {
        let req = SpendRequest {
            feerate_per_kw: bad,
            ..pay(script.clone(), 10_000)
        };
        assert!(
            matches!(w.spend(&req), Err(SpendError::BadFeerate(_))),
            "{bad}"
        );
    }
    let unknown = OutPoint::new(bitcoin::Txid::from_byte_array([9; 32]), 0);
    let req = SpendRequest {
        utxos: Some(vec![unknown]),
        ..pay(script, 10_000)
    };
    assert!(matches!(w.spend(&req), Err(SpendError::UnknownUtxo(_))));
    assert!(w
        .outputs(false)
        .iter()
        .all(|o| o.reserved_to_block.is_none()));
}
