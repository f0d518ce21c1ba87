//! bolt-cli's argument-to-`params` conversion (`bolt_cli::build_params`).
//!
//! Input: byte 0 picks the mode (0 auto, 1 `-o`, 2 `-k`, anything else auto), the rest is
//! the argument list separated by NUL bytes (argv cannot hold NUL either).
//!
//! Properties: nothing panics; an error is one of the two usage errors; in ordered mode, when
//! no argument is a JSON literal, params is an array of exactly the arguments as strings
//! (escaping round-trips any text); in keyword mode with non-literal values, every key maps
//! to its value's text (the last one wins on repeats, as in the JSON object); a literal
//! argument that is valid JSON on its own is passed as that value.
#![no_main]

use bolt_cli::params::is_literal;
use bolt_cli::{build_params, InputMode, UsageError};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// serde_json's private key for a raw value inside a `Value` object.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

fuzz_target!(|data: &[u8]| {
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mode = match m {
        1 => InputMode::Ordered,
        2 => InputMode::Keywords,
        _ => InputMode::Auto,
    };
    let args: Vec<&str> = if text.is_empty() {
        Vec::new()
    } else {
        text.split('\0').collect()
    };
    let keywords = match mode {
        InputMode::Keywords => true,
        InputMode::Ordered => false,
        InputMode::Auto => args.first().is_some_and(|a| a.contains('=')),
    };
    let params = match build_params(&args, mode) {
        Ok(p) => p,
        Err(UsageError::ExpectedKeyValue(a)) => {
            assert!(keywords && !a.contains('=') && args.contains(&a.as_str()));
            return;
        }
        Err(UsageError::Malformed(t)) => {
            // Only a pasted literal can break the text.
            assert!(serde_json::from_str::<Value>(&t).is_err());
            let values: Vec<&str> = if keywords {
                args.iter()
                    .filter_map(|a| a.split_once('=').map(|(_, v)| v))
                    .collect()
            } else {
                args.clone()
            };
            // Or a key that is serde_json's private raw-value token: with its
            // `raw_value` feature on (as in this workspace), serde_json cannot read an
            // object holding that key into a `Value`, so the CLI refuses it as malformed.
            let raw_value_key = keywords
                && args
                    .iter()
                    .any(|a| a.split_once('=').is_some_and(|(k, _)| k == RAW_VALUE_TOKEN));
            assert!(
                raw_value_key || values.iter().any(|v| is_literal(v)),
                "non-literal args made {t}"
            );
            return;
        }
    };
    if keywords {
        let obj = params.as_object().expect("keyword params are an object");
        let pairs: Vec<(&str, &str)> = args.iter().filter_map(|a| a.split_once('=')).collect();
        assert_eq!(pairs.len(), args.len());
        if pairs.iter().all(|(_, v)| !is_literal(v)) {
            for (k, _) in &pairs {
                let last = pairs.iter().rev().find(|(k2, _)| k2 == k).map(|(_, v)| *v);
                assert_eq!(obj.get(*k).and_then(Value::as_str), last, "key {k:?}");
            }
            assert!(obj.len() <= pairs.len());
        }
    } else {
        let arr = params.as_array().expect("ordered params are an array");
        if args.iter().all(|a| !is_literal(a)) {
            let got: Vec<&str> = arr.iter().map(|v| v.as_str().expect("string")).collect();
            assert_eq!(got, args);
        } else if args.len() == 1 {
            if let Ok(v) = serde_json::from_str::<Value>(args[0]) {
                assert_eq!(arr.as_slice(), &[v]);
            }
        }
    }
});
