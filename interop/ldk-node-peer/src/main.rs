//! `ldk-node-peer`: an ldk-node (its own BDK wallet, its own storage, LDK 0.2) driven by tests
//! over stdin/stdout, so boltd's interop tests have a Lightning node that shares no code with it.
//!
//! Usage: `ldk-node-peer --dir DIR --listen 127.0.0.1:PORT --rpc-port PORT
//!         (--rpc-user USER --rpc-password PW | --rpc-cookie FILE) [--rpc-host HOST] [--alias NAME]`
//!
//! The chain comes from a bitcoind RPC (devchain in the tests); the seed is `DIR/seed` (made on
//! first start), the node's storage `DIR/ldk`, its log `DIR/ldk-node.log`. When the node runs it
//! prints `{"ready": {"node_id": …, "listening": […]}}`. Then each stdin line is one request
//! `{"method": NAME, "params": {…}}`, answered by one line: `{"result": …}` or
//! `{"error": {"kind": …, "message": …}}`. The methods are listed in [`requests::METHODS`].
//! Events are not printed: the tests take them with `wait_event`.

mod render;
mod requests;

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use ldk_node::bitcoin::Network;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::logger::LogLevel;
use ldk_node::Builder;
use serde_json::{json, Value};

/// The command line, parsed.
struct Args {
    /// Everything the node keeps: seed, storage, log.
    dir: String,
    /// Where peers reach it (a loopback port the test picked).
    listen: SocketAddr,
    /// The bitcoind RPC (devchain) it takes blocks, fees and the mempool from.
    rpc_host: String,
    rpc_port: u16,
    rpc_user: String,
    rpc_password: String,
    /// Needed only to open announced channels (ldk-node refuses them without one).
    alias: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut dir = None;
    let mut listen = None;
    let mut rpc_host = "127.0.0.1".to_string();
    let mut rpc_port = None;
    let mut user = None;
    let mut password = None;
    let mut cookie = None;
    let mut alias = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--dir" => dir = Some(value),
            "--listen" => {
                listen = Some(
                    value
                        .parse()
                        .map_err(|e| format!("--listen {value}: {e}"))?,
                )
            }
            "--rpc-host" => rpc_host = value,
            "--rpc-port" => {
                rpc_port = Some(
                    value
                        .parse()
                        .map_err(|e| format!("--rpc-port {value}: {e}"))?,
                )
            }
            "--rpc-user" => user = Some(value),
            "--rpc-password" => password = Some(value),
            "--rpc-cookie" => cookie = Some(value),
            "--alias" => alias = Some(value),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    // bitcoind's cookie file is `__cookie__:<password>`, i.e. user and password.
    if let Some(path) = cookie {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
        let (u, p) = text
            .trim()
            .split_once(':')
            .ok_or_else(|| format!("{path} is not a cookie file"))?;
        user = Some(u.to_string());
        password = Some(p.to_string());
    }
    Ok(Args {
        dir: dir.ok_or("--dir is required")?,
        listen: listen.ok_or("--listen is required")?,
        rpc_host,
        rpc_port: rpc_port.ok_or("--rpc-port is required")?,
        rpc_user: user.ok_or("--rpc-user or --rpc-cookie is required")?,
        rpc_password: password.ok_or("--rpc-password or --rpc-cookie is required")?,
        alias,
    })
}

fn start(args: &Args) -> Result<ldk_node::Node, String> {
    let mut builder = Builder::new();
    builder
        .set_network(Network::Regtest)
        .set_storage_dir_path(format!("{}/ldk", args.dir))
        .set_entropy_seed_path(format!("{}/seed", args.dir))
        .set_filesystem_logger(
            Some(format!("{}/ldk-node.log", args.dir)),
            Some(LogLevel::Debug),
        )
        .set_chain_source_bitcoind_rpc(
            args.rpc_host.clone(),
            args.rpc_port,
            args.rpc_user.clone(),
            args.rpc_password.clone(),
        )
        .set_gossip_source_p2p();
    builder
        .set_listening_addresses(vec![SocketAddress::from(args.listen)])
        .map_err(|e| format!("listening address: {e}"))?;
    if let Some(alias) = &args.alias {
        builder
            .set_node_alias(alias.clone())
            .map_err(|e| format!("alias: {e}"))?;
    }
    let node = builder.build().map_err(|e| format!("build: {e}"))?;
    node.start().map_err(|e| format!("start: {e}"))?;
    Ok(node)
}

fn reply(out: &mut impl Write, v: &Value) -> std::io::Result<()> {
    writeln!(out, "{v}")?;
    out.flush()
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ldk-node-peer: {e}");
            return ExitCode::from(2);
        }
    };
    let node = match start(&args) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("ldk-node-peer: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    let ready = json!({"ready": {
        "node_id": node.node_id().to_string(),
        "listening": requests::listening(&node),
    }});
    if reply(&mut out, &ready).is_err() {
        let _ = node.stop();
        return ExitCode::FAILURE;
    }
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let (answer, stop) = requests::handle(&node, &line);
        if reply(&mut out, &answer).is_err() || stop {
            break;
        }
    }
    // stdin closed (the test went away) or `stop`: persist and shut down cleanly.
    let _ = node.stop();
    ExitCode::SUCCESS
}
