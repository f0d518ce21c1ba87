//! Payments to us: LDK's `PaymentClaimable`/`PaymentClaimed` turned into a claim or a
//! failure by the invoices service, and carried out on the channel manager.

use std::sync::Arc;

use lightning::events::{Event, PaymentPurpose};
use lightning::types::payment::{PaymentHash, PaymentPreimage};
use ln::Ln;

use crate::invoices::ldk_events::Action;
use crate::invoices::Invoices;

/// Handles `event` if it is about a payment to us; true if it was.
///
/// `PaymentClaimable` may wait for the `invoice_payment` hook, so it runs on its own task
/// (LDK replays an unclaimed payment after a restart, so nothing is lost if we stop
/// meanwhile). `PaymentClaimed` is awaited: the event counts as handled only once the
/// invoice is durably recorded as paid.
pub async fn on_event(invoices: &Arc<Invoices>, ln: &Arc<Ln>, event: &Event) -> bool {
    match event {
        Event::PaymentClaimable { .. } => {
            let (invoices, ln, event) = (invoices.clone(), ln.clone(), event.clone());
            tokio::spawn(async move {
                let height = ln.best_block().height;
                // CLN's keysend plugin drops unknown even TLVs rather than refusing them.
                let keysend = matches!(
                    &event,
                    Event::PaymentClaimable {
                        purpose: PaymentPurpose::SpontaneousPayment(_),
                        ..
                    }
                );
                match invoices.on_ldk_event(&event, height).await {
                    Some(Action::Claim(p)) if keysend => ln
                        .manager
                        .claim_funds_with_known_custom_tlvs(PaymentPreimage(p)),
                    Some(a) => carry_out(&ln, a),
                    None => {}
                }
            });
            true
        }
        Event::PaymentClaimed { .. } => {
            let height = ln.best_block().height;
            if let Some(a) = invoices.on_ldk_event(event, height).await {
                carry_out(ln, a);
            }
            true
        }
        _ => false,
    }
}

fn carry_out(ln: &Ln, action: Action) {
    match action {
        Action::Claim(preimage) => ln.manager.claim_funds(PaymentPreimage(preimage)),
        Action::Fail { payment_hash, code } => ln
            .manager
            .fail_htlc_backwards_with_reason(&PaymentHash(payment_hash), code.into()),
    }
}
