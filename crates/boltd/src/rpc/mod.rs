//! The JSON-RPC side of the daemon: the unix-socket server (one task per connection) and
//! the dispatcher (builtins, then plugin methods, with the `rpc_command` hook before).

pub mod conn;
pub mod dispatch;
pub mod filter;
pub mod server;

pub use conn::ConnHandle;
pub use dispatch::{
    BoxFut, CmdResult, Command, Context, Dispatcher, ExternalMethods, HookOutcome, MethodInfo,
    Reply, RpcCommandHook,
};
