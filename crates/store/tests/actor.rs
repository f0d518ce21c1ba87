//! The store thread: callers queue jobs and wait without holding threads; blocking
//! callers work from anywhere; a failed write or a panicking job stops the store.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use store::{HookRefusal, Mode, Store, StoreError, StoreHandle, WriteHook, QUEUE_CAPACITY};

/// A `db_write` plugin that takes `delay` per transaction and counts what it saw.
#[derive(Default)]
struct SlowHook {
    delay: Duration,
    seen: AtomicUsize,
    refuse_after: Option<usize>,
    stopped: Mutex<Vec<String>>,
}

impl WriteHook for SlowHook {
    fn db_write(&self, _: u32, _: &[String]) -> Result<(), HookRefusal> {
        std::thread::sleep(self.delay);
        let n = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        if self.refuse_after.is_some_and(|limit| n > limit) {
            return Err(HookRefusal {
                plugin: "backup.py".into(),
                reason: "returned failed db_write".into(),
            });
        }
        Ok(())
    }

    fn store_stopped(&self, error: &StoreError) {
        self.stopped.lock().unwrap().push(error.to_string());
    }
}

fn key(i: usize) -> Vec<String> {
    vec!["k".to_string(), i.to_string()]
}

async fn open(dir: &tempfile::TempDir, hook: Arc<SlowHook>) -> StoreHandle {
    let path = dir.path().join("lightningd.sqlite3");
    StoreHandle::open(move || Store::open_sqlite(&path, hook))
        .await
        .unwrap()
}

#[test]
fn writers_queued_behind_a_slow_db_write_hold_no_blocking_threads() {
    // A tiny blocking pool: if each waiting writer held a blocking thread (as
    // `spawn_blocking` + a mutex did), nothing else could use the pool for seconds.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let hook = Arc::new(SlowHook {
            delay: Duration::from_millis(100),
            ..Default::default()
        });
        let store = open(&dir, hook.clone()).await;
        let migrations = hook.seen.load(Ordering::SeqCst);
        let writers: Vec<_> = (0..30)
            .map(|i| {
                let s = store.clone();
                tokio::spawn(async move {
                    s.call(move |st| st.datastore_put(&key(i), b"v", Mode::MustCreate, None))
                        .await
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;

        // 30 writers x 100 ms are queued: the blocking pool and the timers still work.
        let t = Instant::now();
        for _ in 0..4 {
            tokio::task::spawn_blocking(|| ()).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "blocking pool starved for {:?}",
            t.elapsed()
        );
        assert!(hook.seen.load(Ordering::SeqCst) < migrations + 30);

        for w in writers {
            w.await.unwrap().unwrap().unwrap();
        }
        // Writers queued together share a commit: fewer hook calls than writers.
        let calls = hook.seen.load(Ordering::SeqCst) - migrations;
        assert!(
            (1..30).contains(&calls),
            "{calls} db_write calls for 30 writes"
        );
        let all = store
            .call(|st| st.datastore_list(Some(&["k".to_string()])))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(all.len(), 30);
    });
}

#[test]
fn more_callers_than_the_queue_holds_all_get_served() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let hook = Arc::new(SlowHook::default());
        let store = open(&dir, hook.clone()).await;
        // Hold the store thread so the queue fills up.
        let gate = Arc::new(std::sync::Barrier::new(2));
        let g = gate.clone();
        let s = store.clone();
        let held = tokio::spawn(async move { s.call(move |_| g.wait()).await });
        let n = QUEUE_CAPACITY * 2;
        let async_writers: Vec<_> = (0..n)
            .map(|i| {
                let s = store.clone();
                tokio::spawn(async move {
                    s.call(move |st| st.datastore_put(&key(i), b"a", Mode::MustCreate, None))
                        .await
                })
            })
            .collect();
        let blocking_writers: Vec<_> = (n..n + 8)
            .map(|i| {
                let s = store.clone();
                std::thread::spawn(move || {
                    s.call_blocking(move |st| {
                        st.datastore_put(&key(i), b"b", Mode::MustCreate, None)
                    })
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        tokio::task::block_in_place(|| gate.wait());
        held.await.unwrap().unwrap();
        for w in async_writers {
            w.await.unwrap().unwrap().unwrap();
        }
        for w in blocking_writers {
            w.join().unwrap().unwrap().unwrap();
        }
        let listed = store
            .call(|st| st.datastore_list(Some(&["k".to_string()])))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(listed.len(), n + 8);
    });
}

#[test]
fn blocking_calls_from_a_runtime_worker_do_not_panic_or_stall_the_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hook = Arc::new(SlowHook {
        delay: Duration::from_millis(300),
        ..Default::default()
    });
    rt.block_on(async {
        let store = open(&dir, hook.clone()).await;
        // The only worker blocks in a store call for 300 ms; a timer task must still run.
        let ticks = Arc::new(AtomicUsize::new(0));
        let t = ticks.clone();
        let ticker = tokio::spawn(async move {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                t.fetch_add(1, Ordering::SeqCst);
            }
        });
        let s = store.clone();
        let during = tokio::spawn(async move {
            s.call_blocking(|st| st.datastore_put(&key(1), b"x", Mode::MustCreate, None))
                .unwrap()
                .unwrap();
        });
        during.await.unwrap();
        assert!(ticks.load(Ordering::SeqCst) >= 3, "the runtime stalled");
        ticker.await.unwrap();
    });
    // And from a current-thread runtime (nothing to hand over; it just blocks).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let path = dir.path().join("other.sqlite3");
        let store =
            StoreHandle::open_blocking(move || Store::open_sqlite(&path, Arc::new(store::NoHook)))
                .unwrap();
        let e = store
            .call_blocking(|st| st.datastore_put(&key(2), b"y", Mode::MustCreate, None))
            .unwrap()
            .unwrap();
        assert_eq!(e.generation, Some(0));
    });
}

