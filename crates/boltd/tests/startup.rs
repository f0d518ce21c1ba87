//! Start-up and shutdown of real boltd processes: options, config files, identity, the
//! directory lock, the socket file, signals and `stop`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::*;
use serde_json::json;

#[test]
fn config_files_then_command_line_with_sources() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config"),
        "# base config\nnetwork=regtest\nalias=from-base\nrgb=010203\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("regtest")).unwrap();
    std::fs::write(
        dir.path().join("regtest/config"),
        "alias=from-network\nlog-prefix=pfx-\naddr=127.0.0.1:1\n",
    )
    .unwrap();
    let base = dir.path().join("config").display().to_string();
    let netconf = dir.path().join("regtest/config").display().to_string();
    let d = Daemon::start_in(dir, &["--alias=from-cmdline", "--addr=127.0.0.1:2"]);
    let c = d.call("listconfigs", json!({}))["result"]["configs"].clone();
    assert_eq!(
        c["alias"],
        json!({"value_str": "from-cmdline", "source": "cmdline"})
    );
    assert_eq!(
        c["rgb"],
        json!({"value_str": "010203", "source": format!("{base}:4")})
    );
    assert_eq!(
        c["log-prefix"],
        json!({"value_str": "pfx-", "source": format!("{netconf}:2")})
    );
    assert_eq!(
        c["addr"]["values_str"],
        json!(["127.0.0.1:1", "127.0.0.1:2"])
    );
    assert_eq!(
        c["addr"]["sources"],
        json!([format!("{netconf}:3"), "cmdline"])
    );
    assert_eq!(c["network"]["value_str"], "regtest");
    assert_eq!(
        c["rpc-file-mode"],
        json!({"value_str": "0600", "source": "default"})
    );
    assert_eq!(c["daemon"], json!({"set": false, "source": "default"}));
    let info = d.call("getinfo", json!([]))["result"].clone();
    assert_eq!(info["alias"], "from-cmdline");
    assert_eq!(info["color"], "010203");
    // The log prefix from the network config starts every log line (before the
    // timestamp, as in CLN).
    assert!(
        d.log().lines().all(|l| l.starts_with("pfx-2"))
            && d.log().contains("INFO    boltd: Server started"),
        "{}",
        d.log()
    );
}

#[test]
fn conf_option_replaces_default_config_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config"), "alias=ignored\n").unwrap();
    let conf = dir.path().join("my.conf");
    std::fs::write(&conf, "alias=from-conf\n").unwrap();
    let arg = format!("--conf={}", conf.display());
    let d = Daemon::start_in(dir, &[&arg]);
    let c = d.call("listconfigs", json!(["alias"]))["result"].clone();
    assert_eq!(c["configs"]["alias"]["value_str"], "from-conf");
    assert_eq!(
        d.call("listconfigs", json!(["conf"]))["result"]["configs"]["conf"]["source"],
        "cmdline"
    );
}

#[test]
fn unknown_option_stops_startup_with_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let ld = format!("--lightning-dir={}", dir.path().display());
    let (status, _, err) = run_to_exit(&[&ld, "--regtest", "--no-such-option"]);
    assert_eq!(status.code(), Some(1));
    assert_eq!(err, "boltd: --no-such-option: unknown option\n");
}

