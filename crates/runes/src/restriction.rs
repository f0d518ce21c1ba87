//! Restrictions and their alternatives: the text grammar (`field` `condition` `value`,
//! alternatives joined by `|`, values escaped with `\`), and how one alternative judges a
//! field value, with the complaint texts Core Lightning's `checkrune` returns.

use crate::rune::RuneError;

/// The eleven conditions, by the byte that spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Missing,
    Equal,
    NotEqual,
    BeginsWith,
    EndsWith,
    Contains,
    IntLess,
    IntGreater,
    SortsBefore,
    SortsAfter,
    Comment,
}

impl Condition {
    pub fn from_byte(b: u8) -> Option<Condition> {
        Some(match b {
            b'!' => Condition::Missing,
            b'=' => Condition::Equal,
            b'/' => Condition::NotEqual,
            b'^' => Condition::BeginsWith,
            b'$' => Condition::EndsWith,
            b'~' => Condition::Contains,
            b'<' => Condition::IntLess,
            b'>' => Condition::IntGreater,
            b'{' => Condition::SortsBefore,
            b'}' => Condition::SortsAfter,
            b'#' => Condition::Comment,
            _ => return None,
        })
    }

    pub fn as_char(self) -> char {
        match self {
            Condition::Missing => '!',
            Condition::Equal => '=',
            Condition::NotEqual => '/',
            Condition::BeginsWith => '^',
            Condition::EndsWith => '$',
            Condition::Contains => '~',
            Condition::IntLess => '<',
            Condition::IntGreater => '>',
            Condition::SortsBefore => '{',
            Condition::SortsAfter => '}',
            Condition::Comment => '#',
        }
    }
}

/// A field's value as `checkrune` sees it: integers compare numerically with `<`/`>` and as
/// their decimal text with every other condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    Int(i64),
    Str(String),
}

/// One `<field><condition><value>`; `field` and `value` are unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alternative {
    pub field: String,
    pub condition: Condition,
    pub value: String,
}

/// ASCII punctuation ends a field name, except `_` (C's `ispunct`).
fn ends_field(b: u8) -> bool {
    b.is_ascii_punctuation() && b != b'_'
}

impl Alternative {
    /// Parses the unescaped form `createrune` takes: the field ends at the first punctuation
    /// other than `_`, which must be a condition; the whole rest is the value, literally.
    /// The field must not be empty (only the id marker has an empty field).
    pub fn parse_unescaped(text: &str) -> Result<Alternative, RuneError> {
        let bytes = text.as_bytes();
        let cut = bytes
            .iter()
            .position(|&b| ends_field(b))
            .ok_or(RuneError::Malformed)?;
        let condition = bytes
            .get(cut)
            .copied()
            .and_then(Condition::from_byte)
            .ok_or(RuneError::Malformed)?;
        if cut == 0 || text.contains('\0') {
            return Err(RuneError::Malformed);
        }
        Ok(Alternative {
            field: text[..cut].to_string(),
            condition,
            value: text[cut + 1..].to_string(),
        })
    }

    /// The canonical text: `\`, `|` and `&` in the value escaped, nothing else.
    pub fn encode_into(&self, out: &mut String) {
        out.push_str(&self.field);
        out.push(self.condition.as_char());
        for c in self.value.chars() {
            if matches!(c, '\\' | '|' | '&') {
                out.push('\\');
            }
            out.push(c);
        }
    }

