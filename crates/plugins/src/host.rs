//! The host handle and the per-plugin record: sending requests and waiting for replies,
//! and what happens when a plugin dies (§5.7). Everything else (start-up, hooks,
//! notifications, passthrough, the `plugin` command) builds on the two primitives here:
//! [`PluginHost::request`] and [`PluginHost::kill`].

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, watch};

use crate::features::FeatureSet;
use crate::log::{HostLog, Level, HOST};
use crate::manifest::Manifest;

/// What the daemon tells the host once, at construction.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// `<lightning-dir>/<network>`: plugins' cwd and `configuration.lightning-dir`.
    pub network_dir: PathBuf,
    /// `rpc-file` as configured (relative to `network_dir` unless absolute).
    pub rpc_file: String,
    pub network: String,
    /// `LIGHTNINGD_VERSION` and what `deprecated: true` is measured against.
    pub version: String,
    pub allow_deprecated_apis: bool,
    /// getmanifest and init each get this long (CLN: 120 s).
    pub startup_timeout: Duration,
    /// How long `shutdown` and `plugin stop` wait for a plugin to exit (CLN: 30 s).
    pub shutdown_grace: Duration,
    /// Our own feature bits; plugins' bits are added to these.
    pub feature_set_base: FeatureSet,
    /// `configuration.proxy` when a proxy is configured.
    pub proxy: Option<Value>,
    pub always_use_proxy: bool,
    /// Builtin command names: a plugin method with one of these names is refused.
    pub builtin_methods: Vec<String>,
    /// Builtin option names: a plugin option with one of these names is refused.
    pub builtin_options: Vec<String>,
    /// `plugin start NAME` retries as `<default_plugin_dir>/NAME`; `plugin rescan` scans
    /// it and its immediate subdirectories.
    pub default_plugin_dir: Option<PathBuf>,
    /// `--disable-plugin` values (basename, or a path if it contains `/`).
    pub disabled: Vec<String>,
    /// Outbound request queue length per plugin (a request waits for room).
    pub queue_len: usize,
    /// Bytes of notifications that may wait for one subscriber. A native notification
    /// that does not fit removes the subscriber loudly (it is stuck, and a notification is
    /// never dropped silently); plugin-emitted notifications wait for room once half of it
    /// (at most 256 KiB) is used. Read once, by [`PluginHost::new`].
    pub notify_budget: usize,
    /// How long a plugin's notification may wait for a subscriber whose queue makes no
    /// progress before that subscriber is removed as stuck. Read once, by
    /// [`PluginHost::new`].
    pub notify_stall: Duration,
    /// Largest message accepted from a plugin.
    pub max_message: usize,
    /// Passed as `--developer` on the plugin's command line.
    pub developer: bool,
    /// Where the host's log lines go (buffered while the daemon has no logger yet). Read
    /// once, by [`PluginHost::new`]; [`PluginHost::host_log`] hands it back.
    pub log: HostLog,
}

impl HostConfig {
    pub fn new(network_dir: PathBuf, network: &str) -> HostConfig {
        HostConfig {
            network_dir,
            rpc_file: "lightning-rpc".to_string(),
            network: network.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            allow_deprecated_apis: true,
            startup_timeout: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(30),
            feature_set_base: FeatureSet::default(),
            proxy: None,
            always_use_proxy: false,
            builtin_methods: Vec::new(),
            builtin_options: Vec::new(),
            default_plugin_dir: None,
            disabled: Vec::new(),
            queue_len: 1024,
            notify_budget: 16 * 1024 * 1024,
            notify_stall: Duration::from_secs(30),
            max_message: 128 * 1024 * 1024,
            developer: false,
            log: HostLog::direct(),
        }
    }
}

/// Things the daemon must act on.
#[derive(Debug, Clone, PartialEq)]
pub enum HostEvent {
    /// An important plugin died: the daemon must exit with status 1.
    ImportantPluginDied { path: String, reason: String },
    /// The union of `custommessages` of initialized plugins changed (for the peers).
    CustomMessagesChanged(Vec<u16>),
    /// Our advertised feature bits changed.
    FeaturesChanged(FeatureSet),
    /// A plugin finished `init` or went away: registered methods and options changed.
    PluginsChanged,
}

