//! `checkrune`'s view of a request's params: the raw JSON text of each member or element,
//! as Core Lightning reads tokens (string escapes kept, whitespace inside objects kept).
//! The input has already been validated as JSON by the caller; anything unexpected here
//! yields `None`, never a panic.

use crate::restriction::FieldValue;

/// Raw JSON text split into its top-level members (object) or elements (array).
pub(crate) enum RawParams<'a> {
    /// `(key as written between its quotes, value token)`.
    Object(Vec<(&'a str, &'a str)>),
    Array(Vec<&'a str>),
}

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        self.skip_ws();
        (self.peek()? == b).then(|| self.pos += 1)
    }

    /// A string token; returns its inside (escapes kept).
    fn string(&mut self) -> Option<&'a str> {
        self.skip_ws();
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.pos + 1;
        self.pos = start;
        loop {
            match self.peek()? {
                b'\\' => self.pos += 2,
                b'"' => break,
                _ => self.pos += 1,
            }
        }
        let inner = self.text.get(start..self.pos)?;
        self.pos += 1;
        Some(inner)
    }

    /// Any value token; returns its text.
    fn value(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let start = self.pos;
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.pos += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
            }
            _ => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.pos += 1;
                }
            }
        }
        self.text.get(start..self.pos).filter(|t| !t.is_empty())
    }
}

/// Splits an object's or array's text; `None` for anything else.
pub(crate) fn split(text: &str) -> Option<RawParams<'_>> {
    let mut s = Scanner { text, pos: 0 };
    s.skip_ws();
    match s.peek()? {
        b'{' => {
            s.pos += 1;
            let mut members = Vec::new();
            s.skip_ws();
            if s.peek()? == b'}' {
                return Some(RawParams::Object(members));
            }
            loop {
                let key = s.string()?;
                s.eat(b':')?;
                members.push((key, s.value()?));
                s.skip_ws();
                match s.peek()? {
                    b',' => s.pos += 1,
                    b'}' => return Some(RawParams::Object(members)),
                    _ => return None,
                }
            }
        }
        b'[' => {
            s.pos += 1;
            let mut elements = Vec::new();
            s.skip_ws();
            if s.peek()? == b']' {
                return Some(RawParams::Array(elements));
            }
            loop {
                elements.push(s.value()?);
                s.skip_ws();
                match s.peek()? {
                    b',' => s.pos += 1,
                    b']' => return Some(RawParams::Array(elements)),
                    _ => return None,
                }
            }
        }
        _ => None,
    }
}

/// How `checkrune` values a token: a non-string primitive that is wholly a 64-bit integer
/// is an integer; everything else is its raw text (strings without their quotes).
pub(crate) fn token_value(raw: &str) -> FieldValue {
    match raw.as_bytes().first() {
        Some(b'"') => FieldValue::Str(raw.get(1..raw.len() - 1).unwrap_or("").to_string()),
        Some(b'{' | b'[') | None => FieldValue::Str(raw.to_string()),
        Some(_) => match raw.parse::<i64>() {
            Ok(i) => FieldValue::Int(i),
            Err(_) => FieldValue::Str(raw.to_string()),
        },
    }
}

/// `pname…`/`parr…` names to values, first registration winning, plus the count.
pub(crate) struct ParamMap {
    entries: Vec<(String, FieldValue)>,
    pub(crate) count: i64,
}

impl ParamMap {
    pub(crate) fn new(params: Option<&str>) -> ParamMap {
        let mut map = ParamMap {
            entries: Vec::new(),
            count: 0,
        };
        match params.and_then(split) {
            Some(RawParams::Object(members)) => {
                map.count = members.len() as i64;
                for (key, value) in members {
                    let v = token_value(value);
                    map.insert(format!("pname{key}"), v.clone());
                    let plain: String = key.chars().filter(|c| !c.is_ascii_punctuation()).collect();
                    map.insert(format!("pname{plain}"), v);
                }
            }
            Some(RawParams::Array(elements)) => {
                map.count = elements.len() as i64;
                for (i, value) in elements.into_iter().enumerate() {
                    map.insert(format!("parr{i}"), token_value(value));
                }
            }
            None => {}
        }
        map
    }

    fn insert(&mut self, name: String, value: FieldValue) {
        if self.get(&name).is_none() {
            self.entries.push((name, value));
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&FieldValue> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_tokens_keep_escapes_and_whitespace() {
        let m = ParamMap::new(Some(
            r#" { "q\"r" : "x\u00e9" , "n":-5, "f":1.5, "t":true, "o":{"x":[1, 2]}, "a_b":1, "ab":2, "c-d":"" } "#,
        ));
        assert_eq!(m.count, 8);
        assert_eq!(
            m.get(r#"pnameq\"r"#),
            Some(&FieldValue::Str(r"x\u00e9".into()))
        );
        assert_eq!(m.get("pnameab"), Some(&FieldValue::Int(1)));
        assert_eq!(m.get("pnameqr"), Some(&FieldValue::Str(r"x\u00e9".into())));
        assert_eq!(m.get("pnamen"), Some(&FieldValue::Int(-5)));
        assert_eq!(m.get("pnamef"), Some(&FieldValue::Str("1.5".into())));
        assert_eq!(m.get("pnamet"), Some(&FieldValue::Str("true".into())));
        assert_eq!(
            m.get("pnameo"),
            Some(&FieldValue::Str(r#"{"x":[1, 2]}"#.into()))
        );
        assert_eq!(m.get("pnamecd"), Some(&FieldValue::Str("".into())));
        assert_eq!(m.get("pnamea_b"), Some(&FieldValue::Int(1)));
        assert_eq!(m.get("parr0"), None);
    }

    #[test]
    fn arrays_number_their_elements() {
        let m = ParamMap::new(Some(r#"["a", [1,"]"], {"k":"}"}, null]"#));
        assert_eq!(m.count, 4);
        assert_eq!(m.get("parr0"), Some(&FieldValue::Str("a".into())));
        assert_eq!(m.get("parr1"), Some(&FieldValue::Str(r#"[1,"]"]"#.into())));
        assert_eq!(
            m.get("parr2"),
            Some(&FieldValue::Str(r#"{"k":"}"}"#.into()))
        );
        assert_eq!(m.get("parr3"), Some(&FieldValue::Str("null".into())));
        assert_eq!(ParamMap::new(Some("[]")).count, 0);
        assert_eq!(ParamMap::new(Some("{}")).count, 0);
        assert_eq!(ParamMap::new(None).count, 0);
    }

    #[test]
    fn garbage_never_panics() {
        for junk in [
            "", "{", "[", "{\"a\"", "{\"a\":", "[1,", "\"", "{\"\\", "[{]", "}", "x",
        ] {
            let _ = ParamMap::new(Some(junk));
        }
    }
}
