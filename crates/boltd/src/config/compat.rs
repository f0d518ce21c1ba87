//! Core Lightning options boltd accepts without acting on them, so command lines written
//! for lightningd (pyln-testing's among them) start boltd unchanged. Each one says why it
//! has no effect; start-up logs that for every one actually given.
//!
//! A plugin that registers one of these names (e.g. `grpc-port` by cln-grpc) takes it over:
//! the plugin provides the feature, so its option is the real one.

use super::{Config, OptKind, OptSpec, Registry};

/// `(name, kind, why it has no effect)`.
const ACCEPTED: &[(&str, OptKind, &str)] = &[
    (
        "cltv-delta",
        OptKind::Int,
        "forwarding CLTV deltas are LDK's (it refuses deltas below its minimum of 42 blocks)",
    ),
    (
        "cltv-final",
        OptKind::Int,
        "invoices use LDK's minimum final CLTV expiry delta",
    ),
    (
        "watchtime-blocks",
        OptKind::Int,
        "the to_self_delay asked of peers is LDK's (it refuses values below 144 blocks)",
    ),
    (
        "rescan",
        OptKind::Int,
        "the chain catches up from the last block the store recorded",
    ),
    (
        "disable-dns",
        OptKind::Flag,
        "boltd never resolves DNS seeds",
    ),
    (
        "ignore-fee-limits",
        OptKind::Bool,
        "peers' feerates are checked by LDK's own limits",
    ),
    (
        "autoconnect-seeker-peers",
        OptKind::Int,
        "boltd does not look for peers by itself",
    ),
    ("dev-fast-gossip", OptKind::Flag, "gossip timing is LDK's"),
    (
        "dev-fail-on-subdaemon-fail",
        OptKind::Flag,
        "boltd runs no subdaemons",
    ),
    (
        "dev-no-version-checks",
        OptKind::Flag,
        "boltd runs no subdaemons",
    ),
    (
        "dev-no-plugin-checksum",
        OptKind::Flag,
        "plugin files are not checksummed",
    ),
    (
        "dev-save-plugin-io",
        OptKind::Str,
        "plugin traffic is not saved to files",
    ),
    (
        "dev-disconnect",
        OptKind::Str,
        "scripted disconnects are not supported",
    ),
    (
        "dev-allow-localhost",
        OptKind::Flag,
        "boltd announces the addresses it is given",
    ),
    (
        "grpc-port",
        OptKind::Int,
        "boltd has no gRPC interface (a plugin registering this option takes it over)",
    ),
    (
        "experimental-dual-fund",
        OptKind::Flag,
        "LDK's channels are single-funded here",
    ),
    (
        "experimental-offers",
        OptKind::Flag,
        "BOLT 12 offers are not served yet",
    ),
    (
        "database-upgrade",
        OptKind::Bool,
        "boltd's store migrates by itself",
    ),
];

/// Registers every accepted-only option (names no builtin uses).
pub(super) fn register(r: &mut Registry) {
    for (name, kind, why) in ACCEPTED {
        let mut s = OptSpec::new(
            name,
            *kind,
            &format!("Accepted for Core Lightning compatibility; no effect: {why}"),
        );
        s.accepted_only = true;
        // Names are unique by construction.
        let _ = r.register(s);
    }
}

/// `--name[=value] accepted, no effect: why` for each accepted-only option given (files or
/// command line), in `ACCEPTED` order.
pub fn accepted_lines(c: &Config) -> Vec<String> {
    ACCEPTED
        .iter()
        .filter(|(name, ..)| {
            c.registry.get(name).is_some_and(|s| s.accepted_only) && c.is_set(name)
        })
        .map(|(name, _, why)| match c.get(name) {
            Some(v) => format!("Option --{name}={v} accepted, no effect: {why}"),
            None => format!("Option --{name} accepted, no effect: {why}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{builtin_registry, early_parse, full_parse};

    fn parse(args: &[&str]) -> Result<Config, String> {
        let reg = builtin_registry("/tmp/unused");
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let early = early_parse(&args, &reg).map_err(|e| e.to_string())?;
        full_parse(&reg, &early).map_err(|e| e.to_string())
    }

    #[test]
    fn pyln_testing_command_line_is_accepted_and_each_no_effect_option_is_named() {
        let c = parse(&[
            "--developer",
            "--log-level=trace",
            "--cltv-delta=6",
            "--cltv-final=5",
            "--watchtime-blocks=5",
            "--rescan=1",
            "--disable-dns",
            "--ignore-fee-limits=false",
            "--dev-fast-gossip",
            "--dev-fail-on-subdaemon-fail",
            "--dev-no-reconnect",
            "--autoconnect-seeker-peers=0",
            "--dev-save-plugin-io=/tmp/x/plugin-io",
            "--grpc-port=9736",
            "--network=regtest",
        ])
        .unwrap();
        let lines = accepted_lines(&c);
        // `--dev-no-reconnect` is a real option (peering::reconnect), not one of these.
        assert_eq!(lines.len(), 11, "{lines:#?}");
        assert!(c.get_bool("dev-no-reconnect"));
        assert_eq!(
            lines[0],
            "Option --cltv-delta=6 accepted, no effect: forwarding CLTV deltas are LDK's (it refuses deltas below its minimum of 42 blocks)"
        );
        assert!(lines
            .iter()
            .any(|l| l.starts_with("Option --disable-dns accepted, no effect: ")));
        assert!(!lines.iter().any(|l| l.contains("experimental-offers")));
    }

    #[test]
    fn accepted_options_still_check_their_type() {
        let e = parse(&["--cltv-delta=six"]).unwrap_err();
        assert!(e.contains("cltv-delta"), "{e}");
        assert!(e.contains("'six' is not a number"), "{e}");
    }
}
