//! Commando, both sides, wired to the peers' custom messages.
//!
//! Server: request pieces from any connected peer are reassembled (bounded, see
//! `runes::commando`), the rune is checked with the sender's node id, the command runs
//! through the dispatcher (so `rpc_command` hooks see it, under the id
//! `<request id>/commando:<method>#<n>`), and the node's whole response goes back in reply
//! pieces with the requester's id. The messages still reach plugins (`custommsg`
//! notification and hook) as in Core Lightning, where commando is just one hook plugin.
//!
//! Client: the `commando` command sends request pieces and waits for the reply pieces of
//! its id (Core Lightning waits forever; boltd also gives up when the peer disconnects).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use indexmap::IndexMap;
use jsonrpc::{RawValue, Request, RpcError};
use net::PublicKey;
use runes::commando::{
    codes, parse_piece, parse_request, refusal, reply, reply_pieces, request_pieces, token_text,
    Assembled, Reassembler, ReplyError, MAX_REPLY_LEN,
};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::node::Node;
use crate::peering::Peering;
use crate::rpc::{ConnHandle, Context, Dispatcher};
use crate::rune_book::{CheckRequest, RuneBook};

/// Requests of one peer executing at once; more are refused with 19536.
pub const MAX_RUNNING_PER_PEER: usize = 16;

/// How often a waiting client looks whether its peer is still there.
const PEER_POLL: Duration = Duration::from_millis(500);

struct Waiting {
    buf: Vec<u8>,
    oversize: bool,
    done: Option<oneshot::Sender<Result<Vec<u8>, ReplyError>>>,
}

pub struct Commando {
    node: Arc<Node>,
    /// Set once the dispatcher is built (it holds the `commando` command, so a weak
    /// link: no cycle).
    dispatcher: OnceLock<Weak<Dispatcher>>,
    book: Arc<RuneBook>,
    peering: Weak<Peering>,
    incoming: Mutex<Reassembler<PublicKey>>,
    running: Mutex<HashMap<PublicKey, usize>>,
    waiting: Mutex<HashMap<(PublicKey, u64), Waiting>>,
    /// Numbers the requests run on peers' behalf (`…/commando:<method>#<n>`).
    seq: AtomicU64,
}

/// Keeps a peer's running count right however its request task ends.
struct RunningSlot {
    commando: Arc<Commando>,
    peer: PublicKey,
}

impl Drop for RunningSlot {
    fn drop(&mut self) {
        if let Ok(mut r) = self.commando.running.lock() {
            if let Some(n) = r.get_mut(&self.peer) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    r.remove(&self.peer);
                }
            }
        }
    }
}

impl Commando {
    pub fn new(node: Arc<Node>, book: Arc<RuneBook>, peering: &Arc<Peering>) -> Arc<Commando> {
        Arc::new(Commando {
            node,
            dispatcher: OnceLock::new(),
            book,
            peering: Arc::downgrade(peering),
            incoming: Mutex::new(Reassembler::default()),
            running: Mutex::new(HashMap::new()),
            waiting: Mutex::new(HashMap::new()),
            seq: AtomicU64::new(0),
        })
    }

    /// Peers' requests run through `d` from now on (call once, before peers connect).
    pub fn serve_with(&self, d: &Arc<Dispatcher>) {
        let _ = self.dispatcher.set(Arc::downgrade(d));
    }

    /// Takes one custom message (type included) from `peer`. Called in arrival order and
    /// never blocks: a finished request runs in its own task.
    pub fn on_message(self: &Arc<Self>, peer: PublicKey, message: &[u8]) {
        let Some(piece) = parse_piece(message) else {
            return;
        };
        if !piece.is_request {
            self.on_reply_piece(peer, piece.id, piece.payload, piece.last);
            return;
        }
        let (assembled, replaced) = match self.incoming.lock() {
            Ok(mut r) => r.push(&peer, piece.id, piece.payload, piece.last),
            Err(_) => return,
        };
        if replaced {
            tracing::info!(peer = %peer, "commando: New cmd from {peer}, replacing old");
        }
        match assembled {
            Assembled::Pending => {}
            Assembled::Oversize => {
                tracing::warn!(peer = %peer, "commando: ignoring oversize request");
            }
            Assembled::Complete(json) => self.start_request(peer, piece.id, json),
        }
    }

