//! The node's keys: the `hsm_secret` file and the one `KeysManager` built from it.
//!
//! Owns: reading (or, on first start, creating) `<network-dir>/hsm_secret` — 32 raw bytes,
//! mode 0400, the same file today's and earlier boltd versions write; Core Lightning's
//! mnemonic format (32 zero bytes + BIP 39 words) is read too — and the single
//! [`KeysManager`] every part of the node shares: the peer layer (as its `NodeSigner`, so
//! the node id), channels later (`SignerProvider`, `EntropySource`), and the seed the
//! on-chain wallet derives its descriptors from ([`Keys::wallet_master_key`]); the raw
//! secret only for derivations that must match Core Lightning's (the runes master secret).
//!
//! Must not touch: any I/O beyond the secret file (no sockets, no database), channels,
//! the wallet itself. Callers get keys; what they sign stays theirs.
//!
//! The node id depends on the secret alone (LDK's `KeysManager` derives the node key as
//! `m/0'` of a BIP32 master made from the secret), so existing lightning-dirs keep their
//! node id; a test pins it. It is not Core Lightning's node id for the same file (that one
//! is an HKDF of the secret, which LDK's `KeysManager` cannot take). A mnemonic file seeds
//! LDK with the first 32 bytes of its 64-byte BIP 39 seed; derivations that must match
//! Core Lightning's (runes) use the whole seed ([`Keys::cln_seed`]).

mod secret;
mod wallet;

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::bip32::Xpriv;
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::Network;
pub use lightning::sign::KeysManager;

pub use secret::SECRET_FILE;

/// Why the keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("{path}: expected 32 bytes, found {len}")]
    Length { path: String, len: usize },
    #[error("{path}: cannot use this hsm_secret: {why}")]
    Format { path: String, why: String },
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("creating {path}: {source}")]
    Create {
        path: String,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    /// The derived wallet seed is not a valid BIP32 master (probability about 2^-127).
    #[error("cannot derive the wallet master key: {0}")]
    Wallet(bitcoin::bip32::Error),
}

/// The node's keys; cheap to clone (every clone shares the one `KeysManager`).
#[derive(Clone)]
pub struct Keys {
    /// LDK's seed (a plain file's 32 bytes): kept for the wallet derivation (LDK does not
    /// expose its seed).
    secret: [u8; 32],
    /// What Core Lightning derives its secrets from: the plain 32 bytes, or a mnemonic's
    /// 64-byte BIP 39 seed.
    cln_seed: Vec<u8>,
    /// The one `KeysManager`: node key, channel keys, entropy.
    manager: Arc<KeysManager>,
    node_id: PublicKey,
}

impl fmt::Debug for Keys {
    /// Never prints secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// Reads `<network_dir>/hsm_secret`, creating it (random, mode 0400, durable before this
    /// returns) on first start, and builds the keys from it.
    pub fn load_or_create(network_dir: &Path) -> Result<Keys, KeysError> {
        Ok(match secret::load_or_create(network_dir)? {
            secret::Secret::Plain(s) => Keys::from_secret(s),
            secret::Secret::Mnemonic(seed) => Keys::from_bip39_seed(&seed),
        })
    }

    /// The keys of a Core Lightning mnemonic `hsm_secret` with this 64-byte BIP 39 seed.
    pub fn from_bip39_seed(seed: &[u8; 64]) -> Keys {
        let ldk: [u8; 32] = std::array::from_fn(|i| seed[i]);
        let mut k = Keys::from_secret(ldk);
        k.cln_seed = seed.to_vec();
        k
    }

    /// The keys for a given 32-byte secret (tests, tools).
    pub fn from_secret(secret: [u8; 32]) -> Keys {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        // The start time only seeds this run's ephemeral randomness (LDK requires it to
        // differ between runs); every persistent key depends on the secret alone.
        // v2 remote key derivation: force-close outputs to us land on a small static set of
        // scripts, recoverable from the secret without channel state.
        let manager = Arc::new(KeysManager::new(
            &secret,
            now.as_secs(),
            now.subsec_nanos(),
            true,
        ));
        let node_id =
            PublicKey::from_secret_key(&Secp256k1::signing_only(), &manager.get_node_secret_key());
        Keys {
            secret,
            cln_seed: secret.to_vec(),
            manager,
            node_id,
        }
    }

    /// The seed Core Lightning derives its own secrets from (32 bytes of a plain file, the
    /// 64-byte BIP 39 seed of a mnemonic one), for the few secrets that must match its
    /// (the runes master secret). Never log or store it.
    pub fn cln_seed(&self) -> &[u8] {
        &self.cln_seed
    }

