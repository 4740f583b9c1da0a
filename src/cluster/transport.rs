//! Peer traffic: raft messages between members over TCP, in the server's one poll loop.
//!
//! Each member dials every other member and uses that connection only to send; it accepts the
//! others' connections only to receive. So each pair has one connection in each direction and no
//! tie-breaking is needed. A dialled connection opens with a hello frame (`identity::Hello`: the
//! dialler's id, its cluster id and its client address, which is how members learn where to
//! redirect clients). The receiver believes no raft message before a hello it admits (same
//! cluster, a member of `--peers`), and none whose sender is not the member that said hello.
//!
//! With `--tls-cert` every peer connection is TLS with both ends authenticated (`net::tls::PeerTls`);
//! the bytes go through the same `net::tls::Transport` as a client's. Without it, plaintext TCP.
//!
//! Frame: `<u32 LE body length> <u32 LE crc32c of body> <body>`, the body a kind byte (`1` hello,
//! `2` a raft message in rust-protobuf encoding, `3` and `4` a snapshot message's head and its
//! image's chunks, see `chunks`). A frame that fails its checksum, is too long or does not decode
//! closes that connection (raft retransmits; the dialler reconnects). While a snapshot streams to a
//! peer, other messages to it queue behind it (same bound), so the peer sees them in order.
//!
//! Owns the peer listener, the peer sockets, framing and reconnecting. Does not interpret raft
//! messages (`node`). Bounded: at most `OUTPUT_BYTES_MAX` queued to one peer (beyond it messages
//! are dropped, which raft tolerates), frames at most `FRAME_BYTES_MAX`, at most `INBOUND_MAX`
//! accepted connections, each of which must say an admitted hello within `HELLO_WITHIN`.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use slab::Slab;

use super::chunks::{Incoming, Outgoing, CHUNK_BYTES};
use super::identity::{self, Hello, Refused};
use crate::log;
use crate::net::tls::{Filled, PeerTls, Transport as Link};

pub const FRAME_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Output queued to one peer beyond which new messages to it are dropped (it is slow or gone).
const OUTPUT_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Between attempts to dial a peer that is down.
const REDIAL_AFTER: Duration = Duration::from_millis(200);
/// Accepted connections held at once: a few per member is all an honest cluster uses (a member
/// that restarts leaves a dead connection behind until its socket reports the close).
const INBOUND_MAX: usize = 64;
/// Time an accepted connection has to finish its handshake and say an admitted hello.
const HELLO_WITHIN: Duration = Duration::from_secs(10);
/// The loop's read buffer for peer sockets (half of it is TLS's plaintext side).
const SCRATCH_BYTES: usize = 64 * 1024;
const KIND_HELLO: u8 = 1;
const KIND_MESSAGE: u8 = 2;
const KIND_SNAPSHOT_HEAD: u8 = 3;
const KIND_SNAPSHOT_CHUNK: u8 = 4;

/// What a received frame was.
pub enum Received {
    Hello(Hello),
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
        KIND_HELLO => Frame::Whole(Received::Hello(Hello::decode(&body[1..])?)),
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
    link: Option<Link>,
    output: Vec<u8>,
    redial_at: Instant,
    /// A snapshot's image still to send, and the frames queued behind it.
    streaming: Option<Outgoing>,
    behind: Vec<u8>,
}

impl Outbound {
    fn new(addr: SocketAddr, now: Instant) -> Outbound {
        Outbound { addr, link: None, output: Vec::new(), redial_at: now, streaming: None, behind: Vec::new() }
    }

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
    fn reset(&mut self) {
        self.output.clear();
        self.streaming = None;
        self.behind.clear();
    }
}

struct Inbound {
    link: Link,
    input: Vec<u8>,
    /// A snapshot message whose chunks are arriving.
    incoming: Option<Box<Incoming>>,
    /// The member that said an admitted hello on it; `None` until then.
    peer: Option<u64>,
    accepted_at: Instant,
}

