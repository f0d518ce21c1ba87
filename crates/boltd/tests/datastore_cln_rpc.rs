//! The datastore commands through Core Lightning's own Rust client (`cln-rpc`): typed
//! requests serialize the way CLN's model does and boltd's replies deserialize into its
//! typed responses (the shapes a Rust plugin using cln-rpc relies on).

mod common;

use cln_rpc::model::requests::{
    DatastoreMode, DatastoreRequest, DatastoreusageRequest, DeldatastoreRequest,
    ListdatastoreRequest,
};
use cln_rpc::ClnRpc;
use common::Daemon;

fn key(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn put(
    k: &[&str],
    hex: Option<&str>,
    string: Option<&str>,
    mode: DatastoreMode,
) -> DatastoreRequest {
    DatastoreRequest {
        key: key(k),
        hex: hex.map(str::to_string),
        string: string.map(str::to_string),
        mode: Some(mode),
        generation: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datastore_commands_through_cln_rpc_typed_api() {
    let d = Daemon::start(&[]);
    let mut rpc = ClnRpc::new(d.socket()).await.unwrap();

    let r = rpc
        .call_typed(&put(
            &["plug", "state"],
            None,
            Some("v1"),
            DatastoreMode::MUST_CREATE,
        ))
        .await
        .unwrap();
    assert_eq!(
        (r.key, r.generation, r.hex, r.string),
        (
            key(&["plug", "state"]),
            Some(0),
            Some("7631".into()),
            Some("v1".into())
        )
    );

    let mut replace = put(
        &["plug", "state"],
        Some("00ff"),
        None,
        DatastoreMode::MUST_REPLACE,
    );
    replace.generation = Some(0);
    let r = rpc.call_typed(&replace).await.unwrap();
    assert_eq!(
        (r.generation, r.hex.as_deref(), r.string),
        (Some(1), Some("00ff"), None)
    );

    // The same compare-and-swap again fails with CLN's code and text.
    let err = rpc.call_typed(&replace).await.unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        (Some(1204), "generation is different")
    );
    let err = rpc
        .call_typed(&put(
            &["plug"],
            None,
            Some("x"),
            DatastoreMode::CREATE_OR_REPLACE,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        (Some(1205), "Key has children already")
    );

    rpc.call_typed(&put(
        &["plug", "deep", "er"],
        None,
        Some("d"),
        DatastoreMode::CREATE_OR_APPEND,
    ))
    .await
    .unwrap();
    let list = rpc
        .call_typed(&ListdatastoreRequest {
            key: Some(key(&["plug"])),
        })
        .await
        .unwrap()
        .datastore;
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0].key.clone(), list[0].generation, list[0].hex.clone()),
        (key(&["plug", "deep"]), None, None)
    );
    assert_eq!(
        (list[1].key.clone(), list[1].generation),
        (key(&["plug", "state"]), Some(1))
    );

    let usage = rpc
        .call_typed(&DatastoreusageRequest {
            key: Some(key(&["plug"])),
        })
        .await
        .unwrap()
        .datastoreusage;
    // [plug,state]: 2 data + 9 key + 1 separator; [plug,deep,er]: 1 + 10 + 2.
    assert_eq!((usage.key.as_str(), usage.total_bytes), ("[plug]", 25));

    let del = rpc
        .call_typed(&DeldatastoreRequest {
            key: key(&["plug", "state"]),
            generation: Some(1),
        })
        .await
        .unwrap();
    assert_eq!(
        (del.key, del.generation, del.hex.as_deref()),
        (key(&["plug", "state"]), Some(1), Some("00ff"))
    );
    let err = rpc
        .call_typed(&DeldatastoreRequest {
            key: key(&["plug", "state"]),
            generation: None,
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        (Some(1200), "Key does not exist")
    );
}

/// lightning-cli (and bolt-cli) send an all-digit argument such as `hex=1234` as a JSON
/// number; CLN reads the token's characters as hex (`json_tok_bin_from_hex`), so the
/// datastore must too, digits as written even past u64.
#[test]
fn hex_given_as_a_json_number_is_read_as_hex_digits() {
    let d = Daemon::start(&[]);
    let r = d.call("datastore", serde_json::json!({"key": "n", "hex": 1234}));
    assert_eq!(r["result"]["hex"], "1234", "{r}");
    let mut c = d.client();
    c.send(
        br#"{"jsonrpc":"2.0","id":1,"method":"datastore","params":["big",null,123456789012345678901234]}"#,
    );
    let r = c.read();
    assert_eq!(r["result"]["hex"], "123456789012345678901234", "{r}");
    // An odd number of digits is still not hex.
    let r = d.call("datastore", serde_json::json!({"key": "odd", "hex": 123}));
    assert_eq!(
        r["error"]["message"],
        "hex: should be a hex value: invalid token '123'"
    );
}

/// `string` is CLN's `param_escaped_string`: a non-string (what lightning-cli sends for
/// `datastore k 123`) is refused with its wording.
#[test]
fn non_string_string_is_refused_with_clns_message() {
    let d = Daemon::start(&[]);
    let r = d.call("datastore", serde_json::json!(["k", 123]));
    assert_eq!(
        (r["error"]["code"].as_i64(), r["error"]["message"].as_str()),
        (
            Some(-32602),
            Some("string: should be a string (without \\u): invalid token '123'")
        ),
        "{r}"
    );
}
