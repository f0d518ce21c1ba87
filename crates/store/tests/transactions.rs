//! The transaction API: capture of expanded statements, data_version, the hook's veto.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rand::{Rng, SeedableRng};
use store::{DatastoreError, HookRefusal, Mode, NoHook, Store, StoreError, WriteHook};

/// Records every db_write call; refuses while `refuse` is set.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<(u32, Vec<String>)>>,
    refuse: Mutex<bool>,
}

impl WriteHook for Recorder {
    fn db_write(&self, data_version: u32, writes: &[String]) -> Result<(), HookRefusal> {
        if *self.refuse.lock().unwrap() {
            return Err(HookRefusal {
                plugin: "backup.py".into(),
                reason: "returned failed db_write".into(),
            });
        }
        self.calls
            .lock()
            .unwrap()
            .push((data_version, writes.to_vec()));
        Ok(())
    }
}

impl Recorder {
    fn versions(&self) -> Vec<u32> {
        self.calls.lock().unwrap().iter().map(|c| c.0).collect()
    }
    fn last_writes(&self) -> Vec<String> {
        self.calls.lock().unwrap().last().unwrap().1.clone()
    }
}

fn k(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn rows(path: &Path, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut st = c.prepare(sql).unwrap();
    let n = st.column_count();
    st.query_map([], |r| (0..n).map(|i| r.get(i)).collect())
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

#[test]
fn fresh_database_reports_its_migrations_as_data_version_1() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Arc::new(Recorder::default());
    let store = Store::open_sqlite(&dir.path().join("db.sqlite3"), rec.clone()).unwrap();
    assert_eq!(store.data_version(), 1);
    assert_eq!(rec.versions(), vec![1]);
    let w = rec.last_writes();
    assert!(w[0].starts_with("CREATE TABLE vars"), "{w:?}");
    assert_eq!(
        w.last().unwrap(),
        "UPDATE vars SET intval = 1 WHERE name = 'data_version' AND intval = 0"
    );
}

#[test]
fn database_is_wal_with_foreign_keys_and_reopens_without_migrating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/dir/db.sqlite3");
    let rec = Arc::new(Recorder::default());
    {
        let mut s = Store::open_sqlite(&path, rec.clone()).unwrap();
        s.datastore_put(&k(&["a"]), b"x", Mode::MustCreate, None)
            .unwrap();
    }
    let mode = rows(&path, "PRAGMA journal_mode");
    assert_eq!(mode[0][0], rusqlite::types::Value::Text("wal".into()));
    let s = Store::open_sqlite(&path, rec.clone()).unwrap();
    assert_eq!(s.data_version(), 2);
    assert_eq!(rec.versions(), vec![1, 2], "reopening must not write");
}

#[test]
fn statements_are_captured_with_values_expanded_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Arc::new(Recorder::default());
    let mut s = Store::open_sqlite(&dir.path().join("db.sqlite3"), rec.clone()).unwrap();
    s.datastore_put(&k(&["p", "q"]), &[0, 1, 0xfe, 0xff], Mode::MustCreate, None)
        .unwrap();
    assert_eq!(
        rec.last_writes(),
        vec![
            "INSERT INTO datastore (key, data, generation) VALUES (x'700071', x'0001feff', 0)"
                .to_string(),
            "UPDATE vars SET intval = 2 WHERE name = 'data_version' AND intval = 1".to_string(),
        ]
    );
    s.remember_peer_address("02ab", "127.0.0.1:9735 'quoted'")
        .unwrap();
    assert_eq!(
        rec.last_writes()[0],
        "INSERT INTO peer_addresses (node_id, address) VALUES ('02ab', '127.0.0.1:9735 ''quoted''') \
         ON CONFLICT (node_id) DO UPDATE SET address = excluded.address"
    );
}

#[test]
fn reads_and_refused_rules_do_not_bump_data_version() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Arc::new(Recorder::default());
    let mut s = Store::open_sqlite(&dir.path().join("db.sqlite3"), rec.clone()).unwrap();
    s.datastore_put(&k(&["a"]), b"1", Mode::MustCreate, None)
        .unwrap();
    s.datastore_list(None).unwrap();
    s.datastore_usage(None).unwrap();
    assert_eq!(
        s.datastore_put(&k(&["a"]), b"1", Mode::MustCreate, None),
        Err(DatastoreError::AlreadyExists)
    );
    s.remember_peer_address("02ab", "h:1").unwrap();
    s.remember_peer_address("02ab", "h:1").unwrap(); // unchanged: no write
    s.datastore_del(&k(&["a"]), None).unwrap();
    assert_eq!(rec.versions(), vec![1, 2, 3, 4]);
    assert_eq!(s.data_version(), 4);
}

