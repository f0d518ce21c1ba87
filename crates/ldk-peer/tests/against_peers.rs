//! The independent LDK test peer against boltd's `net` crate: both directions, custom
//! messages both ways, and each side's handling of unknown even types.

use std::process::Stdio;
use std::time::Duration;

use net::{Handlers, PeerConfig, PeerEvent, PeerEvents, PeerNode};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

struct LdkPeer {
    _child: Child,
    stdin: ChildStdin,
    out: Lines<BufReader<ChildStdout>>,
    id: String,
    addr: String,
}

impl LdkPeer {
    async fn start(extra: &[&str]) -> LdkPeer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ldk-peer"))
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut id = String::new();
        let mut addr = String::new();
        loop {
            let l = out.next_line().await.unwrap().unwrap();
            if let Some(v) = l.strip_prefix("id ") {
                id = v.to_string();
            } else if let Some(v) = l.strip_prefix("listening ") {
                addr = v.to_string();
            } else if l == "ready" {
                break;
            }
        }
        LdkPeer {
            _child: child,
            stdin,
            out,
            id,
            addr,
        }
    }

    async fn cmd(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }

    async fn expect(&mut self, prefix: &str) -> String {
        let r = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let l = self
                    .out
                    .next_line()
                    .await
                    .unwrap()
                    .expect("ldk-peer exited");
                if l.starts_with(prefix) {
                    return l;
                }
            }
        })
        .await;
        r.unwrap_or_else(|_| panic!("ldk-peer never printed {prefix:?}"))
    }
}

async fn ours(n: u8) -> (PeerNode, PeerEvents) {
    let cfg = PeerConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        auto_accept: true,
        ..PeerConfig::default()
    };
    let keys = keys::Keys::from_secret([n; 32]);
    PeerNode::start(cfg, keys.manager(), Handlers::without_channels())
        .await
        .unwrap()
}

async fn next(ev: &mut PeerEvents) -> PeerEvent {
    tokio::time::timeout(Duration::from_secs(10), ev.recv())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn we_connect_out_and_messages_flow_both_ways() {
    let (node, mut ev) = ours(7).await;
    let mut ldk = LdkPeer::start(&[]).await;
    let id: net::PublicKey = ldk.id.parse().unwrap();
    node.connect(id, ldk.addr.parse().unwrap()).await.unwrap();
    let line = ldk.expect("connected ").await;
    assert!(
        line.contains(&node.node_id().to_string()) && line.contains(" in "),
        "{line}"
    );
    assert!(matches!(next(&mut ev).await, PeerEvent::Connected { .. }));

    node.send_custom(&id, &[0x77, 0x77, 0x00, 0x12])
        .await
        .unwrap();
    assert_eq!(
        ldk.expect("recv ").await,
        format!("recv {} 77770012", node.node_id())
    );

    ldk.cmd(&format!("send {} 8001abcd", node.node_id())).await;
    match next(&mut ev).await {
        PeerEvent::CustomMessage {
            id: from, payload, ..
        } => {
            assert_eq!(from, id);
            assert_eq!(payload, vec![0x80, 0x01, 0xab, 0xcd]);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn ldk_peer_connects_in_and_its_unknown_even_type_gets_a_warning_and_a_disconnect() {
    let (node, mut ev) = ours(8).await;
    let mut ldk = LdkPeer::start(&[]).await;
    ldk.cmd(&format!(
        "connect {}@{}",
        node.node_id(),
        node.bound_addrs()[0]
    ))
    .await;
    ldk.expect("connected ").await;
    match next(&mut ev).await {
        PeerEvent::Connected { direction, .. } => assert_eq!(direction, net::Direction::In),
        other => panic!("{other:?}"),
    }
    ldk.cmd(&format!("send {} 7776aa", node.node_id())).await;
    let w = ldk.expect("warning ").await;
    assert!(w.contains("Invalid unknown even msg 7776aa"), "{w}");
    ldk.expect("disconnected ").await;
    assert!(matches!(
        next(&mut ev).await,
        PeerEvent::Disconnected { .. }
    ));
}

#[tokio::test]
async fn ldk_peer_drops_us_for_an_even_type_it_does_not_know_but_takes_one_it_allows() {
    let (node, mut ev) = ours(9).await;
    let mut ldk = LdkPeer::start(&["--allow-even", "30582"]).await; // 0x7776
    let id: net::PublicKey = ldk.id.parse().unwrap();
    node.connect(id, ldk.addr.parse().unwrap()).await.unwrap();
    ldk.expect("connected ").await;
    node.send_custom(&id, &[0x77, 0x76, 0x01]).await.unwrap();
    assert_eq!(
        ldk.expect("recv ").await,
        format!("recv {} 777601", node.node_id())
    );
    node.send_custom(&id, &[0x77, 0x74, 0x01]).await.unwrap();
    ldk.expect("disconnected ").await;
    loop {
        if let PeerEvent::Disconnected { .. } = next(&mut ev).await {
            break;
        }
    }
}
