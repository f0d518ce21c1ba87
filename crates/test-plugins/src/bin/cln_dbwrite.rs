//! A db_write plugin written with the cln-plugin crate: says continue to every write.
//! Used by the datastore bench. Note: cln-plugin insists the second message is `init`,
//! so this plugin only works on a database that needs no migration at start-up (a
//! db_write before `init` makes cln-plugin exit, exactly as with Core Lightning).

use cln_plugin::{Builder, Plugin};
use serde_json::{json, Value};

async fn db_write(_p: Plugin<()>, _v: Value) -> Result<Value, anyhow::Error> {
    Ok(json!({"result": "continue"}))
}

#[tokio::main]
async fn main() -> Result<(), anyhow::Error> {
    match Builder::new(tokio::io::stdin(), tokio::io::stdout())
        .hook("db_write", db_write)
        .start(())
        .await?
    {
        Some(plugin) => plugin.join().await,
        None => Ok(()),
    }
}
