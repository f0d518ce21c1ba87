//! `pay bolt11 [amount_msat] [label] [riskfactor] [maxfeepercent] [retry_for] [maxdelay]
//! [exemptfee] [localinvreqid] [exclude] [maxfee] [description]`: pays a bolt11 invoice
//! on LDK's router and waits for the outcome (CLN's xpay-as-pay shape).

use std::sync::Arc;

use jsonrpc::params::bad_token;
use jsonrpc::{Bound, Param, RpcError};
use serde_json::Value;

use crate::invoices::amount::parse_msat;
use crate::payments::send::{PayRequest, Sender};
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[
    Param::req("bolt11"),
    Param::opt("amount_msat"),
    Param::opt("label"),
    Param::opt("riskfactor"),
    Param::opt("maxfeepercent"),
    Param::opt("retry_for"),
    Param::opt("maxdelay"),
    Param::opt("exemptfee"),
    Param::opt("localinvreqid"),
    Param::opt("exclude"),
    Param::opt("maxfee"),
    Param::opt("description"),
];

pub struct Pay {
    pub sender: Arc<Sender>,
}

pub(crate) fn msat(b: &Bound, name: &str) -> Result<Option<u64>, RpcError> {
    match b.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => parse_msat(v)
            .map(Some)
            .ok_or_else(|| bad_token(name, "should be a millisatoshi amount", v)),
    }
}

pub(crate) fn number(b: &Bound, name: &str) -> Result<Option<f64>, RpcError> {
    match b.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let n = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.parse::<f64>().ok(),
                _ => None,
            };
            n.filter(|n| n.is_finite() && *n >= 0.0)
                .map(Some)
                .ok_or_else(|| bad_token(name, "should be a non-negative floating-point number", v))
        }
    }
}

fn parse(b: &Bound) -> Result<PayRequest, RpcError> {
    let bolt11 = match b.get("bolt11") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => return Err(bad_token("bolt11", "should be a string", v)),
        None => {
            return Err(RpcError::invalid_params(
                "missing required parameter: bolt11",
            ))
        }
    };
    parse_fees(b, bolt11, msat(b, "amount_msat")?)
}

/// The fee, delay and retry parameters `pay` and `keysend` share.
pub fn parse_fees(
    b: &Bound,
    bolt11: String,
    amount_msat: Option<u64>,
) -> Result<PayRequest, RpcError> {
    let maxfee_msat = msat(b, "maxfee")?;
    if maxfee_msat.is_some() && (b.get("maxfeepercent").is_some() || b.get("exemptfee").is_some()) {
        return Err(RpcError::invalid_params(
            "Cannot specify both maxfee and maxfeepercent/exemptfee",
        ));
    }
    number(b, "riskfactor")?;
    let maxdelay = b.u64("maxdelay")?.unwrap_or(2016);
    Ok(PayRequest {
        bolt11,
        amount_msat,
        label: b.str("label")?.map(str::to_string),
        maxfeepercent: number(b, "maxfeepercent")?.unwrap_or(0.5),
        exemptfee_msat: msat(b, "exemptfee")?.unwrap_or(5000),
        maxfee_msat,
        retry_for: b.u64("retry_for")?.unwrap_or(60),
        maxdelay: u32::try_from(maxdelay).unwrap_or(u32::MAX),
    })
}

impl Command for Pay {
    parsed_command!("pay");
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let sender = self.sender.clone();
        Box::pin(async move {
            let req = parse(&ctx.bind(PARAMS)?)?;
            Ok(Reply::Result(sender.pay(req).await?))
        })
    }
}
