//! `checkrune`'s judgement: blacklist, derivation, then the restrictions in order with the
//! fields Core Lightning computes (`time`, `id`, `method`, `pnum`, `rate`, `per`,
//! `pinv…`, `pname…`, `parr…`), and its exact refusal texts.

use crate::params::ParamMap;
use crate::restriction::{Alternative, Condition, FieldValue};
use crate::rune::{MasterRune, NotDerived, Rune};

/// What an invoice-decoding caller extracts for `pinv<P>_<F>` fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoiceFields {
    pub amount_msat: Option<u64>,
    pub description: Option<String>,
    pub node: Option<String>,
}

/// Whether the rune's unique id is stored here, and when it was last used: `rate` and
/// `per` only limit stored ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    NotStored,
    Stored { last_used_nsec: Option<u64> },
}

/// Decodes a BOLT 11/12 string (prefix already stripped) or returns the decoder's message.
pub type InvoiceDecoder<'a> = &'a dyn Fn(&str) -> Result<InvoiceFields, String>;

/// Everything a check looks at besides the rune.
pub struct CheckInput<'a> {
    /// 66 lower-case hex digits, when the caller said who is asking.
    pub nodeid: Option<&'a str>,
    /// The method's raw JSON text (a string's characters as written, escapes kept).
    pub method: Option<&'a str>,
    /// Raw JSON text of an object or array.
    pub params: Option<&'a str>,
    pub now_nsec: u64,
    pub usage: Usage,
    pub blacklisted: bool,
    pub decode_invoice: Option<InvoiceDecoder<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    #[error("Not authorized: Blacklisted rune")]
    Blacklisted,
    #[error("Not authorized: {0}")]
    NotAuthorized(NotDerived),
    /// Carries the complaint already escaped and reworded as Core Lightning shows it.
    #[error("Not permitted: {0}")]
    NotPermitted(String),
}

impl CheckError {
    pub fn code(&self) -> i64 {
        match self {
            CheckError::NotAuthorized(_) => 1501,
            CheckError::NotPermitted(_) => 1502,
            CheckError::Blacklisted => 1503,
        }
    }
}

/// Judges `rune` for a request; `Ok` means `{"valid": true}` (the caller then records the
/// use).
pub fn check(master: &MasterRune, rune: &Rune, input: &CheckInput<'_>) -> Result<(), CheckError> {
    if input.blacklisted {
        return Err(CheckError::Blacklisted);
    }
    master.is_derived(rune).map_err(CheckError::NotAuthorized)?;
    let params = ParamMap::new(input.params);
    for r in rune.checked_restrictions() {
        r.test(|alt| judge(alt, input, &params))
            .map_err(|complaint| CheckError::NotPermitted(reword(&json_escape(&complaint))))?;
    }
    Ok(())
}

fn judge(alt: &Alternative, input: &CheckInput<'_>, params: &ParamMap) -> Result<(), String> {
    let str_of = |s: Option<&str>| s.map(|s| FieldValue::Str(s.to_string()));
    match alt.field.as_str() {
        "time" => alt.test(Some(&FieldValue::Int(
            (input.now_nsec / 1_000_000_000) as i64,
        ))),
        "id" => alt.test(str_of(input.nodeid).as_ref()),
        "method" => alt.test(str_of(input.method).as_ref()),
        "pnum" => alt.test(Some(&FieldValue::Int(params.count))),
        "rate" => rate(alt, input),
        "per" => per(alt, input),
        f if f.starts_with("pinv") => pinv(alt, &f["pinv".len()..], input, params),
        f => alt.test(params.get(f)),
    }
}

fn whole_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn in_u32_range(n: u64) -> bool {
    (1..u64::from(u32::MAX)).contains(&n)
}

/// Passes unless the id is stored and was used less than `interval_nsec` ago (a time in
/// the future counts as now).
fn not_too_soon(input: &CheckInput<'_>, interval_nsec: u64) -> Result<(), String> {
    match input.usage {
        Usage::Stored {
            last_used_nsec: Some(last),
        } if input.now_nsec.saturating_sub(last) < interval_nsec => Err("too soon".into()),
        _ => Ok(()),
    }
}

