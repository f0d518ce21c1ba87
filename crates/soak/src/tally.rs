//! Counting what the soak did (operations of each kind, ok/error) and what it found
//! (failures fail the run; notes are printed but do not).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Inner {
    ops: BTreeMap<String, (u64, u64)>,
    failures: Vec<String>,
    notes: BTreeMap<String, u64>,
}

/// Shared by every task; cheap to clone.
#[derive(Clone, Default)]
pub struct Tally(Arc<Mutex<Inner>>);

impl Tally {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        // A poisoned lock only means another task panicked; keep counting.
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// One operation of `kind`; `ok` false means the daemon answered with an error or
    /// refused, which is often the expected outcome (malformed input).
    pub fn op(&self, kind: &str, ok: bool) {
        self.with(|i| {
            let e = i.ops.entry(kind.to_string()).or_default();
            if ok {
                e.0 += 1
            } else {
                e.1 += 1
            }
        })
    }

    /// Something that must not happen: the run exits non-zero.
    pub fn fail(&self, what: impl Into<String>) {
        let what = what.into();
        eprintln!("soak: FAILURE: {what}");
        self.with(|i| i.failures.push(what))
    }

    /// Something worth reporting that is not a failure (counted by text).
    pub fn note(&self, what: impl Into<String>) {
        self.with(|i| *i.notes.entry(what.into()).or_default() += 1)
    }

    pub fn failures(&self) -> Vec<String> {
        self.with(|i| i.failures.clone())
    }

    pub fn total_ops(&self) -> u64 {
        self.with(|i| i.ops.values().map(|(a, b)| a + b).sum())
    }

    /// The operations table and the findings, as printed at the end.
    pub fn render(&self) -> String {
        self.with(|i| {
            let mut s = String::new();
            s.push_str(&format!("{:<52} {:>9} {:>9}\n", "operation", "ok", "error"));
            s.push_str(&format!("{}\n", "-".repeat(72)));
            for (k, (ok, err)) in &i.ops {
                s.push_str(&format!("{k:<52} {ok:>9} {err:>9}\n"));
            }
            s.push_str("\nnotes:\n");
            if i.notes.is_empty() {
                s.push_str("  (none)\n");
            }
            for (k, n) in &i.notes {
                s.push_str(&format!("  {n:>6} x {k}\n"));
            }
            s.push_str("\nfailures:\n");
            if i.failures.is_empty() {
                s.push_str("  (none)\n");
            }
            for f in &i.failures {
                s.push_str(&format!("  FAIL {f}\n"));
            }
            s
        })
    }
}
