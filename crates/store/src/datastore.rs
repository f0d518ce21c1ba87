//! The plugin datastore with Core Lightning's semantics (lightningd/datastore.c).
//!
//! A key is a non-empty array of strings; a key holds either a value or children, never
//! both (parents exist implicitly while they have children). Each value has a
//! `generation`: 0 on creation, +1 on every update, so plugins can do compare-and-swap.
//! Keys are stored as their parts joined with NUL bytes, so byte order lists a key right
//! before its children and `[key, key + 0x01)` is exactly the key and its subtree.

use crate::backend::SqlValue;
use crate::error::StoreError;
use crate::tx::{Store, Tx};

/// How `datastore` treats an existing value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Fails if the key exists (the default).
    MustCreate,
    /// Fails if the key does not exist.
    MustReplace,
    /// Never fails on existence.
    CreateOrReplace,
    /// Must exist; the new data is appended.
    MustAppend,
    /// Appends if it exists, creates otherwise.
    CreateOrAppend,
}

impl Mode {
    /// Parses the names clients send.
    pub fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "must-create" => Mode::MustCreate,
            "must-replace" => Mode::MustReplace,
            "create-or-replace" => Mode::CreateOrReplace,
            "must-append" => Mode::MustAppend,
            "create-or-append" => Mode::CreateOrAppend,
            _ => return None,
        })
    }

    fn must_exist(self) -> bool {
        matches!(self, Mode::MustReplace | Mode::MustAppend)
    }

    fn must_not_exist(self) -> bool {
        self == Mode::MustCreate
    }

    fn append(self) -> bool {
        matches!(self, Mode::MustAppend | Mode::CreateOrAppend)
    }
}

/// One listed entry. `data`/`generation` are `None` for a parent listed only to show
/// that it has (grand)children, as `listdatastore` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatastoreEntry {
    pub key: Vec<String>,
    pub data: Option<Vec<u8>>,
    pub generation: Option<u64>,
}

/// Refusals of the datastore's rules. Messages are Core Lightning's, word for word; the
/// daemon picks the error code (which differs between `datastore` and `deldatastore`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatastoreError {
    /// `generation` given with a mode that may create (code -32602).
    #[error("generation only valid with must-replace or must-append")]
    GenerationNeedsExisting,
    /// The key has children, so it cannot hold a value (1205).
    #[error("Key has children already")]
    HasChildren,
    /// A prefix of the key holds a value, so it cannot have children (1206).
    #[error("Parent key {0} exists")]
    ParentExists(String),
    /// must-create on an existing key (1202).
    #[error("Key already exists")]
    AlreadyExists,
    /// must-replace/must-append/deldatastore on a missing key (1203 / 1200).
    #[error("Key does not exist")]
    DoesNotExist,
    /// The caller's generation is not the stored one (1204 / 1201).
    #[error("generation is different")]
    WrongGeneration,
    /// An empty key array (a parameter error; the daemon words it as CLN's badparam).
    #[error("should not be empty")]
    EmptyKey,
    /// A key part with a NUL byte, which the key encoding cannot represent.
    #[error("key parts cannot contain NUL characters")]
    NulInKey,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `[a,b,c]`, the way Core Lightning prints a key in messages and `datastoreusage`.
pub fn format_key(key: &[String]) -> String {
    format!("[{}]", key.join(","))
}

fn encode(key: &[String]) -> Result<Vec<u8>, DatastoreError> {
    if key.is_empty() {
        return Err(DatastoreError::EmptyKey);
    }
    let mut out = Vec::new();
    for (i, part) in key.iter().enumerate() {
        if part.contains('\0') {
            return Err(DatastoreError::NulInKey);
        }
        if i > 0 {
            out.push(0);
        }
        out.extend_from_slice(part.as_bytes());
    }
    Ok(out)
}

fn decode(blob: &[u8]) -> Result<Vec<String>, StoreError> {
    blob.split(|b| *b == 0)
        .map(|p| {
            String::from_utf8(p.to_vec())
                .map_err(|_| StoreError::Corrupt("datastore key is not UTF-8".into()))
        })
        .collect()
}

/// Upper bound (exclusive) of the key's subtree: nothing sorts between `key` and
/// `key\0...`, and everything in the subtree is below `key\x01`.
fn subtree_end(enc: &[u8]) -> Vec<u8> {
    let mut end = enc.to_vec();
    end.push(1);
    end
}

