//! `htlc_accepted` at the final hop: a payment to us (all its parts) has arrived and LDK
//! can claim it; plugins continue (the invoice checks and `invoice_payment` follow),
//! resolve it with a preimage, or fail it (reference §5.2). LDK cannot do everything
//! CLN lets a plugin ask for here (replace the onion `payload`, send a custom
//! `failure_onion`): such a reply is refused with a log line and the HTLC failed, the
//! safe side. `forward_to` and `extra_tlvs` concern forwards and are ignored here.
use serde::Serialize;
use serde_json::Value;

use super::{Hook, Step};

/// The `onion` object (final hop: no `short_channel_id`, `next_onion` or `next_node_id`).
#[derive(Debug, Clone, Serialize)]
pub struct HtlcOnion {
    /// The per-hop payload with its bigsize length prefix, hex (when LDK exposes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub forward_msat: u64,
    pub outgoing_cltv_value: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_msat: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_metadata: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_secret: Option<String>,
}

/// The `htlc` object.
#[derive(Debug, Clone, Serialize)]
pub struct HtlcInfo {
    pub short_channel_id: String,
    pub id: u64,
    pub amount_msat: u64,
    pub cltv_expiry: u32,
    /// `cltv_expiry` minus our height: negative once past (CLN's schema says u32; its code
    /// prints a signed number).
    pub cltv_expiry_relative: i64,
    pub payment_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_tlvs: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HtlcAcceptedPayload {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_id: Option<String>,
    pub onion: HtlcOnion,
    pub htlc: HtlcInfo,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HtlcAcceptedOutcome {
    /// Everyone continued: the invoice checks decide (with `invoice_msat` if a plugin set
    /// one: the amount the invoice check expects).
    Continue { invoice_msat: Option<u64> },
    /// Claim with this preimage (the daemon checks it matches the hash: a mismatch fails
    /// the HTLC with `incorrect_or_unknown_payment_details`).
    Resolve([u8; 32]),
    /// Fail with this BOLT 4 failure message.
    Fail(Vec<u8>),
    /// The plugin asked for what LDK cannot do (named here): fail the HTLC.
    Unsupported(String),
}

/// What the chain carries: `invoice_msat` persists for the next plugins.
#[derive(Debug, Default)]
pub struct HtlcAcceptedAcc {
    pub invoice_msat: Option<u64>,
}

pub struct HtlcAccepted;

fn msat(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_str()
            .and_then(|s| s.strip_suffix("msat").unwrap_or(s).parse().ok())
    })
}

/// What an `htlc_accepted` reply asks for, read the same way at the final hop and on a
/// forward (each then decides what it can do of it).
pub(crate) enum Reply {
    Continue,
    /// `payment_key`, if it is 32 bytes of hex.
    Resolve(Option<[u8; 32]>),
    /// `fail` with a `failure_onion`.
    FailOnion,
    /// `fail` with a `failure_message` (at least its 2-byte code).
    Fail(Vec<u8>),
}

/// Reads `result` (and what goes with it) of a reply; `Err`: the reply is malformed.
pub(crate) fn reply(r: &Value) -> Result<Reply, String> {
    match r.get("result").and_then(Value::as_str) {
        Some("continue") => Ok(Reply::Continue),
        Some("resolve") => Ok(Reply::Resolve(
            r.get("payment_key")
                .and_then(Value::as_str)
                .and_then(|h| hex::decode(h).ok())
                .and_then(|b| <[u8; 32]>::try_from(b).ok()),
        )),
        Some("fail") if r.get("failure_onion").is_some() => Ok(Reply::FailOnion),
        Some("fail") => match r.get("failure_message").and_then(Value::as_str) {
            Some(h) => match hex::decode(h) {
                Ok(m) if m.len() >= 2 => Ok(Reply::Fail(m)),
                _ => Err(format!("Bad failure_message in htlc_accepted hook: {r}")),
            },
            None => Err(format!(
                "htlc_accepted hook fail without failure_message or failure_onion: {r}"
            )),
        },
        Some(other) => Err(format!("Bad result '{other}' in htlc_accepted hook: {r}")),
        None => Err(format!("htlc_accepted hook reply without result: {r}")),
    }
}