#[test]
fn bad_values_stop_startup_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let ld = format!("--lightning-dir={}", dir.path().display());
    for (arg, msg) in [
        ("--rpc-file-mode=777", "boltd: --rpc-file-mode=777: '777' is not a file mode\n"),
        ("--network=mars", "boltd: --network=mars: Unknown network name 'mars' (expected one of bitcoin, testnet, testnet4, signet, regtest)\n"),
        ("--rpc-max-request=lots", "boltd: --rpc-max-request=lots: 'lots' is not a number\n"),
        ("--daemon=yes", "boltd: --daemon=yes: doesn't allow an argument\n"),
        ("--allow-deprecated-apis=maybe", "boltd: --allow-deprecated-apis=maybe: Invalid argument 'maybe'\n"),
    ] {
        let (status, _, err) = run_to_exit(&[&ld, "--regtest", arg]);
        assert_eq!(status.code(), Some(1), "{arg}");
        assert_eq!(err, msg);
    }
    // A bad line in a config file names the file and line, and quotes the line as
    // written (CLN's `Config file F line N: LINE: PROBLEM`).
    std::fs::create_dir_all(dir.path().join("regtest")).unwrap();
    std::fs::write(dir.path().join("regtest/config"), "\n\nbogus=1\n").unwrap();
    let (status, _, err) = run_to_exit(&[&ld, "--regtest"]);
    assert_eq!(status.code(), Some(1));
    let file = dir.path().join("regtest/config").display().to_string();
    assert_eq!(
        err,
        format!("boltd: Config file {file} line 3: bogus=1: unknown option\n")
    );
    std::fs::write(dir.path().join("regtest/config"), "log-level=loud\n").unwrap();
    let (_, _, err) = run_to_exit(&[&ld, "--regtest"]);
    assert_eq!(
        err,
        format!("boltd: Config file {file} line 1: log-level=loud: unknown log level loud\n")
    );
}

/// Options CLN refuses by where they appear: `conf` in any config file, `lightning-dir`
/// in the implicit ones, the network in the network-specific one.
#[test]
fn config_files_refuse_options_they_may_not_set() {
    let dir = tempfile::tempdir().unwrap();
    let ld = format!("--lightning-dir={}", dir.path().display());
    std::fs::create_dir_all(dir.path().join("regtest")).unwrap();
    let base = dir.path().join("config");
    let net = dir.path().join("regtest/config");
    let cases: [(&std::path::Path, &str, &str); 5] = [
        (&base, "conf=/x", "not permitted in configuration files"),
        (
            &base,
            "lightning-dir=/x",
            "not permitted in implicit configuration files",
        ),
        (
            &net,
            "lightning-dir=/x",
            "not permitted in implicit configuration files",
        ),
        (
            &net,
            "network=testnet",
            "not permitted in network-specific configuration files",
        ),
        (
            &net,
            "signet",
            "not permitted in network-specific configuration files",
        ),
    ];
    for (file, line, problem) in cases {
        let _ = std::fs::remove_file(&base);
        let _ = std::fs::remove_file(&net);
        std::fs::write(file, format!("alias=a\n{line}\n")).unwrap();
        let (status, _, err) = run_to_exit(&[&ld, "--regtest"]);
        assert_eq!(status.code(), Some(1), "{line}");
        assert_eq!(
            err,
            format!(
                "boltd: Config file {} line 2: {line}: {problem}\n",
                file.display()
            )
        );
    }
    // An explicit --conf may set the lightning-dir (but still not another conf).
    let _ = std::fs::remove_file(&net);
    let conf = dir.path().join("explicit.conf");
    std::fs::write(&conf, "conf=/y\n").unwrap();
    let c = format!("--conf={}", conf.display());
    let (status, _, err) = run_to_exit(&[&ld, "--regtest", &c]);
    assert_eq!(status.code(), Some(1));
    assert_eq!(
        err,
        format!(
            "boltd: Config file {} line 1: conf=/y: not permitted in configuration files\n",
            conf.display()
        )
    );
}

#[test]
fn help_lists_every_option_with_defaults_and_version_prints() {
    let (status, out, _) = run_to_exit(&["--help"]);
    assert_eq!(status.code(), Some(0));
    for opt in [
        "--lightning-dir",
        "--network",
        "--rpc-file ",
        "--rpc-file-mode",
        "--log-file",
        "--plugin ",
        "--bind-addr",
        "--allow-deprecated-apis",
    ] {
        assert!(out.contains(opt), "--help lacks {opt}:\n{out}");
    }
    assert!(out.contains("(default: \"0600\")"));
    assert!(out.contains("(default: \"lightning-rpc\")"));
    let (status, out, _) = run_to_exit(&["--version"]);
    assert_eq!(status.code(), Some(0));
    assert!(out.starts_with('v'));
}

