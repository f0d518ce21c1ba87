//! Parameter binding shared by every builtin command: positional arrays or keyword
//! objects, with Core Lightning's error texts (common/json_param.c).

use serde_json::{Map, Value};

use crate::error::RpcError;

/// One declared parameter of a command.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub required: bool,
}

impl Param {
    pub const fn req(name: &'static str) -> Self {
        Param {
            name,
            required: true,
        }
    }
    pub const fn opt(name: &'static str) -> Self {
        Param {
            name,
            required: false,
        }
    }
}

/// Usage string as `help` prints it: `name [optional]`.
pub fn usage(params: &[Param]) -> String {
    params
        .iter()
        .map(|p| {
            if p.required {
                p.name.to_string()
            } else {
                format!("[{}]", p.name)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parameters after binding: one slot per declared parameter, in declaration order.
#[derive(Debug, Clone, Default)]
pub struct Bound {
    values: Vec<(&'static str, Option<Value>)>,
    /// Keyword members that matched no declared parameter (only kept when the command
    /// allows extras, e.g. `plugin start` options).
    pub extra: Map<String, Value>,
}

impl Bound {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.as_ref())
    }

    pub fn take(&mut self, name: &str) -> Option<Value> {
        self.values
            .iter_mut()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.take())
    }

    /// A string parameter; `Ok(None)` when not given.
    pub fn str(&self, name: &str) -> Result<Option<&str>, RpcError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(bad_token(name, "should be a string", v)),
        }
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, RpcError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" => Ok(Some(false)),
            Some(v) => Err(bad_token(name, "should be 'true' or 'false'", v)),
        }
    }

    pub fn u64(&self, name: &str) -> Result<Option<u64>, RpcError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
            Some(Value::String(s)) if s.parse::<u64>().is_ok() => Ok(s.parse().ok()),
            Some(v) => Err(bad_token(name, "should be an unsigned 64 bit integer", v)),
        }
    }
}

/// `<name>: <what>: invalid token '<tok>'` — the form CLN uses in check/developer mode;
/// we always show the token because it is what a user needs to fix the call.
pub fn bad_token(name: &str, what: &str, tok: &Value) -> RpcError {
    RpcError::invalid_params(format!(
        "{name}: {what}: invalid token '{}'",
        serde_json::to_string(tok).unwrap_or_default()
    ))
}

fn unknown_parameter(name: &str) -> RpcError {
    RpcError::invalid_params(format!(
        "unknown parameter: {name}, this may be caused by a failure to autodetect key=value-style parameters. Please try using the -k flag and explicit key=value pairs of parameters."
    ))
}

/// Binds a request's `params`, like [`bind`], and also refuses a declared keyword given
/// twice (`duplicate json names: <p>`), which the parsed `params` no longer shows. As in
/// lightningd the members are looked at in order: an unknown name before the repeat is
/// reported instead.
pub fn bind_request(
    request: &crate::Request,
    spec: &[Param],
    allow_extra: bool,
) -> Result<Bound, RpcError> {
    if let Some(raw) = request.members.get("params") {
        if raw.get().starts_with('{') {
            if let Ok(Keys(keys)) = serde_json::from_str::<Keys>(raw.get()) {
                check_repeats(&keys, spec, allow_extra)?;
            }
        }
    }
    bind(&request.params, spec, allow_extra)
}

fn check_repeats(keys: &[String], spec: &[Param], allow_extra: bool) -> Result<(), RpcError> {
    // A set, not a list: a client may send a million keys.
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    if keys.iter().all(|k| seen.insert(k.as_str())) {
        return Ok(());
    }
    let mut set: Vec<&str> = Vec::new();
    for k in keys {
        match spec.iter().find(|p| p.name == k) {
            None if allow_extra => {}
            None => return Err(unknown_parameter(k)),
            Some(p) if set.contains(&p.name) => {
                return Err(RpcError::invalid_params(format!(
                    "duplicate json names: {}",
                    p.name
                )))
            }
            Some(p) => set.push(p.name),
        }
    }
    Ok(())
}

/// The member names of a JSON object, repeats included, in order.
struct Keys(Vec<String>);

impl<'de> serde::Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some((k, _)) = m.next_entry::<String, serde::de::IgnoredAny>()? {
                    keys.push(k);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(V)
    }
}

