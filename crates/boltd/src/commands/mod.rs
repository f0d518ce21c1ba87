//! Builtin RPC commands, one module per command. Each module exposes a unit struct
//! implementing [`crate::rpc::Command`]; [`builtins`] is the table the dispatcher loads.
//! Subsystems added later register theirs here (or at run time with
//! `Dispatcher::register`).

use std::sync::Arc;

use crate::rpc::Command;

pub mod check;
pub mod connect;
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
pub mod stop;

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
