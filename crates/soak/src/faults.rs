//! The fault generators. Each runs in its own task until the deadline, bounded in rate,
//! counting every operation in the [`Tally`]. Outcomes the daemon may legitimately choose
//! (an error reply or closing the connection) are counted, not judged; what must never
//! happen (no answer at all, the daemon gone) is a failure.

use crate::node::{call, Node};
use crate::tally::Tally;
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a bad connection may stay open after we half-close it before we note it.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

fn pause(rng: &mut StdRng, lo: u64, hi: u64) -> tokio::time::Sleep {
    tokio::time::sleep(Duration::from_millis(rng.gen_range(lo..hi)))
}

fn basename(p: &std::path::Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Starts, stops, SIGKILLs and calls dynamic plugins at random.
pub async fn plugin_churn(
    node: &Node,
    plugins: &[PathBuf],
    tally: Tally,
    seed: u64,
    deadline: Instant,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    if plugins.is_empty() {
        return;
    }
    while !crate::done(deadline) {
        let p = &plugins[rng.gen_range(0..plugins.len())];
        let base = basename(p);
        let path = p.display().to_string();
        let roll = rng.gen_range(0..10);
        let (kind, res) = if roll < 4 {
            (
                "plugin start",
                node.call("plugin", json!(["start", path])).await,
            )
        } else if roll < 6 {
            (
                "plugin stop",
                node.call("plugin", json!(["stop", path])).await,
            )
        } else if roll < 8 {
            let pids = node.children_matching(&base);
            for pid in &pids {
                // SAFETY: kill(2) on a pid we just read as the daemon's child; no memory involved.
                unsafe {
                    libc::kill(*pid as i32, libc::SIGKILL);
                }
            }
            tally.op(
                &format!("{}: SIGKILL plugin process", node.name),
                !pids.is_empty(),
            );
            pause(&mut rng, 50, 400).await;
            continue;
        } else if base.starts_with("pyln_hello") && roll == 8 {
            // `die` exits the plugin mid-call: the caller must still get an answer.
            (
                "plugin method die (exits mid-call)",
                node.call("die", json!([])).await,
            )
        } else if base.starts_with("pyln_hello") {
            (
                "plugin method hello",
                node.call("hello", json!(["soak"])).await,
            )
        } else {
            (
                "plugin method clnhello",
                node.call("clnhello", json!(["soak"])).await,
            )
        };
        let kind = format!("{}: {kind}", node.name);
        match res {
            Ok(r) => {
                tally.op(&kind, r.is_ok());
                if let Err(e) = r {
                    // Which refusals happened (already running, not running, died...).
                    let m = e["message"].as_str().unwrap_or_default();
                    let m: String = m.replace(&path, "<path>").chars().take(70).collect();
                    tally.note(format!("{kind}: {m}"));
                }
            }
            Err(e) => {
                tally.op(&kind, false);
                tally.fail(format!("{kind} {base}: {e}"));
            }
        }
        pause(&mut rng, 50, 400).await;
    }
}

/// One malformed-input case on the RPC socket.
struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    /// Shut down our writing side after sending (the daemon sees EOF).
    half_close: bool,
    /// Replies carrying `result` we must get (valid requests before the fault).
    results: usize,
}

fn req(method: &str, params: Value, id: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
        .unwrap_or_default()
}

