//! Fee estimates as lightningd keeps them (lightningd/chaintopology.c): the backend's
//! `estimatefees` in perkw (sat per 1000 weight), three polls of history, an exponentially
//! smoothed copy, the named rates of the `feerates` RPC, and LDK's [`FeeEstimator`].

use std::sync::RwLock;
use std::time::Duration;

use lightning::chain::chaininterface::{ConfirmationTarget, FeeEstimator};
use serde_json::{json, Map, Value};

use crate::backend::{FeeReply, FeeTarget};

/// Nothing below 1 sat/vB relays; 253 rather than 250 so rounding down never undershoots.
pub const FEERATE_FLOOR: u32 = 253;

/// Polls of raw estimates kept for `min_acceptable`/`max_acceptable` (outliers).
const HISTORY: usize = 3;

/// Anchor closes still have to enter the mempool: 5 sat/vB at least.
const ANCHOR_CLOSE_MIN: u32 = 1250;

/// Added to our highest estimate for LDK's `MaximumFeeEstimate`, as LDK advises, so an
/// honest peer with a more conservative estimator is not taken for a griefer.
const MAXIMUM_ESTIMATE_MARGIN: u32 = 2500;

/// Weights lightningd prices `onchain_fee_estimates` with (typical transactions).
const OPENING_WEIGHT: u64 = 702;
const MUTUAL_CLOSE_WEIGHT: u64 = 673;
const UNILATERAL_WEIGHT: u64 = 598;
const UNILATERAL_ANCHOR_WEIGHT: u64 = 1112;
/// BOLT 3 HTLC-timeout and HTLC-success weights (no anchors).
const HTLC_TIMEOUT_WEIGHT: u64 = 663;
const HTLC_SUCCESS_WEIGHT: u64 = 703;

/// sat/kvB → perkw without rounding to zero.
pub fn perkb_to_perkw(perkb: u32) -> u32 {
    // Widened: u32::MAX + 3 must not wrap.
    u64::from(perkb).div_ceil(4) as u32
}

/// The `style` parameter of `feerates`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeerateStyle {
    PerKw,
    PerKb,
}

impl FeerateStyle {
    pub fn name(self) -> &'static str {
        match self {
            FeerateStyle::PerKw => "perkw",
            FeerateStyle::PerKb => "perkb",
        }
    }

    /// `'style' should be 'perkw' or 'perkb', not '<x>'` is the caller's error text.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "perkw" => Some(FeerateStyle::PerKw),
            "perkb" => Some(FeerateStyle::PerKb),
            _ => None,
        }
    }

    /// A perkw rate in this style; perkb saturates at `u32::MAX` as lightningd's does.
    pub fn from_perkw(self, perkw: u32) -> u32 {
        match self {
            FeerateStyle::PerKw => perkw,
            FeerateStyle::PerKb => perkw.saturating_mul(4),
        }
    }
}

/// Node settings that shape the named rates.
#[derive(Debug, Clone, Copy)]
pub struct FeeConfig {
    /// How often estimates are polled; sets the smoothing factor.
    pub poll_interval: Duration,
    /// `commit-fee`: percent of the 6-block rate for non-anchor commitments.
    pub commit_fee_percent: u32,
    /// `commit-feerate-offset`: added to `opening` for `splice`.
    pub feerate_offset: u32,
    /// `max_acceptable` is this times the highest estimate in history.
    pub max_fee_multiplier: u32,
}

impl Default for FeeConfig {
    fn default() -> Self {
        FeeConfig {
            poll_interval: Duration::from_secs(30),
            commit_fee_percent: 100,
            feerate_offset: 5,
            max_fee_multiplier: 10,
        }
    }
}

#[derive(Debug, Clone)]
struct FeeState {
    floor: u32,
    /// `history[0]` is the latest poll with estimates; all perkw, ascending by blocks.
    history: [Vec<FeeTarget>; HISTORY],
    smoothed: Vec<FeeTarget>,
}

