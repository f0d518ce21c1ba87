//! The chain moves of channel accounts (reference §6.7): `channel_open` when a channel
//! locks in (credit = our funds in it, `opener` when we funded it). What follows the
//! close is [`super::resolution`]'s.

use lightning::ln::channel_state::ChannelDetails;
use lightning::ln::types::ChannelId;

use crate::coin_moves::ChainMove;

/// The account of a channel: its id in hex.
pub fn account(id: &ChannelId) -> String {
    id.to_string()
}

/// `channel_open` for a channel that just locked in, at `best_height`. None while LDK
/// does not know its funding outpoint.
pub fn open_move(c: &ChannelDetails, best_height: u32) -> Option<ChainMove> {
    let funding = c.funding_txo?.into_bitcoin_outpoint();
    let capacity_msat = c.channel_value_satoshis.saturating_mul(1000);
    // A push is not ours: the funder's funds are the capacity, the other side's zero
    // (Core Lightning records the push as a separate channel move).
    let credit = if c.is_outbound { capacity_msat } else { 0 };
    let blockheight = c
        .confirmations
        .filter(|n| *n > 0)
        .map(|n| best_height.saturating_sub(n - 1))
        .unwrap_or(0);
    Some(ChainMove {
        account_id: account(&c.channel_id),
        credit_msat: credit,
        debit_msat: 0,
        primary_tag: "channel_open".into(),
        extra_tags: if c.is_outbound {
            vec!["opener".into()]
        } else {
            Vec::new()
        },
        utxo: funding,
        peer_id: Some(c.counterparty.node_id.to_string()),
        originating_account: None,
        spending_txid: None,
        payment_hash: None,
        output_msat: capacity_msat,
        output_count: None,
        blockheight,
    })
}
