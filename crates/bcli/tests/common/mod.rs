//! Drives the real `bcli` binary over its stdin/stdout as the node does (getmanifest,
//! init, method calls), against a real devchain.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::oneshot;

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// A running bcli plugin.
pub struct Bcli {
    stdin: tokio::sync::Mutex<ChildStdin>,
    pending: Pending,
    next_id: AtomicU64,
    child: Mutex<Option<Child>>,
    /// `log` notifications' messages.
    pub logs: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<String>>,
    pub manifest: Value,
}

/// What `bcli` answered `init` with, or why it did not.
pub enum Started {
    Running(Box<Bcli>),
    /// Exited during init: exit code and stderr.
    Exited(Option<i32>, String),
}

impl Bcli {
    /// Starts bcli and sends getmanifest and init with these option values.
    pub async fn start(options: Value) -> Started {
        Self::start_on("regtest", options).await
    }

    pub async fn start_on(network: &str, options: Value) -> Started {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bcli"))
            // Debug lines too, as pyln-testing runs plugins.
            .env("CLN_PLUGIN_LOG", "debug")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn bcli");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr_pipe = child.stderr.take().unwrap();
        let pending: Pending = Arc::default();
        let logs: Arc<Mutex<Vec<String>>> = Arc::default();
        let stderr: Arc<Mutex<String>> = Arc::default();
        {
            let stderr = stderr.clone();
            tokio::spawn(async move {
                let mut s = String::new();
                let _ = stderr_pipe.read_to_string(&mut s).await;
                stderr.lock().unwrap().push_str(&s);
            });
        }
        {
            let pending = pending.clone();
            let logs = logs.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                let mut buf = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if !line.is_empty() {
                        buf.push_str(&line);
                        continue;
                    }
                    let Ok(msg) = serde_json::from_str::<Value>(&buf) else {
                        buf.clear();
                        continue;
                    };
                    buf.clear();
                    if msg["method"] == "log" {
                        let m = msg["params"]["message"].as_str().unwrap_or_default();
                        logs.lock().unwrap().push(m.to_string());
                    } else if let Some(id) = msg["id"].as_u64() {
                        if let Some(tx) = pending.lock().unwrap().remove(&id) {
                            let _ = tx.send(msg);
                        }
                    }
                }
                // Exited: callers still waiting get an error.
                pending.lock().unwrap().clear();
            });
        }
        let mut bcli = Bcli {
            stdin: tokio::sync::Mutex::new(stdin),
            pending,
            next_id: AtomicU64::new(1),
            child: Mutex::new(Some(child)),
            logs,
            stderr,
            manifest: Value::Null,
        };
        let manifest = bcli.request("getmanifest", json!({})).await;
        bcli.manifest = manifest.expect("getmanifest answered")["result"].clone();
        let init = json!({
            "options": options,
            "configuration": {
                "lightning-dir": "/nonexistent",
                "rpc-file": "lightning-rpc",
                "startup": true,
                "network": network,
                "feature_set": {"init": "", "node": "", "channel": "", "invoice": ""},
            }
        });
        match bcli.request("init", init).await {
            Some(_) => Started::Running(Box::new(bcli)),
            None => {
                let mut child = bcli.child.lock().unwrap().take().unwrap();
                let status = child.wait().await.ok().and_then(|s| s.code());
                tokio::time::sleep(Duration::from_millis(100)).await;
                let err = bcli.stderr.lock().unwrap().clone();
                Started::Exited(status, err)
            }
        }
    }

    pub async fn started(options: Value) -> Bcli {
        match Self::start(options).await {
            Started::Running(b) => *b,
            Started::Exited(code, err) => panic!("bcli exited ({code:?}): {err}"),
        }
    }

    /// The whole response object, or `None` when bcli died first.
    pub async fn request(&self, method: &str, params: Value) -> Option<Value> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut bytes = msg.to_string().into_bytes();
        bytes.extend_from_slice(b"\n\n");
        {
            let mut stdin = self.stdin.lock().await;
            if stdin.write_all(&bytes).await.is_err() {
                return None;
            }
            let _ = stdin.flush().await;
        }
        rx.await.ok()
    }

    /// The `result`, panicking on an error reply.
    pub async fn ok(&self, method: &str, params: Value) -> Value {
        let r = self.request(method, params).await.expect("bcli answered");
        assert!(r.get("error").is_none(), "{method}: {r}");
        r["result"].clone()
    }

    /// The `error` object, panicking on a result.
    pub async fn err(&self, method: &str, params: Value) -> Value {
        let r = self.request(method, params).await.expect("bcli answered");
        assert!(r.get("result").is_none(), "{method}: {r}");
        r["error"].clone()
    }
}

impl chain::PluginCall for Bcli {
    async fn call(&self, method: &'static str, params: Value) -> Result<Value, String> {
        match self.request(method, params).await {
            None => Err("bcli died".into()),
            Some(r) => match r.get("error") {
                Some(e) => Err(e["message"].as_str().unwrap_or("error").to_string()),
                None => Ok(r["result"].clone()),
            },
        }
    }
}

/// bcli's options for a devchain in `datadir` on `port` (cookie auth).
pub fn options_for(datadir: &Path, port: u16) -> Value {
    json!({
        "bitcoin-datadir": datadir.to_str().unwrap(),
        "bitcoin-rpcport": port,
        "bitcoin-retry-timeout": 3,
    })
}

/// A devchain and a bcli talking to it.
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub devchain: devchain::DevChain,
    pub bcli: Arc<Bcli>,
}

impl Stack {
    pub async fn new() -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let devchain = devchain::DevChain::spawn(dir.path()).unwrap();
        let bcli = Arc::new(Bcli::started(options_for(dir.path(), devchain.port)).await);
        Stack {
            dir,
            devchain,
            bcli,
        }
    }

    pub fn bcli_handle(&self) -> Arc<Bcli> {
        self.bcli.clone()
    }

    /// A devchain RPC call (blocking client, off the runtime).
    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        let mut client = self.devchain.client();
        let method = method.to_string();
        tokio::task::spawn_blocking(move || client.call(&method, params))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("devchain: {e}"))
    }

    pub async fn mine(&self, n: u32) -> Vec<String> {
        let addr = self.rpc("getnewaddress", json!([])).await;
        let hashes = self.rpc("generatetoaddress", json!([n, addr])).await;
        serde_json::from_value(hashes).unwrap()
    }
}

pub mod signer;
