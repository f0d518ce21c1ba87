//! Routes as Core Lightning's `getroute`/`sendpay` see them: a list of hops, each the node
//! reached, the channel used, the amount arriving there and the CLTV delay from there on.
//! [`Ln::find_hops`] asks LDK's router (the scorer, our usable channels as first hops);
//! [`Ln::send_hops`] sends along a caller's hops with `send_payment_with_route`.

use bitcoin::secp256k1::PublicKey;
use lightning::ln::channel_state::ChannelDetails;
use lightning::ln::channelmanager::PaymentId;
use lightning::ln::outbound_payment::{RecipientOnionFields, RetryableSendFailure};
use lightning::routing::gossip::NodeId;
use lightning::routing::router::{
    find_route, Path, PaymentParameters, Route, RouteHop, RouteParameters,
};
use lightning::routing::scoring::ProbabilisticScoringFeeParameters;
use lightning::sign::EntropySource;
use lightning::types::features::{ChannelFeatures, NodeFeatures};
use lightning::types::payment::PaymentHash;

use crate::logger::LdkLogger;
use crate::node::Ln;

/// One hop, CLN's way: `amount_msat` arrives at `id` over `channel`; `delay` is the CLTV
/// delta still ahead at that node (the last hop's is the final CLTV delta).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub id: PublicKey,
    pub channel: u64,
    pub amount_msat: u64,
    pub delay: u32,
}

/// What `getroute` asks for.
#[derive(Debug, Clone)]
pub struct RouteQuery {
    /// The route's start: us when `None` (then our usable channels are the first hops).
    pub from: Option<PublicKey>,
    pub to: PublicKey,
    pub amount_msat: u64,
    pub final_cltv: u32,
    /// Channels not to use (in either direction: LDK excludes whole channels).
    pub exclude_channels: Vec<u64>,
    pub exclude_nodes: Vec<PublicKey>,
    pub max_hops: u8,
}

/// Why hops cannot be sent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HopsError {
    #[error("route is empty")]
    Empty,
    #[error("hop {0}: amount_msat is less than the next hop's")]
    Amounts(usize),
    #[error("hop {0}: delay is less than the next hop's")]
    Delays(usize),
    #[error("too many hops ({0})")]
    TooLong(usize),
}

/// LDK's path (fee and CLTV delta per hop) as CLN hops (running totals from the end).
pub fn hops_of_path(path: &Path) -> Vec<Hop> {
    let mut out = Vec::with_capacity(path.hops.len());
    let (mut amount, mut delay) = (0u64, 0u32);
    for h in path.hops.iter().rev() {
        amount = amount.saturating_add(h.fee_msat);
        delay = delay.saturating_add(h.cltv_expiry_delta);
        out.push(Hop {
            id: h.pubkey,
            channel: h.short_channel_id,
            amount_msat: amount,
            delay,
        });
    }
    out.reverse();
    out
}

/// CLN hops as LDK's path; features come from the graph (empty when unknown).
pub fn path_of_hops(
    hops: &[Hop],
    features: impl Fn(&Hop) -> (NodeFeatures, ChannelFeatures, bool),
) -> Result<Path, HopsError> {
    if hops.is_empty() {
        return Err(HopsError::Empty);
    }
    if hops.len() > 27 {
        return Err(HopsError::TooLong(hops.len()));
    }
    let mut out = Vec::with_capacity(hops.len());
    for (i, h) in hops.iter().enumerate() {
        let (fee, cltv) = match hops.get(i + 1) {
            Some(next) => (
                h.amount_msat
                    .checked_sub(next.amount_msat)
                    .ok_or(HopsError::Amounts(i))?,
                h.delay
                    .checked_sub(next.delay)
                    .ok_or(HopsError::Delays(i))?,
            ),
            None => (h.amount_msat, h.delay),
        };
        let (node_features, channel_features, announced) = features(h);
        out.push(RouteHop {
            pubkey: h.id,
            node_features,
            short_channel_id: h.channel,
            channel_features,
            fee_msat: fee,
            cltv_expiry_delta: cltv,
            maybe_announced_channel: announced,
        });
    }
    Ok(Path {
        hops: out,
        blinded_tail: None,
    })
}

/// Whether `hops` make a path ([`path_of_hops`]'s checks).
pub fn check_hops(hops: &[Hop]) -> Result<(), HopsError> {
    path_of_hops(hops, |_| {
        (NodeFeatures::empty(), ChannelFeatures::empty(), false)
    })
    .map(|_| ())
}

