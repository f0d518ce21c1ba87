//! Test helpers: a devchain in a temp dir and a client to it.

#![allow(dead_code)]

use devchain::{Client, ClientError, DevChain};
use serde_json::{json, Value};

pub struct Chain {
    pub dc: DevChain,
    pub rpc: Client,
    pub dir: tempfile::TempDir,
}

pub fn start() -> Chain {
    let dir = tempfile::tempdir().unwrap();
    let dc = DevChain::spawn(dir.path()).unwrap();
    let rpc = dc.client();
    Chain { dc, rpc, dir }
}

impl Chain {
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.rpc
            .call(method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    pub fn call_err(&mut self, method: &str, params: Value) -> (i64, String) {
        match self.rpc.call(method, params) {
            Err(ClientError::Rpc { code, message }) => (code, message),
            other => panic!("{method}: expected an RPC error, got {other:?}"),
        }
    }

    pub fn mine(&mut self, n: u32) -> Vec<String> {
        let addr = self.call("getnewaddress", json!([]));
        let v = self.call("generatetoaddress", json!([n, addr]));
        serde_json::from_value(v).unwrap()
    }

    pub fn height(&mut self) -> u64 {
        self.call("getblockcount", json!([])).as_u64().unwrap()
    }
}

use bitcoin::hashes::Hash;
use bitcoin::key::{Keypair, TapTweak};
use bitcoin::secp256k1::{All, Message, PublicKey, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, Prevouts, SighashCache, TapSighashType};
use bitcoin::{
    absolute, transaction, Address, Amount, CompressedPublicKey, Network, OutPoint, ScriptBuf,
    Sequence, Transaction, TxIn, TxOut, Txid, Witness,
};

/// A test key that can own P2WPKH, P2TR (key path) and, with a second key, P2WSH 2-of-2 outputs.
pub struct Key {
    pub secp: Secp256k1<All>,
    pub secret: SecretKey,
    pub public: PublicKey,
}

impl Key {
    pub fn new(seed: u8) -> Key {
        let secp = Secp256k1::new();
        let secret = SecretKey::from_slice(&[seed.max(1); 32]).unwrap();
        let public = secret.public_key(&secp);
        Key {
            secp,
            secret,
            public,
        }
    }

    pub fn p2wpkh(&self) -> ScriptBuf {
        ScriptBuf::new_p2wpkh(&CompressedPublicKey(self.public).wpubkey_hash())
    }

    pub fn p2wpkh_address(&self) -> String {
        Address::p2wpkh(&CompressedPublicKey(self.public), Network::Regtest).to_string()
    }

    pub fn p2tr(&self) -> ScriptBuf {
        let (xonly, _) = self.public.x_only_public_key();
        ScriptBuf::new_p2tr(&self.secp, xonly, None)
    }
}

/// `OP_2 <a> <b> OP_2 OP_CHECKMULTISIG`, the funding script of a Lightning channel.
pub fn multisig_2of2(a: &Key, b: &Key) -> ScriptBuf {
    use bitcoin::opcodes::all::OP_CHECKMULTISIG;
    bitcoin::blockdata::script::Builder::new()
        .push_int(2)
        .push_key(&bitcoin::PublicKey::new(a.public))
        .push_key(&bitcoin::PublicKey::new(b.public))
        .push_int(2)
        .push_opcode(OP_CHECKMULTISIG)
        .into_script()
}

/// An unsigned transaction spending `inputs` (with `sequence`) to `outputs`.
pub fn unsigned(
    inputs: &[OutPoint],
    outputs: Vec<TxOut>,
    lock_time: u32,
    sequence: u32,
) -> Transaction {
    Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::from_consensus(lock_time),
        input: inputs
            .iter()
            .map(|op| TxIn {
                previous_output: *op,
                script_sig: ScriptBuf::new(),
                sequence: Sequence(sequence),
                witness: Witness::new(),
            })
            .collect(),
        output: outputs,
    }
}