/// The node's fee estimates; shared (`Arc`) between the poller that updates them, LDK
/// that reads them, and the `feerates` RPC.
#[derive(Debug)]
pub struct Fees {
    config: FeeConfig,
    state: RwLock<FeeState>,
}

/// Rate for `blockcount` from a sorted list: interpolated, never extrapolated, never
/// rising with the target; 0 when the list is empty (lightningd's "don't know").
fn interp(rates: &[FeeTarget], blockcount: u32) -> u32 {
    let before = rates.iter().rev().find(|r| r.blocks <= blockcount);
    let after = rates.iter().find(|r| r.blocks > blockcount);
    match (before, after) {
        (None, None) => 0,
        (None, Some(a)) => a.feerate,
        (Some(b), None) => b.feerate,
        (Some(b), Some(_)) if b.blocks == blockcount => b.feerate,
        (Some(b), Some(a)) => {
            if b.feerate < a.feerate {
                return b.feerate;
            }
            let drop = u64::from(blockcount - b.blocks) * u64::from(b.feerate - a.feerate)
                / u64::from(a.blocks - b.blocks);
            b.feerate - drop as u32
        }
    }
}

fn nonzero(rate: u32) -> Option<u32> {
    (rate != 0).then_some(rate)
}

impl Fees {
    pub fn new(config: FeeConfig) -> Self {
        Fees {
            config,
            state: RwLock::new(FeeState {
                floor: FEERATE_FLOOR,
                history: Default::default(),
                smoothed: Vec::new(),
            }),
        }
    }

    fn read(&self) -> FeeState {
        match self.state.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Takes one `estimatefees` answer. Returns whether anything changed (lightningd then
    /// tells channels about the new rates). An empty answer keeps the old estimates.
    pub fn update(&self, reply: &FeeReply) -> bool {
        let floor = perkb_to_perkw(reply.feerate_floor).max(FEERATE_FLOOR);
        let mut rates: Vec<FeeTarget> = reply
            .feerates
            .iter()
            .map(|t| FeeTarget {
                blocks: t.blocks,
                feerate: perkb_to_perkw(t.feerate).max(floor),
            })
            .collect();
        // Any Backend may answer; interpolation needs one rate per target, ascending.
        rates.sort_by_key(|t| t.blocks);
        rates.dedup_by_key(|t| t.blocks);
        let mut guard = match self.state.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let st = &mut *guard;
        let mut changed = st.floor != floor;
        st.floor = floor;
        if rates.is_empty() {
            tracing::info!("Unable to estimate any fees");
            return changed;
        }
        let same_targets = |a: &[FeeTarget], b: &[FeeTarget]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.blocks == y.blocks)
        };
        if !st.history[0].is_empty() && !same_targets(&st.history[0], &rates) {
            tracing::warn!(
                "Presented with feerates for other targets than before; starting afresh"
            );
            st.history = Default::default();
            st.smoothed.clear();
        }
        st.history.rotate_right(1);
        st.history[0] = rates.clone();
        changed |= st.history[0] != st.history[1];

        let mut smoothed = rates;
        if !st.smoothed.is_empty() {
            // A new estimate accounts for 90% of the smoothed one after two minutes,
            // whatever the polling interval.
            let secs = self.config.poll_interval.as_secs_f64();
            let alpha = 1.0 - 0.1f64.powf(secs / 120.0);
            for r in &mut smoothed {
                let old = f64::from(interp(&st.smoothed, r.blocks));
                let s = (f64::from(r.feerate) * alpha + old * (1.0 - alpha)) as u32;
                // Only smooth while it matters (> 10%), or it never settles.
                if f64::from(r.feerate.abs_diff(s)) > 0.1 * f64::from(r.feerate) {
                    r.feerate = s;
                }
                r.feerate = r.feerate.max(floor);
            }
        }
        changed |= st.smoothed != smoothed;
        st.smoothed = smoothed;
        changed
    }

