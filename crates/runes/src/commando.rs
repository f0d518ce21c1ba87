//! Commando: JSON-RPC carried in custom peer messages. The framing (`u16 type ‖ u64 id ‖
//! JSON slice`), bounded reassembly of incoming requests, the server's request checks with
//! Core Lightning's texts (code 19536), and the client's reading of a reply (code 19535).

use std::collections::{HashMap, VecDeque};

use serde_json::value::RawValue;

use crate::rune::Rune;

/// A request piece; more follow.
pub const REQUEST_CONTINUES: u16 = 0x4c4d;
/// The last piece of a request.
pub const REQUEST_TERMINATES: u16 = 0x4c4f;
/// A reply piece; more follow.
pub const REPLY_CONTINUES: u16 = 0x594b;
/// The last piece of a reply.
pub const REPLY_TERMINATES: u16 = 0x594d;
/// JSON bytes per piece: a piece stays under BOLT 8's 65535-byte message limit.
pub const SLICE_LEN: usize = 65000;
/// Requests growing past this are dropped, as Core Lightning does.
pub const MAX_REQUEST_LEN: usize = 1 << 20;
/// Unfinished requests kept at once, over all peers; the oldest goes first.
pub const MAX_INCOMPLETE: usize = 16;
/// Reply bytes a client accepts.
pub const MAX_REPLY_LEN: usize = 500 << 20;

/// Error codes commando uses besides the executed command's own.
pub mod codes {
    /// The client's own failures (reply oversize or unparsable).
    pub const LOCAL: i64 = 19535;
    /// The server refused a malformed request.
    pub const REMOTE: i64 = 19536;
    /// The server's `checkrune` refused the rune.
    pub const REMOTE_UNAUTHORIZED: i64 = 19537;
}

/// Whether `msg_type` is one of commando's four.
pub fn is_commando_type(msg_type: u16) -> bool {
    matches!(
        msg_type,
        REQUEST_CONTINUES | REQUEST_TERMINATES | REPLY_CONTINUES | REPLY_TERMINATES
    )
}

/// One decoded custom message of commando's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece<'a> {
    pub is_request: bool,
    pub last: bool,
    pub id: u64,
    pub payload: &'a [u8],
}

/// Reads a whole custom message (type included); `None` if it is not commando's or is too
/// short to carry an id.
pub fn parse_piece(message: &[u8]) -> Option<Piece<'_>> {
    let msg_type = u16::from_be_bytes(message.get(..2)?.try_into().ok()?);
    let id = u64::from_be_bytes(message.get(2..10)?.try_into().ok()?);
    let payload = message.get(10..)?;
    let (is_request, last) = match msg_type {
        REQUEST_CONTINUES => (true, false),
        REQUEST_TERMINATES => (true, true),
        REPLY_CONTINUES => (false, false),
        REPLY_TERMINATES => (false, true),
        _ => return None,
    };
    Some(Piece {
        is_request,
        last,
        id,
        payload,
    })
}

fn pieces(more: u16, last: u16, id: u64, json: &[u8]) -> Vec<Vec<u8>> {
    let mut chunks: Vec<&[u8]> = json.chunks(SLICE_LEN).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    let n = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let t = if i + 1 == n { last } else { more };
            let mut m = Vec::with_capacity(10 + chunk.len());
            m.extend_from_slice(&t.to_be_bytes());
            m.extend_from_slice(&id.to_be_bytes());
            m.extend_from_slice(chunk);
            m
        })
        .collect()
}

/// A request's custom messages, in sending order.
pub fn request_pieces(id: u64, json: &[u8]) -> Vec<Vec<u8>> {
    pieces(REQUEST_CONTINUES, REQUEST_TERMINATES, id, json)
}

/// A reply's custom messages, in sending order.
pub fn reply_pieces(id: u64, json: &[u8]) -> Vec<Vec<u8>> {
    pieces(REPLY_CONTINUES, REPLY_TERMINATES, id, json)
}

