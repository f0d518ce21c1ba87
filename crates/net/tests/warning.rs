//! Disconnect-with-warning: the other side must actually receive the BOLT 1 warning text.
//! Its own test binary because it installs a global log capture to see what LDK received.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use net::PeerEvent;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn rejected_peer_receives_the_warning_text_then_is_dropped() {
    let cap = Capture::default();
    let writer = cap.clone();
    tracing_subscriber::fmt()
        .with_env_filter("net=debug")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let (a, mut ae) = node(40).await;
    let (b, mut be) = node_with(41, |c| c.auto_accept = false).await;
    a.connect(b.node_id(), addr(&b)).await.unwrap();
    until(&mut be, 5, "b sees a", |e| {
        matches!(e, PeerEvent::Connected { .. })
    })
    .await;
    // The daemon's peer_connected chain said disconnect with a message.
    assert!(b.disconnect_with_warning(&a.node_id(), "you are not welcome here"));
    until(&mut ae, 5, "a dropped", |e| {
        matches!(e, PeerEvent::Disconnected { .. })
    })
    .await;
    until(&mut be, 5, "b dropped", |e| {
        matches!(e, PeerEvent::Disconnected { .. })
    })
    .await;
    let log = String::from_utf8_lossy(&cap.0.lock().unwrap()).to_string();
    assert!(
        log.contains("Got warning message") && log.contains("you are not welcome here"),
        "a never saw the warning; log was:\n{log}"
    );

    // An unknown even type gets CLN's warning text before the disconnect.
    let (c, mut ce) = node(42).await;
    let (d, mut de) = node(43).await;
    link(&c, &mut ce, &d, &mut de).await;
    c.send_custom(&d.node_id(), &[0x77, 0x76, 0xaa])
        .await
        .unwrap();
    until(&mut ce, 5, "c dropped", |e| {
        matches!(e, PeerEvent::Disconnected { .. })
    })
    .await;
    let log = String::from_utf8_lossy(&cap.0.lock().unwrap()).to_string();
    assert!(
        log.contains("Invalid unknown even msg 7776aa"),
        "log was:\n{log}"
    );
}