/// Plugin states (plugin.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PState {
    AwaitingManifest,
    NeedsInit,
    AwaitingInit,
    InitComplete,
}

impl PState {
    /// The words lightningd uses when a plugin exits in this state.
    pub fn exit_desc(self) -> &'static str {
        match self {
            PState::AwaitingManifest => "before replying to getmanifest",
            PState::NeedsInit => "before we sent init",
            PState::AwaitingInit => "before replying to init",
            PState::InitComplete => "during normal operation",
        }
    }
}

/// A plugin's answer to one request.
#[derive(Debug)]
pub enum Reply {
    Result(Box<RawValue>),
    Error(Box<RawValue>),
    /// Neither `result` nor `error`: passed on as sent.
    Malformed(jsonrpc::Members),
    /// The plugin died first (the fabricated `-4` of §5.7).
    Terminated,
}

impl Reply {
    /// The reply as text, for log lines and error messages.
    pub fn text(&self) -> String {
        match self {
            Reply::Result(r) => format!("{{\"result\":{}}}", r.get()),
            Reply::Error(e) => format!("{{\"error\":{}}}", e.get()),
            Reply::Malformed(m) => serde_json::to_string(m).unwrap_or_default(),
            Reply::Terminated => {
                "{\"error\":{\"code\":-4,\"message\":\"Plugin terminated before replying to RPC call.\"}}"
                    .to_string()
            }
        }
    }
}

/// Receives complete notification frames for a client (must not block).
pub type NotifySink = Arc<dyn Fn(Vec<u8>) + Send + Sync>;

/// Where `message`/`progress` notifications for a passthrough call go.
#[derive(Clone)]
pub struct ClientNotify {
    /// The client's id token, put back into the notification params.
    pub client_id: Box<RawValue>,
    pub sink: NotifySink,
}

pub(crate) struct Pending {
    pub tx: oneshot::Sender<Reply>,
    pub notify: Option<ClientNotify>,
}

/// One plugin process.
pub(crate) struct Plugin {
    /// Registration order: decides hook order ties.
    pub index: u64,
    /// Absolute path (what `plugin list` shows as `name`).
    pub path: String,
    /// Basename: `plugin-<name>` log source, `origin` of its notifications.
    pub name: String,
    pub important: AtomicBool,
    pub startup: bool,
    /// The executable's checksum when spawned: starting the same path again restarts a
    /// changed non-important plugin (§8).
    pub checksum: u64,
    /// A watch, so a hook call can wait for `init` (see [`Plugin::initialized`]).
    pub state: watch::Sender<PState>,
    /// Set once the manifest passed every check; only then is it in the registries.
    pub manifest: OnceLock<Arc<Manifest>>,
    /// Its stdin: frames in the order they were queued (compact JSON, `\n\n` added
    /// when written). Requests are bounded by [`NoteQueue::request_slots`],
    /// notifications in bytes by [`NoteQueue::backlog`].
    pub out: Arc<crate::outbound::Outbound>,
    pub note_queue: Arc<NoteQueue>,
    /// Keyed with foldhash: an entry goes in and out on every call, and SipHash on the
    /// id was a visible part of a call's CPU (the ids end in our own counter, unique by
    /// construction, so no one picks colliding keys).
    pub pending: Mutex<HashMap<String, Pending, foldhash::fast::RandomState>>,
    pub dead: AtomicBool,
    /// Why it was killed, for `plugin start`'s error.
    pub death: Mutex<Option<String>>,
    /// Becomes the kill reason when the plugin is removed (for [`PluginHost::removal`]).
    pub gone: watch::Sender<Option<String>>,
    pub kill_tx: Mutex<Option<oneshot::Sender<()>>>,
    /// Becomes true when the process has been reaped.
    pub exited: watch::Receiver<bool>,
}

/// One outbound message.
pub(crate) enum Frame {
    /// A request (or a notification that must go out in order with requests, like
    /// `deprecated_oneshot` or `shutdown`): holds one of the request slots.
    Request(Vec<u8>),
    /// A notification for a subscriber, counted in its backlog.
    Note(Arc<[u8]>),
}

