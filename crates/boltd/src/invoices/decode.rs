//! Reading any BOLT 11 string (ours or anyone's, any network) into Core Lightning's
//! `decode` fields (common/bolt11_json.c), with its failure texts where they differ from
//! lightning-invoice's. Works on the signed raw invoice, so what CLN accepts and LDK's
//! stricter `Bolt11Invoice` refuses (no payment secret) still decodes.

use bitcoin::address::Address;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::PublicKey;
use bitcoin::Network;
use lightning_invoice::{
    Bolt11ParseError, Currency, Fallback, RawTaggedField, SignedRawBolt11Invoice, TaggedField,
};
use serde_json::{json, Map, Value};

/// BOLT 11 defaults for absent `x` and `c` fields.
const DEFAULT_EXPIRY: u64 = 3600;
const DEFAULT_MIN_FINAL_CLTV: u64 = 18;

/// A decoded, signature-checked BOLT 11 invoice.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub raw: SignedRawBolt11Invoice,
    /// From `n`, else recovered from the signature.
    pub payee: PublicKey,
    pub payment_hash: [u8; 32],
}

impl Decoded {
    pub fn amount_msat(&self) -> Option<u64> {
        self.raw.amount_pico_btc().map(|p| p / 10)
    }
    pub fn network(&self) -> Network {
        Network::from(self.raw.currency())
    }
    pub fn created_at(&self) -> u64 {
        self.raw.raw_invoice().data.timestamp.as_unix_timestamp()
    }
    pub fn expiry(&self) -> u64 {
        self.raw
            .expiry_time()
            .map_or(DEFAULT_EXPIRY, |e| e.as_seconds())
    }
}

/// The lightning HRP of each currency (CLN's `currency` field).
fn hrp(c: &Currency) -> &'static str {
    match c {
        Currency::Bitcoin => "bc",
        Currency::BitcoinTestnet => "tb",
        Currency::Regtest => "bcrt",
        Currency::Simnet => "sb",
        Currency::Signet => "tbs",
    }
}

/// The human-readable part of `s` (before the last `1`), lowercased.
fn hrp_of(s: &str) -> String {
    s.rsplit_once('1')
        .map_or(s, |(h, _)| h)
        .to_ascii_lowercase()
}

/// CLN's wording for each way a string fails to parse.
fn parse_failure(s: &str, e: &Bolt11ParseError) -> String {
    let hrp = hrp_of(s);
    let prefix: String = hrp.chars().take_while(|c| !c.is_ascii_digit()).collect();
    let amount = &hrp[prefix.len()..];
    // CLN reads the prefix before anything after the checksum.
    let chain = prefix.get(2..).unwrap_or("");
    match e {
        Bolt11ParseError::Bech32Error(_) => "Bad bech32 string".into(),
        _ if !prefix.starts_with("ln") => format!("Prefix '{prefix}' does not start with ln"),
        _ if !["bc", "tb", "bcrt", "sb", "tbs"].contains(&chain) => {
            format!("Unknown chain {chain}")
        }
        Bolt11ParseError::ParseAmountError(_)
        | Bolt11ParseError::UnknownSiPrefix
        | Bolt11ParseError::MalformedHRP
        | Bolt11ParseError::IntegerOverflowError => {
            let number = amount.strip_suffix(['m', 'u', 'n', 'p']).unwrap_or(amount);
            let digits = number.bytes().take_while(u8::is_ascii_digit).count();
            match &number[digits..] {
                "" => format!("Invalid amount '{number}'"),
                rest => format!("Invalid amount postfix '{rest}'"),
            }
        }
        Bolt11ParseError::TooShortDataPart => "signature truncated".into(),
        Bolt11ParseError::UnexpectedEndOfTaggedFields => "Can't get tag and length".into(),
        Bolt11ParseError::MalformedSignature(_) => "signature invalid".into(),
        Bolt11ParseError::DescriptionDecodeError(_) => "d: invalid utf8".into(),
        other => format!("{other}"),
    }
}

