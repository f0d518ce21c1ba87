//! The command line and one run: parse flags, build the request text, enable
//! notifications, send, wait for the reply, print it in the chosen format.

use crate::client::Connection;
use crate::config::{self, Given};
use crate::format::{self, Format};
use crate::notify::{self, Printer};
use crate::params::{self, InputMode, UsageError};
use crate::{exit, CliError};
use clap::{ArgAction, CommandFactory, Parser};
use serde_json::Value;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

/// lightning-cli's flags, same spellings.
#[derive(Debug, Parser)]
#[command(
    name = "bolt-cli",
    version,
    about = "Send a JSON-RPC command to boltd (lightning-cli compatible)",
    override_usage = "bolt-cli [OPTIONS] <command> [<params>...]",
    allow_negative_numbers = true,
    after_help = "For the daemon's commands run `bolt-cli help` (the RPC command, not --help)"
)]
pub struct Args {
    /// Base directory [default: ~/.boltd]
    #[arg(long = "lightning-dir", value_name = "DIR")]
    pub lightning_dir: Option<PathBuf>,
    /// Network: bitcoin, testnet, signet or regtest [default: bitcoin]
    #[arg(long, value_name = "NETWORK")]
    pub network: Option<String>,
    /// Alias for --network=bitcoin
    #[arg(long)]
    pub mainnet: bool,
    /// Alias for --network=testnet
    #[arg(long)]
    pub testnet: bool,
    /// Alias for --network=signet
    #[arg(long)]
    pub signet: bool,
    /// Alias for --network=regtest
    #[arg(long)]
    pub regtest: bool,
    /// Socket name inside <lightning-dir>/<network>, or an absolute path [default: lightning-rpc]
    #[arg(long = "rpc-file", value_name = "FILE")]
    pub rpc_file: Option<String>,
    /// Config file to read network/rpc-file from [default: <lightning-dir>/config]
    #[arg(long = "conf", value_name = "FILE")]
    pub conf: Option<PathBuf>,
    /// Print the result as key=value lines
    #[arg(short = 'H', long = "human-readable", action = ArgAction::SetTrue,
          overrides_with_all = ["flat", "json", "raw"])]
    pub human: bool,
    /// Print one path=value line per scalar (e.g. address[0].port=9735)
    #[arg(short = 'F', long, action = ArgAction::SetTrue,
          overrides_with_all = ["human", "json", "raw"])]
    pub flat: bool,
    /// Print indented JSON (the default, except for a bare `help`)
    #[arg(short = 'J', long, action = ArgAction::SetTrue,
          overrides_with_all = ["human", "flat", "raw"])]
    pub json: bool,
    /// Print the result as compact JSON on one line
    #[arg(short = 'R', long, action = ArgAction::SetTrue,
          overrides_with_all = ["human", "flat", "json"])]
    pub raw: bool,
    /// Treat every parameter as key=value (params become an object)
    #[arg(short = 'k', long, action = ArgAction::SetTrue, overrides_with = "order")]
    pub keywords: bool,
    /// Treat parameters as positional (params become an array)
    #[arg(short = 'o', long, action = ArgAction::SetTrue, overrides_with = "keywords")]
    pub order: bool,
    /// Lowest level of `message` notifications to print: io, trace, debug, info, unusual, broken, or none
    #[arg(
        short = 'N',
        long = "notifications",
        value_name = "LEVEL",
        default_value = "info"
    )]
    pub notifications: String,
    /// JSON filter sent along with the request
    #[arg(short = 'l', long, value_name = "JSON")]
    pub filter: Option<String>,
    /// Wrap the call in `commando` for peer PEERID (optionally with RUNE)
    #[arg(short = 'c', long, value_name = "PEERID[:RUNE]")]
    pub commando: Option<String>,
    /// The RPC method
    pub command: Option<String>,
    /// Its parameters
    pub params: Vec<String>,
}

impl Args {
    fn format(&self) -> Format {
        match (self.human, self.flat, self.json, self.raw) {
            (true, ..) => Format::Human,
            (_, true, ..) => Format::Flat,
            (_, _, true, _) => Format::Json,
            (.., true) => Format::Raw,
            _ => Format::Default,
        }
    }

    fn input_mode(&self) -> InputMode {
        if self.keywords {
            InputMode::Keywords
        } else if self.order {
            InputMode::Ordered
        } else {
            InputMode::Auto
        }
    }

    fn given(&self) -> Given {
        let network = self.network.clone().or_else(|| {
            [
                (self.mainnet, "bitcoin"),
                (self.testnet, "testnet"),
                (self.signet, "signet"),
                (self.regtest, "regtest"),
            ]
            .iter()
            .find(|(set, _)| *set)
            .map(|(_, n)| n.to_string())
        });
        Given {
            lightning_dir: self.lightning_dir.clone(),
            network,
            rpc_file: self.rpc_file.clone(),
            conf: self.conf.clone(),
        }
    }
}

