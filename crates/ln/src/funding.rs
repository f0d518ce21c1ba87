//! Our `fundchannel`: `create_channel`, the wallet transaction for
//! `Event::FundingGenerationReady`, and the reply once LDK broadcast it (`ChannelPending`).
//!
//! The funding transaction's inputs are reserved (durably, by the wallet's `spend`) from
//! the moment it is built; they stay reserved until the transaction is broadcast (the
//! wallet then sees it as unconfirmed and its blocks spend the coins) or LDK discards it
//! (`Event::DiscardFunding`: released).

use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, Txid};
use lightning::events::{Event, FundingInfo, ReplayEvent};
use lightning::ln::types::ChannelId;
use lightning::sign::SpendableOutputDescriptor;
use lightning::util::config::ChannelConfigUpdate;
use lightning_types::features::ChannelTypeFeatures;
use tokio::sync::oneshot;
use wallet::{OutputStatus, SpendRequest};

use crate::error::OpenError;
use crate::node::Ln;

/// BOLT 2's limit without `option_support_large_channel`.
pub const MAX_FUNDING_NO_WUMBO_SAT: u64 = (1 << 24) - 1;
/// How long the funding inputs stay reserved if nothing releases them (Core Lightning's
/// fundchannel reserves for 2016 blocks).
pub const FUNDING_RESERVE_BLOCKS: u32 = 2016;
/// The kv namespace of funding transactions built but not yet broadcast (their inputs, by
/// user channel id): a crash in between must not leave those coins reserved.
const PENDING_FUNDING_NS: &str = "boltd_pending_funding";
/// Developer crash knob: `after_funding_generated` dies once LDK has the funding
/// transaction, before it is broadcast.
const CRASH_ENV: &str = "BOLTD_DEV_CRASH_OPEN";

fn crash_point(at: &str) {
    if std::env::var(CRASH_ENV).is_ok_and(|v| v == at) {
        tracing::warn!("{CRASH_ENV}={at}: dying now");
        // SAFETY: ends the process at once, like kill -9 (no destructors, no flush).
        unsafe { libc::_exit(137) };
    }
}

/// How long `fundchannel` waits for the peer to complete the open.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(120);

/// How much goes into the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FundAmount {
    Sat(u64),
    /// Everything the wallet can spend, less fees and the anchor reserve.
    All,
}

/// `fundchannel`'s parameters, parsed.
#[derive(Debug, Clone)]
pub struct OpenRequest {
    pub peer: PublicKey,
    pub amount: FundAmount,
    pub push_msat: u64,
    pub announce: bool,
    /// Funding feerate; `None`: the chain's `opening` estimate.
    pub feerate_per_kw: Option<u32>,
    pub minconf: u32,
    pub utxos: Option<Vec<OutPoint>>,
    /// Reserve we require of the peer, in sats (`None`: 1%).
    pub reserve_sat: Option<u64>,
    /// Where a close pays our side (`close_to`); `None`: a wallet address.
    pub close_to: Option<ScriptBuf>,
}

/// What `fundchannel` returns.
#[derive(Debug, Clone)]
pub struct Opened {
    pub tx: Transaction,
    pub txid: Txid,
    pub outnum: u32,
    pub channel_id: ChannelId,
    pub channel_type: Option<ChannelTypeFeatures>,
    pub user_channel_id: u128,
    /// The channel's upfront shutdown script (only with `close_to`).
    pub shutdown_script: Option<ScriptBuf>,
}

/// An open between `create_channel` and `ChannelPending` (or its failure).
pub(crate) struct PendingOpen {
    feerate_per_kw: u32,
    minconf: u32,
    utxos: Option<Vec<OutPoint>>,
    /// The signed funding transaction once built, and its funding output.
    funding: Option<(Transaction, u32)>,
    shutdown_script: Option<ScriptBuf>,
    reply: Option<oneshot::Sender<Result<Opened, OpenError>>>,
}

impl PendingOpen {
    fn answer(&mut self, r: Result<Opened, OpenError>) {
        if let Some(tx) = self.reply.take() {
            let _ = tx.send(r);
        }
    }
}

