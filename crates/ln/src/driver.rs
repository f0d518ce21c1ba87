//! The event loop, after `lightning-background-processor`'s `process_events_async`: LDK
//! events (funding handled here, every event also handed to the daemon), persisting the
//! channel manager whenever it asks, and the periodic work (manager ticks, claim
//! rebroadcasts, sweeps, graph pruning and persistence, scorer persistence, archiving
//! resolved monitors). The peer manager's own tick stays with the peer layer (it counts
//! its ticks to report handshake timeouts), so the loop is given its `process_events`.
//!
//! Why not `process_events_async` itself: it insists on driving the `PeerManager`'s
//! timer, which the `net` crate must own.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lightning::events::{Event, ReplayEvent};
use lightning::routing::scoring::ScoreUpdate;
use lightning::util::persist::{
    SCORER_PERSISTENCE_KEY, SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
    SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
};
use lightning::util::ser::Writeable;
use tokio::time::{interval, Instant, MissedTickBehavior};

use crate::handoff::LnEvent;
use crate::node::{write_graph, Ln};

/// LDK's `FRESHNESS_TIMER`.
const FRESHNESS: Duration = Duration::from_secs(60);
const REBROADCAST: Duration = Duration::from_secs(30);
const SWEEP: Duration = Duration::from_secs(30);
const FIRST_PRUNE: Duration = Duration::from_secs(60);
const PRUNE: Duration = Duration::from_secs(60 * 60);
const SCORER_PERSIST: Duration = Duration::from_secs(5 * 60);
const ARCHIVE: Duration = Duration::from_secs(10 * 60);
/// How often the loop wakes without a reason. HTLCs are not batched to it: the manager
/// wakes the loop when they need processing, and they are processed at once (LDK's own
/// loop adds a random delay of tens of ms for forwarding privacy; see README, Payments).
const IDLE: Duration = Duration::from_millis(100);
/// How often the manager is written, if it changed, while the daemon handles an event.
const PERSIST_DURING_EVENTS: Duration = Duration::from_millis(5);
/// How long a change the manager asks to write waits while events are being handled, so
/// that the changes of the next few handlers share its write.
const BATCH_DURING_EVENTS: Duration = Duration::from_millis(1);

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl Ln {
    fn persist_graph_and_scorer(&self) {
        if let Err(e) = write_graph(&self.config.graph_path, &self.graph) {
            tracing::warn!("writing {}: {e}", self.config.graph_path.display());
        }
        let scorer = match self.scorer.read() {
            Ok(s) => s.encode(),
            Err(p) => p.into_inner().encode(),
        };
        if let Err(e) = self.kv.write(
            SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
            SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
            SCORER_PERSISTENCE_KEY,
            scorer,
        ) {
            tracing::warn!("persisting the scorer: {e}");
        }
    }

    /// One event: funding first, then to the daemon, whose answer is LDK's (an event is
    /// consumed only once the daemon has recorded it).
    async fn dispatch(&self, event: Event) -> Result<(), ReplayEvent> {
        self.handle_funding_event(&event)?;
        let (handoff, verdict) = LnEvent::new(event);
        if self.events.send(handoff).is_err() {
            // Nobody consumes events any more (shutdown): keep it for the next start.
            return Err(ReplayEvent());
        }
        let v = match verdict.await {
            Ok(v) => v,
            Err(_) => {
                tracing::warn!("an LDK event went unanswered; it will be handed over again");
                Err(ReplayEvent())
            }
        };
        self.flush_messages();
        v
    }

    /// Hands every pending event of the manager, the chain monitor and the onion messenger
    /// to [`Ln::dispatch`], one at a time.
    async fn process_events(self: Arc<Self>) {
        let me = self.clone();
        self.manager
            .process_pending_events_async(|e| {
                let me = me.clone();
                async move { me.dispatch(e).await }
            })
            .await;
        let me = self.clone();
        self.chain_monitor
            .process_pending_events_async(|e| {
                let me = me.clone();
                async move { me.dispatch(e).await }
            })
            .await;
        let me = self.clone();
        self.onion
            .process_pending_events_async(|e| {
                let me = me.clone();
                Box::pin(async move { me.dispatch(e).await })
            })
            .await;
    }

    /// [`Ln::persist_if_needed`], once the reads from peers in progress have handed their
    /// messages over, if monitor operations wait (read_gate.rs).
    async fn persist_when_reads_are_done(&self) {
        if self.chain_monitor.pending_operation_count() > 0 {
            self.reads.quiet(crate::read_gate::MAX_HOLD).await;
        }
        self.persist_if_needed();
    }

    /// Hands the pending events over; meanwhile (the daemon's answers can take a while:
    /// store writes, plugins) channels move on (peer messages), and their monitor updates
    /// wait for a manager write (write_order.rs): writes it [`BATCH_DURING_EVENTS`] after
    /// the manager asks, and at least every [`PERSIST_DURING_EVENTS`]. True if a wake-up
    /// of the manager's was consumed here.
    ///
    /// Why not at once: the handlers' own changes (a claim per `PaymentClaimable`, each
    /// with its monitor update) come one event after the other. Written at once, each
    /// claim got a commit of its own, one after the other; held for the batch, they share
    /// one. The loop writes as soon as the events are handled.
    async fn handle_events_persisting(self: &Arc<Self>) -> bool {
        let events = self.clone().process_events();
        tokio::pin!(events);
        let mut woke = false;
        let mut due: Option<Instant> = None;
        loop {
            let batch_over = async {
                match due {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut events => return woke,
                _ = self.manager.get_event_or_persistence_needed_future() => {
                    woke = true;
                    due.get_or_insert_with(|| Instant::now() + BATCH_DURING_EVENTS);
                }
                _ = batch_over => {
                    due = None;
                    self.persist_when_reads_are_done().await;
                }
                _ = tokio::time::sleep(PERSIST_DURING_EVENTS) => {
                    self.persist_when_reads_are_done().await;
                }
            }
        }
    }

    /// Runs the loop until `stop` resolves; persists the manager, graph and scorer last.
    /// `after_events` is the peer layer's `process_events` (sends what handling queued).
    pub async fn run<S, P>(self: Arc<Self>, after_events: P, stop: S)
    where
        S: Future<Output = ()>,
        P: Fn(),
    {
        tokio::pin!(stop);
        self.manager.timer_tick_occurred();
        self.chain_monitor.rebroadcast_pending_claims();
        let start = Instant::now();
        let every = |d: Duration| {
            let mut i = interval(d);
            i.set_missed_tick_behavior(MissedTickBehavior::Delay);
            i
        };
        let mut freshness = every(FRESHNESS);
        let mut rebroadcast = every(REBROADCAST);
        let mut sweep = every(SWEEP);
        let mut scorer = every(SCORER_PERSIST);
        let mut archive = every(ARCHIVE);
        let mut prune = tokio::time::interval_at(start + FIRST_PRUNE, PRUNE);
        // The first tick of an interval is immediate; these were just done.
        freshness.tick().await;
        rebroadcast.tick().await;
        sweep.tick().await;
        scorer.tick().await;
        archive.tick().await;
        loop {
            let woke = self.handle_events_persisting().await;
            after_events();
            if self.manager.needs_pending_htlc_processing() {
                let watch = self.htlc_watch.get();
                let again = watch.is_some_and(|w| w.before_forwards(&self.manager.list_channels()));
                self.manager.process_pending_htlc_forwards();
                if let (true, Some(w)) = (again, watch) {
                    w.after_forwards(&self.manager.list_channels());
                }
            }

            // A wake-up consumed while events were handled may stand for new events or
            // HTLCs: go round again at once rather than wait for the next one.
            let stopped = tokio::select! {
                _ = &mut stop => true,
                _ = std::future::ready(()), if woke => false,
                _ = self.manager.get_event_or_persistence_needed_future() => false,
                _ = self.chain_monitor.get_update_future() => false,
                _ = self.onion.get_update_future() => false,
                _ = tokio::time::sleep(IDLE) => false,
                _ = freshness.tick() => { self.manager.timer_tick_occurred(); false }
                _ = rebroadcast.tick() => { self.chain_monitor.rebroadcast_pending_claims(); false }
                _ = sweep.tick() => {
                    let _ = self.sweeper.regenerate_and_broadcast_spend_if_necessary();
                    false
                }
                _ = archive.tick() => {
                    self.chain_monitor.archive_fully_resolved_channel_monitors();
                    false
                }
                _ = prune.tick() => {
                    self.graph.remove_stale_channels_and_tracking_with_time(now().as_secs());
                    self.persist_graph_and_scorer();
                    false
                }
                _ = scorer.tick() => {
                    if let Ok(mut s) = self.scorer.write() {
                        s.time_passed(now());
                    }
                    self.persist_graph_and_scorer();
                    false
                }
            };
            self.persist_when_reads_are_done().await;
            if stopped {
                break;
            }
        }
        if let Err(e) = self.persist_manager() {
            tracing::error!("persisting the channel manager at shutdown: {e}");
        }
        self.persist_graph_and_scorer();
    }
}
