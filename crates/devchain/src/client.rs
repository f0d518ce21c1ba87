//! A blocking JSON-RPC client for devchain (and bitcoind): one kept-alive HTTP/1.1
//! connection, Basic auth. Used by the `cli` subcommand, the benchmark and tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use bitcoin::base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};

/// Client failures.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Could not connect or the connection broke.
    #[error("Could not connect to the server {0}")]
    Connect(String),
    /// The server answered something that is not JSON-RPC.
    #[error("bad reply: {0}")]
    Protocol(String),
    /// HTTP 401.
    #[error("Authorization failed: Incorrect rpcuser or rpcpassword")]
    Unauthorized,
    /// A JSON-RPC error object.
    #[error("error code: {code}\nerror message:\n{message}")]
    Rpc {
        /// bitcoind's code.
        code: i64,
        /// bitcoind's text.
        message: String,
    },
}

/// A connection to one server.
#[derive(Debug)]
pub struct Client {
    addr: SocketAddr,
    auth: String,
    conn: Option<BufReader<TcpStream>>,
    next_id: u64,
    timeout: Duration,
}

impl Client {
    /// A client for `addr` with `user`/`password`.
    pub fn new(addr: SocketAddr, user: &str, password: &str) -> Client {
        Client {
            addr,
            auth: STANDARD.encode(format!("{user}:{password}")),
            conn: None,
            next_id: 0,
            timeout: Duration::from_secs(900),
        }
    }

    /// A client using the cookie file `path` (`__cookie__:<hex>`).
    pub fn with_cookie(addr: SocketAddr, path: &Path) -> Result<Client, ClientError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ClientError::Connect(format!("{addr} (cookie {}: {e})", path.display()))
        })?;
        let (user, pass) = text
            .trim()
            .split_once(':')
            .ok_or_else(|| ClientError::Protocol("bad cookie".into()))?;
        Ok(Client::new(addr, user, pass))
    }

    /// Sets the read timeout (`-rpcclienttimeout`).
    pub fn set_timeout(&mut self, t: Duration) {
        self.timeout = t;
    }

    /// Calls `method`; a JSON-RPC error becomes [`ClientError::Rpc`].
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        self.next_id += 1;
        let body =
            json!({"jsonrpc": "1.0", "id": self.next_id, "method": method, "params": params});
        let reply = self.post(body.to_string().as_bytes())?;
        let v: Value =
            serde_json::from_slice(&reply).map_err(|e| ClientError::Protocol(e.to_string()))?;
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            return Err(ClientError::Rpc {
                code: err.get("code").and_then(Value::as_i64).unwrap_or(-1),
                message: err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            });
        }
        Ok(v.get("result").cloned().unwrap_or(Value::Null))
    }

    /// Posts a raw body and returns the raw reply body (any HTTP status but 401).
    pub fn post(&mut self, body: &[u8]) -> Result<Vec<u8>, ClientError> {
        // A kept-alive connection may have been closed by the server: retry once on a fresh one.
        match self.post_once(body) {
            Ok(r) => Ok(r),
            Err(ClientError::Connect(_)) if self.conn.is_none() => self.post_once(body),
            Err(e) => Err(e),
        }
    }

    fn post_once(&mut self, body: &[u8]) -> Result<Vec<u8>, ClientError> {
        let addr = self.addr;
        let broken = |e: std::io::Error| ClientError::Connect(format!("{addr} ({e})"));
        let fresh = self.conn.is_none();
        if fresh {
            let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(broken)?;
            let _ = s.set_nodelay(true);
            self.conn = Some(BufReader::new(s));
        }
        let conn = self.conn.as_mut().expect("set above");
        conn.get_ref()
            .set_read_timeout(Some(self.timeout))
            .map_err(broken)?;
        let head = format!(
            "POST / HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n",
            self.auth,
            body.len()
        );
        let result = (|| -> Result<Vec<u8>, ClientError> {
            let stream = conn.get_mut();
            stream.write_all(head.as_bytes()).map_err(broken)?;
            stream.write_all(body).map_err(broken)?;
            let mut status = String::new();
            if conn.read_line(&mut status).map_err(broken)? == 0 {
                return Err(ClientError::Connect(format!("{addr} (closed)")));
            }
            let code: u16 = status
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let mut length = 0usize;
            let mut close = false;
            loop {
                let mut h = String::new();
                if conn.read_line(&mut h).map_err(broken)? == 0 {
                    break;
                }
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    match k.trim().to_ascii_lowercase().as_str() {
                        "content-length" => length = v.trim().parse().unwrap_or(0),
                        "connection" => close = v.trim().eq_ignore_ascii_case("close"),
                        _ => {}
                    }
                }
            }
            let mut reply = vec![0u8; length];
            conn.read_exact(&mut reply).map_err(broken)?;
            if close {
                return Err(ClientError::Protocol(format!(
                    "closed:{code}:{}",
                    String::from_utf8_lossy(&reply)
                )));
            }
            if code == 401 {
                return Err(ClientError::Unauthorized);
            }
            Ok(reply)
        })();
        match result {
            Ok(r) => Ok(r),
            Err(ClientError::Protocol(p)) if p.starts_with("closed:") => {
                self.conn = None;
                let mut parts = p.splitn(3, ':');
                let _ = parts.next();
                let code: u16 = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
                if code == 401 {
                    return Err(ClientError::Unauthorized);
                }
                Ok(parts.next().unwrap_or("").as_bytes().to_vec())
            }
            Err(e) => {
                self.conn = None;
                if fresh {
                    Err(e)
                } else {
                    Err(ClientError::Connect(format!("{addr} (stale)")))
                }
            }
        }
    }
}
