//! Stream framing for JSON-RPC over pipes and sockets, the way Core Lightning frames it.
//!
//! Inbound: a stream of concatenated top-level JSON values, with or without whitespace
//! between them (pyln-client's `LightningRpc` sends no terminator, cln-rpc and plugins send
//! `\n\n`). The splitter below tracks nesting and string state across reads, so every
//! byte is looked at once however the stream is chunked, and a message larger than the
//! limit is refused before it is buffered whole.
//!
//! Outbound: one compact JSON object followed by exactly `\n\n`. Compact serde_json output
//! never contains a raw newline, so no `\n\n` can appear inside a message.

use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Default limit on one inbound message (16 MiB), the daemon's `--rpc-max-request` default.
pub const DEFAULT_MAX_MESSAGE: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The buffered text cannot start a JSON object or array. Carries (a bounded prefix of)
    /// the offending text for the log/error line.
    #[error("Failed to parse RPC JSON response '{0}'")]
    NotJson(String),
    /// One message grew past the configured limit.
    #[error("Message exceeds maximum size of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Longest excerpt of bad input we quote back in errors and logs.
const EXCERPT: usize = 512;

pub(crate) fn excerpt(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(EXCERPT)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if bytes.len() > EXCERPT {
        s.push_str("...");
    }
    s
}

/// Incremental splitter: finds where one top-level JSON object or array ends.
#[derive(Debug, Clone)]
pub struct JsonCodec {
    /// Bytes of the current message already scanned (relative to the start of the buffer
    /// after leading whitespace was dropped).
    scanned: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
    max: usize,
}

impl Default for JsonCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_MESSAGE)
    }
}

impl JsonCodec {
    pub fn new(max: usize) -> Self {
        JsonCodec {
            scanned: 0,
            depth: 0,
            in_string: false,
            escaped: false,
            max,
        }
    }

    pub fn max_message(&self) -> usize {
        self.max
    }

    fn reset(&mut self) {
        self.scanned = 0;
        self.depth = 0;
        self.in_string = false;
        self.escaped = false;
    }
}

impl Decoder for JsonCodec {
    /// The exact bytes of one complete top-level JSON value (not yet validated: the caller
    /// parses it with serde_json, which is strict about syntax and UTF-8).
    type Item = BytesMut;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        if self.scanned == 0 {
            let ws = src
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
                .count();
            src.advance(ws);
            match src.first() {
                None => return Ok(None),
                Some(b'{') | Some(b'[') => {}
                Some(_) => return Err(FrameError::NotJson(excerpt(src))),
            }
        }
        let mut i = self.scanned;
        while i < src.len() {
            if self.in_string && !self.escaped {
                // Skip a string's plain bytes in one tight search: most of a message is
                // inside strings, and the byte-at-a-time state machine below cost more
                // per byte than parsing the message later.
                let rest = src.get(i..).unwrap_or_default();
                match rest.iter().position(|b| *b == b'"' || *b == b'\\') {
                    Some(n) => i += n,
                    None => {
                        i = src.len();
                        break;
                    }
                }
            }
            let b = src[i];
            i += 1;
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    // Mismatched brackets are left for serde_json to reject; we only need
                    // to know where the outermost value ends.
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        // The limit holds however the bytes were chunked: a message that
                        // arrived whole in one read is measured too.
                        if i > self.max {
                            return Err(FrameError::TooLarge { limit: self.max });
                        }
                        self.reset();
                        return Ok(Some(src.split_to(i)));
                    }
                }
                _ => {}
            }
        }
        self.scanned = i;
        if src.len() > self.max {
            return Err(FrameError::TooLarge { limit: self.max });
        }
        // Reserve modestly: a huge declared size must not be allocated up front.
        src.reserve(4096);
        Ok(None)
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        match self.decode(buf)? {
            Some(frame) => Ok(Some(frame)),
            None => {
                // Trailing whitespace at EOF is fine; a truncated message is simply dropped
                // (the peer hung up half way), which the caller sees as end of stream.
                buf.clear();
                self.reset();
                Ok(None)
            }
        }
    }
}

/// Encodes already-serialized compact JSON, appending the `\n\n` terminator.
impl Encoder<Vec<u8>> for JsonCodec {
    type Error = FrameError;
    fn encode(&mut self, item: Vec<u8>, dst: &mut BytesMut) -> Result<(), FrameError> {
        dst.reserve(item.len() + 2);
        dst.put_slice(&item);
        dst.put_slice(b"\n\n");
        Ok(())
    }
}

