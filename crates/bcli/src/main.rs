//! `bcli`: the bundled Bitcoin backend plugin.
//!
//! Owns: Core Lightning's backend protocol towards the node (`getchaininfo`,
//! `estimatefees`, `getrawblockbyheight`, `getutxout`, `sendrawtransaction`, with bcli's
//! options, results and errors) and bitcoind's JSON-RPC over HTTP (cookie or user/password,
//! retries while bitcoind is unreachable).
//!
//! Must not touch: the node's RPC socket (backends are initialised before it exists) or
//! anything of the node beyond the plugin protocol.

mod config;
mod error;
mod methods;
mod rpc;
mod startup;

use std::future::Future;
use std::sync::Arc;

use cln_plugin::options::{
    BooleanConfigOption, ConfigOption, DefaultIntegerConfigOption, IntegerConfigOption,
    StringConfigOption,
};
use cln_plugin::{Builder, Plugin, RpcMethodBuilder};
use serde_json::Value;

use config::{Config, Options};
use error::MethodError;
use rpc::Bitcoind;

const DATADIR: StringConfigOption =
    ConfigOption::new_str_no_default("bitcoin-datadir", "-datadir arg for bitcoin-cli");
const CLI: StringConfigOption = ConfigOption::new_str_no_default(
    "bitcoin-cli",
    "bitcoin-cli pathname (accepted for compatibility; bcli speaks to bitcoind directly)",
);
const RPCUSER: StringConfigOption =
    ConfigOption::new_str_no_default("bitcoin-rpcuser", "bitcoind RPC username");
const RPCPASSWORD: StringConfigOption =
    ConfigOption::new_str_no_default("bitcoin-rpcpassword", "bitcoind RPC password");
const RPCCONNECT: StringConfigOption =
    ConfigOption::new_str_no_default("bitcoin-rpcconnect", "bitcoind RPC host to connect to");
const RPCPORT: IntegerConfigOption =
    ConfigOption::new_i64_no_default("bitcoin-rpcport", "bitcoind RPC host's port");
const RPCCLIENTTIMEOUT: DefaultIntegerConfigOption = ConfigOption::new_i64_with_default(
    "bitcoin-rpcclienttimeout",
    60,
    "bitcoind RPC timeout in seconds during HTTP requests",
);
const RETRY_TIMEOUT: DefaultIntegerConfigOption = ConfigOption::new_i64_with_default(
    "bitcoin-retry-timeout",
    60,
    "how long to keep retrying to contact bitcoind before fatally exiting",
);
const DEV_NO_FAKE_FEES: BooleanConfigOption =
    ConfigOption::new_bool_no_default("dev-no-fake-fees", "Suppress fee faking for regtest");
const DEV_IGNORE_IBD: BooleanConfigOption = ConfigOption::new_bool_no_default(
    "dev-ignore-ibd",
    "Never tell lightningd we're doing initial block download",
);

type State = Arc<Bitcoind>;

/// Registers one backend method whose body is `run(bitcoind, params)`.
fn method<F, Fut>(name: &str, usage: &str, description: &str, run: F) -> RpcMethodBuilder<State>
where
    F: Fn(State, Value) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = Result<Value, MethodError>> + Send + 'static,
{
    RpcMethodBuilder::new(name, move |p: Plugin<State>, params: Value| {
        let state = p.state().clone();
        async move { run(state, params).await.map_err(MethodError::into_anyhow) }
    })
    .usage(usage)
    .description(description)
}

#[tokio::main]
async fn main() -> Result<(), anyhow::Error> {
    let builder = Builder::new(tokio::io::stdin(), tokio::io::stdout())
        .option(DATADIR)
        .option(CLI)
        .option(RPCUSER)
        .option(RPCPASSWORD)
        .option(RPCCONNECT)
        .option(RPCPORT)
        .option(RPCCLIENTTIMEOUT)
        .option(RETRY_TIMEOUT)
        .option(DEV_NO_FAKE_FEES)
        .option(DEV_IGNORE_IBD)
        .rpcmethod_from_builder(method(
            "getrawblockbyheight",
            methods::getrawblockbyheight::USAGE,
            "Get the bitcoin block at a given height",
            |b, p| async move { methods::getrawblockbyheight::run(&b, &p).await },
        ))
        .rpcmethod_from_builder(method(
            "getchaininfo",
            methods::getchaininfo::USAGE,
            "Get the chain id, the header count, the block count, and whether this is IBD.",
            |b, p| async move { methods::getchaininfo::run(&b, &p).await },
        ))
        .rpcmethod_from_builder(method(
            "estimatefees",
            methods::estimatefees::USAGE,
            "Get the Bitcoin feerate in sat/kvB.",
            |b, p| async move { methods::estimatefees::run(&b, &p).await },
        ))
        .rpcmethod_from_builder(method(
            "sendrawtransaction",
            methods::sendrawtransaction::USAGE,
            "Send a raw transaction to the Bitcoin network.",
            |b, p| async move { methods::sendrawtransaction::run(&b, &p).await },
        ))
        .rpcmethod_from_builder(method(
            "getutxout",
            methods::getutxout::USAGE,
            "Get information about an output, identified by a {txid} an a {vout}",
            |b, p| async move { methods::getutxout::run(&b, &p).await },
        ));

    let Some(configured) = builder.configure().await? else {
        return Ok(());
    };
    let opts = Options {
        datadir: configured.option(&DATADIR)?,
        rpcuser: configured.option(&RPCUSER)?,
        rpcpassword: configured.option(&RPCPASSWORD)?,
        rpcconnect: configured.option(&RPCCONNECT)?,
        rpcport: configured.option(&RPCPORT)?,
        rpcclienttimeout: configured.option(&RPCCLIENTTIMEOUT)?,
        retry_timeout: configured.option(&RETRY_TIMEOUT)?,
        dev_no_fake_fees: configured.option(&DEV_NO_FAKE_FEES)?.unwrap_or(false),
        dev_ignore_ibd: configured.option(&DEV_IGNORE_IBD)?.unwrap_or(false),
    };
    let network = configured.configuration().network;
    let bitcoind = match Config::new(&opts, &network) {
        Ok(config) => Bitcoind::new(config),
        Err(e) => fatal(&e),
    };
    // Like bcli: no answer to `init` until bitcoind is there; the node waits for it.
    if let Err(e) = startup::check(&bitcoind).await {
        fatal(&e);
    }
    tracing::info!("bitcoin-cli initialized and connected to bitcoind.");
    let plugin = configured.start(Arc::new(bitcoind)).await?;
    plugin.join().await
}

/// bcli cannot serve: say why on stderr (the node logs a plugin's stderr) and exit, which
/// the node sees as its Bitcoin backend dying.
fn fatal(why: &str) -> ! {
    eprintln!("bcli: {why}");
    std::process::exit(1)
}