fn api_error(e: lightning::util::errors::APIError) -> OpenError {
    use lightning::util::errors::APIError;
    match e {
        APIError::APIMisuseError { err } if err.starts_with("Not connected") => {
            OpenError::NotConnected
        }
        APIError::APIMisuseError { err }
        | APIError::FeeRateTooHigh { err, .. }
        | APIError::InvalidRoute { err }
        | APIError::ChannelUnavailable { err } => OpenError::Ldk(err),
        other => OpenError::Ldk(format!("{other:?}")),
    }
}

impl Ln {
    /// The on-chain amount kept for fee-bumping anchor channels: one share per anchor
    /// channel, counting the one being opened.
    pub fn anchor_reserve_sat(&self) -> u64 {
        let anchors = self
            .manager
            .list_channels()
            .iter()
            .filter(|c| {
                c.channel_type
                    .as_ref()
                    .is_some_and(|t| t.supports_anchors_zero_fee_htlc_tx())
            })
            .count() as u64;
        (anchors + 1) * self.config.anchor_reserve_per_channel_sat
    }

    /// Spendable wallet funds for an open with `minconf` (unreserved, confirmed enough).
    fn spendable_sat(&self, minconf: u32) -> u64 {
        let tip = self.wallet.tip().height;
        self.wallet
            .outputs(false)
            .iter()
            .filter(|o| o.reserved_to_block.is_none())
            .filter(|o| match (o.status, o.blockheight) {
                (OutputStatus::Confirmed, Some(h)) => tip + 1 >= h + minconf,
                (OutputStatus::Unconfirmed, _) => minconf == 0,
                _ => false,
            })
            .map(|o| o.amount.to_sat())
            .sum()
    }