impl Hook for HtlcAccepted {
    const NAME: &'static str = "htlc_accepted";
    type Payload = HtlcAcceptedPayload;
    type Outcome = HtlcAcceptedOutcome;
    type Acc = HtlcAcceptedAcc;
    fn start(_: &HtlcAcceptedPayload) -> HtlcAcceptedAcc {
        HtlcAcceptedAcc::default()
    }
    fn step(acc: &mut HtlcAcceptedAcc, plugin: &str, r: &Value) -> Step<HtlcAcceptedOutcome> {
        if let Some(v) = r.get("invoice_msat") {
            match msat(v) {
                Some(m) => acc.invoice_msat = Some(m),
                None => {
                    return Step::Invalid(format!("Bad invoice_msat in htlc_accepted hook: {r}"))
                }
            }
        }
        if r.get("payload").is_some() {
            let why = format!(
                "plugin {plugin} replaced the onion payload (htlc_accepted), which boltd on LDK cannot do: failing the HTLC"
            );
            tracing::warn!("{why}");
            return Step::Stop(HtlcAcceptedOutcome::Unsupported(why));
        }
        match reply(r) {
            Ok(Reply::Continue) => Step::Continue,
            Ok(Reply::Resolve(Some(k))) => Step::Stop(HtlcAcceptedOutcome::Resolve(k)),
            Ok(Reply::Resolve(None)) => Step::Invalid(format!(
                "Bad payment_key in htlc_accepted hook resolve: {r}"
            )),
            Ok(Reply::FailOnion) => {
                let why = format!(
                    "plugin {plugin} sent a failure_onion (htlc_accepted), which boltd on LDK cannot send: failing the HTLC with incorrect_or_unknown_payment_details"
                );
                tracing::warn!("{why}");
                Step::Stop(HtlcAcceptedOutcome::Unsupported(why))
            }
            Ok(Reply::Fail(m)) => Step::Stop(HtlcAcceptedOutcome::Fail(m)),
            Err(why) => Step::Invalid(why),
        }
    }
    /// CLN: fatal(). boltd fails the HTLC (the payer keeps the money) and keeps running.
    fn on_invalid(_: &mut HtlcAcceptedAcc, why: &str) -> Option<HtlcAcceptedOutcome> {
        Some(HtlcAcceptedOutcome::Unsupported(why.to_string()))
    }
    fn finish(acc: HtlcAcceptedAcc) -> HtlcAcceptedOutcome {
        HtlcAcceptedOutcome::Continue {
            invoice_msat: acc.invoice_msat,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(r: Value) -> (Step<HtlcAcceptedOutcome>, HtlcAcceptedAcc) {
        let mut acc = HtlcAcceptedAcc::default();
        let s = HtlcAccepted::step(&mut acc, "p.py", &r);
        (s, acc)
    }

    #[test]
    fn final_hop_payload_in_clns_shape() {
        let p = HtlcAcceptedPayload {
            peer_id: Some("02aa".into()),
            onion: HtlcOnion {
                payload: None,
                kind: "tlv",
                forward_msat: 1000,
                outgoing_cltv_value: 150,
                total_msat: Some(3000),
                payment_secret: Some("11".repeat(32)),
                payment_metadata: None,
                shared_secret: None,
            },
            htlc: HtlcInfo {
                short_channel_id: "103x1x0".into(),
                id: 7,
                amount_msat: 1001,
                cltv_expiry: 160,
                cltv_expiry_relative: -2,
                payment_hash: "22".repeat(32),
                extra_tlvs: None,
            },
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({
                "peer_id": "02aa",
                "onion": {"type": "tlv", "forward_msat": 1000, "outgoing_cltv_value": 150,
                          "total_msat": 3000, "payment_secret": "11".repeat(32)},
                "htlc": {"short_channel_id": "103x1x0", "id": 7, "amount_msat": 1001,
                         "cltv_expiry": 160, "cltv_expiry_relative": -2,
                         "payment_hash": "22".repeat(32)},
            })
        );
    }

    #[test]
    fn replies() {
        assert_eq!(step(json!({"result": "continue"})).0, Step::Continue);
        let (s, acc) = step(json!({"result": "continue", "invoice_msat": "5000msat"}));
        assert_eq!((s, acc.invoice_msat), (Step::Continue, Some(5000)));
        assert_eq!(
            HtlcAccepted::finish(acc),
            HtlcAcceptedOutcome::Continue {
                invoice_msat: Some(5000)
            }
        );
        assert_eq!(
            step(json!({"result": "resolve", "payment_key": "33".repeat(32)})).0,
            Step::Stop(HtlcAcceptedOutcome::Resolve([0x33; 32]))
        );
        assert!(matches!(
            step(json!({"result": "resolve", "payment_key": "33"})).0,
            Step::Invalid(_)
        ));
        assert!(matches!(
            step(json!({"result": "resolve"})).0,
            Step::Invalid(_)
        ));
        assert_eq!(
            step(json!({"result": "fail", "failure_message": "2002"})).0,
            Step::Stop(HtlcAcceptedOutcome::Fail(vec![0x20, 0x02]))
        );
        assert!(matches!(
            step(json!({"result": "fail"})).0,
            Step::Invalid(_)
        ));
        assert!(matches!(
            step(json!({"result": "fail", "failure_onion": "00"})).0,
            Step::Stop(HtlcAcceptedOutcome::Unsupported(m)) if m.contains("failure_onion")
        ));
        assert!(matches!(
            step(json!({"result": "continue", "payload": "00"})).0,
            Step::Stop(HtlcAcceptedOutcome::Unsupported(m)) if m.contains("payload")
        ));
        // Forward-only fields mean nothing at the final hop.
        assert_eq!(
            step(json!({"result": "continue", "forward_to": "00".repeat(32), "extra_tlvs": "00"}))
                .0,
            Step::Continue
        );
        assert!(matches!(
            step(json!({"result": "maybe"})).0,
            Step::Invalid(_)
        ));
        assert!(matches!(step(json!({})).0, Step::Invalid(_)));
        assert!(matches!(
            step(json!({"result": "continue", "invoice_msat": "lots"})).0,
            Step::Invalid(_)
        ));
        assert!(matches!(
            HtlcAccepted::on_invalid(&mut HtlcAcceptedAcc::default(), "x"),
            Some(HtlcAcceptedOutcome::Unsupported(_))
        ));
    }
}
