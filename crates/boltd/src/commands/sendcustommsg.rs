//! `sendcustommsg node_id msg`: queue a custom message to a peer. The checks run in Core
//! Lightning's order with its codes and texts (reference §9.1), except that invalid hex and
//! messages shorter than the 2-byte type are refused (CLN's parser bug lets them through).

use jsonrpc::params::bad_token;
use jsonrpc::{id_prefix, Param, RpcError};
use net::{internal_type_name, PublicKey, SendError, MAX_MESSAGE_LEN};
use serde_json::{json, Value};
use std::sync::Arc;

use crate::peering::{node_id_param, Peering};
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[Param::req("node_id"), Param::req("msg")];

/// The reply plugins match on.
pub const SENT: &str = "Message sent to connectd for delivery";

pub struct Sendcustommsg {
    pub peering: Arc<Peering>,
}

/// A message that passed every check and may be queued.
struct Checked {
    id: PublicKey,
    msg: Vec<u8>,
}

impl Sendcustommsg {
    fn check_all(&self, ctx: &Context) -> Result<Checked, RpcError> {
        let (id, msg) = check_request(&ctx.request)?;
        let msg_type = msg.first_chunk::<2>().map_or(0, |t| u16::from_be_bytes(*t));
        if msg_type & 1 == 0 {
            self.peering
                .log_even_send(&id_prefix(&ctx.request.id), msg_type);
        }
        if self.peering.known(&id).is_none() {
            return Err(RpcError::invalid_request(format!("No such peer: {id}")));
        }
        if !self.peering.peers.is_connected(&id) {
            return Err(RpcError::invalid_request("Peer is not connected"));
        }
        Ok(Checked { id, msg })
    }
}

/// The checks that need nothing but the request, in CLN's order up to the peer lookup:
/// params, node id, hex, length, internal types. Ok is the node id and the whole message
/// (at least the 2-byte type). Pure, so the `sendcustommsg` fuzz target can drive it.
pub fn check_request(request: &jsonrpc::Request) -> Result<(PublicKey, Vec<u8>), RpcError> {
    let b = jsonrpc::bind_request(request, PARAMS, false)?;
    let id = node_id_param(&b, "node_id")?
        .ok_or_else(|| RpcError::invalid_params("missing required parameter: node_id"))?;
    let raw = b
        .get("msg")
        .ok_or_else(|| RpcError::invalid_params("missing required parameter: msg"))?;
    let msg = msg_text(request, raw)
        .and_then(|s| hex::decode(s).ok())
        .ok_or_else(|| bad_token("msg", "should be a hex value", raw))?;
    let Some(ty) = msg.first_chunk::<2>() else {
        return Err(RpcError::invalid_params(
            "msg: must be at least 2 bytes long (the message type)",
        ));
    };
    if msg.len() > MAX_MESSAGE_LEN {
        return Err(RpcError::invalid_params(format!(
            "msg: must be at most {MAX_MESSAGE_LEN} bytes including the type, got {}",
            msg.len()
        )));
    }
    let msg_type = u16::from_be_bytes(*ty);
    if let Some(name) = internal_type_name(msg_type) {
        return Err(RpcError::invalid_request(format!(
            "Cannot send messages of type {msg_type} ({name}). It is not possible to send messages that have a type managed internally since that might cause issues with the internal state tracking."
        )));
    }
    Ok((id, msg))
}

/// The hex text of `msg`. lightning-cli (and bolt-cli) send an all-digit argument such as
/// `77770012` as a JSON number; CLN reads the token's characters as hex, so we take the
/// number's raw text from the request rather than its value.
fn msg_text(request: &jsonrpc::Request, v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(raw_msg_token(request).unwrap_or_else(|| n.to_string())),
        _ => None,
    }
}

fn raw_msg_token(request: &jsonrpc::Request) -> Option<String> {
    let tok = super::raw_param(request, 1, "msg")?;
    tok.bytes().all(|c| c.is_ascii_digit()).then_some(tok)
}

impl Command for Sendcustommsg {
    fn name(&self) -> &'static str {
        "sendcustommsg"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        self.check_all(ctx).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let checked = self.check_all(&ctx);
        let peering = self.peering.clone();
        Box::pin(async move {
            let c = checked?;
            match peering.peers.send_custom(&c.id, &c.msg).await {
                Ok(()) => {}
                Err(SendError::NotConnected) => {
                    return Err(RpcError::invalid_request("Peer is not connected"))
                }
                // Already refused above; kept for completeness.
                Err(e) => return Err(RpcError::invalid_params(format!("msg: {e}"))),
            }
            Ok(Reply::Result(json!({ "status": SENT })))
        })
    }
}
