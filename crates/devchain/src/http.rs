//! A small HTTP/1.1 server for JSON-RPC, the way bitcoind's libevent server behaves: POST
//! only, HTTP Basic auth (401 with `WWW-Authenticate` otherwise), keep-alive, bodies by
//! `Content-Length`, JSON-RPC 1.0 (legacy) and 2.0 replies, batches.

use std::sync::Arc;
use std::time::Duration;

use bitcoin::base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::rpc::{self, code, RpcError, Shared};

/// Largest request head (request line and headers).
const MAX_HEAD: u64 = 16 * 1024;
/// Largest body (bitcoind's `MAX_SIZE`: a block in hex fits).
const MAX_BODY: usize = 32 * 1024 * 1024;
/// An idle keep-alive connection is closed after this (`-rpcservertimeout` default).
const IDLE: Duration = Duration::from_secs(30);

/// Who may call: the cookie's or the configured user and password.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// User name (`__cookie__` for cookie auth).
    pub user: String,
    /// Password.
    pub password: String,
}

struct Request {
    method: String,
    keep_alive: bool,
    authorization: Option<String>,
    body: Vec<u8>,
}

enum ReadError {
    /// The peer closed or went idle: just close.
    Closed,
    /// Malformed: answer 400 and close.
    Bad(&'static str),
}

/// Reads one request (the caller bounds the whole read by [`IDLE`], so a slow or silent
/// client cannot hold a connection slot). `Expect: 100-continue` is answered before the body.
async fn read_request(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
) -> Result<Request, ReadError> {
    let mut head = (&mut *reader).take(MAX_HEAD);
    let mut line = String::new();
    match head.read_line(&mut line).await {
        Ok(0) | Err(_) => return Err(ReadError::Closed),
        Ok(_) => {}
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let _path = parts.next().ok_or(ReadError::Bad("bad request line"))?;
    let version = parts.next().unwrap_or("HTTP/1.0");
    let mut keep_alive = version == "HTTP/1.1";
    let mut expect_continue = false;
    let mut authorization = None;
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        match head.read_line(&mut h).await {
            Ok(0) | Err(_) => return Err(ReadError::Bad("truncated head")),
            Ok(_) => {}
        }
        if !h.ends_with('\n') {
            return Err(ReadError::Bad("head too large"));
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let Some((name, value)) = h.split_once(':') else {
            return Err(ReadError::Bad("bad header"));
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                length = value
                    .parse()
                    .map_err(|_| ReadError::Bad("bad content-length"))?
            }
            "authorization" => authorization = Some(value.to_string()),
            "connection" => {
                let v = value.to_ascii_lowercase();
                if v.contains("close") {
                    keep_alive = false;
                } else if v.contains("keep-alive") {
                    keep_alive = true;
                }
            }
            "transfer-encoding" => return Err(ReadError::Bad("chunked bodies are not supported")),
            "expect" if value.eq_ignore_ascii_case("100-continue") => expect_continue = true,
            _ => {}
        }
    }
    if length > MAX_BODY {
        return Err(ReadError::Bad("body too large"));
    }
    if expect_continue {
        writer
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .map_err(|_| ReadError::Closed)?;
    }
    let mut body = vec![0u8; length];
    reader
        .read_exact(&mut body)
        .await
        .map_err(|_| ReadError::Closed)?;
    Ok(Request {
        method,
        keep_alive,
        authorization,
        body,
    })
}

fn authorized(header: Option<&str>, creds: &Credentials) -> bool {
    let Some(b64) = header.and_then(|h| h.strip_prefix("Basic ")) else {
        return false;
    };
    let Ok(raw) = STANDARD.decode(b64.trim()) else {
        return false;
    };
    let expected = format!("{}:{}", creds.user, creds.password);
    // Length first, then every byte: no early exit on the first difference.
    raw.len() == expected.len()
        && raw
            .iter()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Serves one connection until it closes.
pub async fn serve(stream: TcpStream, shared: Arc<Shared>, creds: Arc<Credentials>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let req = match tokio::time::timeout(IDLE, read_request(&mut reader, &mut write)).await {
            Ok(Ok(r)) => r,
            Err(_) | Ok(Err(ReadError::Closed)) => return,
            Ok(Err(ReadError::Bad(why))) => {
                let _ = respond(&mut write, 400, why.as_bytes(), "text/plain", false).await;
                return;
            }
        };
        if !authorized(req.authorization.as_deref(), &creds) {
            tracing::warn!("ThreadRPCServer incorrect password attempt");
            // bitcoind slows password guessing down the same way.
            tokio::time::sleep(Duration::from_millis(250)).await;
            let _ = respond_401(&mut write).await;
            return;
        }
        if req.method != "POST" {
            let _ = respond(
                &mut write,
                405,
                b"JSONRPC server handles only POST requests",
                "text/html",
                req.keep_alive,
            )
            .await;
            if !req.keep_alive {
                return;
            }
            continue;
        }
        let sh = shared.clone();
        let body = req.body;
        let (status, reply) = tokio::task::spawn_blocking(move || handle_body(&sh, &body))
            .await
            .unwrap_or_else(|_| {
                (
                    500,
                    Some(legacy_error(
                        Value::Null,
                        &RpcError::new(code::MISC, "internal error"),
                    )),
                )
            });
        let bytes = reply
            .map(|v| format!("{}\n", crate::json::to_wire(&v)).into_bytes())
            .unwrap_or_default();
        if respond(
            &mut write,
            status,
            &bytes,
            "application/json",
            req.keep_alive,
        )
        .await
        .is_err()
            || !req.keep_alive
        {
            return;
        }
    }
}

async fn respond_401(w: &mut tokio::net::tcp::OwnedWriteHalf) -> std::io::Result<()> {
    let head = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"jsonrpc\"\r\nContent-Type: text/html; charset=ISO-8859-1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    w.write_all(head.as_bytes()).await?;
    w.flush().await
}

async fn respond(
    w: &mut tokio::net::tcp::OwnedWriteHalf,
    status: u16,
    body: &[u8],
    content_type: &str,
    keep_alive: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Internal Server Error",
    };
    let conn = if keep_alive { "keep-alive" } else { "close" };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {conn}\r\n\r\n",
        body.len()
    );
    w.write_all(head.as_bytes()).await?;
    w.write_all(body).await?;
    w.flush().await
}

