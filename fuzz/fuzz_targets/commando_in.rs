//! Commando from a peer: request/reply pieces through the reassembler, then the server's
//! request checks, the rune decoder and `checkrune`'s evaluation with the request's params
//! (the `runes` crate, as the daemon drives it), and the client's reply reader.
//!
//! Input: messages, each a 2-byte big-endian length and that many bytes (a whole custom
//! message, type first; a short tail is one more). Byte 0 of the input picks the peer of
//! each message (bit i: message i comes from peer 1, else peer 0).
//!
//! Properties: nothing panics; a completed request is never larger than the limit and the
//! reassembler never holds more unfinished requests than allowed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runes::commando::{
    parse_piece, parse_request, read_reply, Assembled, Reassembler, MAX_INCOMPLETE,
    MAX_REQUEST_LEN,
};
use runes::{CheckInput, MasterRune, Usage};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, mut rest)) = data.split_first() else {
        return;
    };
    let master = MasterRune::from_seed(&[7u8; 32]);
    let mut r = Reassembler::<u8>::default();
    let mut i = 0u32;
    while !rest.is_empty() {
        let m = match rest.split_first_chunk::<2>() {
            Some((len, tail)) => {
                let n = usize::from(u16::from_be_bytes(*len)).min(tail.len());
                let (m, tail) = tail.split_at(n);
                rest = tail;
                m
            }
            None => std::mem::take(&mut rest),
        };
        let peer = u8::from(i < 8 && sel & (1 << i) != 0);
        i += 1;
        let Some(p) = parse_piece(m) else { continue };
        if !p.is_request {
            let _ = read_reply(p.payload);
            continue;
        }
        let (done, _) = r.push(&peer, p.id, p.payload, p.last);
        assert!(r.incomplete() <= MAX_INCOMPLETE);
        if let Assembled::Complete(json) = done {
            assert!(json.len() <= MAX_REQUEST_LEN);
            if let Ok(req) = parse_request(&json) {
                let params = req.params.as_ref().map(|p| p.get());
                let input = CheckInput {
                    nodeid: Some("02aa"),
                    method: Some(&req.method),
                    params,
                    now_nsec: 1,
                    usage: Usage::Stored { last_used_nsec: Some(0) },
                    blacklisted: false,
                    decode_invoice: None,
                };
                let _ = runes::check(&master, &req.rune, &input);
                let _ = req.rune.to_base64();
                for restriction in req.rune.restrictions() {
                    let _ = restriction.english();
                }
            }
        }
    }
});
