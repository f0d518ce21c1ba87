//! Signs P2WPKH spends of one fixed test key (devchain's strict mempool checks them).

use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{
    absolute, transaction, Amount, CompressedPublicKey, OutPoint, ScriptBuf, Sequence, Transaction,
    TxIn, TxOut, Witness,
};

pub struct Signer {
    secp: Secp256k1<bitcoin::secp256k1::All>,
    secret: SecretKey,
    pubkey: CompressedPublicKey,
    pub script: ScriptBuf,
}

impl Signer {
    pub fn new() -> Signer {
        let secp = Secp256k1::new();
        let secret = SecretKey::from_slice(&[9u8; 32]).expect("valid key");
        let pubkey = CompressedPublicKey(secret.public_key(&secp));
        let script = ScriptBuf::new_p2wpkh(&pubkey.wpubkey_hash());
        Signer {
            secp,
            secret,
            pubkey,
            script,
        }
    }

    /// Spends one P2WPKH output of ours to `outputs`.
    pub fn spend(&self, input: (OutPoint, Amount), outputs: Vec<TxOut>) -> Transaction {
        let mut tx = Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: input.0,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: outputs,
        };
        let hash = SighashCache::new(&tx)
            .p2wpkh_signature_hash(0, &self.script, input.1, EcdsaSighashType::All)
            .expect("input exists");
        let sig = self.secp.sign_ecdsa(&Message::from(hash), &self.secret);
        tx.input[0].witness = Witness::p2wpkh(
            &bitcoin::ecdsa::Signature {
                signature: sig,
                sighash_type: EcdsaSighashType::All,
            },
            &self.pubkey.0,
        );
        tx
    }
}
