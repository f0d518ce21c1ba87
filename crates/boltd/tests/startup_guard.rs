//! Start-up safety: nothing a client sends runs before the start-up plugins' `rpc_command`
//! hooks and every builtin are in place, and a `--plugin` that cannot run stops start-up.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A client hammering the socket from the moment it appears: every request, the first
/// included, is answered by the hook that rejects everything, none by a command.
#[test]
fn a_startup_rpc_command_hook_sees_every_request_from_the_first_byte() {
    let dir = tempfile::tempdir().unwrap();
    let spec = json!({
        "manifest": {"options": [], "rpcmethods": [], "hooks": [{"name": "rpc_command"}]},
        // A slow init keeps the window between "socket exists" and "start-up done" open.
        "init_delay": 1.0,
        "hooks": {"rpc_command": {"return": {"error": {"code": 1401, "message": "locked by hook"}}}},
    });
    let Some(plugin) = common::raw_plugin(dir.path(), "gate", &spec) else {
        return;
    };
    let sock = dir.path().join("regtest/lightning-rpc");
    let log = dir.path().join("regtest/log");
    let mut child = common::spawn(dir.path(), &[&format!("--plugin={}", plugin.display())]);

    let started = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("Server started")
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut replies, mut sent_before_started) = (0, 0);
    let mut n = 0u64;
    while Instant::now() < deadline && !(started() && replies >= 20) {
        let Ok(mut s) = UnixStream::connect(&sock) else {
            std::thread::yield_now();
            continue;
        };
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        for method in ["getinfo", "listconfigs", "plugin", "setconfig", "help"] {
            n += 1;
            let before = !started();
            let req = json!({"jsonrpc": "2.0", "id": n, "method": method, "params": {}});
            if s.write_all(req.to_string().as_bytes()).is_err() {
                break;
            }
            if before {
                sent_before_started += 1;
            }
            let Some(reply) = read_reply(&mut s) else {
                break;
            };
            assert_eq!(
                reply["error"],
                json!({"code": 1401, "message": "locked by hook"}),
                "{method} got past the hook: {reply}"
            );
            replies += 1;
        }
    }
    assert!(started(), "daemon did not finish start-up");
    assert!(replies >= 20, "only {replies} replies");
    assert!(
        sent_before_started > 0,
        "no request reached the socket during start-up: the test proved nothing"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

fn read_reply(s: &mut UnixStream) -> Option<Value> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(pos) = buf.windows(2).position(|w| w == b"\n\n") {
            return serde_json::from_slice(&buf[..pos]).ok();
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
}

#[test]
fn a_plugin_path_that_cannot_run_stops_startup_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-plugin");
    let plain = dir.path().join("not-executable");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    for (opt, path, why) in [
        ("plugin", &missing, "No such file or directory"),
        ("important-plugin", &missing, "No such file or directory"),
        ("plugin", &plain, "Permission denied"),
    ] {
        let (status, stderr) = run_bounded(&[
            &format!("--lightning-dir={}", dir.path().display()),
            "--network=regtest",
            "--bind-addr=127.0.0.1:0",
            &format!("--{opt}={}", path.display()),
        ]);
        assert_eq!(status, Some(1), "--{opt}: {stderr}");
        assert_eq!(
            stderr,
            format!("boltd: Failed to register {}: {why}\n", path.display()),
            "--{opt}"
        );
    }
    // Nothing was started: no socket left behind.
    assert!(!dir.path().join("regtest/lightning-rpc").exists());
}

/// Runs boltd expecting it to exit by itself within 20 s (killed and Err otherwise).
fn run_bounded(args: &[&str]) -> (Option<i32>, String) {
    let mut child = std::process::Command::new(common::BOLTD)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return (None, "still running after 20 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), err)
}