#[test]
fn second_daemon_on_same_dir_is_refused() {
    let d = Daemon::start(&[]);
    let ld = format!("--lightning-dir={}", d.dir.path().display());
    let (status, _, err) = run_to_exit(&[&ld, "--regtest", "--log-file=log2"]);
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("already in use by another boltd"), "{err}");
    // The first one is unaffected.
    assert!(d.call("getinfo", json!([]))["result"]["id"].is_string());
}

#[test]
fn stale_socket_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("regtest")).unwrap();
    let sock = dir.path().join("regtest/lightning-rpc");
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    let d = Daemon::start_in(dir, &[]);
    assert!(d.call("getinfo", json!([]))["result"]["id"].is_string());
}

#[test]
fn live_socket_of_another_daemon_is_an_error() {
    let a = Daemon::start(&[]);
    let other = tempfile::tempdir().unwrap();
    let ld = format!("--lightning-dir={}", other.path().display());
    let rpc = format!("--rpc-file={}", a.socket().display());
    let (status, _, err) = run_to_exit(&[&ld, "--regtest", &rpc]);
    assert_eq!(status.code(), Some(1));
    let line = format!("boltd: rpc filename '{}' in use\n", a.socket().display());
    assert!(err.contains(&line), "{err}");
    assert!(a.call("getinfo", json!([]))["result"]["id"].is_string());
}

#[test]
fn socket_mode_follows_rpc_file_mode() {
    let d = Daemon::start(&[]);
    let mode = std::fs::metadata(d.socket()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let e = Daemon::start(&["--rpc-file-mode=0660"]);
    let mode = std::fs::metadata(e.socket()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
}

#[test]
fn hsm_secret_created_read_only_and_identity_survives_restart() {
    let mut d = Daemon::start(&[]);
    let id = d.call("getinfo", json!([]))["result"]["id"].clone();
    let secret = d.net_dir().join("hsm_secret");
    assert_eq!(std::fs::read(&secret).unwrap().len(), 32);
    assert_eq!(
        std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o400
    );
    d.call("stop", json!([]));
    assert!(d.wait_exit(Duration::from_secs(10)).success());
    let dir = std::mem::replace(&mut d.dir, tempfile::tempdir().unwrap());
    let d2 = Daemon::start_in(dir, &[]);
    assert_eq!(d2.call("getinfo", json!([]))["result"]["id"], id);
    assert!(d2.log().contains(&format!(
        "Server started with public key {}",
        id.as_str().unwrap()
    )));
}

/// A lightning-dir made by an earlier boltd keeps its identity: the node id below is what
/// boltd derived from this `hsm_secret` before the `keys` crate existed (LDK 0.2.7).
#[test]
fn existing_hsm_secret_keeps_the_node_id_earlier_versions_derived() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("regtest");
    std::fs::create_dir_all(&net).unwrap();
    let secret =
        hex::decode("5f0e1f6b9a4c3d2e8b7a69584736251403f2e1d0c9b8a7968574635241302f1e").unwrap();
    std::fs::write(net.join("hsm_secret"), &secret).unwrap();
    let d = Daemon::start_in(dir, &[]);
    assert_eq!(
        d.call("getinfo", json!([]))["result"]["id"],
        "02d4074c3286b0c7a1688e3afe5a8b96e0443697373479ff868a65caf7b4526845"
    );
    assert_eq!(std::fs::read(net.join("hsm_secret")).unwrap(), secret);
}

#[test]
fn stop_answers_last_then_exits_0_and_removes_socket() {
    let mut d = Daemon::start(&[]);
    let mut c = d.client();
    let r = c.call("stop", json!([]));
    assert_eq!(r["result"], json!({"result": "Shutdown complete"}));
    assert!(c.at_eof(), "nothing may follow the stop reply");
    assert_eq!(d.wait_exit(Duration::from_secs(10)).code(), Some(0));
    assert!(!d.socket().exists());
    assert!(!d.dir.path().join("boltd-regtest.pid").exists());
}

#[test]
fn sigterm_and_sigint_exit_0_and_remove_socket() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let mut d = Daemon::start(&[]);
        let mut idle = d.client();
        assert!(idle.call("getinfo", json!([]))["result"].is_object());
        d.signal(sig);
        assert_eq!(d.wait_exit(Duration::from_secs(10)).code(), Some(0));
        assert!(!d.socket().exists());
        // An open client connection is closed, not left hanging.
        assert!(idle.at_eof());
        assert!(
            d.log().contains("Shutting down: received SIG"),
            "{}",
            d.log()
        );
    }
}