#[test]
fn a_refused_write_stops_the_store_once_and_for_all() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        // The schema migration is the first db_write, the first put the second.
        let hook = Arc::new(SlowHook {
            refuse_after: Some(2),
            ..Default::default()
        });
        let store = open(&dir, hook.clone()).await;
        store
            .call(|st| st.datastore_put(&key(1), b"1", Mode::MustCreate, None))
            .await
            .unwrap()
            .unwrap();
        // The refusal comes at the batch's commit, after the job itself succeeded.
        let refused = store
            .call(|st| st.datastore_put(&key(2), b"2", Mode::MustCreate, None))
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("returned failed db_write"),
            "{refused}"
        );
        let later = store
            .call(|st| st.kv_write("p", "", "k", b"z"))
            .await
            .unwrap()
            .unwrap_err();
        assert!(matches!(later, StoreError::Stopped(_)), "{later:?}");
        // The hook was not asked again, and heard of the stop exactly once.
        assert_eq!(hook.seen.load(Ordering::SeqCst), 3);
        let stopped = hook.stopped.lock().unwrap().clone();
        assert_eq!(stopped.len(), 1, "{stopped:?}");
        assert!(stopped[0].contains("backup.py"), "{stopped:?}");
    });
}

#[test]
fn a_panicking_job_stops_the_store_and_callers_get_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Arc::new(SlowHook::default());
    let path = dir.path().join("lightningd.sqlite3");
    let h = hook.clone();
    let store = StoreHandle::open_blocking(move || Store::open_sqlite(&path, h)).unwrap();
    let r = store.call_blocking(|st| {
        st.transaction(|tx| {
            tx.execute("INSERT INTO peer_addresses VALUES ('a', 'b')", &[])?;
            panic!("a bug in a job");
            #[allow(unreachable_code)]
            Ok::<(), StoreError>(())
        })
    });
    assert!(matches!(r, Err(StoreError::Stopped(_))), "{r:?}");
    let after = store
        .call_blocking(|st| st.remember_peer_address("c", "d"))
        .unwrap();
    assert!(matches!(after, Err(StoreError::Stopped(_))), "{after:?}");
    assert_eq!(hook.stopped.lock().unwrap().len(), 1);
    // Nothing of the panicking transaction was committed.
    let rows = store
        .call_blocking(|st| st.peer_address("a"))
        .unwrap()
        .unwrap();
    assert_eq!(rows, None);
}

#[tokio::test]
async fn a_submitted_job_is_queued_before_submit_returns_and_answers_once_committed() {
    // The guarantee callers lean on: a job submitted (never polled afterwards) runs, and
    // is committed no later than any job queued after `submit` returned.
    let dir = tempfile::tempdir().unwrap();
    let hook = Arc::new(SlowHook {
        delay: Duration::from_millis(50),
        ..Default::default()
    });
    let store = open(&dir, hook.clone()).await;
    let first = store
        .submit(|s| s.datastore_put(&key(1), b"a", Mode::MustCreate, None))
        .await
        .unwrap();
    // Blocking callers (LDK's manager writes) queue after it; it is there already.
    let b = store.clone();
    let later = tokio::task::spawn_blocking(move || {
        b.call_blocking(|s| s.datastore_list(Some(&key(1))).map(|l| l.len()))
    });
    assert_eq!(
        later.await.unwrap().unwrap().unwrap(),
        1,
        "ran after the submitted job"
    );
    let e = first.await.unwrap().unwrap();
    assert_eq!(e.generation, Some(0));
    // Its answer is never dropped: a job whose future is dropped still runs.
    drop(
        store
            .submit(|s| s.datastore_put(&key(2), b"b", Mode::MustCreate, None))
            .await
            .unwrap(),
    );
    let n = store
        .call(|s| s.datastore_list(Some(&key(2))).map(|l| l.len()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 1);
}
