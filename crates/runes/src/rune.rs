//! The rune itself: `base64url(authcode[32] ‖ restriction text)`, the unique id marker, and
//! the authcode, a SHA-256 midstate after the master secret and each restriction, each
//! followed by exactly SHA-256's own end padding.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use bitcoin_hashes::sha256::{HashEngine, Midstate};
use bitcoin_hashes::{cmp::fixed_time_eq, HashEngine as _};

use crate::restriction::{parse_text, Condition, Restriction};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuneError {
    /// Not base64url, shorter than an authcode, a NUL or invalid UTF-8 in the text, or a
    /// restriction text Core Lightning's decoder refuses.
    #[error("not a valid rune")]
    Malformed,
}

/// Why a rune is not ours (`checkrune` prefixes these with `Not authorized: `).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotDerived {
    #[error("Version mismatch")]
    VersionMismatch,
    #[error("Not derived from master")]
    NotDerivedFromMaster,
}

/// Decoding is lenient as Core Lightning's: padding optional, leftover bits unchecked.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// SHA-256's end padding for a message of `n` bytes: `0x80`, zeros up to 56 mod 64, then
/// the bit length, big-endian.
fn end_padding(n: usize) -> Vec<u8> {
    let zeros = (128 - 8 - (n % 64) - 1) % 64;
    let mut pad = Vec::with_capacity(1 + zeros + 8);
    pad.push(0x80);
    pad.resize(1 + zeros, 0);
    pad.extend_from_slice(&((n as u64).wrapping_mul(8)).to_be_bytes());
    pad
}

/// Hashes `bytes` and pads: the state is block-aligned afterwards.
fn absorb(engine: &mut HashEngine, bytes: &[u8]) {
    engine.input(bytes);
    let pad = end_padding(engine.n_bytes_hashed());
    engine.input(&pad);
}

fn authcode(engine: &HashEngine) -> [u8; 32] {
    engine.midstate().to_byte_array()
}

/// A decoded rune.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rune {
    authcode: [u8; 32],
    restrictions: Vec<Restriction>,
    unique_id: Option<String>,
    version: Option<String>,
}

impl Rune {
    fn from_parts(authcode: [u8; 32], restrictions: Vec<Restriction>) -> Result<Rune, RuneError> {
        let mut unique_id = None;
        let mut version = None;
        for (i, r) in restrictions.iter().enumerate() {
            if !r.is_id_marker() {
                continue;
            }
            // The id marker is the sole `=` alternative of the first restriction.
            let [alt] = r.alternatives.as_slice() else {
                return Err(RuneError::Malformed);
            };
            if i != 0 || alt.condition != Condition::Equal {
                return Err(RuneError::Malformed);
            }
            match alt.value.split_once('-') {
                Some((id, v)) => {
                    unique_id = Some(id.to_string());
                    version = Some(v.to_string());
                }
                None => unique_id = Some(alt.value.clone()),
            }
        }
        Ok(Rune {
            authcode,
            restrictions,
            unique_id,
            version,
        })
    }

    /// Parses the base64 form as Core Lightning does (see the module doc of the crate).
    pub fn from_base64(text: &str) -> Result<Rune, RuneError> {
        // Whole quartets, then a final group of 1-4 characters whose trailing `=` are
        // dropped (a single character left is an error), as ccan's base64 decodes.
        let b = text.as_bytes();
        let tail = b.len().saturating_sub(1) / 4 * 4;
        let mut end = b.len();
        while end > tail && b[end - 1] == b'=' {
            end -= 1;
        }
        if end - tail == 1 {
            return Err(RuneError::Malformed);
        }
        let bytes = LENIENT
            .decode(&b[..end])
            .map_err(|_| RuneError::Malformed)?;
        let (code, rest) = bytes.split_at_checked(32).ok_or(RuneError::Malformed)?;
        if rest.contains(&0) {
            return Err(RuneError::Malformed);
        }
        let text = std::str::from_utf8(rest).map_err(|_| RuneError::Malformed)?;
        let authcode: [u8; 32] = code.try_into().map_err(|_| RuneError::Malformed)?;
        Rune::from_parts(authcode, parse_text(text)?)
    }

    pub fn to_base64(&self) -> String {
        let mut bytes = self.authcode.to_vec();
        bytes.extend_from_slice(self.text().as_bytes());
        URL_SAFE.encode(bytes)
    }

    /// The canonical restriction text (`&` between restrictions).
    pub fn text(&self) -> String {
        let parts: Vec<String> = self.restrictions.iter().map(|r| r.encode()).collect();
        parts.join("&")
    }

    pub fn authcode(&self) -> &[u8; 32] {
        &self.authcode
    }

