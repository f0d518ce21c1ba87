//! `close id [unilateraltimeout] [destination] [fee_negotiation_step] [wrong_funding]
//! [force_lease_closed] [feerange]`: a mutual close, forced after `unilateraltimeout`
//! seconds (0: never); answers with the closing transactions (reference §3.3).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bitcoin::consensus::encode::serialize_hex;
use jsonrpc::{Param, RpcError};
use lightning::ln::channel_state::ChannelDetails;
use lightning::ln::script::ShutdownScript;
use serde_json::{json, Value};

use crate::channels::{state, Channels};
use crate::peering::{parse_node_id, Peering};
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[
    Param::req("id"),
    Param::opt("unilateraltimeout"),
    Param::opt("destination"),
    Param::opt("fee_negotiation_step"),
    Param::opt("wrong_funding"),
    Param::opt("force_lease_closed"),
    Param::opt("feerange"),
];

/// Core Lightning's default: 48 hours.
const DEFAULT_TIMEOUT: u64 = 172_800;

pub struct Close {
    pub channels: Arc<Channels>,
    pub peering: Arc<Peering>,
}

/// The one channel `id` names (peer id, channel id or short channel id).
fn find(channels: &Channels, id: &str) -> Result<ChannelDetails, RpcError> {
    let live = crate::channels::off_worker(|| channels.ln.manager.list_channels());
    if let Some(peer) = parse_node_id(id) {
        let mine: Vec<_> = live
            .into_iter()
            .filter(|c| c.counterparty.node_id == peer)
            .collect();
        return match mine.len() {
            0 => Err(RpcError::daemon("Peer has no active channel")),
            1 => Ok(mine
                .into_iter()
                .next()
                .ok_or_else(|| RpcError::daemon("Peer has no active channel"))?),
            _ => Err(RpcError::daemon(
                "Peer has multiple channels: use channel_id or short_channel_id",
            )),
        };
    }
    if let Some(c) = live.iter().find(|c| {
        c.channel_id.to_string() == id
            || c.short_channel_id
                .map(crate::channels::json::scid)
                .as_deref()
                == Some(id)
    }) {
        return Ok(c.clone());
    }
    // A closed channel we still track: CLN refuses by state.
    if let Some(t) = channels
        .tracked()
        .iter()
        .find_map(|(cid, t)| (cid.to_string() == id).then_some(t.state))
    {
        return Err(RpcError::daemon(format!("Channel is in state {t}")));
    }
    Err(RpcError::invalid_params(format!(
        "id: Short channel ID not active: '{id}'"
    )))
}

fn destination(
    v: Option<&Value>,
    network: bitcoin::Network,
) -> Result<Option<ShutdownScript>, RpcError> {
    let Some(v) = v else { return Ok(None) };
    let bad = || RpcError::invalid_params("Invalid close destination");
    let addr = v
        .as_str()
        .and_then(|s| bitcoin::Address::from_str(s).ok())
        .and_then(|a| a.require_network(network).ok())
        .ok_or_else(bad)?;
    ShutdownScript::try_from(addr.script_pubkey())
        .map(Some)
        .map_err(|_| RpcError::invalid_params("Peer does not allow v1+ shutdown addresses"))
}

fn check_step(v: Option<&Value>) -> Result<(), RpcError> {
    let Some(v) = v else { return Ok(()) };
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let wrong = |why: &str| {
        RpcError::invalid_params(format!(
            "Wrong value given for fee_negotiation_step: \"{text}\", {why}"
        ))
    };
    if let Some(p) = text.strip_suffix('%') {
        let n: u64 = p
            .parse()
            .map_err(|_| wrong("should be an integer or an integer followed by %"))?;
        if !(1..=100).contains(&n) {
            return Err(wrong("the percentage should be between 1 and 100"));
        }
        return Ok(());
    }
    let n: u64 = text
        .parse()
        .map_err(|_| wrong("should be an integer or an integer followed by %"))?;
    if n == 0 {
        return Err(wrong("must be positive"));
    }
    Ok(())
}