/// What a plugin's writer shares with the senders of its frames.
pub(crate) struct NoteQueue {
    /// Requests queued and not yet written (the queue length a request waits for).
    pub request_slots: tokio::sync::Semaphore,
    /// Bytes queued or being written (frames plus their `\n\n`).
    pub backlog: AtomicUsize,
    /// Notifications queued or being written.
    pub count: AtomicUsize,
    /// Woken whenever the writer wrote some, and when the plugin dies.
    pub room: tokio::sync::Notify,
}

impl NoteQueue {
    pub fn new(requests: usize) -> NoteQueue {
        NoteQueue {
            request_slots: tokio::sync::Semaphore::new(requests.max(1)),
            backlog: AtomicUsize::new(0),
            count: AtomicUsize::new(0),
            room: tokio::sync::Notify::new(),
        }
    }
}

impl Plugin {
    /// Queues a request frame once a request slot is free. False if the writer is gone.
    pub(crate) async fn queue_request(&self, frame: Vec<u8>) -> bool {
        let Ok(permit) = self.note_queue.request_slots.acquire().await else {
            return false;
        };
        permit.forget();
        self.out.push(Frame::Request(frame))
    }

    /// [`queue_request`](Self::queue_request) without waiting: false if no slot is free.
    pub(crate) fn try_queue_request(&self, frame: Vec<u8>) -> bool {
        let Ok(permit) = self.note_queue.request_slots.try_acquire() else {
            return false;
        };
        permit.forget();
        self.out.push(Frame::Request(frame))
    }
}

impl Plugin {
    pub fn source(&self) -> String {
        format!("plugin-{}", self.name)
    }
    pub fn state(&self) -> PState {
        *self.state.borrow()
    }
    pub fn set_state(&self, s: PState) {
        self.state.send_replace(s);
    }
    /// Waits until the plugin answered `init` (true) or is gone (false). Lightningd calls
    /// no hook but `db_write` before `init`, and a plugin reads its options there: an
    /// HTLC LDK replays at start-up must not reach a plugin that has not had it.
    pub async fn initialized(&self) -> bool {
        let mut state = self.state.subscribe();
        let mut gone = self.gone.subscribe();
        tokio::select! {
            r = state.wait_for(|s| *s == PState::InitComplete) => r.is_ok(),
            _ = gone.wait_for(Option::is_some) => false,
        }
    }
    pub fn manifest(&self) -> Option<&Arc<Manifest>> {
        self.manifest.get()
    }
    pub fn dynamic(&self) -> bool {
        self.manifest().map(|m| m.dynamic).unwrap_or(false)
    }
    pub fn subscribed(&self, topic: &str) -> bool {
        self.manifest()
            .map(|m| {
                m.subscriptions
                    .iter()
                    .any(|s| s == topic || (s == "*" && topic != "log"))
            })
            .unwrap_or(false)
    }
}

/// Removes a request's pending entry when its waiter goes away (answered, or not).
struct ForgetOnDrop<'a> {
    p: &'a Plugin,
    id: &'a str,
}

impl Drop for ForgetOnDrop<'_> {
    fn drop(&mut self) {
        lock(&self.p.pending).remove(self.id);
    }
}

/// Mutex poisoning only happens if a holder panicked; the data is still usable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One stored value of a plugin option.
#[derive(Debug, Clone, PartialEq)]
pub struct OptValue {
    /// As written (`None` for a flag given without value).
    pub text: Option<String>,
    /// `cmdline`, `<file>:<line>`, `pluginstart`, `setconfig transient`...
    pub source: String,
}

pub(crate) struct State {
    /// Every live plugin process, in registration order.
    pub plugins: Vec<Arc<Plugin>>,
    pub next_index: u64,
    /// Paths being spawned right now (not yet in `plugins`).
    pub spawning: HashSet<String>,
    /// Plugin option values by option name.
    pub values: HashMap<String, Vec<OptValue>>,
    /// Last union of custommessages we announced.
    pub custommsgs: Vec<u16>,
}

pub(crate) struct Inner {
    pub cfg: Mutex<HostConfig>,
    pub log: HostLog,
    pub state: Mutex<State>,
    pub events: mpsc::UnboundedSender<HostEvent>,
    pub shutting_down: AtomicBool,
    /// [`HostConfig::notify_budget`] and [`HostConfig::notify_stall`], kept out of the
    /// config lock: they are read on every notification.
    pub notify_budget: usize,
    pub notify_stall: Duration,
}

