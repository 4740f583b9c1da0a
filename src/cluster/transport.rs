//! Peer traffic: raft messages between members over TCP, in the server's one poll loop.
//!
//! Each member dials every other member and uses that connection only to send; it accepts the
//! others' connections only to receive. So each pair has one connection in each direction and no
//! tie-breaking is needed. A dialled connection opens with a hello frame (the dialler's id and its
//! client address, which is how members learn where to redirect clients).
//!
//! Frame: `<u32 LE body length> <u32 LE crc32c of body> <body>`, the body a kind byte (`1` hello,
//! `2` a raft message in rust-protobuf encoding, `3` and `4` a snapshot message's head and its
//! image's chunks, see `chunks`). A frame that fails its checksum, is too long or does not decode
//! closes that connection (raft retransmits; the dialler reconnects). While a snapshot streams to a
//! peer, other messages to it queue behind it (same bound), so the peer sees them in order.
//!
//! Owns the peer listener, the peer sockets, framing and reconnecting. Does not interpret raft
//! messages (`node`). Bounded: at most `OUTPUT_BYTES_MAX` queued to one peer (beyond it messages
//! are dropped, which raft tolerates), frames at most `FRAME_BYTES_MAX`.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use slab::Slab;

use super::chunks::{Incoming, Outgoing, CHUNK_BYTES};

pub const FRAME_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Output queued to one peer beyond which new messages to it are dropped (it is slow or gone).
const OUTPUT_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Between attempts to dial a peer that is down.
const REDIAL_AFTER: Duration = Duration::from_millis(200);
const KIND_HELLO: u8 = 1;
const KIND_MESSAGE: u8 = 2;
const KIND_SNAPSHOT_HEAD: u8 = 3;
const KIND_SNAPSHOT_CHUNK: u8 = 4;

/// What a received frame was.
pub enum Received {
    Hello { id: u64, client: String },
    Message(Box<Message>),
}

