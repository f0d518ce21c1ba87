//! Where swept channel outputs go: a fresh address of the on-chain wallet.

use std::sync::Arc;

use bitcoin::ScriptBuf;
use lightning::sign::ChangeDestinationSourceSync;
use wallet::{AddressType, Wallet};

/// LDK's `ChangeDestinationSource` on the wallet: every sweep pays to a new (durably
/// issued, hence watched) wallet address.
pub struct WalletDestination(pub Arc<Wallet>);

impl ChangeDestinationSourceSync for WalletDestination {
    fn get_change_destination_script(&self) -> Result<ScriptBuf, ()> {
        match self.0.new_address(AddressType::Bech32) {
            Ok(a) => Ok(a.script_pubkey()),
            Err(e) => {
                tracing::error!("no wallet address for a sweep: {e}");
                Err(())
            }
        }
    }
}
