//! Custom messages as LDK sees them, and the table of message types the peer layer keeps for
//! itself.
//!
//! A custom message travels as raw bytes: LDK hands us every message type it does not know, we
//! keep the bytes untouched and hand them to the daemon (and plugins) as they arrived.

use lightning::io;
use lightning::ln::msgs::DecodeError;
use lightning::ln::wire::Type;
use lightning::util::ser::{LengthLimitedRead, Writeable, Writer};

/// Largest BOLT 8 message body: the 2-byte type plus payload must fit in a u16 length.
pub const MAX_MESSAGE_LEN: usize = 65535;

/// One custom message: its type and the bytes that follow the type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMessage {
    /// The BOLT 1 message type (first two bytes on the wire, big-endian).
    pub msg_type: u16,
    /// Everything after the type.
    pub body: Vec<u8>,
}

impl RawMessage {
    /// Splits a whole message (type included). `None` when shorter than the 2-byte type.
    pub fn from_wire(bytes: &[u8]) -> Option<Self> {
        let (ty, body) = bytes.split_first_chunk::<2>()?;
        Some(RawMessage {
            msg_type: u16::from_be_bytes(*ty),
            body: body.to_vec(),
        })
    }

    /// The whole message as on the wire: type then body (what CLN calls the `payload`).
    pub fn to_wire(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(2 + self.body.len());
        v.extend_from_slice(&self.msg_type.to_be_bytes());
        v.extend_from_slice(&self.body);
        v
    }
}

impl Type for RawMessage {
    fn type_id(&self) -> u16 {
        self.msg_type
    }
}

impl Writeable for RawMessage {
    fn write<W: Writer>(&self, writer: &mut W) -> Result<(), io::Error> {
        // LDK writes the type itself (from `type_id`) before calling us.
        writer.write_all(&self.body)
    }
}

/// Reads any message type LDK hands us into a [`RawMessage`]; whether the type is acceptable
/// is decided by the handler, not here.
pub(crate) fn read_raw<R: LengthLimitedRead>(
    msg_type: u16,
    buffer: &mut R,
) -> Result<Option<RawMessage>, DecodeError> {
    let len = buffer.remaining_bytes().min(MAX_MESSAGE_LEN as u64);
    let mut body = Vec::with_capacity(len as usize);
    io::Read::read_to_limit(buffer, &mut body, len).map_err(|_| DecodeError::ShortRead)?;
    Ok(Some(RawMessage { msg_type, body }))
}

/// Types the node manages itself and that `sendcustommsg` must refuse: the union of Core
/// Lightning's `peer_wire_is_internal` list and the types LDK's peer handler consumes.
/// Returns the wire name used in the error text (`Cannot send messages of type 18 (WIRE_PING)`).
pub fn internal_type_name(msg_type: u16) -> Option<&'static str> {
    Some(match msg_type {
        0 => "WIRE_PROTOCOL_BATCH_ELEMENT",
        1 => "WIRE_WARNING",
        2 => "WIRE_STFU",
        16 => "WIRE_INIT",
        17 => "WIRE_ERROR",
        18 => "WIRE_PING",
        19 => "WIRE_PONG",
        32 => "WIRE_OPEN_CHANNEL",
        33 => "WIRE_ACCEPT_CHANNEL",
        34 => "WIRE_FUNDING_CREATED",
        35 => "WIRE_FUNDING_SIGNED",
        36 => "WIRE_CHANNEL_READY",
        // Reserved between channel_ready and shutdown; refused like its neighbours.
        37 => "WIRE_UNKNOWN_37",
        38 => "WIRE_SHUTDOWN",
        39 => "WIRE_CLOSING_SIGNED",
        40 => "WIRE_CLOSING_COMPLETE",
        41 => "WIRE_CLOSING_SIG",
        64 => "WIRE_OPEN_CHANNEL2",
        65 => "WIRE_ACCEPT_CHANNEL2",
        66 => "WIRE_TX_ADD_INPUT",
        67 => "WIRE_TX_ADD_OUTPUT",
        68 => "WIRE_TX_REMOVE_INPUT",
        69 => "WIRE_TX_REMOVE_OUTPUT",
        70 => "WIRE_TX_COMPLETE",
        71 => "WIRE_TX_SIGNATURES",
        72 => "WIRE_TX_INIT_RBF",
        73 => "WIRE_TX_ACK_RBF",
        74 => "WIRE_TX_ABORT",
        77 => "WIRE_SPLICE_LOCKED",
        80 => "WIRE_SPLICE_INIT",
        81 => "WIRE_SPLICE_ACK",
        127 => "WIRE_START_BATCH",
        128 => "WIRE_UPDATE_ADD_HTLC",
        130 => "WIRE_UPDATE_FULFILL_HTLC",
        131 => "WIRE_UPDATE_FAIL_HTLC",
        132 => "WIRE_COMMITMENT_SIGNED",
        133 => "WIRE_REVOKE_AND_ACK",
        134 => "WIRE_UPDATE_FEE",
        135 => "WIRE_UPDATE_FAIL_MALFORMED_HTLC",
        136 => "WIRE_CHANNEL_REESTABLISH",
        137 => "WIRE_UPDATE_BLOCKHEIGHT",
        256 => "WIRE_CHANNEL_ANNOUNCEMENT",
        257 => "WIRE_NODE_ANNOUNCEMENT",
        258 => "WIRE_CHANNEL_UPDATE",
        259 => "WIRE_ANNOUNCEMENT_SIGNATURES",
        261 => "WIRE_QUERY_SHORT_CHANNEL_IDS",
        262 => "WIRE_REPLY_SHORT_CHANNEL_IDS_END",
        263 => "WIRE_QUERY_CHANNEL_RANGE",
        264 => "WIRE_REPLY_CHANNEL_RANGE",
        265 => "WIRE_GOSSIP_TIMESTAMP_FILTER",
        513 => "WIRE_ONION_MESSAGE",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_round_trip_keeps_type_and_body() {
        let m = RawMessage::from_wire(&[0x77, 0x77, 0x00, 0x12]).unwrap();
        assert_eq!(m.msg_type, 0x7777);
        assert_eq!(m.body, vec![0x00, 0x12]);
        assert_eq!(m.to_wire(), vec![0x77, 0x77, 0x00, 0x12]);
        assert!(RawMessage::from_wire(&[0x01]).is_none());
    }

    #[test]
    fn peer_storage_is_not_internal_but_ping_is() {
        assert_eq!(internal_type_name(18), Some("WIRE_PING"));
        assert_eq!(internal_type_name(7), None);
        assert_eq!(internal_type_name(9), None);
        for t in [
            0u16, 1, 2, 16, 19, 32, 41, 64, 74, 77, 80, 81, 127, 128, 130, 137, 256, 259, 261, 265,
            513,
        ] {
            assert!(internal_type_name(t).is_some(), "{t}");
        }
        for t in [3u16, 42, 75, 129, 138, 260, 266, 512, 514, 32768, 0x7777] {
            assert!(internal_type_name(t).is_none(), "{t}");
        }
    }
}
