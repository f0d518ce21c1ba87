//! One request line → one reply: the parameter reading and a function per method. Every
//! failure (bad JSON, missing or malformed parameter, ldk-node refusing) is an error reply.

use std::str::FromStr;
use std::time::{Duration, Instant};

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Address;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescription, Description};
use ldk_node::{Node, UserChannelId};
use serde_json::{json, Map, Value};

use crate::render;

/// What a failed request answers: a short kind and a human text.
pub struct Failure {
    kind: &'static str,
    message: String,
}

fn bad(message: impl Into<String>) -> Failure {
    Failure {
        kind: "InvalidRequest",
        message: message.into(),
    }
}

fn node_err(e: ldk_node::NodeError) -> Failure {
    Failure {
        kind: "NodeError",
        message: format!("{e:?}: {e}"),
    }
}

type Reply = Result<Value, Failure>;

/// A method's handler.
type Handler = fn(&Node, &Params) -> Reply;

/// Every method: name and handler.
pub const METHODS: &[(&str, Handler)] = &[
    ("node_id", node_id),
    ("listening_addresses", listening_addresses),
    ("new_address", new_address),
    ("balances", balances),
    ("sync", sync),
    ("connect", connect),
    ("disconnect", disconnect),
    ("list_peers", list_peers),
    ("open_channel", open_channel),
    ("list_channels", list_channels),
    ("close_channel", close_channel),
    ("force_close_channel", force_close_channel),
    ("bolt11_receive", bolt11_receive),
    ("bolt11_send", bolt11_send),
    ("keysend_send", keysend_send),
    ("list_payments", list_payments),
    ("onchain_send", onchain_send),
    ("wait_event", wait_event),
    ("stop", stop),
];

/// Answers one request line; the bool says the process should stop now.
pub fn handle(node: &Node, line: &str) -> (Value, bool) {
    let reply = (|| {
        let req: Value = serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
        let method = req
            .get("method")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no \"method\" string"))?;
        let params = match req.get("params") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(bad("\"params\" must be an object")),
        };
        let (_, handler) = METHODS
            .iter()
            .find(|(name, _)| *name == method)
            .ok_or_else(|| bad(format!("unknown method {method}")))?;
        Ok((method == "stop", handler(node, &Params(params))?))
    })();
    match reply {
        Ok((stop, result)) => (json!({ "result": result }), stop),
        Err(f) => (
            json!({"error": {"kind": f.kind, "message": f.message}}),
            false,
        ),
    }
}

/// A request's named parameters.
pub struct Params(Map<String, Value>);

impl Params {
    fn opt<T>(
        &self,
        name: &str,
        read: impl FnOnce(&Value) -> Option<T>,
    ) -> Result<Option<T>, Failure> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => read(v)
                .map(Some)
                .ok_or_else(|| bad(format!("parameter {name}: bad value {v}"))),
        }
    }

    fn req<T>(&self, name: &str, read: impl FnOnce(&Value) -> Option<T>) -> Result<T, Failure> {
        self.opt(name, read)?
            .ok_or_else(|| bad(format!("parameter {name} is required")))
    }

    fn str(&self, name: &str) -> Result<String, Failure> {
        self.req(name, |v| v.as_str().map(str::to_string))
    }

    fn opt_u64(&self, name: &str) -> Result<Option<u64>, Failure> {
        self.opt(name, Value::as_u64)
    }

    fn u64(&self, name: &str) -> Result<u64, Failure> {
        self.req(name, Value::as_u64)
    }

    fn opt_bool(&self, name: &str) -> Result<Option<bool>, Failure> {
        self.opt(name, Value::as_bool)
    }

    fn parsed<T: FromStr>(&self, name: &str) -> Result<T, Failure> {
        self.req(name, |v| v.as_str().and_then(|s| s.parse().ok()))
    }

    fn node_id(&self) -> Result<PublicKey, Failure> {
        self.parsed("node_id")
    }

    fn address(&self) -> Result<SocketAddress, Failure> {
        self.parsed("address")
    }

    /// `user_channel_id` as `list_channels` prints it (a decimal string).
    fn user_channel_id(&self) -> Result<UserChannelId, Failure> {
        self.parsed::<u128>("user_channel_id").map(UserChannelId)
    }
}