/// What one incoming request piece completed.
#[derive(Debug, PartialEq, Eq)]
pub enum Assembled {
    /// More pieces are expected.
    Pending,
    /// A whole request's JSON text.
    Complete(Vec<u8>),
    /// The last piece of a request that grew past [`MAX_REQUEST_LEN`]; its bytes were
    /// dropped as soon as it did.
    Oversize,
}

struct Partial<P> {
    peer: P,
    id: u64,
    buf: Vec<u8>,
    oversize: bool,
}

/// Reassembles requests: one unfinished request per peer (a new id replaces it), at most
/// `max_incomplete` unfinished overall, each at most `max_len` bytes kept.
pub struct Reassembler<P> {
    partial: VecDeque<Partial<P>>,
    max_len: usize,
    max_incomplete: usize,
}

impl<P: PartialEq + Clone> Default for Reassembler<P> {
    fn default() -> Self {
        Reassembler::new(MAX_REQUEST_LEN, MAX_INCOMPLETE)
    }
}

impl<P: PartialEq + Clone> Reassembler<P> {
    pub fn new(max_len: usize, max_incomplete: usize) -> Self {
        Reassembler {
            partial: VecDeque::new(),
            max_len,
            max_incomplete: max_incomplete.max(1),
        }
    }

    /// Unfinished requests held now.
    pub fn incomplete(&self) -> usize {
        self.partial.len()
    }

    /// Forgets a peer's unfinished request (it disconnected).
    pub fn forget(&mut self, peer: &P) {
        self.partial.retain(|p| p.peer != *peer);
    }

    /// Takes one request piece. The second value says an unfinished request of the same
    /// peer with another id was discarded.
    pub fn push(&mut self, peer: &P, id: u64, payload: &[u8], last: bool) -> (Assembled, bool) {
        let mut replaced = false;
        let existing = self.partial.iter().position(|p| p.peer == *peer);
        let index = match existing {
            Some(i) if self.partial[i].id == id => Some(i),
            Some(i) => {
                self.partial.remove(i);
                replaced = true;
                None
            }
            None => None,
        };
        let index = match index {
            Some(i) => i,
            None if last => {
                // A request in one piece never waits in the table.
                return if payload.len() > self.max_len {
                    (Assembled::Oversize, replaced)
                } else {
                    (Assembled::Complete(payload.to_vec()), replaced)
                };
            }
            None => {
                if self.partial.len() >= self.max_incomplete {
                    self.partial.pop_front();
                }
                self.partial.push_back(Partial {
                    peer: peer.clone(),
                    id,
                    buf: Vec::new(),
                    oversize: false,
                });
                self.partial.len() - 1
            }
        };
        let Some(p) = self.partial.get_mut(index) else {
            return (Assembled::Pending, replaced);
        };
        if !p.oversize {
            if p.buf.len() + payload.len() > self.max_len {
                p.oversize = true;
                p.buf = Vec::new();
            } else {
                p.buf.extend_from_slice(payload);
            }
        }
        if !last {
            return (Assembled::Pending, replaced);
        }
        let done = self.partial.remove(index);
        match done {
            Some(p) if !p.oversize => (Assembled::Complete(p.buf), replaced),
            _ => (Assembled::Oversize, replaced),
        }
    }
}

/// A well-formed request a server is about to authorise and run.
#[derive(Debug)]
pub struct Request {
    /// The method token's text: a string's characters as written (escapes kept).
    pub method: String,
    /// The requester's id token, echoed verbatim in the reply.
    pub id: Box<RawValue>,
    /// An object or array, if given.
    pub params: Option<Box<RawValue>>,
    pub rune: Rune,
    pub filter: Option<Box<RawValue>>,
}

/// Why a server refuses a request before checking its rune (code 19536).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("Invalid JSON")]
    InvalidJson,
    #[error("Not a JSON object")]
    NotObject,
    #[error("No method")]
    NoMethod,
    #[error("Params must be object or array")]
    BadParams,
    #[error("missing id field")]
    MissingId,
    #[error("Missing rune")]
    MissingRune,
    #[error("Invalid rune")]
    InvalidRune,
}

