//! Request ids we put on messages to plugins (§1.4): `cln:<method>#N`, or
//! `<cause>/cln:<method>#N` when a client command caused the request. `N` is one counter
//! for the whole process, shared by every plugin and every host.

use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Builds the next id. `cause` is the causing command's id with string quotes removed;
/// one that would need JSON escaping becomes `weird-id`, so ids are always plain strings.
pub fn next_id(cause: Option<&str>, method: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let cause = match cause {
        Some(c) if needs_escape(c) => Some("weird-id"),
        c => c,
    };
    // Built by hand, not with `format!`: one of these is made per passthrough call, and
    // the formatter cost more than the rest of the id's work.
    let mut id = String::with_capacity(cause.map_or(0, str::len) + method.len() + 26);
    if let Some(c) = cause {
        id.push_str(c);
        id.push('/');
    }
    id.push_str("cln:");
    id.push_str(method);
    id.push('#');
    push_decimal(&mut id, n);
    id
}

/// std's integer formatting, without `format!`'s allocation and argument list.
fn push_decimal(s: &mut String, n: u64) {
    use std::fmt::Write;
    // Writing into a String cannot fail.
    let _ = write!(s, "{n}");
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

    #[test]
    fn counters_are_written_in_decimal() {
        for n in [0, 7, 10, 1234567890, u64::MAX] {
            let mut s = String::new();
            push_decimal(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }
}
