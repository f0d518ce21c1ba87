//! What a failed payment attempt reports, Core Lightning's way (lightningd/pay.c): the
//! error code (203 final node said no for good, 204 try another route), the message
//! `failed: <WIRE_NAME> (<detail>)`, and the `data` fields naming who failed where.
//!
//! LDK (without its test features) does not hand out the failure code of an onion
//! error, only its meaning: the destination refused for good, or a channel or node
//! failed (temporarily or for good), or our own first hop refused. So the code is the
//! one Core Lightning's peers send for that meaning: a refusing destination is
//! `WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS`, a channel `WIRE_TEMPORARY_CHANNEL_FAILURE`
//! or `WIRE_PERMANENT_CHANNEL_FAILURE`, a node `WIRE_TEMPORARY_NODE_FAILURE` or
//! `WIRE_PERMANENT_NODE_FAILURE`.

use bitcoin::secp256k1::PublicKey;
use lightning::events::PathFailure;
use lightning::routing::gossip::NetworkUpdate;
use lightning::routing::router::Path;
use serde_json::{json, Map, Value};

use super::route_json::direction;
use crate::invoices::decode::scid_string;

pub const PAY_DESTINATION_PERM_FAIL: i64 = 203;
pub const PAY_TRY_OTHER_ROUTE: i64 = 204;

const PERM: u16 = 0x4000;
const NODE: u16 = 0x2000;
const UPDATE: u16 = 0x1000;

pub const TEMPORARY_CHANNEL_FAILURE: u16 = UPDATE | 7;
pub const PERMANENT_CHANNEL_FAILURE: u16 = PERM | 8;
pub const TEMPORARY_NODE_FAILURE: u16 = NODE | 2;
pub const PERMANENT_NODE_FAILURE: u16 = PERM | NODE | 2;
pub const UNKNOWN_NEXT_PEER: u16 = PERM | 10;
pub const INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS: u16 = PERM | 15;
pub const REQUIRED_NODE_FEATURE_MISSING: u16 = PERM | NODE | 3;
pub const INVALID_ONION_PAYLOAD: u16 = PERM | 22;

/// The BOLT 4 name of a failure code.
pub fn failcode_name(code: u16) -> &'static str {
    match code {
        TEMPORARY_CHANNEL_FAILURE => "WIRE_TEMPORARY_CHANNEL_FAILURE",
        PERMANENT_CHANNEL_FAILURE => "WIRE_PERMANENT_CHANNEL_FAILURE",
        TEMPORARY_NODE_FAILURE => "WIRE_TEMPORARY_NODE_FAILURE",
        PERMANENT_NODE_FAILURE => "WIRE_PERMANENT_NODE_FAILURE",
        UNKNOWN_NEXT_PEER => "WIRE_UNKNOWN_NEXT_PEER",
        INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS => "WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS",
        REQUIRED_NODE_FEATURE_MISSING => "WIRE_REQUIRED_NODE_FEATURE_MISSING",
        INVALID_ONION_PAYLOAD => "WIRE_INVALID_ONION_PAYLOAD",
        _ => "WIRE_UNKNOWN",
    }
}

/// One attempt's failure.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteFailure {
    pub code: i64,
    pub failcode: u16,
    /// `reply from remote`, `local failure`, or a local reason.
    pub detail: String,
    /// 0 is us, `i` the node of hop `i - 1`.
    pub erring_index: usize,
    pub erring_node: Option<PublicKey>,
    pub erring_channel: Option<u64>,
    pub erring_direction: Option<u8>,
}

impl RouteFailure {
    pub fn message(&self) -> String {
        format!("failed: {} ({})", failcode_name(self.failcode), self.detail)
    }

    /// The failure fields added to a payment object (`data` of the error).
    pub fn add_to(&self, data: &mut Map<String, Value>) {
        data.insert("erring_index".into(), json!(self.erring_index));
        data.insert("failcode".into(), json!(self.failcode));
        data.insert("failcodename".into(), json!(failcode_name(self.failcode)));
        if let Some(n) = self.erring_node {
            data.insert("erring_node".into(), json!(n.to_string()));
        }
        if let Some(c) = self.erring_channel {
            data.insert("erring_channel".into(), json!(scid_string(c)));
        }
        if let Some(d) = self.erring_direction {
            data.insert("erring_direction".into(), json!(d));
        }
    }

    /// As stored in a payment record (our internal note).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("code".into(), json!(self.code));
        m.insert("message".into(), json!(self.message()));
        self.add_to(&mut m);
        Value::Object(m)
    }

    /// A payment to ourselves that our invoice refused with `failcode`.
    pub fn refused_by_us(us: PublicKey, failcode: u16, detail: String) -> RouteFailure {
        RouteFailure {
            code: PAY_DESTINATION_PERM_FAIL,
            failcode,
            detail,
            erring_index: 0,
            erring_node: Some(us),
            erring_channel: None,
            erring_direction: None,
        }
    }

    /// `sendpay`'s immediate refusal: no usable channel to the first hop.
    pub fn no_first_peer(us: PublicKey, first: &PublicKey) -> RouteFailure {
        RouteFailure {
            code: PAY_TRY_OTHER_ROUTE,
            failcode: UNKNOWN_NEXT_PEER,
            detail: String::new(),
            erring_index: 0,
            erring_node: Some(us),
            erring_channel: None,
            erring_direction: Some(direction(&us, first)),
        }
    }
}