    fn start_request(self: &Arc<Self>, peer: PublicKey, req_id: u64, json: Vec<u8>) {
        let admitted = match self.running.lock() {
            Ok(mut r) => {
                let n = r.entry(peer).or_insert(0);
                if *n >= MAX_RUNNING_PER_PEER {
                    false
                } else {
                    *n += 1;
                    true
                }
            }
            Err(_) => false,
        };
        let me = self.clone();
        if !admitted {
            tracing::info!(peer = %peer, "commando: too many requests in progress, refusing one");
            me.send_reply(
                peer,
                req_id,
                refusal(codes::REMOTE, "Too many commando requests in progress"),
            );
            return;
        }
        tokio::spawn(async move {
            let _slot = RunningSlot {
                commando: me.clone(),
                peer,
            };
            let answer = me.answer(peer, &json).await;
            me.send_reply(peer, req_id, answer);
        });
    }

    fn send_reply(&self, peer: PublicKey, req_id: u64, json: Vec<u8>) {
        let Some(peering) = self.peering.upgrade() else {
            return;
        };
        let pieces = reply_pieces(req_id, &json);
        if let Err(e) = peering
            .peers
            .send_custom_batch(&peer, pieces.iter().map(Vec::as_slice))
        {
            tracing::debug!(peer = %peer, "commando: reply not sent: {e}");
        }
    }

    /// The reply to one whole request: a refusal, or the executed command's response.
    async fn answer(&self, peer: PublicKey, json: &[u8]) -> Vec<u8> {
        let req = match parse_request(json) {
            Ok(r) => r,
            Err(e) => return refusal(codes::REMOTE, &e.to_string()),
        };
        let Some(uid) = req.rune.numeric_id() else {
            return refusal(
                codes::REMOTE_UNAUTHORIZED,
                "Invalid rune: rune: should have valid numeric unique_id: invalid token (see logs for details)",
            );
        };
        let check = CheckRequest {
            nodeid: Some(peer.to_string()),
            method: Some(req.method.clone()),
            params: req.params.as_ref().map(|p| p.get().to_string()),
        };
        if let Err(e) = self.book.check(&req.rune, uid, &check).await {
            return refusal(
                codes::REMOTE_UNAUTHORIZED,
                &format!("Invalid rune: {}", e.message),
            );
        }
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        // Built as a proper JSON string whatever the requester's id is: Core Lightning
        // pastes it unquoted and an object id wedges its commando for everyone.
        let id_text = format!("{}/commando:{}#{n}", token_text(&req.id), req.method);
        let frame = match self.run(id_text, &req).await {
            Ok(f) => f,
            Err(e) => return refusal(codes::REMOTE, &e),
        };
        let members: IndexMap<String, Box<RawValue>> =
            match serde_json::from_slice(trim_frame(&frame)) {
                Ok(m) => m,
                Err(e) => return refusal(codes::REMOTE, &format!("bad response: {e}")),
            };
        match (members.get("result"), members.get("error")) {
            (Some(r), _) => reply(&req.id, Ok(r)),
            (None, Some(e)) => reply(&req.id, Err(e)),
            _ => refusal(codes::REMOTE, "bad response"),
        }
    }

