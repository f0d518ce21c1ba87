//! `peer_connected`: a plugin may refuse a peer (send a warning and disconnect).
use serde::Serialize;
use serde_json::Value;

use super::{Hook, Step};

#[derive(Debug, Clone, Serialize)]
pub struct PeerInfo {
    pub id: String,
    /// `in` or `out`.
    pub direction: String,
    pub addr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_addr: Option<String>,
    pub features: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeerConnectedPayload {
    pub peer: PeerInfo,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PeerConnectedOutcome {
    Continue,
    /// Send a `warning` with this text (empty if none) and disconnect.
    Disconnect(String),
}

pub struct PeerConnected;

impl Hook for PeerConnected {
    const NAME: &'static str = "peer_connected";
    type Payload = PeerConnectedPayload;
    type Outcome = PeerConnectedOutcome;
    type Acc = ();
    fn start(_: &PeerConnectedPayload) {}
    fn step(_: &mut (), _: &str, r: &Value) -> Step<PeerConnectedOutcome> {
        match r.get("result").and_then(Value::as_str) {
            Some("continue") => Step::Continue,
            Some("disconnect") => Step::Stop(PeerConnectedOutcome::Disconnect(
                r.get("error_message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            )),
            // CLN: fatal(). We let the peer in (continue) and keep running.
            _ => Step::Invalid(format!(
                "Plugin returned an invalid response to the peer_connected hook: {r}"
            )),
        }
    }
    fn finish(_: ()) -> PeerConnectedOutcome {
        PeerConnectedOutcome::Continue
    }
}
