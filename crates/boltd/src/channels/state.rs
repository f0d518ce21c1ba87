//! Core Lightning's channel states and causes (reference §3.6), derived from LDK's view of
//! each channel, and the history `listpeerchannels` shows.

use lightning::chain::channelmonitor::Balance;
use lightning::ln::channel_state::{ChannelDetails, ChannelShutdownState};
use serde_json::{json, Value};

pub const OPENINGD: &str = "OPENINGD";
pub const AWAITING_LOCKIN: &str = "CHANNELD_AWAITING_LOCKIN";
pub const NORMAL: &str = "CHANNELD_NORMAL";
pub const SHUTTING_DOWN: &str = "CHANNELD_SHUTTING_DOWN";
pub const SIGEXCHANGE: &str = "CLOSINGD_SIGEXCHANGE";
pub const CLOSING_COMPLETE: &str = "CLOSINGD_COMPLETE";
pub const AWAITING_UNILATERAL: &str = "AWAITING_UNILATERAL";
pub const FUNDING_SPEND_SEEN: &str = "FUNDING_SPEND_SEEN";
pub const ONCHAIN: &str = "ONCHAIN";
pub const CLOSED: &str = "CLOSED";

/// The state of a channel LDK still lists.
pub fn live_state(c: &ChannelDetails) -> &'static str {
    match c.channel_shutdown_state {
        Some(ChannelShutdownState::ShutdownInitiated)
        | Some(ChannelShutdownState::ResolvingHTLCs) => SHUTTING_DOWN,
        Some(ChannelShutdownState::NegotiatingClosingFee) => SIGEXCHANGE,
        Some(ChannelShutdownState::ShutdownComplete) => CLOSING_COMPLETE,
        _ if c.is_channel_ready => NORMAL,
        _ if c.funding_txo.is_some() && c.confirmations_required.is_some() => AWAITING_LOCKIN,
        _ => OPENINGD,
    }
}

/// The state of a closed channel from its monitor's balances: the funding output not yet
/// spent on chain (`None`: the state it closed into stands), spent (`ONCHAIN`), or the
/// monitor gone (`CLOSED`).
pub fn onchain_state(balances: Option<&[Balance]>) -> Option<&'static str> {
    match balances {
        None => Some(CLOSED),
        Some(b)
            if b.iter()
                .any(|b| matches!(b, Balance::ClaimableOnChannelClose { .. })) =>
        {
            None
        }
        Some(_) => Some(ONCHAIN),
    }
}

/// Whether a state is before the channel was committed (no funding broadcast).
pub fn is_opening(state: &str) -> bool {
    state == OPENINGD
}

/// Open states count as active or inactive in `getinfo`; closing ones as neither.
pub fn is_open(state: &str) -> bool {
    matches!(state, NORMAL | SHUTTING_DOWN | SIGEXCHANGE)
}

/// One `state_changes` entry.
#[derive(Debug, Clone)]
pub struct Change {
    pub timestamp: String,
    pub old_state: Option<&'static str>,
    pub new_state: &'static str,
    pub cause: &'static str,
    pub message: Option<String>,
}

impl Change {
    pub fn to_json(&self) -> Value {
        json!({
            "timestamp": self.timestamp,
            "old_state": self.old_state.unwrap_or("CHANNELD_AWAITING_LOCKIN"),
            "new_state": self.new_state,
            "cause": self.cause,
            "message": self.message.clone().unwrap_or_default(),
        })
    }
}

/// `YYYY-mm-ddTHH:MM:SS.mmmZ`.
pub fn timestamp() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_states_are_the_ones_getinfo_counts() {
        assert!(is_open(NORMAL));
        assert!(!is_open(AWAITING_LOCKIN));
        assert!(!is_open(ONCHAIN));
        assert_eq!(onchain_state(None), Some(CLOSED));
        assert_eq!(onchain_state(Some(&[])), Some(ONCHAIN));
    }
}
