//! The chain moves of channel accounts (reference §6.7): `channel_open` when a channel
//! locks in (credit = our funds in it, `opener` when we funded it) and `channel_close`
//! when it closes (debit = our balance at close, with the closing transaction when we
//! broadcast it), so a bookkeeper's channel account returns to zero and the money shows
//! again in the wallet's `deposit`s.

use std::sync::Arc;
use std::time::Duration;

use bitcoin::OutPoint;
use lightning::ln::channel_state::ChannelDetails;
use lightning::ln::types::ChannelId;

use crate::coin_moves::{ChainMove, CoinMoves};

/// How long `channel_close` waits for LDK to hand us the closing transaction (it may
/// broadcast it just after the event); after that the move goes out without it.
const CLOSING_TX_WAIT: Duration = Duration::from_secs(10);

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

/// What `channel_close` needs from LDK's `ChannelClosed`.
pub struct Closed {
    pub id: ChannelId,
    pub funding: OutPoint,
    pub capacity_sat: u64,
    pub our_balance_msat: u64,
    pub peer: Option<String>,
}

/// Records `channel_close`, with the closing transaction when our broadcaster saw it
/// (waits for it a little, off the event loop).
pub fn close_later(ln: Arc<ln::Ln>, moves: Arc<CoinMoves>, c: Closed) {
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + CLOSING_TX_WAIT;
        let mut changes = ln.broadcaster.subscribe();
        let spending = loop {
            let found = ln.broadcaster.closing(&c.id).and_then(|closing| {
                closing
                    .txs
                    .into_iter()
                    .find(|tx| tx.input.iter().any(|i| i.previous_output == c.funding))
            });
            if found.is_some() {
                break found;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => continue,
                _ => break None,
            }
        };
        let mv = ChainMove {
            account_id: account(&c.id),
            credit_msat: 0,
            debit_msat: c.our_balance_msat,
            primary_tag: "channel_close".into(),
            extra_tags: Vec::new(),
            utxo: c.funding,
            peer_id: c.peer,
            originating_account: None,
            spending_txid: spending.as_ref().map(|t| t.compute_txid()),
            payment_hash: None,
            output_msat: c.capacity_sat.saturating_mul(1000),
            output_count: spending
                .as_ref()
                .and_then(|t| u32::try_from(t.output.len()).ok()),
            // Recorded at the close, before the spend confirms.
            blockheight: 0,
        };
        let _ = tokio::task::spawn_blocking(move || moves.chain_move(mv)).await;
    });
}
