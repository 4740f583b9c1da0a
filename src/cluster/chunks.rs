//! A raft snapshot message across many peer frames, so neither side needs one giant frame: the
//! sender writes a head frame (the message without its image, and the image's length), then the
//! image in chunks of `CHUNK_BYTES`, taken from the snapshot's shared buffer as the socket drains
//! (at most about one chunk is copied into the output at a time); the receiver gathers the chunks
//! and hands on the whole message once the last one arrived.
//!
//! Bounded: an image longer than `SNAPSHOT_BYTES_MAX` is refused at the head frame (the
//! connection closes; raft retries), and the receiver's buffer grows only with what arrived.
//! Owns the head's body format and the reassembly; not the frames or sockets (`transport`).

use protobuf::Message as _;
use raft::eraftpb::{Message, Snapshot};

/// Image bytes per chunk frame.
pub const CHUNK_BYTES: usize = 1024 * 1024;
/// The longest image a member accepts (the state of a very large deployment: 16 GiB).
pub const SNAPSHOT_BYTES_MAX: u64 = 16 * 1024 * 1024 * 1024;

/// The head frame's body for `message` (a `MsgSnapshot`): the image's length (u64 LE), then the
/// message with an empty image.
pub fn head_body(message: &Message) -> Option<Vec<u8>> {
    let mut head = message.clone();
    head.mut_snapshot().data.clear();
    let mut body = (message.get_snapshot().data.len() as u64).to_le_bytes().to_vec();
    body.extend_from_slice(&head.write_to_bytes().ok()?);
    Some(body)
}

/// The image of a snapshot being sent, and how much of it is out.
pub struct Outgoing {
    snapshot: Snapshot,
    sent: usize,
}

impl Outgoing {
    pub fn new(message: &Message) -> Outgoing {
        Outgoing { snapshot: message.get_snapshot().clone(), sent: 0 }
    }

    /// The next chunk, or `None` when the whole image is out.
    pub fn next_chunk(&mut self) -> Option<&[u8]> {
        let data = &self.snapshot.data[..];
        if self.sent >= data.len() {
            return None;
        }
        let end = (self.sent + CHUNK_BYTES).min(data.len());
        let chunk = &data[self.sent..end];
        self.sent = end;
        Some(chunk)
    }
}

/// A snapshot message being received.
pub struct Incoming {
    message: Message,
    image: Vec<u8>,
    total: usize,
}

impl Incoming {
    /// From a head frame's body.
    pub fn start(body: &[u8]) -> Result<Incoming, String> {
        let (length, encoded) = body.split_at_checked(8).ok_or("snapshot head too short")?;
        let mut total = [0; 8];
        total.copy_from_slice(length);
        let total = u64::from_le_bytes(total);
        if total > SNAPSHOT_BYTES_MAX {
            return Err(format!("snapshot of {total} bytes is over the limit of {SNAPSHOT_BYTES_MAX}"));
        }
        let message = Message::parse_from_bytes(encoded).map_err(|e| format!("snapshot head does not decode: {e}"))?;
        let total = usize::try_from(total).map_err(|_| "snapshot too large for this machine")?;
        Ok(Incoming { message, image: Vec::with_capacity(total.min(64 * CHUNK_BYTES)), total })
    }

    /// Whether the head said no chunk follows (an empty image).
    pub fn is_complete(&self) -> bool {
        self.total == 0
    }

    /// The message (for a complete head).
    pub fn into_message(self) -> Message {
        self.message
    }

    /// Adds one chunk; the whole message once the image is complete.
    pub fn add(&mut self, chunk: &[u8]) -> Result<Option<Message>, String> {
        if self.image.len() + chunk.len() > self.total {
            return Err("snapshot chunks run past the announced length".to_string());
        }
        self.image.extend_from_slice(chunk);
        if self.image.len() < self.total {
            return Ok(None);
        }
        let mut message = std::mem::take(&mut self.message);
        message.mut_snapshot().data = std::mem::take(&mut self.image).into();
        Ok(Some(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::eraftpb::MessageType;

    #[test]
    fn a_snapshot_goes_out_in_chunks_and_comes_back_whole() {
        let image: Vec<u8> = (0..(2 * CHUNK_BYTES + 17)).map(|i| (i % 251) as u8).collect();
        let mut message = Message { to: 2, from: 1, term: 4, ..Message::default() };
        message.set_msg_type(MessageType::MsgSnapshot);
        message.mut_snapshot().data = image.clone().into();
        message.mut_snapshot().mut_metadata().index = 99;
        let head = head_body(&message).expect("head");
        assert!(head.len() < 100, "the head does not carry the image");
        let mut outgoing = Outgoing::new(&message);
        let mut incoming = Incoming::start(&head).expect("start");
        let mut chunks = 0;
        let mut whole = None;
        while let Some(chunk) = outgoing.next_chunk() {
            assert!(chunk.len() <= CHUNK_BYTES);
            chunks += 1;
            assert!(whole.is_none(), "nothing after the last chunk");
            whole = incoming.add(chunk).expect("chunk");
        }
        assert_eq!(chunks, 3);
        let whole = whole.expect("complete");
        assert_eq!(whole.get_snapshot().data.to_vec(), image);
        assert_eq!((whole.to, whole.get_snapshot().get_metadata().index), (2, 99));
    }

    #[test]
    fn an_oversized_or_overrunning_snapshot_is_refused() {
        let mut message = Message::default();
        message.set_msg_type(MessageType::MsgSnapshot);
        message.mut_snapshot().data = vec![1; 10].into();
        let mut head = head_body(&message).expect("head");
        let mut incoming = Incoming::start(&head).expect("start");
        assert!(incoming.add(&[0; 11]).is_err(), "more than announced is refused");
        head[..8].copy_from_slice(&(SNAPSHOT_BYTES_MAX + 1).to_le_bytes());
        assert!(Incoming::start(&head).is_err(), "over the bound is refused before any chunk");
    }
}
