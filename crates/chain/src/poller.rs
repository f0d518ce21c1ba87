//! The block poller, in Core Lightning's style: `getchaininfo` each interval, then every
//! block from our tip + 1 up to the backend's count, each checked and handed to the
//! listeners; a block that does not build on our tip starts a walk back to the fork point.
//!
//! Whatever the backend sends, the poller does not panic: a bad answer is an error for
//! this round (logged by [`Poller::run`]) and the next round tries again.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bitcoin::{BlockHash, Weight};
use tokio::sync::watch;

use crate::backend::{Backend, BackendError, FetchedBlock};
use crate::fees::Fees;
use crate::listener::{BlockRef, ChainListener, HashChange, HashStore, HashStoreError};

/// How the poller runs.
#[derive(Debug, Clone)]
pub struct PollerConfig {
    /// The BIP70 name we expect the backend to be on (`main`, `test`, `regtest`, ...).
    pub network: String,
    /// Between rounds (Core Lightning: 30 s; tests 1 s).
    pub interval: Duration,
    /// On a fresh start, begin this many blocks below the backend's tip (that block is
    /// the root: stored, not announced).
    pub rescan: u32,
    /// Recent block hashes kept (and persisted) to find fork points.
    pub keep: usize,
}

impl PollerConfig {
    pub fn new(network: impl Into<String>) -> Self {
        PollerConfig {
            network: network.into(),
            interval: Duration::from_secs(30),
            rescan: 0,
            keep: 100,
        }
    }
}

/// What the rest of the node may want to know about the chain (`getinfo`, waits).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainStatus {
    /// Our tip; `None` until the first round rooted the chain.
    pub tip: Option<BlockRef>,
    /// The backend is out of initial block download and has every block it has headers for.
    pub backend_synced: bool,
    /// We have every block the backend had at the last round.
    pub caught_up: bool,
}

/// Why a round stopped early. Every variant is retried next round except `WrongNetwork`,
/// which stays wrong (the daemon checks the first round and refuses to start).
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(
        "Wrong network! Our Bitcoin backend is running on '{backend}', but we expect '{ours}'."
    )]
    WrongNetwork { backend: String, ours: String },
    #[error("bad block at height {height}: {reason}")]
    BadBlock { height: u32, reason: String },
    #[error("backend has no block at height {0}, though it just said it has")]
    Missing(u32),
    #[error("backend's chain changed at height {0} while we looked for the fork point")]
    Moved(u32),
    #[error("reorg deeper than the blocks we keep (fork below height {0})")]
    TooDeep(u32),
    #[error(transparent)]
    Store(#[from] HashStoreError),
}

/// A listener and the last block it has (`None`: it takes the chain from whenever it
/// joined). Tracking it per listener lets a listener that persists on its own schedule
/// (LDK's ChannelManager, the wallet) join at its own block: behind our tip it is caught
/// up, one block ahead (a crash between its write and ours) it is not told that block
/// twice.
struct Follower {
    listener: Arc<dyn ChainListener>,
    best: Option<BlockRef>,
}

/// Polls a [`Backend`] and applies its chain to the listeners.
pub struct Poller<B> {
    backend: Arc<B>,
    store: Box<dyn HashStore>,
    listeners: Vec<Follower>,
    /// Joined at their own best block and not yet brought to our tip.
    behind: Vec<Follower>,
    /// Our chain's last `keep` blocks, contiguous, ascending; the back is the tip.
    recent: VecDeque<BlockRef>,
    fees: Arc<Fees>,
    status: watch::Sender<ChainStatus>,
    config: PollerConfig,
}

impl<B: Backend> Poller<B> {
    /// Resumes from the hashes in `store` (our tip is the highest one).
    pub fn new(
        backend: Arc<B>,
        store: Box<dyn HashStore>,
        fees: Arc<Fees>,
        config: PollerConfig,
    ) -> Result<Self, ChainError> {
        let mut loaded = store.load()?;
        loaded.sort_by_key(|b| b.height);
        // Only the run that ends at the tip is usable: a gap would make a fork point up.
        let mut recent: VecDeque<BlockRef> = VecDeque::new();
        for b in loaded.into_iter().rev() {
            match recent.front() {
                Some(f) if f.height != b.height + 1 => break,
                _ => recent.push_front(b),
            }
        }
        let (status, _) = watch::channel(ChainStatus {
            tip: recent.back().copied(),
            ..ChainStatus::default()
        });
        Ok(Poller {
            backend,
            store,
            listeners: Vec::new(),
            behind: Vec::new(),
            recent,
            fees,
            status,
            config,
        })
    }

