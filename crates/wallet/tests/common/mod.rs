//! A real devchain, a real store, and a feeder that hands the wallet the devchain's blocks
//! the way the chain crate's poller does (connect in order; disconnect to the fork point).

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use bdk_wallet::chain::BlockId;
use bitcoin::bip32::Xpriv;
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::{Block, BlockHash, Network, Transaction};
use serde_json::json;
use store::{Mode, NoHook, Store};
use wallet::{PersistError, Record, Wallet, WalletStore};

/// Records as datastore entries `wallet/<seq>` in the daemon's own store (one
/// `Store::transaction` each).
pub struct StoreBacked {
    store: Store,
    next: u64,
}

impl StoreBacked {
    pub fn open(dir: &Path) -> StoreBacked {
        let store = Store::open_sqlite(&dir.join("lightningd.sqlite3"), Arc::new(NoHook)).unwrap();
        StoreBacked { store, next: 0 }
    }
}

fn key(seq: u64) -> Vec<String> {
    vec!["wallet".into(), format!("{seq:020}")]
}

impl WalletStore for StoreBacked {
    fn load(&mut self) -> Result<Record, PersistError> {
        let entries = self
            .store
            .datastore_list(Some(&["wallet".to_string()]))
            .map_err(|e| PersistError(e.to_string()))?;
        let mut all = Record::default();
        for e in entries {
            if let Some(data) = e.data {
                bdk_wallet::chain::Merge::merge(&mut all, Record::from_bytes(&data)?);
                let seq: u64 = e.key.last().and_then(|k| k.parse().ok()).unwrap_or(0);
                self.next = self.next.max(seq + 1);
            }
        }
        Ok(all)
    }

    fn append(&mut self, record: &Record) -> Result<(), PersistError> {
        self.store
            .datastore_put(&key(self.next), &record.to_bytes()?, Mode::MustCreate, None)
            .map_err(|e| PersistError(e.to_string()))?;
        self.next += 1;
        Ok(())
    }
}

pub fn master() -> Xpriv {
    Xpriv::new_master(Network::Regtest, &[7; 32]).unwrap()
}

pub fn open_wallet(dir: &Path) -> Wallet {
    Wallet::open(master(), Network::Regtest, Box::new(StoreBacked::open(dir))).unwrap()
}

/// Follows the devchain into a wallet, as the poller would.
pub struct Feeder {
    pub rpc: devchain::Client,
    /// Our view: hashes by height, from genesis.
    pub chain: Vec<BlockHash>,
}

impl Feeder {
    pub fn new(dc: &devchain::DevChain) -> Feeder {
        let mut rpc = dc.client();
        let genesis: BlockHash =
            serde_json::from_value(rpc.call("getblockhash", json!([0])).unwrap()).unwrap();
        Feeder {
            rpc,
            chain: vec![genesis],
        }
    }

    fn block(&mut self, height: u32) -> Block {
        let hash = self.rpc.call("getblockhash", json!([height])).unwrap();
        let hex = self.rpc.call("getblock", json!([hash, 0])).unwrap();
        deserialize_hex(hex.as_str().unwrap()).unwrap()
    }

    pub fn sync(&mut self, wallet: &Wallet) {
        let count = self
            .rpc
            .call("getblockcount", json!([]))
            .unwrap()
            .as_u64()
            .unwrap() as u32;
        // Walk back to the fork point.
        let mut fork = (self.chain.len() as u32 - 1).min(count);
        loop {
            let theirs: BlockHash =
                serde_json::from_value(self.rpc.call("getblockhash", json!([fork])).unwrap())
                    .unwrap();
            if theirs == self.chain[fork as usize] {
                break;
            }
            fork -= 1;
        }
        if (fork as usize) < self.chain.len() - 1 {
            self.chain.truncate(fork as usize + 1);
            wallet
                .disconnect_blocks(BlockId {
                    height: fork,
                    hash: self.chain[fork as usize],
                })
                .unwrap();
        }
        for h in fork + 1..=count {
            let b = self.block(h);
            assert_eq!(b.header.prev_blockhash, self.chain[h as usize - 1]);
            wallet.apply_block(&b, h).unwrap();
            self.chain.push(b.block_hash());
        }
    }

    pub fn broadcast(&mut self, tx: &Transaction) -> Result<(), String> {
        self.rpc
            .call("sendrawtransaction", json!([serialize_hex(tx)]))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    pub fn external_address(&mut self) -> bitcoin::Address {
        let a = self.rpc.call("getnewaddress", json!([])).unwrap();
        a.as_str()
            .unwrap()
            .parse::<bitcoin::Address<_>>()
            .unwrap()
            .assume_checked()
    }
}
