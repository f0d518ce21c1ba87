//! The on-chain wallet's seed, derived from `hsm_secret`.
//!
//! `wallet_seed = HKDF-SHA256(salt = "boltd wallet", ikm = hsm_secret, info = "bip32 seed")`,
//! 32 bytes (RFC 5869; one expand block). The wallet's BIP32 master is
//! `Xpriv::new_master(network, wallet_seed)`. This is a one-way, domain-separated child of
//! the secret, so wallet keys and LDK's keys (its own BIP32 tree straight from the secret)
//! never coincide. It must never change: funds sit on these keys (a test pins it).

use bitcoin::hashes::{hmac, sha256, Hash, HashEngine};

const SALT: &[u8] = b"boltd wallet";
const INFO: &[u8] = b"bip32 seed";

pub(crate) fn wallet_seed(secret: &[u8; 32]) -> [u8; 32] {
    hkdf_sha256_32(SALT, secret, INFO)
}

/// HKDF-SHA256 (RFC 5869) producing exactly one 32-byte block.
fn hkdf_sha256_32(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let mut extract = hmac::HmacEngine::<sha256::Hash>::new(salt);
    extract.input(ikm);
    let prk = hmac::Hmac::<sha256::Hash>::from_engine(extract);
    let mut expand = hmac::HmacEngine::<sha256::Hash>::new(prk.as_byte_array());
    expand.input(info);
    expand.input(&[1]);
    hmac::Hmac::<sha256::Hash>::from_engine(expand).to_byte_array()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keys;
    use bitcoin::Network;

    #[test]
    fn hkdf_matches_rfc5869_test_case_1() {
        let ikm = [0x0b; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        // The first 32 of the RFC's 42 output bytes.
        assert_eq!(
            hex::encode(hkdf_sha256_32(&salt, &ikm, &info)),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
        );
    }

    /// Computed independently (Python's hmac/hashlib) from the formula in the module doc.
    #[test]
    fn wallet_seed_is_pinned() {
        assert_eq!(
            hex::encode(wallet_seed(&[0; 32])),
            "79109ff8e42079b502fb5050f577f6652a3d62fa3d86837ea4f6687daa05a5a2"
        );
    }

    #[test]
    fn the_network_changes_the_version_not_the_key() {
        let k = Keys::from_secret([5; 32]);
        let main = k.wallet_master_key(Network::Bitcoin).unwrap();
        let reg = k.wallet_master_key(Network::Regtest).unwrap();
        assert!(main.to_string().starts_with("xprv"));
        assert!(reg.to_string().starts_with("tprv"));
        assert_eq!(main.private_key, reg.private_key);
        assert_eq!(main.chain_code, reg.chain_code);
        // Not LDK's tree: the wallet master differs from a master made from the secret.
        let ldk_master = bitcoin::bip32::Xpriv::new_master(Network::Bitcoin, &[5; 32]).unwrap();
        assert_ne!(main.private_key, ldk_master.private_key);
    }
}
