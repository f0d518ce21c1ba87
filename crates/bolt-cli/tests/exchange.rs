//! bolt-cli against a scripted socket peer: the exchange lightning-cli has with
//! lightningd (notifications first, ids, incremental replies) and every way a reply can
//! be wrong. The real daemon is exercised by the Python acceptance tests; here we need a
//! peer that can misbehave on purpose.

use bytes::BytesMut;
use jsonrpc::JsonCodec;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Command, Output};
use std::thread;
use tokio_util::codec::Decoder;

struct Peer {
    stream: UnixStream,
    buf: BytesMut,
    codec: JsonCodec,
}

impl Peer {
    fn read_request(&mut self) -> Value {
        loop {
            if let Some(frame) = self.codec.decode(&mut self.buf).unwrap() {
                return serde_json::from_slice(&frame).unwrap();
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "client hung up before sending a request");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }
    fn reply(&mut self, id: &Value, result: Value) {
        let msg = json!({"jsonrpc": "2.0", "id": id, "result": result});
        self.send(format!("{msg}\n\n").as_bytes());
    }
    /// Answers the `notifications` enable request lightning-cli sends first.
    fn accept_enable(&mut self) -> Value {
        let req = self.read_request();
        assert_eq!(req["method"], "notifications");
        assert_eq!(req["params"], json!({"enable": true}));
        self.reply(&req["id"], json!({}));
        req
    }
}

/// A lightning-dir with `regtest/lightning-rpc` served by `script` (one connection).
fn serve(
    script: impl FnOnce(&mut Peer) + Send + 'static,
) -> (tempfile::TempDir, thread::JoinHandle<()>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("regtest")).unwrap();
    let listener = UnixListener::bind(dir.path().join("regtest/lightning-rpc")).unwrap();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut peer = Peer {
            stream,
            buf: BytesMut::new(),
            codec: JsonCodec::default(),
        };
        script(&mut peer);
    });
    (dir, handle)
}

fn cli(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bolt-cli"))
        .arg(format!("--lightning-dir={}", dir.display()))
        .arg("--network=regtest")
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn enables_notifications_then_sends_request_with_cli_id_and_prints_pretty_json() {
    let (dir, h) = serve(|p| {
        let enable = p.accept_enable();
        let req = p.read_request();
        let id = req["id"].as_str().unwrap().to_string();
        let pid = id
            .strip_prefix("cli:getinfo#")
            .expect("id is cli:<method>#<pid>");
        assert_eq!(enable["id"], format!("cli:notifications#{pid}"));
        assert_eq!(req["jsonrpc"], "2.0");
        assert_eq!(req["params"], json!([]));
        // Progress and a message arrive before the reply, written in awkward pieces.
        p.send(b"{\"jsonrpc\":\"2.0\",\"method\":\"message\",\"params\":{\"level\":\"info\",\"message\":\"hello\"}}\n\n");
        p.send(b"{\"jsonrpc\":\"2.0\",\"method\":\"message\",\"params\":{\"level\":\"debug\",\"message\":\"quiet\"}}");
        let reply =
            format!("{{\"jsonrpc\":\"2.0\",\"id\":\"{id}\",\"result\":{{\"z\":1,\"a\":[\"x\"]}}}}");
        let (a, b) = reply.split_at(10);
        p.send(a.as_bytes());
        thread::sleep(std::time::Duration::from_millis(50));
        p.send(b.as_bytes());
    });
    let out = cli(dir.path(), &["getinfo"]);
    h.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "# hello\n{\n   \"z\": 1,\n   \"a\": [\n      \"x\"\n   ]\n}\n"
    );
}

#[test]
fn none_level_skips_the_enable_request() {
    let (dir, h) = serve(|p| {
        let req = p.read_request();
        assert_eq!(req["method"], "getinfo");
        p.reply(&req["id"], json!({"ok": true}));
    });
    let out = cli(dir.path(), &["-N", "none", "-R", "getinfo"]);
    h.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "{\"ok\":true}\n");
}

