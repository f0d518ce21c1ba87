//! One module per scenario. The pattern every scenario follows:
//!
//! * an `Args` struct (clap `Args` derive) with its own flags, added as a variant of
//!   `Command` in `main.rs`;
//! * `pub async fn run(args: &Args) -> anyhow::Result<Table>`: set up (plugins, peers,
//!   whatever it needs), drive load for `--seconds` from one or more workers that each
//!   return [`crate::stats::Samples`], merge them, and add rows to a
//!   [`crate::stats::Table`] (usually [`crate::stats::Table::latency`]);
//! * no assertions on timing: errors in the setup are errors, slowness is a number.
//!
//! Later scenarios: `passthrough`, `hook`, `notify`, `startup`, `custommsg`, `datastore`.

pub mod channels;
pub mod custommsg;
pub mod datastore;
pub mod forwards;
pub mod payments;
pub mod peerwire;
pub mod plugins;
pub mod rpc;
pub mod runes;
pub mod wallet;

use crate::stats::{Samples, Summary};
use std::future::Future;
use std::time::{Duration, Instant};

/// Runs `workers` copies of `worker` concurrently until `seconds` have passed and returns
/// the merged samples with the wall time. Each worker gets its index and the deadline.
pub async fn drive<F, Fut>(workers: usize, seconds: f64, worker: F) -> anyhow::Result<Summary>
where
    F: Fn(usize, Instant) -> Fut,
    Fut: Future<Output = anyhow::Result<Samples>> + Send + 'static,
{
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let handles: Vec<_> = (0..workers)
        .map(|i| tokio::spawn(worker(i, deadline)))
        .collect();
    let mut all = Samples::default();
    for h in handles {
        all.merge(h.await??);
    }
    Ok(Summary::new(all, start.elapsed()))
}
