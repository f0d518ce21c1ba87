//! The JSON stream codec, fed the same bytes in fuzzer-chosen chunks.
//!
//! Input layout: byte 0 is a control byte (low 4 bits: how many chunk-size bytes follow;
//! bit 4: use a 64-byte message limit instead of the default), then the chunk sizes (each
//! byte + 1, used in a cycle), then the stream itself.
//!
//! Properties: the frames (and whether the stream ends in an error, and which kind) do not
//! depend on how the stream was chunked; every frame starts with `{` or `[`; frames are
//! handed to `parse_incoming` / `parse_request` (must not panic); a frame that is valid JSON
//! re-encodes with `jsonrpc::frame` into text the codec splits back into that value (floats
//! aside: see `has_float`).
#![no_main]

use bytes::BytesMut;
use jsonrpc::{FrameError, JsonCodec};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

#[derive(Debug, PartialEq)]
enum End {
    Eof,
    NotJson,
    TooLarge,
}

/// What a `FramedRead` would yield: decode after every read until it asks for more,
/// `decode_eof` at the end.
fn run(stream: &[u8], chunks: &[usize], max: usize) -> (Vec<Vec<u8>>, End) {
    let mut codec = JsonCodec::new(max);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = stream;
    let mut sizes = chunks.iter().cycle();
    let fail = |e: FrameError| match e {
        FrameError::NotJson(_) => End::NotJson,
        FrameError::TooLarge { .. } => End::TooLarge,
        FrameError::Io(_) => unreachable!("no I/O here"),
    };
    while !rest.is_empty() {
        let n = sizes.next().copied().unwrap_or(rest.len()).min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(f)) => frames.push(f.to_vec()),
                Ok(None) => break,
                Err(e) => return (frames, fail(e)),
            }
        }
    }
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(f)) => frames.push(f.to_vec()),
            Ok(None) => return (frames, End::Eof),
            Err(e) => return (frames, fail(e)),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(ctl & 0x0f).min(rest.len());
    let (sizes, stream) = rest.split_at(n);
    let chunks: Vec<usize> = sizes.iter().map(|&b| usize::from(b) + 1).collect();
    let max = if ctl & 0x10 != 0 {
        64
    } else {
        jsonrpc::DEFAULT_MAX_MESSAGE
    };

    let whole = run(stream, &[], max);
    let chunked = run(stream, &chunks, max);
    let bytewise = run(stream, &[1], max);
    assert_eq!(whole, chunked, "chunking {chunks:?} changed the frames");
    assert_eq!(whole, bytewise, "byte-at-a-time changed the frames");

    for f in &whole.0 {
        assert!(matches!(f.first(), Some(b'{') | Some(b'[')), "frame {f:?}");
        assert!(
            f.len() <= max,
            "frame of {} bytes passed a {max}-byte limit",
            f.len()
        );
        let _ = jsonrpc::parse_incoming(f);
        if let Err(e) = jsonrpc::parse_request(f) {
            let (reply, _) = jsonrpc::request_error_frame(&e);
            serde_json::from_slice::<serde_json::Value>(&reply).expect("error reply is JSON");
        }
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(f) {
            let out = jsonrpc::frame(&v);
            assert!(out.ends_with(b"\n\n"));
            let (again, end) = run(&out, &[], usize::MAX);
            assert_eq!(end, End::Eof);
            assert_eq!(again.len(), 1, "re-encoded value split into {again:?}");
            let back: serde_json::Value = serde_json::from_slice(&again[0]).expect("re-parse");
            // serde_json (without its `float_roundtrip` feature) may parse a float one ulp
            // off, so re-parsed floats can differ in the last digit: compare the rest.
            if !has_float(&v) {
                assert_eq!(back, v);
            }
        }
    }
});

fn has_float(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Number(n) => n.is_f64(),
        serde_json::Value::Array(a) => a.iter().any(has_float),
        serde_json::Value::Object(o) => o.values().any(has_float),
        _ => false,
    }
}
