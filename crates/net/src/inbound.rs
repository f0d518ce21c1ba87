//! The inbound custom-message path without sockets: decrypted message bytes go through our
//! `CustomMessageReader` and `CustomMessageHandler` exactly the way LDK's `PeerManager` calls
//! them (a `&[u8]` reader over the message after its 2-byte type). The fuzz target
//! `custommsg_in` drives this; nothing in the daemon uses it.

use std::sync::Arc;

use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use lightning::ln::peer_handler::CustomMessageHandler;
use lightning::ln::wire::CustomMessageReader;
use lightning::types::features::InitFeatures;
use tokio::sync::mpsc;

use crate::custom::{CustomHandler, PeerState, RawEvent, Shared};
use crate::wire::RawMessage;

/// What the handlers did with one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// Shorter than the 2-byte type: LDK drops the peer before asking us.
    TooShort,
    /// Our reader refused the body (LDK then drops the peer).
    Unreadable,
    /// Handed to the daemon as this message.
    Delivered(RawMessage),
    /// An even type nobody accepts: a warning was queued and the peer marked rejected.
    Rejected,
    /// Ignored (the peer was already rejected).
    Ignored,
}

/// Feeds `msgs` (each a whole decrypted message, type first) from one connected peer, in
/// order, with `allowed_even` as the even types plugins declared.
pub fn replay(msgs: &[&[u8]], allowed_even: &[u16]) -> Vec<Inbound> {
    let secp = Secp256k1::signing_only();
    let Ok(sk) = SecretKey::from_slice(&[0x11; 32]) else {
        return Vec::new();
    };
    let peer = PublicKey::from_secret_key(&secp, &sk);
    let shared = Arc::new(Shared::default());
    if let Ok(mut a) = shared.allowed_even.write() {
        a.extend(allowed_even.iter().copied());
    }
    if let Ok(mut c) = shared.connected.lock() {
        c.insert(
            peer,
            PeerState {
                inbound: true,
                features: InitFeatures::empty(),
                active: true,
                rejected: false,
            },
        );
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handler = CustomHandler {
        shared: shared.clone(),
        events: tx,
        auto_accept: true,
    };
    let mut out = Vec::with_capacity(msgs.len());
    for bytes in msgs {
        let Some((ty, mut body)) = bytes.split_first_chunk::<2>() else {
            out.push(Inbound::TooShort);
            continue;
        };
        let msg = match handler.read(u16::from_be_bytes(*ty), &mut body) {
            Ok(Some(m)) => m,
            _ => {
                out.push(Inbound::Unreadable);
                continue;
            }
        };
        let _ = handler.handle_custom_message(msg, peer);
        let warned = shared
            .warnings
            .lock()
            .map(|mut w| !std::mem::take(&mut *w).is_empty())
            .unwrap_or(false);
        out.push(match rx.try_recv() {
            Ok(RawEvent::Custom { msg, .. }) => Inbound::Delivered(msg),
            _ if warned => Inbound::Rejected,
            _ => Inbound::Ignored,
        });
    }
    out
}
