//! `commitment_revocation`: delivers the penalties `ln`'s watchtower feed queued, one hook
//! call per revoked commitment, oldest first, in the background (the reply is ignored, as
//! in Core Lightning). An entry leaves the queue once every plugin of the chain answered
//! (or died), so delivery is at-least-once: a kill -9 during a call repeats that call
//! after the restart, nothing is lost. Penalties are queued only while some plugin has
//! registered the hook.

use std::sync::Arc;

use ln::{Penalty, Tower};
use plugins::hooks::{CommitmentRevocation, CommitmentRevocationPayload};
use plugins::PluginHost;

use crate::node::Node;

fn payload(p: &Penalty) -> CommitmentRevocationPayload {
    CommitmentRevocationPayload {
        commitment_txid: p.commitment_txid.to_string(),
        penalty_tx: bitcoin::consensus::encode::serialize_hex(&p.penalty_tx),
        channel_id: p.channel_id.to_string(),
        commitnum: p.commitnum,
    }
}

/// Drains the queue now (what a previous run left) and whenever a penalty is queued,
/// until shutdown. Call once plugins have answered `init`.
pub fn spawn(node: &Arc<Node>, tower: Arc<Tower>, host: PluginHost) {
    let sd = node.shutdown.clone();
    tokio::spawn(async move {
        loop {
            let t = tower.clone();
            let ready = tokio::task::spawn_blocking(move || t.ready())
                .await
                .unwrap_or_default();
            for p in ready {
                tracing::debug!("commitment_revocation: delivering {}", p.key);
                host.call_hook::<CommitmentRevocation>(&payload(&p), None)
                    .await;
                let t = tower.clone();
                let _ = tokio::task::spawn_blocking(move || t.delivered(&p.key)).await;
            }
            tokio::select! {
                _ = sd.recv() => break,
                _ = tower.changed() => {}
            }
        }
    });
}