/// The plugin host. Cheap to clone; every clone drives the same plugins.
#[derive(Clone)]
pub struct PluginHost {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("plugins", &self.plugins().len())
            .finish_non_exhaustive()
    }
}

impl PluginHost {
    pub fn new(cfg: HostConfig) -> (PluginHost, mpsc::UnboundedReceiver<HostEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let host = PluginHost {
            inner: Arc::new(Inner {
                log: cfg.log.clone(),
                notify_budget: cfg.notify_budget.max(1),
                notify_stall: cfg.notify_stall,
                cfg: Mutex::new(cfg),
                state: Mutex::new(State {
                    plugins: Vec::new(),
                    next_index: 0,
                    spawning: HashSet::new(),
                    values: HashMap::new(),
                    custommsgs: Vec::new(),
                }),
                events: tx,
                shutting_down: AtomicBool::new(false),
            }),
        };
        (host, rx)
    }

    /// Logs through the host's [`HostLog`].
    pub(crate) fn log(&self, level: Level, source: &str, msg: &str) {
        self.inner.log.log(level, source, msg);
    }

    /// The host's log: the daemon replays it once its logger exists, or takes the lines
    /// to print when it exits before that.
    pub fn host_log(&self) -> HostLog {
        self.inner.log.clone()
    }

    pub(crate) fn cfg(&self) -> HostConfig {
        lock(&self.inner.cfg).clone()
    }

    /// Changes the configuration after construction (e.g. `rpc-file` once the full option
    /// parse is done, before `init`).
    pub fn configure(&self, f: impl FnOnce(&mut HostConfig)) {
        f(&mut lock(&self.inner.cfg));
    }

    /// Lets the daemon fill in builtin names once its tables exist.
    pub fn set_builtins(&self, methods: Vec<String>, options: Vec<String>) {
        let mut c = lock(&self.inner.cfg);
        c.builtin_methods = methods;
        c.builtin_options = options;
    }

    pub(crate) fn plugins(&self) -> Vec<Arc<Plugin>> {
        lock(&self.inner.state).plugins.clone()
    }

    /// Live plugins whose manifest is registered.
    pub(crate) fn registered(&self) -> Vec<Arc<Plugin>> {
        self.plugins()
            .into_iter()
            .filter(|p| p.manifest().is_some())
            .collect()
    }

    pub(crate) fn emit(&self, ev: HostEvent) {
        let _ = self.inner.events.send(ev);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }

