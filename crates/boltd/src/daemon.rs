//! Start-up and shutdown order (reference §0):
//! early options → [plugins: getmanifest, register options] → `--help` → full options →
//! logging → lock → pid file → hsm_secret / node id → RPC socket listen → [plugins: init;
//! peers: accept] → "Server started" → run until stop/signal → shutdown stages
//! (see `shutdown.rs`) → exit code.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::task::TaskTracker;

use crate::config::{
    builtin_registry, early_parse, full_parse, help_text, Early, Registry, Settings,
};
use crate::node::{default_alias, FeatureSet, Node, PeerSummary, VERSION};
use crate::rpc::server::LiveConns;
use crate::rpc::Dispatcher;
use crate::services::Services;
use crate::shutdown::{Shutdown, Stage};

/// Set in the background child of `--daemon` so it does not fork again.
const DAEMON_ENV: &str = "BOLTD_DAEMONIZED";

fn default_dir() -> String {
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".boltd").display().to_string(),
        None => ".boltd".into(),
    }
}

/// Runtime worker threads: four, unless `BOLTD_WORKER_THREADS` says otherwise.
///
/// Fewer would save context switches (`bench` passthrough at 16 connections: ~1.7 per
/// call with one worker, ~2.0 with two, ~2.4 with four, at the same rate). No worker
/// waits on LDK any more (peer sockets run on the peer layer's own runtime, every other
/// LDK call runs off the workers: `net::off_worker`), so fewer would also be safe.
fn worker_threads() -> usize {
    std::env::var("BOLTD_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(4)
}

/// Runs the daemon with `args` (program name first); returns the process exit code.
pub fn run(args: Vec<String>) -> i32 {
    let builtins = builtin_registry(&default_dir());
    let rest = args.get(1..).unwrap_or_default();
    let early = match early_parse(rest, &builtins) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("boltd: {e}");
            return 1;
        }
    };
    if early.version {
        println!("{VERSION}");
        return 0;
    }
    raise_fd_limit();
    if early.daemon && !early.help && std::env::var_os(DAEMON_ENV).is_none() {
        return daemonize(&args, &early);
    }
    crate::memory::limit_arenas();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads())
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("boltd: cannot start runtime: {e}");
            return 1;
        }
    };
    let code = rt.block_on(async {
        let trim = tokio::spawn(crate::memory::trim_periodically());
        let code = async_main(early, builtins).await;
        trim.abort();
        code
    });
    // Tasks stuck on clients that never read must not delay exit.
    rt.shutdown_timeout(Duration::from_millis(200));
    code
}

async fn async_main(early: Early, builtins: Registry) -> i32 {
    let network_dir = early.network_dir();
    if !early.help {
        if let Err(e) = std::fs::create_dir_all(&network_dir) {
            eprintln!("boltd: creating {}: {e}", network_dir.display());
            return 1;
        }
    }
    let mut registry = builtins;
    // Plugins: spawn, getmanifest, register their options before the full parse.
    let plugins = match crate::plugin_host::load(&early, &mut registry).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("boltd: {e}");
            return 1;
        }
    };

    if early.help {
        print!("{}", help_text(&registry));
        return 0;
    }
    let mut config = match full_parse(&registry, &early) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("boltd: {e}");
            return 1;
        }
    };
    if let Err(e) = crate::plugin_host::apply_values(&plugins.host, &mut config) {
        eprintln!("boltd: {e}");
        return 1;
    }
    let mut settings = Settings::from_config(&config, &early.lightning_dir, &early.network);
    // `--log-level` may be given several times (a default plus per-prefix filters):
    // every occurrence counts, not just the last.
    let levels: Vec<String> = early
        .entries_for(&["log-level"])
        .into_iter()
        .filter_map(|e| e.value)
        .collect();
    (settings.log_level, settings.log_filters) = crate::config::log_levels(&levels);
    let timestamps = config.get_bool("log-timestamps");
    let log = match crate::logging::init(crate::logging::LogOptions {
        level: settings.log_level,
        filters: settings.log_filters.clone(),
        files: &settings.log_files,
        prefix: &settings.log_prefix,
        timestamps,
        base: &network_dir,
    }) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("boltd: {e}");
            return 1;
        }
    };
    for line in crate::config::accepted_lines(&config) {
        tracing::info!("{line}");
    }
    let code = logged_main(&network_dir, config, settings, log.clone(), plugins).await;
    // Whatever the exit path, the last lines (the reason for it among them) reach the
    // log files before the process ends.
    log.flush();
    code
}

