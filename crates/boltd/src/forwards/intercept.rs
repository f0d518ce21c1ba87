//! `htlc_accepted` on forwards. LDK intercepts forwarded HTLCs (`Event::HTLCIntercepted`)
//! only while `htlc_interception_flags` says so; the flags are set while some plugin hooks
//! `htlc_accepted` and cleared when none does (checked every second and at start), so a
//! node without such a plugin forwards at full speed.
//!
//! An intercepted HTLC goes through the hook chain, then: `continue` forwards it over the
//! requested channel, or over `forward_to` after checking that channel's fee and CLTV
//! delta ourselves (LDK checked the requested channel's before intercepting, not another's);
//! `fail`, and what LDK cannot do on a forward (see the hook's module), fail it back with
//! LDK's one code for intercepted HTLCs, `unknown_next_peer`. A chain that has not answered
//! when the HTLC is about to expire is abandoned: the HTLC is failed back, with a log line
//! naming the plugins.

use std::sync::Arc;
use std::time::Duration;

use bitcoin::hashes::{sha256, Hash, HashEngine};
use bitcoin::secp256k1::PublicKey;
use lightning::ln::channel_state::ChannelDetails;
use lightning::ln::channelmanager::InterceptId;
use lightning::ln::types::ChannelId;
use lightning::types::payment::PaymentHash;
use plugins::hooks::{
    ForwardOnion, HtlcAcceptedForward, HtlcForwardOutcome, HtlcForwardPayload, HtlcInfo,
};

use super::{scid_of, Forwards};

/// Every forward is intercepted while a plugin hooks `htlc_accepted`.
const INTERCEPT_ALL: u8 = 0xff;
/// LDK fails an intercepted HTLC by itself once the chain is this close to the outgoing
/// expiry (`HTLC_FAIL_BACK_BUFFER`: twice 18 blocks to confirm a claim, plus 3); a hook
/// that has not answered a block before that, and after at least one new block, is given
/// up on.
const GIVE_UP_BLOCKS: u32 = 36 + 3 + 1;

/// What LDK said of an intercepted HTLC.
#[derive(Debug, Clone)]
pub struct Intercepted {
    pub intercept_id: InterceptId,
    pub requested_scid: u64,
    pub payment_hash: PaymentHash,
    pub inbound_msat: u64,
    pub outbound_msat: u64,
    pub outgoing_cltv: Option<u32>,
}

/// LDK's id of an intercepted HTLC, from the incoming channel and HTLC.
fn intercept_id(htlc_id: u64, channel: &ChannelId, peer: &PublicKey) -> [u8; 32] {
    let mut e = sha256::Hash::engine();
    e.input(&htlc_id.to_be_bytes());
    e.input(&channel.0);
    e.input(&peer.serialize());
    sha256::Hash::from_engine(e).to_byte_array()
}

impl Forwards {
    /// Sets LDK's interception flags to what the plugins ask for.
    pub fn sync_interception(&self) {
        let want = if self.host.hook_plugins("htlc_accepted").is_empty() {
            0
        } else {
            INTERCEPT_ALL
        };
        let mut c = self.ln.manager.get_current_config();
        if c.htlc_interception_flags != want {
            c.htlc_interception_flags = want;
            self.ln.manager.set_current_config(c);
            tracing::info!(
                "forwarded HTLCs {} the htlc_accepted hook",
                if want == 0 {
                    "no longer go to"
                } else {
                    "go to"
                }
            );
        }
    }

    /// Runs the hook for `i` and carries out its verdict (on its own task: the event loop
    /// does not wait for plugins; LDK replays an undecided interception after a restart).
    pub fn intercepted(self: &Arc<Self>, i: Intercepted) {
        let me = self.clone();
        tokio::spawn(async move { me.decide(i).await });
    }

    fn fail_intercepted(&self, i: &Intercepted, incoming: Option<(ChannelId, u64)>) {
        if let Some(k) = incoming {
            let mut inner = self.inner();
            inner.seen.remove(&k);
            inner.hook_failed.insert(k);
        }
        if let Err(e) =
            crate::channels::off_worker(|| self.ln.manager.fail_intercepted_htlc(i.intercept_id))
        {
            tracing::warn!("failing intercepted HTLC {}: {e:?}", i.payment_hash);
        }
    }

