//! PSBTs for others to complete (`fundpsbt`, `utxopsbt`), signing PSBTs that spend our
//! coins (`signpsbt`), and taking a finished one for broadcast (`sendpsbt`).

use bdk_wallet::{KeychainKind, LocalOutput, SignOptions};
use bitcoin::absolute::LockTime;
use bitcoin::transaction::Version;
use bitcoin::{Amount, FeeRate, OutPoint, Psbt, Sequence, Transaction, TxIn, TxOut, Weight};

use crate::descriptors::AddressType;
use crate::error::SpendError;
use crate::wallet::{Inner, Reservation, SpendRequest, MAX_FEERATE_PER_KW, MIN_FEERATE_PER_KW};
use crate::Wallet;

/// What `fundpsbt`/`utxopsbt` asks.
#[derive(Debug, Clone)]
pub struct FundRequest {
    /// `None`: everything (`satoshi: "all"`).
    pub satoshi: Option<Amount>,
    pub feerate_per_kw: u64,
    /// Weight of what the caller will add (outputs, other inputs).
    pub startweight: u64,
    pub minconf: u32,
    /// Blocks to reserve the inputs for (0: not reserved).
    pub reserve: u32,
    /// `utxopsbt`: exactly these coins.
    pub utxos: Option<Vec<OutPoint>>,
    /// `utxopsbt reservedok`: reserved coins may be used.
    pub reserved_ok: bool,
    pub locktime: Option<u32>,
    /// Each input's witness weighs at least this.
    pub min_witness_weight: u64,
    /// Put the excess in a change output of ours (if above dust).
    pub excess_as_change: bool,
}

/// An unsigned PSBT of our coins.
#[derive(Debug, Clone)]
pub struct Funded {
    pub psbt: Psbt,
    pub feerate_per_kw: u64,
    pub estimated_final_weight: u64,
    pub excess: Amount,
    pub change_outnum: Option<u32>,
    pub reservations: Vec<Reservation>,
}

/// Why signing refused (lightningd's `signpsbt` texts).
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("Aborting PSBT signing. UTXO {0} is not reserved")]
    NotReserved(OutPoint),
    #[error("No wallet inputs to sign. Are you sure you added inputs to this PSBT? If not, then there is no need to sign it.")]
    NothingToSign,
    #[error("signonly[{0}]: {1} out of range")]
    OutOfRange(usize, usize),
    #[error("signing: {0}")]
    Failed(String),
}

/// Outpoint, sequence, empty script (41 bytes), plus the witness.
fn input_weight(ty: AddressType, min_witness: u64) -> u64 {
    let witness = match ty {
        AddressType::P2tr => 66,
        AddressType::Bech32 => 108,
    };
    4 * 41 + witness.max(min_witness)
}

/// A p2tr change output: 8-byte value, 1-byte length, 34-byte script.
const CHANGE_WEIGHT: u64 = 4 * 43;
/// Below this a p2tr output is dust.
const CHANGE_DUST: Amount = Amount::from_sat(330);