/// Start-up once logging works, then the run until exit.
async fn logged_main(
    network_dir: &std::path::Path,
    config: crate::config::Config,
    settings: Settings,
    log: crate::logging::LogHandle,
    plugins: crate::plugin_host::Loaded,
) -> i32 {
    // Plugins and relative paths see the network directory as cwd, like lightningd.
    if let Err(e) = std::env::set_current_dir(network_dir) {
        eprintln!("boltd: chdir {}: {e}", network_dir.display());
        return 1;
    }
    let _lock = match crate::lock::acquire(network_dir) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("boltd: {e}");
            tracing::error!("{e}");
            return 1;
        }
    };
    if let Err(e) = std::fs::write(&settings.pid_file, format!("{}\n", std::process::id())) {
        tracing::error!("writing pid file {}: {e}", settings.pid_file.display());
        return 1;
    }
    let keys = match keys::Keys::load_or_create(network_dir) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("boltd: {e}");
            tracing::error!("{e}");
            return 1;
        }
    };
    if let Err(e) = crate::gossip_store::ensure(network_dir) {
        tracing::error!("creating {}: {e}", crate::gossip_store::FILE);
        return 1;
    }
    let node_id = keys.node_id();
    let id_bytes = node_id.serialize();
    let alias = settings
        .alias
        .clone()
        .unwrap_or_else(|| default_alias(&node_id));
    let color = settings
        .rgb
        .unwrap_or([id_bytes[0], id_bytes[1], id_bytes[2]]);
    // listconfigs shows the derived values as defaults, like lightningd.
    let mut config = config;
    config.registry.set_default("alias", &alias);
    config.registry.set_default("rgb", &hex::encode(color));
    let node = Arc::new(Node {
        alias,
        color,
        config: RwLock::new(config),
        settings,
        keys,
        node_id,
        started_at: SystemTime::now(),
        started_instant: Instant::now(),
        shutdown: Shutdown::new(),
        log,
        peers: RwLock::new(PeerSummary::default()),
        features: RwLock::new(FeatureSet::default()),
        blockheight: Default::default(),
    });
    let code = serve(node.clone(), plugins).await;
    let _ = std::fs::remove_file(&node.settings.pid_file);
    code
}

