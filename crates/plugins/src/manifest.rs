//! The `getmanifest` reply: parsed and validated field by field in lightningd's order,
//! with its exact error texts (§2.3, §4.1, §5.1). Checks that need other plugins (name
//! clashes, duplicate feature bits, hook ordering) live in `registry.rs`.

use serde_json::Value;

use crate::features::{hex_decode, FeatureSet, PLACES};
use crate::hooks::{filter_kind, is_known_hook, FilterKind};
use crate::notify::is_native_topic;
use crate::options::{default_text, parse_value, OptType, OptionSpec};

/// A method a plugin serves.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodSpec {
    pub name: String,
    pub usage: String,
    pub deprecated: bool,
}

/// Values a hook registration's `filters` may hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Name(String),
    Type(u64),
}

/// One `hooks` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct HookSpec {
    pub name: String,
    pub before: Vec<String>,
    pub after: Vec<String>,
    /// `None`: called for everything. `Some(empty)`: never called.
    pub filters: Option<Vec<Filter>>,
}

/// A validated manifest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Manifest {
    pub dynamic: bool,
    pub featurebits: FeatureSet,
    pub custommessages: Vec<u16>,
    pub cancheck: bool,
    /// Topics this plugin may emit.
    pub notifications: Vec<String>,
    pub options: Vec<OptionSpec>,
    pub methods: Vec<MethodSpec>,
    pub subscriptions: Vec<String>,
    pub hooks: Vec<HookSpec>,
}

/// What a reply asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum ManifestReply {
    Register(Box<Manifest>),
    /// `disable` was present; carries its text.
    Disabled(String),
}

fn tok(v: &Value) -> String {
    v.to_string()
}

/// Parses a getmanifest reply. `result` is the reply's `result` member (if any), `whole`
/// the reply's text for the error message, `plugin` the plugin's absolute path.
pub fn parse(result: Option<&Value>, whole: &str, plugin: &str) -> Result<ManifestReply, String> {
    let Some(Value::Object(r)) = result else {
        return Err(format!("Invalid/missing result tok in '{whole}'"));
    };
    if let Some(d) = r.get("disable") {
        let text = match d {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        return Ok(ManifestReply::Disabled(text));
    }
    let mut m = Manifest::default();
    if let Some(d) = r.get("dynamic") {
        m.dynamic = d
            .as_bool()
            .ok_or_else(|| format!("getmanifest: invalid \"dynamic\" field {}", tok(d)))?;
    }
    if let Some(fb) = r.get("featurebits") {
        if let Value::Object(fbm) = fb {
            for place in PLACES {
                let Some(v) = fbm.get(place) else { continue };
                let bits = v.as_str().and_then(hex_decode).ok_or_else(|| {
                    format!(
                        "Featurebits returned by plugin is not a valid hexadecimal string: {}",
                        tok(v)
                    )
                })?;
                m.featurebits.bits.insert(place.to_string(), bits);
            }
        }
        if m.dynamic && !m.featurebits.is_empty() {
            return Err(format!(
                "Custom featurebits only allows for non-dynamic plugins: dynamic=1, featurebits={}",
                tok(fb)
            ));
        }
    }
    if let Some(cm) = r.get("custommessages") {
        let Value::Array(items) = cm else {
            return Err(format!("custommessages must be array, not '{}'", tok(cm)));
        };
        for (i, t) in items.iter().enumerate() {
            let n = t
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| format!("custommessages {i} not a u16: '{}'", tok(t)))?;
            m.custommessages.push(n);
        }
    }
    if let Some(n) = r.get("nonnumericids") {
        match n.as_bool() {
            None => return Err(format!("Invalid nonnumericids: {}", tok(n))),
            Some(false) => return Err("Plugin does not allow nonnumericids".to_string()),
            Some(true) => {}
        }
    }
    if let Some(c) = r.get("cancheck") {
        m.cancheck = c
            .as_bool()
            .ok_or_else(|| format!("Invalid cancheck: {}", tok(c)))?;
    }
    if let Some(n) = r.get("notifications") {
        let Value::Array(items) = n else {
            return Err("\"result.notifications\" is not an array".to_string());
        };
        for (i, item) in items.iter().enumerate() {
            let Value::Object(o) = item else {
                return Err(format!("\"result.notifications[{i}]\" is not an object"));
            };
            let Some(topic) = o.get("method").and_then(Value::as_str) else {
                return Err(format!(
                    "\"result.notifications[{i}].name\" missing or not a string."
                ));
            };
            if is_native_topic(topic) {
                return Err(format!("plugin attempted to register a native notification topic \"{topic}\", these may however only be sent by lightningd"));
            }
            m.notifications.push(topic.to_string());
        }
    }
    match r.get("options") {
        None => return Err("\"result.options\" was not found in the manifest".to_string()),
        Some(Value::Array(items)) => {
            for o in items {
                m.options.push(parse_option(o, plugin)?);
            }
        }
        Some(_) => return Err("\"result.options\" is not an array".to_string()),
    }
    match r.get("rpcmethods") {
        None => return Err("\"result.rpcmethods\" missing".to_string()),
        Some(Value::Array(items)) => {
            for o in items {
                m.methods.push(parse_method(o)?);
            }
        }
        Some(_) => return Err("\"result.rpcmethods\" is not an array".to_string()),
    }
    if let Some(s) = r.get("subscriptions") {
        let Value::Array(items) = s else {
            return Err("\"result.subscriptions\" is not an array".to_string());
        };
        for (i, t) in items.iter().enumerate() {
            let topic = t.as_str().ok_or_else(|| {
                format!("result.subscriptions[{i}] is not a string: '{}'", tok(t))
            })?;
            m.subscriptions.push(topic.to_string());
        }
    }
    if let Some(Value::Array(items)) = r.get("hooks") {
        for h in items {
            let spec = parse_hook(h)?;
            if m.hooks.iter().any(|x| x.name == spec.name) {
                return Err(format!("Registered for hook {} multiple times", spec.name));
            }
            m.hooks.push(spec);
        }
    }
    Ok(ManifestReply::Register(Box::new(m)))
}

