//! devchain owns a regtest chain for development and tests: bitcoind's JSON-RPC subset over
//! HTTP (cookie or user/password auth), mining with real regtest proof of work, a strict
//! mempool (scripts through `bitcoinconsensus`, locktimes, BIP68, coinbase maturity, double
//! spends, fees, standardness) with bitcoind's error codes and reject reasons, reorgs through
//! `invalidateblock`/`reconsiderblock`, a faucet (`sendtoaddress`), and its state on disk.
//!
//! Must not touch: boltd. It is a separate binary any node (or test) can use; `bcli` talks
//! to it exactly as to bitcoind.
//!
//! Where it differs from bitcoind (26.0, regtest):
//! - `libbitcoinconsensus` reports only *that* a script failed, so the text inside
//!   `mandatory-script-verify-flag-failed (…)` is inferred from the spend's shape (witness
//!   program mismatch, Schnorr signature, false stack); policy-only script flags (low S,
//!   clean stack, minimal pushes) are not enforced, so `non-mandatory-script-verify-flag`
//!   never appears.
//! - No peers, no packages (`testmempoolaccept` judges each transaction alone), no mempool
//!   size limit or eviction, no sigop limits.
//! - The wallet is one faucet key (`getnewaddress` always returns its address);
//!   `subtractfeefromamount` is refused.
//! - JSON-RPC 2.0 requests get bitcoind 28's 2.0 replies; 1.0 requests get 26's.
//! - `-daemon` is not supported: it always runs in the foreground (ready when the RPC answers).
//!
//! Start one in-process on a random port in a directory:
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let chain = devchain::DevChain::spawn(dir.path()).unwrap();
//! chain.mine(101).unwrap();
//! chain.fund("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", bitcoin::Amount::from_sat(150_000)).unwrap();
//! chain.mine(1).unwrap();
//! let mut rpc = chain.client(); // or any bitcoind client: chain.rpc_url, chain.user, chain.password
//! assert_eq!(rpc.call("getblockcount", serde_json::json!([])).unwrap(), 102);
//! ```

pub mod accept;
pub mod chain;
pub mod cli;
pub mod client;
pub mod faucet;
pub mod http;
pub mod json;
pub mod mempool;
pub mod miner;
pub mod node;
pub mod params;
pub mod rpc;
pub mod server;
mod spawn;
pub mod store;

pub use client::{Client, ClientError};
pub use server::{Config, Server};
pub use spawn::{DevChain, DevChainProcess, SpawnError};
