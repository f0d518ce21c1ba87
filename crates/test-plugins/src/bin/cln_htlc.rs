//! `cln-htlc`: registers `htlc_accepted` and says `continue` to every HTLC (the forwards
//! benchmark's cln-plugin hook).

use cln_plugin::{Builder, Error, Plugin};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), anyhow::Error> {
    let Some(plugin) = Builder::new(tokio::io::stdin(), tokio::io::stdout())
        .dynamic()
        .hook("htlc_accepted", on_htlc)
        .start(())
        .await?
    else {
        return Ok(());
    };
    plugin.join().await
}

async fn on_htlc(_p: Plugin<()>, _v: Value) -> Result<Value, Error> {
    Ok(json!({"result": "continue"}))
}
