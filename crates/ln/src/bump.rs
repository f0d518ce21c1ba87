//! Fee-bumping anchor channels' transactions (`Event::BumpTransaction`): LDK's
//! `BumpTransactionEventHandler` over the on-chain wallet. The coins it picks are reserved
//! in the wallet when signed, so a concurrent spend cannot take them.

use std::sync::Arc;

use bitcoin::psbt::Psbt;
use bitcoin::{OutPoint, ScriptBuf, Sequence, Transaction, TxOut};
use lightning::util::wallet_utils::{Utxo, WalletSourceSync};
use wallet::{AddressType, OutputStatus, Wallet};

/// Blocks the inputs of a fee bump stay reserved (its confirmation spends them sooner).
const BUMP_RESERVE_BLOCKS: u32 = 72;
/// Witness and script_sig weight of a P2WPKH key spend (a 73-byte signature).
const P2WPKH_SATISFACTION: u64 = 4 + 1 + 1 + 73 + 1 + 33;
/// Witness and script_sig weight of a P2TR key-path spend (a 65-byte signature).
const P2TR_SATISFACTION: u64 = 4 + 1 + 1 + 65;

/// LDK's view of the wallet for fee bumps.
pub struct WalletSource(pub Arc<Wallet>);

impl WalletSourceSync for WalletSource {
    fn list_confirmed_utxos(&self) -> Result<Vec<Utxo>, ()> {
        Ok(self
            .0
            .outputs(false)
            .into_iter()
            .filter(|o| o.status == OutputStatus::Confirmed && o.reserved_to_block.is_none())
            .map(|o| Utxo {
                outpoint: o.outpoint,
                satisfaction_weight: match o.address_type {
                    AddressType::P2tr => P2TR_SATISFACTION,
                    _ => P2WPKH_SATISFACTION,
                },
                output: TxOut {
                    value: o.amount,
                    script_pubkey: o.script_pubkey,
                },
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            })
            .collect())
    }

    fn get_prevtx(&self, outpoint: OutPoint) -> Result<Transaction, ()> {
        self.0
            .transactions()
            .into_iter()
            .map(|t| t.tx)
            .find(|tx| tx.compute_txid() == outpoint.txid)
            .ok_or(())
    }

    fn get_change_script(&self) -> Result<ScriptBuf, ()> {
        self.0
            .new_address(AddressType::P2tr)
            .map(|a| a.script_pubkey())
            .map_err(|e| tracing::error!("no change address for a fee bump: {e}"))
    }

    fn sign_psbt(&self, psbt: Psbt) -> Result<Transaction, ()> {
        let ours: Vec<OutPoint> = {
            let mine = self.0.outputs(false);
            psbt.unsigned_tx
                .input
                .iter()
                .map(|i| i.previous_output)
                .filter(|op| mine.iter().any(|o| o.outpoint == *op))
                .collect()
        };
        self.0
            .reserve(&ours, false, BUMP_RESERVE_BLOCKS)
            .map_err(|e| tracing::error!("reserving fee-bump inputs: {e}"))?;
        let signed = self
            .0
            .sign_psbt(psbt, None)
            .map_err(|e| tracing::error!("signing a fee bump: {e}"))?;
        // LDK signs its own (anchor or HTLC) input afterwards.
        Ok(signed.extract_tx_unchecked_fee_rate())
    }
}
