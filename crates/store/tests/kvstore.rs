//! LDK's `KVStoreSync` and `KVStore` on the `kv` table. lightning-persister's shared
//! persistence tests are crate-private, so their cases are written out here, plus what a
//! database adds: every write reaches `db_write`, values survive a reopen, multi-MB
//! blobs, and the async write-ordering rule.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use lightning::io::ErrorKind;
use lightning::util::persist::{
    KVStore, KVStoreSync, MigratableKVStoreSync, KVSTORE_NAMESPACE_KEY_MAX_LEN,
};
use store::{HookRefusal, KvStore, Store, StoreHandle, WriteHook};

#[derive(Default)]
struct Recorder {
    writes: Mutex<Vec<(u32, Vec<String>)>>,
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
        self.writes
            .lock()
            .unwrap()
            .push((data_version, writes.to_vec()));
        Ok(())
    }
}

fn open(path: &std::path::Path, hook: Arc<Recorder>) -> KvStore {
    let path = path.to_path_buf();
    KvStore::new(StoreHandle::open_blocking(move || Store::open_sqlite(&path, hook)).unwrap())
}

fn fresh() -> (tempfile::TempDir, Arc<Recorder>, KvStore) {
    let dir = tempfile::tempdir().unwrap();
    let hook = Arc::new(Recorder::default());
    let kv = open(&dir.path().join("lightningd.sqlite3"), hook.clone());
    (dir, hook, kv)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn read_write_remove_list_as_ldk_persisters_do() {
    let (_dir, _hook, kv) = fresh();
    let data = vec![42u8; 32];
    let (p, s, k) = ("testspace", "testsubspace", "testkey");

    KVStoreSync::write(&kv, p, s, k, data.clone()).unwrap();
    // Empty namespaces are allowed, an empty key is not.
    KVStoreSync::write(&kv, "", "", k, data.clone()).unwrap();
    assert!(KVStoreSync::write(&kv, p, s, "", data.clone()).is_err());
    // A secondary namespace needs a primary one.
    assert!(KVStoreSync::write(&kv, "", s, k, data.clone()).is_err());
    assert!(KVStoreSync::list(&kv, "", s).is_err());

    assert_eq!(KVStoreSync::list(&kv, p, s).unwrap(), vec![k.to_string()]);
    assert_eq!(KVStoreSync::list(&kv, "", "").unwrap(), vec![k.to_string()]);
    assert_eq!(KVStoreSync::read(&kv, p, s, k).unwrap(), data);

    KVStoreSync::remove(&kv, p, s, k, false).unwrap();
    assert!(KVStoreSync::list(&kv, p, s).unwrap().is_empty());
    assert_eq!(
        KVStoreSync::read(&kv, p, s, k).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // Removing what is not there succeeds; listing an unknown namespace is empty.
    KVStoreSync::remove(&kv, p, s, k, true).unwrap();
    assert!(KVStoreSync::list(&kv, "nothing", "here")
        .unwrap()
        .is_empty());

    // Names of exactly the maximum length work; one more character does not.
    let max = "A".repeat(KVSTORE_NAMESPACE_KEY_MAX_LEN);
    KVStoreSync::write(&kv, &max, &max, &max, data.clone()).unwrap();
    assert_eq!(
        KVStoreSync::list(&kv, &max, &max).unwrap(),
        vec![max.clone()]
    );
    assert_eq!(KVStoreSync::read(&kv, &max, &max, &max).unwrap(), data);
    KVStoreSync::remove(&kv, &max, &max, &max, false).unwrap();
    assert!(KVStoreSync::list(&kv, &max, &max).unwrap().is_empty());
    let long = "A".repeat(KVSTORE_NAMESPACE_KEY_MAX_LEN + 1);
    assert!(KVStoreSync::write(&kv, &long, "", k, data.clone()).is_err());
    assert!(KVStoreSync::write(&kv, p, &long, k, data.clone()).is_err());
    assert!(KVStoreSync::write(&kv, p, s, &long, data.clone()).is_err());
    assert!(KVStoreSync::read(&kv, p, s, &long).is_err());
}

#[test]
fn names_outside_ldks_alphabet_are_refused_before_anything_is_written() {
    let (_dir, hook, kv) = fresh();
    let before = hook.writes.lock().unwrap().len();
    for bad in ["a/b", "a b", "ü", "a.b", "a\0b", "'; DROP TABLE kv; --"] {
        assert_eq!(
            KVStoreSync::write(&kv, bad, "", "k", vec![1])
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidInput,
            "{bad:?}"
        );
        assert!(KVStoreSync::write(&kv, "p", bad, "k", vec![1]).is_err());
        assert!(KVStoreSync::write(&kv, "p", "", bad, vec![1]).is_err());
        assert!(KVStoreSync::remove(&kv, "p", "", bad, false).is_err());
        assert!(KVStoreSync::list(&kv, bad, "").is_err());
    }
    assert_eq!(hook.writes.lock().unwrap().len(), before);
    assert!(MigratableKVStoreSync::list_all_keys(&kv)
        .unwrap()
        .is_empty());
}

#[test]
fn keys_and_namespaces_of_the_same_name_do_not_collide() {
    let (_dir, _hook, kv) = fresh();
    KVStoreSync::write(&kv, "", "", "monitors", vec![1]).unwrap();
    KVStoreSync::write(&kv, "monitors", "", "monitors", vec![2]).unwrap();
    KVStoreSync::write(&kv, "monitors", "monitors", "monitors", vec![3]).unwrap();
    KVStoreSync::write(&kv, "monitors", "", "a", vec![4]).unwrap();
    assert_eq!(KVStoreSync::read(&kv, "", "", "monitors").unwrap(), vec![1]);
    assert_eq!(
        KVStoreSync::read(&kv, "monitors", "", "monitors").unwrap(),
        vec![2]
    );
    assert_eq!(
        KVStoreSync::read(&kv, "monitors", "monitors", "monitors").unwrap(),
        vec![3]
    );
    assert_eq!(
        sorted(KVStoreSync::list(&kv, "monitors", "").unwrap()),
        vec!["a", "monitors"]
    );
    assert_eq!(
        sorted(
            MigratableKVStoreSync::list_all_keys(&kv)
                .unwrap()
                .into_iter()
                .map(|(p, s, k)| format!("{p}/{s}/{k}"))
                .collect()
        ),
        vec![
            "//monitors",
            "monitors//a",
            "monitors//monitors",
            "monitors/monitors/monitors"
        ]
    );
}

#[test]
fn every_kv_write_goes_through_db_write_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lightningd.sqlite3");
    let hook = Arc::new(Recorder::default());
    let kv = open(&path, hook.clone());
    let after_open = hook.writes.lock().unwrap().len();
    KVStoreSync::write(&kv, "monitors", "", "chan1", vec![0xab, 0xcd]).unwrap();
    {
        let w = hook.writes.lock().unwrap();
        let (_, last) = w.last().unwrap();
        assert_eq!(w.len(), after_open + 1);
        assert!(
            last[0].starts_with("INSERT INTO kv") && last[0].contains("x'abcd'"),
            "{last:?}"
        );
        assert!(last[1].starts_with("UPDATE vars SET intval"), "{last:?}");
    }
    // A remove of a missing key writes nothing; of a present one, one DELETE.
    KVStoreSync::remove(&kv, "monitors", "", "nothing", false).unwrap();
    assert_eq!(hook.writes.lock().unwrap().len(), after_open + 1);
    KVStoreSync::write(&kv, "monitors", "", "chan2", vec![1]).unwrap();
    KVStoreSync::remove(&kv, "monitors", "", "chan2", false).unwrap();
    assert!(hook.writes.lock().unwrap().last().unwrap().1[0].starts_with("DELETE FROM kv"));

    // A refused write is not stored, and the store stops.
    *hook.refuse.lock().unwrap() = true;
    let e = KVStoreSync::write(&kv, "monitors", "", "chan3", vec![3]).unwrap_err();
    assert!(e.to_string().contains("returned failed db_write"), "{e}");
    let e = KVStoreSync::write(&kv, "monitors", "", "chan4", vec![4]).unwrap_err();
    assert!(e.to_string().contains("store stopped"), "{e}");
    drop(kv);

    *hook.refuse.lock().unwrap() = false;
    let kv = open(&path, hook);
    assert_eq!(
        KVStoreSync::list(&kv, "monitors", "").unwrap(),
        vec!["chan1".to_string()]
    );
    assert_eq!(
        KVStoreSync::read(&kv, "monitors", "", "chan1").unwrap(),
        vec![0xab, 0xcd]
    );
}

#[test]
fn a_channel_manager_sized_blob_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lightningd.sqlite3");
    let hook = Arc::new(Recorder::default());
    let kv = open(&path, hook.clone());
    // 8 MB of varied bytes (a ChannelManager with many channels runs to megabytes).
    let blob: Vec<u8> = (0..8 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    KVStoreSync::write(&kv, "", "", "manager", blob.clone()).unwrap();
    // The backup plugin gets all of it, as a hex literal it can replay.
    let statement_len = hook.writes.lock().unwrap().last().unwrap().1[0].len();
    assert!(statement_len > 2 * blob.len(), "{statement_len}");
    drop(kv);
    let kv = open(&path, hook);
    assert!(KVStoreSync::read(&kv, "", "", "manager").unwrap() == blob);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let again = rt.block_on(KVStore::read(&kv, "", "", "manager")).unwrap();
    assert!(again == blob);
}

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// Polls `f` until it is ready, with no runtime (the store thread does the work).
fn finish<F: Future>(f: F) -> F::Output {
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
fn async_writes_to_one_key_land_in_call_order_however_they_are_polled() {
    let (_dir, _hook, kv) = fresh();
    // Called first, second, third; completed third, first, second.
    let first = KVStore::write(&kv, "ns", "", "k", vec![1]);
    let second = KVStore::write(&kv, "ns", "", "k", vec![2]);
    let third = KVStore::write(&kv, "ns", "", "k", vec![3]);
    finish(third).unwrap();
    assert_eq!(finish(KVStore::read(&kv, "ns", "", "k")).unwrap(), vec![3]);
    finish(first).unwrap();
    assert_eq!(finish(KVStore::read(&kv, "ns", "", "k")).unwrap(), vec![3]);
    finish(second).unwrap();
    assert_eq!(finish(KVStore::read(&kv, "ns", "", "k")).unwrap(), vec![3]);

    // A remove called after a write wins even if the write completes later ...
    let write = KVStore::write(&kv, "ns", "", "k", vec![4]);
    let remove = KVStore::remove(&kv, "ns", "", "k", false);
    finish(remove).unwrap();
    finish(write).unwrap();
    assert_eq!(
        finish(KVStore::read(&kv, "ns", "", "k"))
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    // ... and a write called after a remove wins over it.
    let remove = KVStore::remove(&kv, "ns", "", "k", false);
    let write = KVStore::write(&kv, "ns", "", "k", vec![5]);
    finish(write).unwrap();
    finish(remove).unwrap();
    assert_eq!(finish(KVStore::read(&kv, "ns", "", "k")).unwrap(), vec![5]);

    // A future dropped unpolled writes nothing and does not block later writes.
    drop(KVStore::write(&kv, "ns", "", "k", vec![6]));
    finish(KVStore::write(&kv, "ns", "", "k", vec![7])).unwrap();
    assert_eq!(finish(KVStore::read(&kv, "ns", "", "k")).unwrap(), vec![7]);
    // Other keys are not ordered against each other.
    let a = KVStore::write(&kv, "ns", "", "a", vec![8]);
    let b = KVStore::write(&kv, "ns", "", "b", vec![9]);
    finish(b).unwrap();
    finish(a).unwrap();
    assert_eq!(finish(KVStore::read(&kv, "ns", "", "a")).unwrap(), vec![8]);
    assert_eq!(
        sorted(finish(KVStore::list(&kv, "ns", "")).unwrap()),
        vec!["a", "b", "k"]
    );
}

#[test]
fn concurrent_async_writes_end_with_the_last_call() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_dir, _hook, kv) = fresh();
    rt.block_on(async {
        for round in 0..20u8 {
            let futures: Vec<_> = (0..20u8)
                .map(|i| KVStore::write(&kv, "ns", "", "k", vec![round, i]))
                .collect();
            // Spawned in reverse, so the runtime is free to finish them in any order.
            let tasks: Vec<_> = futures.into_iter().rev().map(tokio::spawn).collect();
            for t in tasks {
                t.await.unwrap().unwrap();
            }
            assert_eq!(
                KVStore::read(&kv, "ns", "", "k").await.unwrap(),
                vec![round, 19]
            );
        }
    });
}

#[test]
fn invalid_names_give_an_error_future_not_a_panic() {
    let (_dir, _hook, kv) = fresh();
    let e = finish(KVStore::write(&kv, "", "sec", "k", vec![1])).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(finish(KVStore::read(&kv, "p", "", "")).is_err());
    assert!(finish(KVStore::list(&kv, "p/", "")).is_err());
}

#[test]
fn a_group_is_one_transaction_written_only_at_its_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lightningd.sqlite3");
    let hook = Arc::new(Recorder::default());
    let h = hook.clone();
    let handle = StoreHandle::open_blocking(move || Store::open_sqlite(&path, h)).unwrap();
    let kv = KvStore::new(handle.clone());
    KVStoreSync::write(&kv, "monitors", "", "old", vec![1]).unwrap();
    let before = hook.writes.lock().unwrap().len();
    let group = kv.group();
    // Another handle on the same store, and another thread that entered the group, join
    // it; a thread that did not enter writes at once.
    let other = KvStore::new(handle);
    group.enter(|| {
        KVStoreSync::write(&kv, "monitors", "", "a", vec![0xaa]).unwrap();
        KVStoreSync::write(&other, "monitors", "", "a", vec![0xab]).unwrap();
        KVStoreSync::remove(&kv, "monitors", "", "old", false).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| group.enter(|| KVStoreSync::write(&kv, "updates", "", "b", vec![2])))
                .join()
                .unwrap()
                .unwrap();
            s.spawn(|| KVStoreSync::write(&kv, "direct", "", "c", vec![3]))
                .join()
                .unwrap()
                .unwrap();
        });
        // Queued, not written: reads see what is committed.
        assert!(KVStoreSync::read(&kv, "monitors", "", "a").is_err());
        assert_eq!(
            KVStoreSync::read(&kv, "monitors", "", "old").unwrap(),
            vec![1]
        );
    });
    // Outside `enter` writes are direct again.
    KVStoreSync::write(&kv, "direct", "", "d", vec![4]).unwrap();
    assert_eq!(group.len(), 4);
    assert_eq!(hook.writes.lock().unwrap().len(), before + 2);
    group.commit().unwrap();
    let w = hook.writes.lock().unwrap();
    assert_eq!(w.len(), before + 3, "one db_write for the whole group");
    let (_, last) = w.last().unwrap();
    assert_eq!(last.len(), 5, "{last:?}");
    assert!(
        last[0].contains("x'aa'") && last[1].contains("x'ab'"),
        "{last:?}"
    );
    assert!(last[2].starts_with("DELETE FROM kv"), "{last:?}");
    drop(w);
    assert_eq!(
        KVStoreSync::read(&kv, "monitors", "", "a").unwrap(),
        vec![0xab]
    );
    assert!(KVStoreSync::read(&kv, "monitors", "", "old").is_err());
    assert_eq!(KVStoreSync::read(&kv, "updates", "", "b").unwrap(), vec![2]);
}

