//! The JSON-RPC socket against real boltd processes: framing, ids, every request-level
//! error of CLN (§11.3), hostile clients, and many clients at once.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

fn err_of(v: &Value) -> (i64, String) {
    (
        v["error"]["code"].as_i64().unwrap(),
        v["error"]["message"].as_str().unwrap().to_string(),
    )
}

#[test]
fn pipelined_requests_without_separators_are_all_answered() {
    let d = Daemon::start(&[]);
    let mut c = d.client();
    let mut batch = Vec::new();
    for i in 0..50 {
        let sep: &[u8] = match i % 3 {
            0 => b"",
            1 => b"\n",
            _ => b"\n\n  \t",
        };
        batch.extend_from_slice(sep);
        batch.extend_from_slice(
            format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"getinfo","params":[]}}"#).as_bytes(),
        );
    }
    c.send(&batch);
    let mut ids: Vec<i64> = (0..50).map(|_| c.read()["id"].as_i64().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, (0..50).collect::<Vec<_>>());
}

#[test]
fn ids_are_echoed_byte_for_byte() {
    let d = Daemon::start(&[]);
    let mut c = d.client();
    for id in [
        r#""cli:getinfo#1/cln:x#2""#,
        "5",
        "-7",
        "1.50",
        "null",
        r#""\u00e9\/x""#,
        "12345678901234567890123",
    ] {
        c.send(
            format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"getinfo","params":{{}}}}"#).as_bytes(),
        );
        let raw = String::from_utf8(c.read_raw().unwrap()).unwrap();
        assert!(
            raw.starts_with(&format!(r#"{{"jsonrpc":"2.0","id":{id},"result":"#)),
            "{raw}"
        );
    }
}

#[test]
fn every_response_ends_with_a_blank_line() {
    let d = Daemon::start(&[]);
    let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
    s.write_all(br#"{"jsonrpc":"2.0","id":1,"method":"help","params":[]}"#)
        .unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut all = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut all).unwrap();
    assert!(all.ends_with(b"}\n\n"));
    assert_eq!(all.windows(2).filter(|w| w == b"\n\n").count(), 1);
}

