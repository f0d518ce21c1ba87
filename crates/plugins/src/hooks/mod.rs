//! Hook chains (§7). Every hook is a chain walked in the order `registry::order_hook`
//! gives; a [`Hook`] impl says what the payload is and what each reply means. Each hook
//! lives in its own file here, so a new hook is one file (plus its `mod`/`pub use` lines
//! below) and one call site in the daemon.
//!
//! Where Core Lightning calls `fatal()` on a malformed hook reply (or on a JSON-RPC error
//! reply), boltd logs it as broken and applies [`Hook::on_invalid`]: continue for most
//! hooks, refusal for `db_write` (the safe side).

use std::sync::Arc;

use futures::future::join_all;
use serde::Serialize;
use serde_json::Value;

use crate::host::{PState, Plugin, PluginHost, Reply};
use crate::log::{Level, HOST};
use crate::manifest::Filter;

/// Hook names plugins may register (§7.2).
pub const KNOWN_HOOKS: [&str; 15] = [
    "peer_connected",
    "commitment_revocation",
    "db_write",
    "invoice_payment",
    "openchannel",
    "openchannel2",
    "openchannel2_changed",
    "openchannel2_sign",
    "rbf_channel",
    "htlc_accepted",
    "rpc_command",
    "custommsg",
    "onion_message_recv",
    "onion_message_recv_secret",
    "recover",
];

mod commitment_revocation;
mod custommsg;
mod db_write;
mod htlc_accepted;
mod htlc_accepted_forward;
mod invoice_payment;
mod openchannel;
mod peer_connected;
mod rpc_command;

pub use commitment_revocation::{CommitmentRevocation, CommitmentRevocationPayload};
pub use custommsg::{CustomMsg, CustomMsgPayload};
pub use db_write::{DbWrite, DbWriteOutcome, DbWritePayload};
pub use htlc_accepted::{
    HtlcAccepted, HtlcAcceptedAcc, HtlcAcceptedOutcome, HtlcAcceptedPayload, HtlcInfo, HtlcOnion,
};
pub use htlc_accepted_forward::{
    ForwardOnion, HtlcAcceptedForward, HtlcForwardAcc, HtlcForwardOutcome, HtlcForwardPayload,
};
pub use invoice_payment::{
    ExtraTlv, InvoicePayment, InvoicePaymentInfo, InvoicePaymentOutcome, InvoicePaymentPayload,
};
pub use openchannel::{
    ChannelTypeJson, OpenChannel, OpenChannelAccept, OpenChannelInfo, OpenChannelOutcome,
    OpenChannelPayload,
};
pub use peer_connected::{PeerConnected, PeerConnectedOutcome, PeerConnectedPayload, PeerInfo};
pub use rpc_command::{
    validate_replace, MethodStatus, RpcCommand, RpcCommandAcc, RpcCommandOutcome, RpcCommandPayload,
};

pub fn is_known_hook(name: &str) -> bool {
    KNOWN_HOOKS.contains(&name)
}

/// What a hook's `filters` hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    /// Method names (`rpc_command`).
    Names,
    /// Message types (`custommsg`).
    Types,
}

pub fn filter_kind(hook: &str) -> Option<FilterKind> {
    match hook {
        "rpc_command" => Some(FilterKind::Names),
        "custommsg" => Some(FilterKind::Types),
        _ => None,
    }
}

/// What one plugin's reply means for the chain.
#[derive(Debug, PartialEq)]
pub enum Step<O> {
    Continue,
    Stop(O),
    /// A reply CLN would `fatal()` on: logged as broken, then [`Hook::on_invalid`].
    Invalid(String),
}

/// One hook's payload and reply semantics.
pub trait Hook {
    const NAME: &'static str;
    /// Sent to every plugin at once, all answers awaited (`db_write`).
    const PARALLEL: bool = false;
    type Payload: Serialize + Send + Sync;
    type Outcome: Send;
    /// State carried along the chain.
    type Acc: Send;
    fn start(payload: &Self::Payload) -> Self::Acc;
    /// What `filters` entries are matched against, if the hook has filters.
    fn filter_key(_payload: &Self::Payload) -> Option<Filter> {
        None
    }
    /// Interprets one plugin's `result`.
    fn step(acc: &mut Self::Acc, plugin: &str, result: &Value) -> Step<Self::Outcome>;
    /// After an invalid reply: `None` continues the chain.
    fn on_invalid(_acc: &mut Self::Acc, _why: &str) -> Option<Self::Outcome> {
        None
    }
    /// A plugin died during the call: `None` skips it (CLN behaviour).
    fn on_died(_acc: &mut Self::Acc, _plugin: &str) -> Option<Self::Outcome> {
        None
    }
    /// Everyone continued.
    fn finish(acc: Self::Acc) -> Self::Outcome;
}

