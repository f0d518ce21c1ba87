//! Start-up, init, options, the `plugin` command, setconfig and shutdown, with real
//! pyln-client, cln-plugin and hand-written plugins.

mod common;

use std::time::{Duration, Instant};

use common::*;
use plugins::{HostEvent, PluginCommand, PluginSpec, SetVal, StartupError};
use serde_json::{json, Value};

fn spec(p: &std::path::Path) -> PluginSpec {
    PluginSpec {
        path: p.to_path_buf(),
        important: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyln_plugin_gets_options_and_configuration_in_init() {
    let e = env();
    let Some(p) = py(e.path(), "pyln_hello", "pyln_hello.py") else {
        return;
    };
    e.host.load_startup(vec![spec(&p)]).await.unwrap();
    let names: Vec<String> = e.host.option_specs().into_iter().map(|o| o.name).collect();
    assert!(names.contains(&"greeting".to_string()) && names.contains(&"py-multi".to_string()));
    e.host
        .set_option_value("greeting", Some("hi".into()), "cmdline")
        .unwrap();
    e.host
        .set_option_value("py-count", Some("0x10".into()), "cmdline")
        .unwrap();
    assert_eq!(
        e.host
            .set_option_value("py-count", Some("notok".into()), "cmdline")
            .unwrap_err(),
        "'notok' is not a number"
    );
    assert_eq!(
        e.host
            .set_option_value("py-bool", Some("!".into()), "cmdline")
            .unwrap_err(),
        "Invalid argument '!'"
    );
    assert_eq!(
        e.host
            .set_option_value("py-flag", Some("True".into()), "cmdline")
            .unwrap_err(),
        "doesn't allow an argument"
    );
    e.host.set_option_value("py-flag", None, "cmdline").unwrap();
    assert!(e.host.init_all().await.is_empty());

    let r = call(&e.host, "options", json!({})).await;
    let opts = &r["result"]["options"];
    assert_eq!(opts["greeting"], "hi");
    assert_eq!(opts["py-count"], 16);
    assert_eq!(opts["py-flag"], true);
    // Multi option with neither value nor default: omitted (CLN, §3.1).
    assert!(opts.get("py-multi").is_none());
    let conf = &r["result"]["configuration"];
    let keys: Vec<&String> = conf.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "lightning-dir",
            "rpc-file",
            "startup",
            "network",
            "feature_set"
        ]
    );
    assert_eq!(conf["startup"], true);
    assert_eq!(conf["network"], "regtest");
    assert_eq!(conf["lightning-dir"], e.path().display().to_string());

    let r = call(&e.host, "hello", json!(["bob"])).await;
    assert_eq!(
        r,
        json!({"jsonrpc":"2.0","id":1,"result":{"greeting":"hi bob"}})
    );

    // listconfigs shape (§4.4).
    let lc: Vec<(String, Value)> = e.host.listconfigs();
    let get = |n: &str| lc.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let path = p.display().to_string();
    assert_eq!(
        get("greeting").unwrap(),
        json!({"value_str":"hi","source":"cmdline","plugin":path})
    );
    assert_eq!(get("py-count").unwrap()["value_int"], 16);
    assert_eq!(get("py-flag").unwrap()["set"], true);
    assert_eq!(get("py-dyn"), None, "unset and no default: not shown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cln_plugin_crate_plugin_runs_unchanged() {
    let e = env();
    let p = cln_bin("cln-hello");
    e.host.load_startup(vec![spec(&p)]).await.unwrap();
    e.host
        .set_option_value("cln-count", Some("010".into()), "cmdline")
        .unwrap();
    assert!(e.host.init_all().await.is_empty());
    let r = call(&e.host, "clnhello", json!({"name": "alice"})).await;
    assert_eq!(r["result"], json!({"greeting": "hello alice"}));
    let r = call(&e.host, "cln-options", json!({})).await;
    assert_eq!(
        r["result"]["cln-count"], 8,
        "strtol base 0: leading 0 is octal"
    );
    let m = e.host.method("clnmin").unwrap();
    assert_eq!(m.plugin_path, p.display().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_start_stop_list_with_options() {
    let e = env();
    let p = cln_bin("cln-hello");
    let r = e
        .host
        .command(
            PluginCommand::from_params(
                &json!({"subcommand":"start","plugin":p,"cln-greeting":"yo"}),
            )
            .unwrap(),
            Some("cli:plugin#1"),
        )
        .await
        .unwrap();
    assert_eq!(r["command"], "start");
    assert_eq!(
        r["plugins"],
        json!([{"name": p.display().to_string(), "active": true, "dynamic": true}])
    );
    let r = call(&e.host, "clnhello", json!([])).await;
    assert_eq!(r["result"]["greeting"], "yo world");
    let lc = e.host.listconfigs();
    let g = &lc.iter().find(|(k, _)| k == "cln-greeting").unwrap().1;
    assert_eq!(g["source"], "pluginstart");

    // Starting it again: already registered.
    let err = start(&e.host, &p).await.unwrap_err();
    assert_eq!(err.code, -32602);
    assert_eq!(err.message, format!("{}: already registered", p.display()));

    let r = e
        .host
        .command(PluginCommand::Stop("cln-hello".into()), None)
        .await
        .unwrap();
    assert_eq!(
        r,
        json!({"command":"stop","result":"Successfully stopped cln-hello."})
    );
    let r = call(&e.host, "clnhello", json!([])).await;
    assert_eq!(r["error"]["message"], "Unknown command 'clnhello'");
    // pluginstart values go with the plugin.
    assert!(e.host.listconfigs().is_empty());

    let err = e
        .host
        .command(PluginCommand::Stop("nope".into()), None)
        .await
        .unwrap_err();
    assert_eq!(err.message, "Could not find plugin nope");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_command_params_errors() {
    let err = |v: Value| PluginCommand::from_params(&v).unwrap_err().message;
    assert_eq!(err(json!(["frob"])), "Unknown subcommand 'frob'");
    assert_eq!(err(json!([])), "missing required parameter: subcommand");
    assert_eq!(err(json!(["start"])), "missing required parameter: plugin");
    // Positionally the third parameter is the `options` array (plugin_control.c).
    assert_eq!(
        err(json!(["start", "/x", "a=b"])),
        "options: should be an array: invalid token '\"a=b\"'"
    );
    assert_eq!(
        err(json!(["start", "/x", ["a=b"], "c"])),
        "Extra parameters must be in object"
    );
    assert_eq!(
        err(json!({"subcommand":"start","plugin":"/x","options":["a"],"b":1})),
        "Cannot mix 'options' array with keyword options"
    );
    assert_eq!(
        err(json!({"subcommand":"start","plugin":"/x","options":[1]})),
        "options array entries must be strings"
    );
    assert_eq!(
        PluginCommand::from_params(
            &json!({"subcommand":"start","plugin":"/x","options":["a=1","f"]})
        )
        .unwrap(),
        PluginCommand::Start {
            path: "/x".into(),
            options: vec![("a".into(), Some("1".into())), ("f".into(), None)]
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_dynamic_plugins_cannot_be_started_or_stopped_at_runtime() {
    let e = env();
    let p = raw(
        e.path(),
        "static1",
        json!({"manifest": {"options":[],"rpcmethods":[]}}),
    );
    let err = start(&e.host, &p).await.unwrap_err();
    assert_eq!(err.code, -3);
    assert_eq!(
        err.message,
        format!("{}: Not a dynamic plugin", p.display())
    );

    e.host.load_startup(vec![spec(&p)]).await.unwrap();
    e.host.init_all().await;
    let err = e
        .host
        .command(PluginCommand::Stop("static1".into()), None)
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "static1 cannot be managed when lightningd is up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startdir_and_rescan_start_new_plugins() {
    let e = env();
    let sub = e.path().join("pdir");
    std::fs::create_dir(&sub).unwrap();
    raw(
        &sub,
        "a1",
        json!({"manifest": raw_manifest(json!({"rpcmethods":[{"name":"a1m","usage":""}]}))}),
    );
    raw(&sub, "b1", json!({"manifest": raw_manifest(json!({}))}));
    std::fs::write(sub.join("README.md"), "x").unwrap();
    let r = e
        .host
        .command(PluginCommand::StartDir(sub.clone()), None)
        .await
        .unwrap();
    // Two plugins; spec files are not executable and README.md is skipped.
    assert_eq!(r["plugins"].as_array().unwrap().len(), 2);
    let err = e
        .host
        .command(PluginCommand::StartDir(e.path().join("nope")), None)
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        format!("Could not open {}", e.path().join("nope").display())
    );
}

/// `plugin startdir` on something that exists but is no directory: lightningd's
/// `add_plugin_dir` error (`Failed to open plugin-dir <dir>: <strerror>`, §8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startdir_on_a_file_says_why() {
    let e = env();
    let f = e.path().join("afile");
    std::fs::write(&f, "x").unwrap();
    let err = e
        .host
        .command(PluginCommand::StartDir(f.clone()), None)
        .await
        .unwrap_err();
    assert_eq!(err.code, -32602);
    assert_eq!(
        err.message,
        format!("Failed to open plugin-dir {}: Not a directory", f.display())
    );
}

/// `plugin rescan` loads what is new in the default plugin dir and its immediate
/// subdirectories (`plugins_add_default_dir`, §8.1), and nothing from other directories.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rescan_looks_in_the_default_dir_and_its_subdirs() {
    let dir = tempfile::tempdir().unwrap();
    let default = dir.path().join("plugins");
    let e = env_with(|c| c.default_plugin_dir = Some(default.clone()));
    let nested = default.join("pkg");
    let deeper = nested.join("deeper");
    let elsewhere = dir.path().join("elsewhere");
    for d in [&deeper, &elsewhere] {
        std::fs::create_dir_all(d).unwrap();
    }
    let m = || json!({"manifest": raw_manifest(json!({}))});
    raw(&default, "top", m());
    raw(&nested, "nested", m());
    raw(&deeper, "deep", m());
    raw(&elsewhere, "other", m());
    let r = e.host.command(PluginCommand::Rescan, None).await.unwrap();
    let mut names: Vec<String> = r["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    let want = |p: std::path::PathBuf| p.display().to_string();
    assert_eq!(
        names,
        vec![want(nested.join("nested")), want(default.join("top"))]
    );
    // A second rescan finds nothing new and starts nothing.
    raw(&nested, "later", m());
    let r = e.host.command(PluginCommand::Rescan, None).await.unwrap();
    assert_eq!(r["plugins"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setconfig_goes_through_the_plugin() {
    let e = env();
    let p = cln_bin("cln-hello");
    start(&e.host, &p).await.unwrap();
    let r = e
        .host
        .setconfig(
            "cln-dyn",
            SetVal::One(Some("new".into())),
            "setconfig transient",
            Some("cli:setconfig#1"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r["config"]["config"], "cln-dyn");
    assert_eq!(r["config"]["value_str"], "new");
    assert_eq!(r["config"]["dynamic"], true);
    let r = call(&e.host, "cln-options", json!({})).await;
    assert_eq!(r["result"]["cln-dyn"], "new");

    let err = e
        .host
        .setconfig("cln-dyn", SetVal::One(Some("refuse".into())), "x", None)
        .await
        .unwrap()
        .unwrap_err();
    assert!(err.message.contains("refuses"), "{err:?}");
    let err = e
        .host
        .setconfig("cln-greeting", SetVal::One(Some("x".into())), "x", None)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code, -32602);
    assert!(err
        .message
        .starts_with("config: Not a dynamic config option"));
    assert!(e
        .host
        .setconfig("not-a-plugin-option", SetVal::One(None), "x", None)
        .await
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_in_manifest_or_init_drops_the_plugin_cleanly() {
    let e = env();
    let p = raw(
        e.path(),
        "dis1",
        json!({"manifest": {"disable": "not today"}}),
    );
    let err = start(&e.host, &p).await.unwrap_err();
    assert_eq!(
        err.message,
        format!("{}: disabled itself: not today", p.display())
    );
    let p = raw(
        e.path(),
        "dis2",
        json!({"manifest": raw_manifest(json!({})), "init": {"disable": "nah"}}),
    );
    let err = start(&e.host, &p).await.unwrap_err();
    assert_eq!(
        err.message,
        format!("{}: disabled itself at init: nah", p.display())
    );
    assert!(e.host.list().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn important_plugin_death_is_reported() {
    let mut e = env();
    let p = raw(
        e.path(),
        "imp1",
        json!({"manifest": raw_manifest(json!({"rpcmethods":[{"name":"boom","usage":""}]})),
               "methods": {"boom": "die"}}),
    );
    e.host
        .load_startup(vec![PluginSpec {
            path: p.clone(),
            important: true,
        }])
        .await
        .unwrap();
    e.host.init_all().await;
    let r = call(&e.host, "boom", json!([])).await;
    assert_eq!(r["error"]["code"], -4);
    let ev = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match e.events.recv().await {
                Some(HostEvent::ImportantPluginDied { path, .. }) => return path,
                Some(_) => continue,
                None => panic!("events closed"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(ev, p.display().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn important_plugin_failing_at_startup_aborts_startup() {
    let e = env();
    let p = raw(e.path(), "imp2", json!({"getmanifest": "exit"}));
    let err = e
        .host
        .load_startup(vec![PluginSpec {
            path: p,
            important: true,
        }])
        .await
        .unwrap_err();
    assert!(matches!(err, StartupError::ImportantFailed { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_notifies_subscribers_and_kills_the_rest() {
    let e = env();
    let cln = cln_bin("cln-hello");
    let r1 = raw(
        e.path(),
        "quiet1",
        json!({"manifest": raw_manifest(json!({}))}),
    );
    e.host
        .load_startup(vec![spec(&cln), spec(&r1)])
        .await
        .unwrap();
    e.host.init_all().await;
    assert_eq!(e.host.list().len(), 2);
    let t = Instant::now();
    e.host.shutdown().await;
    // cln-hello exits on `shutdown` by itself, well inside the 5 s grace.
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert!(e.host.list().is_empty());
}

/// `plugin start` of one path from many clients at once starts it once: the others are
/// told it is already registered (no two live copies sharing every method name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_starts_of_one_path_start_it_once() {
    let e = env();
    let p = raw(
        e.path(),
        "once",
        json!({"manifest": raw_manifest(json!({"rpcmethods":[{"name":"one","usage":""}]})),
               "methods": {"one": {"result": {"n": 1}}}}),
    );
    // Separate tasks, as separate client connections are (they run in parallel).
    let tasks = (0..40).map(|_| {
        let (host, p) = (e.host.clone(), p.clone());
        tokio::spawn(async move { start(&host, &p).await })
    });
    let results: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "{results:?}");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(r.code, -32602);
        assert_eq!(r.message, format!("{}: already registered", p.display()));
    }
    assert_eq!(e.host.list().len(), 1, "{:?}", e.host.list());
    let r = call(&e.host, "one", json!([])).await;
    assert_eq!(r["result"], json!({"n": 1}));
}

/// `plugin start PATH opt=value` with a bad value: `-3 "<path>: <the parser's text>"`, no
/// option-name prefix (reference §3, plugin.c:1571-1614), and the plugin is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_start_bad_option_value_is_the_parsers_text() {
    let e = env();
    let Some(p) = py(e.path(), "pyln_hello", "pyln_hello.py") else {
        return;
    };
    let abs = std::path::absolute(&p).unwrap().display().to_string();
    let start = |name: &str, val: Option<&str>| PluginCommand::Start {
        path: abs.clone(),
        options: vec![(name.to_string(), val.map(String::from))],
    };
    let err = e
        .host
        .command(start("py-count", Some("x")), None)
        .await
        .unwrap_err();
    assert_eq!(err.code, -3);
    assert_eq!(err.message, format!("{abs}: 'x' is not a number"));
    assert!(e.host.list().is_empty());
    let err = e
        .host
        .command(start("py-bool", Some("maybe")), None)
        .await
        .unwrap_err();
    assert_eq!(err.message, format!("{abs}: Invalid argument 'maybe'"));
    let err = e
        .host
        .command(start("py-flag", Some("yes")), None)
        .await
        .unwrap_err();
    assert_eq!(err.message, format!("{abs}: doesn't allow an argument"));
    let err = e
        .host
        .command(start("nope", Some("1")), None)
        .await
        .unwrap_err();
    assert_eq!(err.message, format!("{abs}: unknown parameter nope"));
    assert!(e.host.list().is_empty());
}

/// `plugin start` of a path already running: refused while the file is the same; once the
/// executable changed, the old process is killed and the new one started (§8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_a_changed_plugin_again_restarts_it() {
    let e = env();
    let p = raw(
        e.path(),
        "changing",
        json!({"manifest": raw_manifest(json!({"rpcmethods":[{"name":"ver","usage":""}]})),
               "methods": {"ver": "echo"}}),
    );
    start(&e.host, &p).await.unwrap();
    let first = call(&e.host, "ver", json!({})).await;
    assert!(first["result"].is_object(), "{first}");
    let err = start(&e.host, &p).await.unwrap_err();
    assert!(
        err.message.ends_with(": already registered"),
        "{}",
        err.message
    );
    let mut text = std::fs::read_to_string(&p).unwrap();
    text.push_str("# changed\n");
    std::fs::write(&p, text).unwrap();
    start(&e.host, &p).await.unwrap();
    assert!(wait_log("Killing plugin: Plugin changed, needs restart.").await);
    assert_eq!(e.host.list().len(), 1);
    let again = call(&e.host, "ver", json!({})).await;
    assert!(again["result"].is_object(), "{again}");
}
