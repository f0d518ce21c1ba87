//! `devchain`: the regtest chain server (bitcoind's command line), `devchain cli …` (a
//! `bitcoin-cli` look-alike; also when started as `bitcoin-cli`) and `devchain bench`.

use std::io::BufRead;
use std::net::{IpAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use devchain::cli::{convert_params, Options};
use devchain::{Client, ClientError, Config, Server};
use serde_json::Value;

mod bench;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().collect();
    let program = args.remove(0);
    let called_as = std::path::Path::new(&program)
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or("")
        .to_string();
    if called_as.contains("bitcoin-cli") {
        return cli(&args);
    }
    match args.first().map(String::as_str) {
        Some("cli") => cli(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("-h" | "--help" | "-help" | "help") => {
            println!("{}", HELP);
            ExitCode::SUCCESS
        }
        _ => serve(&args),
    }
}

const HELP: &str = "devchain: a regtest chain speaking bitcoind's JSON-RPC

  devchain [-datadir=DIR] [-rpcport=N] [-rpcbind=IP] [-rpcuser=U -rpcpassword=P]
           [-fallbackfee=BTC/kvB] [-printtoconsole=0|1] [-debug]
      Serve (foreground). Chain in DIR/regtest; cookie in DIR/regtest/.cookie.
      -rpcport=0 picks a free port and writes it to DIR/regtest/rpcport.
      Other bitcoind options (-regtest, -txindex, -port, -nowallet, ...) are accepted.

  devchain cli [-datadir=DIR] [-rpcport=N] [-rpcuser=U -rpcpassword=P] [-stdin] [-rpcwait] METHOD ARGS...
      Call a method like bitcoin-cli, e.g.
        devchain cli -datadir=DIR generatetoaddress 101 $(devchain cli -datadir=DIR getnewaddress)
        devchain cli -datadir=DIR sendtoaddress ADDRESS 1.5
        devchain cli -datadir=DIR setfeerate 0.0001      (what estimatesmartfee answers, BTC/kvB)

  devchain bench [--txs N] [--blocks N] [--per-block N]
      Measure sendrawtransaction/s and mining time; prints a table.";

fn init_logging(opts: &Options, dir: &std::path::Path) {
    use tracing_subscriber::fmt::writer::MakeWriterExt;
    let level = if opts.flag("debug").unwrap_or(false) {
        "debug"
    } else {
        "info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("devchain={level},info")));
    let _ = std::fs::create_dir_all(dir);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("debug.log"))
        .ok()
        .map(Arc::new);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(false)
        .with_level(false);
    let console = opts.flag("printtoconsole").unwrap_or(true);
    match (file, console) {
        (Some(f), true) => builder.with_writer(std::io::stdout.and(f)).init(),
        (Some(f), false) => builder.with_writer(f).init(),
        (None, _) => builder.with_writer(std::io::stdout).init(),
    }
}

fn serve(args: &[String]) -> ExitCode {
    let mut opts = Options::parse(args);
    if let Some(p) = opts.positional.first() {
        eprintln!("Error: Command line contains unexpected token '{p}', see devchain -h for a list of options.");
        return ExitCode::from(1);
    }
    opts.load_conf();
    if opts.get("chain").is_some_and(|c| c != "regtest")
        || opts.flag("testnet") == Some(true)
        || opts.flag("signet") == Some(true)
    {
        eprintln!("Error: devchain only runs regtest");
        return ExitCode::from(1);
    }
    let mut config = Config::new(opts.datadir());
    init_logging(&opts, &config.net_dir());
    if let Some(port) = opts.get("rpcport") {
        match port.parse() {
            Ok(p) => config.rpc_port = p,
            Err(_) => {
                eprintln!("Error: Invalid port specified in -rpcport: '{port}'");
                return ExitCode::from(1);
            }
        }
    }
    if let Some(bind) = opts.get("rpcbind") {
        let ip = bind.split(':').next().unwrap_or(bind);
        match ip.parse::<IpAddr>() {
            Ok(ip) => config.rpc_bind = vec![ip],
            Err(_) => {
                eprintln!("Error: Invalid -rpcbind address: '{bind}'");
                return ExitCode::from(1);
            }
        }
    }
    config.rpc_user = opts.get("rpcuser").map(str::to_string);
    config.rpc_password = opts.get("rpcpassword").map(str::to_string);
    if let Some(fee) = opts.get("fallbackfee") {
        match bitcoin::Amount::from_str_in(fee, bitcoin::Denomination::Bitcoin) {
            Ok(a) => config.node.fallback_fee = Some(a.to_sat()).filter(|s| *s > 0),
            Err(_) => {
                eprintln!("Error: Invalid amount for -fallbackfee=<amount>: '{fee}'");
                return ExitCode::from(1);
            }
        }
    }
    let ignored = opts.ignored();
    if !ignored.is_empty() {
        tracing::info!(
            "Options accepted and not used by devchain: {}",
            ignored.join(", ")
        );
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async {
        let server = match Server::bind(config).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("Error: {e}");
                eprintln!("Error: {e}");
                return ExitCode::from(1);
            }
        };
        let stop = server.stopper();
        tokio::spawn(async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
            let _ = stop.send(true);
        });
        server.run().await;
        ExitCode::SUCCESS
    })
}