#[test]
fn a_refused_group_stores_none_of_its_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lightningd.sqlite3");
    let hook = Arc::new(Recorder::default());
    let kv = open(&path, hook.clone());
    KVStoreSync::write(&kv, "monitors", "", "m", vec![1]).unwrap();
    let group = kv.group();
    group.enter(|| {
        KVStoreSync::write(&kv, "monitors", "", "m", vec![2]).unwrap();
        KVStoreSync::write(&kv, "manager", "", "x", vec![3]).unwrap();
    });
    *hook.refuse.lock().unwrap() = true;
    let e = group.commit().unwrap_err();
    assert!(e.to_string().contains("returned failed db_write"), "{e}");
    drop(kv);
    *hook.refuse.lock().unwrap() = false;
    let kv = open(&path, hook);
    assert_eq!(
        KVStoreSync::read(&kv, "monitors", "", "m").unwrap(),
        vec![1]
    );
    assert!(KVStoreSync::read(&kv, "manager", "", "x").is_err());
}

#[test]
fn a_group_write_superseded_by_a_later_direct_write_is_skipped() {
    let (_dir, _hook, kv) = fresh();
    let group = kv.group();
    group.enter(|| KVStoreSync::write(&kv, "monitors", "", "k", vec![1]).unwrap());
    KVStoreSync::write(&kv, "monitors", "", "k", vec![2]).unwrap();
    group.commit().unwrap();
    assert_eq!(
        KVStoreSync::read(&kv, "monitors", "", "k").unwrap(),
        vec![2]
    );
}