/// Parses `s` (a `lightning:` prefix allowed) and checks what CLN's decoder checks: one
/// payment hash, a whole number of msat, a valid signature (against `n` when present).
pub fn decode(s: &str) -> Result<Decoded, String> {
    let s = s
        .strip_prefix("lightning:")
        .or_else(|| s.strip_prefix("LIGHTNING:"))
        .unwrap_or(s);
    let raw: SignedRawBolt11Invoice = s.parse().map_err(|e| parse_failure(s, &e))?;
    if raw.amount_pico_btc().is_some_and(|p| p % 10 != 0) {
        let hrp = hrp_of(s);
        let amount = hrp.trim_start_matches(|c: char| !c.is_ascii_digit());
        return Err(format!("Invalid sub-millisatoshi amount '{amount}'"));
    }
    let hashes = raw
        .known_tagged_fields()
        .filter(|f| matches!(f, TaggedField::PaymentHash(_)))
        .count();
    let payment_hash = match raw.payment_hash() {
        Some(h) if hashes == 1 => h.0,
        _ => return Err("No valid 'p' field found".into()),
    };
    let payee = match raw.payee_pub_key() {
        Some(pk) if raw.check_signature() => pk.0,
        Some(_) => return Err("invalid signature".into()),
        None => {
            raw.recover_payee_pub_key()
                .map_err(|_| "signature recovery failed".to_string())?
                .0
        }
    };
    Ok(Decoded {
        raw,
        payee,
        payment_hash,
    })
}

/// A fallback as CLN shows it: `type` and `addr` for the four standard kinds, always
/// the script as `hex`.
fn fallback_json(f: &Fallback, network: Network) -> Value {
    let script = match f {
        Fallback::PubKeyHash(h) => bitcoin::ScriptBuf::new_p2pkh(h),
        Fallback::ScriptHash(h) => bitcoin::ScriptBuf::new_p2sh(h),
        Fallback::SegWitProgram { version, program } => {
            match bitcoin::WitnessProgram::new(*version, program) {
                Ok(p) => bitcoin::ScriptBuf::new_witness_program(&p),
                Err(_) => {
                    return json!({"hex": hex::encode(program)});
                }
            }
        }
    };
    let kind = if script.is_p2pkh() {
        Some("P2PKH")
    } else if script.is_p2sh() {
        Some("P2SH")
    } else if script.is_p2wpkh() {
        Some("P2WPKH")
    } else if script.is_p2wsh() {
        Some("P2WSH")
    } else {
        None
    };
    let mut o = Map::new();
    if let Some(kind) = kind {
        o.insert("type".into(), json!(kind));
        if let Ok(a) = Address::from_script(&script, network) {
            o.insert("addr".into(), json!(a.to_string()));
        }
    }
    o.insert("hex".into(), json!(hex::encode(script.as_bytes())));
    Value::Object(o)
}

/// `BxTxO`.
pub fn scid_string(scid: u64) -> String {
    format!(
        "{}x{}x{}",
        scid >> 40,
        (scid >> 16) & 0xff_ffff,
        scid & 0xffff
    )
}

/// `BxTxO` back to its number (`None` if any part is out of range).
pub fn parse_scid(s: &str) -> Option<u64> {
    let mut parts = s.split('x');
    let (b, t, o) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let num = |p: &str, max: u64| -> Option<u64> {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        p.parse::<u64>().ok().filter(|v| *v <= max)
    };
    Some((num(b, 0xff_ffff)? << 40) | (num(t, 0xff_ffff)? << 16) | num(o, 0xffff)?)
}

/// Feature bits as CLN prints them: the field's value big-endian, in as many bytes as
/// the field's 5-bit words fill.
fn features_hex(le: &[u8]) -> String {
    let bits = le
        .iter()
        .enumerate()
        .rev()
        .find(|(_, b)| **b != 0)
        .map_or(0, |(i, b)| i * 8 + (8 - b.leading_zeros() as usize));
    let words = bits.div_ceil(5);
    let len = (words * 5).div_ceil(8);
    let mut be: Vec<u8> = le.iter().take(len).rev().copied().collect();
    while be.len() < len {
        be.insert(0, 0);
    }
    hex::encode(be)
}

