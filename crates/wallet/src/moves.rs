//! What a block (or a broadcast) does to the wallet's coins, for coin movements: the
//! outputs it pays us and the outputs of ours it spends.

use bitcoin::{Amount, Block, OutPoint, ScriptBuf, Transaction, TxOut, Txid};

use crate::descriptors::AddressType;
use crate::Wallet;

/// Our coins a transaction touches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxMoves {
    /// Outputs paying us.
    pub deposits: Vec<(OutPoint, Amount)>,
    /// Our outputs it spends, with their value, and the spending txid.
    pub spends: Vec<(OutPoint, Amount, Txid)>,
    /// Outputs paying someone else (for `external` movements at broadcast).
    pub external: Vec<(OutPoint, Amount)>,
}

impl Wallet {
    /// Whether `script` is one of our addresses (issued or change).
    pub fn is_mine(&self, script: &ScriptBuf) -> bool {
        let inner = self.lock_inner();
        AddressType::ALL
            .into_iter()
            .any(|ty| inner.wallet_ref(ty).is_mine(script.clone()))
    }

    /// One of our outputs (spent or not).
    pub fn txout(&self, op: OutPoint) -> Option<TxOut> {
        let inner = self.lock_inner();
        AddressType::ALL.into_iter().find_map(|ty| {
            inner
                .wallet_ref(ty)
                .tx_graph()
                .get_txout(op)
                .filter(|o| inner.wallet_ref(ty).is_mine(o.script_pubkey.clone()))
                .cloned()
        })
    }

    /// The coins of ours `tx` pays and spends.
    pub fn tx_moves(&self, tx: &Transaction) -> TxMoves {
        let inner = self.lock_inner();
        let mine = |s: &ScriptBuf| {
            AddressType::ALL
                .into_iter()
                .any(|ty| inner.wallet_ref(ty).is_mine(s.clone()))
        };
        let txid = tx.compute_txid();
        let mut m = TxMoves::default();
        for input in &tx.input {
            let op = input.previous_output;
            let prev = AddressType::ALL
                .into_iter()
                .find_map(|ty| inner.wallet_ref(ty).tx_graph().get_txout(op).cloned());
            if let Some(prev) = prev.filter(|p| mine(&p.script_pubkey)) {
                m.spends.push((op, prev.value, txid));
            }
        }
        for (vout, out) in tx.output.iter().enumerate() {
            let op = OutPoint {
                txid,
                vout: vout as u32,
            };
            if mine(&out.script_pubkey) {
                m.deposits.push((op, out.value));
            } else {
                m.external.push((op, out.value));
            }
        }
        m
    }

    /// Every transaction of `block` that touches our coins, with what it does (call it
    /// after the block is applied, so outputs of earlier transactions in it are known).
    pub fn block_moves(&self, block: &Block) -> Vec<TxMoves> {
        block
            .txdata
            .iter()
            .map(|tx| self.tx_moves(tx))
            .filter(|m| !m.deposits.is_empty() || !m.spends.is_empty())
            .collect()
    }

    /// The sum of our confirmed unspent outputs, reserved ones included (the wallet's
    /// row of `balance_snapshot`).
    pub fn confirmed_balance(&self) -> Amount {
        self.outputs(false)
            .iter()
            .filter(|o| o.status != crate::OutputStatus::Unconfirmed)
            .map(|o| o.amount)
            .sum()
    }
}
