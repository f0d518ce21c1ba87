//! Versioned schema. Each entry is one version; a fresh or older database runs every
//! missing version in order inside ONE transaction, which goes through `db_write` like
//! any other, so a backup plugin that replays from the start builds the same schema.
//!
//! Never edit a released entry: append a new one.
//!
//! Tables (keep them small and documented):
//! - `vars`: named counters and settings. `data_version` (u32 stored in `intval`, +1 per
//!   committed transaction, wraps) and `schema_version` (index of the last migration).
//! - `datastore`: the plugin datastore. `key` is the key's strings joined with NUL bytes
//!   (as Core Lightning stores it), so `ORDER BY key` lists a parent right before its
//!   children; `data` the value; `generation` counts updates since creation.
//! - `peer_addresses`: the last address we reached (or were reached from) a node at,
//!   so `connect <id>` works without an address. `node_id` is the 33-byte key in hex.
//! - `runes`: every rune `createrune` issued (Core Lightning's table): `id` its unique id,
//!   `rune` the base64 text as returned, `last_used_nsec` the last successful check of
//!   any rune with that id (NULL until then).
//! - `runes_blacklist`: blacklisted unique ids as inclusive ranges, rewritten whole on
//!   every change.
//! - `kv`: LDK's key-value space (`KVStore`): one row per (primary namespace, secondary
//!   namespace, key), the value as an opaque blob. Names follow LDK's rules (checked
//!   before they get here), so they are plain ASCII.
//! - `blocks`: the last ~100 blocks of our chain (`height`, 32-byte `hash` in internal byte
//!   order), so a restart resumes at our tip and finds the fork point of a reorg that
//!   happened while we were down.
//! - `wallet_records`: the on-chain wallet's durable changes (the wallet crate's `Record`,
//!   JSON: BDK changesets and coin reservations), appended in `id` order; their merge in
//!   that order is the wallet. Compaction replaces every row by their merge, in one
//!   transaction.
//! - `invoices`: invoices `invoice` issued, with our preimage for each (LDK knows only
//!   the hash). `created_index` is the key; `label` and `payment_hash` are unique;
//!   `amount_msat` NULL for "any"; `description` NULL once `delinvoice desconly` removed
//!   it; `pay_index`, `amount_received_msat`, `paid_at` set once paid; `updated_index`
//!   by the first change. Counters `invoice_created_index`, `invoice_updated_index`,
//!   `invoice_pay_index` in `vars`.
//! - `sendpays`: our outgoing payments, one JSON payment object per payment hash.
//! - `forwards`: HTLCs we forwarded, one row per incoming HTLC (`in_key` is
//!   `<channel id>/<htlc id>`, what LDK's events name); `in_channel`/`out_channel` the
//!   short channel ids shown, `status` offered/settled/failed/local_failed, `fee_msat`
//!   (summed for `fees_collected_msat`), `record` the rest of the `listforwards` row as
//!   JSON. Counter `forward_updated_index` in `vars`.
//! - `sendpays`: our outgoing payments, one row per (`payment_hash`, `groupid`, `partid`),
//!   `record` the JSON payment object `listsendpays` shows (plus our internal notes, whose
//!   keys start with `_`). `created_index` is the key; a status change sets the record's
//!   `updated_index` from the `sendpay_updated_index` counter in `vars`.