    /// A listener that takes the chain from now on (it has no blocks of its own).
    pub fn add_listener(&mut self, listener: Arc<dyn ChainListener>) {
        self.listeners.push(Follower {
            listener,
            best: None,
        });
    }

    /// A listener that has applied every block up to `best` (its own persisted best
    /// block). Before the next block reaches anyone, [`Poller::sync`] brings it to our
    /// tip: the blocks it lacks are fetched from the backend (`getrawblockbyheight`)
    /// and replayed to it alone; if `best` is no longer on the backend's chain it is
    /// first told the block below it is the fork point (all a lone best block can say;
    /// LDK's listeners assume the same). Ahead of our tip (we crashed between its write
    /// and ours) it is not told those blocks again.
    pub fn add_listener_at(&mut self, listener: Arc<dyn ChainListener>, best: BlockRef) {
        self.behind.push(Follower {
            listener,
            best: Some(best),
        });
    }

    pub fn tip(&self) -> Option<BlockRef> {
        self.recent.back().copied()
    }

    /// Follow the chain's status (tip height for `getinfo`, sync state).
    pub fn status(&self) -> watch::Receiver<ChainStatus> {
        self.status.subscribe()
    }

    pub fn fees(&self) -> &Arc<Fees> {
        &self.fees
    }

