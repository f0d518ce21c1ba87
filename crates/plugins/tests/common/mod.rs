//! Helpers for the plugin host's integration tests: real plugin processes (pyln-client
//! and hand-written Python plugins from `tests/plugins`, cln-plugin binaries from
//! `crates/test-plugins`) in temporary directories, and a log capture to check what the
//! host said about them.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};
use std::time::Duration;

use plugins::{HostConfig, HostEvent, PluginHost};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The test virtualenv's interpreter (pyln-client installed there), if it exists
/// (`./run-tests` creates it). None, with the reason printed: the caller skips.
pub fn pyln_python() -> Option<PathBuf> {
    let p = repo().join(".venv/bin/python3");
    if p.exists() {
        return Some(p);
    }
    eprintln!(
        "skipped: {} is missing (./run-tests creates the venv); pyln-client plugins need it",
        p.display()
    );
    None
}

/// An interpreter for the hand-written plugins (standard library only): the venv's if
/// there is one, else `python3` from PATH.
pub fn python() -> PathBuf {
    pyln_python_quiet().unwrap_or_else(|| PathBuf::from("python3"))
}

fn pyln_python_quiet() -> Option<PathBuf> {
    let p = repo().join(".venv/bin/python3");
    p.exists().then_some(p)
}

/// A cln-plugin test binary from `crates/test-plugins`, built here if it is not yet
/// (a fresh clone's `cargo test --workspace` need not have built it).
pub fn cln_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let p = dir.join(name);
    if !p.exists() {
        // One build at a time: tests run in parallel threads.
        static BUILD: Mutex<()> = Mutex::new(());
        let _once = BUILD.lock().unwrap_or_else(|e| e.into_inner());
        if !p.exists() {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = std::process::Command::new(cargo)
                .args(["build", "-p", "test-plugins"])
                .current_dir(repo())
                .status()
                .expect("running cargo build -p test-plugins");
            assert!(status.success(), "cargo build -p test-plugins failed");
        }
    }
    assert!(
        p.exists(),
        "missing {} after building test-plugins",
        p.display()
    );
    p
}

fn write_exec(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Installs `tests/plugins/<script>` as plugin `<dir>/<name>` (a tiny sh wrapper that runs
/// it with the venv's python).
/// None (skip) without the venv.
pub fn py(dir: &Path, name: &str, script: &str) -> Option<PathBuf> {
    let python = pyln_python()?;
    let path = dir.join(name);
    let script = repo().join("tests/plugins").join(script);
    write_exec(
        &path,
        &format!(
            "#!/bin/sh\nexec {} {} \"$@\"\n",
            python.display(),
            script.display()
        ),
    );
    Some(path)
}

/// Same for pyln_hook.py, whose behaviour is read from `<script>.mode`: the wrapper runs a
/// per-name copy so each instance has its own mode file.
/// None (skip) without the venv.
pub fn pyln_hook(dir: &Path, name: &str, mode: &str) -> Option<PathBuf> {
    let python = pyln_python()?;
    let copy = dir.join(format!("{name}.py"));
    std::fs::copy(repo().join("tests/plugins/pyln_hook.py"), &copy).unwrap();
    std::fs::write(format!("{}.mode", copy.display()), mode).unwrap();
    let path = dir.join(name);
    write_exec(
        &path,
        &format!(
            "#!/bin/sh\nexec {} {} \"$@\"\n",
            python.display(),
            copy.display()
        ),
    );
    Some(path)
}

pub fn set_mode(dir: &Path, name: &str, mode: &str) {
    std::fs::write(dir.join(format!("{name}.py.mode")), mode).unwrap();
}

/// A hand-written plugin (`raw_plugin.py`) following `spec`.
pub fn raw(dir: &Path, name: &str, spec: Value) -> PathBuf {
    let spec_path = dir.join(format!("{name}.spec.json"));
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let path = dir.join(name);
    write_exec(
        &path,
        &format!(
            "#!/bin/sh\nRAW_SPEC={} exec {} {} \"$@\"\n",
            spec_path.display(),
            python().display(),
            repo().join("tests/plugins/raw_plugin.py").display()
        ),
    );
    path
}

pub fn raw_manifest(extra: Value) -> Value {
    let mut m = serde_json::json!({"options": [], "rpcmethods": [], "dynamic": true});
    if let (Some(o), Value::Object(e)) = (m.as_object_mut(), extra) {
        o.extend(e);
    }
    m
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub host: PluginHost,
    pub events: UnboundedReceiver<HostEvent>,
}

impl Env {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

pub fn env() -> Env {
    env_with(|_| {})
}

pub fn env_with(tweak: impl FnOnce(&mut HostConfig)) -> Env {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = HostConfig::new(dir.path().to_path_buf(), "regtest");
    cfg.startup_timeout = Duration::from_secs(20);
    cfg.shutdown_grace = Duration::from_secs(5);
    cfg.builtin_methods = vec!["getinfo".into(), "help".into(), "plugin".into()];
    cfg.builtin_options = vec!["network".into(), "alias".into()];
    tweak(&mut cfg);
    let (host, events) = PluginHost::new(cfg);
    Env { dir, host, events }
}

/// A client request as the RPC server would hand it to the host.
pub fn request(id: Value, method: &str, params: Value) -> jsonrpc::Request {
    let text = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    jsonrpc::parse_request(text.to_string().as_bytes()).unwrap()
}

/// Calls a plugin method and returns the whole response object.
pub async fn call(host: &PluginHost, method: &str, params: Value) -> Value {
    let frame = host
        .passthrough(&request(Value::from(1), method, params), None)
        .await;
    assert!(frame.ends_with(b"\n\n"));
    serde_json::from_slice(&frame).unwrap()
}

/// Starts `path` with `plugin start`; returns the command's result or error.
pub async fn start(host: &PluginHost, path: &Path) -> Result<Value, jsonrpc::RpcError> {
    host.command(
        plugins::PluginCommand::Start {
            path: path.display().to_string(),
            options: vec![],
        },
        Some("cli:plugin#1"),
    )
    .await
}

// ---- log capture ----

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static INIT: Once = Once::new();

struct Capture;
impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Formats each event as `LEVEL source: message`, the way the daemon's log shows it.
struct CaptureLayer;

#[derive(Default)]
struct Fields {
    source: String,
    message: String,
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
        if f.name() == "source" {
            self.source = v.to_string();
        }
    }
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        match f.name() {
            "message" => self.message = format!("{v:?}"),
            "source" => self.source = format!("{v:?}"),
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CaptureLayer {
    fn on_event(&self, ev: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut f = Fields::default();
        ev.record(&mut f);
        let line = format!("{} {}: {}\n", ev.metadata().level(), f.source, f.message);
        let _ = Capture.write(line.as_bytes());
    }
}

pub fn init_logs() {
    INIT.call_once(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let sub = tracing_subscriber::registry().with(CaptureLayer);
        let _ = tracing::subscriber::set_global_default(sub);
    });
}

pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

/// Waits until the captured log contains `needle`.
pub async fn wait_log(needle: &str) -> bool {
    for _ in 0..200 {
        if logs().contains(needle) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
