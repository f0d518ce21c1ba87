//! The `coin_movement` channel moves of payments (tag `invoice`, reference §6.7): a
//! credit per HTLC of a payment we claimed, a debit (with its fees) per path of ours that
//! succeeded. Each is keyed on what LDK hands over again after a failure or a restart
//! (the payment and the HTLC or path), so a replayed event records nothing twice. The
//! handler answers once the moves are queued, and they are notified once committed
//! (`after_commit.rs`): a move that cannot be written stops the store, and LDK replays
//! the event at the next start.

use std::sync::Arc;

use lightning::events::{ClaimedHTLC, Event, ReplayEvent};
use lightning::routing::router::Path;
use ln::Ln;

use super::send;
use crate::coin_moves::{ChannelMove, CoinMoves};

const TAG: &str = "invoice";

pub struct PaymentMoves {
    pub ln: Arc<Ln>,
    pub moves: Arc<CoinMoves>,
}

/// The credits of a payment we claimed, one per HTLC.
fn claimed(hash: &str, htlcs: &[ClaimedHTLC]) -> Vec<ChannelMove> {
    htlcs
        .iter()
        .enumerate()
        .map(|(i, h)| ChannelMove {
            account_id: h.channel_id.to_string(),
            credit_msat: h.value_msat,
            debit_msat: 0,
            primary_tag: TAG.into(),
            payment_hash: Some(hash.to_string()),
            part: None,
            fees_msat: 0,
            key: format!("{TAG}|in|{hash}|{}|{i}", h.channel_id),
        })
        .collect()
}

/// What tells one path of a payment from another: its hops and their amounts. (Two
/// successful parts of one payment over the same hops with the same amounts would be
/// counted once; LDK's router does not build such a pair.)
fn path_key(path: &Path) -> String {
    path.hops
        .iter()
        .map(|h| format!("{}:{}", h.short_channel_id, h.fee_msat))
        .collect::<Vec<_>>()
        .join(",")
}

impl PaymentMoves {
    /// Queues the moves of `event` if it settled HTLCs of a payment: `Err` when they
    /// could not be queued (LDK hands the event over again).
    pub async fn on_event(&self, event: &Event) -> Result<(), ReplayEvent> {
        #[allow(clippy::type_complexity)]
        let (moves, part): (
            _,
            Option<Box<dyn FnOnce(&mut store::Store) -> Result<_, store::StoreError> + Send>>,
        ) = match event {
            Event::PaymentClaimed {
                payment_hash,
                htlcs,
                ..
            } => (claimed(&hex::encode(payment_hash.0), htlcs), None),
            Event::PaymentPathSuccessful {
                payment_id,
                payment_hash,
                path,
                ..
            } => {
                let Some(first) = path.hops.first() else {
                    return Ok(());
                };
                let scid = first.short_channel_id;
                let channel = self.ln.manager.list_channels().into_iter().find(|c| {
                    [
                        c.short_channel_id,
                        c.outbound_scid_alias,
                        c.inbound_scid_alias,
                    ]
                    .contains(&Some(scid))
                });
                let Some(channel) = channel else {
                    tracing::warn!(
                        "payment {}: its first channel {scid} is gone, no coin movement for that part",
                        hex::encode(payment_id.0)
                    );
                    return Ok(());
                };
                let hash = payment_hash.map(|h| h.0);
                let id = *payment_id;
                let fee = path.fee_msat();
                let mv = vec![ChannelMove {
                    account_id: channel.channel_id.to_string(),
                    credit_msat: 0,
                    debit_msat: path.final_value_msat() + fee,
                    primary_tag: TAG.into(),
                    payment_hash: hash.map(hex::encode),
                    part: None,
                    fees_msat: fee,
                    key: format!("{TAG}|out|{}|{}", hex::encode(payment_id.0), path_key(path)),
                }];
                (
                    mv,
                    Some(Box::new(move |s: &mut store::Store| {
                        send::part_numbers(s, hash, id)
                    })),
                )
            }
            _ => return Ok(()),
        };
        if moves.is_empty() {
            return Ok(());
        }
        self.moves
            .channel_moves_queued(moves, part)
            .await
            .map_err(|e| {
                tracing::error!("{e}");
                ReplayEvent()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lightning::ln::types::ChannelId;

    #[test]
    fn each_claimed_htlc_is_a_credit_of_its_own() {
        let htlc = |c: u8, v: u64| ClaimedHTLC {
            counterparty_node_id: None,
            channel_id: ChannelId([c; 32]),
            user_channel_id: 0,
            cltv_expiry: 100,
            value_msat: v,
            counterparty_skimmed_fee_msat: 0,
        };
        let m = claimed("ab", &[htlc(1, 10), htlc(1, 10), htlc(2, 5)]);
        assert_eq!(m.len(), 3);
        assert_eq!(m.iter().map(|m| m.credit_msat).sum::<u64>(), 25);
        let keys: std::collections::HashSet<_> = m.iter().map(|m| m.key.clone()).collect();
        assert_eq!(keys.len(), 3, "two equal HTLCs are two moves");
        assert!(m
            .iter()
            .all(|m| m.primary_tag == "invoice" && m.debit_msat == 0));
        assert_eq!(m[2].account_id, ChannelId([2; 32]).to_string());
    }
}
