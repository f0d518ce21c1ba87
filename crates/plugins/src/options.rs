//! Plugin-declared options: their types and how a value given on the command line, in a
//! config file, as a manifest `default`, by `plugin start` or by `setconfig` is parsed (§4).
//!
//! Values travel as the text the user wrote; [`parse_value`] turns text into the typed JSON
//! the plugin receives in `init`, with Core Lightning's error texts.

use serde_json::Value;

/// The five option types a manifest may declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptType {
    String,
    /// Like `string` but shown as `"..."` in `listconfigs`.
    StringConceal,
    Int,
    Bool,
    Flag,
}

impl OptType {
    pub fn from_manifest(s: &str) -> Option<OptType> {
        Some(match s {
            "string" => OptType::String,
            "string-conceal" => OptType::StringConceal,
            "int" => OptType::Int,
            "bool" => OptType::Bool,
            "flag" => OptType::Flag,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            OptType::String => "string",
            OptType::StringConceal => "string-conceal",
            OptType::Int => "int",
            OptType::Bool => "bool",
            OptType::Flag => "flag",
        }
    }
}

/// One option a plugin declared, as boltd's config registry, `--help` and `listconfigs`
/// need it.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionSpec {
    pub name: String,
    pub typ: OptType,
    pub description: String,
    /// The manifest default as command-line text (already validated), if any.
    pub default: Option<String>,
    pub multi: bool,
    pub dynamic: bool,
    /// Declared deprecated: hidden and refused unless deprecated APIs are allowed.
    pub deprecated: bool,
    /// Absolute path of the plugin that owns it.
    pub plugin: String,
}

/// Parses one option value exactly as lightningd's option parser does. `None` means the
/// option was given without `=value` (only valid for flags).
pub fn parse_value(typ: OptType, text: Option<&str>) -> Result<Value, String> {
    match typ {
        OptType::Flag => match text {
            None => Ok(Value::Bool(true)),
            Some(_) => Err("doesn't allow an argument".to_string()),
        },
        _ => {
            let Some(text) = text else {
                return Err("requires an argument".to_string());
            };
            match typ {
                OptType::String | OptType::StringConceal => Ok(Value::String(text.to_string())),
                OptType::Int => parse_int(text)
                    .map(|n| Value::Number(n.into()))
                    .ok_or_else(|| format!("'{text}' is not a number")),
                OptType::Bool => parse_bool(text)
                    .map(Value::Bool)
                    .ok_or_else(|| format!("Invalid argument '{text}'")),
                OptType::Flag => Ok(Value::Bool(true)),
            }
        }
    }
}

/// A bool option value: `yes|true|no|false`, case-insensitive; `1`/`0` are refused like
/// lightningd does. The one bool parser of every option, builtin or plugin.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "yes" | "true" => Some(true),
        "no" | "false" => Some(false),
        _ => None,
    }
}

/// An integer option value as lightningd reads it: C `strtol(s, &end, 0)` with the whole
/// string consumed and no overflow: optional leading whitespace and one sign, `0x` hex,
/// leading `0` octal, else decimal. The one integer parser of every option, builtin or
/// plugin.
pub fn parse_int(s: &str) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = if t.len() > 2 && (t.starts_with("0x") || t.starts_with("0X")) {
        (16, &t[2..])
    } else if t.len() > 1 && t.starts_with('0') {
        (8, &t[1..])
    } else {
        (10, t)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mag = i128::from_str_radix(digits, radix).ok()?;
    let v = if neg { -mag } else { mag };
    i64::try_from(v).ok()
}

/// The value text a manifest `default` stands for: a JSON string's contents, or any other
/// token's raw text (`42`, `true`).
pub fn default_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_follow_strtol_base_zero() {
        assert_eq!(parse_int("42"), Some(42));
        assert_eq!(parse_int("0x10"), Some(16));
        assert_eq!(parse_int("010"), Some(8));
        assert_eq!(parse_int("-7"), Some(-7));
        assert_eq!(parse_int("0"), Some(0));
        assert_eq!(parse_int("notok"), None);
        assert_eq!(parse_int("12abc"), None);
        assert_eq!(parse_int("99999999999999999999"), None);
        // One sign only.
        assert_eq!(parse_int("--5"), None);
        assert_eq!(parse_int("-+5"), None);
        assert_eq!(parse_int("+-5"), None);
        assert_eq!(parse_int("+5"), Some(5));
        assert_eq!(parse_int(" 5"), Some(5));
        assert_eq!(parse_int("5 "), None);
        assert_eq!(parse_int("-0x10"), Some(-16));
        assert_eq!(
            parse_value(OptType::Int, Some("notok")).unwrap_err(),
            "'notok' is not a number"
        );
    }

    #[test]
    fn bools_and_flags() {
        assert_eq!(
            parse_value(OptType::Bool, Some("YES")).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            parse_value(OptType::Bool, Some("false")).unwrap(),
            Value::Bool(false)
        );
        assert_eq!(
            parse_value(OptType::Bool, Some("1")).unwrap_err(),
            "Invalid argument '1'"
        );
        assert_eq!(
            parse_value(OptType::Flag, Some("True")).unwrap_err(),
            "doesn't allow an argument"
        );
        assert_eq!(parse_value(OptType::Flag, None).unwrap(), Value::Bool(true));
    }
}