impl Wallet {
    /// Chooses coins paying `satoshi` plus the fees of `startweight` and the inputs, and
    /// returns them as an unsigned PSBT (reserved, durably, when `reserve` > 0).
    pub fn fund_psbt(&self, req: &FundRequest) -> Result<Funded, SpendError> {
        if !(MIN_FEERATE_PER_KW..=MAX_FEERATE_PER_KW).contains(&req.feerate_per_kw) {
            return Err(SpendError::BadFeerate(req.feerate_per_kw));
        }
        if let Some(s) = req.satoshi {
            if s > Amount::MAX_MONEY {
                return Err(SpendError::TooMuch(s.to_sat()));
            }
        }
        let feerate = FeeRate::from_sat_per_kwu(req.feerate_per_kw);
        let fee = |w: u64| {
            feerate
                .fee_wu(Weight::from_wu(w))
                .unwrap_or(Amount::MAX_MONEY)
        };
        let mut inner = self.lock_inner();
        let tip = inner.wallet(AddressType::P2tr).latest_checkpoint().height();
        let candidates = candidates(&inner, req, tip)?;
        let wanted = req.satoshi.unwrap_or(Amount::ZERO);
        let mut chosen = Vec::new();
        let mut total = Amount::ZERO;
        let mut weight = req.startweight;
        let mut enough = false;
        for (ty, lo) in &candidates {
            chosen.push((*ty, lo.clone()));
            total += lo.txout.value;
            weight += input_weight(*ty, req.min_witness_weight);
            if req.satoshi.is_some() && req.utxos.is_none() && total >= wanted + fee(weight) {
                enough = true;
                break;
            }
        }
        let needed = wanted + fee(weight);
        if !enough && total < needed || (req.satoshi.is_none() && total <= fee(weight)) {
            return Err(match (&req.utxos, req.satoshi) {
                (Some(_), Some(s)) => SpendError::CannotAffordUtxos {
                    wanted: format!("{}sat", s.to_sat()),
                    total: total.to_sat(),
                    weight,
                    feerate: req.feerate_per_kw,
                },
                (Some(_), None) => SpendError::CannotAffordUtxos {
                    wanted: "anything".into(),
                    total: total.to_sat(),
                    weight,
                    feerate: req.feerate_per_kw,
                },
                (None, _) => SpendError::CannotAfford {
                    wanted: req
                        .satoshi
                        .map_or("all".into(), |s| format!("{}sat", s.to_sat())),
                    utxos: candidates.len(),
                    short: needed.to_sat().saturating_sub(total.to_sat()).max(1),
                },
            });
        }
        let mut excess = total - wanted - fee(weight).min(total - wanted);
        let mut outputs = Vec::new();
        let mut change_outnum = None;
        if req.excess_as_change {
            let change_fee = fee(CHANGE_WEIGHT);
            if excess > change_fee && excess - change_fee >= CHANGE_DUST {
                let addr = inner
                    .wallet_mut(AddressType::P2tr)
                    .next_unused_address(KeychainKind::Internal);
                outputs.push(TxOut {
                    value: excess - change_fee,
                    script_pubkey: addr.address.script_pubkey(),
                });
                weight += CHANGE_WEIGHT;
                change_outnum = Some(0);
                excess = Amount::ZERO;
            }
        }
        let tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::from_consensus(req.locktime.unwrap_or(tip)),
            input: chosen
                .iter()
                .map(|(_, lo)| TxIn {
                    previous_output: lo.outpoint,
                    sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                    ..Default::default()
                })
                .collect(),
            output: outputs,
        };
        let mut psbt = Psbt::from_unsigned_tx(tx).map_err(|e| SpendError::Build(e.to_string()))?;
        for (i, (ty, lo)) in chosen.iter().enumerate() {
            let input = inner
                .wallet(*ty)
                .get_psbt_input(lo.clone(), None, true)
                .map_err(|e| SpendError::Build(e.to_string()))?;
            if let Some(slot) = psbt.inputs.get_mut(i) {
                *slot = input;
            }
        }
        let mut reservations = Vec::new();
        if req.reserve > 0 {
            for (_, lo) in &chosen {
                let was = inner.reserved_to(lo.outpoint, tip);
                let to = was.unwrap_or(tip).saturating_add(req.reserve);
                inner.set_reservation(lo.outpoint, to);
                reservations.push(Reservation {
                    outpoint: lo.outpoint,
                    was_reserved: was.is_some(),
                    reserved: true,
                    reserved_to_block: to,
                });
            }
        }
        inner.commit()?;
        Ok(Funded {
            psbt,
            feerate_per_kw: req.feerate_per_kw,
            estimated_final_weight: weight,
            excess,
            change_outnum,
            reservations,
        })
    }

    /// Signs (and finalizes) the inputs of `psbt` that spend our coins (only those at
    /// `signonly` positions when given); each must be reserved.
    pub fn sign_psbt(&self, mut psbt: Psbt, signonly: Option<&[usize]>) -> Result<Psbt, SignError> {
        let inner = self.lock_inner();
        let tip = inner.wallet(AddressType::P2tr).latest_checkpoint().height();
        let n = psbt.inputs.len();
        if let Some(only) = signonly {
            if let Some(bad) = only.iter().find(|i| **i >= n) {
                let pos = only.iter().position(|i| i == bad).unwrap_or(0);
                return Err(SignError::OutOfRange(pos, *bad));
            }
        }
        let mut ours = Vec::new();
        for (i, txin) in psbt.unsigned_tx.input.iter().enumerate() {
            if signonly.is_some_and(|only| !only.contains(&i)) {
                continue;
            }
            let op = txin.previous_output;
            let Some((ty, lo)) = inner.utxo(op) else {
                continue;
            };
            if inner.reserved_to(op, tip).is_none() {
                return Err(SignError::NotReserved(op));
            }
            ours.push((i, ty, lo));
        }
        if ours.is_empty() {
            return Err(SignError::NothingToSign);
        }
        // Our inputs get our data (whatever the PSBT said about them), then the master
        // signs exactly those.
        let mut mine = Psbt::from_unsigned_tx(psbt.unsigned_tx.clone())
            .map_err(|e| SignError::Failed(e.to_string()))?;
        for (i, ty, lo) in &ours {
            let input = inner
                .wallet(*ty)
                .get_psbt_input(lo.clone(), None, true)
                .map_err(|e| SignError::Failed(e.to_string()))?;
            if let Some(slot) = mine.inputs.get_mut(*i) {
                *slot = input;
            }
        }
        let secp = inner.wallet(AddressType::P2tr).secp_ctx().clone();
        mine.sign(inner.master(), &secp)
            .map_err(|(_, errors)| SignError::Failed(format!("{errors:?}")))?;
        let opts = SignOptions {
            trust_witness_utxo: true,
            try_finalize: true,
            ..Default::default()
        };
        for ty in AddressType::ALL {
            // Inputs of the other family (and foreign ones) simply stay unfinalized here.
            let _ = inner.wallet(ty).finalize_psbt(&mut mine, opts.clone());
        }
        for (i, _, _) in &ours {
            if let (Some(dst), Some(src)) = (psbt.inputs.get_mut(*i), mine.inputs.get(*i)) {
                *dst = src.clone();
            }
        }
        Ok(psbt)
    }

    /// Our coins among `tx`'s inputs.
    pub fn our_inputs(&self, tx: &Transaction) -> Vec<OutPoint> {
        let inner = self.lock_inner();
        tx.input
            .iter()
            .map(|i| i.previous_output)
            .filter(|op| inner.utxo(*op).is_some())
            .collect()
    }
}

fn candidates(
    inner: &Inner,
    req: &FundRequest,
    tip: u32,
) -> Result<Vec<(AddressType, LocalOutput)>, SpendError> {
    if let (Some(utxos), true) = (&req.utxos, req.reserved_ok) {
        let mut out = Vec::new();
        for op in utxos {
            let Some((ty, lo)) = inner.utxo(*op) else {
                return Err(SpendError::UnknownUtxo(*op));
            };
            if lo.is_spent {
                return Err(SpendError::AlreadySpent(*op));
            }
            out.push((ty, lo));
        }
        return Ok(out);
    }
    let spend = SpendRequest {
        outputs: Vec::new(),
        drain_to: None,
        feerate_per_kw: req.feerate_per_kw,
        minconf: req.minconf,
        utxos: req.utxos.clone(),
        reserve: req.reserve,
    };
    inner.candidates(&spend, tip)
}