    /// Runs the request through the dispatcher (`rpc_command` hook included).
    async fn run(
        &self,
        id_text: String,
        req: &runes::commando::Request,
    ) -> Result<Vec<u8>, String> {
        let raw = |s: String| RawValue::from_string(s).map_err(|e| e.to_string());
        let id = raw(serde_json::to_string(&id_text).map_err(|e| e.to_string())?)?;
        let params_raw = match &req.params {
            Some(p) => p.clone(),
            None => raw("{}".into())?,
        };
        let params: Value = serde_json::from_str(params_raw.get()).map_err(|e| e.to_string())?;
        let mut members = jsonrpc::Members::default();
        members.insert("jsonrpc".to_string(), raw("\"2.0\"".into())?);
        members.insert("id".to_string(), id.clone());
        members.insert(
            "method".to_string(),
            raw(Value::String(req.method.clone()).to_string())?,
        );
        members.insert("params".to_string(), params_raw);
        if let Some(f) = &req.filter {
            members.insert("filter".to_string(), f.clone());
        }
        let dispatcher = self
            .dispatcher
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| "not serving requests yet".to_string())?;
        let ctx = Context {
            request: Request {
                id,
                method: req.method.clone(),
                params,
                members,
            },
            node: self.node.clone(),
            conn: ConnHandle::detached(),
            dispatcher: dispatcher.clone(),
            survives_close: Arc::new(AtomicBool::new(false)),
        };
        Ok(dispatcher.dispatch(ctx).await)
    }

    fn on_reply_piece(&self, peer: PublicKey, id: u64, payload: &[u8], last: bool) {
        let Ok(mut w) = self.waiting.lock() else {
            return;
        };
        let Some(entry) = w.get_mut(&(peer, id)) else {
            tracing::debug!(peer = %peer, "commando: reply for unknown id {id}");
            return;
        };
        if !entry.oversize {
            if entry.buf.len() + payload.len() > MAX_REPLY_LEN {
                entry.oversize = true;
                entry.buf = Vec::new();
            } else {
                entry.buf.extend_from_slice(payload);
            }
        }
        if !last {
            return;
        }
        if let Some(mut done) = w.remove(&(peer, id)) {
            let out = if done.oversize {
                Err(ReplyError::Oversize)
            } else {
                Ok(std::mem::take(&mut done.buf))
            };
            if let Some(tx) = done.done.take() {
                let _ = tx.send(out);
            }
        }
    }

    /// Sends `json` to `peer` as a commando request and returns the reply's bytes.
    pub async fn call(&self, peer: PublicKey, json: String) -> Result<Vec<u8>, RpcError> {
        let peering = self
            .peering
            .upgrade()
            .ok_or_else(|| RpcError::daemon("peers are gone"))?;
        if peering.known(&peer).is_none() {
            return Err(RpcError::invalid_request(format!("No such peer: {peer}")));
        }
        let (tx, mut rx) = oneshot::channel();
        let id = {
            let mut w = self
                .waiting
                .lock()
                .map_err(|_| RpcError::daemon("commando lock poisoned"))?;
            let mut id: u64 = rand::random();
            while w.contains_key(&(peer, id)) {
                id = rand::random();
            }
            w.insert(
                (peer, id),
                Waiting {
                    buf: Vec::new(),
                    oversize: false,
                    done: Some(tx),
                },
            );
            id
        };
        let forget = || {
            if let Ok(mut w) = self.waiting.lock() {
                w.remove(&(peer, id));
            }
        };
        let pieces = request_pieces(id, json.as_bytes());
        if let Err(e) = peering
            .peers
            .send_custom_batch(&peer, pieces.iter().map(Vec::as_slice))
        {
            forget();
            return Err(RpcError::invalid_request(e.to_string()));
        }
        loop {
            tokio::select! {
                r = &mut rx => {
                    return match r {
                        Ok(Ok(bytes)) => Ok(bytes),
                        Ok(Err(e)) => Err(RpcError::new(codes::LOCAL, e.to_string())),
                        Err(_) => Err(RpcError::daemon("commando reply lost")),
                    };
                }
                _ = tokio::time::sleep(PEER_POLL) => {
                    if !peering.peers.is_connected(&peer) {
                        forget();
                        return Err(RpcError::invalid_request("Peer is not connected"));
                    }
                }
            }
        }
    }
}

/// A response frame without its `\n\n` terminator.
fn trim_frame(frame: &[u8]) -> &[u8] {
    let end = frame
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &frame[..end]
}

/// Starts taking commando messages from peers (they run once
/// [`Commando::serve_with`] gave it the dispatcher); the `commando` command is built from
/// it in `commands::TABLE`.
pub fn start(node: Arc<Node>, book: Arc<RuneBook>, peering: &Arc<Peering>) -> Arc<Commando> {
    let commando = Commando::new(node, book, peering);
    let c = commando.clone();
    peering.add_custom_tap(Arc::new(move |peer, msg| {
        if msg
            .first_chunk::<2>()
            .is_some_and(|t| runes::commando::is_commando_type(u16::from_be_bytes(*t)))
        {
            c.on_message(peer, msg);
        }
    }));
    commando
}
