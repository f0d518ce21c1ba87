//! The durable store: boltd's database, and the one door every write goes through.
//!
//! Owns: the database file (SQLite through `rusqlite`, WAL, `synchronous=FULL`, foreign
//! keys on), versioned migrations, the `data_version` counter, capturing each
//! transaction's statements with their values expanded so the daemon can hand them to
//! `db_write` plugins *before* the commit, the thread that owns the connection
//! ([`StoreHandle`]), and the tables that live here: the plugin datastore (Core
//! Lightning semantics), known peer addresses, the runes `createrune` issued with the
//! rune blacklist, the on-chain wallet's records (opaque bytes), the `kv` table under LDK's
//! `KVStoreSync`/`KVStore` ([`KvStore`]), our chain's recent block hashes, and the
//! invoices we issued with their preimages.
//!
//! Must not touch: JSON-RPC, plugins, peers, sockets. Of LDK it knows bytes and the
//! `KVStore` traits (with their name rules) and nothing else: no channel, monitor or
//! manager types. The daemon brings a [`WriteHook`] (its `db_write` chain, and what to do
//! when the store stops) and maps [`DatastoreError`] to CLN's error codes.
//!
//! The connection sits behind [`Backend`] so PostgreSQL can slot in later; SQL here is
//! kept portable (`?` placeholders, `BIGINT`/`BLOB`/`TEXT`, `LIMIT`, `ON CONFLICT`).
//!
//! [`Store`] itself is blocking and single-owner. A daemon runs it on its own thread
//! behind a [`StoreHandle`]: one thread, a bounded queue, async callers await replies and
//! blocking callers block on std channels. Jobs run one at a time, which is also what
//! guarantees that nothing else writes while a `db_write` hook is outstanding; jobs found
//! queued together share one commit, and each caller is answered once it is durable.
//!
//! ```
//! use std::sync::Arc;
//! use store::{Mode, NoHook, Store};
//! let dir = tempfile::tempdir().unwrap();
//! let mut store = Store::open_sqlite(&dir.path().join("lightningd.sqlite3"), Arc::new(NoHook)).unwrap();
//! let key = vec!["myplugin".to_string(), "state".to_string()];
//! let e = store.datastore_put(&key, b"hello", Mode::MustCreate, None).unwrap();
//! assert_eq!(e.generation, Some(0));
//! ```

mod actor;
mod backend;
mod blocks;
mod datastore;
mod error;
mod forwards;
mod hook;
mod invoices;
mod kv;
mod kvstore;
mod migrations;
mod peer_addresses;
mod runes;
mod sendpays;
mod sqlite;
mod tx;
mod wallet_records;

pub use actor::{StoreHandle, BATCH_JOBS, QUEUE_CAPACITY};
pub use backend::{Backend, Executed, Row, SqlValue};
pub use blocks::BlocksChange;
pub use datastore::{format_key, DatastoreEntry, DatastoreError, Mode};
pub use error::StoreError;
pub use forwards::{ForwardFields, ForwardQuery, StoredForward};
pub use hook::{HookRefusal, NoHook, WriteHook};
pub use invoices::{InvoiceError, InvoiceOrder, NewInvoice, StoredInvoice};
pub use kvstore::{KvGroup, KvStore};
pub use migrations::SCHEMA_VERSION;
pub use runes::StoredRune;
pub use sendpays::{Admit, StoredSendpay};
pub use sqlite::SqliteBackend;
pub use tx::{Store, Tx};
