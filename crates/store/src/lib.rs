//! The durable store: boltd's database, and the one door every write goes through.
//!
//! Owns: the database file (SQLite through `rusqlite`, WAL, `synchronous=FULL`, foreign
//! keys on), versioned migrations, the `data_version` counter, capturing each
//! transaction's statements with their values expanded so the daemon can hand them to
//! `db_write` plugins *before* the commit, and the tables that live here today: the
//! plugin datastore (Core Lightning semantics), known peer addresses, and the runes
//! `createrune` issued with the rune blacklist.
//!
//! Must not touch: JSON-RPC, plugins, peers, sockets. The daemon brings a [`WriteHook`]
//! (its `db_write` chain) and maps [`DatastoreError`] to CLN's error codes.
//!
//! The connection sits behind [`Backend`] so PostgreSQL can slot in later; SQL here is
//! kept portable (`?` placeholders, `BIGINT`/`BLOB`/`TEXT`, `LIMIT`, `ON CONFLICT`).
//!
//! Everything is blocking: a daemon on tokio calls the store from `spawn_blocking` (or a
//! dedicated thread) and holds it behind one mutex, which is also what guarantees that
//! nothing else writes while a `db_write` hook is outstanding.
//!
//! ```
//! use std::sync::Arc;
//! use store::{Mode, NoHook, Store};
//! let dir = tempfile::tempdir().unwrap();
//! let mut store = Store::open_sqlite(&dir.path().join("boltd.sqlite3"), Arc::new(NoHook)).unwrap();
//! let key = vec!["myplugin".to_string(), "state".to_string()];
//! let e = store.datastore_put(&key, b"hello", Mode::MustCreate, None).unwrap();
//! assert_eq!(e.generation, Some(0));
//! ```

mod backend;
mod datastore;
mod error;
mod hook;
mod migrations;
mod peer_addresses;
mod runes;
mod sqlite;
mod tx;

pub use backend::{Backend, Executed, Row, SqlValue};
pub use datastore::{format_key, DatastoreEntry, DatastoreError, Mode};
pub use error::StoreError;
pub use hook::{HookRefusal, NoHook, WriteHook};
pub use migrations::SCHEMA_VERSION;
pub use runes::StoredRune;
pub use sqlite::SqliteBackend;
pub use tx::{Store, Tx};