#[test]
fn data_version_wraps_from_u32_max_to_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    drop(Store::open_sqlite(&path, Arc::new(NoHook)).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE vars SET intval = 4294967295 WHERE name = 'data_version'",
            [],
        )
        .unwrap();
    let rec = Arc::new(Recorder::default());
    let mut s = Store::open_sqlite(&path, rec.clone()).unwrap();
    assert_eq!(s.data_version(), u32::MAX);
    s.datastore_put(&k(&["a"]), b"1", Mode::MustCreate, None)
        .unwrap();
    s.datastore_put(&k(&["b"]), b"1", Mode::MustCreate, None)
        .unwrap();
    assert_eq!(rec.versions(), vec![0, 1]);
    assert_eq!(
        rec.last_writes().last().unwrap(),
        "UPDATE vars SET intval = 1 WHERE name = 'data_version' AND intval = 0"
    );
}

#[test]
fn refused_hook_commits_nothing_and_the_version_is_offered_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let rec = Arc::new(Recorder::default());
    let mut s = Store::open_sqlite(&path, rec.clone()).unwrap();
    s.datastore_put(&k(&["kept"]), b"1", Mode::MustCreate, None)
        .unwrap();
    *rec.refuse.lock().unwrap() = true;
    let err = s
        .datastore_put(&k(&["lost"]), b"2", Mode::MustCreate, None)
        .unwrap_err();
    match err {
        DatastoreError::Store(StoreError::HookRefused(r)) => assert_eq!(r.plugin, "backup.py"),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.data_version(), 2);
    drop(s);

    // Another process sees nothing of the refused write.
    let keys = rows(&path, "SELECT key FROM datastore ORDER BY key");
    assert_eq!(
        keys,
        vec![vec![rusqlite::types::Value::Blob(b"kept".to_vec())]]
    );
    let dv = rows(&path, "SELECT intval FROM vars WHERE name = 'data_version'");
    assert_eq!(dv[0][0], rusqlite::types::Value::Integer(2));

    // After a restart the same data_version is used again ("same = replace" for backups).
    *rec.refuse.lock().unwrap() = false;
    let mut s = Store::open_sqlite(&path, rec.clone()).unwrap();
    s.datastore_put(&k(&["other"]), b"3", Mode::MustCreate, None)
        .unwrap();
    assert_eq!(rec.versions(), vec![1, 2, 3]);
}

#[test]
fn a_second_writer_on_the_same_file_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let mut a = Store::open_sqlite(&path, Arc::new(NoHook)).unwrap();
    let mut b = Store::open_sqlite(&path, Arc::new(NoHook)).unwrap();
    a.datastore_put(&k(&["a"]), b"1", Mode::MustCreate, None)
        .unwrap();
    let err = b
        .datastore_put(&k(&["b"]), b"1", Mode::MustCreate, None)
        .unwrap_err();
    assert_eq!(
        err,
        DatastoreError::Store(StoreError::DataVersionMismatch { expected: 1 })
    );
    let keys = rows(&path, "SELECT key FROM datastore");
    assert_eq!(keys.len(), 1);
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    drop(Store::open_sqlite(&path, Arc::new(NoHook)).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE vars SET intval = 999 WHERE name = 'schema_version'",
            [],
        )
        .unwrap();
    assert!(matches!(
        Store::open_sqlite(&path, Arc::new(NoHook)),
        Err(StoreError::SchemaTooNew { found: 999, .. })
    ));
}

#[test]
fn text_with_nul_is_refused_rather_than_captured_wrongly() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Arc::new(Recorder::default());
    let mut s = Store::open_sqlite(&dir.path().join("db.sqlite3"), rec.clone()).unwrap();
    let err = s.remember_peer_address("02ab", "evil\0tail").unwrap_err();
    assert!(matches!(err, StoreError::Capture(_)), "{err:?}");
    assert_eq!(rec.versions(), vec![1]);
    assert_eq!(s.peer_address("02ab").unwrap(), None);
}