/// All migrations; the schema version of a database is how many of them it has run.
pub const MIGRATIONS: &[&[&str]] = &[
    // 1: first schema.
    &[
        "CREATE TABLE vars (name TEXT PRIMARY KEY, intval BIGINT, blobval BLOB)",
        "INSERT INTO vars (name, intval) VALUES ('data_version', 0)",
        "INSERT INTO vars (name, intval) VALUES ('schema_version', 0)",
        "CREATE TABLE datastore (key BLOB PRIMARY KEY, data BLOB NOT NULL, generation BIGINT NOT NULL)",
        "CREATE TABLE peer_addresses (node_id TEXT PRIMARY KEY, address TEXT NOT NULL)",
    ],
    // 2: runes.
    &[
        "CREATE TABLE runes (id BIGINT PRIMARY KEY, rune TEXT NOT NULL, last_used_nsec BIGINT DEFAULT NULL)",
        "CREATE TABLE runes_blacklist (start_index BIGINT NOT NULL, end_index BIGINT NOT NULL)",
    ],
    // 3: LDK's key-value store.
    &["CREATE TABLE kv (\
        primary_namespace TEXT NOT NULL, \
        secondary_namespace TEXT NOT NULL, \
        key TEXT NOT NULL, \
        value BLOB NOT NULL, \
        PRIMARY KEY (primary_namespace, secondary_namespace, key))"],
    // 4: our chain's recent blocks.
    &["CREATE TABLE blocks (height BIGINT PRIMARY KEY, hash BLOB NOT NULL)"],
    // 5: the on-chain wallet's records.
    &["CREATE TABLE wallet_records (id BIGINT PRIMARY KEY, record BLOB NOT NULL)"],
    // 6: invoices and our preimages.
    &[
        "CREATE TABLE invoices (\
        created_index BIGINT PRIMARY KEY, \
        label TEXT NOT NULL UNIQUE, \
        bolt11 TEXT NOT NULL, \
        payment_hash BLOB NOT NULL UNIQUE, \
        preimage BLOB NOT NULL, \
        payment_secret BLOB NOT NULL, \
        amount_msat BIGINT, \
        description TEXT, \
        expires_at BIGINT NOT NULL, \
        pay_index BIGINT UNIQUE, \
        amount_received_msat BIGINT, \
        paid_at BIGINT, \
        updated_index BIGINT)",
        "CREATE INDEX invoices_updated ON invoices (updated_index)",
        "INSERT INTO vars (name, intval) VALUES ('invoice_created_index', 0)",
        "INSERT INTO vars (name, intval) VALUES ('invoice_updated_index', 0)",
        "INSERT INTO vars (name, intval) VALUES ('invoice_pay_index', 0)",
    ],
    // 7: our outgoing payments (`pay`, `keysend`), one row per payment hash, as the
    // JSON payment object `listsendpays` shows.
    &["CREATE TABLE sendpays (created_index BIGINT PRIMARY KEY, payment_hash BLOB NOT NULL UNIQUE, \
       record TEXT NOT NULL)"],
    // 8: forwards.
    &[
        "CREATE TABLE forwards (created_index BIGINT PRIMARY KEY, updated_index BIGINT, \
         in_key TEXT NOT NULL UNIQUE, in_channel TEXT NOT NULL, out_channel TEXT, \
         status TEXT NOT NULL, fee_msat BIGINT, record TEXT NOT NULL)",
        "CREATE INDEX forwards_updated ON forwards (updated_index)",
        "CREATE INDEX forwards_status ON forwards (status)",
        "INSERT INTO vars (name, intval) VALUES ('forward_updated_index', 0)",
    ],
    // 9 (8 is `forward`'s listforwards table): `sendpay` parts. A payment is one row per
    // (payment_hash, groupid, partid), as Core Lightning keys them; earlier rows were
    // group 1, part 0.
    &[
        "CREATE TABLE sendpays_parts (created_index BIGINT PRIMARY KEY, payment_hash BLOB NOT NULL, \
         groupid BIGINT NOT NULL, partid BIGINT NOT NULL, record TEXT NOT NULL, \
         UNIQUE (payment_hash, groupid, partid))",
        "INSERT INTO sendpays_parts (created_index, payment_hash, groupid, partid, record) \
         SELECT created_index, payment_hash, 1, 0, record FROM sendpays",
        "DROP TABLE sendpays",
        "ALTER TABLE sendpays_parts RENAME TO sendpays",
        "INSERT INTO vars (name, intval) VALUES ('sendpay_updated_index', 0)",
    ],
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;
