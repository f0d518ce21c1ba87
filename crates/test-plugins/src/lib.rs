//! Test plugins written with Core Lightning's own `cln-plugin` crate, so boltd is tested
//! against a plugin library it did not write. Binaries only; nothing to import here.
//!
//! - `cln-hello`: a dynamic plugin with options (one dynamic), methods, a custom
//!   notification topic and a `shutdown` subscription.
//! - `cln-hook`: a dynamic plugin whose only job is an `rpc_command` hook that says
//!   `continue` (the bench builds chains from copies of it).