#[test]
fn sighup_reopens_log_files() {
    let d = Daemon::start(&[]);
    let log = d.net_dir().join("log");
    let rotated = d.net_dir().join("log.1");
    std::fs::rename(&log, &rotated).unwrap();
    d.signal(libc::SIGHUP);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("INFO    boltd: Started log due to SIGHUP")
    {
        assert!(std::time::Instant::now() < deadline, "log not reopened");
        std::thread::sleep(Duration::from_millis(20));
    }
    // CLN's two lines: the last in the old file, the first in the new one.
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert!(old.contains("Server started"));
    assert!(
        old.contains("INFO    boltd: Ending log due to SIGHUP"),
        "{old}"
    );
    assert!(!std::fs::read_to_string(&log)
        .unwrap()
        .contains("Ending log"));
}

#[test]
fn daemon_option_detaches_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let ld = format!("--lightning-dir={}", dir.path().display());
    let (status, _, _) = run_to_exit(&[&ld, "--regtest", "--daemon", "--log-file=log"]);
    assert_eq!(status.code(), Some(0));
    let sock = dir.path().join("regtest/lightning-rpc");
    let mut c = Client::connect(&sock);
    assert!(c.call("getinfo", json!([]))["result"]["id"].is_string());
    assert_eq!(
        c.call("stop", json!([]))["result"]["result"],
        "Shutdown complete"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sock.exists() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_exits_promptly_even_with_a_client_that_never_reads() {
    let mut d = Daemon::start(&[]);
    let mut hog = d.client();
    hog.stream.set_nonblocking(true).unwrap();
    let req = br#"{"jsonrpc":"2.0","id":1,"method":"listconfigs","params":[]}"#;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match std::io::Write::write(&mut hog.stream, req) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
        assert!(std::time::Instant::now() < deadline);
    }
    let t = std::time::Instant::now();
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(Duration::from_secs(15)).code(), Some(0));
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(!d.socket().exists());
}

#[test]
fn socket_path_too_long_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ld = format!("--lightning-dir={}", dir.path().display());
    let long = format!("--rpc-file={}", "s".repeat(120));
    let (status, _, err) = run_to_exit(&[&ld, "--regtest", &long]);
    assert_eq!(status.code(), Some(1));
    assert!(
        err.contains(&format!(
            "boltd: rpc filename '{}' too long",
            "s".repeat(120)
        )),
        "{err}"
    );
}

/// `--log-level` is CLN's repeatable option: a plain level sets the default, each
/// `LEVEL:PREFIX` adds a filter, and neither replaces the other.
#[test]
fn log_level_filters_add_to_the_default_level() {
    // spawn() passes --log-level=debug first.
    let d = Daemon::start(&["--log-level=broken:store", "--log-level=io:boltd"]);
    let _ = d.call("getinfo", json!([]));
    let log = d.log();
    assert!(log.contains("INFO    boltd: Server started"), "{log}");
    assert!(!log.contains(" store: "), "{log}");
    // A source no filter matches keeps the default (debug) level.
    let d2 = Daemon::start(&["--log-level=broken:nothing-matches"]);
    let log = d2.log();
    assert!(log.contains(" store: "), "{log}");
}
