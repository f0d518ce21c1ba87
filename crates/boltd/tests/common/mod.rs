//! Test harness: real `boltd` processes in temporary lightning-dirs, raw socket clients.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BOLTD: &str = env!("CARGO_BIN_EXE_boltd");

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
}

impl Daemon {
    /// Starts boltd on regtest in a fresh directory and waits for its socket.
    pub fn start(extra: &[&str]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, extra)
    }

    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Daemon {
        let child = spawn(dir.path(), extra);
        let mut d = Daemon {
            dir,
            child: Some(child),
        };
        d.wait_ready();
        d
    }

    /// kill -9, then the same directory started again with `extra`.
    pub fn restart(&mut self, extra: &[&str]) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.child = Some(spawn(self.dir.path(), extra));
        self.wait_ready();
    }

    pub fn net_dir(&self) -> PathBuf {
        self.dir.path().join("regtest")
    }

    pub fn socket(&self) -> PathBuf {
        self.net_dir().join("lightning-rpc")
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.net_dir().join("log")).unwrap_or_default()
    }

    /// Ready = the socket answers and "Server started" is in the log (every start-up
    /// plugin has answered `init`), which is what pyln-testing waits for.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if UnixStream::connect(self.socket()).is_ok() && self.log().contains("Server started") {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("boltd exited early: {status}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("boltd socket never appeared; log:\n{}", self.log());
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.socket())
    }

    /// One request on a fresh connection; returns the whole response object.
    pub fn call(&self, method: &str, params: Value) -> Value {
        self.client().call(method, params)
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().unwrap();
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "boltd did not exit in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.pid(), sig) };
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Peers listen on a random loopback port unless the test chooses addresses itself.
pub fn spawn(dir: &Path, extra: &[&str]) -> Child {
    let own_addr = extra
        .iter()
        .any(|a| a.starts_with("--addr") || a.starts_with("--bind-addr"));
    Command::new(BOLTD)
        .arg(format!("--lightning-dir={}", dir.display()))
        .arg("--network=regtest")
        .arg("--log-file=log")
        .arg("--log-level=debug")
        .args((!own_addr).then_some("--bind-addr=127.0.0.1:0"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Runs boltd to completion (for start-up failures); returns (status, stderr).
pub fn run_to_exit(args: &[&str]) -> (ExitStatus, String, String) {
    let out = Command::new(BOLTD).args(args).output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A raw blocking client that splits responses on `\n\n`.
pub struct Client {
    pub stream: UnixStream,
    buf: Vec<u8>,
    next_id: u64,
}

impl Client {
    pub fn connect(path: &Path) -> Client {
        let stream = UnixStream::connect(path).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Client {
            stream,
            buf: vec![],
            next_id: 0,
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Next `\n\n`-terminated message, or None at EOF.
    pub fn read_raw(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let msg = self.buf[..pos].to_vec();
                self.buf.drain(..pos + 2);
                return Some(msg);
            }
            let mut chunk = [0u8; 65536];
            let n = match self.stream.read(&mut chunk) {
                Ok(n) => n,
                // The daemon closed with our bytes unread: as good as EOF.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
                Err(e) => panic!("read: {e}"),
            };
            if n == 0 {
                assert!(
                    self.buf.is_empty(),
                    "trailing bytes without \\n\\n: {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub fn read(&mut self) -> Value {
        let raw = self.read_raw().expect("connection closed");
        serde_json::from_slice(&raw).unwrap()
    }

    /// True once the daemon has closed the connection (EOF).
    pub fn at_eof(&mut self) -> bool {
        self.read_raw().is_none()
    }

    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let req =
            serde_json::json!({"jsonrpc":"2.0","id":self.next_id,"method":method,"params":params});
        self.send(serde_json::to_string(&req).unwrap().as_bytes());
        self.read()
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Installs `tests/plugins/raw_plugin.py` (standard library only) as plugin `<dir>/<name>`
/// following `spec`. None, with the reason printed, when there is no `python3`.
pub fn raw_plugin(dir: &Path, name: &str, spec: &Value) -> Option<PathBuf> {
    let ok = Command::new("python3")
        .arg("-c")
        .arg("pass")
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipped: no python3 on PATH for tests/plugins/raw_plugin.py");
        return None;
    }
    let spec_path = dir.join(format!("{name}.spec.json"));
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nRAW_SPEC={} exec python3 {} \"$@\"\n",
            spec_path.display(),
            repo().join("tests/plugins/raw_plugin.py").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    Some(path)
}
