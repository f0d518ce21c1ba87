//! `createrune [rune] [restrictions]` (and its alias `invokerune`): issues a new stored
//! rune, or narrows a given one without storing it (Core Lightning's lightningd/runes.c).

use std::sync::Arc;

use jsonrpc::{Param, RpcError};
use runes::{Alternative, Restriction, Rune};
use serde_json::{json, Value};

use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};
use crate::rune_book::{restrictions_error, rune_param, RuneBook, UNRESTRICTED_WARNING};

const PARAMS: &[Param] = &[Param::opt("rune"), Param::opt("restrictions")];

pub struct Createrune {
    pub book: Arc<RuneBook>,
    /// `createrune`, or the alias `invokerune` Core Lightning still registers.
    pub name: &'static str,
}

struct Args {
    base: Option<Rune>,
    restrictions: Vec<Restriction>,
}

/// `"readonly"`: methods starting `list`/`get`, or `summary`; never `listdatastore`.
fn readonly() -> Vec<Restriction> {
    let alt = |s: &str| Alternative::parse_unescaped(s);
    [
        vec!["method^list", "method^get", "method=summary"],
        vec!["method/listdatastore"],
    ]
    .iter()
    .map(|alts| alts.iter().filter_map(|a| alt(a).ok()).collect::<Vec<_>>())
    .map(Restriction::new)
    .collect()
}

/// An array of arrays of `<field><condition><value>` strings. An empty inner array is
/// refused (Core Lightning issues a rune that can never verify).
fn parse_restrictions(v: Option<&Value>) -> Result<Vec<Restriction>, RpcError> {
    let bad = || RpcError::invalid_params(restrictions_error());
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) if s == "readonly" => Ok(readonly()),
        Some(Value::Array(rs)) => rs
            .iter()
            .map(|r| {
                let alts = r.as_array().filter(|a| !a.is_empty()).ok_or_else(bad)?;
                alts.iter()
                    .map(|a| {
                        a.as_str()
                            .and_then(|s| Alternative::parse_unescaped(s).ok())
                            .ok_or_else(bad)
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Restriction::new)
            })
            .collect(),
        Some(_) => Err(bad()),
    }
}

fn parse(ctx: &Context) -> Result<Args, RpcError> {
    let b = ctx.bind(PARAMS)?;
    let base = match b.get("rune") {
        None | Some(Value::Null) => None,
        Some(v) => Some(rune_param("rune", v)?.1),
    };
    Ok(Args {
        base,
        restrictions: parse_restrictions(b.get("restrictions"))?,
    })
}

impl Command for Createrune {
    fn name(&self) -> &'static str {
        self.name
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        parse(ctx).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let book = self.book.clone();
        Box::pin(async move {
            let a = parse(&ctx)?;
            let rune = book.create(a.base, a.restrictions).await?;
            let mut out = json!({
                "rune": rune.to_base64(),
                "unique_id": rune.unique_id().unwrap_or(""),
            });
            if rune.restrictions().len() <= 1 {
                out["warning_unrestricted_rune"] = Value::String(UNRESTRICTED_WARNING.into());
            }
            Ok(Reply::Result(out))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restriction_shapes() {
        assert_eq!(parse_restrictions(None).unwrap().len(), 0);
        assert_eq!(parse_restrictions(Some(&json!([]))).unwrap().len(), 0);
        assert_eq!(
            parse_restrictions(Some(&json!("readonly"))).unwrap().len(),
            2
        );
        let r = parse_restrictions(Some(&json!([
            ["method=getinfo", "method=listpeers"],
            ["pnum<2"]
        ])))
        .unwrap();
        assert_eq!(r[0].encode(), "method=getinfo|method=listpeers");
        for bad in [
            json!([[]]),
            json!("writeonly"),
            json!(["method=getinfo"]),
            json!([["=1"]]),
            json!([["nocondition"]]),
            json!([[5]]),
            json!(5),
        ] {
            assert_eq!(
                parse_restrictions(Some(&bad)).unwrap_err().message,
                restrictions_error(),
                "{bad}"
            );
        }
    }
}
