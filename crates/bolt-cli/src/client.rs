//! Talking to the daemon over its unix socket, blocking: write a request, read messages
//! with the shared incremental splitter (`jsonrpc::JsonCodec`, so `\n\n` is not needed and
//! a reply split across reads is fine), printing notifications until the reply arrives.

use crate::notify::Printer;
use crate::CliError;
use bytes::BytesMut;
use jsonrpc::{FrameError, JsonCodec};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use tokio_util::codec::Decoder;

/// A reply can be large (`listconfigs`, `help`); the limit only guards against a runaway
/// stream.
const MAX_REPLY: usize = 1 << 30;

pub struct Connection {
    stream: UnixStream,
    buf: BytesMut,
    codec: JsonCodec,
}

/// One message read back: a notification, or anything else (the caller checks it).
pub enum Message {
    Notification { method: String, params: Value },
    Other { value: Value, text: String },
}

impl Connection {
    /// Connects to `file` relative to the current directory (the caller chdir'ed).
    pub fn connect(file: &str) -> Result<Self, CliError> {
        let stream = UnixStream::connect(file).map_err(|e| {
            CliError::Talk(format!("Connecting to '{file}': {}", jsonrpc::strerror(&e)))
        })?;
        Ok(Connection {
            stream,
            buf: BytesMut::with_capacity(64 * 1024),
            codec: JsonCodec::new(MAX_REPLY),
        })
    }

    pub fn send(&mut self, bytes: &[u8], what: &str) -> Result<(), CliError> {
        self.stream
            .write_all(bytes)
            .map_err(|e| CliError::Talk(format!("{what}: {}", jsonrpc::strerror(&e))))
    }

    /// Reads the next complete top-level JSON value.
    pub fn next_message(&mut self) -> Result<Message, CliError> {
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(frame)) => return classify(&frame),
                Ok(None) => {}
                Err(FrameError::NotJson(_)) | Err(FrameError::TooLarge { .. }) => {
                    return Err(CliError::Talk(format!(
                        "Malformed response '{}'",
                        String::from_utf8_lossy(&self.buf)
                    )))
                }
                Err(FrameError::Io(e)) => {
                    return Err(CliError::Talk(format!("reading response: {e}")))
                }
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(CliError::Talk(
                        "reading response: socket closed".to_string(),
                    ))
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(CliError::Talk(format!(
                        "reading response: {}",
                        jsonrpc::strerror(&e)
                    )))
                }
            }
        }
    }

    /// Reads until a message that is not a notification, printing notifications.
    pub fn reply(&mut self, printer: &mut Printer) -> Result<(Value, String), CliError> {
        loop {
            match self.next_message()? {
                Message::Notification { method, params } => printer.print(&method, &params),
                Message::Other { value, text } => return Ok((value, text)),
            }
        }
    }
}

/// A notification is an object with `method` and `params` and no `id`.
fn classify(frame: &[u8]) -> Result<Message, CliError> {
    let text = String::from_utf8_lossy(frame).into_owned();
    let value: Value = serde_json::from_str(&text)
        .map_err(|_| CliError::Talk(format!("Malformed response '{text}'")))?;
    if let Value::Object(map) = &value {
        if !map.contains_key("id") {
            if let (Some(Value::String(m)), Some(p)) = (map.get("method"), map.get("params")) {
                return Ok(Message::Notification {
                    method: m.clone(),
                    params: p.clone(),
                });
            }
        }
    }
    Ok(Message::Other { value, text })
}
