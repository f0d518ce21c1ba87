//! The master secret runes are derived from, as Core Lightning's hsmd computes it for
//! `derive_secret("commando")`: two HKDF-SHA256 steps with an empty salt.

use bitcoin_hashes::{hmac, sha256, Hash, HashEngine};

/// HKDF-SHA256 (RFC 5869) with an empty salt and a 32-byte output: one extract, one
/// expand block. An empty HMAC key is the same as 32 zero bytes.
fn hkdf32(ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let mut extract = hmac::HmacEngine::<sha256::Hash>::new(&[]);
    extract.input(ikm);
    let prk = hmac::Hmac::<sha256::Hash>::from_engine(extract);
    let mut expand = hmac::HmacEngine::<sha256::Hash>::new(prk.as_byte_array());
    expand.input(info);
    expand.input(&[1]);
    hmac::Hmac::<sha256::Hash>::from_engine(expand).to_byte_array()
}

/// The rune master secret for a seed (the 32 bytes of a plain `hsm_secret`, or the 64-byte
/// BIP-39 seed of a mnemonic one). Equal to Core Lightning's `makesecret string=commando`.
pub fn master_secret(seed: &[u8]) -> [u8; 32] {
    let derived = hkdf32(seed, b"derived secrets");
    hkdf32(&derived, b"commando")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn rfc5869_case_3_has_an_empty_salt_and_info() {
        // RFC 5869 A.3 (salt and info empty); only the first 32 bytes of its OKM.
        let ikm = [0x0bu8; 22];
        let mut extract = hmac::HmacEngine::<sha256::Hash>::new(&[]);
        extract.input(&ikm);
        let prk = hmac::Hmac::<sha256::Hash>::from_engine(extract);
        assert_eq!(
            hex(prk.as_byte_array()),
            "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04"
        );
        assert_eq!(
            hex(&hkdf32(&ikm, b"")),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
        );
    }

    #[test]
    fn master_secret_of_the_reference_seeds() {
        let seed: Vec<u8> = (0u8..32).collect();
        assert_eq!(
            hex(&master_secret(&seed)),
            "125b6c3442f8a495734adaeba38b26d6a66fdf4ab95c4d039756b76ddb933095"
        );
        let mut seed = [0u8; 32];
        seed[..11].copy_from_slice(b"lightning-1");
        assert_eq!(
            hex(&master_secret(&seed)),
            "edb8893c04fdeef8f5f06ed70edef309a5c83f20624594e136e392504a270c40"
        );
    }
}