fn rate(alt: &Alternative, input: &CheckInput<'_>) -> Result<(), String> {
    if alt.condition != Condition::Equal {
        return Err("rate operator must be =".into());
    }
    let n = whole_decimal(&alt.value)
        .filter(|&n| in_u32_range(n))
        .ok_or("malformed rate")?;
    not_too_soon(input, 60_000_000_000 / n)
}

fn per(alt: &Alternative, input: &CheckInput<'_>) -> Result<(), String> {
    if alt.condition != Condition::Equal {
        return Err("per operator must be =".into());
    }
    let digits = alt.value.bytes().take_while(|b| b.is_ascii_digit()).count();
    let (num, unit) = alt.value.split_at(digits);
    let n = whole_decimal(num)
        .filter(|&n| in_u32_range(n))
        .ok_or("malformed per")?;
    let unit_nsec: u64 = match unit {
        "" | "sec" => 1_000_000_000,
        "nsec" => 1,
        "usec" => 1_000,
        "msec" => 1_000_000,
        "min" => 60_000_000_000,
        "hour" => 3_600_000_000_000,
        "day" => 86_400_000_000_000,
        _ => return Err("malformed suffix".into()),
    };
    let interval = n.checked_mul(unit_nsec).ok_or("per overflow")?;
    not_too_soon(input, interval)
}

fn pinv(
    alt: &Alternative,
    rest: &str,
    input: &CheckInput<'_>,
    params: &ParamMap,
) -> Result<(), String> {
    let (param, field) = ["_amount", "_description", "_node"]
        .iter()
        .find_map(|suffix| rest.strip_suffix(suffix).map(|p| (p, *suffix)))
        .ok_or_else(|| format!("Unknown invoice field {rest}"))?;
    let text = match params.get(&format!("pname{param}")) {
        Some(FieldValue::Str(s)) => s.clone(),
        Some(FieldValue::Int(i)) => i.to_string(),
        None => return Err(format!("Unknown invoice parameter {param}")),
    };
    let text = text
        .strip_prefix("lightning:")
        .or_else(|| text.strip_prefix("LIGHTNING:"))
        .unwrap_or(&text);
    let decoded = match input.decode_invoice {
        Some(decode) => decode(text),
        None => Err("Bad bech32 string".to_string()),
    }
    .map_err(|e| format!("Invalid invoice: {e}"))?;
    let value = match field {
        "_amount" => decoded
            .amount_msat
            .map(|a| FieldValue::Int(i64::try_from(a).unwrap_or(i64::MAX))),
        "_description" => decoded.description.map(FieldValue::Str),
        _ => decoded.node.map(FieldValue::Str),
    };
    alt.test(value.as_ref())
}

