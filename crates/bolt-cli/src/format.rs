//! Output formats, the way `lightning-cli` prints a result: pretty JSON with a 3-space
//! indent (`-J`, the default), human-readable (`-H`), flat `a.b[0]=v` lines (`-F`), raw
//! compact JSON (`-R`), and the sorted `help` list. All pure: value in, text out.

use serde_json::{Map, Value};

/// What the user asked for on the command line (`None` of them: [`Format::Default`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Default,
    Json,
    Human,
    Flat,
    Raw,
    /// Chosen for a bare `help` in the default format: the sorted command list.
    HelpList,
}

/// The footer lightning-cli prints under the help list, naming our binary.
pub const HELP_FOOTER: &str =
    "---\nrun `bolt-cli help <command>` for more information on a specific command\n";

/// Removes `format-hint` from a result object; true if it said `simple`.
pub fn take_format_hint(result: &mut Value) -> bool {
    match result
        .as_object_mut()
        .and_then(|o| o.shift_remove("format-hint"))
    {
        Some(Value::String(s)) => s == "simple",
        _ => false,
    }
}

/// Decides the final format and strips the hint where lightning-cli does: an explicit
/// format wins (and `-H` still hides the hint); with no flag a bare `help` is the help
/// list, otherwise `format-hint: simple` means human output and the hint never shows.
pub fn choose(requested: Format, method: &str, help_topic: bool, result: &mut Value) -> Format {
    match requested {
        Format::Default if method == "help" && !help_topic => Format::HelpList,
        Format::Default => {
            if take_format_hint(result) {
                Format::Human
            } else {
                Format::Json
            }
        }
        Format::Human => {
            take_format_hint(result);
            Format::Human
        }
        other => other,
    }
}

/// Renders a successful result in `format` (already resolved by [`choose`]).
pub fn render(result: &Value, format: Format) -> String {
    match format {
        Format::Human => {
            let mut out = String::new();
            human(result, '\n', &mut out);
            out
        }
        Format::Flat => {
            let mut out = String::new();
            flat("", result, &mut out);
            out
        }
        Format::Raw => raw(result) + "\n",
        Format::HelpList => help_list(result),
        Format::Json | Format::Default => pretty(result) + "\n",
    }
}

