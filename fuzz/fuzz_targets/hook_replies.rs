//! Every hook's reply parser (`Hook::step`) in the plugins crate, plus the `rpc_command`
//! `replace` validator, fed one plugin `result` each.
//!
//! Input: a JSON value (the `result` member of a plugin's reply to a hook call). Properties:
//! nothing panics; `peer_connected`/`custommsg`/`db_write` accept exactly
//! `{"result":"continue"}` as continue; `db_write` never lets a non-continue reply commit;
//! `rpc_command`'s first modification wins and `replace` validation only ever accepts an
//! object carrying method, params, id and `jsonrpc: "2.0"`; `invoice_payment` claims only
//! on `continue` and an invalid reply fails the payment; `htlc_accepted` resolves only with
//! a 32-byte key, and an invalid reply fails the HTLC.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugins::hooks::{
    validate_replace, CustomMsg, CustomMsgPayload, DbWrite, DbWriteOutcome, DbWritePayload, Hook,
    HtlcAccepted, HtlcAcceptedOutcome, HtlcAcceptedPayload, HtlcInfo, HtlcOnion, InvoicePayment,
    InvoicePaymentInfo, InvoicePaymentOutcome, InvoicePaymentPayload, MethodStatus, PeerConnected,
    PeerConnectedOutcome, PeerConnectedPayload, PeerInfo, RpcCommand, RpcCommandOutcome,
    RpcCommandPayload, Step,
};
use serde_json::Value;

const PLUGIN: &str = "/fuzz/plugins/p";

fn says_continue(r: &Value) -> bool {
    r.get("result").and_then(Value::as_str) == Some("continue")
}

