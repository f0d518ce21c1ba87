//! LDK's events about payments to us, as what to do with them: the few lines `ln`'s
//! event handler needs are
//!
//! ```text
//! match invoices.on_ldk_event(&event, best_height).await {
//!     Some(Action::Claim(p)) => manager.claim_funds(PaymentPreimage(p)),
//!     Some(Action::Fail { payment_hash, code }) =>
//!         manager.fail_htlc_backwards_with_reason(&PaymentHash(payment_hash), code.into()),
//!     None => {} // not a payment to us, or nothing to do
//! }
//! ```
//!
//! `PaymentClaimable` may wait for the `invoice_payment` hook (up to [`hook_deadline`]),
//! so handle it in its own task; LDK surfaces unclaimed payments again after a restart.
//! `PaymentClaimed` is a quick durable write: await it before the handler returns, so the
//! event is only consumed once the invoice is recorded as paid.

use std::time::Duration;

use lightning::events::{Event, PaymentPurpose};

use super::receive::{Decision, FailWith, Refusal};
use super::Invoices;

/// What `ln` does for a payment event.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Claim([u8; 32]),
    Fail {
        payment_hash: [u8; 32],
        code: FailWith,
    },
}

/// The longest the `invoice_payment` hook may take, however far LDK's claim deadline is.
pub const MAX_HOOK_WAIT: Duration = Duration::from_secs(600);
/// Blocks kept in hand before LDK's claim deadline (the claim itself must still make it).
const SAFETY_BLOCKS: u32 = 3;
/// What one block is reckoned to take.
const BLOCK: Duration = Duration::from_secs(600);

/// How long the hook may take for a payment LDK must claim by block `claim_deadline`, at
/// height `height`: the blocks left (less a safety margin) at ten minutes each, at most
/// [`MAX_HOOK_WAIT`]; nothing when the deadline is (nearly) here.
pub fn hook_deadline(claim_deadline: Option<u32>, height: u32) -> Duration {
    match claim_deadline {
        None => MAX_HOOK_WAIT,
        Some(d) => {
            let left = d.saturating_sub(height).saturating_sub(SAFETY_BLOCKS);
            BLOCK.saturating_mul(left).min(MAX_HOOK_WAIT)
        }
    }
}

/// The note CLN's keysend plugin puts in the invoice description: the longest custom TLV
/// value that is UTF-8 text.
fn keysend_note(tlvs: &[(u64, Vec<u8>)]) -> Option<String> {
    tlvs.iter()
        .filter_map(|(_, v)| std::str::from_utf8(v).ok())
        .filter(|s| !s.is_empty())
        .max_by_key(|s| s.len())
        .map(str::to_string)
}

fn action(payment_hash: [u8; 32], d: Decision) -> Action {
    match d {
        Decision::Claim { preimage } => Action::Claim(preimage),
        Decision::Fail { code, .. } => Action::Fail { payment_hash, code },
    }
}

impl Invoices {
    /// The action for `event` at block height `height`; `None` for events that are not
    /// about a payment to us (or need nothing more).
    pub async fn on_ldk_event(&self, event: &Event, height: u32) -> Option<Action> {
        let deadline = match event {
            Event::PaymentClaimable { claim_deadline, .. } => {
                hook_deadline(*claim_deadline, height)
            }
            _ => MAX_HOOK_WAIT,
        };
        self.on_ldk_event_within(event, deadline, None).await
    }

