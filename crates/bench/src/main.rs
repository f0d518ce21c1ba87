//! `bench <scenario>`: see `bench --help`. Each scenario prints a table; timing never
//! makes the run fail.

use bench::daemon::{self, Daemon};
use bench::scenarios;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "Throughput and latency of a CLN-compatible node"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// getinfo round trips over 1 and 16 persistent connections to any CLN-style socket.
    Rpc(scenarios::rpc::Args),
    /// Custom messages end to end between two boltds: sendcustommsg → wire → cln-plugin
    /// custommsg hook (1 and 8 RPC connections), one-way latency.
    Custommsg(scenarios::custommsg::Args),
    /// Raw peer-layer ceiling: custom messages/s between two in-process peer nodes, no RPC.
    Peerwire(scenarios::peerwire::Args),
    /// Datastore writes/s with and without db_write plugins (starts its own boltd).
    Datastore(scenarios::datastore::Args),
    /// Plugin host: passthrough calls/s, rpc_command chains, notification fan-out,
    /// start-up time with 20 plugins (starts its own boltds).
    Plugins(scenarios::plugins::Args),
    /// Runes: checkrune calls/s (5 restrictions), commando getinfo round trips/s between
    /// two boltds (starts its own boltds).
    Runes(scenarios::runes::Args),
    /// Channels between two boltds on a devchain: opens/min, start-up time and RSS with
    /// 1, 10 and 100 channels (starts its own devchain and boltds).
    Channels(scenarios::channels::Args),
    /// Payments between two boltds over one channel: pay (1 and 8 connections) and
    /// keysend, with no plugin and with invoice_payment / htlc_accepted plugins (pyln and
    /// cln-plugin) on the payee (starts its own devchain and boltds).
    Payments(scenarios::payments::Args),
    /// The on-chain wallet with many outputs: listfunds, withdraw, catch-up after a restart.
    Wallet(scenarios::wallet::Args),
    /// Forwards/s through the middle of three boltds on a devchain, with no plugin and
    /// with an htlc_accepted plugin that continues (pyln, cln-plugin); added latency.
    Forwards(scenarios::forwards::Args),
    /// Every scenario with its defaults (each starts its own throw-away boltds).
    All {
        /// The boltd binary [default: $BOLTD_BIN, else next to this executable].
        #[arg(long)]
        boltd: Option<PathBuf>,
        /// Seconds per row.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
}

/// A scenario's flags with their defaults, as if given on the command line.
fn defaults<A: clap::Args>(args: &[String]) -> anyhow::Result<A> {
    #[derive(Parser)]
    struct Wrap<A: clap::Args> {
        #[command(flatten)]
        a: A,
    }
    let argv = std::iter::once("bench".to_string()).chain(args.iter().cloned());
    Ok(Wrap::<A>::try_parse_from(argv)?.a)
}

/// Every scenario with its defaults and `seconds` per row; one table each.
async fn all(boltd: Option<PathBuf>, seconds: f64) -> anyhow::Result<()> {
    let bin = boltd.unwrap_or_else(daemon::default_binary);
    let secs = seconds.to_string();
    let own = vec![
        "--boltd".to_string(),
        bin.display().to_string(),
        "--seconds".to_string(),
        secs.clone(),
    ];
    let d = Daemon::start(&bin, &[]).await?;
    println!("# boltd {}", bin.display());
    let rpc = scenarios::rpc::Args {
        socket: d.socket.clone(),
        seconds,
        conns: vec![1, 16],
        pid: Some(d.pid()),
    };
    let result = scenarios::rpc::run(&rpc).await;
    d.stop().await;
    print!("{}", result?.render());
    // One scenario failing (a setup the daemon refuses) must not hide the others.
    fn show(name: &str, r: anyhow::Result<bench::stats::Table>) {
        match r {
            Ok(t) => print!("{}", t.render()),
            Err(e) => println!("# {name}: failed: {e:#}"),
        }
    }
    let peerwire = defaults(&["--seconds".to_string(), secs])?;
    show("peerwire", scenarios::peerwire::run(&peerwire).await);
    show(
        "custommsg",
        scenarios::custommsg::run(&defaults(&own)?).await,
    );
    show(
        "datastore",
        scenarios::datastore::run(&defaults(&own)?).await,
    );
    show("plugins", scenarios::plugins::run(&defaults(&own)?).await);
    show("runes", scenarios::runes::run(&defaults(&own)?).await);
    Ok(())
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Rpc(args) => scenarios::rpc::run(&args)
            .await
            .map(|t| print!("{}", t.render())),
        Command::Custommsg(args) => scenarios::custommsg::run(&args)
            .await
            .map(|t| print!("{}", t.render())),
        Command::Peerwire(args) => scenarios::peerwire::run(&args)
            .await
            .map(|t| print!("{}", t.render())),
        Command::Datastore(args) => scenarios::datastore::run(&args)
            .await
            .map(|t| print!("{}", t.render())),
        Command::Plugins(args) => scenarios::plugins::run(&args)
            .await
            .map(|t| print!("{}", t.render())),
        Command::Runes(args) => scenarios::runes::run(&args)
            .await
            .map(|t| print!("{}", t.render())),
        Command::Channels(args) => scenarios::channels::run(&args)
            .await
            .map(|t| print!("{}", t.render())),
        Command::Payments(args) => scenarios::payments::run(&args)
            .await
            .map(|t| print!("{}", t.render())),
        Command::Wallet(args) => scenarios::wallet::run(&args)
            .await
            .map(|t| print!("{}", t.render())),
        Command::Forwards(args) => scenarios::forwards::run(&args)
            .await
            .map(|t| print!("{}", t.render())),
        Command::All { boltd, seconds } => all(boltd, seconds).await,
    };
    if let Err(e) = result {
        eprintln!("bench: {e:#}");
        std::process::exit(1);
    }
}
