//! Plugins that misbehave, each in its own test. The host must stay up, log why, refuse
//! or remove the plugin, and serve the next call.

mod common;

use std::time::{Duration, Instant};

use common::*;
use plugins::{PluginSpec, RpcCommand, RpcCommandOutcome, RpcCommandPayload};
use serde_json::{json, Value};

/// A healthy plugin to prove the host still works after each failure.
async fn healthy(e: &Env) {
    let p = raw(
        e.path(),
        "healthy",
        json!({"manifest": raw_manifest(json!({"rpcmethods":[{"name":"ping","usage":""}]})),
               "methods": {"ping": {"result": {"pong": true}}}}),
    );
    start(&e.host, &p).await.unwrap();
    let r = call(&e.host, "ping", json!([])).await;
    assert_eq!(r["result"], json!({"pong": true}));
}

async fn start_err(e: &Env, p: &std::path::Path) -> String {
    let err = start(&e.host, p).await.unwrap_err();
    assert_eq!(err.code, -3, "{err:?}");
    let prefix = format!("{}: ", p.display());
    assert!(err.message.starts_with(&prefix), "{}", err.message);
    err.message[prefix.len()..].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_executable() {
    let e = env();
    let p = e.path().join("noexec");
    std::fs::write(&p, "#!/bin/sh\n").unwrap();
    let err = start(&e.host, &p).await.unwrap_err();
    assert_eq!(err.code, -32602);
    assert_eq!(
        err.message,
        format!("{} is not executable: Permission denied", p.display())
    );
    // At start-up it is logged and skipped.
    e.host
        .load_startup(vec![PluginSpec {
            path: p.clone(),
            important: false,
        }])
        .await
        .unwrap();
    assert!(wait_log(&format!("{}: opening pipe: Permission denied", p.display())).await);
    healthy(&e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_at_once() {
    let e = env();
    let p = raw(e.path(), "quitter", json!({"getmanifest": "exit"}));
    assert_eq!(
        start_err(&e, &p).await,
        "exited before replying to getmanifest"
    );
    assert!(
        wait_log("plugin-quitter: Killing plugin: exited before replying to getmanifest").await
    );
    healthy(&e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prints_garbage() {
    let e = env();
    let p = raw(e.path(), "garbage", json!({"getmanifest": "garbage"}));
    assert_eq!(
        start_err(&e, &p).await,
        "Failed to parse RPC JSON response 'this is not json }'"
    );
    healthy(&e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_without_jsonrpc() {
    let e = env();
    let p = raw(e.path(), "nojsonrpc", json!({"getmanifest": "nojsonrpc"}));
    let why = start_err(&e, &p).await;
    assert!(
        why.starts_with("JSON-RPC message does not contain \"jsonrpc\" field: '{\"id\": \"cli:plugin#1/cln:getmanifest#"),
        "{why}"
    );
    healthy(&e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_answers_getmanifest() {
    let e = env_with(|c| c.startup_timeout = Duration::from_millis(1500));
    let p = raw(e.path(), "sleepy", json!({"getmanifest": "ignore"}));
    let t = Instant::now();
    assert_eq!(
        start_err(&e, &p).await,
        "timed out before replying to getmanifest"
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    healthy(&e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_reply_to_getmanifest() {
    let e = env();
    let p = raw(e.path(), "errman", json!({"getmanifest": "error"}));
    let why = start_err(&e, &p).await;
    assert!(why.starts_with("Invalid/missing result tok in '"), "{why}");
    healthy(&e).await;
}

/// Every row of §2.3's table through a real process (texts are unit-tested one by one in
/// `manifest.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_manifest_each_row() {
    let e = env();
    let rows: Vec<(Value, &str)> = vec![
        (json!({"dynamic": 1, "options": [], "rpcmethods": []}), "getmanifest: invalid \"dynamic\" field 1"),
        (json!({"dynamic": true, "featurebits": {"node": "xyz"}, "options": [], "rpcmethods": []}),
         "Featurebits returned by plugin is not a valid hexadecimal string: \"xyz\""),
        (json!({"dynamic": true, "featurebits": {"node": "02"}, "options": [], "rpcmethods": []}),
         "Custom featurebits only allows for non-dynamic plugins: dynamic=1, featurebits={\"node\":\"02\"}"),
        (json!({"dynamic": true, "custommessages": "x", "options": [], "rpcmethods": []}), "custommessages must be array, not '\"x\"'"),
        (json!({"dynamic": true, "custommessages": [-1], "options": [], "rpcmethods": []}), "custommessages 0 not a u16: '-1'"),
        (json!({"dynamic": true, "nonnumericids": false, "options": [], "rpcmethods": []}), "Plugin does not allow nonnumericids"),
        (json!({"dynamic": true, "nonnumericids": 3, "options": [], "rpcmethods": []}), "Invalid nonnumericids: 3"),
        (json!({"dynamic": true, "cancheck": 3, "options": [], "rpcmethods": []}), "Invalid cancheck: 3"),
        (json!({"dynamic": true, "notifications": 3, "options": [], "rpcmethods": []}), "\"result.notifications\" is not an array"),
        (json!({"dynamic": true, "notifications": [3], "options": [], "rpcmethods": []}), "\"result.notifications[0]\" is not an object"),
        (json!({"dynamic": true, "notifications": [{"name": "x"}], "options": [], "rpcmethods": []}), "\"result.notifications[0].name\" missing or not a string."),
        (json!({"dynamic": true, "notifications": [{"method": "warning"}], "options": [], "rpcmethods": []}),
         "plugin attempted to register a native notification topic \"warning\", these may however only be sent by lightningd"),
        (json!({"dynamic": true, "rpcmethods": []}), "\"result.options\" was not found in the manifest"),
        (json!({"dynamic": true, "options": 1, "rpcmethods": []}), "\"result.options\" is not an array"),
        (json!({"dynamic": true, "options": []}), "\"result.rpcmethods\" missing"),
        (json!({"dynamic": true, "options": [], "rpcmethods": {}}), "\"result.rpcmethods\" is not an array"),
        (json!({"dynamic": true, "options": [], "rpcmethods": [], "subscriptions": "x"}), "\"result.subscriptions\" is not an array"),
        (json!({"dynamic": true, "options": [], "rpcmethods": [], "subscriptions": [1]}), "result.subscriptions[0] is not a string: '1'"),
        (json!({"dynamic": true, "options": [], "rpcmethods": [], "hooks": [{"before": []}]}), "no name in hook obj {\"before\":[]}"),
        (json!({"dynamic": true, "options": [], "rpcmethods": [], "hooks": ["nope"]}), "Unknown hook name nope"),
        (json!({"dynamic": true, "options": [], "rpcmethods": [], "hooks": [{"name": "db_write", "filters": []}]}), "Hook db_write does not allow filters"),
        (json!({"dynamic": true, "options": [], "rpcmethods": [], "hooks": [{"name": "rpc_command", "filters": 1}]}), "filters token must be an array"),
        (json!({"dynamic": true, "options": [], "rpcmethods": [], "hooks": ["rpc_command", "rpc_command"]}), "Registered for hook rpc_command multiple times"),
        (json!({"dynamic": true, "options": [{"name": "x"}], "rpcmethods": []}), "An option is missing either \"name\", \"description\" or \"type\""),
        (json!({"dynamic": true, "options": [{"name": "X", "type": "int", "description": ""}], "rpcmethods": []}), "Option \"name\" must be lowercase alphanumeric, plus _ or -'"),
        (json!({"dynamic": true, "options": [], "rpcmethods": [{"usage": ""}]}), "rpcmethod does not have a string \"name\": {\"usage\":\"\"}"),
        (json!({"dynamic": true, "options": [], "rpcmethods": [{"name": "x"}]}), "\"usage\" not provided by plugin"),
    ];
    for (i, (manifest, why)) in rows.into_iter().enumerate() {
        let p = raw(
            e.path(),
            &format!("badman{i}"),
            json!({"manifest": manifest}),
        );
        assert_eq!(start_err(&e, &p).await, why, "row {i}");
    }
    assert!(e.host.list().is_empty());
    healthy(&e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clashing_option_names() {
    let e = env();
    let opt = json!({"name": "same-opt", "type": "string", "description": "d"});
    let a = raw(
        e.path(),
        "opta",
        json!({"manifest": raw_manifest(json!({"options": [opt]}))}),
    );
    let b = raw(
        e.path(),
        "optb",
        json!({"manifest": raw_manifest(json!({"options": [opt]}))}),
    );
    start(&e.host, &a).await.unwrap();
    assert_eq!(
        start_err(&e, &b).await,
        "Option \"same-opt\" already registered"
    );
    // At start-up a clash is fatal, first come first served.
    let e2 = env();
    let c = raw(
        e2.path(),
        "optc",
        json!({"manifest": raw_manifest(json!({"options": [{"name": "alias", "type": "string", "description": ""}]}))}),
    );
    let err = e2
        .host
        .load_startup(vec![PluginSpec {
            path: c.clone(),
            important: false,
        }])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "error starting plugin '{}': option name 'alias' is already taken",
            c.display()
        )
    );
    healthy(&e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clashing_method_names() {
    let e = env();
    let m = json!([{"name": "dup", "usage": ""}]);
    let a = raw(
        e.path(),
        "metha",
        json!({"manifest": raw_manifest(json!({"rpcmethods": m}))}),
    );
    let b = raw(
        e.path(),
        "methb",
        json!({"manifest": raw_manifest(json!({"rpcmethods": m}))}),
    );
    let c = raw(
        e.path(),
        "methc",
        json!({"manifest": raw_manifest(json!({"rpcmethods": [{"name": "getinfo", "usage": ""}]}))}),
    );
    start(&e.host, &a).await.unwrap();
    assert_eq!(
        start_err(&e, &b).await,
        format!("Could not register method \"dup\", a method with that name is already registered by plugin {}", a.display())
    );
    assert_eq!(
        start_err(&e, &c).await,
        "Could not register method \"getinfo\", a builtin method with that name is already registered"
    );
    healthy(&e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_megabyte_reply_passes_through() {
    let e = env();
    let p = raw(
        e.path(),
        "bigreply",
        json!({"manifest": raw_manifest(json!({"rpcmethods":[{"name":"big","usage":""}]})),
               "methods": {"big": {"big": 50_000_000}}}),
    );
    start(&e.host, &p).await.unwrap();
    let f = e
        .host
        .passthrough(&request(json!(9), "big", json!([])), None)
        .await;
    assert!(f.len() > 50_000_000);
    let v: Value = serde_json::from_slice(&f).unwrap();
    assert_eq!(v["id"], 9);
    assert_eq!(v["result"]["data"].as_str().unwrap().len(), 50_000_000);
    healthy(&e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_bigger_than_the_limit_kills_only_that_plugin() {
    let e = env_with(|c| c.max_message = 1_000_000);
    let p = raw(
        e.path(),
        "toobig",
        json!({"manifest": raw_manifest(json!({"rpcmethods":[{"name":"big","usage":""}]})),
               "methods": {"big": {"big": 2_000_000}}}),
    );
    start(&e.host, &p).await.unwrap();
    let r = call(&e.host, "big", json!([])).await;
    assert_eq!(r["error"]["code"], -4);
    assert!(wait_log("plugin-toobig: Killing plugin: Message exceeds maximum size").await);
    healthy(&e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_to_an_id_never_sent_is_ignored() {
    let e = env();
    let p = raw(
        e.path(),
        "wrongid",
        json!({"getmanifest": "wrong_id",
               "manifest": raw_manifest(json!({"rpcmethods":[{"name":"w","usage":""}]})),
               "methods": {"w": "wrong_id_then_reply"}}),
    );
    start(&e.host, &p).await.unwrap();
    let r = call(&e.host, "w", json!([])).await;
    assert_eq!(r["result"], json!({"right": true}));
    assert!(wait_log("Ignoring response to unknown id never-sent#1").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stops_reading_stdin_during_100k_notifications() {
    let e = env_with(|c| c.notify_budget = 256 * 1024);
    let stuck = raw(
        e.path(),
        "stuck",
        json!({"manifest": raw_manifest(json!({"subscriptions": ["block_added"]})),
               "stop_reading_after_init": true}),
    );
    start(&e.host, &stuck).await.unwrap();
    healthy(&e).await;
    let t = Instant::now();
    for i in 0..100_000u32 {
        e.host
            .notify("block_added", json!({"hash": "00", "height": i}));
    }
    let took = t.elapsed();
    assert!(took < Duration::from_secs(10), "fan-out blocked: {took:?}");
    // Past its budget it is removed, loudly and once, naming the topic.
    assert!(wait_log("plugin-stuck: Killing plugin: stuck: cannot deliver 'block_added'").await);
    assert_eq!(logs().matches("plugin-stuck: Killing plugin").count(), 1);
    assert!(!e
        .host
        .list()
        .iter()
        .any(|p| p["name"].as_str().is_some_and(|n| n.ends_with("/stuck"))));
    let t = Instant::now();
    let r = call(&e.host, "ping", json!([])).await;
    assert_eq!(r["result"], json!({"pong": true}));
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dies_mid_passthrough() {
    let e = env();
    let Some(p) = py(e.path(), "pyln_hello", "pyln_hello.py") else {
        return;
    };
    start(&e.host, &p).await.unwrap();
    let f = e
        .host
        .passthrough(&request(json!("x"), "die", json!([])), None)
        .await;
    let v: Value = serde_json::from_slice(&f).unwrap();
    assert_eq!(
        v,
        json!({"jsonrpc":"2.0","id":"x","error":{"code":-4,"message":"Plugin terminated before replying to RPC call."}})
    );
    // Its methods are withdrawn.
    let r = call(&e.host, "hello", json!([])).await;
    assert_eq!(r["error"]["code"], -32601);
    assert!(wait_log("plugin-pyln_hello: Killing plugin: exited during normal operation").await);
    healthy(&e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dies_mid_hook_and_the_chain_goes_on() {
    let e = env();
    let Some(dying) = pyln_hook(e.path(), "dyinghook", "die") else {
        return;
    };
    let Some(next) = pyln_hook(e.path(), "nexthook", "return") else {
        return;
    };
    start(&e.host, &dying).await.unwrap();
    start(&e.host, &next).await.unwrap();
    let payload = RpcCommandPayload::from_request(&request(json!(1), "getinfo", json!({})));
    let out = e.host.call_hook::<RpcCommand>(&payload, None).await;
    assert_eq!(
        out,
        RpcCommandOutcome::Result(json!({"from": "nexthook.py", "method": "getinfo"}))
    );
    assert!(wait_log("Plugin died from rpc_command hook call").await);
    healthy(&e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_log_level_kills_the_plugin() {
    let e = env();
    let p = raw(
        e.path(),
        "loud",
        json!({"manifest": raw_manifest(json!({"rpcmethods":[{"name":"shout","usage":""}]})),
               "methods": {"shout": {"send": [{"jsonrpc":"2.0","method":"log","params":{"level":"loud","message":"x"}}]}}}),
    );
    start(&e.host, &p).await.unwrap();
    let r = call(&e.host, "shout", json!([])).await;
    assert_eq!(r["error"]["code"], -4);
    assert!(wait_log("plugin-loud: Killing plugin: Unknown log-level \"loud\", valid values are \"trace\", \"debug\", \"info\", \"warn\", or \"error\".").await);
    healthy(&e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_notification_kills_the_plugin() {
    let e = env();
    let p = raw(
        e.path(),
        "malnot",
        json!({"manifest": raw_manifest(json!({"rpcmethods":[{"name":"m","usage":""}]})),
               "methods": {"m": {"send": [{"jsonrpc":"2.0","method":"message"}]}}}),
    );
    start(&e.host, &p).await.unwrap();
    let r = call(&e.host, "m", json!([])).await;
    assert_eq!(r["error"]["code"], -4);
    assert!(wait_log("plugin-malnot: Killing plugin: Malformed JSON-RPC notification missing \"method\" or \"params\"").await);
    healthy(&e).await;
}

/// A plugin that closes its stdin but keeps running (stdout open): lightningd drops a
/// plugin whose pipe breaks. We must not leave a caller waiting on a request that could
/// never be written, nor keep the plugin registered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closes_stdin_but_stays_alive() {
    let e = env();
    let p = raw(
        e.path(),
        "deaf",
        json!({"manifest": raw_manifest(json!({"rpcmethods":[{"name":"deafen","usage":""},
                                                              {"name":"after","usage":""}]})),
               "methods": {"deafen": "close_stdin", "after": {"result": {}}}}),
    );
    start(&e.host, &p).await.unwrap();
    let r = call(&e.host, "deafen", json!([])).await;
    assert_eq!(r["result"], json!({"closed": true}));
    let r = tokio::time::timeout(Duration::from_secs(10), call(&e.host, "after", json!([])))
        .await
        .expect("a call to a plugin with a closed stdin hangs");
    assert_eq!(r["error"]["code"], -4, "{r}");
    assert!(wait_log("plugin-deaf: Killing plugin: exited during normal operation").await);
    let r = call(&e.host, "after", json!([])).await;
    assert_eq!(r["error"]["code"], -32601, "{r}");
    healthy(&e).await;
}

/// A plugin that exits while a child it forked still holds its stdin and stdout: the
/// pipes never reach EOF, but the plugin is gone and its callers must hear so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_while_a_forked_child_keeps_the_pipes() {
    let e = env();
    let p = raw(
        e.path(),
        "forker",
        json!({"manifest": raw_manifest(json!({"rpcmethods":[{"name":"fork","usage":""}]})),
               "methods": {"fork": "fork_exit"}}),
    );
    start(&e.host, &p).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), call(&e.host, "fork", json!([])))
        .await
        .expect("a call to a plugin that exited hangs while its child holds the pipes");
    assert_eq!(
        r["error"],
        json!({"code": -4, "message": "Plugin terminated before replying to RPC call."})
    );
    assert!(wait_log("plugin-forker: Killing plugin: exited during normal operation").await);
    let r = call(&e.host, "fork", json!([])).await;
    assert_eq!(r["error"]["code"], -32601, "{r}");
    healthy(&e).await;
}

/// Before the daemon's logger exists the host keeps its lines, a plugin's stderr included,
/// for up to the init timeout: a plugin spewing stderr while it starts must not grow that
/// buffer without bound. The newest lines are kept, with a note of how many were dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stderr_spew_during_startup_is_buffered_within_bounds() {
    use plugins::log::{HostLog, EARLY_MAX_BYTES, EARLY_MAX_LINES};
    let early = HostLog::buffering();
    let e = env_with(|c| c.log = early.clone());
    // 30,000 lines of 200 bytes: 6 MB, over both caps.
    let p = raw(
        e.path(),
        "spewer",
        json!({"manifest": raw_manifest(json!({})), "stderr_spew": [30000, 200]}),
    );
    e.host
        .load_startup(vec![PluginSpec {
            path: p,
            important: false,
        }])
        .await
        .unwrap();
    // The stderr reader may lag the plugin's answer: wait until the buffer stops moving,
    // checking the bounds all along.
    let mut last = (usize::MAX, 0);
    for _ in 0..100 {
        let now = early.buffered();
        assert!(
            now.0 <= EARLY_MAX_LINES && now.1 <= EARLY_MAX_BYTES,
            "{now:?}"
        );
        if now == last {
            break;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lines = early.take();
    assert!(lines.len() <= EARLY_MAX_LINES + 1, "{}", lines.len());
    let (_, source, note) = &lines[0];
    assert_eq!(source, "plugins");
    assert!(note.contains("log lines from start-up dropped"), "{note}");
    assert_eq!(lines.last().unwrap().2, "spew done");
    // Once taken, nothing is buffered any more: lines go straight to the logger.
    assert_eq!(early.buffered(), (0, 0));
}
