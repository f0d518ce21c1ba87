//! Feature bits as hex bitfields (BOLT 9 byte order: most significant byte first), per
//! place (`init`, `node`, …). Plugins add bits through `featurebits` in their manifest;
//! the host keeps the union and refuses a bit that is already offered (§2.3).

use indexmap::IndexMap;
use serde_json::{Map, Value};

/// The keys a manifest's `featurebits` may use, in the order `feature_set` lists them.
pub const PLACES: [&str; 8] = [
    "init",
    "node",
    "channel",
    "invoice",
    "bolt12_offer",
    "bolt12_invreq",
    "bolt12_invoice",
    "channel_type",
];

/// Bitfields per place. Missing places are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeatureSet {
    pub bits: IndexMap<String, Vec<u8>>,
}

impl FeatureSet {
    pub fn get(&self, place: &str) -> &[u8] {
        self.bits.get(place).map(|v| v.as_slice()).unwrap_or(&[])
    }

    pub fn is_empty(&self) -> bool {
        self.bits.values().all(|v| v.iter().all(|b| *b == 0))
    }

    /// True if any bit set here is also set in `other` (same place).
    pub fn overlaps(&self, other: &FeatureSet) -> bool {
        self.bits.iter().any(|(place, mine)| {
            let theirs = other.get(place);
            aligned(mine, theirs).any(|(a, b)| a & b != 0)
        })
    }

    /// Adds every bit of `other` to `self`.
    pub fn union_with(&mut self, other: &FeatureSet) {
        for (place, theirs) in &other.bits {
            let mine = self.bits.entry(place.clone()).or_default();
            let len = mine.len().max(theirs.len());
            let mut out = vec![0u8; len];
            for (i, b) in mine.iter().rev().enumerate() {
                out[len - 1 - i] |= b;
            }
            for (i, b) in theirs.iter().rev().enumerate() {
                out[len - 1 - i] |= b;
            }
            *mine = out;
        }
    }

    /// `{"init":"<hex>",...}` with every place present, as `feature_set` in `init`.
    pub fn to_json_all(&self) -> Value {
        let mut m = Map::new();
        for p in PLACES {
            m.insert(p.to_string(), Value::String(hex_encode(self.get(p))));
        }
        Value::Object(m)
    }

    /// Only the four places getinfo's `our_features` shows.
    pub fn to_json_getinfo(&self) -> Value {
        let mut m = Map::new();
        for p in ["init", "node", "channel", "invoice"] {
            m.insert(p.to_string(), Value::String(hex_encode(self.get(p))));
        }
        Value::Object(m)
    }
}

/// Byte pairs aligned at the least significant (last) byte.
fn aligned<'a>(a: &'a [u8], b: &'a [u8]) -> impl Iterator<Item = (u8, u8)> + 'a {
    a.iter().rev().zip(b.iter().rev()).map(|(x, y)| (*x, *y))
}

pub fn hex_encode(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(s.len() / 2);
    for pair in bytes.chunks(2) {
        let v = (hexval(*pair.first()?)? << 4) | hexval(*pair.get(1)?)?;
        out.push(v);
    }
    Some(out)
}

fn hexval(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_aligns_on_low_bytes() {
        let mut a = FeatureSet::default();
        a.bits.insert("init".into(), vec![0x01]);
        let mut b = FeatureSet::default();
        b.bits.insert("init".into(), vec![0x80, 0x02]);
        assert!(!a.overlaps(&b));
        a.union_with(&b);
        assert_eq!(a.get("init"), &[0x80, 0x03]);
        let mut c = FeatureSet::default();
        c.bits.insert("init".into(), vec![0x02]);
        assert!(a.overlaps(&c));
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(hex_decode("0aFf"), Some(vec![0x0a, 0xff]));
        assert_eq!(hex_decode("abc"), None);
        assert_eq!(hex_decode("zz"), None);
        assert_eq!(hex_encode(&[0x0a, 0xff]), "0aff");
    }
}
