//! The wallet's four descriptors, derived from the BIP32 master the keys crate gives us.

use bdk_wallet::KeychainKind;
use bitcoin::bip32::Xpriv;
use bitcoin::Network;

/// The two address families `newaddr` offers; each is a separate BDK wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AddressType {
    /// Native segwit v0, P2WPKH (BIP84): `newaddr bech32`.
    Bech32,
    /// Taproot key path, no script tree (BIP86): `newaddr p2tr`; also every change output.
    P2tr,
}

impl AddressType {
    pub const ALL: [AddressType; 2] = [AddressType::Bech32, AddressType::P2tr];
}

/// BIP44 coin type: `0'` on mainnet, `1'` on every test network (what descriptor wallets
/// scan by default, so a recovery finds the funds without a custom path).
fn coin_type(network: Network) -> u32 {
    match network {
        Network::Bitcoin => 0,
        _ => 1,
    }
}

/// The private descriptor of one keychain (with its checksum-less text form, which BDK and
/// Bitcoin Core's `importdescriptors` both accept).
pub fn descriptor(
    master: &Xpriv,
    network: Network,
    ty: AddressType,
    keychain: KeychainKind,
) -> String {
    let coin = coin_type(network);
    let branch = match keychain {
        KeychainKind::External => 0,
        KeychainKind::Internal => 1,
    };
    match ty {
        AddressType::Bech32 => format!("wpkh({master}/84'/{coin}'/0'/{branch}/*)"),
        AddressType::P2tr => format!("tr({master}/86'/{coin}'/0'/{branch}/*)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::bip32::DerivationPath;
    use bitcoin::key::Secp256k1;
    use bitcoin::{Address, CompressedPublicKey};
    use std::str::FromStr;

    /// The addresses the wallet hands out are plain BIP84/BIP86 ones: derived here with
    /// nothing but BIP32 and the address constructors, as a recovering wallet would.
    #[test]
    fn addresses_are_the_standard_bip84_and_bip86_ones() {
        let secp = Secp256k1::new();
        let master = Xpriv::new_master(Network::Regtest, &[7; 32]).unwrap();
        for (ty, path) in [
            (AddressType::Bech32, "m/84'/1'/0'/0/0"),
            (AddressType::P2tr, "m/86'/1'/0'/0/0"),
        ] {
            let d = descriptor(&master, Network::Regtest, ty, KeychainKind::External);
            let w = bdk_wallet::Wallet::create_single(d)
                .network(Network::Regtest)
                .create_wallet_no_persist()
                .unwrap();
            let key = master
                .derive_priv(&secp, &DerivationPath::from_str(path).unwrap())
                .unwrap()
                .to_priv();
            let expected = match ty {
                AddressType::Bech32 => Address::p2wpkh(
                    &CompressedPublicKey::from_private_key(&secp, &key).unwrap(),
                    Network::Regtest,
                ),
                AddressType::P2tr => Address::p2tr(
                    &secp,
                    key.public_key(&secp).inner.x_only_public_key().0,
                    None,
                    Network::Regtest,
                ),
            };
            assert_eq!(
                w.peek_address(KeychainKind::External, 0).address,
                expected,
                "{ty:?}"
            );
        }
    }

    #[test]
    fn mainnet_uses_coin_type_zero() {
        let master = Xpriv::new_master(Network::Bitcoin, &[7; 32]).unwrap();
        let d = descriptor(
            &master,
            Network::Bitcoin,
            AddressType::P2tr,
            KeychainKind::Internal,
        );
        assert!(
            d.starts_with("tr(xprv") && d.ends_with("/86'/0'/0'/1/*)"),
            "{d}"
        );
    }
}
