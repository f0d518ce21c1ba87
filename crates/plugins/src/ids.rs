//! Request ids we put on messages to plugins (§1.4): `cln:<method>#N`, or
//! `<cause>/cln:<method>#N` when a client command caused the request. `N` is one counter
//! for the whole process, shared by every plugin and every host.

use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Builds the next id. `cause` is the causing command's id with string quotes removed;
/// one that would need JSON escaping becomes `weird-id`, so ids are always plain strings.
pub fn next_id(cause: Option<&str>, method: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    match cause {
        None => format!("cln:{method}#{n}"),
        Some(c) if needs_escape(c) => format!("weird-id/cln:{method}#{n}"),
        Some(c) => format!("{c}/cln:{method}#{n}"),
    }
}

fn needs_escape(s: &str) -> bool {
    s.chars()
        .any(|c| c == '"' || c == '\\' || (c as u32) < 0x20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_cause_and_counter() {
        let a = next_id(None, "getmanifest");
        assert!(a.starts_with("cln:getmanifest#"));
        let b = next_id(Some("cli:hello#123"), "hello");
        assert!(b.starts_with("cli:hello#123/cln:hello#"));
        let n = |s: &str| s.rsplit('#').next().unwrap().parse::<u64>().unwrap();
        assert!(n(&b) > n(&a));
        assert!(next_id(Some("a\"b"), "x").starts_with("weird-id/cln:x#"));
        assert!(next_id(Some("5"), "x").starts_with("5/cln:x#"));
    }
}
