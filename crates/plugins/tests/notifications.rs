//! Notifications are never lost silently: a subscriber that stops reading costs no other
//! subscriber a notification, and is removed loudly once past its budget (native topics)
//! or once it stalls an emitter (plugin topics); a slow one makes the emitter wait.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const TOPIC: &str = "bench_event";

fn counter(e: &Env, name: &str, topic: &str) -> PathBuf {
    let m = format!("count_{name}");
    raw(
        e.path(),
        name,
        json!({"manifest": raw_manifest(json!({"rpcmethods": [{"name": m, "usage": ""}],
                                               "subscriptions": [topic]})),
               "count_topic": topic, "methods": {m: "count"}}),
    )
}

fn stuck(e: &Env, name: &str, topic: &str) -> PathBuf {
    raw(
        e.path(),
        name,
        json!({"manifest": raw_manifest(json!({"subscriptions": [topic]})),
               "stop_reading_after_init": true}),
    )
}

fn emitter(e: &Env, name: &str) -> PathBuf {
    let m = format!("burst_{name}");
    raw(
        e.path(),
        name,
        json!({"manifest": raw_manifest(json!({"rpcmethods": [{"name": m, "usage": "n"}],
                                               "notifications": [{"method": TOPIC}]})),
               "methods": {m: {"burst": {"topic": TOPIC, "n": 0}}}}),
    )
}

async fn count(e: &Env, name: &str) -> u64 {
    let r = call(&e.host, &format!("count_{name}"), json!([])).await;
    r["result"]["count"].as_u64().unwrap_or(0)
}

/// Waits until `name` counted `n` notifications; returns what it counted last.
async fn counted(e: &Env, name: &str, n: u64) -> u64 {
    let t = Instant::now();
    loop {
        let c = count(e, name).await;
        if c >= n || t.elapsed() > Duration::from_secs(60) {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn live(e: &Env, name: &str) -> bool {
    let tail = format!("/{name}");
    e.host
        .list()
        .iter()
        .any(|p| p["name"].as_str().is_some_and(|n| n.ends_with(&tail)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_subscriber_never_costs_another_a_native_notification() {
    let e = env_with(|c| c.notify_budget = 64 * 1024);
    start(&e.host, &stuck(&e, "stuck_native", "block_added"))
        .await
        .unwrap();
    start(&e.host, &counter(&e, "count_native", "block_added"))
        .await
        .unwrap();
    const N: u64 = 20_000;
    for i in 0..N {
        e.host
            .notify("block_added", json!({"hash": "00", "height": i}));
        // Yield now and then: the counter must be able to keep up within its budget,
        // the stuck one never can.
        if i % 100 == 0 {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    assert_eq!(counted(&e, "count_native", N).await, N);
    let needle =
        "plugin-stuck_native: Killing plugin: stuck: cannot deliver 'block_added' notification";
    assert!(wait_log(needle).await, "{}", logs());
    assert_eq!(logs().matches(needle).count(), 1);
    let line = logs()
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_default()
        .to_string();
    assert!(line.contains("bytes) still queued"), "{line}");
    assert!(line.starts_with("ERROR"), "not logged as broken: {line}");
    assert!(!live(&e, "stuck_native"));
    assert!(live(&e, "count_native"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_notifications_wait_for_slow_subscribers_and_none_is_lost() {
    // A budget this small makes the emitter wait for the subscribers over and over.
    let e = env_with(|c| c.notify_budget = 8 * 1024);
    start(&e.host, &emitter(&e, "emit_slow")).await.unwrap();
    for n in ["sub_slow_a", "sub_slow_b"] {
        start(&e.host, &counter(&e, n, TOPIC)).await.unwrap();
    }
    const N: u64 = 20_000;
    let r = call(&e.host, "burst_emit_slow", json!({"n": N})).await;
    assert_eq!(r["result"]["sent"], json!(N), "{r}");
    for n in ["sub_slow_a", "sub_slow_b"] {
        assert_eq!(counted(&e, n, N).await, N, "{n}");
    }
    assert!(!logs().contains("plugin-sub_slow_a: Killing"));
    assert!(!logs().contains("plugin-sub_slow_b: Killing"));
    assert!(!logs().contains("plugin-emit_slow: Killing"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stalls_an_emitter_is_removed_and_the_others_get_everything() {
    let e = env_with(|c| {
        c.notify_budget = 16 * 1024;
        c.notify_stall = Duration::from_millis(500);
    });
    start(&e.host, &emitter(&e, "emit_stall")).await.unwrap();
    start(&e.host, &stuck(&e, "sub_stall_stuck", TOPIC))
        .await
        .unwrap();
    start(&e.host, &counter(&e, "sub_stall_ok", TOPIC))
        .await
        .unwrap();
    const N: u64 = 10_000;
    let r = call(&e.host, "burst_emit_stall", json!({"n": N})).await;
    assert_eq!(r["result"]["sent"], json!(N), "{r}");
    assert_eq!(counted(&e, "sub_stall_ok", N).await, N);
    let needle = format!(
        "plugin-sub_stall_stuck: Killing plugin: stuck: cannot deliver '{TOPIC}' notification"
    );
    assert!(wait_log(&needle).await, "{}", logs());
    assert!(!live(&e, "sub_stall_stuck"));
    assert!(live(&e, "emit_stall") && live(&e, "sub_stall_ok"));
}

/// An important subscriber that stops reading is removed the same loud way once past its
/// budget, and its death stops the node (the daemon shuts down on this event), as any
/// important plugin's does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_important_subscriber_shuts_the_node_down() {
    let mut e = env_with(|c| c.notify_budget = 64 * 1024);
    let p = stuck(&e, "stuck_important", "coin_movement");
    e.host
        .load_startup(vec![plugins::PluginSpec {
            path: p.clone(),
            important: true,
        }])
        .await
        .unwrap();
    e.host.init_all().await;
    let mut i = 0u64;
    while live(&e, "stuck_important") && i < 100_000 {
        e.host.notify(
            "coin_movement",
            json!({"version": 2, "n": i, "pad": "x".repeat(200)}),
        );
        i += 1;
        if i.is_multiple_of(100) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let needle =
        "plugin-stuck_important: Killing plugin: stuck: cannot deliver 'coin_movement' notification";
    assert!(wait_log(needle).await, "{}", logs());
    let died = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match e.events.recv().await {
                Some(plugins::HostEvent::ImportantPluginDied { path, reason }) => {
                    return (path, reason)
                }
                Some(_) => continue,
                None => panic!("events closed"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(died.0, p.display().to_string());
    assert!(
        died.1.starts_with("stuck: cannot deliver 'coin_movement'"),
        "{}",
        died.1
    );
    assert!(wait_log("Plugin marked as important, shutting down lightningd!").await);
}