    /// What "all" funds: a dry-run spend draining the wallet to a funding-sized output,
    /// its inputs released at once.
    fn all_amount(&self, req: &OpenRequest, feerate: u32) -> Result<u64, OpenError> {
        // A P2WSH output has the funding output's size.
        let dummy = ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::from_raw_hash(
            bitcoin::hashes::Hash::all_zeros(),
        ));
        let spend = self.wallet.spend(&SpendRequest {
            outputs: vec![],
            drain_to: Some(dummy),
            feerate_per_kw: feerate as u64,
            minconf: req.minconf,
            utxos: req.utxos.clone(),
            reserve: 1,
        })?;
        let _ = self.wallet.unreserve(&spend.inputs, 1);
        let total: u64 = spend.tx.output.iter().map(|o| o.value.to_sat()).sum();
        Ok(total)
    }

    /// Opens a channel we fund; returns once the funding transaction is broadcast.
    /// `connected` says whether the peer is still connected (the peer layer knows).
    pub async fn open_channel(
        &self,
        req: OpenRequest,
        connected: impl Fn(&PublicKey) -> bool,
    ) -> Result<Opened, OpenError> {
        let feerate = match req.feerate_per_kw {
            Some(f) => f,
            None => self.fees.opening().ok_or(OpenError::NoFees)?,
        };
        let reserve = self.anchor_reserve_sat();
        let amount = match req.amount {
            FundAmount::Sat(a) => {
                let available = self.spendable_sat(req.minconf);
                // Fees come on top; the wallet refuses later if they do not fit.
                if req.utxos.is_none() && available >= a && available < a.saturating_add(reserve) {
                    return Err(OpenError::AnchorReserve {
                        wanted: a,
                        reserve,
                        available,
                    });
                }
                a
            }
            FundAmount::All => {
                let all = self.all_amount(&req, feerate)?;
                let a = all.saturating_sub(reserve);
                if a == 0 || a < Amount::from_sat(546).to_sat() {
                    return Err(OpenError::AnchorReserve {
                        wanted: all,
                        reserve,
                        available: all,
                    });
                }
                a.min(MAX_FUNDING_NO_WUMBO_SAT)
            }
        };
        if req.push_msat > amount.saturating_mul(1000) {
            return Err(OpenError::PushTooLarge {
                push_msat: req.push_msat,
                amount,
            });
        }
        let mut config = crate::config::user_config(&self.config);
        config.channel_handshake_config.announce_for_forwarding = req.announce;
        // As Core Lightning: a shutdown script is promised upfront only when `close_to`
        // names one, so `close destination` stays free otherwise.
        config
            .channel_handshake_config
            .commit_upfront_shutdown_pubkey = req.close_to.is_some();
        if let Some(r) = req.reserve_sat {
            let millionths = (r.saturating_mul(1_000_000) / amount.max(1)).min(1_000_000);
            config
                .channel_handshake_config
                .their_channel_reserve_proportional_millionths = millionths as u32;
        }
        let user_channel_id: u128 = u128::from_be_bytes(
            lightning::sign::EntropySource::get_secure_random_bytes(&*self.keys)[..16]
                .try_into()
                .unwrap_or([0; 16]),
        );
        let (tx, rx) = oneshot::channel();
        self.lock_opens().insert(
            user_channel_id,
            PendingOpen {
                feerate_per_kw: feerate,
                minconf: req.minconf,
                utxos: req.utxos.clone(),
                funding: None,
                shutdown_script: None,
                reply: Some(tx),
            },
        );
        let created = self
            .signer
            .with_shutdown_script(req.close_to.clone(), || {
                self.manager.create_channel(
                    req.peer,
                    amount,
                    req.push_msat,
                    user_channel_id,
                    None,
                    Some(config),
                )
            })
            .await;
        match created {
            (Ok(_), script) => {
                if let Some(p) = self.lock_opens().get_mut(&user_channel_id) {
                    p.shutdown_script = script;
                }
            }
            (Err(e), _) => {
                self.lock_opens().remove(&user_channel_id);
                return Err(api_error(e));
            }
        }
        // Wait for the outcome; give up if the peer goes away before the funding is
        // signed (LDK would keep the open to retry on reconnect) or takes too long.
        let deadline = tokio::time::Instant::now() + OPEN_TIMEOUT;
        let mut rx = rx;
        let mut check = tokio::time::interval(Duration::from_millis(250));
        let failure = loop {
            tokio::select! {
                r = &mut rx => {
                    self.lock_opens().remove(&user_channel_id);
                    return match r {
                        Ok(Ok(opened)) => {
                            self.broadcaster.sent(&opened.tx).await.map_err(|e| {
                                OpenError::Failed(format!("Error broadcasting transaction: {e}"))
                            })?;
                            Ok(opened)
                        }
                        Ok(Err(e)) => Err(e),
                        Err(_) => Err(OpenError::Failed("channel open abandoned".into())),
                    };
                }
                _ = check.tick() => {
                    if tokio::time::Instant::now() >= deadline {
                        break "Timed out waiting for the peer to complete the channel open";
                    }
                    if !connected(&req.peer) {
                        break "Peer disconnected during the channel open";
                    }
                }
            }
        };
        let pending = self.lock_opens().remove(&user_channel_id);
        // Not broadcast (else we would have the reply): close it so the peer and LDK
        // forget it; DiscardFunding releases the inputs of a funding already built.
        if pending.is_some() {
            for c in self.manager.list_channels_with_counterparty(&req.peer) {
                if c.user_channel_id == user_channel_id {
                    let _ = self.manager.force_close_broadcasting_latest_txn(
                        &c.channel_id,
                        &req.peer,
                        failure.into(),
                    );
                }
            }
        }
        Err(OpenError::Failed(failure.into()))
    }

    fn lock_opens(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<u128, PendingOpen>> {
        self.opens.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The funding events; everything else (and these too, for notifications) goes to the
    /// daemon. `Err`: LDK should hand the event again later.
    pub(crate) fn handle_funding_event(&self, event: &Event) -> Result<(), ReplayEvent> {
        match event {
            Event::FundingGenerationReady {
                temporary_channel_id,
                counterparty_node_id,
                channel_value_satoshis,
                output_script,
                user_channel_id,
            } => {
                let mut opens = self.lock_opens();
                let Some(p) = opens.get_mut(user_channel_id) else {
                    drop(opens);
                    // An open nobody waits for (its fundchannel timed out): give up on it.
                    let _ = self.manager.force_close_broadcasting_latest_txn(
                        temporary_channel_id,
                        counterparty_node_id,
                        "Channel open abandoned".into(),
                    );
                    return Ok(());
                };
                // The wallet sets nLockTime to its tip; LDK refuses a funding transaction
                // not final at its own best block, which trails the wallet's while a block
                // is being delivered. Ask again once the block has reached LDK.
                if self.wallet.tip().height > self.manager.current_best_block().height {
                    return Err(ReplayEvent());
                }
                let spend = self.wallet.spend(&SpendRequest {
                    outputs: vec![(
                        output_script.clone(),
                        Amount::from_sat(*channel_value_satoshis),
                    )],
                    drain_to: None,
                    feerate_per_kw: p.feerate_per_kw as u64,
                    minconf: p.minconf,
                    utxos: p.utxos.clone(),
                    reserve: FUNDING_RESERVE_BLOCKS,
                });
                let spend = match spend {
                    Ok(s) => s,
                    Err(e) => {
                        p.answer(Err(OpenError::Spend(e)));
                        drop(opens);
                        let _ = self.manager.force_close_broadcasting_latest_txn(
                            temporary_channel_id,
                            counterparty_node_id,
                            "Funding transaction could not be built".into(),
                        );
                        return Ok(());
                    }
                };
                let outnum = spend
                    .tx
                    .output
                    .iter()
                    .position(|o| o.script_pubkey == *output_script)
                    .unwrap_or(0) as u32;
                p.funding = Some((spend.tx.clone(), outnum));
                drop(opens);
                self.remember_funding(*user_channel_id, &spend.inputs);
                if let Err(e) = self.manager.funding_transaction_generated(
                    *temporary_channel_id,
                    *counterparty_node_id,
                    spend.tx,
                ) {
                    let _ = self.wallet.unreserve(&spend.inputs, FUNDING_RESERVE_BLOCKS);
                    self.forget_funding(*user_channel_id);
                    if let Some(p) = self.lock_opens().get_mut(user_channel_id) {
                        p.answer(Err(api_error(e)));
                    }
                    return Ok(());
                }
                crash_point("after_funding_generated");
            }
            Event::ChannelPending {
                channel_id,
                user_channel_id,
                channel_type,
                ..
            } => {
                // Broadcast (or LDK will rebroadcast it): the wallet takes it from here.
                self.forget_funding(*user_channel_id);
                let mut opens = self.lock_opens();
                if let Some(p) = opens.get_mut(user_channel_id) {
                    if let Some((tx, outnum)) = p.funding.clone() {
                        // LDK has broadcast it: the wallet counts its inputs spent and its
                        // change ours from now on.
                        if let Err(e) = self.wallet.transaction_unconfirmed(&tx) {
                            tracing::warn!("wallet: recording funding tx: {e}");
                        }
                        let shutdown_script = p.shutdown_script.clone();
                        p.answer(Ok(Opened {
                            txid: tx.compute_txid(),
                            tx,
                            outnum,
                            channel_id: *channel_id,
                            channel_type: channel_type.clone(),
                            user_channel_id: *user_channel_id,
                            shutdown_script,
                        }));
                    }
                }
            }
            Event::DiscardFunding {
                funding_info: FundingInfo::Tx { transaction },
                ..
            } => {
                for k in self.pending_funding_keys() {
                    if let Some(inputs) = self.pending_funding(&k) {
                        if inputs
                            .iter()
                            .all(|i| transaction.input.iter().any(|t| t.previous_output == *i))
                        {
                            let _ = self.kv.remove(PENDING_FUNDING_NS, "", &k, false);
                        }
                    }
                }
                let inputs: Vec<OutPoint> = transaction
                    .input
                    .iter()
                    .map(|i| i.previous_output)
                    .collect();
                if let Err(e) = self.wallet.unreserve(&inputs, FUNDING_RESERVE_BLOCKS) {
                    tracing::warn!("wallet: releasing discarded funding inputs: {e}");
                }
            }
            Event::ChannelClosed {
                user_channel_id,
                reason,
                ..
            } => {
                if let Some(p) = self.lock_opens().get_mut(user_channel_id) {
                    p.answer(Err(OpenError::Failed(reason.to_string())));
                }
            }
            Event::BumpTransaction(e) => self.bump.handle_event(e),
            Event::SpendableOutputs {
                outputs,
                channel_id,
                counterparty_node_id,
            } => {
                // A mutual close pays the wallet (or a `close_to` script) directly: such
                // outputs are not the KeysManager's to sign, and one unsignable output
                // would stop every batched sweep.
                let ours = self.signer.keys_manager_scripts();
                let outputs: Vec<_> = outputs
                    .iter()
                    .filter(|d| match d {
                        SpendableOutputDescriptor::StaticOutput { output, .. } => {
                            ours.contains(&output.script_pubkey)
                        }
                        _ => true,
                    })
                    .cloned()
                    .collect();
                if outputs.is_empty() {
                    return Ok(());
                }
                let tracked = self.sweeper.track_spendable_outputs(
                    outputs,
                    *channel_id,
                    *counterparty_node_id,
                    false,
                    None,
                );
                if tracked.is_err() {
                    tracing::error!("sweeper: cannot track spendable outputs of {channel_id:?}");
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Records the inputs of a funding transaction about to be handed to LDK.
    fn remember_funding(&self, user_channel_id: u128, inputs: &[OutPoint]) {
        let text: Vec<String> = inputs.iter().map(|o| o.to_string()).collect();
        if let Err(e) = self.kv.write(
            PENDING_FUNDING_NS,
            "",
            &format!("{user_channel_id:032x}"),
            text.join("\n").into_bytes(),
        ) {
            tracing::warn!("recording a funding transaction's inputs: {e}");
        }
    }

    fn forget_funding(&self, user_channel_id: u128) {
        let _ = self.kv.remove(
            PENDING_FUNDING_NS,
            "",
            &format!("{user_channel_id:032x}"),
            false,
        );
    }

    fn pending_funding_keys(&self) -> Vec<String> {
        self.kv.list(PENDING_FUNDING_NS, "").unwrap_or_default()
    }

    fn pending_funding(&self, key: &str) -> Option<Vec<OutPoint>> {
        let bytes = self.kv.read(PENDING_FUNDING_NS, "", key).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        Some(
            text.lines()
                .filter_map(|l| l.parse::<OutPoint>().ok())
                .collect(),
        )
    }

    /// Start-up: a funding transaction built before a crash and never broadcast. If LDK
    /// kept the channel, it broadcasts it itself; otherwise nobody will, and its inputs
    /// go back to the wallet. Blocking (store writes).
    pub fn release_abandoned_funding(&self) {
        let known: Vec<u128> = self
            .manager
            .list_channels()
            .iter()
            .map(|c| c.user_channel_id)
            .collect();
        for k in self.pending_funding_keys() {
            let Ok(id) = u128::from_str_radix(&k, 16) else {
                continue;
            };
            if !known.contains(&id) {
                if let Some(inputs) = self.pending_funding(&k) {
                    match self.wallet.unreserve(&inputs, FUNDING_RESERVE_BLOCKS) {
                        Ok(_) => tracing::info!(
                            "released {} input(s) of a funding transaction never broadcast",
                            inputs.len()
                        ),
                        Err(e) => {
                            tracing::warn!("releasing an abandoned funding's inputs: {e}");
                            continue;
                        }
                    }
                }
            }
            let _ = self.kv.remove(PENDING_FUNDING_NS, "", &k, false);
        }
    }

    /// `setchannel`'s fee and HTLC limits for the given channels of one peer.
    pub fn update_channel_config(
        &self,
        peer: &PublicKey,
        channels: &[ChannelId],
        update: &ChannelConfigUpdate,
    ) -> Result<(), String> {
        self.manager
            .update_partial_channel_config(peer, channels, update)
            .map_err(|e| format!("{e:?}"))?;
        // Durable when `setchannel` answers, as in Core Lightning (a change of the manager
        // alone would otherwise wait for the next write: write_order.rs).
        self.persist_manager().map_err(|e| e.to_string())
    }
}