/// Appends one frame of `kind` with `body` to `out`.
pub fn encode_frame(kind: u8, body: &[u8], out: &mut Vec<u8>) {
    let length = (body.len() + 1) as u32;
    let start = out.len();
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(kind);
    out.extend_from_slice(body);
    let crc = crc32c::crc32c(&out[start + 8..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// A frame as read, before a snapshot's chunks are gathered.
pub enum Frame {
    Whole(Received),
    SnapshotHead(Box<Incoming>),
    SnapshotChunk(Vec<u8>),
}

/// Cuts the first whole frame off `input`: `Ok(None)` while incomplete, `Err` for a bad frame.
pub fn decode_frame(input: &mut Vec<u8>) -> Result<Option<Frame>, String> {
    let Some(header) = input.get(..8) else { return Ok(None) };
    let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if length == 0 || length > FRAME_BYTES_MAX {
        return Err(format!("peer frame of impossible length {length}"));
    }
    let Some(body) = input.get(8..8 + length) else { return Ok(None) };
    if crc32c::crc32c(body) != crc {
        return Err("peer frame fails its checksum".to_string());
    }
    let received = match body[0] {
        KIND_HELLO if body.len() >= 9 => {
            let mut id = [0; 8];
            id.copy_from_slice(&body[1..9]);
            let client = String::from_utf8_lossy(&body[9..]).into_owned();
            Frame::Whole(Received::Hello { id: u64::from_le_bytes(id), client })
        }
        KIND_MESSAGE => Frame::Whole(Received::Message(Box::new(
            Message::parse_from_bytes(&body[1..]).map_err(|e| format!("peer message does not decode: {e}"))?,
        ))),
        KIND_SNAPSHOT_HEAD => Frame::SnapshotHead(Box::new(Incoming::start(&body[1..])?)),
        KIND_SNAPSHOT_CHUNK => Frame::SnapshotChunk(body[1..].to_vec()),
        kind => return Err(format!("unknown peer frame kind {kind}")),
    };
    input.drain(..8 + length);
    Ok(Some(received))
}

struct Outbound {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    output: Vec<u8>,
    redial_at: Instant,
    /// A snapshot's image still to send, and the frames queued behind it.
    streaming: Option<Outgoing>,
    behind: Vec<u8>,
}

impl Outbound {
    /// Tops the output up with the streaming image's next chunks (about one at a time); once the
    /// image is out, the frames queued behind it follow.
    fn refill(&mut self) {
        while self.output.len() < CHUNK_BYTES {
            let Some(outgoing) = self.streaming.as_mut() else { return };
            match outgoing.next_chunk() {
                Some(chunk) => encode_frame(KIND_SNAPSHOT_CHUNK, chunk, &mut self.output),
                None => {
                    self.streaming = None;
                    self.output.append(&mut self.behind);
                }
            }
        }
    }

    /// Whatever was queued is stale once the connection is gone; raft resends what matters.
    fn reset(&mut self, output: Vec<u8>) {
        self.output = output;
        self.streaming = None;
        self.behind.clear();
    }
}

struct Inbound {
    stream: TcpStream,
    input: Vec<u8>,
    /// A snapshot message whose chunks are arriving.
    incoming: Option<Box<Incoming>>,
}

pub struct Transport {
    own_id: u64,
    own_client: String,
    listener: TcpListener,
    listener_token: Token,
    /// Tokens `base + key` for inbound connections, `base + OUTBOUND_OFFSET + id` for outbound.
    base: usize,
    outbound: HashMap<u64, Outbound>,
    inbound: Slab<Inbound>,
}

/// Outbound tokens sit above every inbound key an honest cluster could use.
const OUTBOUND_OFFSET: usize = 1 << 20;

impl Transport {
    /// Binds `listen` (this member's peer address) and plans connections to `peers` (the others).
    pub fn bind(
        registry: &Registry,
        listener_token: Token,
        base: usize,
        own: (u64, String),
        listen: SocketAddr,
        peers: &[(u64, SocketAddr)],
    ) -> io::Result<Transport> {
        let mut listener = TcpListener::bind(listen)?;
        registry.register(&mut listener, listener_token, Interest::READABLE)?;
        let now = Instant::now();
        let outbound = peers
            .iter()
            .map(|&(id, addr)| {
                let peer = Outbound {
                    addr,
                    stream: None,
                    output: Vec::new(),
                    redial_at: now,
                    streaming: None,
                    behind: Vec::new(),
                };
                (id, peer)
            })
            .collect();
        Ok(Transport {
            own_id: own.0,
            own_client: own.1,
            listener,
            listener_token,
            base,
            outbound,
            inbound: Slab::new(),
        })
    }

    /// Whether `token` is one of the transport's.
    pub fn owns(&self, token: Token) -> bool {
        token == self.listener_token || (token.0 >= self.base && token.0 < self.base + 2 * OUTBOUND_OFFSET)
    }

    /// Queues `message` to its peer (dropped when that peer's queue is full: raft resends).
    /// Returns whether it was queued; a snapshot is not while another streams to the same peer or
    /// the peer is not connected.
    pub fn send(&mut self, message: &Message) -> bool {
        let Some(peer) = self.outbound.get_mut(&message.to) else { return false };
        if message.get_msg_type() == MessageType::MsgSnapshot {
            if peer.streaming.is_some() || peer.stream.is_none() {
                return false;
            }
            let Some(head) = super::chunks::head_body(message) else { return false };
            encode_frame(KIND_SNAPSHOT_HEAD, &head, &mut peer.output);
            peer.streaming = Some(Outgoing::new(message));
            return true;
        }
        let queue = if peer.streaming.is_some() { &mut peer.behind } else { &mut peer.output };
        if queue.len() > OUTPUT_BYTES_MAX {
            return false;
        }
        match message.write_to_bytes() {
            Ok(body) => encode_frame(KIND_MESSAGE, &body, queue),
            Err(_) => return false,
        }
        true
    }

    /// Dials peers that are down (when due) and writes queued output.
    pub fn flush(&mut self, registry: &Registry, now: Instant) {
        let base = self.base;
        for (&id, peer) in self.outbound.iter_mut() {
            if peer.stream.is_none() && now >= peer.redial_at {
                peer.redial_at = now + REDIAL_AFTER;
                if let Ok(mut stream) = TcpStream::connect(peer.addr) {
                    let token = Token(base + OUTBOUND_OFFSET + id as usize);
                    if registry.register(&mut stream, token, Interest::WRITABLE).is_ok() {
                        let mut hello = self.own_id.to_le_bytes().to_vec();
                        hello.extend_from_slice(self.own_client.as_bytes());
                        let mut output = Vec::new();
                        encode_frame(KIND_HELLO, &hello, &mut output);
                        peer.reset(output);
                        peer.stream = Some(stream);
                    }
                }
            }
            if peer.stream.is_none() {
                peer.reset(Vec::new());
                continue;
            }
            loop {
                peer.refill();
                let Some(stream) = peer.stream.as_mut() else { break };
                if write_out(stream, &mut peer.output).is_err() {
                    let _ = registry.deregister(stream);
                    peer.stream = None;
                    peer.reset(Vec::new());
                    break;
                }
                // Still output left: the socket is full (a writable event brings the loop back).
                if !peer.output.is_empty() || peer.streaming.is_none() {
                    break;
                }
            }
        }
    }

    /// Handles a readiness event for one of the transport's tokens; returns the frames received.
    pub fn ready(&mut self, registry: &Registry, token: Token, out: &mut Vec<Received>) {
        if token == self.listener_token {
            return self.accept(registry);
        }
        if token.0 >= self.base + OUTBOUND_OFFSET {
            // Writable (or failed) outbound: `flush` writes or notices the error at the end of the turn.
            return;
        }
        let key = token.0 - self.base;
        let Some(inbound) = self.inbound.get_mut(key) else { return };
        let mut buf = [0u8; 64 * 1024];
        let closed = loop {
            match inbound.stream.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => inbound.input.extend_from_slice(&buf[..n]),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break false,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break true,
            }
        };
        let mut bad = false;
        loop {
            match decode_frame(&mut inbound.input).and_then(|frame| gather(&mut inbound.incoming, frame)) {
                Ok(Some(Some(received))) => out.push(received),
                Ok(Some(None)) => {}
                Ok(None) => break,
                Err(err) => {
                    crate::log::info!("closing a peer connection: {err}");
                    bad = true;
                    break;
                }
            }
        }
        if closed || bad {
            let mut gone = self.inbound.remove(key);
            let _ = registry.deregister(&mut gone.stream);
        }
    }

    fn accept(&mut self, registry: &Registry) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    let entry = self.inbound.vacant_entry();
                    let token = Token(self.base + entry.key());
                    if entry.key() < OUTBOUND_OFFSET
                        && registry.register(&mut stream, token, Interest::READABLE).is_ok()
                    {
                        entry.insert(Inbound { stream, input: Vec::new(), incoming: None });
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            }
        }
    }
}

