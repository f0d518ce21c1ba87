//! `cln-hook`: registers `rpc_command` and says `continue` to everything; also serves
//! `clnmin`, the smallest possible method (for passthrough benchmarks).

use cln_plugin::{Builder, Error, Plugin};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), anyhow::Error> {
    let Some(plugin) = Builder::new(tokio::io::stdin(), tokio::io::stdout())
        .dynamic()
        .hook("rpc_command", on_rpc_command)
        .start(())
        .await?
    else {
        return Ok(());
    };
    plugin.join().await
}

async fn on_rpc_command(_p: Plugin<()>, _v: Value) -> Result<Value, Error> {
    Ok(json!({"result": "continue"}))
}
