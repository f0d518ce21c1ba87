//! Builtin RPC commands, one module per command, and [`TABLE`]: the one list of every
//! builtin. The dispatcher is built from it (after [`crate::services::Services`] exists)
//! and plugin method names are checked against its names (before any plugin's manifest
//! is accepted), so a builtin can neither shadow a plugin method nor be shadowed by one
//! silently. A new command is one module plus one line here.

use std::sync::Arc;

use crate::rpc::Command;
use crate::services::Services;

/// `name`, `params` and `check` of a [`Command`] whose module has `PARAMS` and a
/// `parse(&Bound)` of them: the check is the parse.
macro_rules! parsed_command {
    ($name:literal) => {
        fn name(&self) -> &'static str {
            $name
        }
        fn params(&self) -> &'static [jsonrpc::Param] {
            PARAMS
        }
        fn check(&self, ctx: &crate::rpc::Context) -> Result<(), jsonrpc::RpcError> {
            parse(&ctx.bind(PARAMS)?).map(|_| ())
        }
    };
}

pub mod blacklistrune;
pub mod check;
pub mod checkrune;
pub mod close;
pub mod commando;
pub mod connect;
pub mod createrune;
pub mod datastore;
pub mod datastoreusage;
pub mod decode;
pub mod deldatastore;
pub mod delinvoice;
pub mod deprecations;
pub mod disconnect;
pub mod feerates;
pub mod fundchannel;
pub mod fundpsbt;
pub mod getinfo;
pub mod getroute;
pub mod help;
pub mod invoice;
pub mod keysend;
pub mod listaddresses;
pub mod listchannels;
pub mod listclosedchannels;
pub mod listconfigs;
pub mod listdatastore;
pub mod listforwards;
pub mod listfunds;
pub mod listinvoices;
pub mod listnodes;
pub mod listpays;
pub mod listpeerchannels;
pub mod listpeers;
pub mod listsendpays;
pub mod listtransactions;
pub mod newaddr;
pub mod notifications;
pub mod pay;
pub mod plugin;
pub mod reserveinputs;
pub mod sendcustommsg;
pub mod sendpay;
pub mod sendpsbt;
pub mod setchannel;
pub mod setconfig;
pub mod showrunes;
pub mod signpsbt;
pub mod stop;
pub mod txdiscard;
pub mod txprepare;
pub mod txsend;
pub mod unreserveinputs;
pub mod utxopsbt;
pub mod waitanyinvoice;
pub mod waitinvoice;
pub mod waitsendpay;
pub mod wallet_params;
pub mod withdraw;

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

/// Builds one builtin from the services it needs.
type Build = fn(&Services) -> Arc<dyn Command>;