pub fn listening(node: &Node) -> Vec<String> {
    node.listening_addresses()
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn node_id(node: &Node, _: &Params) -> Reply {
    Ok(json!(node.node_id().to_string()))
}

fn listening_addresses(node: &Node, _: &Params) -> Reply {
    Ok(json!(listening(node)))
}

fn new_address(node: &Node, _: &Params) -> Reply {
    let address = node.onchain_payment().new_address().map_err(node_err)?;
    Ok(json!(address.to_string()))
}

fn balances(node: &Node, _: &Params) -> Reply {
    Ok(render::balances(&node.list_balances()))
}

/// Polls the chain source now (the background poll runs every 2 s anyway) so the wallets,
/// channel monitors and sweeper have seen the current tip when this returns.
fn sync(node: &Node, _: &Params) -> Reply {
    node.sync_wallets().map_err(node_err)?;
    Ok(Value::Null)
}

fn connect(node: &Node, p: &Params) -> Reply {
    let persist = p.opt_bool("persist")?.unwrap_or(false);
    node.connect(p.node_id()?, p.address()?, persist)
        .map_err(node_err)?;
    Ok(Value::Null)
}

fn disconnect(node: &Node, p: &Params) -> Reply {
    node.disconnect(p.node_id()?).map_err(node_err)?;
    Ok(Value::Null)
}

fn list_peers(node: &Node, _: &Params) -> Reply {
    Ok(json!(node
        .list_peers()
        .iter()
        .map(render::peer)
        .collect::<Vec<_>>()))
}

fn open_channel(node: &Node, p: &Params) -> Reply {
    let (id, address, amount) = (p.node_id()?, p.address()?, p.u64("amount_sat")?);
    let push = p.opt_u64("push_msat")?;
    let opened = if p.opt_bool("announce")?.unwrap_or(false) {
        node.open_announced_channel(id, address, amount, push, None)
    } else {
        node.open_channel(id, address, amount, push, None)
    };
    let user_channel_id = opened.map_err(node_err)?;
    Ok(json!({ "user_channel_id": user_channel_id.0.to_string() }))
}

fn list_channels(node: &Node, _: &Params) -> Reply {
    Ok(json!(node
        .list_channels()
        .iter()
        .map(render::channel)
        .collect::<Vec<_>>()))
}

/// The channel's user id and peer, if ldk-node has that channel open (its close calls
/// answer Ok for a channel it does not know, which would hide a test's mistake).
fn open_channel_of(node: &Node, p: &Params) -> Result<(UserChannelId, PublicKey), Failure> {
    let (id, peer) = (p.user_channel_id()?, p.node_id()?);
    if !node
        .list_channels()
        .iter()
        .any(|c| c.user_channel_id == id && c.counterparty_node_id == peer)
    {
        return Err(bad(format!("no open channel {} with {peer}", id.0)));
    }
    Ok((id, peer))
}

fn close_channel(node: &Node, p: &Params) -> Reply {
    let (id, peer) = open_channel_of(node, p)?;
    node.close_channel(&id, peer).map_err(node_err)?;
    Ok(Value::Null)
}

fn force_close_channel(node: &Node, p: &Params) -> Reply {
    let reason = p.opt("reason", |v| v.as_str().map(str::to_string))?;
    let (id, peer) = open_channel_of(node, p)?;
    node.force_close_channel(&id, peer, reason)
        .map_err(node_err)?;
    Ok(Value::Null)
}

fn bolt11_receive(node: &Node, p: &Params) -> Reply {
    let text = p
        .opt("description", |v| v.as_str().map(str::to_string))?
        .unwrap_or_default();
    let description = Description::new(text).map_err(|e| bad(format!("description: {e}")))?;
    let description = Bolt11InvoiceDescription::Direct(description);
    let expiry = p.opt_u64("expiry_secs")?.unwrap_or(3600);
    let expiry = u32::try_from(expiry).map_err(|_| bad("expiry_secs is too large"))?;
    let payments = node.bolt11_payment();
    let invoice = match p.opt_u64("amount_msat")? {
        Some(msat) => payments.receive(msat, &description, expiry),
        None => payments.receive_variable_amount(&description, expiry),
    }
    .map_err(node_err)?;
    Ok(json!({
        "invoice": invoice.to_string(),
        "payment_hash": invoice.payment_hash().to_string(),
    }))
}

fn bolt11_send(node: &Node, p: &Params) -> Reply {
    let invoice: Bolt11Invoice = p
        .str("invoice")?
        .parse()
        .map_err(|e| bad(format!("invoice: {e}")))?;
    let payments = node.bolt11_payment();
    let id = match p.opt_u64("amount_msat")? {
        Some(msat) => payments.send_using_amount(&invoice, msat, None),
        None => payments.send(&invoice, None),
    }
    .map_err(node_err)?;
    Ok(json!({ "payment_id": render::hex(&id.0) }))
}

fn keysend_send(node: &Node, p: &Params) -> Reply {
    let id = node
        .spontaneous_payment()
        .send(p.u64("amount_msat")?, p.node_id()?, None)
        .map_err(node_err)?;
    Ok(json!({ "payment_id": render::hex(&id.0) }))
}

fn list_payments(node: &Node, _: &Params) -> Reply {
    Ok(json!(node
        .list_payments()
        .iter()
        .map(render::payment)
        .collect::<Vec<_>>()))
}

/// `{address, amount_sat}` or `{address, all: true}` (everything, reserves included).
fn onchain_send(node: &Node, p: &Params) -> Reply {
    let address = p
        .str("address")?
        .parse::<Address<_>>()
        .ok()
        .and_then(|a| a.require_network(ldk_node::bitcoin::Network::Regtest).ok())
        .ok_or_else(|| bad("address: not a regtest address"))?;
    let payments = node.onchain_payment();
    let txid = if p.opt_bool("all")?.unwrap_or(false) {
        payments.send_all_to_address(&address, false, None)
    } else {
        payments.send_to_address(&address, p.u64("amount_sat")?, None)
    }
    .map_err(node_err)?;
    Ok(json!({ "txid": txid.to_string() }))
}

/// The longest `wait_event` waits (a longer `timeout_secs` would overflow `Instant`).
const MAX_WAIT_SECS: f64 = 3600.0;

/// The next event (marked handled), or null when none came within `timeout_secs` (default 30).
fn wait_event(node: &Node, p: &Params) -> Reply {
    let secs = p.opt("timeout_secs", Value::as_f64)?.unwrap_or(30.0);
    if !(0.0..=MAX_WAIT_SECS).contains(&secs) {
        return Err(bad(format!(
            "timeout_secs must be between 0 and {MAX_WAIT_SECS}"
        )));
    }
    let timeout = Duration::from_secs_f64(secs);
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(event) = node.next_event() {
            let v = render::event(&event);
            node.event_handled().map_err(node_err)?;
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Ok(Value::Null);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop(_: &Node, _: &Params) -> Reply {
    Ok(Value::Null)
}