    /// No estimate yet (start-up, or the backend never could estimate).
    pub fn unknown(&self) -> bool {
        self.read().history[0].is_empty()
    }

    pub fn floor(&self) -> u32 {
        self.read().floor
    }

    /// Latest raw rate for a deadline in blocks, at least the floor.
    pub fn feerate_for_deadline(&self, blocks: u32) -> Option<u32> {
        let st = self.read();
        nonzero(interp(&st.history[0], blocks)).map(|r| r.max(st.floor))
    }

    pub fn smoothed_for_deadline(&self, blocks: u32) -> Option<u32> {
        nonzero(interp(&self.read().smoothed, blocks))
    }

    pub fn opening(&self) -> Option<u32> {
        self.feerate_for_deadline(12)
    }
    pub fn mutual_close(&self) -> Option<u32> {
        self.smoothed_for_deadline(100)
    }
    /// Non-anchor commitments: we cannot bump them later, so the urgent smoothed rate.
    pub fn unilateral_close(&self) -> Option<u32> {
        let r = self.smoothed_for_deadline(6)?;
        nonzero((u64::from(r) * u64::from(self.config.commit_fee_percent) / 100) as u32)
    }
    /// Anchor commitments are bumped by CPFP, so a lowball that still enters the mempool.
    pub fn unilateral_anchor_close(&self) -> Option<u32> {
        self.feerate_for_deadline(100)
            .map(|r| r.max(ANCHOR_CLOSE_MIN))
    }
    pub fn delayed_to_us(&self) -> Option<u32> {
        self.smoothed_for_deadline(12)
    }
    pub fn htlc_resolution(&self) -> Option<u32> {
        self.smoothed_for_deadline(6)
    }
    pub fn penalty(&self) -> Option<u32> {
        self.smoothed_for_deadline(12)
    }
    pub fn splice(&self) -> Option<u32> {
        let r = self.opening()?.saturating_add(self.config.feerate_offset);
        Some(r.min(self.max_acceptable()))
    }

    /// Half the lowest estimate in history, at least the floor.
    pub fn min_acceptable(&self) -> u32 {
        let st = self.read();
        let min = st.history.iter().flatten().map(|r| r.feerate).min();
        (min.unwrap_or(0) / 2).max(st.floor)
    }

    /// The highest estimate in history times the multiplier; `u32::MAX` when unknown.
    pub fn max_acceptable(&self) -> u32 {
        match self.highest_estimate() {
            None => u32::MAX,
            Some(max) => max.saturating_mul(self.config.max_fee_multiplier),
        }
    }

    fn highest_estimate(&self) -> Option<u32> {
        self.read()
            .history
            .iter()
            .flatten()
            .map(|r| r.feerate)
            .max()
    }

    /// Everything `feerates` shows, in one consistent snapshot.
    pub fn report(&self) -> FeeratesReport {
        let st = self.read();
        let estimates = st.history[0]
            .iter()
            .zip(&st.smoothed)
            .map(|(raw, smooth)| Estimate {
                blockcount: raw.blocks,
                feerate: raw.feerate,
                smoothed_feerate: smooth.feerate,
            })
            .collect();
        FeeratesReport {
            opening: self.opening(),
            mutual_close: self.mutual_close(),
            unilateral_close: self.unilateral_close(),
            unilateral_anchor_close: self.unilateral_anchor_close(),
            penalty: self.penalty(),
            splice: self.splice(),
            htlc_resolution: self.htlc_resolution(),
            min_acceptable: self.min_acceptable(),
            max_acceptable: self.max_acceptable(),
            floor: st.floor,
            estimates,
        }
    }
}

