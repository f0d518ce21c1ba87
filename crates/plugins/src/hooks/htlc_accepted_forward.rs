//! `htlc_accepted` for an HTLC we are asked to forward (reference §5.2): same hook, same
//! chain, but what a plugin may ask differs from the final hop. LDK holds the intercepted
//! HTLC and can only forward it (over any channel: `forward_to`) or fail it with one code
//! (`unknown_next_peer`), so `fail` is honoured with that code, and what LDK cannot do on a
//! forward (`resolve` with a preimage, replacing the onion `payload` or the `extra_tlvs`)
//! is refused with a log line naming the plugin, and the HTLC failed: the safe side.
use serde::Serialize;
use serde_json::Value;

use super::htlc_accepted::{reply, HtlcInfo, Reply};
use super::{Hook, Step};

/// The `onion` object of a forward (what LDK exposes of it).
#[derive(Debug, Clone, Serialize)]
pub struct ForwardOnion {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub short_channel_id: String,
    pub forward_msat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outgoing_cltv_value: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HtlcForwardPayload {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_id: Option<String>,
    pub onion: ForwardOnion,
    /// The channel we would use (absent when the short channel id is not ours).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_to: Option<String>,
    pub htlc: HtlcInfo,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HtlcForwardOutcome {
    /// Forward, over `forward_to` if a plugin named a channel.
    Continue { forward_to: Option<[u8; 32]> },
    /// Fail back (the message the plugin wanted; LDK sends its own code).
    Fail(Vec<u8>),
    /// The plugin asked for what LDK cannot do on a forward (named here): fail the HTLC.
    Unsupported(String),
}

/// `forward_to` persists for the next plugins.
#[derive(Debug, Default)]
pub struct HtlcForwardAcc {
    pub forward_to: Option<[u8; 32]>,
}

pub struct HtlcAcceptedForward;

fn refuse(plugin: &str, what: &str) -> Step<HtlcForwardOutcome> {
    let why = format!(
        "plugin {plugin} asked to {what} on a forwarded HTLC (htlc_accepted), which boltd on LDK cannot do: failing the HTLC"
    );
    tracing::warn!("{why}");
    Step::Stop(HtlcForwardOutcome::Unsupported(why))
}

impl Hook for HtlcAcceptedForward {
    const NAME: &'static str = "htlc_accepted";
    type Payload = HtlcForwardPayload;
    type Outcome = HtlcForwardOutcome;
    type Acc = HtlcForwardAcc;
    fn start(_: &HtlcForwardPayload) -> HtlcForwardAcc {
        HtlcForwardAcc::default()
    }
    fn step(acc: &mut HtlcForwardAcc, plugin: &str, r: &Value) -> Step<HtlcForwardOutcome> {
        if let Some(v) = r.get("forward_to") {
            match v
                .as_str()
                .and_then(|h| hex::decode(h).ok())
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
            {
                Some(c) => acc.forward_to = Some(c),
                None => return Step::Invalid(format!("Bad forward_to in htlc_accepted hook: {r}")),
            }
        }
        if r.get("payload").is_some() {
            return refuse(plugin, "replace the onion payload");
        }
        if r.get("extra_tlvs").is_some() {
            return refuse(plugin, "replace the update_add_htlc TLVs");
        }
        match reply(r) {
            Ok(Reply::Continue) => Step::Continue,
            Ok(Reply::Resolve(_)) => refuse(plugin, "resolve with a preimage"),
            Ok(Reply::FailOnion) => Step::Stop(HtlcForwardOutcome::Fail(Vec::new())),
            Ok(Reply::Fail(m)) => Step::Stop(HtlcForwardOutcome::Fail(m)),
            Err(why) => Step::Invalid(why),
        }
    }
    /// CLN: fatal(). boltd fails the HTLC and keeps running.
    fn on_invalid(_: &mut HtlcForwardAcc, why: &str) -> Option<HtlcForwardOutcome> {
        Some(HtlcForwardOutcome::Unsupported(why.to_string()))
    }
    fn finish(acc: HtlcForwardAcc) -> HtlcForwardOutcome {
        HtlcForwardOutcome::Continue {
            forward_to: acc.forward_to,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(r: Value) -> (Step<HtlcForwardOutcome>, HtlcForwardAcc) {
        let mut acc = HtlcForwardAcc::default();
        let s = HtlcAcceptedForward::step(&mut acc, "p.py", &r);
        (s, acc)
    }

    #[test]
    fn forward_payload_in_clns_shape() {
        let p = HtlcForwardPayload {
            peer_id: Some("02aa".into()),
            onion: ForwardOnion {
                kind: "tlv",
                short_channel_id: "110x1x0".into(),
                forward_msat: 1000,
                outgoing_cltv_value: Some(150),
            },
            forward_to: Some("33".repeat(32)),
            htlc: HtlcInfo {
                short_channel_id: "103x1x0".into(),
                id: 7,
                amount_msat: 1001,
                cltv_expiry: 190,
                cltv_expiry_relative: 40,
                payment_hash: "22".repeat(32),
                extra_tlvs: None,
            },
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({
                "peer_id": "02aa",
                "onion": {"type": "tlv", "short_channel_id": "110x1x0", "forward_msat": 1000,
                          "outgoing_cltv_value": 150},
                "forward_to": "33".repeat(32),
                "htlc": {"short_channel_id": "103x1x0", "id": 7, "amount_msat": 1001,
                         "cltv_expiry": 190, "cltv_expiry_relative": 40,
                         "payment_hash": "22".repeat(32)},
            })
        );
    }

    #[test]
    fn replies() {
        assert_eq!(step(json!({"result": "continue"})).0, Step::Continue);
        let (s, acc) = step(json!({"result": "continue", "forward_to": "44".repeat(32)}));
        assert_eq!((s, acc.forward_to), (Step::Continue, Some([0x44; 32])));
        assert_eq!(
            HtlcAcceptedForward::finish(acc),
            HtlcForwardOutcome::Continue {
                forward_to: Some([0x44; 32])
            }
        );
        assert!(matches!(
            step(json!({"result": "continue", "forward_to": "44"})).0,
            Step::Invalid(_)
        ));
        assert_eq!(
            step(json!({"result": "fail", "failure_message": "2002"})).0,
            Step::Stop(HtlcForwardOutcome::Fail(vec![0x20, 0x02]))
        );
        assert_eq!(
            step(json!({"result": "fail", "failure_onion": "00ff"})).0,
            Step::Stop(HtlcForwardOutcome::Fail(vec![]))
        );
        assert!(matches!(
            step(json!({"result": "fail"})).0,
            Step::Invalid(_)
        ));
        for r in [
            json!({"result": "resolve", "payment_key": "33".repeat(32)}),
            json!({"result": "continue", "payload": "00"}),
            json!({"result": "continue", "extra_tlvs": "00"}),
        ] {
            assert!(matches!(
                step(r).0,
                Step::Stop(HtlcForwardOutcome::Unsupported(m)) if m.contains("p.py")
            ));
        }
        assert!(matches!(
            step(json!({"result": "maybe"})).0,
            Step::Invalid(_)
        ));
        assert!(matches!(step(json!({})).0, Step::Invalid(_)));
    }
}