fn cases(rng: &mut StdRng) -> Vec<Case> {
    let c = |name, bytes: &[u8], half_close| Case {
        name,
        bytes: bytes.to_vec(),
        half_close,
        results: 0,
    };
    let random: Vec<u8> = (0..rng.gen_range(1..4096)).map(|_| rng.gen()).collect();
    let mut pipelined = Vec::new();
    for i in 0..20 {
        pipelined.extend(req("getinfo", json!([]), i));
    }
    vec![
        c("not json", b"not json at all", true),
        c(
            "truncated request",
            br#"{"jsonrpc":"2.0","id":1,"method":"getinfo","params":["#,
            true,
        ),
        c(
            "truncated request, dropped",
            br#"{"jsonrpc":"2.0","id":1,"meth"#,
            false,
        ),
        c("array", b"[1,2,3]", true),
        c("null", b"null", true),
        c("number", b"42", true),
        c(
            "wrong jsonrpc version",
            br#"{"jsonrpc":"1.0","id":1,"method":"getinfo"}"#,
            true,
        ),
        c(
            "object id",
            br#"{"jsonrpc":"2.0","id":{"a":1},"method":"getinfo"}"#,
            true,
        ),
        c(
            "numeric method",
            br#"{"jsonrpc":"2.0","id":1,"method":123}"#,
            true,
        ),
        c(
            "string params",
            br#"{"jsonrpc":"2.0","id":1,"method":"getinfo","params":"x"}"#,
            true,
        ),
        c(
            "invalid utf-8",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}",
            true,
        ),
        c("deep nesting", &b"[".repeat(100_000), true),
        c("random bytes", &random, true),
        c("connect and close", b"", false),
        c("empty, half-closed", b"", true),
        Case {
            name: "bad key types",
            bytes: req("datastore", json!({"key": [[[]]], "string": 1}), 1),
            half_close: true,
            results: 0,
        },
        Case {
            name: "10000-part key",
            bytes: req("listdatastore", json!({"key": vec!["k"; 10_000]}), 1),
            half_close: true,
            results: 0,
        },
        Case {
            name: "plugin start of a missing file",
            bytes: req("plugin", json!(["start", "/nonexistent/soak-plugin"]), 1),
            half_close: true,
            results: 0,
        },
        Case {
            name: "sendcustommsg garbage",
            bytes: req("sendcustommsg", json!(["zz", "77"]), 1),
            half_close: true,
            results: 0,
        },
        Case {
            name: "unknown method",
            bytes: req("soak-no-such-method", json!([]), 1),
            half_close: true,
            results: 0,
        },
        Case {
            name: "3 MB string parameter",
            bytes: req("echo-nothing", json!(["y".repeat(3 << 20)]), 1),
            half_close: true,
            results: 0,
        },
        Case {
            name: "valid request, then half-close",
            bytes: req("getinfo", json!([]), 7),
            half_close: true,
            results: 1,
        },
        Case {
            name: "20 pipelined requests, then half-close",
            bytes: pipelined,
            half_close: true,
            results: 20,
        },
        Case {
            name: "valid request, then garbage",
            bytes: [req("getinfo", json!([]), 8), b"}}}{{{".to_vec()].concat(),
            half_close: true,
            results: 1,
        },
    ]
}

