//! `setconfig` persistence: `config.setconfig` stays consistent under concurrent writers.

mod common;

use std::collections::HashSet;

use serde_json::json;

#[test]
fn concurrent_setconfigs_leave_a_consistent_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = json!({
        "manifest": {"options": [{"name": "raw-dyn", "type": "string", "default": "a",
                                  "description": "changed at run time", "dynamic": true},
                                 {"name": "raw-multi", "type": "string", "multi": true,
                                  "description": "a set", "dynamic": true}],
                     "rpcmethods": []},
        "methods": {"setconfig": {"result": {}}},
    });
    let Some(plugin) = common::raw_plugin(dir.path(), "dyn", &spec) else {
        return;
    };
    let d = common::Daemon::start_in(dir, &[&format!("--plugin={}", plugin.display())]);
    let sock = d.socket();
    // Single values append a line each; a multi option's set comments out its earlier
    // lines and appends its new ones (a rewrite of the whole file) at the same time.
    const N: usize = 100;
    let sources: Vec<(String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2 * N)
            .map(|i| {
                let sock = sock.clone();
                s.spawn(move || {
                    let mut c = common::Client::connect(&sock);
                    if i % 2 == 1 {
                        let vals = json!([format!("m{i}a"), format!("m{i}b")]);
                        let r = c.call("setconfig", json!({"config": "raw-multi", "val": vals}));
                        assert!(r.get("result").is_some(), "{r}");
                        return None;
                    }
                    let val = format!("v{i}");
                    let r = c.call("setconfig", json!({"config": "raw-dyn", "val": val}));
                    let src = r["result"]["config"]["source"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{r}"))
                        .to_string();
                    Some((val, src))
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect()
    });
    let path = d.net_dir().join("config.setconfig");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let singles: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("raw-dyn="))
        .collect();
    let live_multi: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("raw-multi="))
        .collect();
    let commented = lines
        .iter()
        .filter(|l| l.starts_with("# setconfig commented out: raw-multi="))
        .count();
    assert_eq!(singles.len(), N, "{text}");
    assert_eq!(live_multi.len(), 2, "{text}");
    assert_eq!(commented, 2 * (N - 1), "{text}");
    assert_eq!(lines.len(), 3 * N, "{text}");
    // Every single-value reply names its own line.
    let mut seen = HashSet::new();
    for (val, src) in &sources {
        let (file, line) = src.rsplit_once(':').unwrap();
        assert_eq!(file, path.display().to_string());
        let line: usize = line.parse().unwrap();
        assert_eq!(lines[line - 1], format!("raw-dyn={val}"), "{src}");
        assert!(seen.insert(line), "line {line} given twice");
    }
    // The live multi lines are one call's whole set.
    let a = live_multi[0].trim_start_matches("raw-multi=");
    assert_eq!(
        live_multi[1],
        format!("raw-multi={}b", a.trim_end_matches('a'))
    );
    assert!(!d.net_dir().join("config.setconfig.tmp").exists());
    // The last single line is the value in force.
    let last = singles[N - 1].trim_start_matches("raw-dyn=");
    let r = d.call("listconfigs", json!({"config": "raw-dyn"}));
    assert_eq!(
        r["result"]["configs"]["raw-dyn"]["value_str"],
        json!(last),
        "{r}"
    );
}