/// `--commando peerid[:rune]`.
struct Commando {
    peer_id: String,
    rune: Option<String>,
}

fn parse_commando(arg: &str) -> Result<Commando, CliError> {
    let (id, rune) = match arg.split_once(':') {
        Some((id, rune)) => (id, Some(rune.to_string())),
        None => (arg, None),
    };
    if id.len() != 66 {
        return Err(CliError::Usage("--commando: Invalid peer id".into()));
    }
    Ok(Commando {
        peer_id: id.to_string(),
        rune,
    })
}

/// The request id lightning-cli uses (a method needing JSON escaping is not echoed).
pub fn request_id(method: &str, pid: u32) -> String {
    if params::needs_escape(method) {
        format!("cli:weirdmethod!#{pid}")
    } else {
        format!("cli:{method}#{pid}")
    }
}

/// The request text, laid out as lightning-cli writes it.
fn request_text(
    method: &str,
    id: &str,
    filter: Option<&str>,
    commando: Option<&Commando>,
    params: &str,
) -> String {
    let esc = params::json_escape;
    let wire_method = if commando.is_some() {
        "commando".to_string()
    } else {
        esc(method)
    };
    let mut cmd =
        format!("{{ \"jsonrpc\" : \"2.0\", \"method\" : \"{wire_method}\", \"id\" : \"{id}\",");
    if let (Some(f), None) = (filter, commando) {
        cmd.push_str(&format!("\"filter\": {f},"));
    }
    cmd.push_str(" \"params\" :");
    if let Some(c) = commando {
        cmd.push_str(&format!(
            "{{ \"peer_id\": \"{}\", \"method\": \"{}\",",
            esc(&c.peer_id),
            esc(method)
        ));
        if let Some(f) = filter {
            cmd.push_str(&format!("\"filter\": {f},"));
        }
        if let Some(r) = &c.rune {
            cmd.push_str(&format!(" \"rune\": \"{}\",", esc(r)));
        }
        cmd.push_str(" \"params\": ");
    }
    cmd.push_str(params);
    cmd.push_str(" }");
    if commando.is_some() {
        cmd.push('}');
    }
    cmd
}

/// Parses `argv` and runs one command; returns the exit status.
pub fn run<I: IntoIterator<Item = OsString>>(argv: I) -> i32 {
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => exit::OK,
                _ => exit::USAGE,
            };
            let _ = e.print();
            return code;
        }
    };
    match run_args(args) {
        Ok(code) => code,
        Err(e) => {
            let _ = std::io::stdout().flush();
            let _ = writeln!(std::io::stderr(), "bolt-cli: {e}");
            e.exit_code()
        }
    }
}

fn run_args(args: Args) -> Result<i32, CliError> {
    let level = notify::parse_level(&args.notifications)
        .map_err(|e| CliError::Usage(format!("--notifications: {e}")))?;
    let commando = args.commando.as_deref().map(parse_commando).transpose()?;
    let requested = args.format();

    let method = match &args.command {
        Some(m) => m.clone(),
        None => {
            say(&format!(
                "{}\nQuerying boltd for available RPC commands (\"bolt-cli help\"):\n\n",
                Args::command().render_usage()
            ));
            "help".to_string()
        }
    };
    // lightning-cli's `help <command>` in the default format shows that command's help
    // (as human text via its format-hint) rather than the sorted list.
    let help_topic = method == "help" && !args.params.is_empty();

    let params_text = params::params_text(&args.params, args.input_mode())
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let pid = std::process::id();
    let id = request_id(&method, pid);
    let request = request_text(
        &method,
        &id,
        args.filter.as_deref(),
        commando.as_ref(),
        &params_text,
    );
    if serde_json::from_str::<serde::de::IgnoredAny>(&request).is_err() {
        return Err(CliError::Usage(UsageError::Malformed(request).to_string()));
    }

    let socket = config::resolve(&args.given());
    std::env::set_current_dir(&socket.dir).map_err(|e| {
        CliError::Talk(format!(
            "Moving into '{}': {}",
            socket.dir.display(),
            jsonrpc::strerror(&e)
        ))
    })?;
    if socket.file.len() + 1 > 108 {
        return Err(CliError::Usage(format!(
            "rpc filename '{}' too long",
            socket.file
        )));
    }
    let mut conn = Connection::connect(&socket.file)?;
    let mut printer = Printer::new(level);

    if level.is_some() && commando.is_none() {
        let enable = format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"notifications\",\"id\":\"cli:notifications#{pid}\",\"params\":{{\"enable\":true}}}}"
        );
        conn.send(enable.as_bytes(), "Writing enable command")?;
        // Its reply (even an error from a daemon without notifications) is not shown.
        conn.reply(&mut printer).map_err(|e| match e {
            CliError::Talk(m) => CliError::Talk(format!(
                "Reading enable response: {}",
                m.strip_prefix("reading response: ").unwrap_or(&m)
            )),
            other => other,
        })?;
    }
    conn.send(request.as_bytes(), "Writing command")?;
    let (mut reply, text) = conn.reply(&mut printer)?;
    if printer.last_was_progress {
        say("\n");
    }
    finish(&mut reply, &text, &id, &method, help_topic, requested)
}