/// The composition root: every service, then the dispatcher built from them, all before
/// the RPC socket serves anyone; then plugins' `init`, peers, and the run until exit.
///
/// Why no client byte can pass a start-up `rpc_command` hook: the hook is registered
/// when its plugin answers getmanifest (before this runs), and the dispatcher is built
/// with the hook and every builtin before the socket is even bound. The socket must
/// exist during `init` (plugins call the RPC from their `init`, as with lightningd), and
/// every connection, a plugin's included, then goes through the same hook chain, exactly
/// as lightningd runs hooks from getmanifest on.
async fn serve(node: Arc<Node>, plugins: crate::plugin_host::Loaded) -> i32 {
    // Before the socket exists: whoever sees the socket may signal us.
    spawn_signal_handlers(&node);
    let crate::plugin_host::Loaded { host, events } = plugins;
    let services = match build_services(&node, host).await {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("boltd: {e}");
            tracing::error!("{e}");
            return 1;
        }
    };
    let wired = crate::plugin_host::wire(&services, events);
    let dispatcher = match crate::commands::build(&services)
        .and_then(|c| Dispatcher::new(c, Some(wired.methods), Some(wired.hook)))
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!("boltd: {e}");
            tracing::error!("{e}");
            return 1;
        }
    };
    services.commando.serve_with(&dispatcher);
    let rpc_path = node.settings.rpc_path();
    // A relative name is bound relative to the cwd (the network directory), as lightningd
    // does: a deep lightning-dir (test frameworks make them) must not exceed the 108 bytes
    // of a socket address.
    let bind_path = if std::path::Path::new(&node.settings.rpc_file).is_absolute() {
        rpc_path.clone()
    } else {
        PathBuf::from(&node.settings.rpc_file)
    };
    let listener = match crate::rpc::server::bind(
        &bind_path,
        &node.settings.rpc_file,
        node.settings.rpc_file_mode,
    ) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("boltd: {e}");
            tracing::error!("{e}");
            return 1;
        }
    };
    let conns = TaskTracker::new();
    let live = LiveConns::default();
    let server = tokio::spawn(crate::rpc::server::serve(
        listener,
        rpc_path,
        node.clone(),
        dispatcher,
        conns.clone(),
        live.clone(),
    ));
    // The `--daemon` parent returns once the socket answers: stop writing to its pipe.
    if std::env::var_os(DAEMON_ENV).is_some() {
        detach_stderr();
    }
    crate::plugin_host::init(&services).await;
    // Blocks from now on reach every plugin that subscribed (lightningd's begin_topology).
    services.chain.run(node.shutdown.clone());
    services.coin_moves.arm_snapshot();
    // Peers: hooks and notifications go through the plugin host; accept inbound peers
    // from now on (after plugins' `init`, like connectd's activation).
    services.peering.set_host(services.plugins.clone());
    services.channels.set_host(services.plugins.clone());
    // Before peers can open channels; the first write a restart makes, if any.
    services.channels.refill_spare().await;
    crate::channels::tower::spawn(
        &node,
        services.channels.ln.tower.clone(),
        services.plugins.clone(),
    );
    // Payments to us left undecided at the last stop: their hooks need plugins' `init`.
    services.channels.resume_payments();
    // Our payments a kill left pending before anything of them was durable (a write).
    services.sender.fail_unsent().await;
    services.peering.activate();
    crate::peering::reconnect::spawn(
        &node,
        services.peering.clone(),
        services.channels.ln.clone(),
        services.storage.clone(),
    );
    // Last, as in lightningd: scripts and test harnesses (pyln-testing among them) wait
    // for this line to know every start-up plugin has answered `init`.
    tracing::info!(
        "Server started with public key {}, alias {} (color #{}) and version {}",
        node.id_hex(),
        node.alias,
        node.color_hex(),
        VERSION
    );

    node.shutdown.recv().await;
    tracing::info!("Shutting down: {}", node.shutdown.reason());
    // Listener closed and socket file removed.
    let _ = server.await;
    for (name, hook) in node.shutdown.take_hooks() {
        if tokio::time::timeout(Duration::from_secs(35), hook())
            .await
            .is_err()
        {
            tracing::warn!("shutdown step '{name}' timed out");
        }
    }
    node.shutdown.advance(Stage::Closing);
    // Let every other connection finish writing its last replies, so `stop` is last.
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        live.until_at_most(|| node.shutdown.pending_stops()),
    )
    .await;
    node.shutdown.advance(Stage::Done);
    conns.close();
    let _ = tokio::time::timeout(Duration::from_secs(3), conns.wait()).await;
    node.shutdown.exit_code()
}

/// The store, the peer layer, runes and commando: opened after plugins answered
/// getmanifest (migrations reach `db_write` plugins) and bound before the socket (getinfo
/// shows real ports from its first answer; accepting peers waits for `activate`).
async fn build_services(node: &Arc<Node>, host: plugins::PluginHost) -> Result<Services, String> {
    let storage = crate::storage::start(
        node,
        Some(crate::storage::plugin_db_write(host.clone())),
        Some(crate::storage::plugin_db_write_listening(host.clone())),
    )
    .await?;
    let wallet = crate::wallet_wiring::open(node, storage.clone())?;
    let coin_moves = Arc::new(crate::coin_moves::CoinMoves::load(
        node.id_hex(),
        wallet.network(),
        host.clone(),
        storage.clone(),
    )?);
    let chain = Arc::new(
        crate::chain_wiring::start(
            node,
            &host,
            storage.clone(),
            vec![crate::wallet_wiring::as_listener(&wallet, &coin_moves)],
        )
        .await?,
    );
    let spender = Arc::new(crate::wallet_wiring::Spender::new(
        wallet.clone(),
        chain.broadcaster.clone(),
        coin_moves.clone(),
        chain.status.clone(),
    ));
    // Channels before peers: the peer layer takes its handlers from them.
    let (channels, ln_events) = crate::channels::start(node, &storage, &chain, &wallet, &host)?;
    let peering = crate::peering::Peering::start(node, channels.handlers()).await?;
    channels.set_coin_moves(coin_moves.clone());
    // Weak: channels hold the coin moves already.
    let snap = Arc::downgrade(&channels);
    coin_moves.set_channel_accounts(Arc::new(move || {
        snap.upgrade()
            .map(|c| c.snapshot_accounts())
            .unwrap_or_default()
    }));
    let network = crate::invoices::create::network_of(&node.settings.network)
        .ok_or_else(|| format!("unknown network {}", node.settings.network))?;
    let invoices = Arc::new(crate::invoices::Invoices::new(
        storage.clone(),
        node.keys.clone(),
        network,
        host.clone(),
    ));
    let sender = Arc::new(crate::payments::send::Sender::new(
        channels.ln.clone(),
        storage.clone(),
        host.clone(),
        node.keys.node_id(),
        network.into(),
        invoices.clone(),
    ));
    sender.find_unsent().await.map_err(|e| e.to_string())?;
    channels.set_payments(Arc::new(crate::payments::Payments {
        invoices: invoices.clone(),
        sender: sender.clone(),
        receiver: crate::payments::receive::Receiver::new(
            invoices.clone(),
            host.clone(),
            storage.kv_store(),
        ),
        moves: crate::payments::moves::PaymentMoves {
            ln: channels.ln.clone(),
            moves: coin_moves.clone(),
        },
    }));
    invoices.set_route_hints(Arc::new(crate::payments::hints::ChannelHints(
        channels.ln.clone(),
    )));
    let forwards = crate::forwards::Forwards::start(
        channels.ln.clone(),
        storage.clone(),
        host.clone(),
        coin_moves.clone(),
    )
    .await?;
    channels.set_forwards(forwards.clone());
    let ln_loop = channels.run(ln_events, peering.peers.clone());
    crate::gossip::announce::spawn(node.clone(), channels.ln.clone(), peering.peers.clone());
    // The loop writes the channel manager one last time when shutdown starts; exit
    // waits for that write.
    node.shutdown.on_exit(
        "channels",
        Box::new(move || {
            Box::pin(async move {
                let _ = ln_loop.await;
            })
        }),
    );
    let runes = crate::rune_book::start(node, storage.clone()).await?;
    let commando = crate::commando::start(node.clone(), runes.clone(), &peering);
    Ok(Services {
        node: node.clone(),
        storage,
        peering,
        plugins: host,
        runes,
        commando,
        chain,
        wallet,
        channels,
        coin_moves,
        spender,
        invoices,
        sender,
        forwards,
    })
}