fn legacy_error(id: Value, e: &RpcError) -> Value {
    json!({"result": null, "error": e.to_json(), "id": id})
}

/// One request object: the reply (or `None` for a JSON-RPC 2.0 notification) and the HTTP
/// status a lone legacy request gets.
fn handle_one(shared: &Shared, req: &Value) -> (u16, Option<Value>) {
    let Some(obj) = req.as_object() else {
        let e = RpcError::new(code::INVALID_REQUEST, "Invalid Request object");
        return (400, Some(legacy_error(Value::Null, &e)));
    };
    let id = obj.get("id").cloned().unwrap_or(Value::Null);
    let v2 = obj.get("jsonrpc").and_then(Value::as_str) == Some("2.0");
    let result = match obj.get("method") {
        Some(Value::String(m)) => {
            tracing::debug!("ThreadRPCServer method={m}");
            rpc::dispatch(shared, m, obj.get("params"))
        }
        None => Err(RpcError::new(code::INVALID_REQUEST, "Missing method")),
        Some(_) => Err(RpcError::new(
            code::INVALID_REQUEST,
            "Method must be a string",
        )),
    };
    if v2 {
        if !obj.contains_key("id") {
            return (204, None);
        }
        let reply = match result {
            Ok(r) => json!({"jsonrpc": "2.0", "result": r, "id": id}),
            Err(e) => json!({"jsonrpc": "2.0", "error": e.to_json(), "id": id}),
        };
        return (200, Some(reply));
    }
    match result {
        Ok(r) => (200, Some(json!({"result": r, "error": null, "id": id}))),
        Err(e) => {
            let status = match e.code {
                code::INVALID_REQUEST => 400,
                code::METHOD_NOT_FOUND => 404,
                _ => 500,
            };
            (status, Some(legacy_error(id, &e)))
        }
    }
}

/// A whole body: one request or a batch.
pub fn handle_body(shared: &Shared, body: &[u8]) -> (u16, Option<Value>) {
    let parsed: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            return (
                500,
                Some(legacy_error(
                    Value::Null,
                    &RpcError::new(code::PARSE_ERROR, "Parse error"),
                )),
            );
        }
    };
    match parsed {
        Value::Array(batch) => {
            let replies: Vec<Value> = batch
                .iter()
                .filter_map(|r| handle_one(shared, r).1)
                .collect();
            (200, Some(Value::Array(replies)))
        }
        Value::Object(_) => handle_one(shared, &parsed),
        _ => (
            400,
            Some(legacy_error(
                Value::Null,
                &RpcError::new(code::PARSE_ERROR, "Top-level object parse error"),
            )),
        ),
    }
}