/// Signs input `i` (spending `prev`, a P2WPKH of `key`).
pub fn sign_p2wpkh(tx: &mut Transaction, i: usize, prev: &TxOut, key: &Key) {
    let hash = SighashCache::new(&*tx)
        .p2wpkh_signature_hash(i, &prev.script_pubkey, prev.value, EcdsaSighashType::All)
        .unwrap();
    let sig = key.secp.sign_ecdsa_low_r(&Message::from(hash), &key.secret);
    let sig = bitcoin::ecdsa::Signature {
        signature: sig,
        sighash_type: EcdsaSighashType::All,
    };
    tx.input[i].witness = Witness::p2wpkh(&sig, &key.public);
}

/// Signs input `i` by the taproot key path; `prevouts` are all spent outputs, in input order.
pub fn sign_p2tr(tx: &mut Transaction, i: usize, prevouts: &[TxOut], key: &Key) {
    let hash = SighashCache::new(&*tx)
        .taproot_key_spend_signature_hash(i, &Prevouts::All(prevouts), TapSighashType::Default)
        .unwrap();
    let keypair = Keypair::from_secret_key(&key.secp, &key.secret)
        .tap_tweak(&key.secp, None)
        .to_keypair();
    let sig = key
        .secp
        .sign_schnorr_no_aux_rand(&Message::from_digest(hash.to_byte_array()), &keypair);
    tx.input[i].witness = Witness::p2tr_key_spend(&bitcoin::taproot::Signature {
        signature: sig,
        sighash_type: TapSighashType::Default,
    });
}

/// Signs input `i` spending a P2WSH 2-of-2 of `a` and `b` (keys in script order).
pub fn sign_2of2(tx: &mut Transaction, i: usize, value: Amount, a: &Key, b: &Key) {
    let script = multisig_2of2(a, b);
    let hash = SighashCache::new(&*tx)
        .p2wsh_signature_hash(i, &script, value, EcdsaSighashType::All)
        .unwrap();
    let msg = Message::from(hash);
    let mut w = Witness::new();
    w.push([]);
    for k in [a, b] {
        let sig = bitcoin::ecdsa::Signature {
            signature: k.secp.sign_ecdsa_low_r(&msg, &k.secret),
            sighash_type: EcdsaSighashType::All,
        };
        w.push(sig.serialize());
    }
    w.push(script.as_bytes());
    tx.input[i].witness = w;
}

pub fn hex_of(tx: &Transaction) -> String {
    bitcoin::consensus::encode::serialize_hex(tx)
}

impl Chain {
    /// Pays `amount` from the faucet to `script` and confirms it; returns the outpoint and output.
    pub fn fund(&mut self, script: &ScriptBuf, amount: Amount) -> (OutPoint, TxOut) {
        let (op, out) = self.fund_unconfirmed(script, amount);
        self.mine(1);
        (op, out)
    }

    /// Pays `amount` from the faucet to `script`, left in the mempool.
    pub fn fund_unconfirmed(&mut self, script: &ScriptBuf, amount: Amount) -> (OutPoint, TxOut) {
        let height = self.height() as u32;
        if height < 101 {
            self.mine(101 - height);
        }
        let addr = Address::from_script(script, Network::Regtest)
            .unwrap()
            .to_string();
        let txid: Txid = self
            .call("sendtoaddress", json!([addr, amount.to_btc()]))
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let raw = self.call("getrawtransaction", json!([txid.to_string()]));
        let tx: Transaction =
            bitcoin::consensus::deserialize(&hex::decode(raw.as_str().unwrap()).unwrap()).unwrap();
        let vout = tx
            .output
            .iter()
            .position(|o| &o.script_pubkey == script)
            .unwrap();
        (
            OutPoint {
                txid,
                vout: vout as u32,
            },
            tx.output[vout].clone(),
        )
    }

    pub fn send(&mut self, tx: &Transaction) -> Result<String, (i64, String)> {
        match self.rpc.call("sendrawtransaction", json!([hex_of(tx)])) {
            Ok(v) => Ok(v.as_str().unwrap().to_string()),
            Err(ClientError::Rpc { code, message }) => Err((code, message)),
            Err(e) => panic!("{e}"),
        }
    }

    pub fn test_accept(&mut self, tx: &Transaction) -> Value {
        self.call("testmempoolaccept", json!([[hex_of(tx)]]))[0].clone()
    }
}