fn spawn_signal_handlers(node: &Arc<Node>) {
    for (kind, name) in [
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::terminate(), "SIGTERM"),
    ] {
        let sd = node.shutdown.clone();
        match signal(kind) {
            Ok(mut s) => {
                tokio::spawn(async move {
                    if s.recv().await.is_some() {
                        sd.trigger(&format!("received {name}"), 0);
                    }
                });
            }
            Err(e) => tracing::warn!("cannot watch {name}: {e}"),
        }
    }
    let log = node.log.clone();
    match signal(SignalKind::hangup()) {
        Ok(mut s) => {
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    // Core Lightning's two lines around the reopen (log.c rotate_log).
                    tracing::info!("Ending log due to SIGHUP");
                    log.reopen();
                    tracing::info!("Started log due to SIGHUP");
                }
            });
        }
        Err(e) => tracing::warn!("cannot watch SIGHUP: {e}"),
    }
}

/// In the `--daemon` child once serving: the parent stops relaying our stderr, so point
/// it at /dev/null (writes to a closed pipe would fail).
fn detach_stderr() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        use std::os::unix::io::AsRawFd;
        // SAFETY: dup2 onto fd 2 with a descriptor we own; no memory involved.
        unsafe { libc::dup2(null.as_raw_fd(), 2) };
    }
}

/// Lets the daemon hold many client connections (500 concurrent clients and more).
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// `--daemon`: re-runs this program detached (no fork in a threaded process) and returns
/// once it serves its socket (0) or has exited (its code).
fn daemonize(args: &[String], early: &Early) -> i32 {
    use std::os::unix::process::CommandExt;
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("boltd: cannot find own executable: {e}");
            return 1;
        }
    };
    let mut child = match std::process::Command::new(exe)
        .args(args.get(1..).unwrap_or_default())
        .env(DAEMON_ENV, "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        // Start-up errors still reach the user: we relay them if the child exits early.
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("boltd: cannot start background daemon: {e}");
            return 1;
        }
    };
    let rpc_file = early
        .file_entries
        .iter()
        .chain(&early.cmdline_entries)
        .filter(|e| e.name == "rpc-file")
        .filter_map(|e| e.value.clone())
        .next_back()
        .unwrap_or_else(|| "lightning-rpc".into());
    let sock = early.network_dir().join(rpc_file);
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            if let Some(mut err) = child.stderr.take() {
                let mut text = String::new();
                let _ = std::io::Read::read_to_string(&mut err, &mut text);
                eprint!("{text}");
            }
            return status.code().unwrap_or(1);
        }
        if std::os::unix::net::UnixStream::connect(&sock).is_ok() {
            return 0;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    0
}
