//! `htlc_accepted` at the final hop: LDK says a payment to us has fully arrived
//! (`PaymentClaimable`); before the invoice checks and `invoice_payment`, every HTLC of it
//! goes through the `htlc_accepted` chain (reference §5.2), one call per HTLC as Core
//! Lightning makes them. LDK claims or fails a payment as a whole, so the first HTLC a
//! plugin resolves or fails decides for all of them.
//!
//! What LDK does not tell us is left out of the payload: `onion.payload` (the raw per-hop
//! payload), `onion.shared_secret`; `onion.forward_msat` and `onion.outgoing_cltv_value`
//! are the HTLC's own amount and expiry (LDK checked the onion asked for no more and no
//! later). `forward_to` and `onion.short_channel_id` do not exist at the final hop.

use bitcoin::hashes::{sha256, Hash};
use lightning::events::Event;
use lightning::ln::channel_state::ChannelDetails;
use plugins::hooks::{HtlcAccepted, HtlcAcceptedOutcome, HtlcAcceptedPayload, HtlcInfo, HtlcOnion};
use plugins::PluginHost;

use crate::channels::json::scid;
use crate::invoices::receive::{failure_code, FailWith};

/// What the chain decided for the whole payment.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// On to the invoice checks (expecting `invoice_msat` instead of the invoice's amount
    /// when a plugin set it).
    Continue {
        invoice_msat: Option<u64>,
    },
    /// Claim with this preimage (it matches the payment hash).
    Claim([u8; 32]),
    Fail(FailWith),
}

/// The HTLCs of a claimable payment as the hook describes them, from the channels it came
/// in on. Empty only if LDK lists none of them (a channel closed meanwhile).
pub fn payloads(
    event: &Event,
    channels: &[ChannelDetails],
    height: u32,
) -> Vec<HtlcAcceptedPayload> {
    let Event::PaymentClaimable {
        payment_hash,
        onion_fields,
        receiving_channel_ids,
        ..
    } = event
    else {
        return Vec::new();
    };
    let secret = onion_fields.as_ref().and_then(|f| f.payment_secret);
    let onion = |amount_msat: u64, cltv: u32| HtlcOnion {
        payload: None,
        kind: "tlv",
        forward_msat: amount_msat,
        outgoing_cltv_value: cltv,
        total_msat: secret
            .and(onion_fields.as_ref())
            .map(|f| f.total_mpp_amount_msat),
        payment_secret: secret.map(|s| hex::encode(s.0)),
        payment_metadata: onion_fields
            .as_ref()
            .and_then(|f| f.payment_metadata.as_ref())
            .map(hex::encode),
        shared_secret: None,
    };
    let mut out = Vec::new();
    for c in channels.iter().filter(|c| {
        receiving_channel_ids
            .iter()
            .any(|(id, _)| *id == c.channel_id)
    }) {
        for h in c
            .pending_inbound_htlcs
            .iter()
            .filter(|h| h.payment_hash == *payment_hash)
        {
            out.push(HtlcAcceptedPayload {
                peer_id: Some(c.counterparty.node_id.to_string()),
                onion: onion(h.amount_msat, h.cltv_expiry),
                htlc: HtlcInfo {
                    short_channel_id: c
                        .short_channel_id
                        .or(c.inbound_scid_alias)
                        .map(scid)
                        .unwrap_or_default(),
                    id: h.htlc_id,
                    amount_msat: h.amount_msat,
                    cltv_expiry: h.cltv_expiry,
                    cltv_expiry_relative: i64::from(h.cltv_expiry) - i64::from(height),
                    payment_hash: hex::encode(payment_hash.0),
                    extra_tlvs: None,
                },
            });
        }
    }
    out
}

/// What one chain's outcome means for a payment to `payment_hash`.
pub fn verdict(outcome: HtlcAcceptedOutcome, payment_hash: [u8; 32]) -> Verdict {
    match outcome {
        HtlcAcceptedOutcome::Continue { invoice_msat } => Verdict::Continue { invoice_msat },
        HtlcAcceptedOutcome::Resolve(key) => {
            if sha256::Hash::hash(&key).to_byte_array() == payment_hash {
                Verdict::Claim(key)
            } else {
                tracing::error!(
                    "Plugin returned a preimage {} that doesn't match the HTLC hash {}",
                    hex::encode(key),
                    hex::encode(payment_hash)
                );
                Verdict::Fail(FailWith::IncorrectOrUnknownPaymentDetails)
            }
        }
        HtlcAcceptedOutcome::Fail(message) => Verdict::Fail(failure_code(&message)),
        // Logged where it was refused.
        HtlcAcceptedOutcome::Unsupported(_) => {
            Verdict::Fail(FailWith::IncorrectOrUnknownPaymentDetails)
        }
    }
}

/// Runs the chain for every HTLC of the payment, within `deadline`; a chain that does not
/// answer in time fails the payment, with a log line naming the hook's plugins.
pub async fn decide(
    host: &PluginHost,
    payloads: Vec<HtlcAcceptedPayload>,
    payment_hash: [u8; 32],
    deadline: std::time::Duration,
) -> Verdict {
    let _waiting = crate::hook_waits::begin(payment_hash, &host.hook_plugins("htlc_accepted"));
    let chain = async {
        let mut invoice_msat = None;
        for p in &payloads {
            match verdict(host.call_hook::<HtlcAccepted>(p, None).await, payment_hash) {
                Verdict::Continue { invoice_msat: m } => invoice_msat = m.or(invoice_msat),
                decided => return decided,
            }
        }
        Verdict::Continue { invoice_msat }
    };
    match tokio::time::timeout(deadline, chain).await {
        Ok(v) => v,
        Err(_) => {
            tracing::error!(
                "payment {}: htlc_accepted hook of {} did not answer within {deadline:?}: failing it",
                hex::encode(payment_hash),
                host.hook_plugins("htlc_accepted").join(", ")
            );
            Verdict::Fail(FailWith::TemporaryNodeFailure)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_must_match_the_hash() {
        let key = [7u8; 32];
        let hash = sha256::Hash::hash(&key).to_byte_array();
        assert_eq!(
            verdict(HtlcAcceptedOutcome::Resolve(key), hash),
            Verdict::Claim(key)
        );
        assert_eq!(
            verdict(HtlcAcceptedOutcome::Resolve([8; 32]), hash),
            Verdict::Fail(FailWith::IncorrectOrUnknownPaymentDetails)
        );
        assert_eq!(
            verdict(HtlcAcceptedOutcome::Fail(vec![0x20, 0x02]), hash),
            Verdict::Fail(FailWith::TemporaryNodeFailure)
        );
        assert_eq!(
            verdict(HtlcAcceptedOutcome::Unsupported("x".into()), hash),
            Verdict::Fail(FailWith::IncorrectOrUnknownPaymentDetails)
        );
        assert_eq!(
            verdict(
                HtlcAcceptedOutcome::Continue {
                    invoice_msat: Some(5)
                },
                hash
            ),
            Verdict::Continue {
                invoice_msat: Some(5)
            }
        );
    }
}
