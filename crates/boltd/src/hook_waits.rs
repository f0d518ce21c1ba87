//! HTLCs held by an `htlc_accepted` hook, by payment hash, so `listpeerchannels` can
//! show them as Core Lightning does (`htlcs[].status`: `Waiting for the htlc_accepted
//! hook of plugin <name>`, reference §3.4). Whoever calls the hook holds a [`Waiting`]
//! for as long as the call runs; it owns nothing else.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{LazyLock, Mutex};

/// Per payment hash: the plugin named and how many calls hold it.
type Held = HashMap<[u8; 32], (String, usize)>;
static WAITING: LazyLock<Mutex<Held>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// An HTLC of `payment_hash` waiting on the hook until this is dropped (nothing when no
/// plugin hooks it).
pub struct Waiting(Option<[u8; 32]>);

/// `plugins`: the hook's chain, in call order (paths); Core Lightning names the plugin
/// by its file name.
pub fn begin(payment_hash: [u8; 32], plugins: &[String]) -> Waiting {
    let Some(first) = plugins.first() else {
        return Waiting(None);
    };
    let name = Path::new(first)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| first.clone());
    let mut w = WAITING.lock().unwrap_or_else(|p| p.into_inner());
    w.entry(payment_hash).or_insert((name, 0)).1 += 1;
    Waiting(Some(payment_hash))
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let Some(hash) = self.0 else { return };
        let mut w = WAITING.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = w.get_mut(&hash) {
            e.1 -= 1;
            if e.1 == 0 {
                w.remove(&hash);
            }
        }
    }
}

/// The `status` of an incoming HTLC of `payment_hash`, while a hook holds it.
pub fn status(payment_hash: &[u8; 32]) -> Option<String> {
    let w = WAITING.lock().unwrap_or_else(|p| p.into_inner());
    w.get(payment_hash)
        .map(|(name, _)| format!("Waiting for the htlc_accepted hook of plugin {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lasts_while_any_call_waits() {
        let h = [9u8; 32];
        let plugins = vec!["/x/y/hook.py".to_string()];
        let a = begin(h, &plugins);
        let b = begin(h, &plugins);
        assert_eq!(
            status(&h).as_deref(),
            Some("Waiting for the htlc_accepted hook of plugin hook.py")
        );
        drop(a);
        assert!(status(&h).is_some());
        drop(b);
        assert_eq!(status(&h), None);
        drop(begin(h, &[]));
        assert_eq!(status(&h), None);
    }
}
