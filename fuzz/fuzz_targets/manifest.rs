//! A plugin's `getmanifest` reply through `plugins::manifest::parse`.
//!
//! Input: the whole reply text as a plugin would send it. Properties: nothing panics; an
//! accepted manifest is internally consistent (option names valid and typed, defaults that
//! re-parse, known hooks only and each once, custommessages fit u16, a dynamic plugin has
//! no feature bits), and its feature sets behave (overlap with themselves iff non-empty,
//! union with themselves is a no-op).
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugins::hooks::is_known_hook;
use plugins::manifest::{parse, ManifestReply};
use plugins::options::{parse_value, OptType};
use serde_json::Value;

const PLUGIN: &str = "/fuzz/plugins/p";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(reply) = serde_json::from_str::<Value>(text) else {
        // Not JSON: the host never gets this far, but the result-less path must not panic.
        let _ = parse(None, text, PLUGIN);
        return;
    };
    // Either the whole reply (`{"jsonrpc":..,"result":{..}}`) or a bare result object.
    let result = reply.get("result").unwrap_or(&reply);
    let m = match parse(Some(result), text, PLUGIN) {
        Err(e) => {
            assert!(!e.is_empty());
            return;
        }
        Ok(ManifestReply::Disabled(_)) => {
            assert!(result.get("disable").is_some());
            return;
        }
        Ok(ManifestReply::Register(m)) => m,
    };
    for o in &m.options {
        assert!(!o.name.is_empty());
        assert!(o
            .name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-'));
        assert_eq!(o.plugin, PLUGIN);
        assert!(!(o.multi && matches!(o.typ, OptType::Flag | OptType::Bool)));
        if let Some(d) = &o.default {
            assert!(o.typ != OptType::Flag, "flag with a default text {d:?}");
            parse_value(o.typ, Some(d)).expect("an accepted default parses again");
        }
    }
    let mut seen = Vec::new();
    for h in &m.hooks {
        assert!(is_known_hook(&h.name), "unknown hook {} accepted", h.name);
        assert!(!seen.contains(&&h.name), "hook {} twice", h.name);
        seen.push(&h.name);
    }
    if m.dynamic {
        assert!(m.featurebits.is_empty());
    }
    let fb = &m.featurebits;
    assert_eq!(fb.overlaps(fb), !fb.is_empty());
    let mut u = fb.clone();
    u.union_with(fb);
    for (place, bits) in &fb.bits {
        assert_eq!(u.get(place), bits.as_slice());
    }
    let _ = (fb.to_json_all(), fb.to_json_getinfo());
});