/// Whether `k` is `key` or below it.
fn in_subtree(k: &[u8], key: &[u8]) -> bool {
    k == key || (k.len() > key.len() && k.starts_with(key) && k.get(key.len()) == Some(&0))
}

struct Stored {
    key: Vec<u8>,
    data: Vec<u8>,
    generation: u64,
}

fn gen_of(v: &SqlValue) -> Result<u64, StoreError> {
    let g = v.as_i64()?;
    u64::try_from(g).map_err(|_| StoreError::Corrupt(format!("negative generation {g}")))
}

fn stored(row: &[SqlValue]) -> Result<Stored, StoreError> {
    match row {
        [k, d, g] => Ok(Stored {
            key: k.as_blob()?.to_vec(),
            data: d.as_blob()?.to_vec(),
            generation: gen_of(g)?,
        }),
        _ => Err(StoreError::Corrupt("datastore row shape".into())),
    }
}

/// Everything at or below `enc` (everything when `None`), in key order.
fn scan(tx: &mut Tx<'_>, enc: Option<&[u8]>) -> Result<Vec<Stored>, StoreError> {
    let rows = match enc {
        None => tx.query(
            "SELECT key, data, generation FROM datastore ORDER BY key",
            &[],
        )?,
        Some(enc) => tx.query(
            "SELECT key, data, generation FROM datastore WHERE key >= ? AND key < ? ORDER BY key",
            &[
                SqlValue::Blob(enc.to_vec()),
                SqlValue::Blob(subtree_end(enc)),
            ],
        )?,
    };
    rows.iter().map(|r| stored(r)).collect()
}

fn get(tx: &mut Tx<'_>, enc: &[u8]) -> Result<Option<Stored>, StoreError> {
    let rows = tx.query(
        "SELECT key, data, generation FROM datastore WHERE key = ?",
        &[SqlValue::Blob(enc.to_vec())],
    )?;
    rows.first().map(|r| stored(r)).transpose()
}

/// The first entry of the subtree other than the key itself, if any.
fn first_child(tx: &mut Tx<'_>, enc: &[u8]) -> Result<bool, StoreError> {
    let mut lo = enc.to_vec();
    lo.push(0);
    let rows = tx.query(
        "SELECT key FROM datastore WHERE key >= ? AND key < ? LIMIT 1",
        &[SqlValue::Blob(lo), SqlValue::Blob(subtree_end(enc))],
    )?;
    Ok(!rows.is_empty())
}

/// The prefix of `enc` that holds a value, if any. One query whatever the key's depth:
/// a leaf has no children, so nothing sorts between an existing parent leaf and `enc`;
/// the parent is then the greatest key below `enc`. (At most one prefix can hold a
/// value, for the same reason, so this is also the one Core Lightning names.)
fn parent_leaf(tx: &mut Tx<'_>, enc: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    let rows = tx.query(
        "SELECT key FROM datastore WHERE key < ? ORDER BY key DESC LIMIT 1",
        &[SqlValue::Blob(enc.to_vec())],
    )?;
    let Some(k) = rows.first().and_then(|r| r.first()) else {
        return Ok(None);
    };
    let k = k.as_blob()?;
    let is_parent = enc.len() > k.len() && enc.starts_with(k) && enc.get(k.len()) == Some(&0);
    Ok(is_parent.then(|| k.to_vec()))
}