impl Ln {
    /// One path for `q` from LDK's router, as CLN hops; LDK's reason when there is none.
    pub fn find_hops(&self, q: &RouteQuery) -> Result<Vec<Hop>, &'static str> {
        let mut pp = PaymentParameters::from_node_id(q.to, q.final_cltv);
        pp.max_path_count = 1;
        pp.max_path_length = pp.max_path_length.min(q.max_hops);
        pp.previously_failed_channels = q.exclude_channels.clone();
        let mut rp = RouteParameters::from_payment_params_and_value(pp, q.amount_msat);
        // `getroute` has no fee limit.
        rp.max_total_routing_fee_msat = None;
        let mut score = ProbabilisticScoringFeeParameters::default();
        for n in &q.exclude_nodes {
            score.add_banned(&NodeId::from_pubkey(n));
        }
        let ours = self.manager.get_our_node_id();
        let usable: Vec<ChannelDetails>;
        let (from, first_hops) = match q.from {
            Some(f) if f != ours => (f, None),
            _ => {
                usable = self.manager.list_usable_channels();
                (ours, Some(usable.iter().collect::<Vec<_>>()))
            }
        };
        let scorer = self.scorer.read().map_err(|_| "scorer lock poisoned")?;
        let route = find_route(
            &from,
            &rp,
            &self.graph,
            first_hops.as_deref(),
            &LdkLogger,
            &*scorer,
            &score,
            &self.keys.get_secure_random_bytes(),
        )?;
        route
            .paths
            .first()
            .map(hops_of_path)
            .ok_or("the router found no path")
    }

    /// Sends `hops` (checked by [`path_of_hops`]) as payment `id`; LDK does not retry it.
    pub fn send_hops(
        &self,
        hops: &[Hop],
        hash: [u8; 32],
        onion: RecipientOnionFields,
        id: PaymentId,
    ) -> Result<Result<(), RetryableSendFailure>, HopsError> {
        let graph = self.graph.read_only();
        let path = path_of_hops(hops, |h| {
            let node = graph
                .node(&NodeId::from_pubkey(&h.id))
                .and_then(|n| n.announcement_info.as_ref())
                .map(|a| a.features().clone())
                .unwrap_or_else(NodeFeatures::empty);
            let chan = graph.channel(h.channel);
            let cf = chan
                .map(|c| c.features.clone())
                .unwrap_or_else(ChannelFeatures::empty);
            (node, cf, chan.is_some())
        })?;
        drop(graph);
        let route = Route {
            paths: vec![path],
            route_params: None,
        };
        Ok(self
            .manager
            .send_payment_with_route(route, PaymentHash(hash), onion, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::secp256k1::{Secp256k1, SecretKey};

    fn pk(b: u8) -> PublicKey {
        PublicKey::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[b; 32]).unwrap())
    }

    fn hops() -> Vec<Hop> {
        vec![
            Hop {
                id: pk(1),
                channel: 11,
                amount_msat: 1_001_100,
                delay: 9 + 40,
            },
            Hop {
                id: pk(2),
                channel: 22,
                amount_msat: 1_000_000,
                delay: 9,
            },
        ]
    }

    #[test]
    fn hops_and_paths_convert_both_ways() {
        let none = |_: &Hop| (NodeFeatures::empty(), ChannelFeatures::empty(), true);
        let path = path_of_hops(&hops(), none).unwrap();
        assert_eq!(path.hops[0].fee_msat, 1_100);
        assert_eq!(path.hops[0].cltv_expiry_delta, 40);
        assert_eq!(path.hops[1].fee_msat, 1_000_000);
        assert_eq!(path.hops[1].cltv_expiry_delta, 9);
        assert_eq!(path.final_value_msat(), 1_000_000);
        assert_eq!(hops_of_path(&path), hops());
    }

    #[test]
    fn hops_must_not_grow_toward_the_end() {
        let none = |_: &Hop| (NodeFeatures::empty(), ChannelFeatures::empty(), true);
        let mut h = hops();
        h[0].amount_msat = 10;
        assert_eq!(path_of_hops(&h, none).unwrap_err(), HopsError::Amounts(0));
        let mut h = hops();
        h[0].delay = 1;
        assert_eq!(path_of_hops(&h, none).unwrap_err(), HopsError::Delays(0));
        assert_eq!(path_of_hops(&[], none).unwrap_err(), HopsError::Empty);
    }
}
