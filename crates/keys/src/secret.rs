//! The `hsm_secret` file in the network directory (mode 0400), in Core Lightning's two
//! unencrypted formats: 32 raw bytes (what boltd writes), or 32 zero bytes followed by a
//! BIP 39 mnemonic (what lightningd v25.12+ and pyln-testing write).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::KeysError;

/// What an `hsm_secret` file holds.
#[derive(Clone)]
pub(crate) enum Secret {
    /// 32 raw bytes.
    Plain([u8; 32]),
    /// The 64-byte BIP 39 seed of the file's mnemonic (no passphrase).
    Mnemonic(Box<[u8; 64]>),
}

/// Core Lightning's encrypted format (secretstream header + 32 bytes + MAC).
const ENCRYPTED_LEN: usize = 73;

/// Reads a file's bytes as Core Lightning does: exactly 32 bytes are plain, 73 are
/// encrypted, anything longer is a 32-byte passphrase check followed by mnemonic text.
pub(crate) fn parse(path: &str, bytes: &[u8]) -> Result<Secret, KeysError> {
    let unsupported = |why: &str| KeysError::Format {
        path: path.to_string(),
        why: why.to_string(),
    };
    if let Ok(plain) = <[u8; 32]>::try_from(bytes) {
        return Ok(Secret::Plain(plain));
    }
    if bytes.len() == ENCRYPTED_LEN {
        return Err(unsupported(
            "it is encrypted, and boltd cannot decrypt hsm_secret files",
        ));
    }
    let Some((check, words)) = bytes.split_first_chunk::<32>() else {
        return Err(KeysError::Length {
            path: path.to_string(),
            len: bytes.len(),
        });
    };
    // lightningd writes zeros here when the mnemonic has no passphrase.
    if check.iter().any(|b| *b != 0) {
        return Err(unsupported(
            "its mnemonic needs a passphrase, and boltd has no --hsm-passphrase",
        ));
    }
    let text = std::str::from_utf8(words)
        .map_err(|_| unsupported("the mnemonic is not UTF-8 text"))?
        .trim();
    let mnemonic = bip39::Mnemonic::parse_in(bip39::Language::English, text)
        .map_err(|e| unsupported(&format!("not a BIP 39 English mnemonic ({e})")))?;
    Ok(Secret::Mnemonic(Box::new(mnemonic.to_seed(""))))
}

/// The secret's file name inside the network directory.
pub const SECRET_FILE: &str = "hsm_secret";

