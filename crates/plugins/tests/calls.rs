//! Passthrough, id remapping, client notifications, hook chains and notification fan-out
//! with real plugin processes.

mod common;

use std::time::Duration;

use common::*;
use plugins::{
    CustomMsg, CustomMsgPayload, DbWrite, DbWriteOutcome, DbWritePayload, PluginSpec, RpcCommand,
    RpcCommandOutcome, RpcCommandPayload,
};
use serde_json::{json, Value};

async fn started(e: &Env, paths: &[&std::path::Path]) {
    let specs = paths
        .iter()
        .map(|p| PluginSpec {
            path: p.to_path_buf(),
            important: false,
        })
        .collect();
    e.host.load_startup(specs).await.unwrap();
    assert!(e.host.init_all().await.is_empty());
}

fn frame_json(f: &[u8]) -> Value {
    assert!(f.ends_with(b"\n\n"));
    serde_json::from_slice(f).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthrough_rewrites_ids_and_restores_them() {
    let e = env();
    let Some(p) = py(e.path(), "pyln_hello", "pyln_hello.py") else {
        return;
    };
    started(&e, &[&p]).await;
    // Numeric client id: the plugin sees "5/cln:echo#N", the client gets 5 back.
    let f = e
        .host
        .passthrough(&request(json!(5), "echo", json!({"a": 1})), None)
        .await;
    let r = frame_json(&f);
    assert_eq!(r["id"], 5);
    let seen = r["result"]["id"].as_str().unwrap();
    assert!(seen.starts_with("5/cln:echo#"), "{seen}");
    assert_eq!(r["result"]["params"], json!({"a": 1}));
    // String id with a prefix chain.
    let f = e
        .host
        .passthrough(&request(json!("cli:echo#77"), "echo", json!({})), None)
        .await;
    let r = frame_json(&f);
    assert_eq!(r["id"], "cli:echo#77");
    assert!(r["result"]["id"]
        .as_str()
        .unwrap()
        .starts_with("cli:echo#77/cln:echo#"));
    // Plugin errors come back verbatim.
    let f = e
        .host
        .passthrough(&request(json!(2), "hello", json!({"nope": 1})), None)
        .await;
    let r = frame_json(&f);
    assert!(r["error"]["message"].is_string());
    assert_eq!(r["id"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_and_progress_reach_the_client_with_its_id() {
    let e = env();
    let Some(p) = py(e.path(), "pyln_hello", "pyln_hello.py") else {
        return;
    };
    started(&e, &[&p]).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let sink: plugins::host::NotifySink = std::sync::Arc::new(move |f| {
        let _ = tx.try_send(f);
    });
    let f = e
        .host
        .passthrough(
            &request(json!("c#1"), "progress_demo", json!({})),
            Some(sink),
        )
        .await;
    assert_eq!(frame_json(&f)["result"]["done"], true);
    let mut got = vec![];
    while let Ok(n) = rx.try_recv() {
        got.push(frame_json(&n));
    }
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0]["method"], "message");
    assert_eq!(got[0]["params"]["id"], "c#1");
    assert_eq!(got[0]["params"]["message"], "working on it");
    assert_eq!(got[1]["method"], "progress");
    assert_eq!(got[2]["params"]["num"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_command_chain_first_modification_wins() {
    let e = env();
    let Some(h1) = pyln_hook(e.path(), "hook1", "continue") else {
        return;
    };
    let Some(h2) = pyln_hook(e.path(), "hook2", "return") else {
        return;
    };
    let Some(h3) = pyln_hook(e.path(), "hook3", "error") else {
        return;
    };
    started(&e, &[&h1, &h2, &h3]).await;
    let req = request(json!(1), "getinfo", json!({}));
    let payload = RpcCommandPayload::from_request(&req);
    let out = e.host.call_hook::<RpcCommand>(&payload, Some("1")).await;
    assert_eq!(
        out,
        RpcCommandOutcome::Result(json!({"from": "hook2.py", "method": "getinfo"}))
    );
    assert!(wait_log("rpc_command hook 'getinfo' already modified, ignoring.").await);

    set_mode(e.path(), "hook2", "continue");
    let out = e.host.call_hook::<RpcCommand>(&payload, Some("1")).await;
    assert_eq!(
        out,
        RpcCommandOutcome::Error(json!({"code": 1234, "message": "blocked by hook3.py"}))
    );

    set_mode(e.path(), "hook3", "replace:help");
    let out = e.host.call_hook::<RpcCommand>(&payload, None).await;
    match out {
        RpcCommandOutcome::Replace(v) => assert_eq!(v["method"], "help"),
        o => panic!("{o:?}"),
    }

    // A malformed reply is logged as broken and treated as continue.
    set_mode(e.path(), "hook3", "garbage");
    let out = e.host.call_hook::<RpcCommand>(&payload, None).await;
    assert_eq!(out, RpcCommandOutcome::Continue);
    assert!(wait_log("Bad response to 'rpc_command' hook. ").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hook_order_follows_before_and_after_and_filters() {
    let e = env();
    let hook = |name: &str, before: Value, after: Value| {
        raw(
            e.path(),
            name,
            json!({"manifest": raw_manifest(json!({"hooks":[{"name":"rpc_command","before":before,"after":after}]})),
                   "record": e.path().join(format!("calls-{name}")).display().to_string(),
                   "hooks": {"rpc_command": {"result": "continue"}}}),
        )
    };
    // Registration order a, b, c; c wants to run before a, a after b.
    let a = hook("ha", json!([]), json!(["hb"]));
    let b = hook("hb", json!([]), json!([]));
    let c = hook("hc", json!(["ha"]), json!([]));
    let f = raw(
        e.path(),
        "hf",
        json!({"manifest": raw_manifest(json!({"hooks":[{"name":"rpc_command","filters":["hello"]}]})),
               "record": e.path().join("calls-hf").display().to_string(),
               "hooks": {"rpc_command": {"result": "continue"}}}),
    );
    started(&e, &[&a, &b, &c, &f]).await;
    let payload = RpcCommandPayload::from_request(&request(json!(1), "getinfo", json!({})));
    e.host.call_hook::<RpcCommand>(&payload, None).await;
    // Each request id carries the process-wide counter, so ids show the call order.
    let last_line_id = |n: &str| -> u64 {
        let text = std::fs::read_to_string(e.path().join(format!("calls-{n}"))).unwrap();
        let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        last["id"]
            .as_str()
            .unwrap()
            .rsplit('#')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (ia, ib, ic) = (last_line_id("ha"), last_line_id("hb"), last_line_id("hc"));
    assert!(ib < ic && ic < ia, "order hb < hc < ha: {ib} {ic} {ia}");
    // The filtered plugin only sees `hello`.
    let hf = std::fs::read_to_string(e.path().join("calls-hf")).unwrap();
    assert!(!hf.contains("rpc_command\""), "{hf}");
    let payload = RpcCommandPayload::from_request(&request(json!(1), "hello", json!({})));
    e.host.call_hook::<RpcCommand>(&payload, None).await;
    let hf = std::fs::read_to_string(e.path().join("calls-hf")).unwrap();
    assert!(hf.contains("\"rpc_command\""), "{hf}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsatisfiable_hook_order_refuses_both_plugins() {
    let e = env();
    let x = raw(
        e.path(),
        "cx",
        json!({"manifest": raw_manifest(json!({"hooks":[{"name":"rpc_command","before":["cy"]}]}))}),
    );
    let y = raw(
        e.path(),
        "cy",
        json!({"manifest": raw_manifest(json!({"hooks":[{"name":"rpc_command","before":["cx"]}]}))}),
    );
    e.host
        .load_startup(vec![
            PluginSpec {
                path: x,
                important: false,
            },
            PluginSpec {
                path: y,
                important: false,
            },
        ])
        .await
        .unwrap();
    assert!(e.host.list().is_empty());
    assert!(wait_log("plugin-cx: Killing plugin: Cannot meet required hook dependencies").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_notifications_carry_origin_and_native_ones_are_wrapped() {
    let e = env();
    let Some(p) = py(e.path(), "pyln_hello", "pyln_hello.py") else {
        return;
    };
    let c = cln_bin("cln-hello");
    started(&e, &[&p]).await;
    // plugin_started for a later plugin reaches pyln_hello wrapped as {"plugin_started": {...}}.
    start(&e.host, &c).await.unwrap();
    let r = call(&e.host, "emit", json!({})).await;
    assert!(r.get("result").is_some(), "{r}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = call(&e.host, "seen", json!({})).await["result"]["seen"].clone();
    let s = seen.to_string();
    assert!(s.contains("\"plugin_name\":\"cln-hello\""), "{s}");
    assert!(s.contains("\"origin\":\"pyln_hello\""), "{s}");
    e.host
        .command(plugins::PluginCommand::Stop("cln-hello".into()), None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = call(&e.host, "seen", json!({})).await["result"]["seen"].to_string();
    assert!(seen.contains("plugin_stopped"), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeclared_topic_is_dropped_with_a_log_line() {
    let e = env();
    let p = raw(
        e.path(),
        "undecl",
        json!({"manifest": raw_manifest(json!({"rpcmethods":[{"name":"shout","usage":""}]})),
               "methods": {"shout": {"send": [{"jsonrpc":"2.0","method":"mytopic","params":{}}]}}}),
    );
    started(&e, &[&p]).await;
    let r = call(&e.host, "shout", json!({})).await;
    assert!(r.get("result").is_some());
    assert!(wait_log("Plugin attempted to send a notification to topic \"mytopic\" it hasn't declared in its manifest, not forwarding to subscribers.").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_write_runs_in_parallel_and_any_refusal_refuses() {
    let e = env();
    let ok = raw(
        e.path(),
        "dbok",
        json!({"manifest": raw_manifest(json!({"hooks":["db_write"]})),
                                          "hooks": {"db_write": {"result": "continue"}}}),
    );
    let no = raw(
        e.path(),
        "dbno",
        json!({"manifest": raw_manifest(json!({"hooks":["db_write"]})),
                                          "hooks": {"db_write": {"result": "abort"}}}),
    );
    started(&e, &[&ok]).await;
    let payload = DbWritePayload {
        data_version: 1,
        writes: vec!["INSERT".into()],
    };
    assert_eq!(
        e.host.call_hook::<DbWrite>(&payload, None).await,
        DbWriteOutcome::Continue
    );
    start(&e.host, &no).await.unwrap();
    match e.host.call_hook::<DbWrite>(&payload, None).await {
        DbWriteOutcome::Refused(why) => assert!(why.contains("returned failed db_write"), "{why}"),
        o => panic!("{o:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custommsg_filters_by_type_and_custommessages_are_announced() {
    let mut e = env();
    let rec = e.path().join("cm-rec");
    let p = raw(
        e.path(),
        "cm",
        json!({"manifest": raw_manifest(json!({"custommessages":[32769, 65533],
                 "hooks":[{"name":"custommsg","filters":[32769]}]})),
               "record": rec.display().to_string(),
               "hooks": {"custommsg": {"result": "continue"}}}),
    );
    started(&e, &[&p]).await;
    assert_eq!(e.host.custom_messages(), vec![32769, 65533]);
    let mut saw = false;
    while let Ok(ev) = e.events.try_recv() {
        if ev == plugins::HostEvent::CustomMessagesChanged(vec![32769, 65533]) {
            saw = true;
        }
    }
    assert!(saw);
    let other = CustomMsgPayload {
        payload: "8003".into(),
        peer_id: "02aa".into(),
        msg_type: 32771,
    };
    e.host.call_hook::<CustomMsg>(&other, None).await;
    let mine = CustomMsgPayload {
        payload: "8001beef".into(),
        peer_id: "02aa".into(),
        msg_type: 32769,
    };
    e.host.call_hook::<CustomMsg>(&mine, None).await;
    let text = std::fs::read_to_string(&rec).unwrap();
    assert!(
        text.contains("8001beef") && !text.contains("\"8003\""),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn featurebits_are_collected_and_duplicates_refused() {
    let e = env();
    let a = raw(
        e.path(),
        "fa",
        json!({"manifest": {"options":[],"rpcmethods":[],"featurebits":{"node":"0200000000","init":"0200000000"}}}),
    );
    let b = raw(
        e.path(),
        "fb",
        json!({"manifest": {"options":[],"rpcmethods":[],"featurebits":{"node":"0200000000"}}}),
    );
    started(&e, &[&a]).await;
    let f = e.host.features();
    assert_eq!(f.to_json_getinfo()["node"], "0200000000");
    e.host
        .load_startup(vec![PluginSpec {
            path: b,
            important: false,
        }])
        .await
        .unwrap();
    assert!(wait_log("plugin-fb: Killing plugin: Custom featurebits already present").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_is_forwarded_only_to_cancheck_plugins() {
    let e = env();
    let yes = raw(
        e.path(),
        "chk1",
        json!({"manifest": raw_manifest(json!({"cancheck": true, "rpcmethods":[{"name":"m1","usage":""}]})),
                                           "methods": {"check": {"result": {"checked": "by plugin"}}}}),
    );
    let no = raw(
        e.path(),
        "chk2",
        json!({"manifest": raw_manifest(json!({"rpcmethods":[{"name":"m2","usage":""}]}))}),
    );
    started(&e, &[&yes, &no]).await;
    let f = e
        .host
        .check(&request(json!(3), "check", json!(["m1"])))
        .await
        .unwrap();
    assert_eq!(frame_json(&f)["result"], json!({"checked": "by plugin"}));
    let f = e
        .host
        .check(&request(
            json!(4),
            "check",
            json!({"command_to_check": "m2"}),
        ))
        .await
        .unwrap();
    assert_eq!(
        frame_json(&f),
        json!({"jsonrpc":"2.0","id":4,"result":{"command_to_check":"m2"}})
    );
    assert!(wait_log("Plugin does not support check command for m2 (id 4)").await);
    assert!(e
        .host
        .check(&request(json!(5), "check", json!(["getinfo"])))
        .await
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deprecated_methods_are_refused_when_deprecated_apis_are_off() {
    let e = env_with(|c| c.allow_deprecated_apis = false);
    let p = raw(
        e.path(),
        "dep",
        json!({"manifest": raw_manifest(json!({"rpcmethods":[{"name":"old","usage":"","deprecated":true}]})),
                                        "methods": {"old": {"result": {}}}}),
    );
    started(&e, &[&p]).await;
    let r = call(&e.host, "old", json!({})).await;
    assert_eq!(
        r["error"],
        json!({"code": -32601, "message": "Command \"old\" is deprecated"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_deprecation_setting_goes_first_as_deprecated_oneshot() {
    let e = env_with(|c| c.allow_deprecated_apis = false);
    let rec = e.path().join("oneshot-rec");
    let p = raw(
        e.path(),
        "oneshot",
        json!({"manifest": raw_manifest(json!({"subscriptions": ["deprecated_oneshot"],
                 "rpcmethods":[{"name":"old","usage":"","deprecated":true}]})),
               "record": rec.display().to_string(),
               "methods": {"old": {"result": {"ok": true}}}}),
    );
    started(&e, &[&p]).await;
    // This connection allows deprecated APIs although the daemon does not.
    let f = e
        .host
        .passthrough_with(&request(json!(1), "old", json!({})), None, Some(true))
        .await;
    assert_eq!(frame_json(&f)["result"], json!({"ok": true}));
    let text = std::fs::read_to_string(&rec).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let n = lines.len();
    assert_eq!(lines[n - 2]["method"], "deprecated_oneshot");
    assert_eq!(
        lines[n - 2]["params"],
        json!({"deprecated_oneshot": {"deprecated_ok": true}})
    );
    assert_eq!(lines[n - 1]["method"], "old");
    // Same setting as the daemon: no oneshot, and the deprecated method is refused.
    let f = e
        .host
        .passthrough_with(&request(json!(2), "old", json!({})), None, None)
        .await;
    assert_eq!(frame_json(&f)["error"]["code"], -32601);
}
