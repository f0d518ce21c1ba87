//! Message handlers come from outside: what the caller plugs in is what LDK calls and what
//! our features advertise. And the timer is the caller's: nothing ticks on its own.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use lightning::ln::msgs::{
    BaseMessageHandler, Init, MessageSendEvent, OnionMessage, OnionMessageHandler,
};
use lightning::types::features::{InitFeatures, NodeFeatures};
use net::{Handlers, PeerConfig, PeerEvent, PeerNode, PublicKey};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// An onion handler that advertises `option_onion_messages` and counts the peers LDK
/// tells it about.
#[derive(Default)]
struct CountingOnion {
    connected: AtomicUsize,
    disconnected: AtomicUsize,
}

impl BaseMessageHandler for CountingOnion {
    fn get_and_clear_pending_msg_events(&self) -> Vec<MessageSendEvent> {
        Vec::new()
    }
    fn peer_disconnected(&self, _id: PublicKey) {
        self.disconnected.fetch_add(1, Ordering::SeqCst);
    }
    fn provided_node_features(&self) -> NodeFeatures {
        let mut f = NodeFeatures::empty();
        f.set_onion_messages_optional();
        f
    }
    fn provided_init_features(&self, _id: PublicKey) -> InitFeatures {
        let mut f = InitFeatures::empty();
        f.set_onion_messages_optional();
        f
    }
    fn peer_connected(&self, _id: PublicKey, _msg: &Init, _inbound: bool) -> Result<(), ()> {
        self.connected.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

impl OnionMessageHandler for CountingOnion {
    fn handle_onion_message(&self, _id: PublicKey, _msg: &OnionMessage) {}
    fn next_onion_message_for_peer(&self, _id: PublicKey) -> Option<OnionMessage> {
        None
    }
    fn timer_tick_occurred(&self) {}
}

/// Bit 39: `option_onion_messages`, optional.
fn has_onion_messages_optional(be: &[u8]) -> bool {
    let bit = 39usize;
    let byte = bit / 8;
    be.len() > byte && be[be.len() - 1 - byte] & (1 << (bit % 8)) != 0
}

#[tokio::test]
async fn an_onion_handler_from_outside_is_called_and_advertised() {
    let onion = Arc::new(CountingOnion::default());
    let handlers = Handlers {
        onion: onion.clone(),
        ..Handlers::without_channels()
    };
    let cfg = PeerConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        auto_accept: true,
        ..PeerConfig::default()
    };
    let keys = keys::Keys::from_secret(seed(61));
    let (b, mut be) = PeerNode::start(cfg, keys.manager(), handlers)
        .await
        .unwrap();
    assert!(has_onion_messages_optional(&b.our_features().init));
    assert!(has_onion_messages_optional(&b.our_features().node));
    assert!(!has_onion_messages_optional(&net::base_features().init));

    let (a, mut ae) = node(60).await;
    link(&a, &mut ae, &b, &mut be).await;
    assert_eq!(onion.connected.load(Ordering::SeqCst), 1);
    // a sees the bit in b's init.
    let seen = a.peer(&b.node_id()).unwrap().features;
    assert!(has_onion_messages_optional(&seen), "{}", hex::encode(&seen));

    a.disconnect(&b.node_id());
    until(&mut be, 5, "b sees a go", |e| {
        matches!(e, PeerEvent::Disconnected { .. })
    })
    .await;
    assert_eq!(onion.disconnected.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_default_handlers_advertise_what_a_node_without_channels_did() {
    let (a, _ae) = node(62).await;
    let ours = a.our_features();
    let base = net::base_features();
    assert_eq!(ours.init, base.init);
    assert_eq!(ours.node, base.node);
    assert!(!ours.init.is_empty());
}

#[tokio::test]
async fn nothing_is_reaped_until_the_caller_ticks() {
    let (b, _be) = node(63).await;
    let mut s = TcpStream::connect(addr(&b)).await.unwrap();
    s.write_all(&[0x00u8; 20]).await.unwrap();
    // No driver: the half handshake stays (the old built-in timer is gone).
    assert!(!closed_within(&mut s, 1).await);
    // Two ticks end it.
    b.timer_tick_occurred();
    b.timer_tick_occurred();
    assert!(closed_within(&mut s, 5).await);
}
