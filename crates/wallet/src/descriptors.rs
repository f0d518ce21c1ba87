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
