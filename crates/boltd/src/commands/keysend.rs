//! `keysend destination amount_msat [label] [maxfeepercent] [retry_for] [maxdelay]
//! [exemptfee] [extratlvs] [routehints] [maxfee]`: pays a node without an invoice, the
//! preimage in the onion (plugins/keysend.c).

use std::sync::Arc;

use bitcoin::secp256k1::PublicKey;
use jsonrpc::params::bad_token;
use jsonrpc::{Bound, Param, RpcError};
use serde_json::Value;

use crate::invoices::amount::parse_msat;
use crate::payments::send::{PayRequest, Sender};
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[
    Param::req("destination"),
    Param::req("amount_msat"),
    Param::opt("label"),
    Param::opt("maxfeepercent"),
    Param::opt("retry_for"),
    Param::opt("maxdelay"),
    Param::opt("exemptfee"),
    Param::opt("extratlvs"),
    Param::opt("routehints"),
    Param::opt("maxfee"),
];

pub struct Keysend {
    pub sender: Arc<Sender>,
}

struct Parsed {
    dest: PublicKey,
    amount_msat: u64,
    label: Option<String>,
    fees: PayRequest,
    tlvs: Vec<(u64, Vec<u8>)>,
}

/// `extratlvs`: `{"<type>": "<hex>"}`, types as numbers or numeric strings.
pub fn parse_tlvs(v: Option<&Value>) -> Result<Vec<(u64, Vec<u8>)>, RpcError> {
    let obj = match v {
        None | Some(Value::Null) => return Ok(vec![]),
        Some(Value::Object(o)) => o,
        Some(v) => {
            return Err(RpcError::invalid_params(format!(
            "Could not decode the TLV object from extratlvs: \"{v}\" is not a valid JSON object."
        )))
        }
    };
    let mut out = Vec::with_capacity(obj.len());
    for (k, val) in obj {
        let t: u64 = k.parse().map_err(|_| {
            RpcError::invalid_params(format!("\"{k}\" is not a valid numeric TLV type."))
        })?;
        let bytes = val
            .as_str()
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(|| {
                RpcError::invalid_params(format!("\"{val}\" is not a valid hex encoded TLV value."))
            })?;
        out.push((t, bytes));
    }
    out.sort_by_key(|(t, _)| *t);
    Ok(out)
}

fn parse(b: &Bound) -> Result<Parsed, RpcError> {
    let dest = match b.get("destination") {
        Some(Value::String(s)) => s.parse::<PublicKey>().map_err(|_| {
            bad_token(
                "destination",
                "should be a node id",
                &Value::String(s.clone()),
            )
        })?,
        Some(v) => return Err(bad_token("destination", "should be a node id", v)),
        None => {
            return Err(RpcError::invalid_params(
                "missing required parameter: destination",
            ))
        }
    };
    let amount_msat = match b.get("amount_msat") {
        Some(v) => parse_msat(v)
            .ok_or_else(|| bad_token("amount_msat", "should be a millisatoshi amount", v))?,
        None => {
            return Err(RpcError::invalid_params(
                "missing required parameter: amount_msat",
            ))
        }
    };
    let fees = super::pay::parse_fees(b, String::new(), None)?;
    Ok(Parsed {
        dest,
        amount_msat,
        label: b.str("label")?.map(str::to_string),
        fees,
        tlvs: parse_tlvs(b.get("extratlvs"))?,
    })
}

impl Command for Keysend {
    parsed_command!("keysend");
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let sender = self.sender.clone();
        Box::pin(async move {
            let p = parse(&ctx.bind(PARAMS)?)?;
            Ok(Reply::Result(
                sender
                    .keysend(p.dest, p.amount_msat, p.label, &p.fees, p.tlvs)
                    .await?,
            ))
        })
    }
}