pub struct Transport {
    /// What this member says in its hellos.
    own: Hello,
    /// The other members' ids whose addresses are known (dialled).
    others: Vec<u64>,
    /// The other voters, addresses known or not (`set_members`): with `others`, whose hellos are
    /// admitted.
    members: Vec<u64>,
    /// Peer TLS (with `--tls-cert`); `None`: plaintext.
    tls: Option<PeerTls>,
    listener: TcpListener,
    listener_token: Token,
    /// Tokens `base + key` for inbound connections, `base + OUTBOUND_OFFSET + id` for outbound.
    base: usize,
    outbound: HashMap<u64, Outbound>,
    inbound: Slab<Inbound>,
    scratch: Box<[u8]>,
    /// Refusals already logged, by kind: a refused peer redials every `REDIAL_AFTER`, and one line
    /// says all the operator needs.
    logged_other_cluster: bool,
    logged_not_a_member: bool,
}

/// Outbound tokens sit above every inbound key an honest cluster could use.
const OUTBOUND_OFFSET: usize = 1 << 20;

impl Transport {
    /// Binds `listen` (this member's peer address) and plans connections to `peers` (the others);
    /// `own` is this member's hello.
    pub fn bind(
        registry: &Registry,
        tokens: (Token, usize),
        own: Hello,
        listen: SocketAddr,
        peers: &[(u64, SocketAddr)],
        tls: Option<PeerTls>,
    ) -> io::Result<Transport> {
        let mut listener = TcpListener::bind(listen)?;
        registry.register(&mut listener, tokens.0, Interest::READABLE)?;
        let now = Instant::now();
        let outbound = peers.iter().map(|&(id, addr)| (id, Outbound::new(addr, now))).collect();
        Ok(Transport {
            own,
            others: peers.iter().map(|&(id, _)| id).collect(),
            members: Vec::new(),
            tls,
            listener,
            listener_token: tokens.0,
            base: tokens.1,
            outbound,
            inbound: Slab::new(),
            scratch: vec![0; SCRATCH_BYTES].into_boxed_slice(),
            logged_other_cluster: false,
            logged_not_a_member: false,
        })
    }

    /// Whether `token` is one of the transport's.
    pub fn owns(&self, token: Token) -> bool {
        token == self.listener_token || (token.0 >= self.base && token.0 < self.base + 2 * OUTBOUND_OFFSET)
    }

    /// A member's peer address, after a membership change adds it (a new address replaces the
    /// connection to the old one).
    pub fn set_peer(&mut self, registry: &Registry, id: u64, addr: SocketAddr) {
        if id == self.own.id || self.outbound.get(&id).is_some_and(|peer| peer.addr == addr) {
            return;
        }
        self.remove_peer(registry, id);
        self.outbound.insert(id, Outbound::new(addr, Instant::now()));
        self.others.push(id);
    }

    /// The members (voters) as this member knows them, addresses known or not: a hello from one of
    /// them is admitted (and teaches its address, `Hello::peer`).
    pub fn set_members(&mut self, voters: &[u64]) {
        self.members = voters.iter().copied().filter(|&id| id != self.own.id).collect();
    }

    /// The ids whose hellos are admitted.
    fn admissible(&self) -> Vec<u64> {
        self.others.iter().chain(&self.members).copied().collect()
    }

    /// Whether this member knows where to send to `id`.
    pub fn knows(&self, id: u64) -> bool {
        self.outbound.contains_key(&id)
    }

    /// Stops dialling a member a membership change removed.
    pub fn remove_peer(&mut self, registry: &Registry, id: u64) {
        if let Some(mut peer) = self.outbound.remove(&id) {
            close_outbound(registry, &mut peer);
        }
        self.others.retain(|&other| other != id);
    }

