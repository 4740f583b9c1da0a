//! The protocol layer: newline-delimited JSON frames in, `machine::Command`s out; the machine's
//! answers, errors and events back out as JSON text, written straight into the outgoing bytes.
//!
//! This layer owns the wire shapes of docs/protocol.md and nothing else: it knows neither sockets
//! (that is `net`) nor the rules of money (that is `machine`). Decoding is total: any byte string
//! becomes a command or an `Error` naming what was wrong, so the loop always has a reply to send.

mod decode;
mod error;
mod fast;
mod fields;
mod json;
mod recurring;
mod render;
mod repeated;
mod totals;
mod view;

use serde_json::Value;

use crate::machine::Command;

pub use error::{describe, Code, Error};
pub use render::{write_answer, write_error, write_event};
pub use view::money_text;

/// The most a `shares` weight may be.
pub const SHARE_WEIGHT_MAX: u64 = 1_000_000;
/// Idempotency keys: 1-64 characters.
pub const KEY_CHARS_MAX: usize = 64;
/// `history`: default and largest page.
pub const HISTORY_LIMIT_DEFAULT: usize = 50;
pub const HISTORY_LIMIT_MAX: usize = 500;

/// A decoded frame: the command (or why it could not be decoded) and the `id` to echo either way.
#[derive(Debug)]
pub struct Decoded {
    pub id: Option<Value>,
    pub command: Result<Command, Error>,
    /// `"stale": true` beside `"action"`: a read that a cluster follower may answer from what it
    /// has applied (every read of a single node is fresh, so there it changes nothing).
    pub stale: bool,
}

/// Decodes one frame (without its newline). Never panics. The common shapes take a borrowed fast
/// path; everything else, and every error, the general one.
pub fn decode(frame: &[u8]) -> Decoded {
    if frame.is_empty() {
        let command = Err(Error::new(Code::BadJson, "Empty line: expected a JSON object"));
        return Decoded { id: None, command, stale: false };
    }
    if let Some(decoded) = fast::decode_group_read(frame).or_else(|| fast::decode_original_add(frame)) {
        return decoded;
    }
    decode::decode_general(frame)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod session_tests;
