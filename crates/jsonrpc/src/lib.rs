//! JSON-RPC 2.0 as Core Lightning speaks it.
//!
//! Owns: the message types (requests with byte-exact ids, responses, notifications), CLN's
//! error codes, parameter binding with CLN's error texts, and the stream codec
//! (concatenated JSON values in, compact JSON + `\n\n` out, a size limit).
//!
//! Must not touch: sockets, processes, plugins, peers. Callers bring the I/O.

pub mod codec;
pub mod error;
pub mod message;
pub mod params;

pub use codec::{frame, FrameError, JsonCodec, DEFAULT_MAX_MESSAGE};
pub use error::{codes, strerror, RpcError};
pub use message::{
    error_frame, id_prefix, notification_frame, null_id, parse_incoming, parse_request,
    raw_error_frame, raw_result_frame, request_error_frame, result_frame, Incoming, Members,
    Request, RequestError, Response,
};
pub use params::{bind, bind_request, usage, Bound, Param};
pub use serde_json::value::RawValue;