    /// Queues `message` to its peer (dropped when that peer's queue is full: raft resends).
    /// Returns whether it was queued; a snapshot is not while another streams to the same peer or
    /// the peer is not connected.
    pub fn send(&mut self, message: &Message) -> bool {
        let Some(peer) = self.outbound.get_mut(&message.to) else { return false };
        if message.get_msg_type() == MessageType::MsgSnapshot {
            if peer.streaming.is_some() || peer.link.is_none() {
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

    /// Dials peers that are down (when due), writes queued output, and drops accepted connections
    /// that have not said an admitted hello in time.
    pub fn flush(&mut self, registry: &Registry, now: Instant) {
        let ids: Vec<u64> = self.outbound.keys().copied().collect();
        for id in ids {
            self.flush_one(registry, id, now);
        }
        let late: Vec<usize> = self
            .inbound
            .iter()
            .filter(|(_, inbound)| inbound.peer.is_none() && now >= inbound.accepted_at + HELLO_WITHIN)
            .map(|(key, _)| key)
            .collect();
        for key in late {
            self.drop_inbound(registry, key);
        }
    }

    fn flush_one(&mut self, registry: &Registry, id: u64, now: Instant) {
        let Some(peer) = self.outbound.get_mut(&id) else { return };
        if peer.link.is_none() && now >= peer.redial_at {
            peer.redial_at = now + REDIAL_AFTER;
            let token = Token(self.base + OUTBOUND_OFFSET + id as usize);
            if let Some(link) = dial(registry, token, peer.addr, self.tls.as_ref()) {
                peer.reset();
                encode_frame(KIND_HELLO, &self.own.encode(), &mut peer.output);
                peer.link = Some(link);
            }
        }
        loop {
            peer.refill();
            let Some(link) = peer.link.as_mut() else { return peer.reset() };
            if write_out(link, &mut peer.output).is_err() {
                return close_outbound(registry, peer);
            }
            // Still output left: the socket is full (a writable event brings the loop back).
            if !peer.output.is_empty() || peer.streaming.is_none() {
                return;
            }
        }
    }

    /// Handles a readiness event for one of the transport's tokens; returns the frames received.
    pub fn ready(&mut self, registry: &Registry, token: Token, out: &mut Vec<Received>) {
        if token == self.listener_token {
            return self.accept(registry, Instant::now());
        }
        if token.0 >= self.base + OUTBOUND_OFFSET {
            return self.outbound_ready(registry, (token.0 - self.base - OUTBOUND_OFFSET) as u64);
        }
        let key = token.0 - self.base;
        let Transport { inbound, scratch, .. } = self;
        let Some(connection) = inbound.get_mut(key) else { return };
        let mut frames = Vec::new();
        let incoming = &mut connection.incoming;
        let mut failed = read_link(&mut connection.link, scratch, &mut connection.input, |input| {
            drain_frames(input, incoming, &mut frames)
        })
        .is_err();
        for frame in frames {
            if !failed && self.believe(key, frame, out).is_err() {
                failed = true;
            }
        }
        if failed {
            self.drop_inbound(registry, key);
        }
    }

    /// A dialled connection's readiness: the TLS handshake's replies (the other end sends nothing
    /// else), or its close. Writing is `flush`'s, at the end of the turn.
    fn outbound_ready(&mut self, registry: &Registry, id: u64) {
        let Transport { outbound, scratch, .. } = self;
        let Some(peer) = outbound.get_mut(&id) else { return };
        let Some(link) = peer.link.as_mut() else { return };
        let mut ignored = Vec::new();
        if read_link(link, scratch, &mut ignored, |input| {
            input.clear();
            Ok(())
        })
        .is_err()
        {
            close_outbound(registry, peer);
        }
    }

    /// Checks a frame from accepted connection `key` against its hello; `Err` closes it.
    fn believe(&mut self, key: usize, frame: Received, out: &mut Vec<Received>) -> Result<(), ()> {
        // Only a first hello needs the list (it is built, not kept: members change).
        let first_hello =
            matches!(frame, Received::Hello(_)) && self.inbound.get(key).is_some_and(|c| c.peer.is_none());
        let admissible = if first_hello { self.admissible() } else { Vec::new() };
        let Some(connection) = self.inbound.get_mut(key) else { return Err(()) };
        match (&frame, connection.peer) {
            (Received::Hello(hello), None) => match identity::admit(hello, &self.own.cluster, &admissible) {
                Ok(()) => connection.peer = Some(hello.id),
                Err(refused) => {
                    self.log_refusal(&refused);
                    return Err(());
                }
            },
            (Received::Message(message), Some(peer)) if message.from == peer => {}
            (Received::Hello(_), Some(peer)) => return peer_error(format!("member {peer} said hello twice")),
            (Received::Message(message), Some(peer)) => {
                return peer_error(format!("member {peer} sent a message from member {}", message.from))
            }
            (Received::Message(_), None) => return peer_error("a raft message before the hello".to_string()),
        }
        out.push(frame);
        Ok(())
    }

    fn log_refusal(&mut self, refused: &Refused) {
        let logged = match refused {
            Refused::OtherCluster { .. } => &mut self.logged_other_cluster,
            Refused::NotAMember(_) => &mut self.logged_not_a_member,
        };
        if !std::mem::replace(logged, true) {
            let own = &self.own.cluster;
            log::info!("refusing a peer connection: {refused} ({own}); later refusals of this kind are not logged");
        }
    }

    fn drop_inbound(&mut self, registry: &Registry, key: usize) {
        if let Some(mut gone) = self.inbound.try_remove(key) {
            let _ = registry.deregister(gone.link.socket());
        }
    }

    fn accept(&mut self, registry: &Registry, now: Instant) {
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    stream
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            if self.inbound.len() >= INBOUND_MAX {
                continue;
            }
            let mut link = match &self.tls {
                Some(tls) => match tls.accept(stream) {
                    Ok(link) => link,
                    Err(_) => continue,
                },
                None => Link::Plain(stream),
            };
            let entry = self.inbound.vacant_entry();
            let token = Token(self.base + entry.key());
            // WRITABLE too: a TLS handshake flight that did not fit the socket goes on when it drains.
            if entry.key() < OUTBOUND_OFFSET
                && registry.register(link.socket(), token, Interest::READABLE | Interest::WRITABLE).is_ok()
            {
                entry.insert(Inbound { link, input: Vec::new(), incoming: None, peer: None, accepted_at: now });
            }
        }
    }
}

fn peer_error(reason: String) -> Result<(), ()> {
    log::info!("closing a peer connection: {reason}");
    Err(())
}

/// Connects to `addr` (TLS when configured) and registers the socket as `token`.
fn dial(registry: &Registry, token: Token, addr: SocketAddr, tls: Option<&PeerTls>) -> Option<Link> {
    let stream = TcpStream::connect(addr).ok()?;
    // Raft's messages are small and answer each other: Nagle's algorithm against the peer's
    // delayed ACK would hold an acknowledgement up to 40 ms (the p99 of a cluster write).
    let _ = stream.set_nodelay(true);
    let mut link = match tls {
        Some(tls) => tls.dial(stream, addr.ip()).ok()?,
        None => Link::Plain(stream),
    };
    // READABLE too: a TLS handshake needs the other end's replies.
    registry.register(link.socket(), token, Interest::READABLE | Interest::WRITABLE).ok()?;
    Some(link)
}

fn close_outbound(registry: &Registry, peer: &mut Outbound) {
    if let Some(mut link) = peer.link.take() {
        let _ = registry.deregister(link.socket());
    }
    peer.reset();
}

/// Reads `link` until the socket is drained, handing the plaintext in `input` to `frames` after each
/// read; then sends what the session has to say (a handshake flight). `Err`: the connection is over
/// (closed, failed, or `frames` refused its input).
fn read_link(
    link: &mut Link,
    scratch: &mut [u8],
    input: &mut Vec<u8>,
    mut frames: impl FnMut(&mut Vec<u8>) -> Result<(), ()>,
) -> Result<(), ()> {
    loop {
        match link.read(input, scratch) {
            Ok(Filled::Eof) => return Err(()),
            Ok(Filled::Full | Filled::Short) => frames(input)?,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(()),
        }
    }
    match link.send_pending() {
        Err(err) if err.kind() != io::ErrorKind::WouldBlock => Err(()),
        _ => Ok(()),
    }
}

/// Cuts every whole frame off `input` into `frames`, gathering a snapshot's chunks in `incoming`;
/// `Err` for a bad one (logged).
fn drain_frames(
    input: &mut Vec<u8>,
    incoming: &mut Option<Box<Incoming>>,
    frames: &mut Vec<Received>,
) -> Result<(), ()> {
    loop {
        match decode_frame(input).and_then(|frame| gather(incoming, frame)) {
            Ok(Some(Some(received))) => frames.push(received),
            Ok(Some(None)) => {}
            Ok(None) => return Ok(()),
            Err(err) => return peer_error(err),
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

/// Writes `output` through `link` until done or the socket is full; then what the session holds.
/// An error means the connection is gone (a connect still in progress is not one).
fn write_out(link: &mut Link, output: &mut Vec<u8>) -> io::Result<()> {
    let mut written = 0;
    let result = loop {
        if written == output.len() {
            break link.send_pending();
        }
        match link.write(&output[written..]) {
            Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(err) => break Err(err),
        }
    };
    output.drain(..written);
    match result {
        Err(err) if matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected) => Ok(()),
        // Tried again at the next turn's flush.
        Err(err) if err.kind() == io::ErrorKind::Interrupted => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A member that died (the accepted end closed) is noticed without writing to it, so the next
    /// message to it goes over a fresh connection instead of into the dead one.
    #[test]
    fn a_dialled_connection_the_peer_closed_is_dropped_before_the_next_write() {
        let mut poll = mio::Poll::new().expect("poll");
        let peer = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let peer_addr = peer.local_addr().expect("addr");
        let own = "127.0.0.1:0".parse().expect("addr");
        let hello = Hello { id: 1, cluster: "c".to_string(), client: "c".to_string(), peer: None };
        let mut transport =
            Transport::bind(poll.registry(), (Token(0), 1), hello, own, &[(2, peer_addr)], None).expect("bind");
        transport.flush(poll.registry(), Instant::now());
        let (accepted, _) = peer.accept().expect("the transport dials");
        drop(accepted);
        let mut events = mio::Events::with_capacity(16);
        let deadline = Instant::now() + Duration::from_secs(10);
        while transport.outbound[&2].link.is_some() {
            assert!(Instant::now() < deadline, "the closed connection is never noticed");
            poll.poll(&mut events, Some(Duration::from_millis(100))).expect("poll");
            for event in events.iter() {
                transport.ready(poll.registry(), event.token(), &mut Vec::new());
            }
        }
        // Dialled long enough ago: the next flush dials again at once.
        transport.outbound.get_mut(&2).expect("peer").redial_at = Instant::now();
        transport.flush(poll.registry(), Instant::now());
        assert!(transport.outbound[&2].link.is_some(), "redialled");
    }

    #[test]
    fn frames_round_trip_and_a_flipped_bit_is_refused() {
        let mut bytes = Vec::new();
        let hello = Hello { id: 7, cluster: "c".to_string(), client: "a".to_string(), peer: None };
        encode_frame(KIND_HELLO, &hello.encode(), &mut bytes);
        let message = Message { to: 2, from: 1, term: 5, ..Message::default() };
        encode_frame(KIND_MESSAGE, &message.write_to_bytes().expect("encodes"), &mut bytes);
        let mut input = bytes[..5].to_vec();
        assert!(matches!(decode_frame(&mut input), Ok(None)), "incomplete waits");
        let mut input = bytes.clone();
        assert!(matches!(decode_frame(&mut input), Ok(Some(Frame::Whole(Received::Hello(ref h)))) if *h == hello));
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