    /// Judges a field value; `Err` carries Core Lightning's complaint text.
    pub fn test(&self, field: Option<&FieldValue>) -> Result<(), String> {
        let (f, v) = (&self.field, &self.value);
        let int = match field {
            Some(FieldValue::Int(i)) => Some(*i),
            _ => None,
        };
        let text: Option<String> = match field {
            Some(FieldValue::Int(i)) => Some(i.to_string()),
            Some(FieldValue::Str(s)) => Some(s.clone()),
            None => None,
        };
        let cond_test = |ok: bool, complaint: &str| {
            if ok {
                Ok(())
            } else {
                Err(format!("{f} {complaint} {v}"))
            }
        };
        if self.condition == Condition::Comment {
            return Ok(());
        }
        let Some(s) = text else {
            return match self.condition {
                Condition::Missing => Ok(()),
                _ => Err(format!("{f} not present")),
            };
        };
        match self.condition {
            Condition::Missing => Err(format!("{f} is present")),
            Condition::Equal => cond_test(s == *v, "is not equal to"),
            Condition::NotEqual => cond_test(s != *v, "is equal to"),
            Condition::BeginsWith => cond_test(s.starts_with(v.as_str()), "does not start with"),
            Condition::EndsWith => cond_test(s.ends_with(v.as_str()), "does not end with"),
            Condition::Contains => cond_test(s.contains(v.as_str()), "does not contain"),
            Condition::IntLess | Condition::IntGreater => {
                let Some(i) = int else {
                    return Err(format!("{f} is not an integer field"));
                };
                let Some(rv) = parse_c_long(v) else {
                    return Err(format!("{v} is not a valid integer"));
                };
                if self.condition == Condition::IntLess {
                    cond_test(i < rv, "is greater or equal to")
                } else {
                    cond_test(i > rv, "is less or equal to")
                }
            }
            Condition::SortsBefore => {
                cond_test(s.as_bytes() < v.as_bytes(), "is equal to or ordered after")
            }
            Condition::SortsAfter => {
                cond_test(s.as_bytes() > v.as_bytes(), "is equal to or ordered before")
            }
            Condition::Comment => Ok(()),
        }
    }
}

/// `strtol(v, &end, 10)` consuming everything: optional leading whitespace and sign, at
/// least one digit, no trailing bytes, within 64 bits.
fn parse_c_long(v: &str) -> Option<i64> {
    let t = v.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.strip_prefix('+').unwrap_or(t).parse().ok()
}

/// Alternatives of which one must pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restriction {
    pub alternatives: Vec<Alternative>,
}

impl Restriction {
    pub fn new(alternatives: Vec<Alternative>) -> Restriction {
        Restriction { alternatives }
    }

    /// The id marker `=<id>` (empty field name).
    pub fn unique_id(id: &str) -> Restriction {
        Restriction::new(vec![Alternative {
            field: String::new(),
            condition: Condition::Equal,
            value: id.to_string(),
        }])
    }

    /// The canonical encoding: what is written into a rune and what is hashed.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (i, alt) in self.alternatives.iter().enumerate() {
            if i > 0 {
                out.push('|');
            }
            alt.encode_into(&mut out);
        }
        out
    }

    pub(crate) fn is_id_marker(&self) -> bool {
        self.alternatives.iter().any(|a| a.field.is_empty())
    }

    /// Tries the alternatives in order; if all fail, their complaints joined by ` AND `.
    pub fn test(
        &self,
        mut judge: impl FnMut(&Alternative) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut complaints = Vec::new();
        for alt in &self.alternatives {
            match judge(alt) {
                Ok(()) => return Ok(()),
                Err(c) => complaints.push(c),
            }
        }
        Err(complaints.join(" AND "))
    }
}

