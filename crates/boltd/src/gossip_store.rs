//! `<network-dir>/gossip_store`: Core Lightning's gossip file, which tools and test
//! frameworks (pyln-testing opens it at every node start) expect to find. boltd keeps its
//! gossip in LDK's network graph, so the file holds only the version byte: a valid, empty
//! store. An existing file is left alone.

use std::path::Path;

/// The file's name in the network directory.
pub const FILE: &str = "gossip_store";

/// Core Lightning's current store version (major 0, minor 15): readers accept it.
const VERSION: u8 = 0x0f;

/// Creates the empty store if there is none.
pub fn ensure(network_dir: &Path) -> std::io::Result<()> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(network_dir.join(FILE))
    {
        Ok(mut f) => std::io::Write::write_all(&mut f, &[VERSION]),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_with_a_version_byte_and_never_overwritten() {
        let d = tempfile::tempdir().unwrap();
        ensure(d.path()).unwrap();
        assert_eq!(std::fs::read(d.path().join(FILE)).unwrap(), [VERSION]);
        std::fs::write(d.path().join(FILE), [VERSION, 1, 2]).unwrap();
        ensure(d.path()).unwrap();
        assert_eq!(std::fs::read(d.path().join(FILE)).unwrap(), [VERSION, 1, 2]);
    }
}
