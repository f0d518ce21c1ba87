//! The `hsm_secret` file: 32 raw bytes in the network directory, mode 0400.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::KeysError;

/// The secret's file name inside the network directory.
pub const SECRET_FILE: &str = "hsm_secret";

/// Reads the secret, or creates a random one if the file does not exist.
///
/// A new secret is written to a temporary file, synced, then linked into place (link fails
/// if someone created the file meanwhile) and the directory synced: a crash leaves either
/// no `hsm_secret` or a whole one, never a short file or a secret that changes on restart.
pub(crate) fn load_or_create(network_dir: &Path) -> Result<[u8; 32], KeysError> {
    let path = network_dir.join(SECRET_FILE);
    let shown = || path.display().to_string();
    match std::fs::read(&path) {
        Ok(bytes) => bytes.as_slice().try_into().map_err(|_| KeysError::Length {
            path: shown(),
            len: bytes.len(),
        }),
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
            Ok(secret)
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
        let a = load_or_create(d.path()).unwrap();
        let mode = std::fs::metadata(d.path().join(SECRET_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o400);
        let b = load_or_create(d.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(std::fs::read(d.path().join(SECRET_FILE)).unwrap(), a);
        assert!(!d.path().join("hsm_secret.new").exists());
    }

    #[test]
    fn a_short_file_is_an_error_not_a_new_secret() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(SECRET_FILE), [1u8; 31]).unwrap();
        let e = load_or_create(d.path()).unwrap_err();
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
        let a = load_or_create(d.path()).unwrap();
        assert_eq!(std::fs::read(d.path().join(SECRET_FILE)).unwrap(), a);
        assert!(!tmp.exists());
    }
}
