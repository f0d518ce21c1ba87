//! What the peer layer reports: [`PeerEvent`]s through [`PeerEvents`], and [`PeerInfo`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::SocketAddress;
use tokio::sync::mpsc;

use crate::custom::RawEvent;
use crate::features::be_bytes;
use crate::flow::Credit;
use crate::node::Pm;

/// Which side opened the connection (`in`/`out` in CLN's JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }

    pub(crate) fn from_inbound(inbound: bool) -> Direction {
        if inbound {
            Direction::In
        } else {
            Direction::Out
        }
    }
}

/// A connected peer.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    pub id: PublicKey,
    /// Their address as we see it (None if LDK had none, e.g. a non-IP socket).
    pub addr: Option<SocketAddr>,
    /// Their init features, big-endian bitmap (hex-encode for CLN's `features`).
    pub features: Vec<u8>,
    pub direction: Direction,
    /// False while the daemon has not accepted the peer yet (CLN's `PEER_CONNECTING`).
    pub active: bool,
}

/// What happened on the peer side, delivered in order (per peer: arrival order).
#[derive(Clone, Debug)]
pub enum PeerEvent {
    /// Handshake and init done. If gating is on, the peer waits for accept/reject.
    Connected {
        id: PublicKey,
        addr: Option<SocketAddr>,
        features: Vec<u8>,
        direction: Direction,
        /// How they see us: the `remote_addr` TLV of their init, when it is an IP address
        /// (CLN's `remote_addr`).
        remote_addr: Option<SocketAddr>,
    },
    /// The connection is gone (for any reason).
    Disconnected { id: PublicKey },
    /// A custom message. `payload` is the whole message as on the wire, 2-byte type included
    /// (what CLN's `custommsg` hook calls `payload`).
    CustomMessage {
        id: PublicKey,
        msg_type: u16,
        payload: Vec<u8>,
        /// The message's share of its peer's budget: hold it until the message is fully
        /// handled (the peer's socket is not read while too much is held).
        credit: Credit,
    },
}

/// Receives [`PeerEvent`]s; adds the peer's address to `Connected` on the way out.
pub struct PeerEvents {
    pub(crate) rx: mpsc::UnboundedReceiver<RawEvent>,
    pub(crate) pm: Arc<Pm>,
}

impl PeerEvents {
    /// Next event, in order. `None` only once the peer layer is gone.
    pub async fn recv(&mut self) -> Option<PeerEvent> {
        let ev = self.rx.recv().await?;
        Some(self.convert(ev))
    }

    fn convert(&self, ev: RawEvent) -> PeerEvent {
        match ev {
            RawEvent::Connected {
                id,
                features,
                inbound,
                remote_addr,
            } => {
                let addr = crate::runtime::off_worker(|| self.pm.peer_by_node_id(&id))
                    .and_then(|d| d.socket_address.as_ref().and_then(to_socket_addr));
                PeerEvent::Connected {
                    id,
                    addr,
                    features: be_bytes(features.le_flags()),
                    direction: Direction::from_inbound(inbound),
                    remote_addr: remote_addr.as_ref().and_then(to_socket_addr),
                }
            }
            RawEvent::Disconnected { id } => PeerEvent::Disconnected { id },
            RawEvent::Custom { id, msg, credit } => PeerEvent::CustomMessage {
                id,
                msg_type: msg.msg_type,
                payload: msg.to_wire(),
                credit,
            },
        }
    }
}

pub(crate) fn to_socket_addr(a: &SocketAddress) -> Option<SocketAddr> {
    match a {
        SocketAddress::TcpIpV4 { addr, port } => {
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(*addr)), *port))
        }
        SocketAddress::TcpIpV6 { addr, port } => {
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(*addr)), *port))
        }
        _ => None,
    }
}