/// The text of a token as Core Lightning's `json_strdup`/`param_string` takes it.
pub fn token_text(raw: &RawValue) -> &str {
    let t = raw.get();
    match (t.strip_prefix('"'), t.len()) {
        (Some(inner), n) if n >= 2 => inner.get(..inner.len() - 1).unwrap_or(inner),
        _ => t,
    }
}

/// Applies the server's checks in Core Lightning's order.
pub fn parse_request(json: &[u8]) -> Result<Request, RequestError> {
    let whole: Box<RawValue> =
        serde_json::from_slice(json).map_err(|_| RequestError::InvalidJson)?;
    if !whole.get().starts_with('{') {
        return Err(RequestError::NotObject);
    }
    let mut members: HashMap<String, Box<RawValue>> =
        serde_json::from_str(whole.get()).map_err(|_| RequestError::InvalidJson)?;
    let method = members.remove("method").ok_or(RequestError::NoMethod)?;
    let params = members.remove("params");
    if let Some(p) = &params {
        if !(p.get().starts_with('{') || p.get().starts_with('[')) {
            return Err(RequestError::BadParams);
        }
    }
    let id = members.remove("id").ok_or(RequestError::MissingId)?;
    let rune = members.remove("rune").ok_or(RequestError::MissingRune)?;
    let rune = Rune::from_base64(token_text(&rune)).map_err(|_| RequestError::InvalidRune)?;
    Ok(Request {
        method: token_text(&method).to_string(),
        id,
        params,
        rune,
        filter: members.remove("filter"),
    })
}

/// A refusal as Core Lightning's commando sends it: no `jsonrpc`, no `id`.
pub fn refusal(code: i64, message: &str) -> Vec<u8> {
    serde_json::json!({"error": {"code": code, "message": message}})
        .to_string()
        .into_bytes()
}

/// The reply to an executed request: the node's response with the requester's id.
pub fn reply(id: &RawValue, outcome: Result<&RawValue, &RawValue>) -> Vec<u8> {
    let (member, body) = match outcome {
        Ok(r) => ("result", r.get()),
        Err(e) => ("error", e.get()),
    };
    format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{},\"{member}\":{body}}}",
        id.get()
    )
    .into_bytes()
}

/// The request a client sends; `params` and `filter` are pasted as the raw JSON the caller
/// gave, `rune` between quotes (Core Lightning's client does the same).
pub fn request_json(
    method: &str,
    id_json: &str,
    params: &str,
    rune: Option<&str>,
    filter: Option<&str>,
) -> String {
    let method = serde_json::to_string(method).unwrap_or_else(|_| "\"\"".into());
    let mut out = format!("{{\"method\":{method},\"id\":{id_json},\"params\":{params}");
    if let Some(r) = rune {
        out.push_str(&format!(",\"rune\":\"{r}\""));
    }
    if let Some(f) = filter {
        out.push_str(&format!(",\"filter\":{f}"));
    }
    out.push('}');
    out
}

/// What a client makes of a reply.
#[derive(Debug)]
pub enum ReplyOutcome {
    /// The remote command's `result`.
    Result(Box<RawValue>),
    /// The remote error, passed on unchanged.
    Error {
        code: i64,
        message: String,
        data: Option<Box<RawValue>>,
    },
}

/// The client's own failures reading a reply (code 19535).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("Reply was oversize")]
    Oversize,
    #[error("Reply was unparsable: '{0}'")]
    Unparsable(String),
    #[error("Error '{0}' had no valid code")]
    NoValidCode(String),
    #[error("Error had no message")]
    NoMessage,
    #[error("Reply had no result")]
    NoResult,
}

