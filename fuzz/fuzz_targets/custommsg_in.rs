//! Custom messages from a peer, through our `CustomMessageReader` and `CustomMessageHandler`
//! as LDK's `PeerManager` calls them (`net::inbound::replay`).
//!
//! Input: byte 0 picks the even types plugins accept (bit 0: 0x8000, bit 1: 0xfffe, bit 2:
//! 18, bit 3: the first message's type); then messages, each a 2-byte big-endian length and
//! that many bytes (the decrypted BOLT 8 message, type first; a short tail is one more).
//!
//! Properties: nothing panics; the reader never refuses a body; odd and accepted even types
//! reach the daemon byte for byte; the first unaccepted even type queues a warning and every
//! later message from that peer is ignored (BOLT 1).
#![no_main]

use libfuzzer_sys::fuzz_target;
use net::inbound::{replay, Inbound};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, mut rest)) = data.split_first() else {
        return;
    };
    let mut msgs: Vec<&[u8]> = Vec::new();
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            msgs.push(rest);
            break;
        };
        let n = usize::from(u16::from_be_bytes(*len)).min(tail.len());
        let (m, tail) = tail.split_at(n);
        msgs.push(m);
        rest = tail;
    }
    let mut allowed = Vec::new();
    if sel & 1 != 0 {
        allowed.push(0x8000);
    }
    if sel & 2 != 0 {
        allowed.push(0xfffe);
    }
    if sel & 4 != 0 {
        allowed.push(18);
    }
    if sel & 8 != 0 {
        if let Some(t) = msgs.first().and_then(|m| m.first_chunk::<2>()) {
            allowed.push(u16::from_be_bytes(*t));
        }
    }
    let out = replay(&msgs, &allowed);
    assert_eq!(out.len(), msgs.len());
    let mut rejected = false;
    for (m, o) in msgs.iter().zip(&out) {
        let Some(t) = m.first_chunk::<2>() else {
            assert_eq!(o, &Inbound::TooShort);
            continue;
        };
        let ty = u16::from_be_bytes(*t);
        if rejected {
            assert_eq!(o, &Inbound::Ignored, "type {ty} after a rejection");
            continue;
        }
        if ty & 1 == 1 || allowed.contains(&ty) {
            match o {
                Inbound::Delivered(raw) => {
                    assert_eq!(raw.msg_type, ty);
                    assert_eq!(raw.to_wire(), *m);
                }
                other => panic!("type {ty} should be delivered, got {other:?}"),
            }
        } else {
            assert_eq!(o, &Inbound::Rejected, "even type {ty} not accepted");
            rejected = true;
        }
    }
});
