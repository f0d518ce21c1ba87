//! `fundpsbt satoshi feerate startweight [minconf] [reserve] [locktime]
//! [min_witness_weight] [excess_as_change] [nonwrapped] [opening_anchor_channel]` and the
//! parts `utxopsbt` shares (wallet reference §2.3).

use std::sync::Arc;

use chain::Fees;
use jsonrpc::{Bound, Param, RpcError};
use serde_json::{json, Map, Value};
use wallet::{FundRequest, Funded};

use super::reserveinputs::reservations_json;
use super::wallet_params as p;
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};
use crate::wallet_wiring::Spender;

const PARAMS: &[Param] = &[
    Param::req("satoshi"),
    Param::req("feerate"),
    Param::req("startweight"),
    Param::opt("minconf"),
    Param::opt("reserve"),
    Param::opt("locktime"),
    Param::opt("min_witness_weight"),
    Param::opt("excess_as_change"),
    Param::opt("nonwrapped"),
    Param::opt("opening_anchor_channel"),
];

pub struct Fundpsbt {
    pub spender: Arc<Spender>,
    pub fees: Arc<Fees>,
}

fn u32_param(b: &Bound, name: &str) -> Result<Option<u32>, RpcError> {
    b.u64(name)?
        .map(|v| {
            u32::try_from(v).map_err(|_| {
                jsonrpc::params::bad_token(name, "should be a 32 bit integer", &json!(v))
            })
        })
        .transpose()
}

/// The parameters both commands share.
pub fn fund_request(b: &Bound, fees: &Fees) -> Result<FundRequest, RpcError> {
    let satoshi = b.get("satoshi").cloned().unwrap_or(Value::Null);
    let satoshi = if satoshi.as_str() == Some("all") {
        None
    } else {
        Some(p::amount("satoshi", &satoshi)?)
    };
    let feerate = p::feerate("feerate", b.get("feerate").unwrap_or(&Value::Null), fees)?;
    Ok(FundRequest {
        satoshi,
        feerate_per_kw: u64::from(feerate),
        startweight: b.u64("startweight")?.unwrap_or(0),
        minconf: 1,
        reserve: wallet::DEFAULT_RESERVE,
        utxos: None,
        reserved_ok: false,
        locktime: u32_param(b, "locktime")?,
        min_witness_weight: b.u64("min_witness_weight")?.unwrap_or(0),
        excess_as_change: b.bool("excess_as_change")?.unwrap_or(false),
    })
}

pub fn funded_json(f: &Funded) -> Value {
    let mut m = Map::new();
    m.insert("psbt".into(), json!(f.psbt.to_string()));
    m.insert("feerate_per_kw".into(), json!(f.feerate_per_kw));
    m.insert(
        "estimated_final_weight".into(),
        json!(f.estimated_final_weight),
    );
    m.insert("excess_msat".into(), json!(f.excess.to_sat() * 1000));
    if let Some(n) = f.change_outnum {
        m.insert("change_outnum".into(), json!(n));
    }
    if !f.reservations.is_empty() {
        m.insert(
            "reservations".into(),
            reservations_json(&f.reservations)["reservations"].clone(),
        );
    }
    Value::Object(m)
}

fn request(ctx: &Context, fees: &Fees) -> Result<FundRequest, RpcError> {
    let b = ctx.bind(PARAMS)?;
    let mut req = fund_request(&b, fees)?;
    req.minconf = u32_param(&b, "minconf")?.unwrap_or(1);
    req.reserve = u32_param(&b, "reserve")?.unwrap_or(wallet::DEFAULT_RESERVE);
    b.bool("nonwrapped")?;
    b.bool("opening_anchor_channel")?;
    Ok(req)
}

/// Runs a fund request on the wallet; errors as lightningd's.
pub async fn fund(spender: &Spender, req: FundRequest) -> CmdResult {
    let synced = spender.synced();
    let funded = crate::wallet_wiring::blocking(&spender.wallet, move |w| w.fund_psbt(&req))
        .await?
        .map_err(|e| p::spend_error(e, synced))?;
    Ok(Reply::Result(funded_json(&funded)))
}

impl Command for Fundpsbt {
    fn name(&self) -> &'static str {
        "fundpsbt"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        request(ctx, &self.fees).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let spender = self.spender.clone();
        let fees = self.fees.clone();
        Box::pin(async move {
            let req = request(&ctx, &fees)?;
            fund(&spender, req).await
        })
    }
}
