//! What the wallet writes, and the seam the daemon's store implements.

use std::collections::BTreeMap;

use bdk_wallet::chain::Merge;
use bdk_wallet::ChangeSet;
use bitcoin::OutPoint;
use serde::{Deserialize, Serialize};

use crate::descriptors::AddressType;

/// One durable change to the wallet: BDK's changesets of the two address families and the
/// reservations that changed (`None`: released). Records merge; the merge of every record
/// written, in order, is the wallet's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    #[serde(default)]
    pub bech32: ChangeSet,
    #[serde(default)]
    pub p2tr: ChangeSet,
    /// Reserved until (and including) this block height.
    #[serde(default)]
    pub reservations: BTreeMap<OutPoint, Option<u32>>,
}

impl Record {
    pub fn changeset_mut(&mut self, ty: AddressType) -> &mut ChangeSet {
        match ty {
            AddressType::Bech32 => &mut self.bech32,
            AddressType::P2tr => &mut self.p2tr,
        }
    }

    pub fn changeset(&self, ty: AddressType) -> &ChangeSet {
        match ty {
            AddressType::Bech32 => &self.bech32,
            AddressType::P2tr => &self.p2tr,
        }
    }

    /// JSON (BDK's changesets are serde types; JSON keeps them readable to `db_write`
    /// plugins and to a human recovering funds).
    pub fn to_bytes(&self) -> Result<Vec<u8>, PersistError> {
        serde_json::to_vec(self).map_err(|e| PersistError(format!("encoding wallet record: {e}")))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Record, PersistError> {
        serde_json::from_slice(bytes).map_err(|e| PersistError(format!("bad wallet record: {e}")))
    }
}

impl Merge for Record {
    fn merge(&mut self, other: Self) {
        self.bech32.merge(other.bech32);
        self.p2tr.merge(other.p2tr);
        self.reservations.extend(other.reservations);
    }

    fn is_empty(&self) -> bool {
        self.bech32.is_empty() && self.p2tr.is_empty() && self.reservations.is_empty()
    }
}

/// Why the store could not load or write a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("wallet store: {0}")]
pub struct PersistError(pub String);

/// Durable storage of the wallet's records. The daemon backs it with its store, one
/// `Store::transaction` per [`WalletStore::append`] so `db_write` plugins see each one.
pub trait WalletStore: Send {
    /// The merge of every record appended so far (`Record::default()` for a new wallet).
    fn load(&mut self) -> Result<Record, PersistError>;
    /// Durable when it returns `Ok`.
    fn append(&mut self, record: &Record) -> Result<(), PersistError>;
}
