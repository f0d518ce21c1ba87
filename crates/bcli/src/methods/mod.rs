//! The five backend methods, one file each: params as lightningd sends them, results as
//! lightningd reads them (see chain::backend for the other side).

pub mod estimatefees;
pub mod getchaininfo;
pub mod getrawblockbyheight;
pub mod getutxout;
pub mod sendrawtransaction;

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Reads one version's shape of an answer.
pub(crate) type Shape<T> = fn(&Value) -> Result<T, serde_json::Error>;

/// bitcoind's answers change shape between versions; try each version's type (newest
/// first) and keep the first error for the message.
pub(crate) fn first_shape<T>(v: &Value, tries: &[Shape<T>]) -> Result<T, String> {
    let mut first = None;
    for t in tries {
        match t(v) {
            Ok(x) => return Ok(x),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    Err(first.map_or_else(|| "no shape to try".into(), |e| e.to_string()))
}

pub(crate) fn shape<S: DeserializeOwned>(v: &Value) -> Result<S, serde_json::Error> {
    S::deserialize(v)
}
