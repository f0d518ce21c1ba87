//! Builtin RPC commands, one module per command. Each module exposes a unit struct
//! implementing [`crate::rpc::Command`]; [`builtins`] is the table the dispatcher loads.
//! Subsystems added later register theirs here (or at run time with
//! `Dispatcher::register`).

use std::sync::Arc;

use crate::rpc::Command;

pub mod blacklistrune;
pub mod check;
pub mod checkrune;
pub mod commando;
pub mod connect;
pub mod createrune;
pub mod datastore;
pub mod datastoreusage;
pub mod deldatastore;
pub mod deprecations;
pub mod disconnect;
pub mod getinfo;
pub mod help;
pub mod listconfigs;
pub mod listdatastore;
pub mod listpeers;
pub mod notifications;
pub mod plugin;
pub mod sendcustommsg;
pub mod setconfig;
pub mod showrunes;
pub mod stop;

/// The JSON text of parameter `name` (position `pos` when params is an array) exactly as
/// the client sent it. CLN reads some parameters from the token's characters (hex given
/// as an all-digit number), which the parsed value cannot always reproduce.
pub(crate) fn raw_param(request: &jsonrpc::Request, pos: usize, name: &str) -> Option<String> {
    use serde_json::value::RawValue;
    let raw = request.members.get("params")?.get();
    if let Ok(arr) = serde_json::from_str::<Vec<&RawValue>>(raw) {
        return arr.get(pos).map(|t| t.get().to_string());
    }
    let map = serde_json::from_str::<std::collections::HashMap<String, &RawValue>>(raw).ok()?;
    map.get(name).map(|t| t.get().to_string())
}

pub fn builtins() -> Vec<Arc<dyn Command>> {
    vec![
        Arc::new(check::Check),
        Arc::new(deprecations::Deprecations),
        Arc::new(getinfo::Getinfo),
        Arc::new(help::Help),
        Arc::new(listconfigs::Listconfigs),
        Arc::new(notifications::Notifications),
        Arc::new(stop::Stop),
    ]
}
