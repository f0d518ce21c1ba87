//! The daemon calling plugin methods itself (`PluginHost::call`, for Bitcoin backends) and
//! asking who provides a method, with real plugins: pyln-client, cln-plugin and
//! hand-written ones.

mod common;

use std::time::{Duration, Instant};

use common::*;
use plugins::{CallError, PluginSpec};
use serde_json::json;

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

fn backend(e: &Env, name: &str, methods: serde_json::Value) -> std::path::PathBuf {
    let names: Vec<serde_json::Value> = methods
        .as_object()
        .unwrap()
        .keys()
        .map(|m| json!({"name": m, "usage": ""}))
        .collect();
    raw(
        e.path(),
        name,
        json!({"manifest": raw_manifest(json!({"rpcmethods": names})), "methods": methods}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_returns_the_result_of_a_pyln_and_a_cln_plugin() {
    let e = env();
    let Some(py) = py(e.path(), "pyln_hello", "pyln_hello.py") else {
        return;
    };
    let cln = cln_bin("cln-hello");
    started(&e, &[&py, &cln]).await;

    let r = e
        .host
        .call("echo", &json!({"last_height": 7}), None)
        .await
        .unwrap();
    assert_eq!(r["params"], json!({"last_height": 7}));
    let id = r["id"].as_str().unwrap();
    assert!(id.starts_with("cln:echo#"), "{id}");

    // The causing command's id prefixes ours (sendrawtransaction from sendpsbt, §1.1).
    let r = e
        .host
        .call("echo", &json!({}), Some("cli:sendpsbt#77"))
        .await
        .unwrap();
    let id = r["id"].as_str().unwrap();
    assert!(id.starts_with("cli:sendpsbt#77/cln:echo#"), "{id}");

    let r = e
        .host
        .call("clnhello", &json!({"name": "chain"}), None)
        .await
        .unwrap();
    assert_eq!(r, json!({"greeting": "hello chain"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_names_the_plugin_and_none_without_one() {
    let e = env();
    let a = backend(
        &e,
        "backend_a",
        json!({"getchaininfo": {"result": {}}, "estimatefees": {"result": {}}}),
    );
    let b = backend(&e, "backend_b", json!({"getutxout": {"result": {}}}));
    started(&e, &[&a, &b]).await;
    let abs = |p: &std::path::Path| std::path::absolute(p).unwrap().display().to_string();
    assert_eq!(e.host.provider("getchaininfo"), Some(abs(&a)));
    assert_eq!(e.host.provider("estimatefees"), Some(abs(&a)));
    assert_eq!(e.host.provider("getutxout"), Some(abs(&b)));
    assert_eq!(e.host.provider("sendrawtransaction"), None);
    assert_eq!(
        e.host
            .call("sendrawtransaction", &json!({"tx": "00"}), None)
            .await,
        Err(CallError::NoProvider {
            method: "sendrawtransaction".into()
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_provider_of_a_method_is_refused_so_there_is_only_one() {
    let e = env();
    let a = backend(
        &e,
        "backend_a",
        json!({"getchaininfo": {"result": {"a": 1}}}),
    );
    let b = backend(
        &e,
        "backend_b",
        json!({"getchaininfo": {"result": {"b": 1}}}),
    );
    started(&e, &[&a, &b]).await;
    // Manifests are processed as they arrive: whichever came second was killed.
    let live = e.host.list();
    assert_eq!(live.len(), 1, "{live:?}");
    let winner = live[0]["name"].as_str().unwrap().to_string();
    assert_eq!(e.host.provider("getchaininfo"), Some(winner.clone()));
    let r = e.host.call("getchaininfo", &json!({}), None).await.unwrap();
    let expect = if winner.ends_with("backend_a") {
        json!({"a": 1})
    } else {
        json!({"b": 1})
    };
    assert_eq!(r, expect);
    assert!(logs().contains("a method with that name is already registered by plugin"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_and_malformed_replies_are_errors_with_the_reply() {
    let e = env();
    let p = backend(
        &e,
        "backend",
        json!({"estimatefees": {"error": {"code": -1, "message": "no fees"}},
               "getutxout": "no_result"}),
    );
    started(&e, &[&p]).await;
    match e.host.call("estimatefees", &json!({}), None).await {
        Err(CallError::Error { method, error, .. }) => {
            assert_eq!(method, "estimatefees");
            assert_eq!(error, json!({"code": -1, "message": "no fees"}));
        }
        other => panic!("{other:?}"),
    }
    match e.host.call("getutxout", &json!({}), None).await {
        Err(CallError::Malformed { reply, .. }) => assert!(reply.contains("weird"), "{reply}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_dying_mid_call_fails_the_call_at_once() {
    let e = env();
    let Some(p) = py(e.path(), "pyln_hello", "pyln_hello.py") else {
        return;
    };
    started(&e, &[&p]).await;
    let t = Instant::now();
    match e.host.call("die", &json!({}), None).await {
        Err(CallError::Terminated { method, .. }) => assert_eq!(method, "die"),
        other => panic!("{other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(e.host.provider("echo"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_times_out_leaves_the_plugin_usable() {
    let e = env();
    let p = backend(
        &e,
        "backend",
        json!({"getrawblockbyheight": "hang", "getchaininfo": {"result": {"ok": true}}}),
    );
    started(&e, &[&p]).await;
    let limit = Duration::from_millis(300);
    match e
        .host
        .call_within("getrawblockbyheight", &json!({"height": 1}), None, limit)
        .await
    {
        Err(CallError::Timeout { after, .. }) => assert_eq!(after, limit),
        other => panic!("{other:?}"),
    }
    let r = e
        .host
        .call_within("getchaininfo", &json!({}), None, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(r, json!({"ok": true}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_is_initialised_ahead_of_the_others_once() {
    let e = env();
    let record = e.path().join("backend.record");
    let b = raw(
        e.path(),
        "backend",
        json!({"manifest": raw_manifest(json!({"rpcmethods": [{"name": "getchaininfo", "usage": ""}]})),
               "methods": {"getchaininfo": {"result": {"chain": "regtest"}}},
               // lightningd ignores a backend's `disable` (chain reference §1.3).
               "init": {"disable": "not today"},
               "record": record.display().to_string()}),
    );
    let Some(other) = py(e.path(), "pyln_hello", "pyln_hello.py") else {
        return;
    };
    e.host
        .load_startup(vec![
            PluginSpec {
                path: b.clone(),
                important: false,
            },
            PluginSpec {
                path: other,
                important: false,
            },
        ])
        .await
        .unwrap();
    let path = e.host.provider("getchaininfo").unwrap();
    e.host.init_backend(&path).await.unwrap();
    // Up, and the other plugin still waits for its init.
    let listed = e.host.list();
    let active = |name: &str| {
        listed
            .iter()
            .find(|p| p["name"].as_str().unwrap().ends_with(name))
            .map(|p| p["active"].as_bool().unwrap())
    };
    assert_eq!(active("backend"), Some(true));
    assert_eq!(active("pyln_hello"), Some(false));
    let r = e
        .host
        .call("getchaininfo", &json!({"last_height": 0}), None)
        .await;
    assert_eq!(r.unwrap(), json!({"chain": "regtest"}));
    // Again: nothing to do.
    e.host.init_backend(&path).await.unwrap();
    assert!(e.host.init_all().await.is_empty());
    let inits = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"method\": \"init\""))
        .count();
    assert_eq!(inits, 1);
    assert!(e.host.init_backend("/no/such/plugin").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_resolves_when_the_backend_dies() {
    let e = env();
    let Some(p) = py(e.path(), "pyln_hello", "pyln_hello.py") else {
        return;
    };
    started(&e, &[&p]).await;
    let path = e.host.provider("die").unwrap();
    let gone = e.host.removal(&path).unwrap();
    let _ = e.host.call("die", &json!({}), None).await;
    let why = tokio::time::timeout(Duration::from_secs(10), gone)
        .await
        .unwrap();
    assert_eq!(why, "exited during normal operation");
    assert!(e.host.removal(&path).is_none());
}
