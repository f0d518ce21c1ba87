//! `cln-payhook`: registers the payment hook named by `$CLN_PAYHOOK` (`invoice_payment`
//! or `htlc_accepted`, the default) and says `continue` at once (payment benchmarks).

use cln_plugin::{Builder, Error, Plugin};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), anyhow::Error> {
    let hook = match std::env::var("CLN_PAYHOOK").as_deref() {
        Ok("invoice_payment") => "invoice_payment",
        _ => "htlc_accepted",
    };
    let Some(plugin) = Builder::new(tokio::io::stdin(), tokio::io::stdout())
        .dynamic()
        .hook(hook, on_hook)
        .start(())
        .await?
    else {
        return Ok(());
    };
    plugin.join().await
}

async fn on_hook(_p: Plugin<()>, _v: Value) -> Result<Value, Error> {
    Ok(json!({"result": "continue"}))
}
