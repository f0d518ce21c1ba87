//! `db_write`: every database write is shown to all registered plugins at once before it
//! commits; anything but `continue` from any of them refuses the write.
use serde::Serialize;
use serde_json::Value;

use super::{Hook, Step};

#[derive(Debug, Clone, Serialize)]
pub struct DbWritePayload {
    pub data_version: u32,
    pub writes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DbWriteOutcome {
    /// Every plugin said continue: commit.
    Continue,
    /// Some plugin did not: do not commit (reason for the log).
    Refused(String),
}

pub struct DbWrite;

impl Hook for DbWrite {
    const NAME: &'static str = "db_write";
    const PARALLEL: bool = true;
    type Payload = DbWritePayload;
    type Outcome = DbWriteOutcome;
    type Acc = ();
    fn start(_: &DbWritePayload) {}
    fn step(_: &mut (), plugin: &str, r: &Value) -> Step<DbWriteOutcome> {
        match r.get("result").and_then(Value::as_str) {
            Some("continue") => Step::Continue,
            // CLN: fatal(). Refusing the write is the safe side.
            Some(_) => Step::Stop(DbWriteOutcome::Refused(format!(
                "Plugin '{plugin}' returned failed db_write: {r}."
            ))),
            None => Step::Invalid(format!(
                "Plugin '{plugin}' returned an invalid response to the db_write hook: {r}"
            )),
        }
    }
    fn on_invalid(_: &mut (), why: &str) -> Option<DbWriteOutcome> {
        Some(DbWriteOutcome::Refused(why.to_string()))
    }
    fn on_died(_: &mut (), plugin: &str) -> Option<DbWriteOutcome> {
        // CLN: fatal (the fabricated -4 has no result). Refuse instead.
        Some(DbWriteOutcome::Refused(format!(
            "Plugin '{plugin}' died during the db_write hook"
        )))
    }
    fn finish(_: ()) -> DbWriteOutcome {
        DbWriteOutcome::Continue
    }
}