/// CLN's `decode` result for a BOLT 11 invoice (doc/schemas/decode.json), in its order.
pub fn decode_json(d: &Decoded) -> Value {
    let raw = &d.raw;
    let network = d.network();
    let mut o = Map::new();
    o.insert("type".into(), json!("bolt11 invoice"));
    o.insert("valid".into(), json!(true));
    o.insert("currency".into(), json!(hrp(&raw.currency())));
    o.insert("created_at".into(), json!(d.created_at()));
    o.insert("expiry".into(), json!(d.expiry()));
    o.insert("payee".into(), json!(d.payee.to_string()));
    if let Some(a) = d.amount_msat() {
        o.insert("amount_msat".into(), json!(a));
    }
    if let Some(desc) = raw.description() {
        o.insert("description".into(), json!(desc.to_string()));
    }
    if let Some(h) = raw.description_hash() {
        o.insert("description_hash".into(), json!(h.0.to_string()));
    }
    o.insert(
        "min_final_cltv_expiry".into(),
        json!(raw
            .min_final_cltv_expiry_delta()
            .map_or(DEFAULT_MIN_FINAL_CLTV, |c| c.0)),
    );
    if let Some(s) = raw.payment_secret() {
        o.insert("payment_secret".into(), json!(hex::encode(s.0)));
    }
    if let Some(f) = raw.features() {
        o.insert("features".into(), json!(features_hex(f.le_flags())));
    }
    if let Some(m) = raw.payment_metadata() {
        o.insert("payment_metadata".into(), json!(hex::encode(m)));
    }
    let fallbacks = raw.fallbacks();
    if !fallbacks.is_empty() {
        let f: Vec<Value> = fallbacks
            .iter()
            .map(|f| fallback_json(f, network))
            .collect();
        o.insert("fallbacks".into(), json!(f));
    }
    let routes = raw.private_routes();
    if !routes.is_empty() {
        let r: Vec<Value> = routes
            .iter()
            .map(|r| {
                let hops: Vec<Value> =
                    r.0.iter()
                        .map(|h| {
                            json!({
                                "pubkey": h.src_node_id.to_string(),
                                "short_channel_id": scid_string(h.short_channel_id),
                                "fee_base_msat": h.fees.base_msat,
                                "fee_proportional_millionths": h.fees.proportional_millionths,
                                "cltv_expiry_delta": h.cltv_expiry_delta,
                            })
                        })
                        .collect();
                Value::Array(hops)
            })
            .collect();
        o.insert("routes".into(), json!(r));
    }
    let extra: Vec<Value> = raw
        .raw_invoice()
        .data
        .tagged_fields
        .iter()
        .filter_map(|f| match f {
            // Tag (1 word) and length (2 words) first, then the data.
            RawTaggedField::UnknownSemantics(w) if w.len() >= 3 => Some(json!({
                "tag": w[0].to_char().to_string(),
                "data": w[3..].iter().map(|f| f.to_char()).collect::<String>(),
            })),
            _ => None,
        })
        .collect();
    if !extra.is_empty() {
        o.insert("extra".into(), json!(extra));
    }
    o.insert("payment_hash".into(), json!(hex::encode(d.payment_hash)));
    o.insert(
        "signature".into(),
        json!(hex::encode(
            raw.signature().0.to_standard().serialize_der().as_ref()
        )),
    );
    Value::Object(o)
}