    /// Sends a request and waits for the reply. `params` is serialized JSON.
    pub(crate) async fn request(
        &self,
        p: &Arc<Plugin>,
        method: &str,
        params: &str,
        cause: Option<&str>,
        notify: Option<ClientNotify>,
    ) -> Reply {
        let id = crate::ids::next_id(cause, method);
        let frame = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":{},\"params\":{}}}",
            json!(id),
            json!(method),
            params
        );
        self.send_request(p, id, frame.into_bytes(), notify).await
    }

    /// Queues an already-built request frame carrying `id` and waits for its reply.
    pub(crate) async fn send_request(
        &self,
        p: &Arc<Plugin>,
        id: String,
        frame: Vec<u8>,
        notify: Option<ClientNotify>,
    ) -> Reply {
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = lock(&p.pending);
            // Checked under the lock `kill` drains, so no waiter can be left behind.
            if p.dead.load(Ordering::SeqCst) {
                return Reply::Terminated;
            }
            pending.insert(id.clone(), Pending { tx, notify });
        }
        // A caller that stops waiting (a timeout, a dropped future) must not leave its
        // entry behind: a plugin that never answers would grow the map without bound.
        let _forget = ForgetOnDrop { p, id: &id };
        // Requests wait for queue space (they must not be lost); a dead writer means the
        // plugin is going away and `kill` answers the waiter.
        if !p.queue_request(frame).await {
            return Reply::Terminated;
        }
        rx.await.unwrap_or(Reply::Terminated)
    }

    /// Removes a plugin: kills its process, answers its pending callers with `-4`,
    /// withdraws its registrations and tells subscribers. Safe to call twice.
    pub(crate) fn kill(&self, p: &Arc<Plugin>, level: Level, reason: &str) {
        if p.dead.swap(true, Ordering::SeqCst) {
            // Another kill is under way (its reader saw the plugin exit): the plugin must
            // be out of the list when this one returns too, or a daemon shutdown could
            // return with it still listed.
            lock(&self.inner.state)
                .plugins
                .retain(|x| !Arc::ptr_eq(x, p));
            return;
        }
        let shutting_down = self.is_shutting_down();
        let level = if shutting_down { Level::Debug } else { level };
        self.log(level, &p.source(), &format!("Killing plugin: {reason}"));
        *lock(&p.death) = Some(reason.to_string());
        p.gone.send_replace(Some(reason.to_string()));
        if let Some(k) = lock(&p.kill_tx).take() {
            let _ = k.send(());
        }
        // An emitter waiting for room in this plugin's queue must stop waiting.
        p.note_queue.room.notify_waiters();
        let was_registered = p.manifest().is_some();
        let had_features = p
            .manifest()
            .map(|m| !m.featurebits.is_empty())
            .unwrap_or(false);
        {
            let mut st = lock(&self.inner.state);
            st.plugins.retain(|x| !Arc::ptr_eq(x, p));
            // `plugin start` values go with the plugin; cmdline/config values stay.
            if let Some(m) = p.manifest() {
                for o in &m.options {
                    if let Some(v) = st.values.get_mut(&o.name) {
                        v.retain(|x| x.source != "pluginstart");
                    }
                }
            }
        }
        // Only now the -4s: a caller that hears its plugin died and calls again must find
        // the methods withdrawn (lightningd does both in one step, destroy_plugin).
        let pending: Vec<Pending> = lock(&p.pending).drain().map(|(_, v)| v).collect();
        for w in pending {
            let _ = w.tx.send(Reply::Terminated);
        }
        if shutting_down {
            return;
        }
        self.refresh_custommsgs();
        if had_features {
            self.emit(HostEvent::FeaturesChanged(self.features()));
        }
        if was_registered {
            self.notify("plugin_stopped", self.plugin_info(p));
            self.emit(HostEvent::PluginsChanged);
        }
        if p.important.load(Ordering::SeqCst) {
            self.log(
                Level::Broken,
                HOST,
                "Plugin marked as important, shutting down lightningd!",
            );
            self.emit(HostEvent::ImportantPluginDied {
                path: p.path.clone(),
                reason: reason.to_string(),
            });
        }
    }

    /// `{"plugin_name","plugin_path","methods"}` for plugin_started/stopped.
    pub(crate) fn plugin_info(&self, p: &Plugin) -> Value {
        let methods: Vec<String> = p
            .manifest()
            .map(|m| m.methods.iter().map(|x| x.name.clone()).collect())
            .unwrap_or_default();
        json!({"plugin_name": p.name, "plugin_path": p.path, "methods": methods})
    }

    /// Recomputes the custommessages union of initialized plugins and announces changes.
    pub(crate) fn refresh_custommsgs(&self) {
        let mut all: Vec<u16> = self
            .registered()
            .iter()
            .filter(|p| p.state() == PState::InitComplete)
            .filter_map(|p| p.manifest().map(|m| m.custommessages.clone()))
            .flatten()
            .collect();
        all.sort_unstable();
        all.dedup();
        let changed = {
            let mut st = lock(&self.inner.state);
            if st.custommsgs != all {
                st.custommsgs = all.clone();
                true
            } else {
                false
            }
        };
        if changed {
            self.emit(HostEvent::CustomMessagesChanged(all));
        }
    }

    /// Our feature bits: the daemon's plus every registered plugin's.
    pub fn features(&self) -> FeatureSet {
        let mut f = self.cfg().feature_set_base;
        for p in self.registered() {
            if let Some(m) = p.manifest() {
                f.union_with(&m.featurebits);
            }
        }
        f
    }

    /// The union of `custommessages` of initialized plugins.
    pub fn custom_messages(&self) -> Vec<u16> {
        lock(&self.inner.state).custommsgs.clone()
    }

    /// `plugin list` entries: every live plugin.
    pub fn list(&self) -> Vec<Value> {
        self.plugins()
            .iter()
            .map(|p| {
                json!({"name": p.path, "active": p.state() == PState::InitComplete,
                       "dynamic": p.dynamic()})
            })
            .collect()
    }
}