/// A decoded frame into what it completes: `Some(Some(..))` a whole message, `Some(None)` a
/// snapshot's part, `None` no frame yet.
fn gather(incoming: &mut Option<Box<Incoming>>, frame: Option<Frame>) -> Result<Option<Option<Received>>, String> {
    let whole = match frame {
        None => return Ok(None),
        Some(Frame::Whole(received)) => Some(received),
        Some(Frame::SnapshotHead(head)) if head.is_complete() => Some(Received::Message(Box::new(head.into_message()))),
        Some(Frame::SnapshotHead(head)) => {
            *incoming = Some(head);
            None
        }
        Some(Frame::SnapshotChunk(chunk)) => {
            let gathering = incoming.as_mut().ok_or("a snapshot chunk without its head")?;
            let done = gathering.add(&chunk)?.map(|message| Received::Message(Box::new(message)));
            if done.is_some() {
                *incoming = None;
            }
            done
        }
    };
    Ok(Some(whole))
}

/// Writes until done or `WouldBlock`; an error means the connection is gone.
fn write_out(stream: &mut TcpStream, output: &mut Vec<u8>) -> io::Result<()> {
    let mut written = 0;
    while written < output.len() {
        match stream.write(&output[written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) if err.kind() == io::ErrorKind::NotConnected => break,
            Err(err) => return Err(err),
        }
    }
    output.drain(..written);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_a_flipped_bit_is_refused() {
        let mut bytes = Vec::new();
        encode_frame(KIND_HELLO, &[7, 0, 0, 0, 0, 0, 0, 0, b'a'], &mut bytes);
        let message = Message { to: 2, from: 1, term: 5, ..Message::default() };
        encode_frame(KIND_MESSAGE, &message.write_to_bytes().expect("encodes"), &mut bytes);
        let mut input = bytes[..5].to_vec();
        assert!(matches!(decode_frame(&mut input), Ok(None)), "incomplete waits");
        let mut input = bytes.clone();
        assert!(
            matches!(decode_frame(&mut input), Ok(Some(Frame::Whole(Received::Hello { id: 7, ref client }))) if client == "a")
        );
        match decode_frame(&mut input) {
            Ok(Some(Frame::Whole(Received::Message(m)))) => assert_eq!((m.to, m.from, m.term), (2, 1, 5)),
            _ => panic!("a raft message"),
        }
        assert!(input.is_empty());
        let mut damaged = bytes.clone();
        damaged[9] ^= 1;
        assert!(decode_frame(&mut damaged).is_err());
    }
}