/// Core Lightning's `json_escape`: quotes, backslashes and control characters.
fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Only the start of the whole complaint is put into words.
fn reword(complaint: &str) -> String {
    for (prefix, words) in [
        ("pname", "parameter "),
        ("parr", "parameter #"),
        ("pnum", "number of parameters"),
        ("pinv", "invoice parameter "),
    ] {
        if let Some(rest) = complaint.strip_prefix(prefix) {
            return format!("{words}{rest}");
        }
    }
    complaint.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restriction::Restriction;

    const NODE: &str = "02aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn master() -> MasterRune {
        MasterRune::from_seed(&(0u8..32).collect::<Vec<u8>>())
    }

    fn rune(alts: &[&[&str]]) -> Rune {
        let rs: Vec<Restriction> = alts
            .iter()
            .map(|r| {
                Restriction::new(
                    r.iter()
                        .map(|a| Alternative::parse_unescaped(a).unwrap())
                        .collect(),
                )
            })
            .collect();
        master().mint(3, &rs).unwrap()
    }

    fn input<'a>(method: Option<&'a str>, params: Option<&'a str>) -> CheckInput<'a> {
        CheckInput {
            nodeid: Some(NODE),
            method,
            params,
            now_nsec: 1_700_000_000_000_000_000,
            usage: Usage::Stored {
                last_used_nsec: None,
            },
            blacklisted: false,
            decode_invoice: None,
        }
    }

    fn msg(r: &Rune, i: &CheckInput<'_>) -> Result<(), String> {
        check(&master(), r, i).map_err(|e| e.to_string())
    }

    #[test]
    fn order_blacklist_then_derivation_then_restrictions() {
        let r = rune(&[&["method=getinfo"]]);
        let mut i = input(Some("listpeers"), None);
        i.blacklisted = true;
        assert_eq!(check(&master(), &r, &i), Err(CheckError::Blacklisted));
        i.blacklisted = false;
        let other = MasterRune::from_seed(&[7u8; 32]).mint(3, &[]).unwrap();
        let e = check(&master(), &other, &i).unwrap_err();
        assert_eq!(
            (e.code(), e.to_string().as_str()),
            (1501, "Not authorized: Not derived from master")
        );
        let e = check(&master(), &r, &i).unwrap_err();
        assert_eq!(e.code(), 1502);
        assert_eq!(
            e.to_string(),
            "Not permitted: method is not equal to getinfo"
        );
        assert_eq!(check(&master(), &r, &input(Some("getinfo"), None)), Ok(()));
    }

    #[test]
    fn stops_at_the_first_failing_restriction_and_rewords_its_start() {
        let r = rune(&[&["method=getinfo", "method=listpeers"], &["pnum<2"]]);
        assert_eq!(
            msg(&r, &input(Some("listpeers"), Some("[1,2]"))).unwrap_err(),
            "Not permitted: number of parameters is greater or equal to 2"
        );
        let r = rune(&[&["method=a", "pnamex=1"]]);
        assert_eq!(
            msg(&r, &input(Some("b"), Some(r#"{"x":2}"#))).unwrap_err(),
            "Not permitted: method is not equal to a AND pnamex is not equal to 1"
        );
        let r = rune(&[&["parr1=x"]]);
        assert_eq!(
            msg(&r, &input(None, Some("[0]"))).unwrap_err(),
            "Not permitted: parameter #1 not present"
        );
        let r = rune(&[&["pnamex=a\"b"]]);
        assert_eq!(
            msg(&r, &input(None, Some(r#"{"x":"c"}"#))).unwrap_err(),
            "Not permitted: parameter x is not equal to a\\\"b"
        );
        assert_eq!(
            msg(&r, &input(None, Some(r#"{"x":"a\"b"}"#))),
            Err("Not permitted: parameter x is not equal to a\\\"b".into())
        );
    }

    #[test]
    fn id_method_time_fields() {
        let r = rune(&[&[&format!("id={NODE}")]]);
        assert_eq!(msg(&r, &input(None, None)), Ok(()));
        let mut i = input(None, None);
        i.nodeid = None;
        assert_eq!(msg(&r, &i).unwrap_err(), "Not permitted: id not present");
        let r = rune(&[&["method!"]]);
        assert_eq!(msg(&r, &input(None, None)), Ok(()));
        assert_eq!(
            msg(&r, &input(Some(""), None)).unwrap_err(),
            "Not permitted: method is present"
        );
        let r = rune(&[&["time<1700000001"]]);
        assert_eq!(msg(&r, &input(None, None)), Ok(()));
        let r = rune(&[&["time>1700000000"]]);
        assert_eq!(
            msg(&r, &input(None, None)).unwrap_err(),
            "Not permitted: time is less or equal to 1700000000"
        );
    }

    #[test]
    fn rate_and_per() {
        let r = rune(&[&["rate=2"]]);
        let mut i = input(None, None);
        assert_eq!(msg(&r, &i), Ok(()));
        i.usage = Usage::Stored {
            last_used_nsec: Some(i.now_nsec - 29_000_000_000),
        };
        assert_eq!(msg(&r, &i).unwrap_err(), "Not permitted: too soon");
        i.usage = Usage::Stored {
            last_used_nsec: Some(i.now_nsec - 30_000_000_000),
        };
        assert_eq!(msg(&r, &i), Ok(()));
        i.usage = Usage::Stored {
            last_used_nsec: Some(i.now_nsec + 100),
        };
        assert_eq!(msg(&r, &i).unwrap_err(), "Not permitted: too soon");
        i.usage = Usage::NotStored;
        assert_eq!(msg(&r, &i), Ok(()));
        let mut i = input(None, None);
        i.usage = Usage::Stored {
            last_used_nsec: Some(i.now_nsec - 1_000_000),
        };
        for (rule, want) in [
            ("rate>2", Err("Not permitted: rate operator must be =")),
            ("rate=0", Err("Not permitted: malformed rate")),
            ("rate=x", Err("Not permitted: malformed rate")),
            ("rate=4294967295", Err("Not permitted: malformed rate")),
            ("per=1msec", Ok(())),
            ("per=2msec", Err("Not permitted: too soon")),
            ("per<1", Err("Not permitted: per operator must be =")),
            ("per=sec", Err("Not permitted: malformed per")),
            ("per=0", Err("Not permitted: malformed per")),
            ("per=1fortnight", Err("Not permitted: malformed suffix")),
            ("per=4294967294day", Err("Not permitted: per overflow")),
            ("per=999usec", Ok(())),
            ("per=1", Err("Not permitted: too soon")),
        ] {
            let r = rune(&[&[rule]]);
            assert_eq!(msg(&r, &i), want.map_err(String::from), "{rule}");
        }
    }

    #[test]
    fn pinv_fields() {
        let decode = |s: &str| -> Result<InvoiceFields, String> {
            if s == "lnbc1good" {
                Ok(InvoiceFields {
                    amount_msat: Some(1000),
                    description: Some("coffee".into()),
                    node: None,
                })
            } else {
                Err("Bad bech32 string".into())
            }
        };
        let mut i = input(None, Some(r#"{"bolt11":"lightning:lnbc1good"}"#));
        i.decode_invoice = Some(&decode);
        assert_eq!(msg(&rune(&[&["pinvbolt11_amount<1001"]]), &i), Ok(()));
        assert_eq!(
            msg(&rune(&[&["pinvbolt11_description=coffee"]]), &i),
            Ok(())
        );
        assert_eq!(
            msg(&rune(&[&["pinvbolt11_amount!"]]), &i).unwrap_err(),
            "Not permitted: invoice parameter bolt11_amount is present"
        );
        assert_eq!(
            msg(&rune(&[&["pinvbolt11_node=x"]]), &i).unwrap_err(),
            "Not permitted: invoice parameter bolt11_node not present"
        );
        assert_eq!(
            msg(&rune(&[&["pinvbolt11_foo=1"]]), &i).unwrap_err(),
            "Not permitted: Unknown invoice field bolt11_foo"
        );
        assert_eq!(
            msg(&rune(&[&["pinvinv_amount=1"]]), &i).unwrap_err(),
            "Not permitted: Unknown invoice parameter inv"
        );
        let mut j = input(None, Some(r#"{"bolt11":"lnbc1bad"}"#));
        j.decode_invoice = Some(&decode);
        assert_eq!(
            msg(&rune(&[&["pinvbolt11_amount<1"]]), &j).unwrap_err(),
            "Not permitted: Invalid invoice: Bad bech32 string"
        );
    }

    /// The PASS/FAIL lines of ccan's rune test vectors, replayed through `check` with field
    /// `fN` as parameter `pnamefN` (integers sent as JSON numbers).
    #[test]
    fn ccan_condition_vectors() {
        type Case<'a> = (&'a str, &'a [(bool, &'a [(&'a str, &'a str)])]);
        let cases: &[Case] = &[
            (
                "f1!",
                &[
                    (true, &[]),
                    (true, &[("f2", "f1")]),
                    (false, &[("f1", "1")]),
                    (false, &[("f1", "var")]),
                ],
            ),
            (
                "f1=v1",
                &[
                    (true, &[("f1", "v1")]),
                    (false, &[("f1", "v")]),
                    (false, &[("f1", "v1a")]),
                    (false, &[]),
                    (false, &[("f2", "f1")]),
                ],
            ),
            (
                "f1/v1",
                &[
                    (true, &[("f1", "v2")]),
                    (true, &[("f1", "v")]),
                    (true, &[("f1", "v1a")]),
                    (false, &[]),
                    (false, &[("f2", "v1")]),
                ],
            ),
            (
                "f1$v1",
                &[
                    (true, &[("f1", "v1")]),
                    (true, &[("f1", "2v1")]),
                    (false, &[("f1", "v1a")]),
                    (false, &[]),
                ],
            ),
            (
                "f1^v1",
                &[
                    (true, &[("f1", "v1")]),
                    (true, &[("f1", "v1a")]),
                    (false, &[("f1", "2v1")]),
                    (false, &[]),
                ],
            ),
            (
                "f1~v1",
                &[
                    (true, &[("f1", "v1")]),
                    (true, &[("f1", "2v12")]),
                    (false, &[("f1", "1v2")]),
                    (false, &[]),
                ],
            ),
            (
                "f1<v1",
                &[
                    (false, &[("f1", "1")]),
                    (false, &[("f1", "v1")]),
                    (false, &[]),
                ],
            ),
            (
                "f1<1",
                &[
                    (true, &[("f1", "0")]),
                    (true, &[("f1", "-10000")]),
                    (false, &[("f1", "1")]),
                    (false, &[("f1", "10000")]),
                    (false, &[("f1", "v1")]),
                    (false, &[]),
                ],
            ),
            (
                "f1>1",
                &[
                    (true, &[("f1", "2")]),
                    (true, &[("f1", "10000")]),
                    (false, &[("f1", "1")]),
                    (false, &[("f1", "-10000")]),
                    (false, &[("f1", "0")]),
                    (false, &[]),
                ],
            ),
            (
                "f1{11",
                &[
                    (true, &[("f1", "0")]),
                    (true, &[("f1", "1")]),
                    (true, &[("f1", "/")]),
                    (false, &[("f1", "11")]),
                    (false, &[("f1", "111")]),
                    (false, &[("f1", "v1")]),
                    (false, &[("f1", ":")]),
                    (false, &[]),
                ],
            ),
            (
                "f1}11",
                &[
                    (true, &[("f1", "111")]),
                    (true, &[("f1", "v1")]),
                    (true, &[("f1", ":")]),
                    (false, &[("f1", "0")]),
                    (false, &[("f1", "/")]),
                    (false, &[("f1", "11")]),
                    (false, &[]),
                ],
            ),
            ("f1#11", &[(true, &[("f1", "111")]), (true, &[])]),
            (
                "f1=1|f2=3",
                &[
                    (true, &[("f1", "1")]),
                    (true, &[("f2", "3")]),
                    (true, &[("f1", "var"), ("f2", "3")]),
                    (false, &[]),
                    (false, &[("f1", "2")]),
                    (false, &[("f2", "1")]),
                ],
            ),
        ];
        for (rule, lines) in cases {
            let renamed = rule.replace("f1", "pnamef1").replace("f2", "pnamef2");
            let alts: Vec<&str> = renamed.split('|').collect();
            let r = rune(&[&alts]);
            for (pass, fields) in *lines {
                let members: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| match v.parse::<i64>() {
                        Ok(i) => format!("\"{k}\":{i}"),
                        Err(_) => format!("\"{k}\":\"{v}\""),
                    })
                    .collect();
                let params = format!("{{{}}}", members.join(","));
                let got = check(&master(), &r, &input(None, Some(&params)));
                assert_eq!(got.is_ok(), *pass, "{rule} with {params}: {got:?}");
            }
        }
    }
}