    pub fn unique_id(&self) -> Option<&str> {
        self.unique_id.as_deref()
    }

    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The unique id as the rune RPCs require it: decimal digits only, at most 2^63−1.
    /// (Core Lightning also takes hex/octal/leading blanks via `strtoull(…, 0)`; it never
    /// issues them, and reads them back in base 10 elsewhere, so boltd takes decimal only.)
    pub fn numeric_id(&self) -> Option<u64> {
        let id = self.unique_id.as_deref()?;
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        id.parse::<u64>().ok().filter(|&n| n <= i64::MAX as u64)
    }

    /// All restrictions, the id marker included.
    pub fn restrictions(&self) -> &[Restriction] {
        &self.restrictions
    }

    /// The restrictions `checkrune` evaluates and `showrunes` lists: the id marker left out.
    pub fn checked_restrictions(&self) -> &[Restriction] {
        match self.restrictions.first() {
            Some(r) if r.is_id_marker() => &self.restrictions[1..],
            _ => &self.restrictions,
        }
    }

    /// Adds restrictions without the secret, resuming SHA-256 from the authcode: anybody
    /// holding a rune can narrow it. Id markers cannot be added this way.
    pub fn restricted(&self, more: &[Restriction]) -> Result<Rune, RuneError> {
        if more
            .iter()
            .any(|r| r.is_id_marker() || r.alternatives.is_empty())
        {
            return Err(RuneError::Malformed);
        }
        // Replay the byte count the authcode covers: the secret's block, then each
        // restriction and its padding.
        let mut len = 64usize;
        for r in &self.restrictions {
            len += r.encode().len();
            len += end_padding(len).len();
        }
        let mut engine = HashEngine::from_midstate(Midstate::from_byte_array(self.authcode), len);
        let mut restrictions = self.restrictions.clone();
        for r in more {
            absorb(&mut engine, r.encode().as_bytes());
            restrictions.push(r.clone());
        }
        Rune::from_parts(authcode(&engine), restrictions)
    }
}

/// The master rune: the hash state after the secret. Mints and verifies.
#[derive(Clone)]
pub struct MasterRune {
    engine: HashEngine,
}

impl std::fmt::Debug for MasterRune {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterRune(..)")
    }
}

impl MasterRune {
    /// From the master secret (see [`crate::master_secret`]).
    pub fn new(secret: &[u8; 32]) -> MasterRune {
        let mut engine = HashEngine::default();
        absorb(&mut engine, secret);
        MasterRune { engine }
    }

    /// From an `hsm_secret` seed: derives the master secret first.
    pub fn from_seed(seed: &[u8]) -> MasterRune {
        MasterRune::new(&crate::secret::master_secret(seed))
    }

    fn state_after(&self, restrictions: &[Restriction]) -> [u8; 32] {
        let mut engine = self.engine.clone();
        for r in restrictions {
            absorb(&mut engine, r.encode().as_bytes());
        }
        authcode(&engine)
    }

    /// A new rune with id marker `=<unique_id>` first, then `restrictions`.
    pub fn mint(&self, unique_id: u64, restrictions: &[Restriction]) -> Result<Rune, RuneError> {
        let mut all = vec![Restriction::unique_id(&unique_id.to_string())];
        if restrictions
            .iter()
            .any(|r| r.is_id_marker() || r.alternatives.is_empty())
        {
            return Err(RuneError::Malformed);
        }
        all.extend_from_slice(restrictions);
        Rune::from_parts(self.state_after(&all), all)
    }

