//! Group commit across callers: jobs queued together share one transaction, one
//! `data_version` and one `db_write`; each caller hears of its job only once that commit
//! is durable; a job that fails undoes only its own writes; a refused hook fails them all.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use store::{HookRefusal, Mode, Store, StoreError, StoreHandle, WriteHook};

/// Records every `db_write`; can be told to refuse, or to hold a call until released.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<(u32, Vec<String>)>>,
    refuse: AtomicBool,
    /// While set, a call announces itself on `entered` and waits on `release`.
    hold: Mutex<Option<(SyncSender<()>, Receiver<()>)>>,
    stopped: Mutex<Vec<String>>,
}

impl WriteHook for Recorder {
    fn db_write(&self, data_version: u32, writes: &[String]) -> Result<(), HookRefusal> {
        if let Some((entered, release)) = self.hold.lock().unwrap().take() {
            entered.send(()).unwrap();
            release.recv().unwrap();
        }
        self.calls
            .lock()
            .unwrap()
            .push((data_version, writes.to_vec()));
        if self.refuse.load(Ordering::SeqCst) {
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

impl Recorder {
    fn calls_since(&self, n: usize) -> Vec<(u32, Vec<String>)> {
        self.calls.lock().unwrap()[n..].to_vec()
    }
}

fn key(i: usize) -> Vec<String> {
    vec!["k".to_string(), i.to_string()]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    hook: Arc<Recorder>,
    store: StoreHandle,
    /// `db_write` calls made before the test's own (the schema's).
    before: usize,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lightningd.sqlite3");
    let hook = Arc::new(Recorder::default());
    let (p, h) = (path.clone(), hook.clone());
    let store = StoreHandle::open(move || Store::open_sqlite(&p, h))
        .await
        .unwrap();
    let before = hook.calls.lock().unwrap().len();
    Fixture {
        _dir: dir,
        path,
        hook,
        store,
        before,
    }
}

/// Holds the store thread in a job until the returned sender is used, so that the jobs
/// queued meanwhile are taken together as one batch after it.
async fn hold_store(store: &StoreHandle) -> SyncSender<()> {
    let (entered_tx, entered_rx) = sync_channel(1);
    let (release_tx, release_rx) = sync_channel::<()>(1);
    let s = store.clone();
    // Its own answer is the batch's, like any job's (an error when the batch fails).
    tokio::spawn(async move {
        s.call(move |_| {
            entered_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        })
        .await
    });
    tokio::task::spawn_blocking(move || entered_rx.recv().unwrap())
        .await
        .unwrap();
    release_tx
}

/// Queues `job` on a task of its own; its answer is the task's output.
/// Lets the held store thread go (`release`) and returns once its batch's commit waits
/// in the hook, with the sender that lets the hook answer.
async fn run_batch_into_the_hook(f: &Fixture, release: SyncSender<()>) -> SyncSender<()> {
    let (entered_tx, entered_rx) = sync_channel(1);
    let (hook_release, hook_wait) = sync_channel(1);
    *f.hook.hold.lock().unwrap() = Some((entered_tx, hook_wait));
    release.send(()).unwrap();
    tokio::task::spawn_blocking(move || entered_rx.recv().unwrap())
        .await
        .unwrap();
    settle().await;
    hook_release
}

fn queue<T: Send + 'static>(
    store: &StoreHandle,
    job: impl FnOnce(&mut Store) -> T + Send + 'static,
) -> tokio::task::JoinHandle<Result<T, StoreError>> {
    let s = store.clone();
    tokio::spawn(async move { s.call(job).await })
}

/// Time for spawned callers to reach the queue.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

fn put(i: usize) -> impl FnOnce(&mut Store) -> Result<(), store::DatastoreError> + Send {
    move |st: &mut Store| {
        st.datastore_put(&key(i), b"v", Mode::MustCreate, None)
            .map(|_| ())
    }
}

fn stored_keys(store: &mut Store) -> Vec<String> {
    store
        .datastore_list(Some(&["k".to_string()]))
        .unwrap()
        .into_iter()
        .map(|e| e.key[1].clone())
        .collect()
}

#[test]
fn jobs_queued_together_share_one_data_version_and_the_hook_sees_every_statement() {
    runtime().block_on(async {
        let f = fixture().await;
        let version = f.store.call(|st| st.data_version()).await.unwrap();
        let release = hold_store(&f.store).await;
        let writers: Vec<_> = (0..5).map(|i| queue(&f.store, put(i))).collect();
        settle().await;
        release.send(()).unwrap();
        for w in writers {
            w.await.unwrap().unwrap().unwrap();
        }
        let calls = f.hook.calls_since(f.before);
        assert_eq!(calls.len(), 1, "{calls:#?}");
        let (dv, writes) = &calls[0];
        assert_eq!(*dv, version + 1);
        let inserts = writes
            .iter()
            .filter(|w| w.starts_with("INSERT INTO datastore"))
            .count();
        assert_eq!(inserts, 5, "{writes:#?}");
        assert_eq!(
            writes.last().unwrap(),
            &format!(
                "UPDATE vars SET intval = {} WHERE name = 'data_version' AND intval = {version}",
                version + 1
            )
        );
        let after = f.store.call(|st| st.data_version()).await.unwrap();
        assert_eq!(after, version + 1);
        assert_eq!(
            f.store.call(stored_keys).await.unwrap(),
            ["0", "1", "2", "3", "4"]
        );
    });
}

#[test]
fn results_reach_callers_only_once_the_batch_is_committed() {
    runtime().block_on(async {
        let f = fixture().await;
        let release = hold_store(&f.store).await;
        let writers: Vec<_> = (0..3).map(|i| queue(&f.store, put(i))).collect();
        settle().await;
        // A read behind them sees their writes, so it too waits for the commit.
        let reader = queue(&f.store, stored_keys);
        settle().await;
        // The batch's commit waits in the hook: the database (as another connection, or
        // a restart after a crash now, would see it) holds none of the writes yet.
        let hook_release = run_batch_into_the_hook(&f, release).await;
        assert!(
            writers.iter().all(|w| !w.is_finished()) && !reader.is_finished(),
            "a caller was answered before the commit"
        );
        let other = rusqlite::Connection::open(&f.path).unwrap();
        let on_disk: i64 = other
            .query_row("SELECT COUNT(*) FROM datastore", [], |r| r.get(0))
            .unwrap();
        assert_eq!(on_disk, 0);
        hook_release.send(()).unwrap();
        for w in writers {
            w.await.unwrap().unwrap().unwrap();
        }
        assert_eq!(reader.await.unwrap().unwrap(), ["0", "1", "2"]);
        let on_disk: i64 = other
            .query_row("SELECT COUNT(*) FROM datastore", [], |r| r.get(0))
            .unwrap();
        assert_eq!(on_disk, 3);
    });
}

#[test]
fn a_failing_job_in_a_batch_undoes_only_its_own_writes() {
    runtime().block_on(async {
        let f = fixture().await;
        let release = hold_store(&f.store).await;
        let first = queue(&f.store, put(1));
        let failing = queue(&f.store, |st| {
            st.transaction(|tx| {
                tx.execute("INSERT INTO peer_addresses VALUES ('x', 'y')", &[])?;
                Err::<(), StoreError>(StoreError::Corrupt("the job changed its mind".into()))
            })
        });
        let last = queue(&f.store, put(3));
        settle().await;
        release.send(()).unwrap();
        first.await.unwrap().unwrap().unwrap();
        let e = failing.await.unwrap().unwrap().unwrap_err();
        assert!(matches!(e, StoreError::Corrupt(_)), "{e:?}");
        last.await.unwrap().unwrap().unwrap();

        let calls = f.hook.calls_since(f.before);
        assert_eq!(calls.len(), 1, "{calls:#?}");
        assert!(
            !calls[0].1.iter().any(|w| w.contains("peer_addresses")),
            "{calls:#?}"
        );
        assert_eq!(f.store.call(stored_keys).await.unwrap(), ["1", "3"]);
        let x = f
            .store
            .call(|st| st.peer_address("x"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(x, None);
    });
}

#[test]
fn a_refused_hook_fails_every_job_of_the_batch_and_stops_the_store() {
    runtime().block_on(async {
        let f = fixture().await;
        let release = hold_store(&f.store).await;
        let writers: Vec<_> = (0..3).map(|i| queue(&f.store, put(i))).collect();
        settle().await;
        f.hook.refuse.store(true, Ordering::SeqCst);
        release.send(()).unwrap();
        for w in writers {
            // Each job itself succeeded; the shared commit did not.
            let e = w.await.unwrap().unwrap_err();
            assert!(matches!(e, StoreError::HookRefused(_)), "{e:?}");
        }
        assert_eq!(f.hook.calls_since(f.before).len(), 1);
        assert_eq!(f.hook.stopped.lock().unwrap().len(), 1);
        let later = f
            .store
            .call(|st| st.remember_peer_address("c", "d"))
            .await
            .unwrap()
            .unwrap_err();
        assert!(matches!(later, StoreError::Stopped(_)), "{later:?}");
        let on_disk: i64 = rusqlite::Connection::open(&f.path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM datastore", [], |r| r.get(0))
            .unwrap();
        assert_eq!(on_disk, 0);
    });
}

#[test]
fn a_read_ahead_of_the_batchs_writes_is_answered_without_waiting_for_the_commit() {
    runtime().block_on(async {
        let f = fixture().await;
        f.store.call(put(7)).await.unwrap().unwrap();
        let release = hold_store(&f.store).await;
        // It sees only committed data: nothing a crash could take back.
        let reader = queue(&f.store, stored_keys);
        settle().await;
        let writer = queue(&f.store, put(8));
        settle().await;
        let hook_release = run_batch_into_the_hook(&f, release).await;
        assert!(reader.is_finished() && !writer.is_finished());
        hook_release.send(()).unwrap();
        assert_eq!(reader.await.unwrap().unwrap(), ["7"]);
        writer.await.unwrap().unwrap().unwrap();
    });
}
