//! `invoice amount_msat label description [expiry] [fallbacks] [preimage]
//! [exposeprivatechannels] [cltv] [deschashonly]`: a real BOLT 11 invoice for us
//! (lightningd/invoice.c); the rules live in `crate::invoices`.

use std::sync::Arc;

use jsonrpc::params::bad_token;
use jsonrpc::{Bound, Param, RpcError};
use serde_json::Value;

use crate::invoices::amount::parse_msat;
use crate::invoices::decode::parse_scid;
use crate::invoices::{CreateRequest, Expose, Invoices, DEFAULT_CLTV};
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[
    Param::req("amount_msat"),
    Param::req("label"),
    Param::req("description"),
    Param::opt("expiry"),
    Param::opt("fallbacks"),
    Param::opt("preimage"),
    Param::opt("exposeprivatechannels"),
    Param::opt("cltv"),
    Param::opt("deschashonly"),
];

/// One week, lightningd's default.
const DEFAULT_EXPIRY: u64 = 604_800;
/// Far beyond any use (about 146 billion years), and `now + expiry` still fits the store.
const MAX_EXPIRY: u64 = 1 << 62;
/// BOLT 11's limit on the `d` field.
const MAX_DESCRIPTION: usize = 639;
/// lightningd's limit on labels.
const MAX_LABEL: usize = 128;
/// The most an invoice can ask for: its amount is written in pico-bitcoin, which must
/// fit 64 bits (about 18.4 million BTC; lightning-invoice refuses more).
const MAX_MSAT: u64 = u64::MAX / 10;

pub struct Invoice {
    pub invoices: Arc<Invoices>,
}

/// A label: a string, or a number kept as the text it was sent as (`01` is not `1`).
pub(crate) fn parse_label(ctx: &Context, b: &Bound, pos: usize) -> Result<String, RpcError> {
    match b.get("label") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v @ Value::Number(_)) => {
            Ok(super::raw_param(&ctx.request, pos, "label").unwrap_or_else(|| v.to_string()))
        }
        Some(v) => Err(bad_token("label", "should be a string or number", v)),
        None => Err(RpcError::invalid_params(
            "missing required parameter: label",
        )),
    }
}

/// 32 bytes as 64 hex digits (`preimage`, `payment_hash`).
pub(crate) fn parse_hex32(b: &Bound, name: &str, what: &str) -> Result<Option<[u8; 32]>, RpcError> {
    let Some(v) = b.get(name) else {
        return Ok(None);
    };
    v.as_str()
        .and_then(|s| hex::decode(s).ok())
        .and_then(|d| <[u8; 32]>::try_from(d).ok())
        .map(Some)
        .ok_or_else(|| bad_token(name, what, v))
}

fn parse_expose(b: &Bound) -> Result<Expose, RpcError> {
    let Some(v) = b.get("exposeprivatechannels") else {
        return Ok(Expose::Default);
    };
    let bad = || {
        bad_token(
            "exposeprivatechannels",
            "should be a boolean, a short channel id or an array of them",
            v,
        )
    };
    match v {
        Value::Bool(x) => Ok(Expose::All(*x)),
        Value::String(s) if s == "true" || s == "false" => Ok(Expose::All(s == "true")),
        Value::String(s) => parse_scid(s).map(|c| Expose::Only(vec![c])).ok_or_else(bad),
        Value::Array(a) => a
            .iter()
            .map(|e| e.as_str().and_then(parse_scid))
            .collect::<Option<Vec<u64>>>()
            .map(Expose::Only)
            .ok_or_else(bad),
        _ => Err(bad()),
    }
}

fn parse(ctx: &Context, b: &Bound) -> Result<CreateRequest, RpcError> {
    let amount_msat = match b.get("amount_msat") {
        Some(Value::String(s)) if s == "any" => None,
        Some(v) => match parse_msat(v) {
            Some(a) if a > 0 && a <= MAX_MSAT => Some(a),
            _ => {
                return Err(bad_token(
                    "amount_msat",
                    "should be positive msat or 'any'",
                    v,
                ))
            }
        },
        None => {
            return Err(RpcError::invalid_params(
                "missing required parameter: amount_msat",
            ))
        }
    };
    let label = parse_label(ctx, b, 1)?;
    let description = match b.get("description") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => return Err(bad_token("description", "should be a string", v)),
        None => {
            return Err(RpcError::invalid_params(
                "missing required parameter: description",
            ))
        }
    };
    let expiry = b.u64("expiry")?.unwrap_or(DEFAULT_EXPIRY);
    // `expires_at` (now + expiry) is stored as a signed 64-bit number.
    if expiry > MAX_EXPIRY {
        return Err(RpcError::invalid_params(format!(
            "expiry: {expiry} is too large (at most {MAX_EXPIRY})"
        )));
    }
    let fallbacks = match b.get("fallbacks") {
        None => vec![],
        Some(Value::Array(a)) => a
            .iter()
            .map(|e| e.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| RpcError::daemon("Fallback address not valid"))?,
        Some(v) => return Err(bad_token("fallbacks", "should be an array", v)),
    };
    let preimage = parse_hex32(b, "preimage", "should be 64 hex digits")?;
    let expose = parse_expose(b)?;
    let cltv = match b.get("cltv") {
        None => DEFAULT_CLTV,
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .and_then(|c| u32::try_from(c).ok())
            .ok_or_else(|| bad_token("cltv", "should be an unsigned 32 bit integer", v))?,
    };
    let deschashonly = b.bool("deschashonly")?.unwrap_or(false);
    if label.len() > MAX_LABEL {
        return Err(RpcError::invalid_params(format!(
            "Label '{label}' over {MAX_LABEL} bytes"
        )));
    }
    if description.len() > MAX_DESCRIPTION && !deschashonly {
        return Err(RpcError::invalid_params(format!(
            "Description greater than {MAX_DESCRIPTION} bytes invalid (description length {})",
            description.len()
        )));
    }
    Ok(CreateRequest {
        amount_msat,
        label,
        description,
        expiry,
        fallbacks,
        preimage,
        expose,
        cltv,
        deschashonly,
    })
}

impl Command for Invoice {
    fn name(&self) -> &'static str {
        "invoice"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        parse(ctx, &ctx.bind(PARAMS)?).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let invoices = self.invoices.clone();
        Box::pin(async move {
            let req = parse(&ctx, &ctx.bind(PARAMS)?)?;
            Ok(Reply::Result(invoices.create(req).await?))
        })
    }
}