/// Sends one case; returns how many `result` replies came back and whether the daemon
/// closed (or we saw all we needed) within [`CLOSE_WITHIN`].
async fn run_case(node: &Node, case: &Case) -> anyhow::Result<(usize, bool)> {
    let mut s = tokio::net::UnixStream::connect(&node.socket).await?;
    if !case.bytes.is_empty() {
        // The daemon may close on us mid-write (oversized or broken input): not an error.
        if s.write_all(&case.bytes).await.is_err() {
            return Ok((0, true));
        }
    }
    if !case.half_close {
        return Ok((0, true));
    }
    let _ = s.shutdown().await;
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(CLOSE_WITHIN, async {
        let mut chunk = [0u8; 65536];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .is_ok();
    let results = serde_json::Deserializer::from_slice(&buf)
        .into_iter::<Value>()
        .map_while(Result::ok)
        .filter(|v| v.get("result").is_some())
        .count();
    Ok((results, closed))
}

/// Malformed requests and half-closed connections on the RPC socket.
pub async fn malformed_rpc(node: &Node, tally: Tally, seed: u64, deadline: Instant) {
    let mut rng = StdRng::seed_from_u64(seed);
    while !crate::done(deadline) {
        let all = cases(&mut rng);
        let case = &all[rng.gen_range(0..all.len())];
        let kind = format!("{}: bad rpc: {}", node.name, case.name);
        match run_case(node, case).await {
            Ok((results, closed)) => {
                let ok = results >= case.results && closed;
                tally.op(&kind, ok);
                if results < case.results {
                    tally.note(format!(
                        "bad rpc '{}': got {results} of {} answers before EOF",
                        case.name, case.results
                    ));
                }
                if !closed {
                    tally.note(format!(
                        "bad rpc '{}': connection still open {CLOSE_WITHIN:?} after our half-close",
                        case.name
                    ));
                }
            }
            Err(e) => {
                tally.op(&kind, false);
                tally.fail(format!("{kind}: cannot connect to the RPC socket: {e}"));
            }
        }
        pause(&mut rng, 5, 60).await;
    }
}

/// Floods `sendcustommsg` from `from` to `to`; type 0x7777 bodies start with the send
/// time so the receiver's cln-custommsg counts them. Reconnects if the peer went away.
/// Returns how many sends were acknowledged.
pub async fn custommsg_flood(
    from: &Node,
    to: &Node,
    tally: Tally,
    seed: u64,
    deadline: Instant,
) -> u64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let kind = format!("{}->{}: sendcustommsg", from.name, to.name);
    let mut sent = 0;
    let mut client = None;
    while !crate::done(deadline) {
        let c = match &mut client {
            Some(c) => c,
            None => match from.client("flood").await {
                Ok(c) => client.insert(c),
                Err(e) => {
                    tally.fail(format!("{kind}: cannot connect: {e}"));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let pad: String = (0..rng.gen_range(0..300))
            .map(|_| format!("{:02x}", rng.gen::<u8>()))
            .collect();
        let msg = format!("7777{now:016x}{pad}");
        match call(c, "sendcustommsg", json!([to.id, msg])).await {
            Ok(Ok(_)) => {
                sent += 1;
                tally.op(&kind, true);
            }
            Ok(Err(e)) => {
                tally.op(&kind, false);
                let text = e["message"].as_str().unwrap_or_default().to_string();
                if text.starts_with("No such peer") {
                    tally.note(format!("{kind}: peer gone, reconnecting"));
                    let r = from
                        .call("connect", json!([to.id, "127.0.0.1", to.port]))
                        .await;
                    tally.op(&format!("{}: connect", from.name), matches!(r, Ok(Ok(_))));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                } else {
                    tally.fail(format!("{kind}: unexpected error {e}"));
                }
            }
            Err(e) => {
                tally.op(&kind, false);
                tally.fail(format!("{kind}: {e}"));
                client = None;
            }
        }
        // Bursty: most sends back to back, now and then a short breath.
        if rng.gen_range(0..50) == 0 {
            pause(&mut rng, 10, 100).await;
        }
    }
    sent
}

/// Raw TCP "peers" on the peer port: connect and drop, garbage, slow garbage,
/// half-close. A garbage handshake must end in the daemon closing the connection.
pub async fn garbage_peers(node: &Node, tally: Tally, seed: u64, deadline: Instant) {
    let mut rng = StdRng::seed_from_u64(seed);
    let addr = format!("127.0.0.1:{}", node.port);
    while !crate::done(deadline) {
        let mode = rng.gen_range(0..5);
        let kind = format!(
            "{}: raw peer: {}",
            node.name,
            [
                "connect+drop",
                "garbage+drop",
                "50B act1 garbage+half-close",
                "1 MB garbage",
                "slow trickle+drop"
            ][mode]
        );
        let mut s = match tokio::net::TcpStream::connect(&addr).await {
            Ok(s) => s,
            Err(e) => {
                tally.op(&kind, false);
                tally.fail(format!("{kind}: cannot connect to the peer port: {e}"));
                pause(&mut rng, 200, 500).await;
                continue;
            }
        };
        let garbage =
            |rng: &mut StdRng, n: usize| -> Vec<u8> { (0..n).map(|_| rng.gen()).collect() };
        let ok = match mode {
            0 => true,
            1 => {
                let n = rng.gen_range(1..2000);
                let _ = s.write_all(&garbage(&mut rng, n)).await;
                true
            }
            2 => {
                let g = garbage(&mut rng, 50);
                let _ = s.write_all(&g).await;
                let _ = s.shutdown().await;
                let mut b = [0u8; 1024];
                let closed = tokio::time::timeout(CLOSE_WITHIN * 2, async {
                    loop {
                        match s.read(&mut b).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                    }
                })
                .await
                .is_ok();
                if !closed {
                    tally.note("raw peer: garbage act1 not disconnected within 10s");
                }
                closed
            }
            3 => {
                let g = garbage(&mut rng, 1 << 20);
                // The daemon should drop us long before 1 MB: a failed write is expected.
                let _ = tokio::time::timeout(CLOSE_WITHIN, s.write_all(&g)).await;
                true
            }
            _ => {
                for _ in 0..5 {
                    let b = [rng.gen::<u8>()];
                    if s.write_all(&b).await.is_err() {
                        break;
                    }
                    pause(&mut rng, 50, 300).await;
                }
                true
            }
        };
        drop(s);
        tally.op(&kind, ok);
        pause(&mut rng, 5, 50).await;
    }
}

/// Every second: `getinfo` must answer on a fresh connection. Returns the slowest answer.
pub async fn health(node: &Node, tally: Tally, deadline: Instant) -> Duration {
    let mut worst = Duration::ZERO;
    while !crate::done(deadline) {
        let t = Instant::now();
        let r = node.call("getinfo", json!([])).await;
        let took = t.elapsed();
        worst = worst.max(took);
        let ok = matches!(r, Ok(Ok(_)));
        tally.op(&format!("{}: health getinfo", node.name), ok);
        if !ok {
            tally.fail(format!("{}: getinfo failed: {r:?}", node.name));
        } else if took > Duration::from_secs(5) {
            tally.note(format!("{}: getinfo took over 5s", node.name));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    worst
}
