//! The backend seam: the five calls Core Lightning makes to its Bitcoin backend plugins,
//! with typed results.
//!
//! The daemon implements [`PluginCall`] over its plugin host and wraps it in
//! [`JsonBackend`], which turns each plugin reply into the typed result (or a
//! [`BackendError`] that names the method, the reason and the raw reply, as lightningd's
//! `bad response to <method> (<reason>), response was <raw>`).

use std::future::Future;

use bitcoin::{Amount, Block, BlockHash, OutPoint, ScriptBuf, Transaction};
use serde_json::{json, Value};

use crate::reply;

/// `getchaininfo`: which chain the backend is on and how far it has got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainInfo {
    /// BIP70 name: `main`, `test`, `testnet4`, `signet`, `regtest`.
    pub chain: String,
    pub headercount: u32,
    pub blockcount: u32,
    /// Initial block download in progress.
    pub ibd: bool,
}

/// One fee target of `estimatefees`, in sat/kvB as backends report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeTarget {
    pub blocks: u32,
    pub feerate: u32,
}

/// `estimatefees`: the floor and the estimates (both sat/kvB). An empty list means the
/// backend could not estimate; the previous estimates are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeReply {
    pub feerate_floor: u32,
    /// Ascending by `blocks`; a rate above the previous (shorter) target's is lowered to it.
    pub feerates: Vec<FeeTarget>,
}

/// `getrawblockbyheight` when the backend has a block at that height.
#[derive(Debug, Clone)]
pub struct FetchedBlock {
    /// What the backend says the hash is; the poller checks it against the header.
    pub hash: BlockHash,
    pub block: Block,
}

/// `getutxout` for an unspent output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utxo {
    pub amount: Amount,
    pub script: ScriptBuf,
}

/// `sendrawtransaction`: the backend's verdict. A refusal is an answer, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Accepted,
    Refused { errmsg: String },
}

/// Why a backend call gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The call itself failed: no provider, the plugin died, an error reply, no answer.
    #[error("{method} failed: {reason}")]
    Call {
        method: &'static str,
        reason: String,
    },
    /// The plugin answered, but not with something we can use.
    #[error("bad response to {method} ({reason}), response was {response}")]
    BadReply {
        method: &'static str,
        reason: String,
        /// The reply as received, cut to a loggable length.
        response: String,
    },
}

/// A Bitcoin backend: the five calls, async, typed.
///
/// Futures must be `Send` so the poller and the broadcaster can run on any tokio worker.
pub trait Backend: Send + Sync + 'static {
    /// `last_height`: the height we intend to scan from (start-up) or our tip.
    fn getchaininfo(
        &self,
        last_height: u32,
    ) -> impl Future<Output = Result<ChainInfo, BackendError>> + Send;
    fn estimatefees(&self) -> impl Future<Output = Result<FeeReply, BackendError>> + Send;
    /// `Ok(None)`: no block at that height (yet).
    fn getrawblockbyheight(
        &self,
        height: u32,
    ) -> impl Future<Output = Result<Option<FetchedBlock>, BackendError>> + Send;
    /// `Ok(None)`: spent or unknown.
    fn getutxout(
        &self,
        outpoint: OutPoint,
    ) -> impl Future<Output = Result<Option<Utxo>, BackendError>> + Send;
    fn sendrawtransaction(
        &self,
        tx: &Transaction,
        allowhighfees: bool,
    ) -> impl Future<Output = Result<SendOutcome, BackendError>> + Send;
}

/// The daemon's side: call a backend plugin's method with JSON params, get its `result`.
/// `Err` carries why there is no result (the error reply's message, the plugin died, ...).
pub trait PluginCall: Send + Sync + 'static {
    fn call(
        &self,
        method: &'static str,
        params: Value,
    ) -> impl Future<Output = Result<Value, String>> + Send;
}

impl<T: PluginCall> PluginCall for std::sync::Arc<T> {
    fn call(
        &self,
        method: &'static str,
        params: Value,
    ) -> impl Future<Output = Result<Value, String>> + Send {
        (**self).call(method, params)
    }
}

/// A [`Backend`] over plugin replies: params as lightningd sends them, replies checked
/// as lightningd checks them (plus the seed's older `estimatefees` fields).
#[derive(Debug, Clone)]
pub struct JsonBackend<C>(pub C);

impl<C: PluginCall> JsonBackend<C> {
    async fn call(&self, method: &'static str, params: Value) -> Result<Value, BackendError> {
        self.0
            .call(method, params)
            .await
            .map_err(|reason| BackendError::Call { method, reason })
    }
}

impl<C: PluginCall> Backend for JsonBackend<C> {
    async fn getchaininfo(&self, last_height: u32) -> Result<ChainInfo, BackendError> {
        let method = "getchaininfo";
        let v = self
            .call(method, json!({ "last_height": last_height }))
            .await?;
        reply::chain_info(&v).map_err(|reason| reply::bad(method, reason, &v))
    }

    async fn estimatefees(&self) -> Result<FeeReply, BackendError> {
        let method = "estimatefees";
        let v = self.call(method, json!({})).await?;
        reply::fees(&v).map_err(|reason| reply::bad(method, reason, &v))
    }

    async fn getrawblockbyheight(&self, height: u32) -> Result<Option<FetchedBlock>, BackendError> {
        let method = "getrawblockbyheight";
        let v = self.call(method, json!({ "height": height })).await?;
        reply::raw_block(&v).map_err(|reason| reply::bad(method, reason, &v))
    }

    async fn getutxout(&self, outpoint: OutPoint) -> Result<Option<Utxo>, BackendError> {
        let method = "getutxout";
        let params = json!({ "txid": outpoint.txid.to_string(), "vout": outpoint.vout });
        let v = self.call(method, params).await?;
        reply::utxo(&v).map_err(|reason| reply::bad(method, reason, &v))
    }

    async fn sendrawtransaction(
        &self,
        tx: &Transaction,
        allowhighfees: bool,
    ) -> Result<SendOutcome, BackendError> {
        let method = "sendrawtransaction";
        let hex = bitcoin::consensus::encode::serialize_hex(tx);
        let v = self
            .call(method, json!({ "tx": hex, "allowhighfees": allowhighfees }))
            .await?;
        reply::send(&v).map_err(|reason| reply::bad(method, reason, &v))
    }
}
