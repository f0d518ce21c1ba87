//! Test helpers: a devchain in a temp dir and a client to it.

#![allow(dead_code)]

use devchain::{Client, ClientError, DevChain};
use serde_json::{json, Value};

pub struct Chain {
    pub dc: DevChain,
    pub rpc: Client,
    pub dir: tempfile::TempDir,
}

pub fn start() -> Chain {
    let dir = tempfile::tempdir().unwrap();
    let dc = DevChain::spawn(dir.path()).unwrap();
    let rpc = dc.client();
    Chain { dc, rpc, dir }
}

impl Chain {
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.rpc
            .call(method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    pub fn call_err(&mut self, method: &str, params: Value) -> (i64, String) {
        match self.rpc.call(method, params) {
            Err(ClientError::Rpc { code, message }) => (code, message),
            other => panic!("{method}: expected an RPC error, got {other:?}"),
        }
    }

    pub fn mine(&mut self, n: u32) -> Vec<String> {
        let addr = self.call("getnewaddress", json!([]));
        let v = self.call("generatetoaddress", json!([n, addr]));
        serde_json::from_value(v).unwrap()
    }

    pub fn height(&mut self) -> u64 {
        self.call("getblockcount", json!([])).as_u64().unwrap()
    }
}