impl Encoder<&serde_json::Value> for JsonCodec {
    type Error = FrameError;
    fn encode(&mut self, item: &serde_json::Value, dst: &mut BytesMut) -> Result<(), FrameError> {
        let bytes = serde_json::to_vec(item).map_err(|e| FrameError::Io(e.into()))?;
        self.encode(bytes, dst)
    }
}

/// Serializes a value as one outbound frame (compact JSON + `\n\n`).
pub fn frame<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Serializing our own in-memory values cannot fail (no non-string map keys are used).
    let mut out = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    out.extend_from_slice(b"\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(chunks: &[&[u8]], codec: &mut JsonCodec) -> Result<Vec<String>, FrameError> {
        let mut buf = BytesMut::new();
        let mut out = vec![];
        for c in chunks {
            buf.extend_from_slice(c);
            while let Some(m) = codec.decode(&mut buf)? {
                out.push(String::from_utf8(m.to_vec()).unwrap());
            }
        }
        Ok(out)
    }

    #[test]
    fn concatenated_without_delimiters() {
        let mut c = JsonCodec::default();
        let msgs = split_all(&[br#"{"a":1}{"b":"}"}  [1,2]"#], &mut c).unwrap();
        assert_eq!(msgs, vec![r#"{"a":1}"#, r#"{"b":"}"}"#, "[1,2]"]);
    }

    #[test]
    fn byte_at_a_time_with_escapes() {
        let text = br#"{"s":"a\"}{\\"}

{"t":[{"x":"]"}]}"#;
        let chunks: Vec<&[u8]> = text.chunks(1).collect();
        let mut c = JsonCodec::default();
        let msgs = split_all(&chunks, &mut c).unwrap();
        assert_eq!(msgs, vec![r#"{"s":"a\"}{\\"}"#, r#"{"t":[{"x":"]"}]}"#]);
    }

    /// Wherever the bytes are cut (inside a string, right after a backslash, between
    /// escapes), the same messages come out.
    #[test]
    fn any_split_point_gives_the_same_messages() {
        let text =
            br#"{"s":"a\"}{\\","long":"plain text with ] and } inside","e":"\\\""}[{"x":"]\\"}]"#;
        let want = vec![
            r#"{"s":"a\"}{\\","long":"plain text with ] and } inside","e":"\\\""}"#,
            r#"[{"x":"]\\"}]"#,
        ];
        for cut in 0..=text.len() {
            let (a, b) = text.split_at(cut);
            let mut c = JsonCodec::default();
            assert_eq!(split_all(&[a, b], &mut c).unwrap(), want, "cut at {cut}");
        }
    }

    #[test]
    fn garbage_is_refused() {
        let mut c = JsonCodec::default();
        let err = split_all(&[b"hello {}"], &mut c).unwrap_err();
        assert!(matches!(err, FrameError::NotJson(ref s) if s == "hello {}"));
    }

    #[test]
    fn oversize_is_refused_before_completion() {
        let mut c = JsonCodec::new(100);
        let mut big = b"{\"a\":\"".to_vec();
        big.extend(std::iter::repeat_n(b'x', 200));
        assert!(matches!(
            split_all(&[&big], &mut c),
            Err(FrameError::TooLarge { limit: 100 })
        ));
    }

    /// Found by the `jsonrpc_codec` fuzz target: a message over the limit slipped through
    /// when it arrived complete in one read, and was refused when it came in pieces.
    #[test]
    fn oversize_is_refused_even_when_it_arrives_whole() {
        let msg = br#"{"jsonrpc":"2.0","id":7,"method":"x","params":{"long":"0123456789"}}"#;
        let whole = split_all(&[msg], &mut JsonCodec::new(32));
        assert!(matches!(whole, Err(FrameError::TooLarge { limit: 32 })));
        // Exactly the limit is still fine.
        let fits = split_all(&[msg], &mut JsonCodec::new(msg.len())).unwrap();
        assert_eq!(fits.len(), 1);
    }

    #[test]
    fn frame_ends_with_double_newline() {
        let f = frame(&serde_json::json!({"a":"x\n\ny"}));
        assert!(f.ends_with(b"\n\n"));
        assert_eq!(f.windows(2).filter(|w| w == b"\n\n").count(), 1);
    }
}