/// The node at `index` on `path` (0 is us) and the channel it sends on, with direction.
fn at(us: PublicKey, path: &Path, index: usize) -> (Option<PublicKey>, Option<u64>, Option<u8>) {
    let node = if index == 0 {
        Some(us)
    } else {
        path.hops.get(index - 1).map(|h| h.pubkey)
    };
    match (node, path.hops.get(index)) {
        (Some(n), Some(next)) => (
            Some(n),
            Some(next.short_channel_id),
            Some(direction(&n, &next.pubkey)),
        ),
        (n, _) => (n, None, None),
    }
}

/// The failure of an attempt along `path` from LDK's `PaymentPathFailed`.
pub fn from_path_failed(
    us: PublicKey,
    path: &Path,
    permanently: bool,
    failure: &PathFailure,
    scid: Option<u64>,
) -> RouteFailure {
    let remote = |failcode, index: usize| {
        let (node, chan, dir) = at(us, path, index);
        RouteFailure {
            code: PAY_TRY_OTHER_ROUTE,
            failcode,
            detail: "reply from remote".into(),
            erring_index: index,
            erring_node: node,
            erring_channel: chan,
            erring_direction: dir,
        }
    };
    let index_of_channel = |c: u64| path.hops.iter().position(|h| h.short_channel_id == c);
    match failure {
        PathFailure::InitialSend { err } => {
            let (node, chan, dir) = at(us, path, 0);
            RouteFailure {
                code: PAY_TRY_OTHER_ROUTE,
                failcode: TEMPORARY_CHANNEL_FAILURE,
                detail: format!("local failure: {err:?}"),
                erring_index: 0,
                erring_node: node,
                erring_channel: chan,
                erring_direction: dir,
            }
        }
        PathFailure::OnPath { .. } if permanently => {
            let last = path.hops.len();
            let mut f = remote(INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS, last);
            f.code = PAY_DESTINATION_PERM_FAIL;
            // The final node erred: the channel is the one into it.
            if let Some(h) = path.hops.last() {
                let from = if last >= 2 {
                    path.hops[last - 2].pubkey
                } else {
                    us
                };
                f.erring_channel = Some(h.short_channel_id);
                f.erring_direction = Some(direction(&from, &h.pubkey));
            }
            f
        }
        PathFailure::OnPath {
            network_update:
                Some(NetworkUpdate::NodeFailure {
                    node_id,
                    is_permanent,
                }),
        } => {
            let index = path
                .hops
                .iter()
                .position(|h| h.pubkey == *node_id)
                .map(|i| i + 1)
                .unwrap_or(0);
            let code = if *is_permanent {
                PERMANENT_NODE_FAILURE
            } else {
                TEMPORARY_NODE_FAILURE
            };
            remote(code, index)
        }
        PathFailure::OnPath {
            network_update:
                Some(NetworkUpdate::ChannelFailure {
                    short_channel_id,
                    is_permanent,
                }),
        } => {
            let code = if *is_permanent {
                PERMANENT_CHANNEL_FAILURE
            } else {
                TEMPORARY_CHANNEL_FAILURE
            };
            remote(code, index_of_channel(*short_channel_id).unwrap_or(0))
        }
        PathFailure::OnPath {
            network_update: None,
        } => remote(
            TEMPORARY_CHANNEL_FAILURE,
            scid.and_then(index_of_channel).unwrap_or(0),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::secp256k1::{Secp256k1, SecretKey};
    use lightning::routing::router::RouteHop;
    use lightning::types::features::{ChannelFeatures, NodeFeatures};

    fn pk(b: u8) -> PublicKey {
        PublicKey::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[b; 32]).unwrap())
    }

    fn path() -> Path {
        let hop = |n, scid| RouteHop {
            pubkey: pk(n),
            node_features: NodeFeatures::empty(),
            short_channel_id: scid,
            channel_features: ChannelFeatures::empty(),
            fee_msat: 1,
            cltv_expiry_delta: 9,
            maybe_announced_channel: true,
        };
        Path {
            hops: vec![hop(2, 11), hop(3, 22)],
            blinded_tail: None,
        }
    }

    #[test]
    fn the_destination_refusing_is_203_with_the_channel_into_it() {
        let f = from_path_failed(
            pk(1),
            &path(),
            true,
            &PathFailure::OnPath {
                network_update: None,
            },
            None,
        );
        assert_eq!(f.code, 203);
        assert_eq!(
            f.message(),
            "failed: WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS (reply from remote)"
        );
        assert_eq!(f.erring_index, 2);
        assert_eq!(f.erring_node, Some(pk(3)));
        assert_eq!(f.erring_channel, Some(22));
        assert_eq!(f.failcode, 16399);
    }

    #[test]
    fn a_channel_failing_midway_names_the_node_before_it() {
        let f = from_path_failed(
            pk(1),
            &path(),
            false,
            &PathFailure::OnPath {
                network_update: Some(NetworkUpdate::ChannelFailure {
                    short_channel_id: 22,
                    is_permanent: false,
                }),
            },
            Some(22),
        );
        assert_eq!(f.code, 204);
        assert_eq!(f.failcode, 4103);
        assert_eq!(f.erring_index, 1);
        assert_eq!(f.erring_node, Some(pk(2)));
        assert_eq!(f.erring_channel, Some(22));
        assert_eq!(f.erring_direction, Some(direction(&pk(2), &pk(3))));
        let mut m = Map::new();
        f.add_to(&mut m);
        assert_eq!(m["erring_channel"], "0x0x22");
        assert_eq!(m["failcodename"], "WIRE_TEMPORARY_CHANNEL_FAILURE");
    }

    #[test]
    fn no_first_peer_is_unknown_next_peer_from_us() {
        let f = RouteFailure::no_first_peer(pk(1), &pk(2));
        assert_eq!((f.code, f.failcode, f.erring_index), (204, 16394, 0));
        assert_eq!(f.erring_node, Some(pk(1)));
    }
}
