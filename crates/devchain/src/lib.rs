//! devchain owns a regtest chain for development and tests: bitcoind's JSON-RPC subset over
//! HTTP (cookie or user/password auth), mining with real regtest proof of work, a strict
//! mempool (scripts through `bitcoinconsensus`, locktimes, BIP68, coinbase maturity, double
//! spends, fees, standardness) with bitcoind's error codes and reject reasons, reorgs through
//! `invalidateblock`/`reconsiderblock`, a faucet (`sendtoaddress`), and its state on disk.
//!
//! Must not touch: boltd. It is a separate binary any node (or test) can use; `bcli` talks
//! to it exactly as to bitcoind.
//!
//! Start one in-process on a random port in a directory:
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let chain = devchain::DevChain::spawn(dir.path()).unwrap();
//! let mut rpc = chain.client();
//! let addr = rpc.call("getnewaddress", serde_json::json!([])).unwrap();
//! rpc.call("generatetoaddress", serde_json::json!([101, addr])).unwrap();
//! assert_eq!(rpc.call("getblockcount", serde_json::json!([])).unwrap(), 101);
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
