//! `custommsg`: an incoming custom message, offered to the chain (filtered by type).
use serde::Serialize;
use serde_json::Value;

use super::{Hook, Step};
use crate::manifest::Filter;

#[derive(Debug, Clone, Serialize)]
pub struct CustomMsgPayload {
    /// Hex of the whole message including the 2-byte type.
    pub payload: String,
    pub peer_id: String,
    #[serde(skip)]
    pub msg_type: u16,
}

pub struct CustomMsg;

impl Hook for CustomMsg {
    const NAME: &'static str = "custommsg";
    type Payload = CustomMsgPayload;
    type Outcome = ();
    type Acc = ();
    fn start(_: &CustomMsgPayload) {}
    fn filter_key(p: &CustomMsgPayload) -> Option<Filter> {
        Some(Filter::Type(u64::from(p.msg_type)))
    }
    fn step(_: &mut (), _: &str, r: &Value) -> Step<()> {
        match r.get("result").and_then(Value::as_str) {
            Some("continue") => Step::Continue,
            // CLN: fatal(). The message was already delivered; continue.
            _ => Step::Invalid(format!(
                "Plugin returned an invalid response to the custommsg hook: {r}"
            )),
        }
    }
    fn finish(_: ()) {}
}
