//! `help [command]`: every command (builtin and plugin) sorted by name, as
//! `{"command":"<name> <usage>"}`, plus `"format-hint":"simple"`.

use jsonrpc::{Param, RpcError};
use serde_json::json;

use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};

pub struct Help;

const PARAMS: &[Param] = &[Param::opt("command")];

impl Command for Help {
    fn name(&self) -> &'static str {
        "help"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        Box::pin(async move {
            let b = ctx.bind(PARAMS)?;
            let wanted = b.str("command")?.map(str::to_string);
            let allow_deprecated = ctx
                .conn
                .deprecated_apis(ctx.node.settings.allow_deprecated_apis);
            // (name, line) pairs; builtins win over a same-named plugin method.
            let mut all: Vec<(String, String)> = ctx
                .dispatcher
                .builtin_usages()
                .into_iter()
                .map(|(n, u)| (n.clone(), format!("{n} {u}")))
                .collect();
            let mut deprecated_hidden = vec![];
            if let Some(ext) = ctx.dispatcher.external() {
                for m in ext.methods() {
                    if all.iter().any(|(n, _)| *n == m.name) {
                        continue;
                    }
                    if m.deprecated && !allow_deprecated {
                        deprecated_hidden.push(m.name);
                        continue;
                    }
                    let dep = if m.deprecated { " (DEPRECATED!)" } else { "" };
                    all.push((m.name.clone(), format!("{}{dep} {}", m.name, m.usage)));
                }
            }
            all.sort();
            let list: Vec<_> = match wanted {
                None => all
                    .into_iter()
                    .map(|(_, l)| json!({"command": l}))
                    .collect(),
                Some(w) => {
                    if deprecated_hidden.contains(&w) {
                        return Err(RpcError::method_not_found(format!(
                            "Deprecated command {w}"
                        )));
                    }
                    let found: Vec<_> = all
                        .into_iter()
                        .filter(|(n, _)| *n == w)
                        .map(|(_, l)| json!({"command": l}))
                        .collect();
                    if found.is_empty() {
                        return Err(RpcError::method_not_found(format!("Unknown command {w}")));
                    }
                    found
                }
            };
            Ok(Reply::Result(
                json!({"help": list, "format-hint": "simple"}),
            ))
        })
    }
}