/// Reads the secret, or creates a random one if the file does not exist.
///
/// A new secret is written to a temporary file, synced, then linked into place (link fails
/// if someone created the file meanwhile) and the directory synced: a crash leaves either
/// no `hsm_secret` or a whole one, never a short file or a secret that changes on restart.
pub(crate) fn load_or_create(network_dir: &Path) -> Result<Secret, KeysError> {
    let path = network_dir.join(SECRET_FILE);
    let shown = || path.display().to_string();
    match std::fs::read(&path) {
        Ok(bytes) => parse(&shown(), &bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret: [u8; 32] = rand::random();
            let tmp = network_dir.join(format!("{SECRET_FILE}.new"));
            let create = |source| KeysError::Create {
                path: shown(),
                source,
            };
            let write = |source| KeysError::Write {
                path: shown(),
                source,
            };
            // A leftover from a crash during an earlier first start: never used yet.
            match std::fs::remove_file(&tmp) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(create(e)),
                _ => {}
            }
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o400)
                .open(&tmp)
                .map_err(create)?;
            f.write_all(&secret)
                .and_then(|_| f.sync_all())
                .map_err(write)?;
            drop(f);
            let linked = std::fs::hard_link(&tmp, &path);
            let _ = std::fs::remove_file(&tmp);
            linked.map_err(create)?;
            File::open(network_dir)
                .and_then(|d| d.sync_all())
                .map_err(write)?;
            Ok(Secret::Plain(secret))
        }
        Err(source) => Err(KeysError::Read {
            path: shown(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_read_only_and_stable() {
        let d = tempfile::tempdir().unwrap();
        let Secret::Plain(a) = load_or_create(d.path()).unwrap() else {
            panic!("a new secret is plain")
        };
        let mode = std::fs::metadata(d.path().join(SECRET_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o400);
        let Secret::Plain(b) = load_or_create(d.path()).unwrap() else {
            panic!("still plain")
        };
        assert_eq!(a, b);
        assert_eq!(std::fs::read(d.path().join(SECRET_FILE)).unwrap(), a);
        assert!(!d.path().join("hsm_secret.new").exists());
    }

    #[test]
    fn a_short_file_is_an_error_not_a_new_secret() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(SECRET_FILE), [1u8; 31]).unwrap();
        let Err(e) = load_or_create(d.path()) else {
            panic!("a short file must not load")
        };
        assert!(
            e.to_string()
                .ends_with("hsm_secret: expected 32 bytes, found 31"),
            "{e}"
        );
        assert_eq!(
            std::fs::read(d.path().join(SECRET_FILE)).unwrap(),
            [1u8; 31]
        );
    }

    #[test]
    fn a_leftover_temporary_file_is_replaced() {
        let d = tempfile::tempdir().unwrap();
        let tmp = d.path().join("hsm_secret.new");
        std::fs::write(&tmp, [9u8; 5]).unwrap();
        let Secret::Plain(a) = load_or_create(d.path()).unwrap() else {
            panic!("a new secret is plain")
        };
        assert_eq!(std::fs::read(d.path().join(SECRET_FILE)).unwrap(), a);
        assert!(!tmp.exists());
    }

    /// The file pyln-testing writes for a node directory named `lightning-1`: 32 zero
    /// bytes, then the mnemonic of the entropy `b"lightning-1"` + zero padding.
    const PYLN_MNEMONIC: &str =
        "hockey enroll sure trip track rescue original plate abandon abandon abandon account";

    #[test]
    fn a_mnemonic_file_gives_its_bip39_seed() {
        let mut file = vec![0u8; 32];
        file.extend_from_slice(PYLN_MNEMONIC.as_bytes());
        let Ok(Secret::Mnemonic(seed)) = parse("x", &file) else {
            panic!("a mnemonic file must parse")
        };
        let expected = bip39::Mnemonic::parse(PYLN_MNEMONIC).unwrap().to_seed("");
        assert_eq!(*seed, expected);
        // The rune master secret Core Lightning derives from this very file
        // (reference: cln-runes-commando-reference.md §2.1).
        assert_eq!(
            hex::encode(runes_master_for_test(&seed[..])),
            "4ac018131e70b044e17891e67960f59b9d602525d3aef9956e900189f456e595"
        );
    }

    /// Core Lightning's `derive_secret("commando")`, spelled out here so this crate's test
    /// does not depend on the runes crate.
    fn runes_master_for_test(seed: &[u8]) -> [u8; 32] {
        use bitcoin::hashes::{hmac, sha256, Hash, HashEngine};
        let hkdf = |ikm: &[u8], info: &[u8]| {
            let mut e = hmac::HmacEngine::<sha256::Hash>::new(&[]);
            e.input(ikm);
            let prk = hmac::Hmac::<sha256::Hash>::from_engine(e);
            let mut x = hmac::HmacEngine::<sha256::Hash>::new(prk.as_byte_array());
            x.input(info);
            x.input(&[1]);
            hmac::Hmac::<sha256::Hash>::from_engine(x).to_byte_array()
        };
        hkdf(&hkdf(seed, b"derived secrets"), b"commando")
    }

    #[test]
    fn unsupported_formats_are_named_not_guessed() {
        let err = |bytes: &[u8]| match parse("hsm", bytes) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("must not load"),
        };
        assert!(err(&[7u8; 73]).contains("encrypted"));
        let mut with_pass = vec![1u8; 32];
        with_pass.extend_from_slice(PYLN_MNEMONIC.as_bytes());
        assert!(err(&with_pass).contains("passphrase"));
        let mut bad_words = vec![0u8; 32];
        bad_words.extend_from_slice(b"hockey enroll sure trip track rescue");
        assert!(err(&bad_words).contains("BIP 39"));
        let mut not_utf8 = vec![0u8; 32];
        not_utf8.extend_from_slice(&[0xff, 0xfe]);
        assert!(err(&not_utf8).contains("UTF-8"));
        assert_eq!(err(&[0u8; 5]), "hsm: expected 32 bytes, found 5");
    }
}
