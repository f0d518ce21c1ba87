//! `ldk-peer`: an independent Lightning peer built straight on LDK (no code shared with boltd's
//! `net` crate), used by tests as "someone else's implementation".
//!
//! Usage: `ldk-peer [--seed HEX32] [--listen ADDR]... [--allow-even TYPE]...`
//!
//! On start it prints `id <node id>`, one `listening <addr>` per listener, then `ready`.
//! Commands on stdin, one per line:
//!   `connect <id>@<host>:<port>`  → `connected <id> out <features>` or `connect-failed <id>`
//!   `send <id> <hex>`            (whole message, type included) → `sent` or `send-failed`
//!   `disconnect <id>`            → `disconnected <id>` (event)
//!   `peers`                      → `peer <id>` lines, then `end`
//!   `quit`
//! Events printed as they happen:
//!   `connected <id> in|out <features hex>`, `disconnected <id>`, `recv <id> <hex>`,
//!   `warning <id> <text>` (a BOLT 1 warning the peer sent us).
//! Unknown even types not given with `--allow-even` make LDK disconnect the sender, as BOLT 1 says.
//! This program only talks to loopback test peers; it panics on bad command-line input.

use std::collections::HashSet;
use std::io::Write;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::secp256k1::PublicKey;
use lightning::io;
use lightning::ln::msgs::{DecodeError, Init, LightningError};
use lightning::ln::peer_handler::{
    CustomMessageHandler, ErroringMessageHandler, IgnoringMessageHandler, MessageHandler,
    PeerManager,
};
use lightning::ln::wire::{CustomMessageReader, Type};
use lightning::sign::{KeysManager, NodeSigner, Recipient};
use lightning::types::features::{InitFeatures, NodeFeatures};
use lightning::util::logger::{Logger, Record};
use lightning::util::ser::{LengthLimitedRead, Writeable, Writer};
use lightning_net_tokio::SocketDescriptor;
use tokio::io::AsyncBufReadExt;

fn say(line: String) {
    let out = std::io::stdout();
    let mut l = out.lock();
    let _ = writeln!(l, "{line}");
    let _ = l.flush();
}

#[derive(Debug)]
struct Msg {
    ty: u16,
    body: Vec<u8>,
}
impl Type for Msg {
    fn type_id(&self) -> u16 {
        self.ty
    }
}
impl Writeable for Msg {
    fn write<W: Writer>(&self, w: &mut W) -> Result<(), io::Error> {
        w.write_all(&self.body)
    }
}

struct Handler {
    allow_even: HashSet<u16>,
    outbox: Mutex<Vec<(PublicKey, Msg)>>,
}

impl CustomMessageReader for Handler {
    type CustomMessage = Msg;
    fn read<R: LengthLimitedRead>(&self, ty: u16, r: &mut R) -> Result<Option<Msg>, DecodeError> {
        if ty & 1 == 0 && !self.allow_even.contains(&ty) {
            return Ok(None); // LDK treats it as unknown: even → disconnect
        }
        let n = r.remaining_bytes();
        let mut body = Vec::new();
        io::Read::read_to_limit(r, &mut body, n).map_err(|_| DecodeError::ShortRead)?;
        Ok(Some(Msg { ty, body }))
    }
}

impl CustomMessageHandler for Handler {
    fn handle_custom_message(&self, msg: Msg, from: PublicKey) -> Result<(), LightningError> {
        let mut all = msg.ty.to_be_bytes().to_vec();
        all.extend_from_slice(&msg.body);
        say(format!("recv {from} {}", hex::encode(all)));
        Ok(())
    }
    fn get_and_clear_pending_msg(&self) -> Vec<(PublicKey, Msg)> {
        std::mem::take(&mut *self.outbox.lock().unwrap())
    }
    fn peer_disconnected(&self, id: PublicKey) {
        say(format!("disconnected {id}"));
    }
    fn peer_connected(&self, id: PublicKey, msg: &Init, inbound: bool) -> Result<(), ()> {
        let mut be: Vec<u8> = msg.features.le_flags().iter().rev().copied().collect();
        while be.first() == Some(&0) {
            be.remove(0);
        }
        let dir = if inbound { "in" } else { "out" };
        say(format!("connected {id} {dir} {}", hex::encode(be)));
        Ok(())
    }
    fn provided_node_features(&self) -> NodeFeatures {
        NodeFeatures::empty()
    }
    fn provided_init_features(&self, _id: PublicKey) -> InitFeatures {
        InitFeatures::empty()
    }
}

