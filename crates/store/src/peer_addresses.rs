//! Known peer addresses: where we last reached a node (or it reached us from), so that
//! `connect <id>` without an address can try it.

use crate::backend::SqlValue;
use crate::error::StoreError;
use crate::tx::Store;

impl Store {
    /// Remembers `address` (as `connect` accepts it, e.g. `127.0.0.1:9735`) for the node
    /// `node_id` (hex). Writes only when it changed, so reconnects cost no `db_write`.
    pub fn remember_peer_address(
        &mut self,
        node_id: &str,
        address: &str,
    ) -> Result<(), StoreError> {
        if self.peer_address(node_id)?.as_deref() == Some(address) {
            return Ok(());
        }
        self.transaction(|tx| {
            tx.execute(
                "INSERT INTO peer_addresses (node_id, address) VALUES (?, ?) \
                 ON CONFLICT (node_id) DO UPDATE SET address = excluded.address",
                &[
                    SqlValue::Text(node_id.to_string()),
                    SqlValue::Text(address.to_string()),
                ],
            )
            .map(|_| ())
        })
    }

    /// The remembered address of `node_id` (hex), if any.
    pub fn peer_address(&mut self, node_id: &str) -> Result<Option<String>, StoreError> {
        let rows = self.query(
            "SELECT address FROM peer_addresses WHERE node_id = ?",
            &[SqlValue::Text(node_id.to_string())],
        )?;
        rows.first()
            .and_then(|r| r.first())
            .map(|v| v.as_text().map(str::to_string))
            .transpose()
    }
}