fn bool_field(o: &serde_json::Map<String, Value>, field: &str, name: &str) -> Result<bool, String> {
    match o.get(field) {
        None => Ok(false),
        Some(v) => v
            .as_bool()
            .ok_or_else(|| format!("--{name}: invalid \"{field}\" field {}", tok(v))),
    }
}

/// `deprecated`: `true`, `false`, or `["vYY.MM[.P]"(, "end")]`.
fn parse_deprecated(v: Option<&Value>) -> Result<bool, String> {
    match v {
        None | Some(Value::Bool(false)) => Ok(false),
        Some(Value::Bool(true)) => Ok(true),
        Some(Value::Array(a)) if (1..=2).contains(&a.len()) => {
            let ok = |v: &Value| v.as_str().map(valid_version).unwrap_or(false);
            if let Some(start) = a.first() {
                if !ok(start) {
                    return Err(format!(
                        "invalid \"deprecated\" start version {}",
                        tok(start)
                    ));
                }
            }
            if let Some(end) = a.get(1) {
                if !ok(end) {
                    return Err(format!("invalid \"deprecated\" end version {}", tok(end)));
                }
            }
            Ok(true)
        }
        Some(other) => Err(format!(
            "\"deprecated\" must be an array of 1 or 2 elements, not {}",
            tok(other)
        )),
    }
}

