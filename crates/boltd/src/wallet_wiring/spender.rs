//! Sending what the wallet signed: broadcast through the chain's broadcaster, the wallet
//! told of the unconfirmed transaction, `external` deposits for outputs to others; on a
//! refusal the inputs are released. Also the transactions `txprepare` holds until
//! `txsend`/`txdiscard` (in memory, like lightningd's txprepare plugin; their inputs stay
//! reserved, durably, so a restart forgets the transaction but not the reservation).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bitcoin::{Transaction, Txid};
use chain::{BackendError, Broadcaster, ChainStatus, SendOutcome};
use jsonrpc::RpcError;
use tokio::sync::watch;
use wallet::{Spend, Wallet};

use crate::coin_moves::{ChainMove, CoinMoves};

/// Test knob: `before_broadcast` or `after_broadcast` makes the daemon die (as kill -9
/// would) at that point of a `withdraw`/`txsend`.
const CRASH_ENV: &str = "BOLTD_DEV_CRASH_WITHDRAW";

fn crash_point(at: &str) {
    if std::env::var(CRASH_ENV).is_ok_and(|v| v == at) {
        tracing::warn!("{CRASH_ENV}={at}: dying now");
        // SAFETY: ends the process at once, like kill -9 (no destructors, no flush).
        unsafe { libc::_exit(137) };
    }
}

pub struct Spender {
    pub wallet: Arc<Wallet>,
    pub broadcaster: Arc<Broadcaster>,
    pub moves: Arc<CoinMoves>,
    pub status: watch::Receiver<ChainStatus>,
    prepared: Mutex<HashMap<Txid, Spend>>,
}

impl Spender {
    pub fn new(
        wallet: Arc<Wallet>,
        broadcaster: Arc<Broadcaster>,
        moves: Arc<CoinMoves>,
        status: watch::Receiver<ChainStatus>,
    ) -> Spender {
        Spender {
            wallet,
            broadcaster,
            moves,
            status,
            prepared: Mutex::new(HashMap::new()),
        }
    }

    /// Whether we have every block the backend has (else "cannot afford" says syncing).
    pub fn synced(&self) -> bool {
        self.status.borrow().caught_up
    }

    /// Broadcasts `tx` (whose inputs `spend_inputs` the wallet reserved). Accepted: the
    /// wallet learns of it and outputs to others are `external` deposits. Refused: the
    /// inputs are released and lightningd's error returned. No answer: they stay reserved
    /// (it may have gone out; the reservation expires by itself).
    pub async fn broadcast(&self, tx: &Transaction) -> Result<(), RpcError> {
        crash_point("before_broadcast");
        let outcome = self.broadcaster.send_and_wait(tx.clone()).await;
        match outcome {
            Ok(SendOutcome::Accepted) => {
                crash_point("after_broadcast");
                let (wallet, moves, tx) = (self.wallet.clone(), self.moves.clone(), tx.clone());
                crate::wallet_wiring::blocking(&self.wallet, move |_| {
                    if let Err(e) = wallet.transaction_unconfirmed(&tx) {
                        tracing::error!("wallet: recording broadcast {}: {e}", tx.compute_txid());
                    }
                    for (op, value) in wallet.tx_moves(&tx).external {
                        moves.chain_move(ChainMove {
                            account_id: "external".into(),
                            credit_msat: value.to_sat() * 1000,
                            debit_msat: 0,
                            primary_tag: "deposit".into(),
                            extra_tags: Vec::new(),
                            utxo: op,
                            peer_id: None,
                            originating_account: Some("wallet".into()),
                            spending_txid: None,
                            payment_hash: None,
                            output_msat: value.to_sat() * 1000,
                            output_count: None,
                            blockheight: 0,
                        });
                    }
                })
                .await?;
                Ok(())
            }
            Ok(SendOutcome::Refused { errmsg }) => {
                let inputs: Vec<_> = tx.input.iter().map(|i| i.previous_output).collect();
                let released = crate::wallet_wiring::blocking(&self.wallet, move |w| {
                    w.unreserve(&inputs, u32::MAX)
                })
                .await?;
                if let Err(e) = released {
                    tracing::error!("wallet: releasing inputs of a refused transaction: {e}");
                }
                Err(RpcError::daemon(format!(
                    "Error broadcasting transaction: {errmsg}. Unsent tx discarded {}",
                    bitcoin::consensus::encode::serialize_hex(tx)
                )))
            }
            Err(e @ BackendError::Call { .. }) | Err(e @ BackendError::BadReply { .. }) => Err(
                RpcError::daemon(format!("Error broadcasting transaction: {e}")),
            ),
        }
    }

    /// Keeps a `txprepare`d spend until `txsend` or `txdiscard`.
    pub fn hold(&self, spend: Spend) -> Txid {
        let txid = spend.tx.compute_txid();
        self.prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(txid, spend);
        txid
    }

    /// Takes a held spend back (`None`: not an unreleased txid).
    pub fn release(&self, txid: &Txid) -> Option<Spend> {
        self.prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(txid)
    }
}

/// A transaction without its signatures (`unsigned_tx`).
pub fn unsigned(tx: &Transaction) -> Transaction {
    let mut t = tx.clone();
    for i in &mut t.input {
        i.witness.clear();
        i.script_sig = bitcoin::ScriptBuf::new();
    }
    t
}

/// The PSBT without final signatures (txprepare hands out an unsigned one).
pub fn unsigned_psbt(psbt: &bitcoin::Psbt) -> bitcoin::Psbt {
    let mut p = psbt.clone();
    for i in &mut p.inputs {
        i.final_script_witness = None;
        i.final_script_sig = None;
    }
    p
}