/// Reads a whole reply as Core Lightning's client does.
pub fn read_reply(json: &[u8]) -> Result<ReplyOutcome, ReplyError> {
    let text = String::from_utf8_lossy(json);
    let unparsable = || ReplyError::Unparsable(text.to_string());
    let members: HashMap<String, Box<RawValue>> =
        serde_json::from_slice(json).map_err(|_| unparsable())?;
    if let Some(err) = members.get("error") {
        let e: HashMap<String, Box<RawValue>> = serde_json::from_str(err.get())
            .map_err(|_| ReplyError::NoValidCode(err.get().to_string()))?;
        let code = e
            .get("code")
            .and_then(|c| c.get().parse::<i64>().ok())
            .ok_or_else(|| ReplyError::NoValidCode(err.get().to_string()))?;
        let message = e
            .get("message")
            .map(|m| match serde_json::from_str::<String>(m.get()) {
                Ok(s) => s,
                Err(_) => m.get().to_string(),
            })
            .ok_or(ReplyError::NoMessage)?;
        return Ok(ReplyOutcome::Error {
            code,
            message,
            data: e.get("data").cloned(),
        });
    }
    members
        .get("result")
        .cloned()
        .map(ReplyOutcome::Result)
        .ok_or(ReplyError::NoResult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_split_at_65000_and_end_with_the_last_type() {
        let json = vec![b'x'; 2 * SLICE_LEN];
        let ps = request_pieces(7, &json);
        assert_eq!(ps.len(), 2);
        assert_eq!(&ps[0][..2], &REQUEST_CONTINUES.to_be_bytes());
        assert_eq!(&ps[1][..2], &REQUEST_TERMINATES.to_be_bytes());
        assert!(ps.iter().all(|p| p.len() == SLICE_LEN + 10));
        let ps = reply_pieces(9, b"{}");
        assert_eq!(ps.len(), 1);
        let p = parse_piece(&ps[0]).unwrap();
        assert_eq!(
            (p.is_request, p.last, p.id, p.payload),
            (false, true, 9, &b"{}"[..])
        );
        assert_eq!(reply_pieces(1, b"").len(), 1);
        assert!(parse_piece(&[0x4c, 0x4f, 0, 0, 0]).is_none());
        assert!(parse_piece(&[0x4c, 0x51, 0, 0, 0, 0, 0, 0, 0, 0]).is_none());
    }

    #[test]
    fn reassembly_is_per_peer_and_bounded() {
        let mut r = Reassembler::<u8>::new(10, 2);
        assert_eq!(r.push(&1, 5, b"ab", false), (Assembled::Pending, false));
        assert_eq!(
            r.push(&1, 5, b"cd", true),
            (Assembled::Complete(b"abcd".to_vec()), false)
        );
        // A different id from the same peer discards the unfinished one.
        r.push(&1, 5, b"ab", false);
        assert_eq!(
            r.push(&1, 6, b"cd", true),
            (Assembled::Complete(b"cd".to_vec()), true)
        );
        assert_eq!(r.incomplete(), 0);
        // At most two unfinished: the oldest is dropped.
        r.push(&1, 1, b"a", false);
        r.push(&2, 1, b"b", false);
        r.push(&3, 1, b"c", false);
        assert_eq!(r.incomplete(), 2);
        assert_eq!(
            r.push(&1, 1, b"z", true),
            (Assembled::Complete(b"z".to_vec()), false)
        );
        // Oversize: dropped at once, reported at the last piece.
        r.push(&4, 1, b"0123456", false);
        r.push(&4, 1, b"0123456", false);
        assert_eq!(r.push(&4, 1, b"x", true), (Assembled::Oversize, false));
        assert_eq!(
            r.push(&5, 1, &[b'y'; 11], true),
            (Assembled::Oversize, false)
        );
        r.forget(&2);
        r.forget(&3);
        assert_eq!(r.incomplete(), 0);
    }

    fn refuse(json: &str) -> String {
        parse_request(json.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn server_checks_in_core_lightning_order() {
        let rune = "uNRPyX5AHfGHy3NoyOKuJN6OwkYJ5IOW8IhzU-pSuxw9MA==";
        assert_eq!(refuse("{"), "Invalid JSON");
        assert_eq!(refuse("{} x"), "Invalid JSON");
        assert_eq!(
            parse_request(b"{\"method\":\"\xff\"}").unwrap_err(),
            RequestError::InvalidJson
        );
        assert_eq!(refuse("[1]"), "Not a JSON object");
        assert_eq!(refuse("{\"id\":1}"), "No method");
        assert_eq!(
            refuse("{\"method\":\"a\",\"params\":5}"),
            "Params must be object or array"
        );
        assert_eq!(refuse("{\"method\":\"a\"}"), "missing id field");
        assert_eq!(refuse("{\"method\":\"a\",\"id\":1}"), "Missing rune");
        assert_eq!(
            refuse("{\"method\":\"a\",\"id\":1,\"rune\":\"x\"}"),
            "Invalid rune"
        );
        let ok = parse_request(
            format!(" {{\"rune\":\"{rune}\",\"id\":{{\"a\":[1]}}, \"method\":\"getinfo\"}} ")
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(ok.method, "getinfo");
        assert_eq!(ok.id.get(), "{\"a\":[1]}");
        assert!(ok.params.is_none());
    }

    #[test]
    fn replies_echo_the_id_and_clients_read_them() {
        let id = RawValue::from_string("\"a\\\"b\"".into()).unwrap();
        let res = RawValue::from_string("{\"x\":1}".into()).unwrap();
        let text = reply(&id, Ok(&res));
        assert_eq!(
            String::from_utf8(text.clone()).unwrap(),
            "{\"jsonrpc\":\"2.0\",\"id\":\"a\\\"b\",\"result\":{\"x\":1}}"
        );
        let ReplyOutcome::Result(r) = read_reply(&text).unwrap() else {
            panic!()
        };
        assert_eq!(r.get(), res.get());
        let e = read_reply(br#"{"error":{"code":204,"message":"m","data":{"k":1}}}"#).unwrap();
        let ReplyOutcome::Error {
            code,
            message,
            data,
        } = e
        else {
            panic!()
        };
        assert_eq!(
            (code, message.as_str(), data.unwrap().get()),
            (204, "m", "{\"k\":1}")
        );
        assert_eq!(
            read_reply(b"nope").unwrap_err().to_string(),
            "Reply was unparsable: 'nope'"
        );
        assert_eq!(
            read_reply(br#"{"error":{"code":"x","message":"m"}}"#)
                .unwrap_err()
                .to_string(),
            "Error '{\"code\":\"x\",\"message\":\"m\"}' had no valid code"
        );
        assert_eq!(
            read_reply(br#"{"error":{"code":1}}"#).unwrap_err(),
            ReplyError::NoMessage
        );
        assert_eq!(read_reply(b"{}").unwrap_err(), ReplyError::NoResult);
        assert_eq!(
            String::from_utf8(refusal(19536, "Invalid JSON")).unwrap(),
            "{\"error\":{\"code\":19536,\"message\":\"Invalid JSON\"}}"
        );
    }

    #[test]
    fn client_request_text() {
        assert_eq!(
            request_json("getinfo", "\"x/1\"", "{}", Some("abc"), Some("{\"id\":true}")),
            "{\"method\":\"getinfo\",\"id\":\"x/1\",\"params\":{},\"rune\":\"abc\",\"filter\":{\"id\":true}}"
        );
    }

    #[test]
    fn garbage_pieces_never_panic() {
        let mut r = Reassembler::<u8>::default();
        for len in 0..40usize {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 % 256) as u8).collect();
            if let Some(p) = parse_piece(&junk) {
                if let (Assembled::Complete(j), _) = r.push(&0, p.id, p.payload, p.last) {
                    let _ = parse_request(&j);
                }
            }
            let _ = parse_request(&junk);
            let _ = read_reply(&junk);
        }
    }
}