    /// [`Invoices::on_ldk_event`] with the hook's time given, and, if an `htlc_accepted`
    /// plugin set one, the amount the invoice check expects instead of the invoice's.
    pub async fn on_ldk_event_within(
        &self,
        event: &Event,
        deadline: Duration,
        expected_msat: Option<u64>,
    ) -> Option<Action> {
        match event {
            Event::PaymentClaimable {
                payment_hash,
                onion_fields,
                amount_msat,
                purpose,
                ..
            } => {
                let hash = payment_hash.0;
                let d = match purpose {
                    PaymentPurpose::Bolt11InvoicePayment { .. } => {
                        self.on_claimable_expecting(hash, *amount_msat, expected_msat, deadline)
                            .await
                    }
                    PaymentPurpose::SpontaneousPayment(preimage) => {
                        let note = onion_fields
                            .as_ref()
                            .and_then(|f| keysend_note(f.custom_tlvs()));
                        self.on_keysend(preimage.0, *amount_msat, note, deadline)
                            .await
                    }
                    // We issue no offers: nothing of ours to pay.
                    PaymentPurpose::Bolt12OfferPayment { .. }
                    | PaymentPurpose::Bolt12RefundPayment { .. } => Decision::Fail {
                        code: FailWith::IncorrectOrUnknownPaymentDetails,
                        why: Refusal::Unknown,
                    },
                };
                Some(action(hash, d))
            }
            Event::PaymentClaimed {
                payment_hash,
                amount_msat,
                htlcs,
                ..
            } => {
                // Errors are logged inside; the payment is LDK's to finish either way.
                let _ = self
                    .on_claimed(payment_hash.0, *amount_msat, htlcs.len())
                    .await;
                None
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::{sha256, Hash};
    use lightning::ln::outbound_payment::{RecipientCustomTlvs, RecipientOnionFields};
    use lightning::types::payment::{PaymentHash, PaymentPreimage, PaymentSecret};

    #[test]
    fn hook_deadline_leaves_blocks_in_hand() {
        assert_eq!(hook_deadline(None, 100), MAX_HOOK_WAIT);
        assert_eq!(hook_deadline(Some(200), 100), MAX_HOOK_WAIT);
        assert_eq!(hook_deadline(Some(103), 100), Duration::ZERO);
        assert_eq!(hook_deadline(Some(50), 100), Duration::ZERO);
        assert_eq!(hook_deadline(Some(104), 100), Duration::from_secs(600));
    }

    #[test]
    fn keysend_note_is_the_longest_text_tlv() {
        let tlvs = vec![
            (70_000, b"hi".to_vec()),
            (70_001, vec![0xff, 0xfe, 0xfd, 0xfc, 0xfb]),
            (70_002, b"hello there".to_vec()),
        ];
        assert_eq!(keysend_note(&tlvs).as_deref(), Some("hello there"));
        assert_eq!(keysend_note(&[]), None);
    }

    fn claimable(
        hash: [u8; 32],
        amount: u64,
        purpose: PaymentPurpose,
        onion: Option<RecipientOnionFields>,
    ) -> Event {
        Event::PaymentClaimable {
            receiver_node_id: None,
            payment_hash: PaymentHash(hash),
            onion_fields: onion,
            amount_msat: amount,
            counterparty_skimmed_fee_msat: 0,
            purpose,
            receiving_channel_ids: vec![],
            claim_deadline: Some(1000),
            payment_id: None,
        }
    }

    fn claimed(hash: [u8; 32], amount: u64, purpose: PaymentPurpose) -> Event {
        Event::PaymentClaimed {
            receiver_node_id: None,
            payment_hash: PaymentHash(hash),
            amount_msat: amount,
            purpose,
            htlcs: vec![],
            sender_intended_total_msat: Some(amount),
            onion_fields: None,
            payment_id: None,
        }
    }

    /// Real LDK events for an invoice and for a keysend: claim, record once claimed,
    /// refuse what comes after.
    #[tokio::test]
    async fn ldk_payment_events_become_claims_and_records() {
        let d = tempfile::tempdir().unwrap();
        let inv = super::super::tests::service(d.path()).await;
        let created = inv
            .create(super::super::tests::req("e", 3600))
            .await
            .unwrap();
        let hash = super::super::tests::hash_of(&created);
        let secret: [u8; 32] = hex::decode(created["payment_secret"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let purpose = PaymentPurpose::Bolt11InvoicePayment {
            payment_preimage: None,
            payment_secret: PaymentSecret(secret),
        };
        let onion = RecipientOnionFields::secret_only(PaymentSecret(secret), 5000);
        let a = inv
            .on_ldk_event(&claimable(hash, 5000, purpose.clone(), Some(onion)), 900)
            .await;
        let Some(Action::Claim(pre)) = a else {
            panic!("{a:?}")
        };
        assert_eq!(sha256::Hash::hash(&pre).to_byte_array(), hash);
        assert_eq!(
            inv.on_ldk_event(&claimed(hash, 5000, purpose.clone()), 900)
                .await,
            None
        );
        let paid = inv.by_label("e".into()).await.unwrap().unwrap();
        assert_eq!(paid.amount_received_msat, Some(5000));
        // A second payment set for the paid invoice is failed back.
        assert_eq!(
            inv.on_ldk_event(&claimable(hash, 5000, purpose, None), 900)
                .await,
            Some(Action::Fail {
                payment_hash: hash,
                code: FailWith::IncorrectOrUnknownPaymentDetails
            })
        );

        // A keysend with a text TLV.
        let pre = PaymentPreimage([0x42; 32]);
        let khash = sha256::Hash::hash(&pre.0).to_byte_array();
        let tlvs = RecipientCustomTlvs::new(vec![(70_000, b"thanks".to_vec())]).unwrap();
        let onion = RecipientOnionFields::spontaneous_empty(1234).with_custom_tlvs(tlvs);
        let purpose = PaymentPurpose::SpontaneousPayment(pre);
        assert_eq!(
            inv.on_ldk_event(&claimable(khash, 1234, purpose.clone(), Some(onion)), 900)
                .await,
            Some(Action::Claim(pre.0))
        );
        inv.on_ldk_event(&claimed(khash, 1234, purpose), 900).await;
        let [k] = &inv.list(super::super::Select::Hash(khash)).await.unwrap()[..] else {
            panic!()
        };
        assert_eq!(k.description.as_deref(), Some("keysend: thanks"));
        assert_eq!(k.amount_received_msat, Some(1234));

        // Not ours to handle.
        let other = Event::ProbeSuccessful {
            payment_id: lightning::ln::channelmanager::PaymentId([1; 32]),
            payment_hash: PaymentHash([1; 32]),
            path: lightning::routing::router::Path {
                hops: vec![],
                blinded_tail: None,
            },
        };
        assert_eq!(inv.on_ldk_event(&other, 900).await, None);
    }
}
