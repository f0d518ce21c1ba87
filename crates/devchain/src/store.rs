//! The chain on disk: `<datadir>/regtest/blocks.dat` holds every block ever added (all
//! branches, parents before children) as length-prefixed consensus bytes; `invalid.dat`
//! lists the hashes `invalidateblock` marked. Loading replays both.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use bitcoin::{Block, BlockHash};

/// Set in a record's length word for a block from `submitblock` (scripts re-checked on load).
const UNTRUSTED: u32 = 1 << 31;

/// Errors reading or writing the chain files.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another devchain (or bitcoind) has the directory.
    #[error("Cannot obtain a lock on data directory {0}. devchain is probably already running.")]
    Locked(String),
    /// Filesystem trouble.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

/// The open block file.
#[derive(Debug)]
pub struct BlockStore {
    dir: PathBuf,
    blocks: File,
    /// `.lock`, held (flock) while open: two servers appending to one file would corrupt it.
    _lock: File,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl BlockStore {
    /// Opens (creating) the files in `dir` and returns the stored blocks in file order and the
    /// invalid marks. A torn last record (a crash mid-write) is cut off.
    #[allow(clippy::type_complexity)]
    pub fn open(
        dir: &Path,
    ) -> Result<(BlockStore, Vec<(Block, bool)>, Vec<BlockHash>), StoreError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let lock_path = dir.join(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        // SAFETY: flock on a file descriptor we own, no pointers involved.
        if unsafe {
            libc::flock(
                std::os::fd::AsRawFd::as_raw_fd(&lock),
                libc::LOCK_EX | libc::LOCK_NB,
            )
        } != 0
        {
            return Err(StoreError::Locked(dir.display().to_string()));
        }
        let path = dir.join("blocks.dat");
        let mut blocks = Vec::new();
        let mut good_len = 0u64;
        if let Ok(file) = File::open(&path) {
            let mut reader = BufReader::new(file);
            loop {
                let mut len = [0u8; 4];
                if reader.read_exact(&mut len).is_err() {
                    break;
                }
                let len = u32::from_le_bytes(len);
                let trusted = len & UNTRUSTED == 0;
                let len = (len & !UNTRUSTED) as usize;
                let mut buf = vec![0u8; len];
                if reader.read_exact(&mut buf).is_err() {
                    break;
                }
                match bitcoin::consensus::deserialize::<Block>(&buf) {
                    Ok(b) => blocks.push((b, trusted)),
                    Err(_) => break,
                }
                good_len += 4 + len as u64;
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        file.set_len(good_len).map_err(io(&path))?;
        let invalid_path = dir.join("invalid.dat");
        let invalid = std::fs::read_to_string(&invalid_path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        Ok((
            BlockStore {
                dir: dir.to_path_buf(),
                blocks: file,
                _lock: lock,
            },
            blocks,
            invalid,
        ))
    }

    /// Appends a block (buffered by the OS until [`BlockStore::sync`]).
    /// `trusted`: see [`crate::chain::BlockEntry::trusted`].
    pub fn append(&mut self, block: &Block, trusted: bool) -> Result<(), StoreError> {
        let bytes = bitcoin::consensus::serialize(block);
        let mut rec = Vec::with_capacity(bytes.len() + 4);
        let flag = if trusted { 0 } else { UNTRUSTED };
        rec.extend_from_slice(&(bytes.len() as u32 | flag).to_le_bytes());
        rec.extend_from_slice(&bytes);
        let path = self.dir.join("blocks.dat");
        self.blocks.write_all(&rec).map_err(io(&path))
    }

    /// Makes appended blocks durable (called before an RPC that mined them answers).
    pub fn sync(&mut self) -> Result<(), StoreError> {
        let path = self.dir.join("blocks.dat");
        self.blocks.sync_data().map_err(io(&path))
    }

    /// Rewrites the invalid marks (atomically: temp file, then rename).
    pub fn save_invalid(&self, marks: &[BlockHash]) -> Result<(), StoreError> {
        let path = self.dir.join("invalid.dat");
        let tmp = self.dir.join("invalid.dat.tmp");
        let text: String = marks.iter().map(|h| format!("{h}\n")).collect();
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(text.as_bytes()).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    }
}