fuzz_target!(|data: &[u8]| {
    let Ok(r) = serde_json::from_slice::<Value>(data) else {
        return;
    };

    // peer_connected
    let payload = PeerConnectedPayload {
        peer: PeerInfo {
            id: "02".repeat(33),
            direction: "in".into(),
            addr: "127.0.0.1:9735".into(),
            remote_addr: None,
            features: String::new(),
        },
    };
    let mut acc = PeerConnected::start(&payload);
    match PeerConnected::step(&mut acc, PLUGIN, &r) {
        Step::Continue => assert!(says_continue(&r)),
        Step::Stop(PeerConnectedOutcome::Disconnect(_)) => {
            assert_eq!(r.get("result").and_then(Value::as_str), Some("disconnect"))
        }
        Step::Stop(PeerConnectedOutcome::Continue) => panic!("stop with continue"),
        Step::Invalid(why) => assert!(!says_continue(&r) && !why.is_empty()),
    }
    let _ = PeerConnected::finish(acc);

    // custommsg
    let payload = CustomMsgPayload {
        payload: "8001".into(),
        peer_id: "02".repeat(33),
        msg_type: 0x8001,
    };
    let mut acc = CustomMsg::start(&payload);
    let _ = CustomMsg::filter_key(&payload);
    match CustomMsg::step(&mut acc, PLUGIN, &r) {
        Step::Continue => assert!(says_continue(&r)),
        Step::Stop(()) => panic!("custommsg never stops the chain"),
        Step::Invalid(_) => assert!(!says_continue(&r)),
    }

    // db_write: only "continue" commits.
    let payload = DbWritePayload {
        data_version: 7,
        writes: vec!["INSERT INTO x VALUES (1);".into()],
    };
    let mut acc = DbWrite::start(&payload);
    match DbWrite::step(&mut acc, PLUGIN, &r) {
        Step::Continue => assert!(says_continue(&r)),
        Step::Stop(DbWriteOutcome::Refused(_)) => assert!(!says_continue(&r)),
        Step::Stop(DbWriteOutcome::Continue) => panic!("db_write stop with continue"),
        Step::Invalid(why) => {
            assert!(!says_continue(&r));
            assert!(matches!(
                DbWrite::on_invalid(&mut acc, &why),
                Some(DbWriteOutcome::Refused(_))
            ));
        }
    }

    // rpc_command: the same reply from two plugins; the first modification wins.
    let req = jsonrpc::parse_request(br#"{"jsonrpc":"2.0","id":1,"method":"m","params":[]}"#)
        .expect("fixed request");
    let payload = RpcCommandPayload::from_request(&req);
    let _ = RpcCommand::filter_key(&payload);
    let mut acc = RpcCommand::start(&payload);
    let first = RpcCommand::step(&mut acc, PLUGIN, &r);
    assert!(
        matches!(first, Step::Continue),
        "one reply never ends the chain"
    );
    let second = RpcCommand::step(&mut acc, PLUGIN, &r);
    let outcome = match second {
        Step::Stop(o) => o,
        Step::Continue => RpcCommand::finish(acc),
        Step::Invalid(_) => panic!("rpc_command logs bad replies and continues"),
    };
    match &outcome {
        RpcCommandOutcome::Continue => {}
        RpcCommandOutcome::Replace(v) => {
            assert_eq!(Some(v), r.get("replace"));
            for status in [
                MethodStatus::Ok,
                MethodStatus::Unknown,
                MethodStatus::Deprecated,
            ] {
                match validate_replace(v, |_| status) {
                    Ok((method, params)) => {
                        assert_eq!(status, MethodStatus::Ok);
                        let o = v.as_object().expect("accepted replace is an object");
                        assert_eq!(o.get("jsonrpc").and_then(Value::as_str), Some("2.0"));
                        assert!(o.contains_key("id"));
                        assert_eq!(o.get("params"), Some(&params));
                        assert_eq!(
                            o.get("method").and_then(Value::as_str).unwrap_or_default(),
                            method
                        );
                    }
                    Err(e) => assert_eq!(e.code, jsonrpc::codes::INVALID_REQUEST),
                }
            }
        }
        RpcCommandOutcome::Result(v) => {
            assert_eq!(Some(v), r.get("return").and_then(|x| x.get("result")))
        }
        RpcCommandOutcome::Error(e) => {
            assert!(e.get("code").is_some() && e.get("message").is_some())
        }
    }

    // invoice_payment: only "continue" lets the payment be claimed.
    let payload = InvoicePaymentPayload {
        payment: InvoicePaymentInfo {
            label: "l".into(),
            preimage: "00".repeat(32),
            msat: 1000,
            extratlvs: None,
        },
    };
    let mut acc = InvoicePayment::start(&payload);
    match InvoicePayment::step(&mut acc, PLUGIN, &r) {
        Step::Continue => assert!(says_continue(&r)),
        Step::Stop(InvoicePaymentOutcome::Claim) => panic!("stop with claim"),
        Step::Stop(InvoicePaymentOutcome::Reject) => {
            assert_eq!(r.get("result").and_then(Value::as_str), Some("reject"))
        }
        Step::Stop(InvoicePaymentOutcome::Fail(m)) => assert!(m.len() >= 2),
        Step::Invalid(why) => {
            assert!(!says_continue(&r));
            assert_eq!(
                InvoicePayment::on_invalid(&mut acc, &why),
                Some(InvoicePaymentOutcome::Reject)
            );
        }
    }

    // htlc_accepted at the final hop.
    let payload = HtlcAcceptedPayload {
        peer_id: None,
        onion: HtlcOnion {
            payload: None,
            kind: "tlv",
            forward_msat: 1000,
            outgoing_cltv_value: 100,
            total_msat: Some(1000),
            payment_secret: None,
            payment_metadata: None,
            shared_secret: None,
        },
        htlc: HtlcInfo {
            short_channel_id: "1x1x1".into(),
            id: 0,
            amount_msat: 1000,
            cltv_expiry: 110,
            cltv_expiry_relative: 10,
            payment_hash: "00".repeat(32),
            extra_tlvs: None,
        },
    };
    let mut acc = HtlcAccepted::start(&payload);
    match HtlcAccepted::step(&mut acc, PLUGIN, &r) {
        Step::Continue => assert!(says_continue(&r)),
        Step::Stop(HtlcAcceptedOutcome::Continue { .. }) => panic!("stop with continue"),
        Step::Stop(HtlcAcceptedOutcome::Resolve(_)) => {
            assert_eq!(r.get("result").and_then(Value::as_str), Some("resolve"))
        }
        Step::Stop(HtlcAcceptedOutcome::Fail(m)) => assert!(m.len() >= 2),
        Step::Stop(HtlcAcceptedOutcome::Unsupported(why)) => assert!(!why.is_empty()),
        Step::Invalid(why) => assert!(matches!(
            HtlcAccepted::on_invalid(&mut acc, &why),
            Some(HtlcAcceptedOutcome::Unsupported(_))
        )),
    }
});