/// Pretty JSON with lightning-cli's 3-space indent and `"key": value` spacing.
pub fn pretty(value: &Value) -> String {
    use serde::Serialize;
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    // Serializing a Value into memory cannot fail.
    let _ = value.serialize(&mut ser);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Compact JSON, as it came over the wire.
pub fn raw(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The text of a token as it appears in the JSON: strings without their quotes but with
/// their escapes, numbers and literals as written.
fn token_text(value: &Value) -> String {
    match value {
        Value::String(s) => {
            let q = serde_json::to_string(s).unwrap_or_default();
            q.get(1..q.len().saturating_sub(1))
                .unwrap_or("")
                .to_string()
        }
        other => raw(other),
    }
}

/// lightning-cli's human printer only turns the escapes `\n` and `\t` back into the
/// characters; every other escape is printed as written.
fn unescape_nt(text: &str, out: &mut String) {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('n') => {
                    out.push('\n');
                    chars.next();
                    continue;
                }
                Some('t') => {
                    out.push('\t');
                    chars.next();
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
}

/// Human-readable: scalars one per line, `key=value` lines for objects, and an object
/// with a single member is elided to just its value.
fn human(value: &Value, term: char, out: &mut String) {
    match value {
        Value::Array(items) => {
            for item in items {
                human(item, '\n', out);
            }
        }
        Value::Object(map) if map.len() == 1 => {
            if let Some(v) = map.values().next() {
                human(v, '\n', out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                unescape_nt(&token_text(&Value::String(k.clone())), out);
                out.push('=');
                human(v, '\n', out);
            }
        }
        scalar => {
            unescape_nt(&token_text(scalar), out);
            out.push(term);
        }
    }
}

/// Flat: one `path=value` line per scalar, paths like `address[0].port`.
fn flat(prefix: &str, value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flat(&format!("{prefix}[{i}]"), item, out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let key = token_text(&Value::String(k.clone()));
                let path = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                flat(&path, v, out);
            }
        }
        scalar => {
            out.push_str(prefix);
            out.push('=');
            out.push_str(&token_text(scalar));
            out.push('\n');
        }
    }
}

/// The bare `help` listing: commands sorted by category (`developer` last) then name,
/// each followed by a blank line, then the footer.
pub fn help_list(result: &Value) -> String {
    let empty = Vec::new();
    let mut entries: Vec<&Map<String, Value>> = result
        .get("help")
        .and_then(Value::as_array)
        .unwrap_or(&empty)
        .iter()
        .filter_map(Value::as_object)
        .collect();
    let key = |e: &Map<String, Value>| {
        let cat = e.get("category").and_then(Value::as_str).unwrap_or("");
        let cmd = e.get("command").and_then(Value::as_str).unwrap_or("");
        (cat == "developer", cat.to_string(), cmd.to_string())
    };
    entries.sort_by_key(|e| key(e));
    let mut out = String::new();
    for e in entries {
        if let Some(cmd) = e.get("command") {
            out.push_str(&token_text(cmd));
            out.push_str("\n\n");
        }
    }
    out.push_str(HELP_FOOTER);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pretty_uses_three_spaces_and_keeps_order() {
        let v = json!({"z": 1, "a": [true, {"b": "x"}], "e": {}, "f": []});
        assert_eq!(
            pretty(&v),
            "{\n   \"z\": 1,\n   \"a\": [\n      true,\n      {\n         \"b\": \"x\"\n      }\n   ],\n   \"e\": {},\n   \"f\": []\n}"
        );
    }

    #[test]
    fn human_prints_key_value_lines_and_elides_single_members() {
        let v = json!({"id": "02ab", "num_peers": 0, "address": [{"port": 9735}]});
        assert_eq!(
            render(&v, Format::Human),
            "id=02ab\nnum_peers=0\naddress=9735\n"
        );
        assert_eq!(
            render(&json!({"result": "Shutdown complete"}), Format::Human),
            "Shutdown complete\n"
        );
    }

    #[test]
    fn human_unescapes_only_newline_and_tab() {
        let v = json!({"a": "line1\nline2\tx", "b": "q\"uote"});
        assert_eq!(
            render(&v, Format::Human),
            "a=line1\nline2\tx\nb=q\\\"uote\n"
        );
    }

    #[test]
    fn flat_paths() {
        let v = json!({"id": "x", "address": [{"type": "ipv4", "port": 1}], "o": {"k": null}});
        assert_eq!(
            render(&v, Format::Flat),
            "id=x\naddress[0].type=ipv4\naddress[0].port=1\no.k=null\n"
        );
    }

    #[test]
    fn raw_is_compact() {
        assert_eq!(
            render(&json!({"a": [1, 2]}), Format::Raw),
            "{\"a\":[1,2]}\n"
        );
    }

    #[test]
    fn help_list_sorted_with_developer_last_and_footer() {
        let v = json!({"help": [
            {"command": "stop", "category": "utility"},
            {"command": "dev-x", "category": "developer"},
            {"command": "getinfo", "category": "utility"},
            {"command": "connect id", "category": "network"},
        ], "format-hint": "simple"});
        assert_eq!(
            help_list(&v),
            format!("connect id\n\ngetinfo\n\nstop\n\ndev-x\n\n{HELP_FOOTER}")
        );
        let plain = json!({"help": [{"command": "b"}, {"command": "a"}]});
        assert_eq!(help_list(&plain), format!("a\n\nb\n\n{HELP_FOOTER}"));
    }

    #[test]
    fn format_hint_rules() {
        let hinted = || json!({"help": [{"command": "x"}], "format-hint": "simple"});
        // Default: hint → human, hint removed.
        let mut v = hinted();
        assert_eq!(choose(Format::Default, "help", true, &mut v), Format::Human);
        assert!(v.get("format-hint").is_none());
        // Bare help → help list.
        let mut v = hinted();
        assert_eq!(
            choose(Format::Default, "help", false, &mut v),
            Format::HelpList
        );
        // Explicit -J keeps the hint; -H strips it.
        let mut v = hinted();
        assert_eq!(choose(Format::Json, "help", true, &mut v), Format::Json);
        assert!(v.get("format-hint").is_some());
        let mut v = hinted();
        assert_eq!(choose(Format::Human, "x", false, &mut v), Format::Human);
        assert!(v.get("format-hint").is_none());
        // A non-simple hint is still hidden by default but leaves JSON output.
        let mut v = json!({"a": 1, "format-hint": "other"});
        assert_eq!(choose(Format::Default, "x", false, &mut v), Format::Json);
        assert_eq!(v, json!({"a": 1}));
    }
}
