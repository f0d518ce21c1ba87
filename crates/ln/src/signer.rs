//! The `SignerProvider` LDK's channels get: the `KeysManager` for every key, with two
//! changes. A channel's shutdown script (committed upfront when it is created) is a fresh
//! address of the on-chain wallet, so a mutual close pays straight into the wallet as in
//! Core Lightning, or the `close_to` script its open asked for. And every channel funding
//! key derived is remembered, so the daemon can tell our anchor output from the peer's.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use bitcoin::secp256k1::{PublicKey, Secp256k1};
use bitcoin::ScriptBuf;
use lightning::ln::script::ShutdownScript;
use lightning::sign::{ChannelSigner, InMemorySigner, KeysManager, SignerProvider};
use wallet::{AddressType, Wallet};

pub struct BoltSigner {
    keys: Arc<KeysManager>,
    wallet: Arc<Wallet>,
    /// The next channel's shutdown script, when its open named one (`close_to`): taken by
    /// LDK's one call while the channel is created or accepted, under [`Self::creating`].
    next_shutdown: Mutex<Option<ScriptBuf>>,
    /// A wallet address made ahead of time: LDK asks for a shutdown script while holding
    /// its channel locks, where a wallet write (a store transaction, `db_write` plugins)
    /// must not happen.
    spare: Mutex<Option<ScriptBuf>>,
    /// The script the last `get_shutdown_scriptpubkey` returned.
    taken: Mutex<Option<ScriptBuf>>,
    /// Serialises a create/accept call with the script it is given.
    creating: tokio::sync::Mutex<()>,
    funding_keys: Mutex<HashSet<PublicKey>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl BoltSigner {
    pub fn new(keys: Arc<KeysManager>, wallet: Arc<Wallet>) -> BoltSigner {
        BoltSigner {
            keys,
            wallet,
            next_shutdown: Mutex::new(None),
            taken: Mutex::new(None),
            spare: Mutex::new(None),
            creating: tokio::sync::Mutex::new(()),
            funding_keys: Mutex::new(HashSet::new()),
        }
    }

    /// Runs `create` (LDK's `create_channel` or `accept_inbound_channel`) with `script`
    /// as the channel's upfront shutdown script (`None`: a fresh wallet address, if LDK
    /// asks for one); returns `create`'s result and the script LDK took, if it took one.
    pub async fn with_shutdown_script<R>(
        &self,
        script: Option<ScriptBuf>,
        create: impl FnOnce() -> R,
    ) -> (R, Option<ScriptBuf>) {
        let _one_at_a_time = self.creating.lock().await;
        *lock(&self.next_shutdown) = script;
        lock(&self.taken).take();
        let r = create();
        // Not taken: LDK failed before asking; the next channel must not inherit it.
        lock(&self.next_shutdown).take();
        (r, lock(&self.taken).take())
    }

    /// Takes an internal address made before (by an earlier run) that nothing paid to and
    /// no channel has (`in_use`: the channels' recorded shutdown scripts) as the spare, if
    /// there is none. Writes nothing: a restart must not write before `db_write` plugins'
    /// `init`, nor use up an address each time.
    pub fn adopt_spare(&self, in_use: impl Fn(&ScriptBuf) -> bool) {
        let mut spare = lock(&self.spare);
        if spare.is_none() {
            *spare = self
                .wallet
                .unused_internal_address(AddressType::Bech32, in_use)
                .map(|a| a.script_pubkey());
        }
    }

    /// Makes the spare shutdown address if it was used. Blocking (a wallet write): call
    /// outside LDK, and only once plugins are initialized (`db_write` plugins see it).
    pub fn refill_spare(&self) {
        if lock(&self.spare).is_some() {
            return;
        }
        match self.wallet.new_internal_address(AddressType::Bech32) {
            Ok(a) => *lock(&self.spare) = Some(a.script_pubkey()),
            Err(e) => tracing::warn!("no wallet address for the next shutdown script: {e}"),
        }
    }

    /// Whether `pk` is the funding key of one of our channels (derived since start-up:
    /// every monitor's signer is derived when it is read).
    pub fn is_our_funding_key(&self, pk: &PublicKey) -> bool {
        lock(&self.funding_keys).contains(pk)
    }

    /// Scripts the `KeysManager` can spend (its destination and its shutdown script):
    /// the only `StaticOutput`s worth handing to the sweeper.
    pub fn keys_manager_scripts(&self) -> Vec<ScriptBuf> {
        let mut v = Vec::new();
        if let Ok(s) = self.keys.get_destination_script([0; 32]) {
            v.push(s);
        }
        if let Ok(s) = self.keys.get_shutdown_scriptpubkey() {
            v.push(s.into_inner());
        }
        v
    }
}

impl SignerProvider for BoltSigner {
    type EcdsaSigner = InMemorySigner;

    fn generate_channel_keys_id(&self, inbound: bool, user_channel_id: u128) -> [u8; 32] {
        self.keys.generate_channel_keys_id(inbound, user_channel_id)
    }

    fn derive_channel_signer(&self, channel_keys_id: [u8; 32]) -> InMemorySigner {
        let signer = self.keys.derive_channel_signer(channel_keys_id);
        let funding = signer.pubkeys(&Secp256k1::new()).funding_pubkey;
        lock(&self.funding_keys).insert(funding);
        signer
    }

    fn get_destination_script(&self, channel_keys_id: [u8; 32]) -> Result<ScriptBuf, ()> {
        self.keys.get_destination_script(channel_keys_id)
    }

    fn get_shutdown_scriptpubkey(&self) -> Result<ShutdownScript, ()> {
        let next = lock(&self.next_shutdown).take();
        let script = match next.or_else(|| lock(&self.spare).take()) {
            Some(s) => s,
            // No spare yet (two shutdowns within one refill): the KeysManager's script,
            // which the sweeper moves into the wallet.
            None => self.keys.get_shutdown_scriptpubkey()?.into_inner(),
        };
        let shutdown = ShutdownScript::try_from(script.clone()).map_err(|e| {
            tracing::error!("shutdown script {script} refused by LDK: {e:?}");
        })?;
        *lock(&self.taken) = Some(script);
        Ok(shutdown)
    }
}