    async fn decide(&self, i: Intercepted) {
        let channels = crate::channels::off_worker(|| self.ln.manager.list_channels());
        let incoming = channels.iter().find_map(|c| {
            c.pending_inbound_htlcs
                .iter()
                .find(|h| {
                    h.payment_hash == i.payment_hash
                        && intercept_id(h.htlc_id, &c.channel_id, &c.counterparty.node_id)
                            == i.intercept_id.0
                })
                .map(|h| (c, h.clone()))
        });
        let Some((in_chan, htlc)) = incoming else {
            tracing::warn!(
                "intercepted HTLC {} is in none of our channels: failing it",
                i.payment_hash
            );
            self.fail_intercepted(&i, None);
            return;
        };
        let in_key = (in_chan.channel_id, htlc.htlc_id);
        let height = self.ln.best_block().height;
        let requested = channels.iter().find(|c| {
            c.short_channel_id == Some(i.requested_scid)
                || c.outbound_scid_alias == Some(i.requested_scid)
        });
        let payload = HtlcForwardPayload {
            peer_id: Some(in_chan.counterparty.node_id.to_string()),
            onion: ForwardOnion {
                kind: "tlv",
                short_channel_id: crate::channels::json::scid(i.requested_scid),
                forward_msat: i.outbound_msat,
                outgoing_cltv_value: i.outgoing_cltv,
            },
            forward_to: requested.map(|c| c.channel_id.to_string()),
            htlc: HtlcInfo {
                short_channel_id: scid_of(in_chan).unwrap_or_default(),
                id: htlc.htlc_id,
                amount_msat: htlc.amount_msat,
                cltv_expiry: htlc.cltv_expiry,
                cltv_expiry_relative: i64::from(htlc.cltv_expiry) - i64::from(height),
                payment_hash: hex::encode(i.payment_hash.0),
                extra_tlvs: None,
            },
        };
        let deadline = i
            .outgoing_cltv
            .unwrap_or(htlc.cltv_expiry)
            .saturating_sub(GIVE_UP_BLOCKS);
        let start = height;
        let _waiting =
            crate::hook_waits::begin(i.payment_hash.0, &self.host.hook_plugins("htlc_accepted"));
        let hook = self.host.call_hook::<HtlcAcceptedForward>(&payload, None);
        tokio::pin!(hook);
        let outcome = loop {
            tokio::select! {
                o = &mut hook => break o,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    let now = self.ln.best_block().height;
                    if now > start && now >= deadline {
                        tracing::error!(
                            "htlc_accepted hook of plugin {} did not answer for HTLC {} by block {now} (its outgoing expiry is {}): failing it back",
                            self.host.hook_plugins("htlc_accepted").join(", "),
                            i.payment_hash,
                            deadline + GIVE_UP_BLOCKS,
                        );
                        self.fail_intercepted(&i, Some(in_key));
                        return;
                    }
                }
            }
        };
        match outcome {
            HtlcForwardOutcome::Continue { forward_to } => {
                let target = match forward_to {
                    Some(id) => channels.iter().find(|c| c.channel_id.0 == id),
                    None => requested,
                };
                let Some(out) = target else {
                    // No such channel of ours: LDK fails it as `unknown_next_peer`, which is
                    // also what Core Lightning records (`local_failed`).
                    if let Err(e) = crate::channels::off_worker(|| {
                        self.ln.manager.fail_intercepted_htlc(i.intercept_id)
                    }) {
                        tracing::warn!("failing intercepted HTLC {}: {e:?}", i.payment_hash);
                    }
                    return;
                };
                let changed = requested.is_none_or(|r| r.channel_id != out.channel_id);
                if changed {
                    if let Err(why) = pays_for(out, &i, htlc.cltv_expiry) {
                        tracing::info!(
                            "htlc_accepted: HTLC {} cannot go over {}: {why}; failing it",
                            i.payment_hash,
                            out.channel_id
                        );
                        if let Err(e) = crate::channels::off_worker(|| {
                            self.ln.manager.fail_intercepted_htlc(i.intercept_id)
                        }) {
                            tracing::warn!("failing intercepted HTLC {}: {e:?}", i.payment_hash);
                        }
                        return;
                    }
                }
                let forwarded = crate::channels::off_worker(|| {
                    self.ln.manager.forward_intercepted_htlc(
                        i.intercept_id,
                        &out.channel_id,
                        out.counterparty.node_id,
                        i.outbound_msat,
                    )
                });
                if let Err(e) = forwarded {
                    tracing::warn!(
                        "forwarding intercepted HTLC {} over {}: {e:?}; failing it",
                        i.payment_hash,
                        out.channel_id
                    );
                    if let Err(e) = crate::channels::off_worker(|| {
                        self.ln.manager.fail_intercepted_htlc(i.intercept_id)
                    }) {
                        tracing::warn!("failing intercepted HTLC {}: {e:?}", i.payment_hash);
                    }
                }
            }
            HtlcForwardOutcome::Fail(m) => {
                if m.len() >= 2 && m[..2] != [0x40, 0x0a] {
                    tracing::debug!(
                        "htlc_accepted failed HTLC {} with code {:02x}{:02x}; LDK sends unknown_next_peer for an intercepted HTLC",
                        i.payment_hash,
                        m[0],
                        m[1]
                    );
                }
                self.fail_intercepted(&i, Some(in_key));
            }
            HtlcForwardOutcome::Unsupported(why) => {
                tracing::info!("HTLC {}: {why}", i.payment_hash);
                self.fail_intercepted(&i, Some(in_key));
            }
        }
    }
}

/// Whether forwarding `i` over `out` pays that channel's fee and leaves its CLTV delta.
fn pays_for(out: &ChannelDetails, i: &Intercepted, incoming_cltv: u32) -> Result<(), String> {
    let cfg = out
        .config
        .as_ref()
        .ok_or_else(|| "its forwarding policy is unknown".to_string())?;
    let fee = u64::from(cfg.forwarding_fee_base_msat)
        + i.outbound_msat * u64::from(cfg.forwarding_fee_proportional_millionths) / 1_000_000;
    let offered = i.inbound_msat.saturating_sub(i.outbound_msat);
    if i.inbound_msat < i.outbound_msat || offered < fee {
        return Err(format!("fee {offered}msat is below its {fee}msat"));
    }
    if let Some(out_cltv) = i.outgoing_cltv {
        let delta = incoming_cltv.saturating_sub(out_cltv);
        if incoming_cltv < out_cltv || delta < u32::from(cfg.cltv_expiry_delta) {
            return Err(format!(
                "CLTV delta {delta} is below its {}",
                cfg.cltv_expiry_delta
            ));
        }
    }
    Ok(())
}
