//! `decode string`: a BOLT 11 invoice (ours or anyone's, any network) in Core
//! Lightning's fields (plugins/offers.c, common/bolt11_json.c). BOLT 12 strings and
//! runes are not decoded yet: they get the decoder's error like any other string.

use jsonrpc::params::bad_token;
use jsonrpc::{Param, RpcError};
use serde_json::Value;

use crate::invoices::decode::{decode, decode_json};
use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

const PARAMS: &[Param] = &[Param::req("string")];

pub struct Decode;

fn parse(ctx: &Context) -> Result<Value, RpcError> {
    let b = ctx.bind(PARAMS)?;
    let v = b
        .get("string")
        .ok_or_else(|| RpcError::invalid_params("missing required parameter: string"))?;
    let s = v
        .as_str()
        .ok_or_else(|| bad_token("string", "should be a string", v))?;
    decode(s)
        .map(|d| decode_json(&d))
        .map_err(|why| bad_token("string", &why, v))
}

impl Command for Decode {
    fn name(&self) -> &'static str {
        "decode"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        parse(ctx).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        Box::pin(async move { Ok(Reply::Result(parse(&ctx)?)) })
    }
}
