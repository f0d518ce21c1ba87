//! `sendcustommsg`'s parameter checks (`boltd::commands::sendcustommsg::check_request`),
//! everything that runs before the peer lookup.
//!
//! Input: the `params` member's raw JSON text (array or object form), pasted into a request
//! the way the RPC socket receives it. Properties: nothing panics; a refusal is "invalid
//! params" (-32602), or "invalid request" (-32600) only for an internal message type; an
//! accepted message is 2..=65535 bytes, of a type the node does not manage itself, and is
//! exactly the hex the caller gave (a string, or an all-digit number's characters).
#![no_main]

use boltd::commands::sendcustommsg::check_request;
use jsonrpc::codes;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(params) = std::str::from_utf8(data) else {
        return;
    };
    let text = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"sendcustommsg","params":{params}}}"#);
    let Ok(req) = jsonrpc::parse_request(text.as_bytes()) else {
        return;
    };
    match check_request(&req) {
        Err(e) => {
            if e.code == codes::INVALID_REQUEST {
                assert!(
                    e.message.starts_with("Cannot send messages of type "),
                    "{e:?}"
                );
            } else {
                assert_eq!(e.code, codes::INVALID_PARAMS, "{e:?}");
            }
        }
        Ok((id, msg)) => {
            assert!((2..=net::MAX_MESSAGE_LEN).contains(&msg.len()));
            let ty = u16::from_be_bytes([msg[0], msg[1]]);
            assert!(
                net::internal_type_name(ty).is_none(),
                "type {ty} is internal"
            );
            let given = match &req.params {
                Value::Array(a) => a.get(1),
                Value::Object(o) => o.get("msg"),
                _ => None,
            }
            .expect("accepted without msg");
            let hex = hex_lower(&msg);
            match given {
                Value::String(s) => assert_eq!(s.to_ascii_lowercase(), hex),
                Value::Number(_) => assert!(hex.bytes().all(|c| c.is_ascii_hexdigit())),
                other => panic!("msg accepted from {other}"),
            }
            assert_eq!(id.serialize().len(), 33);
        }
    }
});

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