/// Prints LDK's "Got warning message" log records as `warning` events; everything else goes to
/// stderr when `LDK_PEER_DEBUG` is set.
struct Log {
    debug: bool,
}
impl Logger for Log {
    fn log(&self, record: Record) {
        let text = record.args.to_string();
        // LDK 0.3 names the sender in the record's context, not in the text.
        if let (Some(msg), Some(id)) = (text.strip_prefix("Got warning message: "), record.peer_id)
        {
            say(format!("warning {id} {msg}"));
        }
        if self.debug {
            eprintln!("ldk-peer {:?}: {text}", record.level);
        }
    }
}

type Pm = PeerManager<
    SocketDescriptor,
    Arc<ErroringMessageHandler>,
    Arc<IgnoringMessageHandler>,
    Arc<IgnoringMessageHandler>,
    Arc<Log>,
    Arc<Handler>,
    Arc<KeysManager>,
    Arc<IgnoringMessageHandler>,
>;

#[tokio::main]
async fn main() {
    let mut seed: [u8; 32] = rand::random();
    let mut listen = Vec::new();
    let mut allow_even = HashSet::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--seed" => {
                seed = hex::decode(&v)
                    .expect("hex seed")
                    .try_into()
                    .expect("32-byte seed")
            }
            "--listen" => listen.push(SocketAddr::from_str(&v).expect("listen address")),
            "--allow-even" => {
                allow_even.insert(v.parse::<u16>().expect("type"));
            }
            other => panic!("unknown argument {other}"),
        }
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let keys = Arc::new(KeysManager::new(
        &seed,
        now.as_secs(),
        now.subsec_nanos(),
        true,
    ));
    let id = keys.get_node_id(Recipient::Node).unwrap();
    let handler = Arc::new(Handler {
        allow_even,
        outbox: Mutex::new(Vec::new()),
    });
    let pm: Arc<Pm> = Arc::new(PeerManager::new(
        MessageHandler {
            chan_handler: Arc::new(ErroringMessageHandler::new()),
            route_handler: Arc::new(IgnoringMessageHandler {}),
            onion_message_handler: Arc::new(IgnoringMessageHandler {}),
            custom_message_handler: handler.clone(),
            send_only_message_handler: Arc::new(IgnoringMessageHandler {}),
        },
        now.as_secs() as u32,
        &rand::random::<[u8; 32]>(),
        Arc::new(Log {
            debug: std::env::var_os("LDK_PEER_DEBUG").is_some(),
        }),
        keys,
    ));
    say(format!("id {id}"));
    for addr in listen {
        let l = tokio::net::TcpListener::bind(addr).await.expect("bind");
        say(format!("listening {}", l.local_addr().unwrap()));
        let pm = pm.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                if let Ok(s) = s.into_std() {
                    drop(lightning_net_tokio::setup_inbound(pm.clone(), s));
                }
            }
        });
    }
    {
        let pm = pm.clone();
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(Duration::from_secs(10));
            loop {
                iv.tick().await;
                pm.timer_tick_occurred();
            }
        });
    }
    say("ready".into());

    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["connect", target] => {
                let Some((pk, addr)) = target.split_once('@') else {
                    say("connect-failed bad-target".into());
                    continue;
                };
                let (Ok(pk), Ok(addr)) = (PublicKey::from_str(pk), SocketAddr::from_str(addr))
                else {
                    say("connect-failed bad-target".into());
                    continue;
                };
                let pm = pm.clone();
                tokio::spawn(async move {
                    if lightning_net_tokio::connect_outbound(pm, pk, addr)
                        .await
                        .is_none()
                    {
                        say(format!("connect-failed {pk}"));
                    }
                });
            }
            ["send", pk, msg] => {
                let (Ok(pk), Ok(bytes)) = (PublicKey::from_str(pk), hex::decode(msg)) else {
                    say("send-failed bad-args".into());
                    continue;
                };
                if bytes.len() < 2 || pm.peer_by_node_id(&pk).is_none() {
                    say("send-failed".into());
                    continue;
                }
                let msg = Msg {
                    ty: u16::from_be_bytes([bytes[0], bytes[1]]),
                    body: bytes[2..].to_vec(),
                };
                handler.outbox.lock().unwrap().push((pk, msg));
                pm.process_events();
                say("sent".into());
            }
            ["disconnect", pk] => {
                if let Ok(pk) = PublicKey::from_str(pk) {
                    pm.disconnect_by_node_id(pk);
                }
            }
            ["peers"] => {
                for p in pm.list_peers() {
                    say(format!("peer {}", p.counterparty_node_id));
                }
                say("end".into());
            }
            ["quit"] => break,
            [] => {}
            _ => say(format!("unknown-command {line}")),
        }
    }
    pm.disconnect_all_peers();
}
