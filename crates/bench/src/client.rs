//! A small async JSON-RPC client over a unix socket: one persistent connection, requests
//! written without a terminator (like pyln-client), replies split with the shared
//! `jsonrpc::JsonCodec` so it works whether or not the server ends messages in `\n\n`.
//! Notifications (no `id`) are skipped.

use anyhow::{anyhow, bail, Context, Result};
use futures::StreamExt;
use jsonrpc::JsonCodec;
use serde_json::{json, Value};
use std::path::Path;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio_util::codec::FramedRead;

pub struct RpcClient {
    reader: FramedRead<OwnedReadHalf, JsonCodec>,
    writer: OwnedWriteHalf,
    /// Prefix of our request ids, so a scenario's calls are recognisable in daemon logs.
    tag: String,
    next_id: u64,
}

impl RpcClient {
    pub async fn connect(socket: &Path, tag: &str) -> Result<Self> {
        let stream = UnixStream::connect(socket)
            .await
            .with_context(|| format!("connecting to {}", socket.display()))?;
        let (r, w) = stream.into_split();
        Ok(RpcClient {
            reader: FramedRead::new(r, JsonCodec::new(1 << 30)),
            writer: w,
            tag: tag.to_string(),
            next_id: 0,
        })
    }

    /// One call; `Ok(Err(error))` is a JSON-RPC error reply, `Err` a transport failure.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Result<Value, Value>> {
        self.next_id += 1;
        let id = format!("{}:{method}#{}", self.tag, self.next_id);
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.writer.write_all(&serde_json::to_vec(&req)?).await?;
        loop {
            let frame = self
                .reader
                .next()
                .await
                .ok_or_else(|| anyhow!("connection closed"))??;
            let mut v: Value = serde_json::from_slice(&frame)?;
            let Some(obj) = v.as_object_mut() else {
                bail!("non-object reply");
            };
            match obj.get("id") {
                None => continue, // a notification
                Some(Value::String(got)) if *got == id => {}
                Some(other) => bail!("reply id {other} does not match {id}"),
            }
            if let Some(err) = obj.remove("error").filter(|e| !e.is_null()) {
                return Ok(Err(err));
            }
            return Ok(Ok(obj.remove("result").unwrap_or(Value::Null)));
        }
    }
}