    /// Whether `rune` was made from this master (authcodes compared in constant time).
    pub fn is_derived(&self, rune: &Rune) -> Result<(), NotDerived> {
        if rune.version.is_some() {
            return Err(NotDerived::VersionMismatch);
        }
        let expect = self.state_after(&rune.restrictions);
        if fixed_time_eq(&expect, &rune.authcode) {
            Ok(())
        } else {
            Err(NotDerived::NotDerivedFromMaster)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restriction::Alternative;
    use bitcoin_hashes::{sha256, Hash};

    fn seed00_1f() -> Vec<u8> {
        (0u8..32).collect()
    }

    fn restr(alts: &[&str]) -> Restriction {
        Restriction::new(
            alts.iter()
                .map(|a| Alternative::parse_unescaped(a).unwrap())
                .collect(),
        )
    }

    fn readonly() -> Vec<Restriction> {
        vec![
            restr(&["method^list", "method^get", "method=summary"]),
            restr(&["method/listdatastore"]),
        ]
    }

    #[test]
    fn reference_vectors_from_hsm_secret_00_to_1f() {
        let m = MasterRune::from_seed(&seed00_1f());
        let cases: Vec<(u64, Vec<Restriction>, &str)> = vec![
            (0, vec![], "uNRPyX5AHfGHy3NoyOKuJN6OwkYJ5IOW8IhzU-pSuxw9MA=="),
            (1, vec![restr(&["method=getinfo"])], "wyXcVnVzW2azS3TJxL1LENDmM-KCscRz1tCJu7Y65a49MSZtZXRob2Q9Z2V0aW5mbw=="),
            (2, vec![restr(&["method=getinfo", "method=listpeers"]), restr(&["pnum<2"])],
             "8jtG2wzmBMzwMGN_GoORYCZACV11Ch7VLKcOEqY-pqg9MiZtZXRob2Q9Z2V0aW5mb3xtZXRob2Q9bGlzdHBlZXJzJnBudW08Mg=="),
            (3, vec![restr(&["rate=2"])], "j9JrlySxEFVOL1nyfVjPLAB4Kw7bnoZdGCngZfNay7E9MyZyYXRlPTI="),
            (4, readonly(), "w3ucOpbUoQUwPiy3fhZakMuiHy6IfuQ_HraRe5-bvTU9NCZtZXRob2RebGlzdHxtZXRob2ReZ2V0fG1ldGhvZD1zdW1tYXJ5Jm1ldGhvZC9saXN0ZGF0YXN0b3Jl"),
            (5, vec![], "o1aepSw7wCAotBhibCS7RtSB2W-txAmK5G2SwjPqBxk9NQ=="),
        ];
        for (id, rs, want) in cases {
            let rune = m.mint(id, &rs).unwrap();
            assert_eq!(rune.to_base64(), want, "rune #{id}");
            let back = Rune::from_base64(want).unwrap();
            assert_eq!(back, rune);
            assert_eq!(m.is_derived(&back), Ok(()));
            assert_eq!(back.numeric_id(), Some(id));
        }
    }

    #[test]
    fn core_lightning_test_suite_seed() {
        let mut seed = [0u8; 32];
        seed[..11].copy_from_slice(b"lightning-1");
        let m = MasterRune::from_seed(&seed);
        assert_eq!(
            m.mint(0, &[]).unwrap().to_base64(),
            "OSqc7ixY6F-gjcigBfxtzKUI54uzgFSA6YfBQoWGDV89MA=="
        );
    }

    #[test]
    fn closed_form_is_plain_sha256_of_padded_concatenation() {
        let secret = crate::master_secret(&seed00_1f());
        let mut m = secret.to_vec();
        m.extend(end_padding(32));
        m.extend_from_slice(b"=1");
        m.extend(end_padding(m.len()));
        m.extend_from_slice(b"method=getinfo");
        let digest = sha256::Hash::hash(&m).to_byte_array();
        let rune = MasterRune::new(&secret)
            .mint(1, &[restr(&["method=getinfo"])])
            .unwrap();
        assert_eq!(&digest, rune.authcode());
        assert_eq!(
            MasterRune::new(&secret).state_after(&[]),
            sha256::Hash::hash(&secret).to_byte_array()
        );
    }

    /// ccan/rune/test/test_vectors.csv: secret = 16 zero bytes, minted by the Python library.
    #[test]
    fn ccan_vectors_with_a_16_byte_secret() {
        let mut engine = HashEngine::default();
        absorb(&mut engine, &[0u8; 16]);
        let m = MasterRune { engine };
        let cases = [
            ("", "N0cI__dxndWXnsh11WzSKG9tPPfsMXo7JWMqqyjsN7s="),
            ("=1", "YDVzGiy7Aiy-tnZFqg-KJmU9jMRU4OCH1NGdKCuNpL09MQ=="),
            (
                "f1=1|f2=3",
                "hcNkPcEC8KDW8g7rjClAkhUWiPrkHvfI7HJyqyORg3ZmMT0xfGYyPTM=",
            ),
            (
                "f1=1|f2=3&f3~\\&\\|\\\\",
                "S253BW1Lragb1CpCSLXYGt9AdrE4iFMlXmnO0alV5vlmMT0xfGYyPTMmZjN-XCZcfFxc",
            ),
        ];
        for (text, want) in cases {
            let rs = parse_text(text).unwrap();
            let rune = Rune::from_parts(m.state_after(&rs), rs).unwrap();
            assert_eq!(rune.to_base64(), want, "{text}");
            assert_eq!(m.is_derived(&Rune::from_base64(want).unwrap()), Ok(()));
        }
        // A versioned id is refused even when the authcode is right.
        let v = Rune::from_base64("RSB3NAfJZYZGMm_f_mhf-8PIY5oIDa5DELNxgwogXPE9Mi0x").unwrap();
        assert_eq!(v.unique_id(), Some("2"));
        assert_eq!(v.version(), Some("1"));
        assert_eq!(m.is_derived(&v), Err(NotDerived::VersionMismatch));
    }

    #[test]
    fn restricting_without_the_secret_equals_minting_with_it() {
        let m = MasterRune::from_seed(&seed00_1f());
        let base = m.mint(7, &[restr(&["method=getinfo"])]).unwrap();
        let narrowed = base.restricted(&[restr(&["pnum<2"])]).unwrap();
        let direct = m
            .mint(7, &[restr(&["method=getinfo"]), restr(&["pnum<2"])])
            .unwrap();
        assert_eq!(narrowed, direct);
        assert_eq!(m.is_derived(&narrowed), Ok(()));
        // A long restriction spans several blocks.
        let long = format!("pnamex={}", "y".repeat(300));
        let a = base.restricted(&[restr(&[&long])]).unwrap();
        let b = m
            .mint(7, &[restr(&["method=getinfo"]), restr(&[&long])])
            .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn base64_tolerance_as_core_lightning() {
        let good = "uNRPyX5AHfGHy3NoyOKuJN6OwkYJ5IOW8IhzU-pSuxw9MA==";
        assert!(Rune::from_base64(good.trim_end_matches('=')).is_ok());
        assert!(Rune::from_base64(&format!("{good}=")).is_err());
        assert!(Rune::from_base64(&format!("{good}A")).is_err());
        assert!(Rune::from_base64(&good.replace('-', "+")).is_err());
        assert!(Rune::from_base64("").is_err());
        assert!(Rune::from_base64("AAAA").is_err());
        assert!(Rune::from_base64("ab=c").is_err());
        assert!(Rune::from_base64(&format!("{good}==")).is_err());
        assert!(Rune::from_base64(&good.replace("9MA==", "9MA=A")).is_err());
        // Restriction text with a NUL.
        let mut bytes = vec![0u8; 32];
        bytes.extend_from_slice(b"=0\0");
        assert!(Rune::from_base64(&URL_SAFE.encode(&bytes)).is_err());
        // Non-canonical escapes decode, and re-encode canonically for the authcode.
        let m = MasterRune::from_seed(&seed00_1f());
        let canon = m.mint(0, &[restr(&["method=getinfo"])]).unwrap();
        for text in ["=0&method=\\g\\etinfo", "=0&method=getinfo&"] {
            let mut bytes = canon.authcode().to_vec();
            bytes.extend_from_slice(text.as_bytes());
            let r = Rune::from_base64(&URL_SAFE.encode(&bytes)).unwrap();
            assert_eq!(m.is_derived(&r), Ok(()), "{text}");
        }
    }

    #[test]
    fn id_marker_rules() {
        for text in ["=1-2&=3", "a=1&=2", "=1|a=2", "!1", "#1", "a=1|=2"] {
            let mut bytes = vec![1u8; 32];
            bytes.extend_from_slice(text.as_bytes());
            assert!(
                Rune::from_base64(&URL_SAFE.encode(&bytes)).is_err(),
                "{text}"
            );
        }
        let mut bytes = vec![1u8; 32];
        bytes.extend_from_slice(b"method=a");
        let r = Rune::from_base64(&URL_SAFE.encode(&bytes)).unwrap();
        assert_eq!(r.numeric_id(), None);
        for (id, ok) in [
            ("12", true),
            ("0x10", false),
            (" 7", false),
            ("", false),
            ("9223372036854775808", false),
        ] {
            let mut bytes = vec![1u8; 32];
            bytes.extend_from_slice(format!("={id}").as_bytes());
            let r = Rune::from_base64(&URL_SAFE.encode(&bytes)).unwrap();
            assert_eq!(r.numeric_id().is_some(), ok, "{id}");
        }
    }

    #[test]
    fn tampering_is_detected() {
        let m = MasterRune::from_seed(&seed00_1f());
        let r = m.mint(1, &[restr(&["method=getinfo"])]).unwrap();
        let mut code = *r.authcode();
        code[31] ^= 1;
        let flipped = Rune::from_parts(code, r.restrictions().to_vec()).unwrap();
        assert_eq!(
            m.is_derived(&flipped),
            Err(NotDerived::NotDerivedFromMaster)
        );
        let dropped = Rune::from_parts(*r.authcode(), r.restrictions()[..1].to_vec()).unwrap();
        assert_eq!(
            m.is_derived(&dropped),
            Err(NotDerived::NotDerivedFromMaster)
        );
        let other = MasterRune::from_seed(&[9u8; 32]);
        assert_eq!(other.is_derived(&r), Err(NotDerived::NotDerivedFromMaster));
    }
}