/// Every builtin: its name, and how to build it. Sorted by name.
pub const TABLE: &[(&str, Build)] = &[
    ("blacklistrune", |s| {
        Arc::new(blacklistrune::Blacklistrune {
            book: s.runes.clone(),
            name: "blacklistrune",
        })
    }),
    ("check", |_| Arc::new(check::Check)),
    ("checkrune", |s| {
        Arc::new(checkrune::Checkrune {
            book: s.runes.clone(),
        })
    }),
    ("close", |s| {
        Arc::new(close::Close {
            channels: s.channels.clone(),
            peering: s.peering.clone(),
        })
    }),
    ("commando", |s| {
        Arc::new(commando::CommandoCmd {
            commando: s.commando.clone(),
        })
    }),
    ("connect", |s| {
        Arc::new(connect::Connect {
            peering: s.peering.clone(),
            storage: s.storage.clone(),
        })
    }),
    ("createrune", |s| {
        Arc::new(createrune::Createrune {
            book: s.runes.clone(),
            name: "createrune",
        })
    }),
    ("datastore", |s| {
        Arc::new(datastore::Datastore {
            storage: s.storage.clone(),
        })
    }),
    ("datastoreusage", |s| {
        Arc::new(datastoreusage::Datastoreusage {
            storage: s.storage.clone(),
        })
    }),
    ("decode", |_| Arc::new(decode::Decode)),
    ("deldatastore", |s| {
        Arc::new(deldatastore::Deldatastore {
            storage: s.storage.clone(),
        })
    }),
    ("delinvoice", |s| {
        Arc::new(delinvoice::Delinvoice {
            invoices: s.invoices.clone(),
        })
    }),
    ("deprecations", |_| Arc::new(deprecations::Deprecations)),
    ("destroyrune", |s| {
        Arc::new(blacklistrune::Blacklistrune {
            book: s.runes.clone(),
            name: "destroyrune",
        })
    }),
    ("disconnect", |s| {
        Arc::new(disconnect::Disconnect {
            peering: s.peering.clone(),
            channels: s.channels.clone(),
        })
    }),
    ("feerates", |s| {
        Arc::new(feerates::Feerates {
            fees: s.chain.fees.clone(),
            anchors: true,
        })
    }),
    ("fundchannel", |s| {
        Arc::new(fundchannel::Fundchannel {
            channels: s.channels.clone(),
            peering: s.peering.clone(),
            spender: s.spender.clone(),
        })
    }),
    ("fundpsbt", |s| {
        Arc::new(fundpsbt::Fundpsbt {
            spender: s.spender.clone(),
            fees: s.chain.fees.clone(),
        })
    }),
    ("getinfo", |s| {
        Arc::new(getinfo::Getinfo {
            chain: s.chain.status.clone(),
            channels: s.channels.clone(),
            peering: s.peering.clone(),
            forwards: s.forwards.clone(),
        })
    }),
    ("getroute", |s| {
        Arc::new(getroute::Getroute {
            channels: s.channels.clone(),
        })
    }),
    ("help", |_| Arc::new(help::Help)),
    ("invoice", |s| {
        Arc::new(invoice::Invoice {
            invoices: s.invoices.clone(),
        })
    }),
    ("invokerune", |s| {
        Arc::new(createrune::Createrune {
            book: s.runes.clone(),
            name: "invokerune",
        })
    }),
    ("keysend", |s| {
        Arc::new(keysend::Keysend {
            sender: s.sender.clone(),
        })
    }),
    ("listaddresses", |s| {
        Arc::new(listaddresses::Listaddresses {
            wallet: s.wallet.clone(),
        })
    }),
    ("listchannels", |s| {
        Arc::new(listchannels::Listchannels {
            channels: s.channels.clone(),
        })
    }),
    ("listclosedchannels", |s| {
        Arc::new(listclosedchannels::Listclosedchannels {
            channels: s.channels.clone(),
        })
    }),
    ("listconfigs", |_| Arc::new(listconfigs::Listconfigs)),
    ("listdatastore", |s| {
        Arc::new(listdatastore::Listdatastore {
            storage: s.storage.clone(),
        })
    }),
    ("listforwards", |s| {
        Arc::new(listforwards::Listforwards {
            forwards: s.forwards.clone(),
        })
    }),
    ("listfunds", |s| {
        Arc::new(listfunds::Listfunds {
            wallet: s.wallet.clone(),
            channels: s.channels.clone(),
            peering: s.peering.clone(),
        })
    }),
    ("listinvoices", |s| {
        Arc::new(listinvoices::Listinvoices {
            invoices: s.invoices.clone(),
        })
    }),
    ("listnodes", |s| {
        Arc::new(listnodes::Listnodes {
            channels: s.channels.clone(),
        })
    }),
    ("listpays", |s| {
        Arc::new(listpays::Listpays {
            sender: s.sender.clone(),
        })
    }),
    ("listpeerchannels", |s| {
        Arc::new(listpeerchannels::Listpeerchannels {
            channels: s.channels.clone(),
            peering: s.peering.clone(),
        })
    }),
    ("listpeers", |s| {
        Arc::new(listpeers::Listpeers {
            peering: s.peering.clone(),
            channels: s.channels.clone(),
        })
    }),
    ("listsendpays", |s| {
        Arc::new(listsendpays::Listsendpays {
            sender: s.sender.clone(),
        })
    }),
    ("listtransactions", |s| {
        Arc::new(listtransactions::Listtransactions {
            wallet: s.wallet.clone(),
        })
    }),
    ("newaddr", |s| {
        Arc::new(newaddr::Newaddr {
            wallet: s.wallet.clone(),
        })
    }),
    ("notifications", |_| Arc::new(notifications::Notifications)),
    ("pay", |s| {
        Arc::new(pay::Pay {
            sender: s.sender.clone(),
        })
    }),
    ("plugin", |s| {
        Arc::new(plugin::PluginCmd {
            host: s.plugins.clone(),
        })
    }),
    ("reserveinputs", |s| {
        Arc::new(reserveinputs::Reserveinputs {
            wallet: s.wallet.clone(),
        })
    }),
    ("sendcustommsg", |s| {
        Arc::new(sendcustommsg::Sendcustommsg {
            peering: s.peering.clone(),
        })
    }),
    ("sendpay", |s| {
        Arc::new(sendpay::Sendpay {
            sender: s.sender.clone(),
        })
    }),
    ("sendpsbt", |s| {
        Arc::new(sendpsbt::Sendpsbt {
            spender: s.spender.clone(),
        })
    }),
    ("setchannel", |s| {
        Arc::new(setchannel::Setchannel {
            channels: s.channels.clone(),
        })
    }),
    ("setconfig", |s| {
        Arc::new(setconfig::Setconfig {
            host: s.plugins.clone(),
            file: Default::default(),
        })
    }),
    ("showrunes", |s| {
        Arc::new(showrunes::Showrunes {
            book: s.runes.clone(),
        })
    }),
    ("signpsbt", |s| {
        Arc::new(signpsbt::Signpsbt {
            wallet: s.wallet.clone(),
        })
    }),
    ("stop", |_| Arc::new(stop::Stop)),
    ("txdiscard", |s| {
        Arc::new(txdiscard::Txdiscard {
            spender: s.spender.clone(),
        })
    }),
    ("txprepare", |s| {
        Arc::new(txprepare::Txprepare {
            spender: s.spender.clone(),
            fees: s.chain.fees.clone(),
        })
    }),
    ("txsend", |s| {
        Arc::new(txsend::Txsend {
            spender: s.spender.clone(),
        })
    }),
    ("unreserveinputs", |s| {
        Arc::new(unreserveinputs::Unreserveinputs {
            wallet: s.wallet.clone(),
        })
    }),
    ("utxopsbt", |s| {
        Arc::new(utxopsbt::Utxopsbt {
            spender: s.spender.clone(),
            fees: s.chain.fees.clone(),
        })
    }),
    ("waitanyinvoice", |s| {
        Arc::new(waitanyinvoice::Waitanyinvoice {
            invoices: s.invoices.clone(),
        })
    }),
    ("waitinvoice", |s| {
        Arc::new(waitinvoice::Waitinvoice {
            invoices: s.invoices.clone(),
        })
    }),
    ("waitsendpay", |s| {
        Arc::new(waitsendpay::Waitsendpay {
            sender: s.sender.clone(),
        })
    }),
    ("withdraw", |s| {
        Arc::new(withdraw::Withdraw {
            spender: s.spender.clone(),
            fees: s.chain.fees.clone(),
        })
    }),
];

/// The builtin names, known before any service exists (plugin manifests are checked
/// against them).
pub fn names() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|(n, _)| *n)
}

/// Every builtin, built from `s`. Err if an entry builds a command of another name (a
/// table typo would otherwise let a plugin take the name).
pub fn build(s: &Services) -> Result<Vec<Arc<dyn Command>>, String> {
    TABLE
        .iter()
        .map(|(name, make)| {
            let c = make(s);
            if c.name() == *name {
                Ok(c)
            } else {
                Err(format!(
                    "builtin table entry '{name}' builds command '{}'",
                    c.name()
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_names_are_unique_and_sorted() {
        let names: Vec<&str> = super::names().collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
        assert!(names.contains(&"plugin") && names.contains(&"setconfig"));
    }
}
