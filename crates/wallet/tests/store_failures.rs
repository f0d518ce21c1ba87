//! The wallet when its store fails, when it is born after the chain, and what a reopened
//! wallet offers without writing: synthetic blocks, no devchain needed (the wallet does not
//! check proof of work; the poller does).

mod common;

use std::sync::{Arc, Mutex};

use bdk_wallet::chain::Merge;
use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version as TxVersion;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, Network, OutPoint, ScriptBuf, Sequence, Transaction,
    TxIn, TxMerkleNode, TxOut, Witness,
};
use chain::{BlockRef, ChainListener};
use wallet::{AddressType, OutputStatus, PersistError, Record, Wallet, WalletStore};

/// A store in memory that fails while `fail` is set; shared so a test can reopen it.
#[derive(Clone, Default)]
struct Flaky {
    records: Arc<Mutex<Vec<Record>>>,
    fail: Arc<Mutex<bool>>,
}

impl WalletStore for Flaky {
    fn load(&mut self) -> Result<Record, PersistError> {
        let mut all = Record::default();
        for r in self.records.lock().unwrap().iter() {
            all.merge(r.clone());
        }
        Ok(all)
    }
    fn append(&mut self, record: &Record) -> Result<(), PersistError> {
        if *self.fail.lock().unwrap() {
            return Err(PersistError("disk full".into()));
        }
        // Round-trip through the bytes the daemon would store.
        let r = Record::from_bytes(&record.to_bytes()?)?;
        self.records.lock().unwrap().push(r);
        Ok(())
    }
}

fn block(prev: BlockHash, height: u32, pays: &[(ScriptBuf, u64)]) -> Block {
    let coinbase = Transaction {
        version: TxVersion::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(height.to_le_bytes().to_vec()),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(1),
            script_pubkey: ScriptBuf::new(),
        }],
    };
    let mut txdata = vec![coinbase];
    for (i, (spk, sat)) in pays.iter().enumerate() {
        txdata.push(Transaction {
            version: TxVersion::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::new(
                    bitcoin::Txid::from_byte_array([height as u8; 32]),
                    i as u32,
                ),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(*sat),
                script_pubkey: spk.clone(),
            }],
        });
    }
    Block {
        header: Header {
            version: Version::TWO,
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::all_zeros(),
            time: 1_700_000_000 + height,
            bits: CompactTarget::from_consensus(0x207fffff),
            nonce: height,
        },
        txdata,
    }
}

fn genesis() -> BlockHash {
    bitcoin::constants::genesis_block(Network::Regtest).block_hash()
}

#[test]
fn a_failed_write_is_retried_with_the_next_and_nothing_is_lost() {
    let store = Flaky::default();
    let w = Wallet::open(common::master(), Network::Regtest, Box::new(store.clone())).unwrap();
    let a = w.new_address(AddressType::P2tr).unwrap();
    *store.fail.lock().unwrap() = true;
    let b1 = block(genesis(), 1, &[(a.script_pubkey(), 5_000)]);
    assert!(w.apply_block(&b1, 1).is_err(), "the failure is reported");
    *store.fail.lock().unwrap() = false;
    let b2 = block(b1.block_hash(), 2, &[]);
    w.apply_block(&b2, 2).unwrap();
    let reopened = Wallet::open(common::master(), Network::Regtest, Box::new(store)).unwrap();
    assert_eq!(reopened.tip().height, 2);
    assert_eq!(reopened.total(), Amount::from_sat(5_000));
    assert_eq!(reopened.outputs(false), w.outputs(false));
}

/// What a restart takes as the spare shutdown address: an internal address an earlier run
/// revealed that nothing paid and no channel has, found without a write (a restart wrote
/// one before `db_write` plugins' `init`, and used up an address each time).
#[test]
fn a_reopened_wallet_offers_an_unused_internal_address_without_a_write() {
    let store = Flaky::default();
    let w = Wallet::open(common::master(), Network::Regtest, Box::new(store.clone())).unwrap();
    let paid = w.new_internal_address(AddressType::Bech32).unwrap();
    let given = w.new_internal_address(AddressType::Bech32).unwrap();
    let spare = w.new_internal_address(AddressType::Bech32).unwrap();
    let b1 = block(genesis(), 1, &[(paid.script_pubkey(), 5_000)]);
    w.apply_block(&b1, 1).unwrap();
    let writes = store.records.lock().unwrap().len();
    let reopened =
        Wallet::open(common::master(), Network::Regtest, Box::new(store.clone())).unwrap();
    let in_use = |s: &ScriptBuf| *s == given.script_pubkey();
    assert_eq!(
        reopened.unused_internal_address(AddressType::Bech32, in_use),
        Some(spare.clone())
    );
    let both = |s: &ScriptBuf| *s == given.script_pubkey() || *s == spare.script_pubkey();
    assert_eq!(
        reopened.unused_internal_address(AddressType::Bech32, both),
        None
    );
    assert_eq!(
        reopened.unused_internal_address(AddressType::P2tr, |_| false),
        None
    );
    assert_eq!(
        store.records.lock().unwrap().len(),
        writes,
        "nothing written"
    );
}

