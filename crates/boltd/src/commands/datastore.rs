//! `datastore key [string] [hex] [mode] [generation]`: stores plugin data (Core
//! Lightning's lightningd/datastore.c semantics; the rules live in the `store` crate).
//! Also the key parsing and entry rendering the other datastore commands share.

use jsonrpc::params::bad_token;
use jsonrpc::{codes, Bound, Param, RpcError};
use serde_json::{json, Map, Value};
use store::{DatastoreEntry, DatastoreError, Mode};

use crate::rpc::{BoxFut, CmdResult, Command, Context, Reply};
use crate::storage::{store_rpc_error, Storage};

const PARAMS: &[Param] = &[
    Param::req("key"),
    Param::opt("string"),
    Param::opt("hex"),
    Param::opt("mode"),
    Param::opt("generation"),
];

pub struct Datastore {
    pub storage: Storage,
}

/// What `datastore` was asked to do, after parameter checks.
struct Args {
    key: Vec<String>,
    data: Vec<u8>,
    mode: Mode,
    generation: Option<u64>,
}

/// `hex`: a string of hex digits, or an all-digit JSON number read as its digits (what
/// lightning-cli sends for `hex=1234`; CLN decodes the token's characters).
fn parse_hex(request: &jsonrpc::Request, b: &Bound) -> Result<Option<Vec<u8>>, RpcError> {
    let Some(v) = b.get("hex") else {
        return Ok(None);
    };
    // The token as sent is only needed for a number or an error: the common case (a hex
    // string) does not parse the params a second time.
    let raw = || super::raw_param(request, 2, "hex");
    let text = match v {
        Value::String(h) => Some(h.clone()),
        Value::Number(_) => raw().filter(|t| t.bytes().all(|c| c.is_ascii_digit())),
        _ => None,
    };
    match text.as_deref().map(hex::decode) {
        Some(Ok(d)) => Ok(Some(d)),
        // The token as sent (a long number would not survive re-rendering).
        _ => Err(RpcError::invalid_params(format!(
            "hex: should be a hex value: invalid token '{}'",
            raw().unwrap_or_else(|| v.to_string())
        ))),
    }
}

fn parse(ctx: &Context, b: &Bound) -> Result<Args, RpcError> {
    let key = parse_key(b, "key")?.ok_or_else(missing_key)?;
    // CLN's `param_escaped_string` wording for a non-string.
    let string = match b.get("string") {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(v) => return Err(bad_token("string", "should be a string (without \\u)", v)),
    };
    let hex = parse_hex(&ctx.request, b)?;
    let mode = match b.get("mode") {
        None => Mode::MustCreate,
        Some(v) => v.as_str().and_then(Mode::parse).ok_or_else(|| {
            bad_token(
                "mode",
                "should be 'must-create', 'must-replace', 'create-or-replace', 'must-append', or 'create-or-append'",
                v,
            )
        })?,
    };
    let generation = b.u64("generation")?;
    let data = match (string, hex) {
        (Some(_), Some(_)) => {
            return Err(RpcError::invalid_params("Cannot have both hex and string"))
        }
        (Some(s), None) => s.as_bytes().to_vec(),
        (None, Some(h)) => h,
        (None, None) => return Err(RpcError::invalid_params("Must have either hex or string")),
    };
    Ok(Args {
        key,
        data,
        mode,
        generation,
    })
}

impl Command for Datastore {
    fn name(&self) -> &'static str {
        "datastore"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn check(&self, ctx: &Context) -> Result<(), RpcError> {
        parse(ctx, &ctx.bind(PARAMS)?).map(|_| ())
    }
    fn run(&self, ctx: Context) -> BoxFut<CmdResult> {
        let storage = self.storage.clone();
        Box::pin(async move {
            let a = parse(&ctx, &ctx.bind(PARAMS)?)?;
            let entry = storage
                .run(move |s| s.datastore_put(&a.key, &a.data, a.mode, a.generation))
                .await
                .map_err(|e| rpc_error(&e, Op::Update))?;
            Ok(Reply::Result(entry_json(&entry)))
        })
    }
}

/// Which command failed: `datastore` and `deldatastore` use different codes for the
/// same refusals.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Update,
    Delete,
    Read,
}

/// Core Lightning's code for each refusal (common/jsonrpc_errors.h), message from the
/// store crate (CLN's text).
pub(crate) fn rpc_error(e: &DatastoreError, op: Op) -> RpcError {
    let code = match e {
        DatastoreError::GenerationNeedsExisting => codes::INVALID_PARAMS,
        DatastoreError::HasChildren => codes::DATASTORE_UPDATE_HAS_CHILDREN,
        DatastoreError::ParentExists(_) => codes::DATASTORE_UPDATE_NO_CHILDREN,
        DatastoreError::AlreadyExists => codes::DATASTORE_UPDATE_ALREADY_EXISTS,
        DatastoreError::DoesNotExist if op == Op::Delete => codes::DATASTORE_DEL_DOES_NOT_EXIST,
        DatastoreError::DoesNotExist => codes::DATASTORE_UPDATE_DOES_NOT_EXIST,
        DatastoreError::WrongGeneration if op == Op::Delete => {
            codes::DATASTORE_DEL_WRONG_GENERATION
        }
        DatastoreError::WrongGeneration => codes::DATASTORE_UPDATE_WRONG_GENERATION,
        DatastoreError::EmptyKey | DatastoreError::NulInKey => codes::INVALID_PARAMS,
        DatastoreError::Store(s) => return store_rpc_error(s),
    };
    RpcError::new(code, e.to_string())
}

/// `key` as a string (one part) or an array of strings; numbers and booleans count as
/// their text, as in CLN (`param_list_or_string`). `Ok(None)` when not given.
pub(crate) fn parse_key(b: &Bound, name: &str) -> Result<Option<Vec<String>>, RpcError> {
    let part = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(_) | Value::Bool(_) | Value::Null => Some(v.to_string()),
            _ => None,
        }
    };
    let key = match b.get(name) {
        // `null` is "not given", in keyword form as in positional form.
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) if items.is_empty() => {
            return Err(bad_token(name, "should not be empty", &json!([])))
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| part(v).ok_or_else(|| bad_token(name, "should be string", v)))
            .collect::<Result<Vec<_>, _>>()?,
        Some(v) => vec![part(v).ok_or_else(|| bad_token(name, "should be string or array", v))?],
    };
    if key.iter().any(|p| p.contains('\0')) {
        return Err(bad_token(
            name,
            "should not contain NUL characters",
            &json!(key),
        ));
    }
    Ok(Some(key))
}

/// The error for a required `key` given as `null`.
pub(crate) fn missing_key() -> RpcError {
    RpcError::invalid_params("missing required parameter: key")
}

/// `{"key": [...], "generation": n, "hex": "...", "string": "..."}`; `string` only when
/// the data is valid UTF-8 without NUL bytes, value fields only for entries with data.
pub(crate) fn entry_json(e: &DatastoreEntry) -> Value {
    let mut m = Map::new();
    m.insert("key".into(), json!(e.key));
    if let Some(data) = &e.data {
        m.insert("generation".into(), json!(e.generation.unwrap_or(0)));
        m.insert("hex".into(), json!(hex::encode(data)));
        if let Ok(s) = std::str::from_utf8(data) {
            if !s.contains('\0') {
                m.insert("string".into(), json!(s));
            }
        }
    }
    Value::Object(m)
}
