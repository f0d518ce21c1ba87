//! Route hints for our invoices from the channels we have, with Core Lightning's rules:
//! private channels are hinted when asked (`exposeprivatechannels`) or, by default, when
//! we have no public channel; a hint needs a channel that is ready, whose peer is
//! online and told us its forwarding fees; the `warning_*` fields say why the incoming
//! capacity falls short of the amount.

use std::sync::Arc;

use lightning::ln::channel_state::ChannelDetails;
use lightning_invoice::{RouteHint, RouteHintHop, RoutingFees};
use ln::Ln;

use crate::invoices::{Expose, Hints, NoSuitableHints, RouteHintSource, WARNING_CAPACITY};

const WARNING_MPP: (&str, &str) = (
    "warning_mpp",
    "The invoice is only payable by MPP-capable payers.",
);
const WARNING_OFFLINE: (&str, &str) = (
    "warning_offline",
    "Insufficient incoming capacity, once offline peers were excluded",
);
const WARNING_PRIVATE_UNUSED: (&str, &str) = (
    "warning_private_unused",
    "Insufficient incoming capacity, once private channels were excluded (try exposeprivatechannels=true?)",
);

/// What the rules need of one ready channel.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub scid: u64,
    pub public: bool,
    pub online: bool,
    pub capacity_msat: u64,
    /// The hint itself; `None` until the peer sent its channel_update.
    pub hint: Option<RouteHintHop>,
}

fn inbound(c: &ChannelDetails) -> Option<Inbound> {
    if !c.is_channel_ready {
        return None;
    }
    let scid = c.get_inbound_payment_scid()?;
    let hint = c
        .counterparty
        .forwarding_info
        .as_ref()
        .map(|f| RouteHintHop {
            src_node_id: c.counterparty.node_id,
            short_channel_id: scid,
            fees: RoutingFees {
                base_msat: f.fee_base_msat,
                proportional_millionths: f.fee_proportional_millionths,
            },
            cltv_expiry_delta: f.cltv_expiry_delta,
            htlc_minimum_msat: c.inbound_htlc_minimum_msat,
            htlc_maximum_msat: c.inbound_htlc_maximum_msat,
        });
    Some(Inbound {
        scid,
        public: c.is_announced,
        online: c.is_usable,
        capacity_msat: c.inbound_capacity_msat,
        hint,
    })
}

/// The hints and warnings for an invoice of `amount_msat` given our ready channels.
pub fn select(
    chans: &[Inbound],
    amount_msat: Option<u64>,
    expose: &Expose,
) -> Result<Hints, NoSuitableHints> {
    let any_public = chans.iter().any(|c| c.public);
    let exposed = |c: &Inbound| match expose {
        Expose::All(b) => !c.public && *b,
        Expose::Default => !c.public && !any_public,
        Expose::Only(l) => l.contains(&c.scid),
    };
    let hintable: Vec<&Inbound> = chans
        .iter()
        .filter(|c| exposed(c) && c.online && c.hint.is_some() && c.capacity_msat > 0)
        .collect();
    if matches!(expose, Expose::Only(_)) && hintable.is_empty() {
        return Err(NoSuitableHints);
    }
    let need = amount_msat.unwrap_or(1);
    let sum = |f: &dyn Fn(&Inbound) -> bool| -> u64 {
        chans.iter().filter(|c| f(c)).map(|c| c.capacity_msat).sum()
    };
    // Reachable: public channels (no hint needed) and the hinted ones.
    let usable = |c: &Inbound| c.online && (c.public || exposed(c) && c.hint.is_some());
    let mut warnings = vec![];
    if sum(&usable) < need {
        warnings.push(if sum(&|_| true) < need {
            WARNING_CAPACITY
        } else if sum(&|c| c.public || exposed(c)) < need {
            WARNING_PRIVATE_UNUSED
        } else {
            WARNING_OFFLINE
        });
    }
    // One channel that can take it all is enough; otherwise hint them all (MPP).
    let whole: Vec<&&Inbound> = hintable
        .iter()
        .filter(|c| c.capacity_msat >= need)
        .collect();
    let chosen: Vec<&Inbound> = if !whole.is_empty() {
        whole.into_iter().copied().collect()
    } else {
        if !hintable.is_empty() && warnings.is_empty() && !any_public {
            warnings.push(WARNING_MPP);
        }
        hintable
    };
    let hints = chosen
        .into_iter()
        .filter_map(|c| c.hint.clone().map(|h| RouteHint(vec![h])))
        .collect();
    Ok(Hints { hints, warnings })
}