fn filter_matches(filters: Option<&Vec<Filter>>, key: &Option<Filter>) -> bool {
    match (filters, key) {
        (None, _) => true,
        (Some(f), Some(k)) => f.contains(k),
        // Filters on a hook call that has no key: CLN only allows them where keys exist.
        (Some(f), None) => !f.is_empty(),
    }
}

impl PluginHost {
    /// Walks the chain for `H`. `cause` is the id of the command that caused the call.
    pub async fn call_hook<H: Hook>(
        &self,
        payload: &H::Payload,
        cause: Option<&str>,
    ) -> H::Outcome {
        let key = H::filter_key(payload);
        let chain: Vec<Arc<Plugin>> = self
            .hook_chain(H::NAME)
            .into_iter()
            .filter(|p| {
                let filters = p
                    .manifest()
                    .and_then(|m| m.hooks.iter().find(|h| h.name == H::NAME))
                    .and_then(|h| h.filters.as_ref());
                filter_matches(filters, &key)
            })
            .collect();
        let mut acc = H::start(payload);
        if chain.is_empty() {
            return H::finish(acc);
        }
        let params = serde_json::to_string(payload).unwrap_or_else(|_| "{}".to_string());
        if H::PARALLEL {
            let replies = join_all(
                chain
                    .iter()
                    .map(|p| self.request(p, H::NAME, &params, cause, None)),
            )
            .await;
            let mut first = None;
            for (p, r) in chain.iter().zip(replies) {
                if let Some(o) = interpret::<H>(self, &mut acc, p, r) {
                    first.get_or_insert(o);
                }
            }
            return first.unwrap_or_else(|| H::finish(acc));
        }
        for p in &chain {
            // Checked first without awaiting: a call must queue its request on its first
            // poll (the custom-message pipeline's order depends on it), and an await on
            // a watch can yield when the task's budget runs out.
            if p.state() != PState::InitComplete && !p.initialized().await {
                // Gone before `init`: skipped, as a plugin that died during the call.
                if let Some(o) = H::on_died(&mut acc, &p.path) {
                    return o;
                }
                continue;
            }
            let r = self.request(p, H::NAME, &params, cause, None).await;
            if let Some(o) = interpret::<H>(self, &mut acc, p, r) {
                return o;
            }
        }
        H::finish(acc)
    }

    /// True if some plugin registered `hook`.
    pub fn has_hook(&self, hook: &str) -> bool {
        // Asked on every RPC call (rpc_command): no chain is ordered for it.
        crate::host::lock(&self.inner.state)
            .plugins
            .iter()
            .any(|p| {
                p.manifest()
                    .is_some_and(|m| m.hooks.iter().any(|h| h.name == hook))
            })
    }
}

fn interpret<H: Hook>(
    host: &PluginHost,
    acc: &mut H::Acc,
    p: &Plugin,
    reply: Reply,
) -> Option<H::Outcome> {
    match reply {
        Reply::Terminated => {
            host.log(
                Level::Debug,
                &p.source(),
                &format!("Plugin died from {} hook call", H::NAME),
            );
            H::on_died(acc, &p.path)
        }
        Reply::Result(raw) => {
            let v: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            match H::step(acc, &p.path, &v) {
                Step::Continue => None,
                Step::Stop(o) => Some(o),
                Step::Invalid(why) => {
                    // CLN: fatal(). boltd: log and apply the hook's safe default.
                    host.log(Level::Broken, HOST, &why);
                    H::on_invalid(acc, &why)
                }
            }
        }
        other => {
            // CLN: fatal("Plugin <name> for <hook> returned non-result response").
            let why = format!(
                "Plugin {} for {} returned non-result response {}",
                p.name,
                H::NAME,
                other.text()
            );
            host.log(Level::Broken, HOST, &why);
            H::on_invalid(acc, &why)
        }
    }
}