impl Store {
    /// `datastore`: stores `data` under `key` according to `mode`, returning the new entry.
    pub fn datastore_put(
        &mut self,
        key: &[String],
        data: &[u8],
        mode: Mode,
        generation: Option<u64>,
    ) -> Result<DatastoreEntry, DatastoreError> {
        let enc = encode(key)?;
        if generation.is_some() && !mode.must_exist() {
            return Err(DatastoreError::GenerationNeedsExisting);
        }
        self.transaction(|tx| {
            let prev = get(tx, &enc)?;
            if prev.is_none() {
                if first_child(tx, &enc)? {
                    return Err(DatastoreError::HasChildren);
                }
                if let Some(parent) = parent_leaf(tx, &enc)? {
                    return Err(DatastoreError::ParentExists(format_key(&decode(&parent)?)));
                }
            }
            if mode.must_not_exist() && prev.is_some() {
                return Err(DatastoreError::AlreadyExists);
            }
            if mode.must_exist() && prev.is_none() {
                return Err(DatastoreError::DoesNotExist);
            }
            if let (Some(want), Some(p)) = (generation, &prev) {
                if want != p.generation {
                    return Err(DatastoreError::WrongGeneration);
                }
            }
            match prev {
                Some(p) => {
                    let mut value = if mode.append() { p.data } else { Vec::new() };
                    value.extend_from_slice(data);
                    tx.execute(
                        "UPDATE datastore SET data = ?, generation = generation + 1 WHERE key = ?",
                        &[SqlValue::Blob(value.clone()), SqlValue::Blob(enc.clone())],
                    )?;
                    Ok(DatastoreEntry {
                        key: key.to_vec(),
                        data: Some(value),
                        generation: Some(p.generation + 1),
                    })
                }
                None => {
                    tx.execute(
                        "INSERT INTO datastore (key, data, generation) VALUES (?, ?, 0)",
                        &[SqlValue::Blob(enc.clone()), SqlValue::Blob(data.to_vec())],
                    )?;
                    Ok(DatastoreEntry {
                        key: key.to_vec(),
                        data: Some(data.to_vec()),
                        generation: Some(0),
                    })
                }
            }
        })
    }

    /// `deldatastore`: removes the value at `key`, returning what it was.
    pub fn datastore_del(
        &mut self,
        key: &[String],
        generation: Option<u64>,
    ) -> Result<DatastoreEntry, DatastoreError> {
        let enc = encode(key)?;
        self.transaction(|tx| {
            let prev = get(tx, &enc)?.ok_or(DatastoreError::DoesNotExist)?;
            if generation.is_some_and(|g| g != prev.generation) {
                return Err(DatastoreError::WrongGeneration);
            }
            tx.execute(
                "DELETE FROM datastore WHERE key = ?",
                &[SqlValue::Blob(enc.clone())],
            )?;
            Ok(DatastoreEntry {
                key: key.to_vec(),
                data: Some(prev.data),
                generation: Some(prev.generation),
            })
        })
    }

    /// `listdatastore`: the key itself and its direct children with their values; deeper
    /// descendants appear once each as a value-less entry for the child leading to them.
    pub fn datastore_list(
        &mut self,
        key: Option<&[String]>,
    ) -> Result<Vec<DatastoreEntry>, DatastoreError> {
        let enc = key.map(encode).transpose()?;
        let depth = key.map_or(0, |k| k.len());
        let rows = self.transaction(|tx| scan(tx, enc.as_deref()))?;
        let mut out: Vec<DatastoreEntry> = Vec::new();
        let mut summarized: Option<Vec<String>> = None;
        for row in rows {
            if let Some(enc) = &enc {
                if !in_subtree(&row.key, enc) {
                    continue;
                }
            }
            let k = decode(&row.key)?;
            if k.len() > depth + 1 {
                let head = k.get(..depth + 1).unwrap_or_default().to_vec();
                if summarized.as_ref() != Some(&head) {
                    out.push(DatastoreEntry {
                        key: head.clone(),
                        data: None,
                        generation: None,
                    });
                    summarized = Some(head);
                }
            } else {
                out.push(DatastoreEntry {
                    key: k,
                    data: Some(row.data),
                    generation: Some(row.generation),
                });
            }
        }
        Ok(out)
    }

    /// `datastoreusage`: bytes used at and below `key` (everything when `None`, or when
    /// the key's first part is empty, as Core Lightning does), counting each entry's data,
    /// its key strings and one separator between parts. Returns the key as CLN prints it.
    pub fn datastore_usage(
        &mut self,
        key: Option<&[String]>,
    ) -> Result<(String, u64), DatastoreError> {
        let key = key.filter(|k| k.first().is_some_and(|p| !p.is_empty()));
        let enc = key.map(encode).transpose()?;
        let rows = self.transaction(|tx| scan(tx, enc.as_deref()))?;
        let total = rows
            .iter()
            .filter(|r| enc.as_ref().is_none_or(|e| in_subtree(&r.key, e)))
            .map(|r| (r.data.len() + r.key.len()) as u64)
            .sum();
        Ok((format_key(key.unwrap_or_default()), total))
    }
}
