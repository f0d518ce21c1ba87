//! `openchannel`: a peer offers a channel it funds; plugins accept it (optionally setting
//! our close address, the confirmations we require, and the reserve) or reject it with a
//! message the opener sees (reference §5.1).
use serde::Serialize;
use serde_json::Value;

use super::{Hook, Step};

/// `channel_type` as Core Lightning prints it.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelTypeJson {
    pub bits: Vec<u32>,
    pub names: Vec<String>,
}

/// The offer, as lightningd describes it (fields LDK does not expose are left out: see
/// the README).
#[derive(Debug, Clone, Serialize)]
pub struct OpenChannelInfo {
    pub id: String,
    pub funding_msat: u64,
    pub push_msat: u64,
    pub dust_limit_msat: u64,
    pub max_htlc_value_in_flight_msat: u64,
    /// Not in LDK's `OpenChannelRequest`: left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_reserve_msat: Option<u64>,
    pub htlc_minimum_msat: u64,
    pub feerate_per_kw: u32,
    pub to_self_delay: u16,
    pub max_accepted_htlcs: u16,
    pub channel_flags: u8,
    pub channel_type: ChannelTypeJson,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpenChannelPayload {
    pub openchannel: OpenChannelInfo,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct OpenChannelAccept {
    /// Where our side of a close goes (an address, as the plugin gave it).
    pub close_to: Option<String>,
    pub mindepth: Option<u32>,
    pub reserve_sat: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OpenChannelOutcome {
    Continue(OpenChannelAccept),
    /// Refuse; the opener gets `You gave bad parameters: <message>`.
    Reject(String),
}

pub struct OpenChannel;

impl Hook for OpenChannel {
    const NAME: &'static str = "openchannel";
    type Payload = OpenChannelPayload;
    type Outcome = OpenChannelOutcome;
    type Acc = OpenChannelAccept;
    fn start(_: &OpenChannelPayload) -> OpenChannelAccept {
        OpenChannelAccept::default()
    }
    fn step(acc: &mut OpenChannelAccept, plugin: &str, r: &Value) -> Step<OpenChannelOutcome> {
        match r.get("result").and_then(Value::as_str) {
            Some("continue") => {
                if let Some(addr) = r.get("close_to").and_then(Value::as_str) {
                    if acc.close_to.is_some() {
                        // The first plugin's close_to wins; this plugin's other values
                        // are skipped too (as lightningd does).
                        tracing::error!(
                            "openchannel hook: plugin {plugin} tried to change the close_to address, ignoring its reply"
                        );
                        return Step::Continue;
                    }
                    acc.close_to = Some(addr.to_string());
                }
                if let Some(d) = r.get("mindepth").and_then(Value::as_u64) {
                    acc.mindepth = u32::try_from(d).ok();
                }
                if let Some(s) = r.get("reserve").and_then(reserve_sat) {
                    acc.reserve_sat = Some(s);
                }
                Step::Continue
            }
            Some("reject") => {
                if r.get("close_to").is_some() {
                    return Step::Invalid(
                        "Plugin rejected openchannel but also set close_to".into(),
                    );
                }
                Step::Stop(OpenChannelOutcome::Reject(
                    r.get("error_message")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                ))
            }
            Some(other) => Step::Invalid(format!(
                "Plugin returned an invalid result for the openchannel hook: {other}"
            )),
            None => Step::Invalid(format!(
                "Plugin returned an invalid response to the openchannel hook: {r}"
            )),
        }
    }
    /// CLN: fatal(). boltd refuses the channel (the safe side) and keeps running.
    fn on_invalid(_: &mut OpenChannelAccept, _why: &str) -> Option<OpenChannelOutcome> {
        Some(OpenChannelOutcome::Reject(String::new()))
    }
    fn finish(acc: OpenChannelAccept) -> OpenChannelOutcome {
        OpenChannelOutcome::Continue(acc)
    }
}

/// `reserve` as sats: a number, or a string like `"1000sat"`/`"1000000msat"`/`"1000"`.
fn reserve_sat(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let s = v.as_str()?;
    if let Some(m) = s.strip_suffix("msat") {
        return m.parse::<u64>().ok().map(|m| m / 1000);
    }
    s.strip_suffix("sat").unwrap_or(s).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn continue_collects_close_to_mindepth_and_reserve() {
        let mut acc = OpenChannel::start(&payload());
        let s = OpenChannel::step(
            &mut acc,
            "a",
            &json!({"result": "continue", "close_to": "bcrt1qxyz", "mindepth": 0, "reserve": "2000sat"}),
        );
        assert_eq!(s, Step::Continue);
        assert_eq!(acc.close_to.as_deref(), Some("bcrt1qxyz"));
        assert_eq!(acc.mindepth, Some(0));
        assert_eq!(acc.reserve_sat, Some(2000));
        // A second close_to: the plugin's whole reply is skipped.
        let s = OpenChannel::step(
            &mut acc,
            "b",
            &json!({"result": "continue", "close_to": "other", "mindepth": 5}),
        );
        assert_eq!(s, Step::Continue);
        assert_eq!(acc.mindepth, Some(0));
    }

    #[test]
    fn reject_stops_with_the_message_and_reject_with_close_to_is_invalid() {
        let mut acc = OpenChannel::start(&payload());
        assert_eq!(
            OpenChannel::step(
                &mut acc,
                "a",
                &json!({"result": "reject", "error_message": "no"})
            ),
            Step::Stop(OpenChannelOutcome::Reject("no".into()))
        );
        assert!(matches!(
            OpenChannel::step(&mut acc, "a", &json!({"result": "reject", "close_to": "x"})),
            Step::Invalid(_)
        ));
        assert!(matches!(
            OpenChannel::step(&mut acc, "a", &json!({"result": "maybe"})),
            Step::Invalid(_)
        ));
        assert_eq!(
            OpenChannel::on_invalid(&mut acc, "x"),
            Some(OpenChannelOutcome::Reject(String::new()))
        );
    }

    fn payload() -> OpenChannelPayload {
        OpenChannelPayload {
            openchannel: OpenChannelInfo {
                id: "02".into(),
                funding_msat: 1,
                push_msat: 0,
                dust_limit_msat: 0,
                max_htlc_value_in_flight_msat: 0,
                channel_reserve_msat: None,
                htlc_minimum_msat: 0,
                feerate_per_kw: 253,
                to_self_delay: 144,
                max_accepted_htlcs: 483,
                channel_flags: 1,
                channel_type: ChannelTypeJson {
                    bits: vec![],
                    names: vec![],
                },
            },
        }
    }
}
