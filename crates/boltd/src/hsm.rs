//! Node identity: the 32-byte `hsm_secret` seed and the node id derived from it exactly as
//! LDK's `KeysManager` does, so the peer layer (which builds its own `KeysManager` from the
//! same seed) presents the same key.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use bitcoin::secp256k1::PublicKey;
use lightning::sign::{KeysManager, NodeSigner, Recipient};

/// Reads `<network-dir>/hsm_secret`, creating it (mode 0400, random) on first start.
pub fn load_or_create(network_dir: &Path) -> Result<[u8; 32], String> {
    let path = network_dir.join("hsm_secret");
    match std::fs::read(&path) {
        Ok(bytes) => bytes.as_slice().try_into().map_err(|_| {
            format!(
                "{}: expected 32 bytes, found {}",
                path.display(),
                bytes.len()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let seed: [u8; 32] = rand::random();
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o400)
                .open(&path)
                .map_err(|e| format!("creating {}: {e}", path.display()))?;
            f.write_all(&seed)
                .and_then(|_| f.sync_all())
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
            Ok(seed)
        }
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

/// The node id for a seed (`KeysManager::get_node_id(Recipient::Node)`).
pub fn node_id(seed: &[u8; 32]) -> Result<PublicKey, String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // The start time only seeds ephemeral randomness; the node key depends on the seed alone.
    let km = KeysManager::new(seed, now.as_secs(), now.subsec_nanos(), true);
    km.get_node_id(Recipient::Node)
        .map_err(|_| "cannot derive node id".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_read_only_and_stable() {
        let d = tempfile::tempdir().unwrap();
        let a = load_or_create(d.path()).unwrap();
        let mode = std::fs::metadata(d.path().join("hsm_secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o400);
        let b = load_or_create(d.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(node_id(&a).unwrap(), node_id(&b).unwrap());
    }
}