/// Route hints from the channel manager's current channels.
pub struct ChannelHints(pub Arc<Ln>);

impl RouteHintSource for ChannelHints {
    fn route_hints(
        &self,
        amount_msat: Option<u64>,
        expose: &Expose,
    ) -> Result<Hints, NoSuitableHints> {
        let chans: Vec<Inbound> = crate::channels::off_worker(|| self.0.manager.list_channels())
            .iter()
            .filter_map(inbound)
            .collect();
        select(&chans, amount_msat, expose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};

    fn chan(scid: u64, public: bool, online: bool, cap: u64) -> Inbound {
        let sk = SecretKey::from_slice(&[7; 32]).unwrap();
        Inbound {
            scid,
            public,
            online,
            capacity_msat: cap,
            hint: Some(RouteHintHop {
                src_node_id: PublicKey::from_secret_key(&Secp256k1::new(), &sk),
                short_channel_id: scid,
                fees: RoutingFees {
                    base_msat: 1000,
                    proportional_millionths: 1,
                },
                cltv_expiry_delta: 40,
                htlc_minimum_msat: None,
                htlc_maximum_msat: None,
            }),
        }
    }

    fn scids(h: &Hints) -> Vec<u64> {
        h.hints.iter().map(|r| r.0[0].short_channel_id).collect()
    }

    #[test]
    fn private_channels_are_hinted_by_default_only_without_public_ones() {
        let private = [chan(1, false, true, 5000)];
        let h = select(&private, Some(1000), &Expose::Default).unwrap();
        assert_eq!(scids(&h), vec![1]);
        assert!(h.warnings.is_empty());

        let both = [chan(1, false, true, 5000), chan(2, true, true, 5000)];
        let h = select(&both, Some(1000), &Expose::Default).unwrap();
        assert!(h.hints.is_empty() && h.warnings.is_empty());
        let h = select(&both, Some(1000), &Expose::All(true)).unwrap();
        assert_eq!(scids(&h), vec![1]);
        let h = select(&private, Some(1000), &Expose::All(false)).unwrap();
        assert!(h.hints.is_empty());
        assert_eq!(h.warnings, vec![WARNING_PRIVATE_UNUSED]);
    }

    #[test]
    fn warnings_say_why_capacity_falls_short() {
        let h = select(&[], Some(1000), &Expose::Default).unwrap();
        assert_eq!(h.warnings, vec![WARNING_CAPACITY]);
        let h = select(&[chan(1, false, true, 500)], Some(1000), &Expose::Default).unwrap();
        assert_eq!(h.warnings, vec![WARNING_CAPACITY]);
        let h = select(&[chan(1, true, false, 5000)], Some(1000), &Expose::Default).unwrap();
        assert_eq!(h.warnings, vec![WARNING_OFFLINE]);
        let two = [chan(1, false, true, 600), chan(2, false, true, 600)];
        let h = select(&two, Some(1000), &Expose::Default).unwrap();
        assert_eq!(scids(&h), vec![1, 2]);
        assert_eq!(h.warnings, vec![WARNING_MPP]);
    }

    #[test]
    fn named_channels_must_be_usable() {
        let c = [chan(1, false, true, 5000), chan(2, false, false, 5000)];
        assert_eq!(
            scids(&select(&c, None, &Expose::Only(vec![1])).unwrap()),
            vec![1]
        );
        assert_eq!(
            select(&c, None, &Expose::Only(vec![2, 3])).unwrap_err(),
            NoSuitableHints
        );
    }
}