#[test]
fn a_wallet_born_after_the_chain_follows_from_where_the_poller_is() {
    let w = Wallet::open(
        common::master(),
        Network::Regtest,
        Box::new(Flaky::default()),
    )
    .unwrap();
    let a = w.new_address(AddressType::Bech32).unwrap();
    // The node's chain is at 500 when the wallet is created; blocks come from 501 on.
    let prev = BlockHash::from_byte_array([5; 32]);
    let b = block(prev, 501, &[(a.script_pubkey(), 7_000)]);
    w.block_connected(&b, 501);
    assert_eq!(w.tip().height, 501);
    let outs = w.outputs(false);
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0].status, OutputStatus::Confirmed);
    assert_eq!(outs[0].blockheight, Some(501));
}

/// Through the chain crate's listener trait, as the poller calls it: a reorg of depth 2
/// whose new branch does not contain the deposit leaves it unconfirmed, and a restart
/// sees the same.
#[test]
fn the_listener_trait_drives_a_reorg_and_the_result_survives_a_restart() {
    let store = Flaky::default();
    let w = Wallet::open(common::master(), Network::Regtest, Box::new(store.clone())).unwrap();
    let a = w.new_address(AddressType::P2tr).unwrap();
    let b1 = block(genesis(), 1, &[]);
    let b2 = block(b1.block_hash(), 2, &[(a.script_pubkey(), 9_000)]);
    let b3 = block(b2.block_hash(), 3, &[]);
    for (b, h) in [(&b1, 1), (&b2, 2), (&b3, 3)] {
        w.block_connected(b, h);
    }
    assert_eq!(w.outputs(false)[0].status, OutputStatus::Confirmed);
    w.blocks_disconnected(BlockRef {
        height: 1,
        hash: b1.block_hash(),
    });
    // Before any block of the new branch: the tip is the fork point, the deposit pending.
    assert_eq!(w.tip().height, 1);
    assert_eq!(w.outputs(false)[0].status, OutputStatus::Unconfirmed);
    let mut b2b = block(b1.block_hash(), 2, &[]);
    b2b.header.nonce = 99;
    w.block_connected(&b2b, 2);
    assert_eq!(w.tip().hash, b2b.block_hash());
    let outs = w.outputs(false);
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0].status, OutputStatus::Unconfirmed);
    let reopened = Wallet::open(common::master(), Network::Regtest, Box::new(store)).unwrap();
    assert_eq!(reopened.outputs(false), outs);
    assert_eq!(reopened.tip().hash, b2b.block_hash());
}

/// A store whose writes wait while `held` is set, like one behind a slow `db_write` plugin.
#[derive(Clone, Default)]
struct Gated {
    inner: Flaky,
    held: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

impl Gated {
    fn hold(&self, on: bool) {
        *self.held.0.lock().unwrap() = on;
        self.held.1.notify_all();
    }
}

impl WalletStore for Gated {
    fn load(&mut self) -> Result<Record, PersistError> {
        self.inner.load()
    }
    fn append(&mut self, record: &Record) -> Result<(), PersistError> {
        let (lock, cv) = &*self.held;
        let mut held = lock.lock().unwrap();
        while *held {
            held = cv.wait(held).unwrap();
        }
        drop(held);
        self.inner.append(record)
    }
}

/// A runtime worker that needs the wallet while another thread holds it (waiting for the
/// store) must not stall the runtime: with one worker, every other task waited for the
/// slow write too (the chain poller's listener and LDK's funding events take the wallet
/// on a worker).
#[test]
fn a_worker_waiting_for_the_wallet_leaves_the_runtime_running() {
    let store = Gated::default();
    let w = Arc::new(
        Wallet::open(common::master(), Network::Regtest, Box::new(store.clone())).unwrap(),
    );
    store.hold(true);
    let holder = {
        let w = w.clone();
        std::thread::spawn(move || w.new_address(AddressType::P2tr).unwrap())
    };
    // The holder is inside the store write, with the wallet locked.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let waiter = {
        let w = w.clone();
        rt.spawn(async move { w.tip().height })
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    let (tx, rx) = std::sync::mpsc::channel();
    rt.spawn(async move { tx.send(()).unwrap() });
    let other_ran = rx.recv_timeout(std::time::Duration::from_secs(3)).is_ok();
    store.hold(false);
    holder.join().unwrap();
    assert_eq!(rt.block_on(waiter).unwrap(), 0);
    assert!(
        other_ran,
        "a task waiting for the wallet held the only worker"
    );
}