/// The point of db_write: replaying exactly what the hook saw, in order, into an empty
/// database reproduces the live one row for row.
#[test]
fn replaying_captured_statements_into_a_fresh_database_yields_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.sqlite3");
    let rec = Arc::new(Recorder::default());
    let mut s = Store::open_sqlite(&live, rec.clone()).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let modes = [
        Mode::MustCreate,
        Mode::MustReplace,
        Mode::CreateOrReplace,
        Mode::MustAppend,
        Mode::CreateOrAppend,
    ];
    for i in 0..1500 {
        let depth = rng.gen_range(1..=3);
        let key: Vec<String> = (0..depth)
            .map(|_| ["a", "b", "c", "it's", "ü"][rng.gen_range(0..5)].to_string())
            .collect();
        let len = rng.gen_range(0..40);
        let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        if rng.gen_range(0..5) == 0 {
            let _ = s.datastore_del(&key, None);
        } else {
            let _ = s.datastore_put(&key, &data, modes[rng.gen_range(0..5)], None);
        }
        if i % 97 == 0 {
            s.remember_peer_address(&format!("02{i:02x}"), &format!("10.0.0.{}:9735", i % 7))
                .unwrap();
        }
    }
    drop(s);

    let copy = dir.path().join("copy.sqlite3");
    let c = rusqlite::Connection::open(&copy).unwrap();
    let mut expected = 0u32;
    for (version, writes) in rec.calls.lock().unwrap().iter() {
        expected = expected.wrapping_add(1);
        assert_eq!(*version, expected);
        c.execute_batch("BEGIN").unwrap();
        for w in writes {
            c.execute_batch(w).unwrap();
        }
        c.execute_batch("COMMIT").unwrap();
    }
    drop(c);
    for q in [
        "SELECT key, data, generation FROM datastore ORDER BY key",
        "SELECT name, intval, blobval FROM vars ORDER BY name",
        "SELECT node_id, address FROM peer_addresses ORDER BY node_id",
    ] {
        let a = rows(&live, q);
        assert!(!a.is_empty());
        assert_eq!(a, rows(&copy, q), "{q}");
    }
}

#[test]
fn checkpoint_leaves_a_complete_main_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let mut s = Store::open_sqlite(&path, Arc::new(NoHook)).unwrap();
    s.datastore_put(&k(&["a"]), b"1", Mode::MustCreate, None)
        .unwrap();
    s.checkpoint().unwrap();
    // A copy of the main file alone (no -wal) holds the write.
    let copy = dir.path().join("copy.sqlite3");
    std::fs::copy(&path, &copy).unwrap();
    assert_eq!(
        rows(&copy, "SELECT count(*) FROM datastore"),
        vec![vec![rusqlite::types::Value::Integer(1)]]
    );
    assert_eq!(
        std::fs::metadata(dir.path().join("db.sqlite3-wal"))
            .unwrap()
            .len(),
        0
    );
}

/// A hook that only counts (the daemon's when no `db_write` plugin is registered).
#[derive(Default)]
struct Deaf {
    calls: Mutex<Vec<(u32, usize)>>,
}

impl WriteHook for Deaf {
    fn db_write(&self, data_version: u32, writes: &[String]) -> Result<(), HookRefusal> {
        self.calls
            .lock()
            .unwrap()
            .push((data_version, writes.len()));
        Ok(())
    }
    fn wants_statements(&self) -> bool {
        false
    }
}

#[test]
fn a_hook_that_wants_no_statements_gets_none_and_the_write_still_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let deaf = Arc::new(Deaf::default());
    let mut s = Store::open_sqlite(&path, deaf.clone()).unwrap();
    s.datastore_put(&k(&["a"]), b"\x00\x01", Mode::MustCreate, None)
        .unwrap();
    assert_eq!(deaf.calls.lock().unwrap().last(), Some(&(2, 0)));
    drop(s);
    // The same file, now with a listening hook: capture is back, the value is intact.
    let rec = Arc::new(Recorder::default());
    let mut s = Store::open_sqlite(&path, rec.clone()).unwrap();
    assert_eq!(s.data_version(), 2);
    s.datastore_put(&k(&["b"]), b"\x02", Mode::MustCreate, None)
        .unwrap();
    assert!(rec.last_writes().iter().any(|w| w.contains("x'02'")));
    assert_eq!(
        rows(&path, "SELECT data FROM datastore ORDER BY key").len(),
        2
    );
}
