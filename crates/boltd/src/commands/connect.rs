//! `connect id[@host[:port]] [host] [port]`: open a peer connection and wait until the
//! `peer_connected` hook chain let it in. Result `{id, features, direction, address}`;
//! errors and texts as Core Lightning's connect_control.c (reference §11.5).

use std::sync::Arc;

use jsonrpc::params::bad_token;
use jsonrpc::{codes, id_prefix, Bound, Param, RpcError};
use net::PublicKey;
use serde_json::{json, Value};

use crate::peering::addr::{default_port, resolve, split_host_port};
use crate::peering::{disconnected_during, parse_node_id, Known, Peering};
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};
use crate::storage::Storage;

const PARAMS: &[Param] = &[Param::req("id"), Param::opt("host"), Param::opt("port")];

pub struct Connect {
    pub peering: Arc<Peering>,
    pub storage: Storage,
}

/// Where to connect, after parameter checks.
struct Target {
    id: PublicKey,
    /// The host as given (`id@host[:port]` or the `host` parameter), if any.
    name: Option<String>,
    /// The `port` parameter, if given.
    port: Option<u16>,
}

/// The parameter checks CLN makes before looking at the peer: id, host given twice, port
/// without host. The host itself is checked later ([`host_port`]), after the "already
/// connected" answer (connect_control.c json_connect).
fn parse(b: &Bound) -> Result<Target, RpcError> {
    let idv = b
        .get("id")
        .ok_or_else(|| RpcError::invalid_params("missing required parameter: id"))?;
    let id_str = idv
        .as_str()
        .ok_or_else(|| bad_token("id", "should be a string", idv))?;
    let (id_part, at_addr) = match id_str.split_once('@') {
        Some((i, a)) => (i, Some(a)),
        None => (id_str, None),
    };
    let id = parse_node_id(id_part)
        .ok_or_else(|| RpcError::invalid_params(format!("id {id_part} not valid")))?;
    let host_param = b.str("host")?;
    let port = match b.get("port") {
        None => None,
        Some(v) => {
            let n = v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .filter(|n| *n <= u64::from(u16::MAX))
                .ok_or_else(|| bad_token("port", "should be a 16 bit integer", v))?;
            Some(n as u16)
        }
    };
    if host_param.is_some() && at_addr.is_some() {
        return Err(RpcError::invalid_params(
            "Can't specify host as both xxx@yyy and separate argument",
        ));
    }
    let name = host_param.or(at_addr).map(str::to_string);
    if port.is_some() && name.is_none() {
        return Err(RpcError::invalid_params("Can't specify port without host"));
    }
    Ok(Target { id, name, port })
}

/// The host and port to dial, if a host was given: `Host <h>:<p> not valid: ...` otherwise.
fn host_port(t: &Target, network: &str) -> Result<Option<(String, u16)>, RpcError> {
    let Some(n) = &t.name else { return Ok(None) };
    let port = t.port;
    let (h, p_in_host) = split_host_port(n).map_err(|e| {
        RpcError::daemon(format!(
            "Host {n}:{} not valid: {e}",
            port.unwrap_or_else(|| default_port(network))
        ))
    })?;
    let p = port.or(p_in_host).unwrap_or_else(|| default_port(network));
    if p == 0 {
        return Err(RpcError::daemon(format!(
            "Host {h}:{p} not valid: port is 0"
        )));
    }
    Ok(Some((h, p)))
}

/// The success reply.
fn connected_reply(id: &PublicKey, k: &Known) -> Value {
    json!({
        "id": id.to_string(),
        "features": hex::encode(&k.features),
        "direction": k.direction.as_str(),
        "address": k.address_json(),
    })
}

impl Command for Connect {
    fn name(&self) -> &'static str {
        "connect"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        let t = parse(&ctx.bind(PARAMS)?)?;
        host_port(&t, &ctx.node.settings.network).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let peering = self.peering.clone();
        let storage = self.storage.clone();
        Box::pin(async move {
            let t = parse(&ctx.bind(PARAMS)?)?;
            if let Some(k) = peering.known(&t.id).filter(|k| k.connected) {
                tracing::debug!("Already connected via {:?}", k.addr);
                return Ok(Reply::Result(connected_reply(&t.id, &k)));
            }
            let (host, port) = match host_port(&t, &ctx.node.settings.network)? {
                Some(hp) => hp,
                None if peering.known(&t.id).is_some() => {
                    // Connecting already (its hook chain is running): wait for it.
                    (String::new(), 0)
                }
                // Where we reached it before, if anywhere (the store remembers).
                None => match storage.remembered_address(&t.id.to_string()).await {
                    Some(hp) => hp,
                    None => {
                        return Err(RpcError::new(
                            codes::CONNECT_NO_KNOWN_ADDRESS,
                            "Unable to connect, no address known for peer",
                        ))
                    }
                },
            };
            let done = peering.wait_connected(t.id, id_prefix(&ctx.request.id));
            if port != 0 {
                let addr = resolve(&host, port)
                    .await
                    .map_err(|e| RpcError::daemon(format!("Host {host}:{port} not valid: {e}")))?;
                if let Err(e) = peering.peers.connect(t.id, addr).await {
                    // Only this command's attempt failed; others waiting keep waiting.
                    return Err(RpcError::new(
                        codes::CONNECT_ALL_ADDRESSES_FAILED,
                        format!("All addresses failed: {e}. "),
                    ));
                }
                storage
                    .remember_address(&t.id.to_string(), &host, port)
                    .await;
            }
            // A peer accepted between our check and the registration never wakes us.
            if let Some(k) = peering.known(&t.id).filter(|k| k.connected) {
                return Ok(Reply::Result(connected_reply(&t.id, &k)));
            }
            match done.await {
                Ok(Ok(())) => match peering.known(&t.id) {
                    Some(k) => Ok(Reply::Result(connected_reply(&t.id, &k))),
                    None => Err(disconnected_during()),
                },
                Ok(Err(e)) => Err(e),
                Err(_) => Err(disconnected_during()),
            }
        })
    }
}