impl FeeEstimator for Fees {
    fn get_est_sat_per_1000_weight(&self, target: ConfirmationTarget) -> u32 {
        let floor = self.floor();
        let rate = match target {
            ConfirmationTarget::MaximumFeeEstimate => Some(
                self.highest_estimate()
                    .unwrap_or(floor)
                    .saturating_add(MAXIMUM_ESTIMATE_MARGIN),
            ),
            ConfirmationTarget::UrgentOnChainSweep => self.htlc_resolution(),
            ConfirmationTarget::MinAllowedAnchorChannelRemoteFee
            | ConfirmationTarget::MinAllowedNonAnchorChannelRemoteFee => {
                Some(self.min_acceptable())
            }
            ConfirmationTarget::AnchorChannelFee => self.unilateral_anchor_close(),
            ConfirmationTarget::NonAnchorChannelFee => self.unilateral_close(),
            ConfirmationTarget::ChannelCloseMinimum => self.mutual_close(),
            ConfirmationTarget::OutputSpendingFee => self.delayed_to_us(),
        };
        // Unknown (no estimate yet): the floor, which is what regtest backends fake too.
        rate.unwrap_or(floor).max(FEERATE_FLOOR)
    }
}

/// One row of `feerates.estimates` (perkw).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    pub blockcount: u32,
    pub feerate: u32,
    pub smoothed_feerate: u32,
}

/// The `feerates` data, perkw; `None` = unknown (the field is left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeratesReport {
    pub opening: Option<u32>,
    pub mutual_close: Option<u32>,
    pub unilateral_close: Option<u32>,
    pub unilateral_anchor_close: Option<u32>,
    pub penalty: Option<u32>,
    pub splice: Option<u32>,
    /// Not shown under its own name; prices the HTLC transactions.
    pub htlc_resolution: Option<u32>,
    pub min_acceptable: u32,
    pub max_acceptable: u32,
    pub floor: u32,
    pub estimates: Vec<Estimate>,
}

