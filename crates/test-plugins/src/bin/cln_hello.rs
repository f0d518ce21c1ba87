//! `cln-hello`: methods `clnhello [name]`, `clnmin`, `cln-options`, `cln-notify`; options
//! `cln-greeting` (string, default `hello`), `cln-count` (int), `cln-dyn` (dynamic
//! string); declares topic `cln_custom`.

use cln_plugin::options::{
    ConfigOption, DefaultStringConfigOption, IntegerConfigOption, StringConfigOption,
};
use cln_plugin::{messages, Builder, Error, Plugin};
use serde_json::{json, Value};

const GREETING: DefaultStringConfigOption =
    ConfigOption::new_str_with_default("cln-greeting", "hello", "How to greet");
const COUNT: IntegerConfigOption = ConfigOption::new_i64_no_default("cln-count", "A number");

#[tokio::main]
async fn main() -> Result<(), anyhow::Error> {
    let dyn_opt: StringConfigOption =
        ConfigOption::new_str_no_default("cln-dyn", "Changed with setconfig").dynamic();
    let Some(plugin) = Builder::new(tokio::io::stdin(), tokio::io::stdout())
        .option(GREETING)
        .option(COUNT)
        .option(dyn_opt)
        .dynamic()
        .rpcmethod("clnhello", "Greets [name]", hello)
        .rpcmethod("clnmin", "Returns {} (for benchmarks)", minimal)
        .rpcmethod("cln-options", "Shows option values", show_options)
        .rpcmethod(
            "cln-notify",
            "Emits a cln_custom notification",
            send_notification,
        )
        .setconfig_callback(setconfig)
        .notification(messages::NotificationTopic::new("cln_custom"))
        .subscribe("shutdown", on_shutdown)
        .start(())
        .await?
    else {
        return Ok(());
    };
    plugin.join().await
}

async fn hello(p: Plugin<()>, v: Value) -> Result<Value, Error> {
    let greeting = p.option(&GREETING)?;
    let name = match &v {
        Value::Array(a) => a
            .first()
            .and_then(Value::as_str)
            .unwrap_or("world")
            .to_string(),
        Value::Object(o) => o
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("world")
            .to_string(),
        _ => "world".to_string(),
    };
    Ok(json!({"greeting": format!("{greeting} {name}")}))
}

async fn minimal(_p: Plugin<()>, _v: Value) -> Result<Value, Error> {
    Ok(json!({}))
}

async fn show_options(p: Plugin<()>, _v: Value) -> Result<Value, Error> {
    Ok(json!({
        "cln-greeting": p.option(&GREETING)?,
        "cln-count": p.option(&COUNT)?,
        "cln-dyn": p.option_str("cln-dyn")?,
    }))
}

async fn send_notification(p: Plugin<()>, _v: Value) -> Result<Value, Error> {
    p.send_custom_notification("cln_custom".to_string(), json!({"from": "cln-hello"}))
        .await?;
    Ok(json!({"sent": true}))
}

async fn setconfig(p: Plugin<()>, v: Value) -> Result<Value, Error> {
    let name = v
        .get("config")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let val = v
        .get("val")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if val == "refuse" {
        return Err(cln_plugin::anyhow!("cln-hello refuses {val}"));
    }
    p.set_option_str(&name, cln_plugin::options::Value::String(val))?;
    Ok(json!({}))
}

async fn on_shutdown(_p: Plugin<()>, _v: Value) -> Result<(), Error> {
    std::process::exit(0);
}