fn cli(args: &[String]) -> ExitCode {
    let mut opts = Options::parse(args);
    opts.load_conf();
    let mut positional = opts.positional.clone();
    let mut stdin_lines = Vec::new();
    if opts.flag("stdinrpcpass").unwrap_or(false) || opts.flag("stdin").unwrap_or(false) {
        stdin_lines = std::io::stdin()
            .lock()
            .lines()
            .map_while(Result::ok)
            .collect();
    }
    let mut password = opts.get("rpcpassword").map(str::to_string);
    if opts.flag("stdinrpcpass").unwrap_or(false) {
        if stdin_lines.is_empty() {
            eprintln!("error: -stdinrpcpass specified but failed to read from standard input");
            return ExitCode::from(1);
        }
        password = Some(stdin_lines.remove(0));
    }
    if opts.flag("stdin").unwrap_or(false) {
        positional.extend(stdin_lines);
    }
    if positional.is_empty() {
        eprintln!("error: too few parameters (need at least command)");
        return ExitCode::from(1);
    }
    let method = positional.remove(0);
    let host = opts.get("rpcconnect").unwrap_or("127.0.0.1").to_string();
    let datadir = opts.datadir();
    let port_file = datadir.join("regtest").join("rpcport");
    let port: u16 = opts
        .get("rpcport")
        .and_then(|p| p.parse().ok())
        .or_else(|| {
            std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
        })
        .unwrap_or(devchain::server::DEFAULT_RPC_PORT);
    let Some(addr) = (host.as_str(), port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
    else {
        eprintln!("error: Could not connect to the server {host}:{port}");
        return ExitCode::from(1);
    };
    let wait = opts.flag("rpcwait").unwrap_or(false);
    let wait_limit = opts
        .get("rpcwaittimeout")
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| *t > 0);
    let started = Instant::now();
    let params = Value::Array(convert_params(&method, &positional));
    loop {
        let client = match (opts.get("rpcuser"), &password) {
            (Some(u), Some(p)) => Ok(Client::new(addr, u, p)),
            _ => Client::with_cookie(addr, &datadir.join("regtest").join(".cookie")),
        };
        let result = client.and_then(|mut c| {
            if let Some(t) = opts
                .get("rpcclienttimeout")
                .and_then(|t| t.parse::<u64>().ok())
                .filter(|t| *t > 0)
            {
                c.set_timeout(Duration::from_secs(t));
            }
            c.call(&method, params.clone())
        });
        match result {
            Ok(Value::Null) => return ExitCode::SUCCESS,
            Ok(Value::String(s)) => {
                println!("{s}");
                return ExitCode::SUCCESS;
            }
            Ok(v) => {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                return ExitCode::SUCCESS;
            }
            Err(ClientError::Rpc { code, message }) => {
                eprintln!("error code: {code}\nerror message:\n{message}");
                return ExitCode::from(code.unsigned_abs().min(255) as u8);
            }
            Err(ClientError::Connect(_))
                if wait
                    && wait_limit.is_none_or(|l| started.elapsed() < Duration::from_secs(l)) =>
            {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e @ ClientError::Connect(_)) => {
                eprintln!("error: {e}\n\nMake sure the devchain server is running and that you are connecting to the correct RPC port.");
                return ExitCode::from(1);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        }
    }
}