    /// Rounds until shutdown: blocks until nothing new, then fees, then the interval.
    /// Errors are logged and the next round tries again.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            loop {
                match self.sync().await {
                    Ok(0) => break,
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::warn!("{e}; retrying in {:?}", self.config.interval);
                        break;
                    }
                }
            }
            self.poll_fees().await;
            // Shutdown first: a round that ends while the runtime is shutting down must not
            // poll a timer (tokio panics on a timer whose driver is gone).
            tokio::select! {
                biased;
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(self.config.interval) => {}
            }
        }
    }

    /// One `estimatefees`; a failure keeps the previous estimates.
    pub async fn poll_fees(&mut self) {
        match self.backend.estimatefees().await {
            Ok(reply) => {
                self.fees.update(&reply);
            }
            Err(e) => tracing::warn!("{e}; keeping the previous fee estimates"),
        }
    }

    /// One round: returns how many blocks were connected.
    pub async fn sync(&mut self) -> Result<u32, ChainError> {
        let last = self.tip().map_or(0, |t| t.height);
        let info = self.backend.getchaininfo(last).await?;
        if info.chain != self.config.network {
            return Err(ChainError::WrongNetwork {
                backend: info.chain,
                ours: self.config.network.clone(),
            });
        }
        let backend_synced = !info.ibd && info.headercount == info.blockcount;
        let was_synced = self.status.borrow().backend_synced;
        if info.ibd {
            tracing::info!("Waiting for initial block download (this can take a while!)");
        } else if !backend_synced {
            tracing::info!(
                "Waiting for bitcoind to catch up ({} blocks of {})",
                info.blockcount,
                info.headercount
            );
        } else if !was_synced && self.tip().is_some() {
            tracing::info!("Bitcoin backend now synced.");
        }
        self.status
            .send_modify(|s| s.backend_synced = backend_synced);

        let tip = match self.tip() {
            Some(t) => t,
            None => {
                self.root(info.blockcount.saturating_sub(self.config.rescan))
                    .await?
            }
        };
        self.catch_up(tip).await?;
        if info.blockcount < tip.height {
            tracing::warn!(
                "bitcoind has gone backwards from {} to {} blocks, waiting...",
                tip.height,
                info.blockcount
            );
            return Ok(0);
        }

        let mut connected = 0;
        // A backend claiming the last possible height has nothing after it.
        let Some(mut height) = tip.height.checked_add(1) else {
            return Ok(0);
        };
        while height <= info.blockcount {
            let Some(fetched) = self.fetch(height).await? else {
                break;
            };
            let tip = self.tip().ok_or(ChainError::TooDeep(height))?;
            if fetched.block.header.prev_blockhash == tip.hash {
                self.connect(height, fetched)?;
                connected += 1;
                let Some(next) = height.checked_add(1) else {
                    break;
                };
                height = next;
            } else {
                let fork = self
                    .find_fork(height - 1, fetched.block.header.prev_blockhash)
                    .await?;
                self.disconnect(fork)?;
                height = fork.height + 1;
            }
        }
        let caught_up = self.tip().is_some_and(|t| t.height >= info.blockcount);
        self.status.send_modify(|s| s.caught_up = caught_up);
        Ok(connected)
    }

    /// The first block of a fresh chain: stored, not announced (lightningd's root).
    async fn root(&mut self, height: u32) -> Result<BlockRef, ChainError> {
        let fetched = self
            .fetch(height)
            .await?
            .ok_or(ChainError::Missing(height))?;
        let root = BlockRef {
            height,
            hash: fetched.hash,
        };
        self.store.apply(&HashChange {
            add: vec![root],
            ..HashChange::default()
        })?;
        self.recent.push_back(root);
        self.status.send_modify(|s| s.tip = Some(root));
        tracing::info!("starting at block {height} ({})", root.hash);
        Ok(root)
    }

    /// A block from the backend, checked against itself and the height we asked for.
    async fn fetch(&self, height: u32) -> Result<Option<FetchedBlock>, ChainError> {
        let Some(fetched) = self.backend.getrawblockbyheight(height).await? else {
            return Ok(None);
        };
        check_block(height, &fetched).map_err(|reason| ChainError::BadBlock { height, reason })?;
        Ok(Some(fetched))
    }

    /// Brings every listener that joined at its own block to `tip` (see
    /// [`Poller::add_listener_at`]). A listener stays behind (and is retried next round)
    /// until it is caught up; what it was already told is remembered.
    async fn catch_up(&mut self, tip: BlockRef) -> Result<(), ChainError> {
        while let Some(mut f) = self.behind.pop() {
            let result = self.catch_up_one(&mut f, tip).await;
            match result {
                Ok(()) => self.listeners.push(f),
                Err(e) => {
                    self.behind.push(f);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    async fn catch_up_one(&self, f: &mut Follower, tip: BlockRef) -> Result<(), ChainError> {
        let Some(best) = f.best else {
            return Ok(());
        };
        if best == tip {
            return Ok(());
        }
        if self.backend_hash(best.height).await? != Some(best.hash) {
            // Its block is not on the chain any more.
            let fork = if best.height > tip.height {
                tip
            } else {
                let height = best.height.saturating_sub(1);
                let hash = self
                    .backend_hash(height)
                    .await?
                    .ok_or(ChainError::Missing(height))?;
                BlockRef { height, hash }
            };
            tracing::info!(
                "a listener's block {} ({}) is gone; fork point {}",
                best.height,
                best.hash,
                fork.height
            );
            f.listener.blocks_disconnected(fork);
            f.best = Some(fork);
        }
        let Some(mut have) = f.best else {
            return Ok(());
        };
        if have.height < tip.height {
            tracing::info!(
                "catching a listener up from block {} to {}",
                have.height,
                tip.height
            );
        }
        while have.height < tip.height {
            let height = have.height + 1;
            let fetched = self
                .fetch(height)
                .await?
                .ok_or(ChainError::Missing(height))?;
            if fetched.block.header.prev_blockhash != have.hash {
                return Err(ChainError::Moved(height));
            }
            f.listener.block_connected(&fetched.block, height);
            have = BlockRef {
                height,
                hash: fetched.hash,
            };
            f.best = Some(have);
        }
        Ok(())
    }

    /// The hash of the block at `height` on the backend's chain (our window when it has
    /// the height: it is the backend's chain as of our last round).
    async fn backend_hash(&self, height: u32) -> Result<Option<BlockHash>, ChainError> {
        if let Some(h) = self.hash_at(height) {
            return Ok(Some(h));
        }
        Ok(self.fetch(height).await?.map(|f| f.hash))
    }

    fn hash_at(&self, height: u32) -> Option<BlockHash> {
        let first = self.recent.front()?.height;
        let i = usize::try_from(height.checked_sub(first)?).ok()?;
        self.recent.get(i).map(|b| b.hash)
    }

    /// Walk down from `height`, where the backend's chain has `expected`, until our hash
    /// at that height is the backend's: that is the fork point.
    async fn find_fork(
        &self,
        mut height: u32,
        mut expected: BlockHash,
    ) -> Result<BlockRef, ChainError> {
        loop {
            match self.hash_at(height) {
                Some(ours) if ours == expected => return Ok(BlockRef { height, hash: ours }),
                Some(_) if height > 0 => {}
                _ => return Err(ChainError::TooDeep(height)),
            }
            let fetched = self
                .fetch(height)
                .await?
                .ok_or(ChainError::Missing(height))?;
            if fetched.hash != expected {
                return Err(ChainError::Moved(height));
            }
            expected = fetched.block.header.prev_blockhash;
            height -= 1;
        }
    }

    fn connect(&mut self, height: u32, fetched: FetchedBlock) -> Result<(), ChainError> {
        let added = BlockRef {
            height,
            hash: fetched.hash,
        };
        let parent = self.tip();
        for f in &mut self.listeners {
            match f.best {
                // Ahead of us since before a crash: it has this height already.
                Some(b) if b.height > height => continue,
                Some(b) if b == added => continue,
                // It has another block at this height (ours changed while it was ahead).
                Some(b) if b.height == height => {
                    if let Some(parent) = parent {
                        f.listener.blocks_disconnected(parent);
                    }
                    f.listener.block_connected(&fetched.block, height);
                }
                _ => f.listener.block_connected(&fetched.block, height),
            }
            f.best = Some(added);
        }
        let keep = self.config.keep.max(1);
        // The window slides: the store keeps exactly what `recent` keeps.
        let span = u32::try_from(keep - 1).unwrap_or(u32::MAX);
        let remove_below = height.checked_sub(span).filter(|h| *h > 0);
        // Listeners first, then the store: a crash in between re-delivers this block on
        // restart rather than skipping it.
        self.store.apply(&HashChange {
            add: vec![added],
            remove_below,
            ..HashChange::default()
        })?;
        self.recent.push_back(added);
        while self.recent.len() > keep {
            self.recent.pop_front();
        }
        self.status.send_modify(|s| s.tip = Some(added));
        tracing::debug!("Adding block {height}: {}", added.hash);
        Ok(())
    }

    fn disconnect(&mut self, fork: BlockRef) -> Result<(), ChainError> {
        if let Some(old) = self.tip() {
            tracing::info!(
                "Reorg: blocks {}..={} replaced; fork point {} ({})",
                fork.height + 1,
                old.height,
                fork.height,
                fork.hash
            );
        }
        for f in &mut self.listeners {
            if f.best.is_none_or(|b| b.height > fork.height) {
                f.listener.blocks_disconnected(fork);
                f.best = Some(fork);
            }
        }
        self.store.apply(&HashChange {
            remove_above: Some(fork.height),
            ..HashChange::default()
        })?;
        while self.recent.back().is_some_and(|b| b.height > fork.height) {
            self.recent.pop_back();
        }
        self.status.send_modify(|s| s.tip = Some(fork));
        Ok(())
    }
}

/// What a block must be before anyone sees it: the hash the backend named, transactions
/// that match the header (merkle root, witness commitment), within consensus weight, and
/// (where BIP34 applies) the height we asked for.
pub fn check_block(height: u32, fetched: &FetchedBlock) -> Result<(), String> {
    let block = &fetched.block;
    let hash = block.block_hash();
    if hash != fetched.hash {
        return Err(format!(
            "backend named it {} but its header hashes to {hash}",
            fetched.hash
        ));
    }
    if block.weight() > Weight::MAX_BLOCK {
        return Err(format!("weight {} is over the limit", block.weight()));
    }
    if !block.check_merkle_root() {
        return Err("merkle root does not match its transactions".into());
    }
    if !block.check_witness_commitment() {
        return Err("witness commitment does not match (witnesses stripped?)".into());
    }
    if let Ok(bip34) = block.bip34_block_height() {
        if bip34 != u64::from(height) {
            return Err(format!(
                "asked for height {height}, got the block of height {bip34}"
            ));
        }
    }
    Ok(())
}