/// The description's hash as the invoice would carry it (`deschashonly`).
pub fn description_hash(description: &str) -> String {
    sha256::Hash::hash(description.as_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// lightning-invoice's own example (a mainnet invoice from another implementation,
    /// with route hints, no `n` field).
    const FOREIGN: &str = "lnbc100p1psj9jhxdqud3jxktt5w46x7unfv9kz6mn0v3jsnp4q0d3p2sfluzdx45tqcs\
h2pu5qc7lgq0xs578ngs6s0s68ua4h7cvspp5q6rmq35js88zp5dvwrv9m459tnk2zunwj5jalqtyxqulh0l\
5gflssp5nf55ny5gcrfl30xuhzj3nphgj27rstekmr9fw3ny5989s300gyus9qyysgqcqpcrzjqw2sxwe993\
h5pcm4dxzpvttgza8zhkqxpgffcrf5v25nwpr3cmfg7z54kuqq8rgqqqqqqqq2qqqqq9qq9qrzjqd0ylaqcl\
j9424x9m8h2vcukcgnm6s56xfgu3j78zyqzhgs4hlpzvznlugqq9vsqqqqqqqlgqqqqqeqq9qrzjqwldmj9d\
ha74df76zhx6l9we0vjdquygcdt3kssupehe64g6yyp5yz5rhuqqwccqqyqqqqlgqqqqjcqq9qrzjqf9e58a\
guqr0rcun0ajlvmzq3ek63cw2w282gv3z5uupmuwvgjtq2z55qsqqg6qqqyqqqrtnqqqzq3cqygrzjqvphms\
ywntrrhqjcraumvc4y6r8v4z5v593trte429v4hredj7ms5z52usqq9ngqqqqqqqlgqqqqqqgq9qrzjq2v0v\
p62g49p7569ev48cmulecsxe59lvaw3wlxm7r982zxa9zzj7z5l0cqqxusqqyqqqqlgqqqqqzsqygarl9fh3\
8s0gyuxjjgux34w75dnc6xp2l35j7es3jd4ugt3lu0xzre26yg5m7ke54n2d5sym4xcmxtl8238xxvw5h5h5\
j5r6drg6k6zcqj0fcwg";

    /// BOLT 11's "pubkey recovery" test vectors: donation, no amount; and a fallback one.
    const BOLT11_DONATION: &str = "lnbc1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfjkxaq9qrsgq357wnc5r2ueh7ck6q93dj32dlqnls087fxdwk8qakdyafkq3yap9us6v52vjjsrvywa6rt52cm9r9zqt8r2t7mlcwspyetp5h2tztugp9lfyql";

    #[test]
    fn foreign_mainnet_invoice_with_routes() {
        let d = decode(FOREIGN).unwrap();
        let j = decode_json(&d);
        assert_eq!(j["type"], "bolt11 invoice");
        assert_eq!(j["currency"], "bc");
        assert_eq!(j["amount_msat"], 10);
        assert_eq!(j["created_at"], 1_629_670_118u64);
        assert_eq!(j["expiry"], 3600);
        assert_eq!(j["min_final_cltv_expiry"], 24);
        assert_eq!(
            j["payee"],
            d.raw.recover_payee_pub_key().unwrap().0.to_string()
        );
        let routes = j["routes"].as_array().unwrap();
        assert!(!routes.is_empty());
        assert!(routes[0][0]["short_channel_id"]
            .as_str()
            .unwrap()
            .contains('x'));
        // Keys in CLN's order.
        let keys: Vec<&str> = j.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(
            keys[..6],
            ["type", "valid", "currency", "created_at", "expiry", "payee"]
        );
        assert_eq!(keys[keys.len() - 2..], ["payment_hash", "signature"]);
        // With the prefix too.
        assert!(decode(&format!("lightning:{FOREIGN}")).is_ok());
    }

    #[test]
    fn bolt11_spec_vector() {
        let d = decode(BOLT11_DONATION).unwrap();
        let j = decode_json(&d);
        assert_eq!(
            j["payee"],
            "03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad"
        );
        assert_eq!(
            j["payment_hash"],
            "0001020304050607080900010203040506070809000102030405060708090102"
        );
        assert_eq!(j["description"], "Please consider supporting this project");
        assert_eq!(j["created_at"], 1_496_314_658u64);
        assert!(j.get("amount_msat").is_none());
        assert_eq!(
            j["payment_secret"],
            "1111111111111111111111111111111111111111111111111111111111111111"
        );
        // Bits 8 and 14 in three 5-bit words: two bytes.
        assert_eq!(j["features"], "4100");
    }

    #[test]
    fn failures_in_clns_words() {
        let bad_checksum = format!("{}q", &BOLT11_DONATION[..BOLT11_DONATION.len() - 1]);
        assert_eq!(decode(&bad_checksum).unwrap_err(), "Bad bech32 string");
        assert_eq!(decode("hello").unwrap_err(), "Bad bech32 string");
        assert_eq!(decode("").unwrap_err(), "Bad bech32 string");
        let x = "lnbc2500x1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpusp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9qrsgqrrzc4cvfue4zp3hggxp47ag7xnrlr8vgcmkjxk3j5jqethnumgkpqp23z9jclu3v0a7e0aruz366e9wqdykw6dxhdzcjjhldxq0w6wgqcnu43j";
        assert_eq!(decode(x).unwrap_err(), "Invalid amount postfix 'x'");
        let sub = "lnbc2500000001p1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpusp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9qrsgq0lzc236j96a95uv0m3umg28gclm5lqxtqqwk32uuk4k6673k6n5kfvx3d2h8s295fad45fdhmusm8sjudfhlf6dcsxmfvkeywmjdkxcp99202x";
        assert_eq!(
            decode(sub).unwrap_err(),
            "Invalid sub-millisatoshi amount '2500000001p'"
        );
        let short = "lnbc1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6na6hlh";
        assert_eq!(decode(short).unwrap_err(), "signature truncated");
        // A valid bech32 string whose prefix is not a Lightning one.
        assert_eq!(
            decode("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4").unwrap_err(),
            "Prefix 'bc' does not start with ln"
        );
    }

    #[test]
    fn features_are_printed_big_endian_in_whole_words() {
        // Bits 8, 14 (required var_onion, payment_secret) and 17 (basic_mpp optional).
        assert_eq!(features_hex(&[0x00, 0x41, 0x02]), "024100");
        assert_eq!(features_hex(&[]), "");
        assert_eq!(features_hex(&[0x01]), "01");
    }

    #[test]
    fn scid_format() {
        assert_eq!(scid_string((103 << 40) | (1 << 16) | 2), "103x1x2");
        assert_eq!(parse_scid("103x1x2"), Some((103 << 40) | (1 << 16) | 2));
        for bad in [
            "",
            "1x2",
            "1x2x3x4",
            "16777216x0x0",
            "1x2x65536",
            "ax1x1",
            "-1x1x1",
        ] {
            assert_eq!(parse_scid(bad), None, "{bad}");
        }
    }
}