#[test]
fn parse_errors_answer_with_null_id_and_stop_reading() {
    let d = Daemon::start(&[]);
    for (bytes, msg) in [
        (
            &br#"{"jsonrpc":"2.0","id":1,,}"#[..],
            r#"Failed to parse RPC JSON response '{"jsonrpc":"2.0","id":1,,}'"#,
        ),
        (
            &br#"{"id":1,"method":"getinfo","params":[]}"#[..],
            r#"JSON-RPC message does not contain "jsonrpc" field: '{"id":1,"method":"getinfo","params":[]}'"#,
        ),
        (
            &br#"[{"jsonrpc":"2.0","id":1,"method":"getinfo","params":[]}]"#[..],
            r#"JSON-RPC message does not contain "jsonrpc" field: '[{"jsonrpc":"2.0","id":1,"method":"getinfo","params":[]}]'"#,
        ),
    ] {
        let mut c = d.client();
        let mut b = bytes.to_vec();
        // A valid request after the bad one must not be read.
        b.extend_from_slice(br#"{"jsonrpc":"2.0","id":2,"method":"getinfo","params":[]}"#);
        c.send(&b);
        let r = c.read();
        assert_eq!(r["id"], Value::Null);
        assert_eq!(err_of(&r), (-32600, msg.to_string()));
        assert!(c.at_eof());
    }
}

#[test]
fn request_errors_keep_the_connection() {
    let d = Daemon::start(&[]);
    let mut c = d.client();
    let cases: &[(&str, Value, i64, &str)] = &[
        (r#"{"jsonrpc":"2.0","method":"getinfo","params":[]}"#, Value::Null, -32600, "No id"),
        (r#"{"jsonrpc":"2.0","id":{"a":1},"method":"getinfo","params":[]}"#, Value::Null, -32600, "Expected string/primitive for id"),
        (r#"{"jsonrpc":"1.0","id":3,"method":"getinfo","params":[]}"#, Value::Null, -32600, "jsonrpc: \"2.0\" must be specified in the request"),
        (r#"{"jsonrpc":"2.0","id":4,"params":[]}"#, json!(4), -32600, "No method"),
        (r#"{"jsonrpc":"2.0","id":5,"method":["getinfo"],"params":[]}"#, json!(5), -32600, "Expected string for method"),
        (r#"{"jsonrpc":"2.0","id":6,"method":"getinfo"}"#, json!(6), -32600, "No params"),
        (r#"{"jsonrpc":"2.0","id":7,"method":"getinfox","params":[]}"#, json!(7), -32601, "Unknown command 'getinfox'"),
        (r#"{"jsonrpc":"2.0","id":8,"method":"getinfo","params":"x"}"#, json!(8), -32602, "Expected array or object for params"),
        (r#"{"jsonrpc":"2.0","id":9,"method":"getinfo","params":[1]}"#, json!(9), -32602, "too many parameters: got 1, expected 0"),
        (r#"{"jsonrpc":"2.0","id":10,"method":"notifications","params":{}}"#, json!(10), -32602, "missing required parameter: enable"),
        (r#"{"jsonrpc":"2.0","id":11,"method":"help","params":{"cmd":"x"}}"#, json!(11), -32602, "unknown parameter: cmd, this may be caused by a failure to autodetect key=value-style parameters. Please try using the -k flag and explicit key=value pairs of parameters."),
        (r#"{"jsonrpc":"2.0","id":12,"method":"listconfigs","params":[5]}"#, json!(12), -32602, "config: should be a string: invalid token '5'"),
        (r#"{"jsonrpc":"2.0","id":13,"method":"notifications","params":["perhaps"]}"#, json!(13), -32602, "enable: should be 'true' or 'false': invalid token '\"perhaps\"'"),
        (r#"{"jsonrpc":"2.0","id":14,"method":"help","params":["nosuch"]}"#, json!(14), -32601, "Unknown command nosuch"),
    ];
    for (req, id, code, msg) in cases {
        c.send(req.as_bytes());
        let r = c.read();
        assert_eq!(&r["id"], id, "{req}");
        assert_eq!(err_of(&r), (*code, msg.to_string()), "{req}");
    }
    // Still the same, healthy connection.
    assert!(c.call("getinfo", json!([]))["result"]["id"].is_string());
}

#[test]
fn builtin_commands_answer_in_cln_shapes() {
    let d = Daemon::start(&[]);
    let mut c = d.client();
    let help = c.call("help", json!([]))["result"].clone();
    assert_eq!(help["format-hint"], "simple");
    let names: Vec<String> = help["help"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["command"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    for want in [
        "check command_to_check",
        "getinfo ",
        "help [command]",
        "listconfigs [config]",
        "notifications enable",
        "stop ",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    assert_eq!(
        c.call("help", json!({"command": "listconfigs"}))["result"]["help"],
        json!([{"command": "listconfigs [config]"}])
    );
    assert_eq!(
        c.call("notifications", json!({"enable": true}))["result"],
        json!({})
    );
    assert_eq!(
        c.call("check", json!(["getinfo"]))["result"],
        json!({"command_to_check": "getinfo"})
    );
    assert_eq!(
        c.call("check", json!({"command_to_check": "stop"}))["result"],
        json!({"command_to_check": "stop"})
    );
    assert_eq!(
        err_of(&c.call("check", json!(["nosuch"]))),
        (-32601, "Unknown command 'nosuch'".into())
    );
    assert_eq!(
        err_of(&c.call("check", json!(["getinfo", 1]))),
        (-32602, "too many parameters: got 1, expected 0".into())
    );
    assert_eq!(
        err_of(&c.call("check", json!([]))),
        (
            -32602,
            "missing required parameter: command_to_check".into()
        )
    );
    // `check stop` did not stop anything.
    let info = c.call("getinfo", json!([]))["result"].clone();
    for k in [
        "id",
        "alias",
        "color",
        "num_peers",
        "num_pending_channels",
        "num_active_channels",
        "num_inactive_channels",
        "address",
        "binding",
        "version",
        "blockheight",
        "network",
        "fees_collected_msat",
        "lightning-dir",
        "our_features",
    ] {
        assert!(info.get(k).is_some(), "getinfo lacks {k}");
    }
    assert_eq!(info["network"], "regtest");
    assert_eq!(info["lightning-dir"], d.net_dir().display().to_string());
    let one = c.call("listconfigs", json!({"config": "rpc-file"}))["result"].clone();
    assert_eq!(
        one,
        json!({"configs": {"rpc-file": {"value_str": "lightning-rpc", "source": "default"}}})
    );
    assert_eq!(err_of(&c.call("listconfigs", json!(["nope"]))).0, -32602);
}

#[test]
fn oversize_request_is_refused_and_daemon_keeps_serving() {
    let d = Daemon::start(&[]);
    let mut c = d.client();
    // 20 MiB inside one string: never completes as a message before the limit.
    let mut big = br#"{"jsonrpc":"2.0","id":1,"method":"getinfo","params":["#.to_vec();
    big.push(b'"');
    let chunk = vec![b'x'; 1 << 20];
    let writer = {
        let mut s = c.stream.try_clone().unwrap();
        std::thread::spawn(move || {
            let _ = s.write_all(&big);
            for _ in 0..20 {
                if s.write_all(&chunk).is_err() {
                    return;
                }
            }
        })
    };
    let r = c.read();
    assert_eq!(r["id"], Value::Null);
    assert_eq!(
        err_of(&r),
        (
            -32600,
            "Message exceeds maximum size of 16777216 bytes".into()
        )
    );
    assert!(c.at_eof());
    let _ = writer.join();
    assert!(d.call("getinfo", json!([]))["result"]["id"].is_string());
}

#[test]
fn rpc_max_request_is_configurable() {
    let d = Daemon::start(&["--rpc-max-request=1000"]);
    let mut c = d.client();
    let pad = "y".repeat(2000);
    c.send(format!(r#"{{"jsonrpc":"2.0","id":1,"method":"help","params":["{pad}"]}}"#).as_bytes());
    assert_eq!(
        err_of(&c.read()).1,
        "Message exceeds maximum size of 1000 bytes"
    );
    // Small requests are fine.
    assert!(d.call("getinfo", json!([]))["result"].is_object());
}

#[test]
fn garbage_bytes_get_an_error_and_a_closed_connection() {
    let d = Daemon::start(&[]);
    let mut c = d.client();
    c.send(b"\x00\xff\xfeGET / HTTP/1.1\r\n\r\n");
    let r = c.read();
    assert_eq!(r["id"], Value::Null);
    assert!(err_of(&r)
        .1
        .starts_with("Failed to parse RPC JSON response"));
    assert!(c.at_eof());
    // Invalid UTF-8 inside an otherwise well-framed object.
    let mut c = d.client();
    c.send(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\",\"params\":[]}");
    let r = c.read();
    assert_eq!((r["id"].clone(), err_of(&r).0), (Value::Null, -32600));
    assert!(c.at_eof());
    assert!(d.call("getinfo", json!([]))["result"].is_object());
}

#[test]
fn half_written_request_then_disconnect_is_harmless() {
    let d = Daemon::start(&[]);
    for _ in 0..20 {
        let mut c = d.client();
        c.send(br#"{"jsonrpc":"2.0","id":1,"method":"getinfo","par"#);
        drop(c);
    }
    // Client sends a full request and hangs up before reading the answer.
    for _ in 0..20 {
        let mut c = d.client();
        c.send(br#"{"jsonrpc":"2.0","id":1,"method":"getinfo","params":[]}"#);
        drop(c);
    }
    assert!(d.call("getinfo", json!([]))["result"].is_object());
}

#[test]
fn five_hundred_concurrent_clients() {
    let d = Daemon::start(&[]);
    let sock = d.socket();
    let start = Instant::now();
    let threads: Vec<_> = (0..500)
        .map(|i| {
            let sock = sock.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect(&sock);
                let r = c.call("getinfo", json!([]));
                assert!(r["result"]["id"].is_string(), "client {i}: {r}");
                // Hold the connection open while the others connect.
                std::thread::sleep(Duration::from_millis(200));
                c.call("help", json!(["getinfo"]))["result"]["help"][0]["command"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), "getinfo ");
    }
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
fn client_that_never_reads_does_not_block_others() {
    let d = Daemon::start(&[]);
    let mut hog = d.client();
    hog.stream.set_nonblocking(true).unwrap();
    let req = br#"{"jsonrpc":"2.0","id":1,"method":"listconfigs","params":[]}"#;
    // Write requests (never reading answers) until the daemon stops accepting our bytes.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut sent = 0usize;
    loop {
        match hog.stream.write(req) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
        assert!(
            Instant::now() < deadline,
            "daemon kept reading forever ({sent} bytes)"
        );
    }
    // Others are served promptly meanwhile.
    for _ in 0..20 {
        let t = Instant::now();
        assert!(d.call("getinfo", json!([]))["result"].is_object());
        assert!(t.elapsed() < Duration::from_secs(2));
    }
    drop(hog);
    assert!(d.call("getinfo", json!([]))["result"].is_object());
}

#[test]
fn in_flight_commands_then_stop_reply_last() {
    let mut d = Daemon::start(&[]);
    let mut other = d.client();
    let mut c = d.client();
    // Pipeline work then stop on one connection: every earlier answer precedes the stop reply.
    let mut b = Vec::new();
    for i in 0..10 {
        b.extend_from_slice(
            format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"getinfo","params":[]}}"#).as_bytes(),
        );
    }
    b.extend_from_slice(br#"{"jsonrpc":"2.0","id":"stop","method":"stop","params":[]}"#);
    c.send(&b);
    let mut seen = vec![];
    while let Some(raw) = c.read_raw() {
        seen.push(serde_json::from_slice::<Value>(&raw).unwrap());
    }
    let last = seen.last().unwrap();
    assert_eq!(last["id"], "stop");
    assert_eq!(last["result"]["result"], "Shutdown complete");
    assert_eq!(seen.len(), 11);
    assert!(other.at_eof());
    assert_eq!(d.wait_exit(Duration::from_secs(10)).code(), Some(0));
    assert!(!d.socket().exists());
}

#[test]
fn filter_member_trims_builtin_results() {
    let d = Daemon::start(&[]);
    let mut c = d.client();
    c.send(br#"{"jsonrpc":"2.0","id":1,"method":"getinfo","params":[],"filter":{"id":true,"our_features":{"node":true}}}"#);
    let r = c.read();
    let keys: Vec<&String> = r["result"].as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["id", "our_features"]);
    assert_eq!(r["result"]["our_features"].as_object().unwrap().len(), 1);
}

#[test]
fn deprecations_is_per_connection() {
    let d = Daemon::start(&[]);
    let mut c = d.client();
    assert_eq!(
        c.call("deprecations", json!({"enable": false}))["result"],
        json!({})
    );
    assert_eq!(
        err_of(&c.call("deprecations", json!([]))),
        (-32602, "missing required parameter: enable".into())
    );
    assert!(
        c.call("help", json!(["deprecations"]))["result"]["help"][0]["command"]
            == "deprecations enable"
    );
}