#[test]
fn keyword_params_and_raw_literals_reach_the_daemon() {
    let (dir, h) = serve(|p| {
        p.accept_enable();
        let req = p.read_request();
        assert_eq!(
            req["params"],
            json!({"config": "alias", "n": 5, "o": {"a": [1]}})
        );
        p.reply(&req["id"], json!({}));
    });
    let out = cli(
        dir.path(),
        &["listconfigs", "config=alias", "n=5", "o={\"a\":[1]}"],
    );
    h.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn daemon_error_is_printed_and_exits_1() {
    let (dir, h) = serve(|p| {
        p.accept_enable();
        let req = p.read_request();
        let msg = json!({"jsonrpc":"2.0","id":req["id"],"error":{"code":-32601,"message":"Unknown command 'nope'"}});
        p.send(format!("{msg}\n\n").as_bytes());
    });
    let out = cli(dir.path(), &["nope"]);
    h.join().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "{\n   \"code\": -32601,\n   \"message\": \"Unknown command 'nope'\"\n}\n"
    );
}

#[test]
fn simple_format_hint_gives_human_output_without_the_hint() {
    let (dir, h) = serve(|p| {
        p.accept_enable();
        let req = p.read_request();
        p.reply(
            &req["id"],
            json!({"help":[{"command":"getinfo"}],"format-hint":"simple"}),
        );
    });
    let out = cli(dir.path(), &["help", "getinfo"]);
    h.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "getinfo\n");
}

#[test]
fn bare_help_prints_the_sorted_list_and_footer() {
    let (dir, h) = serve(|p| {
        p.accept_enable();
        let req = p.read_request();
        p.reply(
            &req["id"],
            json!({"help":[{"command":"stop"},{"command":"getinfo"}],"format-hint":"simple"}),
        );
    });
    let out = cli(dir.path(), &["help"]);
    h.join().unwrap();
    assert_eq!(
        stdout(&out),
        "getinfo\n\nstop\n\n---\nrun `bolt-cli help <command>` for more information on a specific command\n"
    );
}

#[test]
fn wrong_id_is_a_talking_error() {
    let (dir, h) = serve(|p| {
        p.accept_enable();
        p.read_request();
        p.send(b"{\"jsonrpc\":\"2.0\",\"id\":\"other\",\"result\":{}}\n\n");
    });
    let out = cli(dir.path(), &["getinfo"]);
    h.join().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("Incorrect 'id' (\"other\") in response: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn reply_without_result_or_error_is_a_talking_error() {
    let (dir, h) = serve(|p| {
        p.accept_enable();
        let req = p.read_request();
        let msg = json!({"jsonrpc":"2.0","id":req["id"]});
        p.send(format!("{msg}\n\n").as_bytes());
    });
    let out = cli(dir.path(), &["getinfo"]);
    h.join().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Either 'result' or 'error' must be returned in response"));
}

#[test]
fn hang_up_before_reply_is_a_talking_error() {
    let (dir, h) = serve(|p| {
        p.accept_enable();
        p.read_request();
        p.send(b"{\"jsonrpc\":\"2.0\",\"id\":");
    });
    let out = cli(dir.path(), &["getinfo"]);
    h.join().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), "bolt-cli: reading response: socket closed\n");
}

#[test]
fn hang_up_instead_of_enabling_notifications_is_a_talking_error() {
    let (dir, h) = serve(|p| {
        p.read_request();
    });
    let out = cli(dir.path(), &["getinfo"]);
    h.join().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "bolt-cli: Reading enable response: socket closed\n"
    );
}

#[test]
fn garbage_reply_is_a_talking_error() {
    let (dir, h) = serve(|p| {
        p.accept_enable();
        p.read_request();
        p.send(b"hello there\n\n");
    });
    let out = cli(dir.path(), &["getinfo"]);
    h.join().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("bolt-cli: Malformed response 'hello there"));
}

#[test]
fn no_daemon_is_a_talking_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("regtest")).unwrap();
    let out = cli(dir.path(), &["getinfo"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("bolt-cli: Connecting to 'lightning-rpc': "),
        "{}",
        stderr(&out)
    );
    let missing = cli(&dir.path().join("nope"), &["getinfo"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("Moving into '"));
}

#[test]
fn usage_errors_exit_3_without_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(dir.path(), &["-k", "getinfo", "foo"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stderr(&out), "bolt-cli: Expected key=value in 'foo'\n");
    let out = cli(dir.path(), &["getinfo", "1.2.3"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).starts_with(
        "bolt-cli: Some parameters are malformed, cannot create a valid JSON-RPC request: { \"jsonrpc\" : \"2.0\""
    ));
    assert_eq!(
        cli(dir.path(), &["--no-such-flag", "getinfo"])
            .status
            .code(),
        Some(3)
    );
    assert_eq!(
        cli(dir.path(), &["-N", "loud", "getinfo"]).status.code(),
        Some(3)
    );
    assert_eq!(cli(dir.path(), &["--help"]).status.code(), Some(0));
}