/// Parses a rune's restriction text (escaped form, `&` between restrictions, a trailing `&`
/// tolerated), exactly as Core Lightning's decoder accepts it.
pub fn parse_text(text: &str) -> Result<Vec<Restriction>, RuneError> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut restrictions = Vec::new();
    while pos < bytes.len() {
        let mut alternatives = Vec::new();
        loop {
            let start = pos;
            while pos < bytes.len() && !ends_field(bytes[pos]) {
                pos += 1;
            }
            let field = &text[start..pos];
            let condition = bytes
                .get(pos)
                .copied()
                .and_then(Condition::from_byte)
                .ok_or(RuneError::Malformed)?;
            pos += 1;
            let mut value = Vec::new();
            let mut more = false;
            while let Some(&c) = bytes.get(pos) {
                pos += 1;
                match c {
                    b'|' => {
                        more = true;
                        break;
                    }
                    b'&' => break,
                    b'\\' => {
                        let &next = bytes.get(pos).ok_or(RuneError::Malformed)?;
                        pos += 1;
                        value.push(next);
                    }
                    _ => value.push(c),
                }
            }
            // Splitting UTF-8 at ASCII bytes keeps both sides valid UTF-8.
            let value = String::from_utf8(value).map_err(|_| RuneError::Malformed)?;
            alternatives.push(Alternative {
                field: field.to_string(),
                condition,
                value,
            });
            if !more {
                break;
            }
        }
        restrictions.push(Restriction::new(alternatives));
    }
    Ok(restrictions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alt(s: &str) -> Alternative {
        Alternative::parse_unescaped(s).unwrap()
    }

    #[test]
    fn createrune_form_takes_the_whole_rest_as_the_value() {
        let a = alt("pnamedescription=a|b&c\\d");
        assert_eq!(a.field, "pnamedescription");
        assert_eq!(a.value, "a|b&c\\d");
        let mut s = String::new();
        a.encode_into(&mut s);
        assert_eq!(s, "pnamedescription=a\\|b\\&c\\\\d");
    }

    #[test]
    fn bad_conditions_and_empty_fields_are_refused() {
        for bad in [
            "pname.x=1",
            "f1-11",
            "f1\"11",
            "f1|11",
            "f1\\11",
            "=1",
            "nocondition",
        ] {
            assert!(Alternative::parse_unescaped(bad).is_err(), "{bad}");
        }
        assert_eq!(alt("f_1=1").field, "f_1");
        assert_eq!(alt("f 1=1").field, "f 1");
    }

    #[test]
    fn text_grammar_matches_the_reference() {
        let r = parse_text("=0&method=\\g\\etinfo").unwrap();
        assert_eq!(r[1].alternatives[0].value, "getinfo");
        assert_eq!(parse_text("=0&method=getinfo&").unwrap().len(), 2);
        assert!(parse_text("=0&&method=getinfo").is_err());
        assert!(parse_text("method=getinfo|").is_err());
        assert!(parse_text("method=getinfo\\").is_err());
        assert!(parse_text("&method=a").is_err());
        let r = parse_text("f1=1|f2=3&f3~\\&\\|\\\\").unwrap();
        assert_eq!(r[0].alternatives.len(), 2);
        assert_eq!(r[1].alternatives[0].value, "&|\\");
        assert_eq!(r[1].encode(), "f3~\\&\\|\\\\");
        assert!(parse_text("").unwrap().is_empty());
    }

    fn t(rule: &str, v: Option<FieldValue>) -> Result<(), String> {
        alt(rule).test(v.as_ref())
    }
    fn s(x: &str) -> Option<FieldValue> {
        Some(FieldValue::Str(x.into()))
    }
    fn i(x: i64) -> Option<FieldValue> {
        Some(FieldValue::Int(x))
    }

    #[test]
    fn every_condition_with_its_complaint() {
        assert_eq!(t("f!", None), Ok(()));
        assert_eq!(t("f!", s("x")).unwrap_err(), "f is present");
        assert_eq!(t("f=a", None).unwrap_err(), "f not present");
        assert_eq!(t("f=a", s("b")).unwrap_err(), "f is not equal to a");
        assert_eq!(t("f=12", i(12)), Ok(()));
        assert_eq!(t("f/a", s("a")).unwrap_err(), "f is equal to a");
        assert_eq!(t("f^ab", s("abc")), Ok(()));
        assert_eq!(t("f^ab", s("xab")).unwrap_err(), "f does not start with ab");
        assert_eq!(t("f$bc", s("abd")).unwrap_err(), "f does not end with bc");
        assert_eq!(t("f~b", s("xyz")).unwrap_err(), "f does not contain b");
        assert_eq!(t("f~-5", i(-51)), Ok(()));
        assert_eq!(t("f<2", i(1)), Ok(()));
        assert_eq!(t("f<2", i(2)).unwrap_err(), "f is greater or equal to 2");
        assert_eq!(t("f>2", i(2)).unwrap_err(), "f is less or equal to 2");
        assert_eq!(t("f<2", s("1")).unwrap_err(), "f is not an integer field");
        assert_eq!(t("f<x2", i(1)).unwrap_err(), "x2 is not a valid integer");
        assert_eq!(t("f<", i(1)).unwrap_err(), " is not a valid integer");
        assert_eq!(t("f<2", None).unwrap_err(), "f not present");
        assert_eq!(t("f{str", s("st")), Ok(()));
        assert_eq!(t("f{strx", s("str")), Ok(()));
        assert_eq!(
            t("f{str", s("str")).unwrap_err(),
            "f is equal to or ordered after str"
        );
        assert_eq!(t("f}str", s("strx")), Ok(()));
        assert_eq!(
            t("f}str", s("str")).unwrap_err(),
            "f is equal to or ordered before str"
        );
        assert_eq!(t("f#anything", None), Ok(()));
    }

    #[test]
    fn alternatives_join_complaints_with_and() {
        let r = Restriction::new(vec![alt("method=a"), alt("method=b")]);
        let v = FieldValue::Str("c".into());
        assert_eq!(
            r.test(|a| a.test(Some(&v))).unwrap_err(),
            "method is not equal to a AND method is not equal to b"
        );
    }
}
