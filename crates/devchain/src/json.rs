//! bitcoind's JSON shapes for blocks, headers, transactions and scripts (`TxToUniv`,
//! `blockToJSON`, `ScriptToUniv`), amounts in BTC.

use bitcoin::blockdata::script::Instruction;
use bitcoin::opcodes::all as op;
use bitcoin::{Address, Amount, Block, Script, Transaction};
use serde_json::{json, Map, Value};

use crate::accept::output_type;
use crate::chain::{BlockEntry, Chain};
use crate::params;

/// Marks a string that [`to_wire`] writes as a bare number: bitcoind prints amounts with
/// exactly eight decimals (`0.00001000`), which a float in a `Value` cannot keep.
const AMOUNT_MARK: &str = "\u{1}btc:";

/// An amount as bitcoind prints it: BTC with eight decimals, a JSON number on the wire.
pub fn btc(amount: Amount) -> Value {
    let sat = amount.to_sat();
    Value::String(format!(
        "{AMOUNT_MARK}{}.{:08}",
        sat / 100_000_000,
        sat % 100_000_000
    ))
}

/// Serializes a reply, writing [`btc`] amounts as bare numbers. Only a marked string of
/// digits, one dot and digits is written raw, so text a client sent can never become JSON.
pub fn to_wire(v: &Value) -> String {
    fn is_amount(s: &str) -> bool {
        let Some((int, frac)) = s.split_once('.') else {
            return false;
        };
        !int.is_empty()
            && frac.len() == 8
            && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    }
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => match s.strip_prefix(AMOUNT_MARK).filter(|l| is_amount(l)) {
                Some(lit) => out.push_str(lit),
                None => out.push_str(&Value::String(s.clone()).to_string()),
            },
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            Value::Object(map) => {
                out.push('{');
                for (i, (k, item)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(item, out);
                }
                out.push('}');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// Core's `ScriptToAsmStr`: pushes as hex (or decimal up to 4 bytes), small numbers as digits.
pub fn asm(script: &Script) -> String {
    let mut parts = Vec::new();
    for ins in script.instructions() {
        match ins {
            Ok(Instruction::PushBytes(b)) => {
                let b = b.as_bytes();
                if b.is_empty() {
                    parts.push("0".to_string());
                } else if b.len() <= 4 {
                    parts.push(script_num(b).to_string());
                } else {
                    parts.push(hex::encode(b));
                }
            }
            Ok(Instruction::Op(o)) => {
                let code = o.to_u8();
                let text = if code == op::OP_PUSHNUM_NEG1.to_u8() {
                    "-1".to_string()
                } else if (op::OP_PUSHNUM_1.to_u8()..=op::OP_PUSHNUM_16.to_u8()).contains(&code) {
                    (code - op::OP_PUSHNUM_1.to_u8() + 1).to_string()
                } else if o == op::OP_CLTV {
                    "OP_CHECKLOCKTIMEVERIFY".into()
                } else if o == op::OP_CSV {
                    "OP_CHECKSEQUENCEVERIFY".into()
                } else {
                    o.to_string()
                };
                parts.push(text);
            }
            Err(_) => {
                parts.push("[error]".into());
                break;
            }
        }
    }
    parts.join(" ")
}

fn script_num(b: &[u8]) -> i64 {
    let mut v: i64 = 0;
    for (i, byte) in b.iter().enumerate() {
        v |= i64::from(*byte) << (8 * i);
    }
    let last = b[b.len() - 1];
    if last & 0x80 != 0 {
        -(v & !(0x80i64 << (8 * (b.len() - 1))))
    } else {
        v
    }
}

/// The descriptor bitcoind infers for an output: `addr(…)`, `pk(…)` or `raw(…)`, with checksum.
pub fn descriptor(script: &Script) -> String {
    let body = if let Ok(addr) = Address::from_script(script, params::NETWORK) {
        format!("addr({addr})")
    } else if script.is_p2pk() {
        format!(
            "pk({})",
            hex::encode(&script.as_bytes()[1..script.len() - 1])
        )
    } else {
        format!("raw({})", hex::encode(script.as_bytes()))
    };
    descriptor_checksum(&body)
        .map(|c| format!("{body}#{c}"))
        .unwrap_or(body)
}

/// BIP380's descriptor checksum.
pub fn descriptor_checksum(desc: &str) -> Option<String> {
    const INPUT: &str =
        "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ ";
    const CHECKSUM: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    fn polymod(c: u64, val: u64) -> u64 {
        let top = c >> 35;
        let mut c = ((c & 0x7_ffff_ffff) << 5) ^ val;
        for (i, g) in [
            0xf5dee51989u64,
            0xa9fdca3312,
            0x1bab10e32d,
            0x3706b1677a,
            0x644d626ffd,
        ]
        .iter()
        .enumerate()
        {
            if (top >> i) & 1 == 1 {
                c ^= g;
            }
        }
        c
    }
    let mut c = 1u64;
    let mut cls = 0u64;
    let mut clscount = 0;
    for ch in desc.chars() {
        let pos = INPUT.find(ch)? as u64;
        c = polymod(c, pos & 31);
        cls = cls * 3 + (pos >> 5);
        clscount += 1;
        if clscount == 3 {
            c = polymod(c, cls);
            cls = 0;
            clscount = 0;
        }
    }
    if clscount > 0 {
        c = polymod(c, cls);
    }
    for _ in 0..8 {
        c = polymod(c, 0);
    }
    c ^= 1;
    Some(
        (0..8)
            .map(|j| CHECKSUM[((c >> (5 * (7 - j))) & 31) as usize] as char)
            .collect(),
    )
}

/// `scriptPubKey` object.
pub fn script_pubkey(script: &Script) -> Value {
    let mut m = Map::new();
    m.insert("asm".into(), json!(asm(script)));
    m.insert("desc".into(), json!(descriptor(script)));
    m.insert("hex".into(), json!(hex::encode(script.as_bytes())));
    if let Ok(addr) = Address::from_script(script, params::NETWORK) {
        m.insert("address".into(), json!(addr.to_string()));
    }
    m.insert("type".into(), json!(output_type(script)));
    Value::Object(m)
}

/// `TxToUniv`: the decoded transaction; `fee` when the spent coins are known.
pub fn tx(tx: &Transaction, fee: Option<Amount>, with_hex: bool) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("txid".into(), json!(tx.compute_txid().to_string()));
    m.insert("hash".into(), json!(tx.compute_wtxid().to_string()));
    m.insert("version".into(), json!(tx.version.0));
    m.insert("size".into(), json!(tx.total_size()));
    m.insert("vsize".into(), json!(tx.vsize()));
    m.insert("weight".into(), json!(tx.weight().to_wu()));
    m.insert("locktime".into(), json!(tx.lock_time.to_consensus_u32()));
    let vin: Vec<Value> = tx
        .input
        .iter()
        .map(|i| {
            let mut v = Map::new();
            if tx.is_coinbase() {
                v.insert(
                    "coinbase".into(),
                    json!(hex::encode(i.script_sig.as_bytes())),
                );
            } else {
                v.insert("txid".into(), json!(i.previous_output.txid.to_string()));
                v.insert("vout".into(), json!(i.previous_output.vout));
                v.insert(
                    "scriptSig".into(),
                    json!({"asm": asm(&i.script_sig), "hex": hex::encode(i.script_sig.as_bytes())}),
                );
            }
            if !i.witness.is_empty() {
                let items: Vec<String> = i.witness.iter().map(hex::encode).collect();
                v.insert("txinwitness".into(), json!(items));
            }
            v.insert("sequence".into(), json!(i.sequence.0));
            Value::Object(v)
        })
        .collect();
    m.insert("vin".into(), Value::Array(vin));
    let vout: Vec<Value> = tx
        .output
        .iter()
        .enumerate()
        .map(|(n, o)| json!({"value": btc(o.value), "n": n, "scriptPubKey": script_pubkey(&o.script_pubkey)}))
        .collect();
    m.insert("vout".into(), Value::Array(vout));
    if let Some(fee) = fee {
        m.insert("fee".into(), btc(fee));
    }
    if with_hex {
        m.insert(
            "hex".into(),
            json!(bitcoin::consensus::encode::serialize_hex(tx)),
        );
    }
    m
}

/// Fields shared by `getblockheader` and `getblock`.
pub fn header(chain: &Chain, entry: &BlockEntry) -> Map<String, Value> {
    let h = &entry.block.header;
    let hash = entry.block.block_hash();
    let active = chain.is_active(&hash);
    let confirmations: i64 = if active {
        i64::from(chain.height() - entry.height) + 1
    } else {
        -1
    };
    let mut m = Map::new();
    m.insert("hash".into(), json!(hash.to_string()));
    m.insert("confirmations".into(), json!(confirmations));
    m.insert("height".into(), json!(entry.height));
    m.insert("version".into(), json!(h.version.to_consensus()));
    m.insert(
        "versionHex".into(),
        json!(format!("{:08x}", h.version.to_consensus())),
    );
    m.insert("merkleroot".into(), json!(h.merkle_root.to_string()));
    m.insert("time".into(), json!(h.time));
    m.insert("mediantime".into(), json!(chain.median_time_past_of(&hash)));
    m.insert("nonce".into(), json!(h.nonce));
    m.insert(
        "bits".into(),
        json!(format!("{:08x}", h.bits.to_consensus())),
    );
    m.insert("difficulty".into(), json!(h.target().difficulty_float()));
    m.insert(
        "chainwork".into(),
        json!(hex::encode(entry.chainwork.to_be_bytes())),
    );
    m.insert("nTx".into(), json!(entry.block.txdata.len()));
    if entry.height > 0 {
        m.insert(
            "previousblockhash".into(),
            json!(h.prev_blockhash.to_string()),
        );
    }
    if active {
        if let Some(next) = chain.hash_at(entry.height + 1) {
            m.insert("nextblockhash".into(), json!(next.to_string()));
        }
    }
    m
}

/// `getblock` at verbosity 1 (txids) or 2 (decoded transactions with fees).
pub fn block(chain: &Chain, entry: &BlockEntry, verbosity: u8) -> Value {
    let block: &Block = &entry.block;
    let mut m = header(chain, entry);
    let hash = block.block_hash();
    let stripped: usize = 80
        + block.txdata.iter().map(|t| t.base_size()).sum::<usize>()
        + bitcoin::VarInt(block.txdata.len() as u64).size();
    m.insert("strippedsize".into(), json!(stripped));
    m.insert("size".into(), json!(block.total_size()));
    m.insert("weight".into(), json!(block.weight().to_wu()));
    let txs: Vec<Value> = if verbosity >= 2 {
        let mut spent = chain.spent_by_block(&hash).map(|s| s.iter());
        block
            .txdata
            .iter()
            .map(|t| {
                let fee = if t.is_coinbase() {
                    None
                } else {
                    spent.as_mut().and_then(|it| {
                        let mut value_in = Amount::ZERO;
                        for _ in &t.input {
                            value_in += it.next()?.1.txout.value;
                        }
                        let out: Amount = t.output.iter().map(|o| o.value).sum();
                        value_in.checked_sub(out)
                    })
                };
                Value::Object(tx(t, fee, true))
            })
            .collect()
    } else {
        block
            .txdata
            .iter()
            .map(|t| json!(t.compute_txid().to_string()))
            .collect()
    };
    m.insert("tx".into(), Value::Array(txs));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_go_out_with_eight_decimals_and_marked_client_text_stays_a_string() {
        let v = json!({"fee": btc(Amount::from_sat(1000)), "value": btc(Amount::from_sat(5_000_000_000))});
        assert_eq!(to_wire(&v), r#"{"fee":0.00001000,"value":50.00000000}"#);
        let sneaky = json!([format!("{AMOUNT_MARK}1,\"x\":2"), "a\"b"]);
        assert_eq!(to_wire(&sneaky), serde_json::to_string(&sneaky).unwrap());
    }

    #[test]
    fn descriptor_checksum_matches_bip380() {
        assert_eq!(
            descriptor_checksum("raw(deadbeef)").as_deref(),
            Some("89f8spxm")
        );
    }

    #[test]
    fn asm_prints_numbers_and_hex_like_core() {
        let s =
            bitcoin::ScriptBuf::from_hex("0014751e76e8199196d454941c45d1b3a323f1433bd6").unwrap();
        assert_eq!(asm(&s), "0 751e76e8199196d454941c45d1b3a323f1433bd6");
        let s = bitcoin::ScriptBuf::from_hex("5102e803b2").unwrap();
        assert_eq!(asm(&s), "1 1000 OP_CHECKSEQUENCEVERIFY");
    }
}
