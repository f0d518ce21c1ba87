//! Addresses: what `--addr`/`--bind-addr` mean, how `connect` splits `id@host:port`, and the
//! JSON shapes CLN uses for addresses (`{"type":"ipv4","address":…,"port":…}`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde_json::{json, Value};

/// The default peer port per network (CLN's `chainparams`).
pub fn default_port(network: &str) -> u16 {
    match network {
        "testnet" => 19735,
        "testnet4" => 49735,
        "signet" => 39735,
        "regtest" => 19846,
        _ => 9735,
    }
}

/// Splits `host[:port]` where host may be a bracketed IPv6 literal or a bare IPv6 literal
/// (which then has no port). Returns the host without brackets.
pub fn split_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("missing ']'")?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((host.to_string(), Some(parse_port(p)?))),
            None if after.is_empty() => Ok((host.to_string(), None)),
            None => Err(format!("unexpected '{after}' after address")),
        };
    }
    if s.parse::<IpAddr>().is_ok() {
        return Ok((s.to_string(), None));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Ok((h.to_string(), Some(parse_port(p)?))),
        None => Ok((s.to_string(), None)),
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    p.parse::<u16>().map_err(|_| format!("invalid port '{p}'"))
}

/// Resolves `host:port` (DNS allowed); prefers IPv4 like most loopback test setups expect.
pub async fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    if host.is_empty() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| e.to_string())?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| "no address found".to_string())
}

/// A listening/announce option value (`127.0.0.1:0`, `0.0.0.0`, `[::1]:9735`, `:9735`,
/// `localhost:1234`) as a socket address; the port defaults to the network's.
pub async fn listen_addr(v: &str, network: &str) -> Result<SocketAddr, String> {
    let (host, port) = split_host_port(v)?;
    resolve(&host, port.unwrap_or_else(|| default_port(network))).await
}

/// `{"type":"ipv4"|"ipv6","address":"…","port":N}`.
pub fn json_addr(a: &SocketAddr) -> Value {
    let ty = if a.is_ipv4() { "ipv4" } else { "ipv6" };
    json!({"type": ty, "address": a.ip().to_string(), "port": a.port()})
}

/// Whether an address is worth announcing (not loopback, unspecified or private).
pub fn announceable(a: &SocketAddr) -> bool {
    match a.ip() {
        IpAddr::V4(v4) => {
            !(v4.is_loopback() || v4.is_unspecified() || v4.is_private() || v4.is_link_local())
        }
        IpAddr::V6(v6) => !(v6.is_loopback() || v6.is_unspecified()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            split_host_port("127.0.0.1:9735").unwrap(),
            ("127.0.0.1".into(), Some(9735))
        );
        assert_eq!(
            split_host_port("127.0.0.1").unwrap(),
            ("127.0.0.1".into(), None)
        );
        assert_eq!(
            split_host_port("[::1]:10").unwrap(),
            ("::1".into(), Some(10))
        );
        assert_eq!(split_host_port("::1").unwrap(), ("::1".into(), None));
        assert_eq!(
            split_host_port("localhost:1").unwrap(),
            ("localhost".into(), Some(1))
        );
        assert!(split_host_port("host:notaport").is_err());
        assert_eq!(
            split_host_port("127.0.0.1:0").unwrap(),
            ("127.0.0.1".into(), Some(0))
        );
    }

    #[test]
    fn default_ports_per_network() {
        assert_eq!(default_port("bitcoin"), 9735);
        assert_eq!(default_port("regtest"), 19846);
    }
}
