//! Plugin lifecycles: start-up (parallel getmanifest, then init to all), dynamic start
//! through `plugin start`/`startdir`/`rescan`, `plugin stop`, and daemon shutdown (§2, §3,
//! §6.4, §8). One file per job: parsing the `plugin` command, finding plugins on disk, the
//! getmanifest/init handshake, start-up, the `plugin` command's actions, stopping.

mod command;
mod control;
mod handshake;
mod scan;
mod shutdown;
mod startup;

pub use command::PluginCommand;
pub use scan::{scan_default_dir, scan_dir};
pub use startup::{PluginSpec, StartupError, INIT_TIMEOUT, STARTUP_HANG_FATAL};