impl FeeratesReport {
    /// The `feerates` result object, field for field as lightningd builds it. `anchors`:
    /// whether we offer anchor channels (prices `unilateral_close_satoshis`).
    pub fn to_json(&self, style: FeerateStyle, anchors: bool) -> Value {
        let mut top = Map::new();
        if self.estimates.is_empty() {
            top.insert(
                "warning_missing_feerates".into(),
                json!("Some fee estimates unavailable: bitcoind startup?"),
            );
        }
        let mut rates = Map::new();
        let named = [
            ("opening", self.opening),
            ("mutual_close", self.mutual_close),
            ("unilateral_close", self.unilateral_close),
            ("unilateral_anchor_close", self.unilateral_anchor_close),
            ("penalty", self.penalty),
            ("splice", self.splice),
        ];
        for (name, rate) in named {
            if let Some(r) = rate {
                rates.insert(name.into(), json!(style.from_perkw(r)));
            }
        }
        rates.insert(
            "min_acceptable".into(),
            json!(style.from_perkw(self.min_acceptable)),
        );
        rates.insert(
            "max_acceptable".into(),
            json!(style.from_perkw(self.max_acceptable)),
        );
        rates.insert("floor".into(), json!(style.from_perkw(self.floor)));
        let estimates: Vec<Value> = self
            .estimates
            .iter()
            .map(|e| {
                json!({
                    "blockcount": e.blockcount,
                    "feerate": style.from_perkw(e.feerate),
                    "smoothed_feerate": style.from_perkw(e.smoothed_feerate),
                })
            })
            .collect();
        rates.insert("estimates".into(), Value::Array(estimates));
        top.insert(style.name().into(), Value::Object(rates));

        if !self.estimates.is_empty() {
            let fee = |rate: Option<u32>, weight: u64| u64::from(rate.unwrap_or(0)) * weight / 1000;
            let unilateral = if anchors {
                fee(self.unilateral_anchor_close, UNILATERAL_ANCHOR_WEIGHT)
            } else {
                fee(self.unilateral_close, UNILATERAL_WEIGHT)
            };
            top.insert(
                "onchain_fee_estimates".into(),
                json!({
                    "opening_channel_satoshis": fee(self.opening, OPENING_WEIGHT),
                    "mutual_close_satoshis": fee(self.mutual_close, MUTUAL_CLOSE_WEIGHT),
                    "unilateral_close_satoshis": unilateral,
                    "unilateral_close_nonanchor_satoshis": fee(self.unilateral_close, UNILATERAL_WEIGHT),
                    "htlc_timeout_satoshis": fee(self.htlc_resolution, HTLC_TIMEOUT_WEIGHT),
                    "htlc_success_satoshis": fee(self.htlc_resolution, HTLC_SUCCESS_WEIGHT),
                }),
            );
        }
        Value::Object(top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(floor: u32, rates: &[(u32, u32)]) -> FeeReply {
        FeeReply {
            feerate_floor: floor,
            feerates: rates
                .iter()
                .map(|&(blocks, feerate)| FeeTarget { blocks, feerate })
                .collect(),
        }
    }

    const STOCK: [(u32, u32); 4] = [(2, 40000), (6, 20000), (12, 12000), (100, 4000)];

    #[test]
    fn converts_to_perkw_and_raises_to_the_floor() {
        let fees = Fees::new(FeeConfig::default());
        assert!(fees.unknown());
        assert!(fees.update(&reply(1000, &[(2, 40000), (6, 1), (100, 0)])));
        assert_eq!(fees.floor(), 253);
        assert_eq!(fees.feerate_for_deadline(2), Some(10000));
        assert_eq!(fees.feerate_for_deadline(6), Some(253));
        // A tiny floor still becomes 253 (nothing less relays).
        fees.update(&reply(1, &STOCK));
        assert_eq!(fees.floor(), 253);
        assert_eq!(perkb_to_perkw(u32::MAX), 1 << 30);
    }

    #[test]
    fn interpolates_between_targets_never_beyond() {
        let fees = Fees::new(FeeConfig::default());
        fees.update(&reply(1000, &STOCK));
        assert_eq!(fees.feerate_for_deadline(1), Some(10000));
        assert_eq!(fees.feerate_for_deadline(4), Some(7500));
        assert_eq!(fees.feerate_for_deadline(12), Some(3000));
        assert_eq!(fees.feerate_for_deadline(56), Some(2000));
        assert_eq!(fees.feerate_for_deadline(1000), Some(1000));
    }

    #[test]
    fn named_rates_follow_lightningd() {
        let fees = Fees::new(FeeConfig::default());
        fees.update(&reply(1000, &STOCK));
        let r = fees.report();
        assert_eq!(r.opening, Some(3000));
        assert_eq!(r.mutual_close, Some(1000));
        assert_eq!(r.unilateral_close, Some(5000));
        assert_eq!(r.unilateral_anchor_close, Some(1250));
        assert_eq!(r.penalty, Some(3000));
        assert_eq!(r.splice, Some(3005));
        assert_eq!(r.min_acceptable, 500);
        assert_eq!(r.max_acceptable, 100_000);
        assert_eq!(r.floor, 253);
        assert_eq!(r.estimates.len(), 4);
        assert_eq!(
            r.estimates[0],
            Estimate {
                blockcount: 2,
                feerate: 10000,
                smoothed_feerate: 10000
            }
        );
    }

    #[test]
    fn unsorted_or_repeated_targets_from_any_backend_are_put_in_order() {
        let fees = Fees::new(FeeConfig::default());
        fees.update(&reply(
            1000,
            &[(100, 4000), (2, 40000), (2, 1), (12, 12000)],
        ));
        assert_eq!(fees.report().estimates.len(), 3);
        assert_eq!(fees.feerate_for_deadline(2), Some(10000));
        assert_eq!(fees.feerate_for_deadline(56), Some(2000));
    }

    #[test]
    fn empty_answer_keeps_the_previous_estimates() {
        let fees = Fees::new(FeeConfig::default());
        fees.update(&reply(1000, &STOCK));
        assert!(!fees.update(&reply(1000, &[])));
        assert_eq!(fees.opening(), Some(3000));
    }

    #[test]
    fn smoothing_moves_towards_new_estimates() {
        let fees = Fees::new(FeeConfig::default());
        fees.update(&reply(1000, &STOCK));
        // 30 s polls: alpha = 1 - 0.1^(1/4) ≈ 0.438.
        fees.update(&reply(
            1000,
            &[(2, 80000), (6, 40000), (12, 24000), (100, 8000)],
        ));
        assert_eq!(fees.feerate_for_deadline(12), Some(6000));
        let smoothed = fees.smoothed_for_deadline(12).unwrap();
        assert!((4300..4400).contains(&smoothed), "{smoothed}");
        // Within 10% it is not smoothed any more.
        for _ in 0..20 {
            fees.update(&reply(
                1000,
                &[(2, 80000), (6, 40000), (12, 24000), (100, 8000)],
            ));
        }
        assert_eq!(fees.smoothed_for_deadline(12), Some(6000));
        // min/max look at the three last polls only.
        assert_eq!(fees.min_acceptable(), 1000);
        assert_eq!(fees.max_acceptable(), 200_000);
    }

    #[test]
    fn ldk_targets_are_never_below_the_floor_and_known_before_estimates() {
        let fees = Fees::new(FeeConfig::default());
        assert_eq!(
            fees.get_est_sat_per_1000_weight(ConfirmationTarget::OutputSpendingFee),
            253
        );
        assert_eq!(
            fees.get_est_sat_per_1000_weight(ConfirmationTarget::MaximumFeeEstimate),
            253 + 2500
        );
        fees.update(&reply(1000, &STOCK));
        assert_eq!(
            fees.get_est_sat_per_1000_weight(ConfirmationTarget::UrgentOnChainSweep),
            5000
        );
        assert_eq!(
            fees.get_est_sat_per_1000_weight(ConfirmationTarget::ChannelCloseMinimum),
            1000
        );
        assert_eq!(
            fees.get_est_sat_per_1000_weight(ConfirmationTarget::AnchorChannelFee),
            1250
        );
        assert_eq!(
            fees.get_est_sat_per_1000_weight(ConfirmationTarget::MaximumFeeEstimate),
            12500
        );
    }

    #[test]
    fn feerates_json_shape() {
        let fees = Fees::new(FeeConfig::default());
        let v = fees.report().to_json(FeerateStyle::PerKw, true);
        assert_eq!(
            v["warning_missing_feerates"],
            "Some fee estimates unavailable: bitcoind startup?"
        );
        assert!(v["perkw"].get("opening").is_none());
        assert_eq!(v["perkw"]["max_acceptable"], u32::MAX);
        assert!(v.get("onchain_fee_estimates").is_none());

        fees.update(&reply(1000, &STOCK));
        let v = fees.report().to_json(FeerateStyle::PerKb, true);
        assert!(v.get("warning_missing_feerates").is_none());
        let keys: Vec<_> = v["perkb"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "opening",
                "mutual_close",
                "unilateral_close",
                "unilateral_anchor_close",
                "penalty",
                "splice",
                "min_acceptable",
                "max_acceptable",
                "floor",
                "estimates"
            ]
        );
        assert_eq!(v["perkb"]["opening"], 12000);
        assert_eq!(v["perkb"]["floor"], 1012);
        assert_eq!(v["perkb"]["estimates"][3]["smoothed_feerate"], 4000);
        let est = &v["onchain_fee_estimates"];
        assert_eq!(est["opening_channel_satoshis"], 3000 * 702 / 1000);
        assert_eq!(est["unilateral_close_satoshis"], 1250 * 1112 / 1000);
        assert_eq!(
            est["unilateral_close_nonanchor_satoshis"],
            5000 * 598 / 1000
        );
        assert_eq!(est["htlc_timeout_satoshis"], 5000 * 663 / 1000);
        assert_eq!(est["htlc_success_satoshis"], 5000 * 703 / 1000);
        assert_eq!(FeerateStyle::parse("perkb"), Some(FeerateStyle::PerKb));
        assert_eq!(FeerateStyle::parse("sat"), None);
    }
}
