//! The end-of-run checks: every acknowledged datastore write is there, the backup
//! plugin's copy equals the live database, and the daemon did not leak fds or memory.

use crate::node::{call, Node, ProcStats};
use crate::tally::Tally;
use crate::writes::{key, Record};
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OpenFlags};
use serde_json::json;
use std::path::Path;

/// fd growth we accept: a listener or log file reopened, nothing per operation.
pub const FD_TOLERANCE: usize = 8;
/// RSS growth we accept over the first sample taken under load (15 s into the faults).
/// The idle start is no baseline: with the faults running (3 MB requests, 1 MB peer
/// garbage, plugin churn) glibc's per-thread arenas and its raised mmap threshold keep
/// freed memory, and a release build jumps from ~9 MB to ~100 MB in those first seconds,
/// then stays within a few MB of that (measured in 5-minute runs). A leak grows after it.
pub const RSS_TOLERANCE_KB: u64 = 64 * 1024;
/// Growth of the end over the peak of the run's first half: a leak keeps climbing after
/// the plateau, allocator noise does not.
pub const RSS_TREND_TOLERANCE_KB: u64 = 16 * 1024;

/// Each acknowledged write read back through `listdatastore` (uncertain keys skipped).
pub async fn acknowledged_writes(node: &Node, rec: &Record, tally: &Tally) -> usize {
    let mut checked = 0;
    let mut c = match node.client("verify").await {
        Ok(c) => c,
        Err(e) => {
            tally.fail(format!(
                "{}: cannot connect to verify writes: {e}",
                node.name
            ));
            return 0;
        }
    };
    for (n, want) in &rec.acked {
        if rec.uncertain.contains(n) {
            continue;
        }
        let k = key(&node.name, *n);
        let got = match call(&mut c, "listdatastore", json!({"key": k})).await {
            Ok(Ok(v)) => v,
            other => {
                tally.fail(format!("{}: listdatastore {k}: {other:?}", node.name));
                continue;
            }
        };
        let found = got["datastore"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["key"] == k))
            .map(|e| e["string"].as_str().unwrap_or_default().to_string());
        checked += 1;
        if found != *want {
            tally.fail(format!(
                "{}: acknowledged write lost: key {k} should be {want:?}, is {found:?}",
                node.name
            ));
        }
    }
    tally.op(
        &format!("{}: acknowledged writes verified", node.name),
        true,
    );
    checked
}

const TABLES: &[&str] = &[
    "SELECT key, data, generation FROM datastore ORDER BY key",
    "SELECT name, intval, blobval FROM vars ORDER BY name",
    "SELECT node_id, address FROM peer_addresses ORDER BY node_id",
    "SELECT primary_namespace, secondary_namespace, key, value FROM kv \
     ORDER BY primary_namespace, secondary_namespace, key",
];

fn rows(path: &Path, sql: &str) -> rusqlite::Result<Vec<Vec<Sql>>> {
    let db = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut st = db.prepare(sql)?;
    let n = st.column_count();
    let out = st
        .query_map([], |r| (0..n).map(|i| r.get::<_, Sql>(i)).collect())?
        .collect::<rusqlite::Result<Vec<Vec<Sql>>>>()?;
    Ok(out)
}

/// The backup plugin's copy (`backup.sqlite3`) against the live `lightningd.sqlite3`,
/// table by table. Returns the number of datastore rows compared.
pub fn backup_equals_live(node: &Node, when: &str, tally: &Tally) -> usize {
    let live = node.net_dir().join("lightningd.sqlite3");
    let copy = node.net_dir().join("backup.sqlite3");
    let mut datastore_rows = 0;
    for sql in TABLES {
        match (rows(&live, sql), rows(&copy, sql)) {
            (Ok(l), Ok(c)) => {
                if sql.contains("datastore") {
                    datastore_rows = l.len();
                }
                if l != c {
                    tally.fail(format!(
                        "{} ({when}): backup copy differs from live for `{sql}`: {} live rows, {} copy rows",
                        node.name,
                        l.len(),
                        c.len()
                    ));
                }
            }
            (l, c) => tally.fail(format!(
                "{} ({when}): cannot read databases: live {:?} copy {:?}",
                node.name,
                l.err(),
                c.err()
            )),
        }
    }
    tally.op(&format!("{}: backup compared ({when})", node.name), true);
    datastore_rows
}

/// Leak check between two `/proc` snapshots taken with the same plugin set running;
/// `warm_rss_kb` is the first sample under load (0: none, use the start's).
pub fn no_leak(
    name: &str,
    start: &ProcStats,
    end: &ProcStats,
    warm_rss_kb: u64,
    first_half_peak_kb: u64,
    tally: &Tally,
) {
    let base_rss = if warm_rss_kb > 0 {
        warm_rss_kb
    } else {
        start.rss_kb
    };
    if first_half_peak_kb > 0 && end.rss_kb > first_half_peak_kb + RSS_TREND_TOLERANCE_KB {
        tally.fail(format!(
            "{name}: RSS still climbing: {} kB at the end, first-half peak {first_half_peak_kb} kB (tolerance {RSS_TREND_TOLERANCE_KB} kB)",
            end.rss_kb
        ));
    }
    if end.fds > start.fds + FD_TOLERANCE {
        tally.fail(format!(
            "{name}: fd count grew from {} to {} (tolerance {FD_TOLERANCE})",
            start.fds, end.fds
        ));
    }
    if end.rss_kb > base_rss + RSS_TOLERANCE_KB {
        tally.fail(format!(
            "{name}: RSS grew from {base_rss} kB (under load) to {} kB (tolerance {RSS_TOLERANCE_KB} kB)",
            end.rss_kb
        ));
    }
    if end.zombies > 0 {
        tally.fail(format!(
            "{name}: {} zombie child processes not reaped",
            end.zombies
        ));
    }
    if end.children > start.children {
        tally.fail(format!(
            "{name}: {} child processes at the end, {} at the start (plugin processes left behind)",
            end.children, start.children
        ));
    }
}

/// A panic anywhere in the daemon (even one a task survived) is a failure: outside bytes
/// must never reach an unwrap.
pub fn no_panic_logged(name: &str, dir: &Path, tally: &Tally) {
    for f in ["stderr", "stdout", "log"] {
        let text = std::fs::read(dir.join(f)).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        if let Some(line) = text.lines().find(|l| l.contains("panicked")) {
            tally.fail(format!("{name}: panic in {f}: {line}"));
        }
    }
}