impl Command for Close {
    fn name(&self) -> &'static str {
        "close"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        let b = ctx.bind(PARAMS)?;
        b.str("id")?;
        b.u64("unilateraltimeout")?;
        check_step(b.get("fee_negotiation_step"))?;
        destination(b.get("destination"), self.channels.ln.config().network)?;
        Ok(())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let channels = self.channels.clone();
        let peering = self.peering.clone();
        Box::pin(async move {
            let b = ctx.bind(PARAMS)?;
            let id = b
                .str("id")?
                .ok_or_else(|| RpcError::invalid_params("missing required parameter: id"))?
                .to_string();
            let timeout = b.u64("unilateraltimeout")?.unwrap_or(DEFAULT_TIMEOUT);
            check_step(b.get("fee_negotiation_step"))?;
            if b.get("wrong_funding").is_some() {
                return Err(RpcError::invalid_params(
                    "wrong_funding feature not negotiated (we said no, they said no: try experimental-shutdown-wrong-funding?)",
                ));
            }
            let dest = destination(b.get("destination"), channels.ln.config().network)?;
            let c = find(&channels, &id)?;
            // A script promised upfront (close_to) cannot change.
            let dest = match (dest, channels.shutdown_script(c.user_channel_id)) {
                (Some(d), Some(promised)) if d.clone().into_inner() != promised => {
                    return Err(RpcError::invalid_params(format!(
                        "Destination address {} does not match previous shutdown script {}",
                        b.get("destination")
                            .and_then(Value::as_str)
                            .unwrap_or_default(),
                        hex::encode(promised.as_bytes())
                    )));
                }
                (_, Some(_)) => None,
                (d, None) => d,
            };
            let peer = c.counterparty.node_id;
            let ln = channels.ln.clone();
            let st = channels
                .tracked()
                .get(&c.channel_id)
                .map(|t| t.state)
                .unwrap_or_else(|| state::live_state(&c));
            if st == state::OPENINGD {
                let _ = crate::channels::off_worker(|| {
                    ln.manager.force_close_broadcasting_latest_txn(
                        &c.channel_id,
                        &peer,
                        "Channel open canceled by `close`".into(),
                    )
                });
                return Ok(Reply::Result(json!({"type": "unopened"})));
            }
            if matches!(st, state::CLOSING_COMPLETE) {
                return Err(RpcError::daemon(format!("Channel is in state {st}")));
            }
            let mut changed = ln.broadcaster.subscribe();
            channels.mark_user_close(&c.channel_id);
            if !matches!(st, state::SHUTTING_DOWN | state::SIGEXCHANGE) {
                let started = crate::channels::off_worker(|| {
                    ln.manager.close_channel_with_feerate_and_script(
                        &c.channel_id,
                        &peer,
                        None,
                        dest,
                    )
                });
                if let Err(e) = started {
                    if timeout == 0 || peering.peers.is_connected(&peer) {
                        return Err(RpcError::daemon(format!("{e:?}")));
                    }
                } else {
                    // The shutdown's monitor update waits for a manager write: write
                    // it at once.
                    let l = ln.clone();
                    if let Err(e) = crate::channels::off_worker(move || l.persist_manager()) {
                        tracing::error!("persisting the channel manager: {e}");
                    }
                }
            }
            let wait = async {
                loop {
                    if let Some(closing) = ln.broadcaster.closing(&c.channel_id) {
                        return closing;
                    }
                    if changed.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            };
            tokio::pin!(wait);
            let closing = if timeout == 0 {
                wait.await
            } else {
                match tokio::time::timeout(Duration::from_secs(timeout), &mut wait).await {
                    Ok(c) => c,
                    Err(_) => {
                        tracing::info!("{}: Timed out, forcing close.", c.channel_id);
                        let _ = crate::channels::off_worker(|| {
                            ln.manager.force_close_broadcasting_latest_txn(
                                &c.channel_id,
                                &peer,
                                "Forcibly closed by `close` command timeout".into(),
                            )
                        });
                        wait.await
                    }
                }
            };
            for tx in &closing.txs {
                ln.broadcaster.sent(tx).await.map_err(|e| {
                    RpcError::daemon(format!("Error broadcasting transaction: {e}"))
                })?;
            }
            let txs: Vec<String> = closing.txs.iter().map(serialize_hex).collect();
            let txids: Vec<String> = closing
                .txs
                .iter()
                .map(|t| t.compute_txid().to_string())
                .collect();
            Ok(Reply::Result(json!({
                "txs": txs,
                "txids": txids,
                "type": closing.kind.as_str(),
            })))
        })
    }
}
