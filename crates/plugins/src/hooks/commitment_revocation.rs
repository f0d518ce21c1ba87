//! `commitment_revocation`: the peer revoked a commitment that had a `to_local` output;
//! plugins (watchtower clients) get the penalty transaction for it (reference §5.4). The
//! reply is ignored, as in Core Lightning: every plugin of the chain is called.
use serde::Serialize;
use serde_json::Value;

use super::{Hook, Step};

#[derive(Debug, Clone, Serialize)]
pub struct CommitmentRevocationPayload {
    /// The revoked commitment (display order).
    pub commitment_txid: String,
    /// Hex of the signed transaction spending its `to_local` to our wallet.
    pub penalty_tx: String,
    pub channel_id: String,
    /// 0 for the channel's first commitment.
    pub commitnum: u64,
}

pub struct CommitmentRevocation;

impl Hook for CommitmentRevocation {
    const NAME: &'static str = "commitment_revocation";
    type Payload = CommitmentRevocationPayload;
    type Outcome = ();
    type Acc = ();
    fn start(_: &CommitmentRevocationPayload) {}
    fn step(_: &mut (), _: &str, _: &Value) -> Step<()> {
        Step::Continue
    }
    fn finish(_: ()) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_has_cln_field_names_and_any_reply_continues() {
        let p = CommitmentRevocationPayload {
            commitment_txid: "aa".repeat(32),
            penalty_tx: "0200".into(),
            channel_id: "bb".repeat(32),
            commitnum: 3,
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"commitment_txid": "aa".repeat(32), "penalty_tx": "0200",
                "channel_id": "bb".repeat(32), "commitnum": 3})
        );
        for r in [
            serde_json::json!({"result": "continue"}),
            serde_json::json!({"result": "whatever"}),
            serde_json::json!(null),
        ] {
            assert_eq!(CommitmentRevocation::step(&mut (), "p", &r), Step::Continue);
        }
    }
}
