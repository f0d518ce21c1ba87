//! The plugin host: Core Lightning's plugin protocol, complete (reference §0–§8).
//!
//! Owns: plugin processes (spawn, stdio tasks, kill), manifest parsing and validation,
//! request ids and their remapping, the registries of methods/options/hooks/topics/
//! feature bits/custom message types, hook chains, notification fan-out, the `plugin`
//! command's lifecycle, plugin options' values, `setconfig` forwarding, and the daemon's
//! own calls to plugin methods (Bitcoin backends).
//!
//! Must not touch: peers, SQL, sockets. The daemon calls in through [`PluginHost`] and
//! hears back through [`HostEvent`]s; framing comes from the `jsonrpc` crate.

pub mod call;
pub mod config;
pub mod features;
pub mod hooks;
pub mod host;
pub mod ids;
pub mod lifecycle;
pub mod log;
pub mod manifest;
pub mod notify;
pub mod options;
mod outbound;
pub mod passthrough;
pub mod process;
pub mod registry;

pub use call::CallError;
pub use config::SetVal;
pub use features::FeatureSet;
pub use hooks::{
    validate_replace, ChannelTypeJson, CustomMsg, CustomMsgPayload, DbWrite, DbWriteOutcome,
    DbWritePayload, Hook, MethodStatus, OpenChannel, OpenChannelAccept, OpenChannelInfo,
    OpenChannelOutcome, OpenChannelPayload, PeerConnected, PeerConnectedOutcome,
    PeerConnectedPayload, PeerInfo, RpcCommand, RpcCommandOutcome, RpcCommandPayload, Step,
};
pub use host::{HostConfig, HostEvent, NotifySink, OptValue, PluginHost};
pub use lifecycle::{
    scan_default_dir, scan_dir, PluginCommand, PluginSpec, StartupError, INIT_TIMEOUT,
    STARTUP_HANG_FATAL,
};
pub use log::HostLog;
pub use options::{OptType, OptionSpec};
pub use outbound::{cork, Cork};
pub use registry::MethodInfo;