/// `vYY.MM` or `vYY.MM.P`.
fn valid_version(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let parts: Vec<&str> = rest.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn parse_option(o: &Value, plugin: &str) -> Result<OptionSpec, String> {
    let missing =
        || "An option is missing either \"name\", \"description\" or \"type\"".to_string();
    let Value::Object(o) = o else {
        return Err(missing());
    };
    let (Some(name), Some(typ), Some(desc)) = (
        o.get("name").and_then(Value::as_str),
        o.get("type").and_then(Value::as_str),
        o.get("description").and_then(Value::as_str),
    ) else {
        return Err(missing());
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err("Option \"name\" must be lowercase alphanumeric, plus _ or -'".to_string());
    }
    let Some(typ) = OptType::from_manifest(typ) else {
        return Err(
            "Only \"string\", \"int\", \"bool\", and \"flag\" options are supported".to_string(),
        );
    };
    let multi = bool_field(o, "multi", name)?;
    let dynamic = bool_field(o, "dynamic", name)?;
    if multi && typ == OptType::Flag {
        return Err("flag type cannot be multi".to_string());
    }
    if multi && typ == OptType::Bool {
        return Err("bool type cannot be multi".to_string());
    }
    let deprecated = parse_deprecated(o.get("deprecated"))?;
    let default = match o.get("default") {
        None | Some(Value::Null) => None,
        Some(d) if typ == OptType::Flag => {
            if d != &Value::Bool(false) {
                return Err(format!(
                    "--{name} type flag default must be 'false' not {}",
                    tok(d)
                ));
            }
            None
        }
        Some(d) => {
            let text = default_text(d);
            if let Some(t) = &text {
                parse_value(typ, Some(t)).map_err(|e| format!("Invalid default '{t}': {e}"))?;
            }
            text
        }
    };
    Ok(OptionSpec {
        name: name.to_string(),
        typ,
        description: desc.to_string(),
        default,
        multi,
        dynamic,
        deprecated,
        plugin: plugin.to_string(),
    })
}

fn parse_method(o: &Value) -> Result<MethodSpec, String> {
    let Some(name) = o.get("name").and_then(Value::as_str) else {
        return Err(format!(
            "rpcmethod does not have a string \"name\": {}",
            tok(o)
        ));
    };
    let usage = match o.get("usage") {
        None => return Err("\"usage\" not provided by plugin".to_string()),
        Some(Value::String(u)) => u.clone(),
        Some(_) => return Err(format!("\"usage\" is not a string: {}", tok(o))),
    };
    let deprecated = parse_deprecated(o.get("deprecated"))?;
    Ok(MethodSpec {
        name: name.to_string(),
        usage,
        deprecated,
    })
}

fn parse_hook(h: &Value) -> Result<HookSpec, String> {
    let (name, obj) = match h {
        Value::String(s) => (s.clone(), None),
        Value::Object(o) => match o.get("name").and_then(Value::as_str) {
            Some(n) => (n.to_string(), Some(o)),
            None => return Err(format!("no name in hook obj {}", tok(h))),
        },
        other => return Err(format!("no name in hook obj {}", tok(other))),
    };
    if !is_known_hook(&name) {
        return Err(format!("Unknown hook name {name}"));
    }
    let names = |field: &str| -> Vec<String> {
        obj.and_then(|o| o.get(field))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut spec = HookSpec {
        before: names("before"),
        after: names("after"),
        filters: None,
        name,
    };
    if let Some(f) = obj.and_then(|o| o.get("filters")) {
        let kind = filter_kind(&spec.name)
            .ok_or_else(|| format!("Hook {} does not allow filters", spec.name))?;
        let Value::Array(items) = f else {
            return Err("filters token must be an array".to_string());
        };
        let mut out = Vec::new();
        for t in items {
            match kind {
                FilterKind::Names => match t.as_str() {
                    Some(s) => out.push(Filter::Name(s.to_string())),
                    None => {
                        return Err(format!(
                            "filters must be array of strings, not '{}'",
                            tok(t)
                        ))
                    }
                },
                FilterKind::Types => match t.as_u64() {
                    Some(n) => out.push(Filter::Type(n)),
                    None => {
                        return Err(format!(
                            "filters must be array of unsigned integers, not '{}'",
                            tok(t)
                        ))
                    }
                },
            }
        }
        spec.filters = Some(out);
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> String {
        parse(Some(&v), "w", "/p").unwrap_err()
    }

    #[test]
    fn minimal_manifest_registers() {
        let r = parse(Some(&json!({"options":[],"rpcmethods":[]})), "", "/p").unwrap();
        assert!(matches!(r, ManifestReply::Register(_)));
    }

    #[test]
    fn every_table_row_has_its_text() {
        assert_eq!(
            parse(None, "{x}", "/p").unwrap_err(),
            "Invalid/missing result tok in '{x}'"
        );
        assert_eq!(
            err(json!({"dynamic":1})),
            "getmanifest: invalid \"dynamic\" field 1"
        );
        assert_eq!(
            err(json!({"featurebits":{"node":"zz"}})),
            "Featurebits returned by plugin is not a valid hexadecimal string: \"zz\""
        );
        assert!(err(json!({"dynamic":true,"featurebits":{"node":"02"}}))
            .starts_with("Custom featurebits only allows for non-dynamic plugins: dynamic=1"));
        assert_eq!(
            err(json!({"custommessages":5})),
            "custommessages must be array, not '5'"
        );
        assert_eq!(
            err(json!({"custommessages":[70000]})),
            "custommessages 0 not a u16: '70000'"
        );
        assert_eq!(
            err(json!({"nonnumericids":false})),
            "Plugin does not allow nonnumericids"
        );
        assert_eq!(
            err(json!({"nonnumericids":"x"})),
            "Invalid nonnumericids: \"x\""
        );
        assert_eq!(err(json!({"cancheck":"x"})), "Invalid cancheck: \"x\"");
        assert_eq!(
            err(json!({"notifications":{}})),
            "\"result.notifications\" is not an array"
        );
        assert_eq!(
            err(json!({"notifications":[1]})),
            "\"result.notifications[0]\" is not an object"
        );
        assert_eq!(
            err(json!({"notifications":[{}]})),
            "\"result.notifications[0].name\" missing or not a string."
        );
        assert!(err(json!({"notifications":[{"method":"connect"}]}))
            .starts_with("plugin attempted to register a native notification topic \"connect\""));
        assert_eq!(
            err(json!({})),
            "\"result.options\" was not found in the manifest"
        );
        assert_eq!(
            err(json!({"options":{}})),
            "\"result.options\" is not an array"
        );
        assert_eq!(err(json!({"options":[]})), "\"result.rpcmethods\" missing");
        assert_eq!(
            err(json!({"options":[],"rpcmethods":1})),
            "\"result.rpcmethods\" is not an array"
        );
        let base = |k: &str, v: Value| {
            let mut o = json!({"options":[],"rpcmethods":[]});
            o[k] = v;
            err(o)
        };
        assert_eq!(
            base("subscriptions", json!(1)),
            "\"result.subscriptions\" is not an array"
        );
        assert_eq!(
            base("subscriptions", json!([1])),
            "result.subscriptions[0] is not a string: '1'"
        );
        assert_eq!(base("hooks", json!([{}])), "no name in hook obj {}");
        assert_eq!(base("hooks", json!(["nope"])), "Unknown hook name nope");
        assert_eq!(
            base("hooks", json!([{"name":"peer_connected","filters":[]}])),
            "Hook peer_connected does not allow filters"
        );
        assert_eq!(
            base("hooks", json!([{"name":"rpc_command","filters":"x"}])),
            "filters token must be an array"
        );
        assert_eq!(
            base("hooks", json!([{"name":"rpc_command","filters":[1]}])),
            "filters must be array of strings, not '1'"
        );
        assert_eq!(
            base("hooks", json!([{"name":"custommsg","filters":["a"]}])),
            "filters must be array of unsigned integers, not '\"a\"'"
        );
        assert_eq!(
            base("hooks", json!(["custommsg", "custommsg"])),
            "Registered for hook custommsg multiple times"
        );
    }

    #[test]
    fn option_and_method_rows() {
        let opt = |o: Value| err(json!({"options":[o],"rpcmethods":[]}));
        assert_eq!(
            opt(json!({"name":"a","type":"string"})),
            "An option is missing either \"name\", \"description\" or \"type\""
        );
        assert_eq!(
            opt(json!({"name":"A","type":"string","description":""})),
            "Option \"name\" must be lowercase alphanumeric, plus _ or -'"
        );
        assert_eq!(
            opt(json!({"name":"a","type":"float","description":""})),
            "Only \"string\", \"int\", \"bool\", and \"flag\" options are supported"
        );
        assert_eq!(
            opt(json!({"name":"a","type":"int","description":"","default":"x"})),
            "Invalid default 'x': 'x' is not a number"
        );
        assert_eq!(
            opt(json!({"name":"a","type":"flag","description":"","default":true})),
            "--a type flag default must be 'false' not true"
        );
        assert_eq!(
            opt(json!({"name":"a","type":"flag","description":"","multi":true})),
            "flag type cannot be multi"
        );
        assert_eq!(
            opt(json!({"name":"a","type":"bool","description":"","multi":true})),
            "bool type cannot be multi"
        );
        assert_eq!(
            opt(json!({"name":"a","type":"int","description":"","dynamic":"y"})),
            "--a: invalid \"dynamic\" field \"y\""
        );
        assert_eq!(
            opt(json!({"name":"a","type":"int","description":"","deprecated":"y"})),
            "\"deprecated\" must be an array of 1 or 2 elements, not \"y\""
        );
        assert_eq!(
            opt(json!({"name":"a","type":"int","description":"","deprecated":["x"]})),
            "invalid \"deprecated\" start version \"x\""
        );
        let meth = |o: Value| err(json!({"options":[],"rpcmethods":[o]}));
        assert_eq!(
            meth(json!({"usage":""})),
            "rpcmethod does not have a string \"name\": {\"usage\":\"\"}"
        );
        assert_eq!(
            meth(json!({"name":"x"})),
            "\"usage\" not provided by plugin"
        );
        assert_eq!(
            meth(json!({"name":"x","usage":1})),
            "\"usage\" is not a string: {\"name\":\"x\",\"usage\":1}"
        );
    }
}
