//! The faucet: devchain's own wallet of one P2WPKH key. Blocks mined to its address fund
//! `sendtoaddress`; it spends mature coins and its own unconfirmed change, like bitcoind's
//! wallet spends trusted change.

use std::path::Path;

use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{
    absolute, ecdsa, transaction, Address, Amount, CompressedPublicKey, OutPoint, ScriptBuf,
    Sequence, Transaction, TxIn, TxOut, Witness,
};

use crate::params;

/// Faucet failures.
#[derive(Debug, thiserror::Error)]
pub enum FaucetError {
    /// Not enough spendable coins (bitcoind: -6 `Insufficient funds`).
    #[error("Insufficient funds")]
    InsufficientFunds,
    /// The key file could not be read or written.
    #[error("faucet key {0}")]
    Key(String),
}

/// The faucet key.
#[derive(Debug)]
pub struct Faucet {
    secret: SecretKey,
    pubkey: CompressedPublicKey,
    script: ScriptBuf,
}

impl Faucet {
    /// Loads `faucet.key` from `dir`, creating a random key the first time.
    pub fn open(dir: &Path) -> Result<Faucet, FaucetError> {
        let path = dir.join("faucet.key");
        let secret = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse::<SecretKey>()
                .map_err(|e| FaucetError::Key(format!("{}: {e}", path.display())))?,
            Err(_) => {
                let secret = SecretKey::new(&mut rand::thread_rng());
                write_private(&path, &format!("{}\n", secret.display_secret()))
                    .map_err(|e| FaucetError::Key(format!("{}: {e}", path.display())))?;
                secret
            }
        };
        let secp = Secp256k1::signing_only();
        let pubkey = CompressedPublicKey(secret.public_key(&secp));
        let script = ScriptBuf::new_p2wpkh(&pubkey.wpubkey_hash());
        Ok(Faucet {
            secret,
            pubkey,
            script,
        })
    }

    /// The faucet's address (what `getnewaddress` returns).
    pub fn address(&self) -> Address {
        Address::p2wpkh(&self.pubkey, params::NETWORK)
    }

    /// The faucet's output script.
    pub fn script(&self) -> &ScriptBuf {
        &self.script
    }

    /// A signed transaction paying `amount` to `to` from `coins` (taken in the order given),
    /// change back to the faucet, at `sat_per_kvb`.
    pub fn pay(
        &self,
        coins: Vec<(OutPoint, Amount)>,
        to: ScriptBuf,
        amount: Amount,
        sat_per_kvb: u64,
    ) -> Result<Transaction, FaucetError> {
        // A P2WPKH input is at most 68 vbytes; the rest is version, counts, outputs, lock time.
        let fixed_vsize = 11 + 43 + (9 + to.len() as u64) + 31;
        let mut chosen = Vec::new();
        let mut total = Amount::ZERO;
        for coin in coins {
            total += coin.1;
            chosen.push(coin);
            let fee = fee_for(fixed_vsize + 68 * chosen.len() as u64, sat_per_kvb);
            let Some(needed) = amount.checked_add(fee) else {
                break;
            };
            if total >= needed {
                return self.sign(chosen, to, amount, total - needed);
            }
        }
        Err(FaucetError::InsufficientFunds)
    }

    fn sign(
        &self,
        inputs: Vec<(OutPoint, Amount)>,
        to: ScriptBuf,
        amount: Amount,
        change: Amount,
    ) -> Result<Transaction, FaucetError> {
        let mut output = vec![TxOut {
            value: amount,
            script_pubkey: to,
        }];
        if change >= self.script.minimal_non_dust() {
            output.push(TxOut {
                value: change,
                script_pubkey: self.script.clone(),
            });
        }
        let mut tx = Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: inputs
                .iter()
                .map(|(op, _)| TxIn {
                    previous_output: *op,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                    witness: Witness::new(),
                })
                .collect(),
            output,
        };
        let secp = Secp256k1::signing_only();
        let mut witnesses = Vec::with_capacity(inputs.len());
        {
            let mut cache = SighashCache::new(&tx);
            for (i, (_, value)) in inputs.iter().enumerate() {
                let hash = cache
                    .p2wpkh_signature_hash(i, &self.script, *value, EcdsaSighashType::All)
                    .map_err(|e| FaucetError::Key(e.to_string()))?;
                let sig = secp.sign_ecdsa(&Message::from(hash), &self.secret);
                let sig = ecdsa::Signature {
                    signature: sig,
                    sighash_type: EcdsaSighashType::All,
                };
                witnesses.push(Witness::p2wpkh(&sig, &self.pubkey.0));
            }
        }
        for (input, w) in tx.input.iter_mut().zip(witnesses) {
            input.witness = w;
        }
        Ok(tx)
    }
}

/// Writes a file only its owner can read (the faucet key guards every faucet coin).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Fee for `vsize` at `sat_per_kvb`, rounded up.
pub fn fee_for(vsize: u64, sat_per_kvb: u64) -> Amount {
    Amount::from_sat(vsize.saturating_mul(sat_per_kvb).div_ceil(1000))
}