/// Binds `params` (array or object) to the declared list.
pub fn bind(params: &Value, spec: &[Param], allow_extra: bool) -> Result<Bound, RpcError> {
    let mut values: Vec<(&'static str, Option<Value>)> =
        spec.iter().map(|p| (p.name, None)).collect();
    let mut extra = Map::new();
    match params {
        Value::Array(items) => {
            if items.len() > spec.len() {
                return Err(RpcError::invalid_params(format!(
                    "too many parameters: got {}, expected {}",
                    items.len(),
                    spec.len()
                )));
            }
            for (slot, item) in values.iter_mut().zip(items) {
                // In positional form `null` means "not given".
                if !item.is_null() {
                    slot.1 = Some(item.clone());
                }
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                match values.iter_mut().find(|(n, _)| n == k) {
                    Some(slot) => slot.1 = Some(v.clone()),
                    None if allow_extra => {
                        extra.insert(k.clone(), v.clone());
                    }
                    None => return Err(unknown_parameter(k)),
                }
            }
        }
        _ => {
            return Err(RpcError::invalid_params(
                "Expected array or object for params",
            ))
        }
    }
    for (p, (_, v)) in spec.iter().zip(&values) {
        if p.required && v.is_none() {
            return Err(RpcError::invalid_params(format!(
                "missing required parameter: {}",
                p.name
            )));
        }
    }
    Ok(Bound { values, extra })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SPEC: &[Param] = &[Param::req("node_id"), Param::req("msg")];

    #[test]
    fn positional_and_keyword() {
        let b = bind(&json!(["a", "b"]), SPEC, false).unwrap();
        assert_eq!(b.str("msg").unwrap(), Some("b"));
        let b = bind(&json!({"msg": "b", "node_id": "a"}), SPEC, false).unwrap();
        assert_eq!(b.str("node_id").unwrap(), Some("a"));
    }

    #[test]
    fn cln_error_texts() {
        let m = |p: Value| bind(&p, SPEC, false).unwrap_err().message;
        assert_eq!(m(json!(["a"])), "missing required parameter: msg");
        assert_eq!(
            m(json!(["a", "b", "c"])),
            "too many parameters: got 3, expected 2"
        );
        assert!(m(json!({"x": 1})).starts_with("unknown parameter: x, this may be caused"));
        assert_eq!(m(json!("x")), "Expected array or object for params");
        assert_eq!(m(json!([null, "b"])), "missing required parameter: node_id");
        assert_eq!(usage(&[Param::req("a"), Param::opt("b")]), "a [b]");
    }

    fn req(text: &str) -> crate::Request {
        crate::parse_request(text.as_bytes()).unwrap()
    }

    /// Many distinct keywords are checked in linear time (this used to be quadratic: a
    /// 16 MiB request of 1.5M keys kept a worker busy for minutes).
    #[test]
    fn many_keywords_are_checked_quickly() {
        let body: Vec<String> = (0..200_000).map(|i| format!(r#""k{i}":1"#)).collect();
        let text = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"m","params":{{{}}}}}"#,
            body.join(",")
        );
        let r = req(&text);
        let t = std::time::Instant::now();
        assert!(bind_request(&r, &[Param::opt("a")], true).is_ok());
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            t.elapsed()
        );
    }

    /// A keyword given twice is refused as lightningd does, not silently taken from its
    /// last occurrence; the first problem in member order wins.
    #[test]
    fn duplicate_keywords_are_refused() {
        let m = |t: &str| bind_request(&req(t), SPEC, false).unwrap_err().message;
        assert_eq!(
            m(
                r#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"node_id":"a","msg":"b","node_id":"c"}}"#
            ),
            "duplicate json names: node_id"
        );
        assert!(
            m(r#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"x":1,"msg":"b","msg":"c"}}"#)
                .starts_with("unknown parameter: x, this may be caused")
        );
        let ok = bind_request(
            &req(r#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"node_id":"a","msg":"b"}}"#),
            SPEC,
            false,
        )
        .unwrap();
        assert_eq!(ok.str("msg").unwrap(), Some("b"));
        // Extras may repeat where extras are allowed; declared names still may not.
        let spec = &[Param::opt("a")];
        let dup_extra = r#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"x":1,"x":2}}"#;
        assert!(bind_request(&req(dup_extra), spec, true).is_ok());
        let dup = r#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"x":1,"a":1,"a":2}}"#;
        assert_eq!(
            bind_request(&req(dup), spec, true).unwrap_err().message,
            "duplicate json names: a"
        );
    }
}
