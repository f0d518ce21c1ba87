//! A peer offers a channel it funds: the `openchannel` hook decides (reference §5.1).
//!
//! LDK forgets an unanswered offer after about two of its minute ticks; the hook gets
//! [`HOOK_WINDOW`], then the channel is refused with a log line naming the plugins that
//! did not answer.

use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::ChannelParameters;
use lightning::ln::types::ChannelId;
use lightning::util::config::{ChannelConfigOverrides, ChannelHandshakeConfigUpdate};
use lightning_types::features::ChannelTypeFeatures;
use plugins::{
    ChannelTypeJson, OpenChannel, OpenChannelInfo, OpenChannelOutcome, OpenChannelPayload,
};

use super::Channels;

/// How long the `openchannel` hook chain may take (`--dev-openchannel-hook-timeout`
/// changes it in developer mode).
pub const HOOK_WINDOW: Duration = Duration::from_secs(50);

/// An `Event::OpenChannelRequest`, unpacked.
pub struct Offer {
    pub temporary_channel_id: ChannelId,
    pub peer: PublicKey,
    pub funding_satoshis: u64,
    pub push_msat: u64,
    pub channel_type: ChannelTypeFeatures,
    pub is_announced: bool,
    pub params: ChannelParameters,
}

fn payload(o: &Offer) -> OpenChannelPayload {
    let ct = super::json::channel_type(Some(&o.channel_type));
    OpenChannelPayload {
        openchannel: OpenChannelInfo {
            id: o.peer.to_string(),
            funding_msat: o.funding_satoshis * 1000,
            push_msat: o.push_msat,
            dust_limit_msat: o.params.dust_limit_satoshis * 1000,
            max_htlc_value_in_flight_msat: o.params.max_htlc_value_in_flight_msat,
            channel_reserve_msat: None,
            htlc_minimum_msat: o.params.htlc_minimum_msat,
            feerate_per_kw: o.params.commitment_feerate_sat_per_1000_weight,
            to_self_delay: o.params.to_self_delay,
            max_accepted_htlcs: o.params.max_accepted_htlcs,
            channel_flags: u8::from(o.is_announced),
            channel_type: ChannelTypeJson {
                bits: serde_json::from_value(ct["bits"].clone()).unwrap_or_default(),
                names: serde_json::from_value(ct["names"].clone()).unwrap_or_default(),
            },
        },
    }
}

impl Channels {
    /// A hook's `close_to` address as a script of our network.
    fn close_to_script(&self, addr: &str) -> Result<bitcoin::ScriptBuf, String> {
        use std::str::FromStr;
        let a = bitcoin::Address::from_str(addr).map_err(|e| e.to_string())?;
        let a = a
            .require_network(self.ln.config().network)
            .map_err(|e| e.to_string())?;
        Ok(a.script_pubkey())
    }

    pub(super) async fn decide_inbound(self: Arc<Self>, offer: Offer) {
        let outcome = match self.host() {
            Some(h) if h.has_hook("openchannel") => {
                let p = payload(&offer);
                let window = self.hook_window;
                match tokio::time::timeout(window, h.call_hook::<OpenChannel>(&p, None)).await {
                    Ok(o) => o,
                    Err(_) => {
                        tracing::warn!(
                            "openchannel hook: no answer from plugin(s) {} within {}s; refusing the channel from {}",
                            h.hook_plugins("openchannel").join(", "),
                            window.as_secs(),
                            offer.peer
                        );
                        OpenChannelOutcome::Reject("openchannel hook timed out".into())
                    }
                }
            }
            _ => OpenChannelOutcome::Continue(Default::default()),
        };
        let ln = &self.ln;
        match outcome {
            OpenChannelOutcome::Reject(msg) => {
                tracing::info!(peer = %offer.peer, "openchannel hook rejects: {msg}");
                // The peer gets an `error` with our text on the temporary channel id.
                let _ = super::off_worker(|| {
                    ln.manager.force_close_broadcasting_latest_txn(
                        &offer.temporary_channel_id,
                        &offer.peer,
                        format!("You gave bad parameters: {msg}"),
                    )
                });
            }
            OpenChannelOutcome::Continue(acc) => {
                let close_to = match acc.close_to.as_deref().map(|a| self.close_to_script(a)) {
                    Some(Ok(s)) => Some(s),
                    Some(Err(e)) => {
                        // Core Lightning dies on this; refusing the channel is the sane part.
                        tracing::error!(
                            "openchannel hook: bad close_to {:?} ({e}); refusing the channel from {}",
                            acc.close_to,
                            offer.peer
                        );
                        let _ = super::off_worker(|| {
                            ln.manager.force_close_broadcasting_latest_txn(
                                &offer.temporary_channel_id,
                                &offer.peer,
                                "You gave bad parameters: internal error".into(),
                            )
                        });
                        return;
                    }
                    None => None,
                };
                // Zero-conf needs a trusted-peer accept; a mindepth of 0 means 1 here.
                let hs = ChannelHandshakeConfigUpdate {
                    minimum_depth: acc.mindepth.map(|d| d.max(1)),
                    channel_reserve_proportional_millionths: acc.reserve_sat.map(|r| {
                        (r.saturating_mul(1_000_000) / offer.funding_satoshis.max(1)).min(1_000_000)
                            as u32
                    }),
                    ..Default::default()
                };
                let overrides = ChannelConfigOverrides {
                    handshake_overrides: Some(hs),
                    update_overrides: None,
                };
                let user_channel_id = u128::from_be_bytes(
                    lightning::sign::EntropySource::get_secure_random_bytes(
                        &*self.node.keys.manager(),
                    )[..16]
                        .try_into()
                        .unwrap_or([0; 16]),
                );
                let accepted = ln
                    .signer
                    .with_shutdown_script(close_to, || {
                        super::off_worker(|| {
                            ln.manager.accept_inbound_channel(
                                &offer.temporary_channel_id,
                                &offer.peer,
                                user_channel_id,
                                Some(overrides),
                            )
                        })
                    })
                    .await;
                match accepted {
                    (Ok(()), Some(script)) => self.record_shutdown_script(user_channel_id, &script),
                    (Ok(()), None) => {}
                    (Err(e), _) => {
                        tracing::info!(peer = %offer.peer, "accepting channel: {e:?}")
                    }
                }
            }
        }
    }
}