/// Writes to stdout, ignoring failures (a closed pipe, as in `bolt-cli help | head`, must
/// not turn into a panic).
fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Checks the reply and prints it; the exit status says whether it was an error.
fn finish(
    reply: &mut Value,
    text: &str,
    id: &str,
    method: &str,
    help_topic: bool,
    requested: Format,
) -> Result<i32, CliError> {
    let Some(obj) = reply.as_object_mut() else {
        return Err(CliError::Talk(format!("Non-object response '{text}'")));
    };
    let error = obj.get("error").cloned();
    if obj.get("result").is_none() && error.is_none() {
        return Err(CliError::Talk(format!(
            "Either 'result' or 'error' must be returned in response '{text}'"
        )));
    }
    match obj.get("id") {
        None => {
            return Err(CliError::Talk(format!("Missing 'id' in response '{text}'")));
        }
        Some(Value::String(s)) if s == id => {}
        Some(other) => {
            return Err(CliError::Talk(format!(
                "Incorrect 'id' ({other}) in response: {text}"
            )));
        }
    }
    let mut out = std::io::stdout().lock();
    match error {
        None | Some(Value::Null) => {
            let mut result = obj.remove("result").unwrap_or(Value::Null);
            let format = format::choose(requested, method, help_topic, &mut result);
            let _ = out.write_all(format::render(&result, format).as_bytes());
            let _ = out.flush();
            Ok(exit::OK)
        }
        Some(err) => {
            let body = if requested == Format::Raw {
                format::raw(&err)
            } else {
                format::pretty(&err)
            };
            let _ = writeln!(out, "{body}");
            let _ = out.flush();
            Ok(exit::FROM_DAEMON)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("bolt-cli").chain(a.iter().copied())).unwrap()
    }

    #[test]
    fn request_layout_matches_lightning_cli() {
        assert_eq!(
            request_text("getinfo", "cli:getinfo#7", None, None, "[ ]"),
            "{ \"jsonrpc\" : \"2.0\", \"method\" : \"getinfo\", \"id\" : \"cli:getinfo#7\", \"params\" :[ ] }"
        );
        let with_filter = request_text("x", "i", Some("{\"a\":true}"), None, "[ ]");
        let v: Value = serde_json::from_str(&with_filter).unwrap();
        assert_eq!(v["filter"], serde_json::json!({"a": true}));
        let c = Commando {
            peer_id: "02".repeat(33),
            rune: Some("r".into()),
        };
        let v: Value =
            serde_json::from_str(&request_text("getinfo", "i", None, Some(&c), "[ 1]")).unwrap();
        assert_eq!(v["method"], "commando");
        assert_eq!(v["params"]["method"], "getinfo");
        assert_eq!(v["params"]["rune"], "r");
        assert_eq!(v["params"]["params"], serde_json::json!([1]));
    }

    #[test]
    fn ids_name_the_method_unless_it_needs_escaping() {
        assert_eq!(request_id("getinfo", 42), "cli:getinfo#42");
        assert_eq!(request_id("we\"ird", 42), "cli:weirdmethod!#42");
    }

    #[test]
    fn flags_parse_like_lightning_cli() {
        let a = parse(&[
            "--lightning-dir=/x",
            "--regtest",
            "-H",
            "-k",
            "listconfigs",
            "config=alias",
        ]);
        assert_eq!(a.format(), Format::Human);
        assert_eq!(a.input_mode(), InputMode::Keywords);
        assert_eq!(a.given().network.as_deref(), Some("regtest"));
        assert_eq!(a.params, ["config=alias"]);
        // The last format flag wins, and flags may follow the method.
        let a = parse(&["-H", "getinfo", "-R"]);
        assert_eq!(a.format(), Format::Raw);
        assert_eq!(a.command.as_deref(), Some("getinfo"));
        // Negative numbers are parameters, not flags.
        let a = parse(&["feerate", "-5"]);
        assert_eq!(a.params, ["-5"]);
        assert!(Args::try_parse_from(["bolt-cli", "--bogus"]).is_err());
    }
}