    /// The node id (the public key peers know us by).
    pub fn node_id(&self) -> PublicKey {
        self.node_id
    }

    /// The node's secret key (BOLT 8 handshakes, gossip signatures, `signmessage`).
    pub fn node_secret(&self) -> SecretKey {
        self.manager.get_node_secret_key()
    }

    /// The one `KeysManager`, for whoever needs a `NodeSigner`, `EntropySource` or
    /// `SignerProvider`.
    pub fn manager(&self) -> Arc<KeysManager> {
        self.manager.clone()
    }

    /// The 32 bytes the on-chain wallet is seeded with:
    /// `HKDF-SHA256(salt = "boltd wallet", ikm = hsm_secret, info = "bip32 seed")` (RFC 5869).
    pub fn wallet_seed(&self) -> [u8; 32] {
        wallet::wallet_seed(&self.secret)
    }

    /// The BIP32 master key the on-chain wallet derives its descriptors from:
    /// `Xpriv::new_master(network, wallet_seed)` (the network only sets the key's
    /// `xprv`/`tprv` version; the key material is the same on every network). A wallet
    /// builds e.g. `wpkh(<master>/84'/<coin>'/0'/0/*)` and `.../1/*` from it.
    pub fn wallet_master_key(&self, network: Network) -> Result<Xpriv, KeysError> {
        Xpriv::new_master(network, &self.wallet_seed()).map_err(KeysError::Wallet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lightning::sign::{NodeSigner, Recipient};

    fn secret(h: &str) -> [u8; 32] {
        hex::decode(h).unwrap().try_into().unwrap()
    }

    /// Node ids computed with boltd's code before this crate existed (LDK 0.2.7's
    /// `KeysManager`, the way `boltd::hsm` derived them): a lightning-dir created then must
    /// keep its identity.
    #[test]
    fn node_id_is_the_one_earlier_boltd_derived() {
        let cases = [
            (
                "5f0e1f6b9a4c3d2e8b7a69584736251403f2e1d0c9b8a7968574635241302f1e",
                "02d4074c3286b0c7a1688e3afe5a8b96e0443697373479ff868a65caf7b4526845",
            ),
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                "027f921585f2ac0c7c70e36110adecfd8fd14b8a99bfb3d000a283fcac358fce88",
            ),
        ];
        for (s, id) in cases {
            let k = Keys::from_secret(secret(s));
            assert_eq!(k.node_id().to_string(), id);
            assert_eq!(
                k.manager().get_node_id(Recipient::Node).unwrap(),
                k.node_id()
            );
            assert_eq!(
                PublicKey::from_secret_key(&Secp256k1::new(), &k.node_secret()),
                k.node_id()
            );
        }
    }

    #[test]
    fn an_existing_secret_file_keeps_its_node_id() {
        let d = tempfile::tempdir().unwrap();
        let s = secret("5f0e1f6b9a4c3d2e8b7a69584736251403f2e1d0c9b8a7968574635241302f1e");
        std::fs::write(d.path().join(SECRET_FILE), s).unwrap();
        let k = Keys::load_or_create(d.path()).unwrap();
        assert_eq!(
            k.node_id().to_string(),
            "02d4074c3286b0c7a1688e3afe5a8b96e0443697373479ff868a65caf7b4526845"
        );
    }

    #[test]
    fn a_mnemonic_file_keeps_its_whole_seed_for_cln_derivations() {
        let d = tempfile::tempdir().unwrap();
        let words =
            "hockey enroll sure trip track rescue original plate abandon abandon abandon account";
        let mut file = vec![0u8; 32];
        file.extend_from_slice(words.as_bytes());
        std::fs::write(d.path().join(SECRET_FILE), &file).unwrap();
        let k = Keys::load_or_create(d.path()).unwrap();
        assert_eq!(k.cln_seed().len(), 64);
        let again = Keys::load_or_create(d.path()).unwrap();
        assert_eq!(again.node_id(), k.node_id());
        assert_eq!(again.cln_seed(), k.cln_seed());
        assert_eq!(&k.secret[..], &k.cln_seed()[..32]);
        let plain = Keys::from_secret([3; 32]);
        assert_eq!(plain.cln_seed(), &[3u8; 32][..]);
    }

    #[test]
    fn clones_share_one_keys_manager() {
        let k = Keys::from_secret([7; 32]);
        let c = k.clone();
        assert!(Arc::ptr_eq(&k.manager(), &c.manager()));
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let k = Keys::from_secret([0xab; 32]);
        let s = format!("{k:?}");
        assert!(!s.contains("abab"), "{s}");
        assert!(!s.contains("171, 171"), "{s}");
    }
}
