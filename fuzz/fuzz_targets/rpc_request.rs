//! `jsonrpc::parse_request` and `jsonrpc::params::bind`, as the RPC socket uses them.
//!
//! Properties: nothing panics; every refusal becomes an error reply that is JSON with the
//! request's id echoed byte-exactly (or `null`); an accepted request's id echoes exactly in
//! result and error frames; binding against a few real specs either fails with an
//! "invalid params" error or gives back exactly the values that were sent.
#![no_main]

use jsonrpc::{
    bind, codes, error_frame, parse_request, result_frame, Param, RequestError, RpcError,
};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

const SPECS: &[&[Param]] = &[
    &[],
    &[Param::req("node_id"), Param::req("msg")],
    &[
        Param::req("key"),
        Param::opt("string"),
        Param::opt("hex"),
        Param::opt("mode"),
        Param::opt("generation"),
    ],
    &[
        Param::opt("subcommand"),
        Param::opt("plugin"),
        Param::opt("directory"),
    ],
];

/// The `id` member of a JSON reply, as raw text.
fn reply_id(frame: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct R<'a> {
        #[serde(borrow)]
        id: &'a serde_json::value::RawValue,
    }
    let r: R = serde_json::from_slice(frame).expect("reply is a JSON object with an id");
    r.id.get().to_string()
}

fuzz_target!(|data: &[u8]| {
    let req = match parse_request(data) {
        Ok(r) => r,
        Err(e) => {
            let (frame, _) = jsonrpc::request_error_frame(&e);
            let id = reply_id(&frame);
            match &e {
                RequestError::WithId(sent, _) => assert_eq!(id, sent.get()),
                _ => assert_eq!(id, "null"),
            }
            return;
        }
    };
    let id = req.id.get().to_string();
    assert_eq!(reply_id(&result_frame(&req.id, &json!({"ok": true}))), id);
    let err = RpcError::new(codes::INVALID_PARAMS, "x").with_data(json!({"m": req.method}));
    assert_eq!(reply_id(&error_frame(&req.id, &err)), id);

    for (i, spec) in SPECS.iter().enumerate() {
        for allow_extra in [false, true] {
            match bind(&req.params, spec, allow_extra) {
                Err(e) => assert_eq!(e.code, codes::INVALID_PARAMS, "spec {i}: {e:?}"),
                Ok(b) => {
                    for p in spec.iter() {
                        let got = b.get(p.name);
                        let sent = match &req.params {
                            Value::Array(a) => spec
                                .iter()
                                .position(|q| q.name == p.name)
                                .and_then(|k| a.get(k))
                                .filter(|v| !v.is_null()),
                            Value::Object(o) => o.get(p.name),
                            _ => unreachable!("bind accepted a non-container"),
                        };
                        assert_eq!(got, sent, "spec {i} param {}", p.name);
                        if p.required {
                            assert!(got.is_some());
                        }
                        let _ = (b.str(p.name), b.bool(p.name), b.u64(p.name));
                    }
                    if !allow_extra {
                        assert!(b.extra.is_empty());
                    }
                }
            }
        }
    }
});
