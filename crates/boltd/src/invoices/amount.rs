//! Amounts as lightningd reads an msat parameter (common/amount.c): a JSON integer is
//! msat; a string is `"<n>"` or `"<n>msat"` (msat), `"<n>sat"`, or `"<x>btc"` (up to 11
//! decimals, i.e. whole msat).

use serde_json::Value;

/// Millisatoshis per bitcoin.
const MSAT_PER_BTC: u64 = 100_000_000_000;

/// The amount in msat, or `None` if `v` is not one (or overflows).
pub fn parse_msat(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let s = v.as_str()?;
    let digits = |d: &str| -> Option<u64> {
        if d.is_empty() || !d.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        d.parse().ok()
    };
    if let Some(m) = s.strip_suffix("msat") {
        return digits(m);
    }
    if let Some(sat) = s.strip_suffix("sat") {
        return digits(sat)?.checked_mul(1000);
    }
    if let Some(btc) = s.strip_suffix("btc") {
        let (whole, frac) = btc.split_once('.').unwrap_or((btc, ""));
        if frac.len() > 11 || (whole.is_empty() && frac.is_empty()) {
            return None;
        }
        let whole = if whole.is_empty() { 0 } else { digits(whole)? };
        let frac = if frac.is_empty() {
            0
        } else {
            digits(frac)? * 10u64.pow(11 - frac.len() as u32)
        };
        return whole.checked_mul(MSAT_PER_BTC)?.checked_add(frac);
    }
    digits(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lightningd_amount_forms() {
        let ok = [
            (json!(123), 123),
            (json!("123"), 123),
            (json!("123msat"), 123),
            (json!("5sat"), 5000),
            (json!("0.001btc"), 100_000_000),
            (json!("1btc"), MSAT_PER_BTC),
            (json!("0.00000000001btc"), 1),
        ];
        for (v, want) in ok {
            assert_eq!(parse_msat(&v), Some(want), "{v}");
        }
        for v in [
            json!(-1),
            json!(1.5),
            json!(""),
            json!("msat"),
            json!("1.5sat"),
            json!("0.000000000001btc"),
            json!("12x"),
            json!("-5sat"),
            json!("99999999999999999999"),
            json!("184467440737095516sat"),
            json!(null),
        ] {
            assert_eq!(parse_msat(&v), None, "{v}");
        }
    }
}
