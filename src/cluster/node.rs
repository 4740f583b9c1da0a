//! This server as a member of the cluster: the replica, its raft log file, the peer transport, the
//! tick clock, and the answers only a cluster gives (`not_leader`, `cluster_status`).
//!
//! The loop calls in at four points: a peer socket's event (`on_event`), once a turn (`turn`:
//! tick, persist, send, apply), before executing a command (`admit`), and after executing one
//! (`propose`). Everything else about a request stays the loop's and the machine's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use mio::{Registry, Token};
use serde_json::{json, Value};

use super::durable::DurableLog;
use super::replica::{NotServing, Progress, Replica};
use super::transport::{Received, Transport};
use crate::machine::{Command, Machine, Record, Session};

/// One raft tick: elections after 0.5-1 s without a leader, heartbeats every 100 ms.
pub const TICK: Duration = Duration::from_millis(50);

/// `--node-id`, `--peers`, `--peer-clients`.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub id: u64,
    /// Every member's peer address, this one's included.
    pub peers: Vec<(u64, SocketAddr)>,
    /// Members' client addresses, for `not_leader` answers (also learnt from peers' hellos).
    pub peer_clients: Vec<(u64, String)>,
}

pub struct Node {
    replica: Replica,
    log: DurableLog,
    transport: Transport,
    clients: HashMap<u64, String>,
    next_tick: Instant,
    received: Vec<Received>,
}

impl Node {
    /// Opens the raft log in `dir`, replays it into a machine, binds the peer listener.
    pub fn start(
        config: &ClusterConfig,
        dir: &Path,
        own_client: String,
        registry: &Registry,
        tokens: (Token, usize),
    ) -> Result<(Node, Machine), String> {
        let voters: Vec<u64> = config.peers.iter().map(|&(id, _)| id).collect();
        let listen = config
            .peers
            .iter()
            .find(|&&(id, _)| id == config.id)
            .map(|&(_, addr)| addr)
            .ok_or_else(|| format!("--peers does not name this node ({})", config.id))?;
        let reopened = DurableLog::open(dir, &voters)?;
        if reopened.cut_bytes > 0 {
            crate::log::info!("raft log: cut a torn last frame ({} bytes)", reopened.cut_bytes);
        }
        let (replica, machine) = Replica::start(config.id, reopened.store, &super::discard_logger())?;
        let others: Vec<(u64, SocketAddr)> = config.peers.iter().copied().filter(|&(id, _)| id != config.id).collect();
        let transport = Transport::bind(registry, tokens.0, tokens.1, (config.id, own_client.clone()), listen, &others)
            .map_err(|e| format!("cannot listen for peers on {listen}: {e}"))?;
        let mut clients: HashMap<u64, String> = config.peer_clients.iter().cloned().collect();
        clients.insert(config.id, own_client);
        let node =
            Node { replica, log: reopened.log, transport, clients, next_tick: Instant::now(), received: Vec::new() };
        Ok((node, machine))
    }

    pub fn owns(&self, token: Token) -> bool {
        self.transport.owns(token)
    }

    /// When the loop must wake for the next tick.
    pub fn next_tick(&self) -> Instant {
        self.next_tick
    }

    /// A peer socket is ready: read its frames and step the raft messages in.
    pub fn on_event(&mut self, registry: &Registry, token: Token, machine: &mut Machine) -> Progress {
        let mut received = std::mem::take(&mut self.received);
        self.transport.ready(registry, token, &mut received);
        let mut progress = Progress::default();
        for frame in received.drain(..) {
            match frame {
                Received::Hello { id, client } => {
                    self.clients.insert(id, client);
                }
                Received::Message(message) => merge(&mut progress, self.replica.step(machine, *message)),
            }
        }
        self.received = received;
        progress
    }

    /// Once a turn: tick when due, persist and apply what raft has ready, send what it says.
    /// An error is fatal: the raft log could not be made durable or a committed entry does not apply.
    pub fn turn(&mut self, registry: &Registry, machine: &mut Machine, now: Instant) -> Result<Progress, String> {
        let mut progress = Progress::default();
        if now >= self.next_tick {
            self.next_tick = now + TICK;
            merge(&mut progress, self.replica.tick(machine));
        }
        while self.replica.has_ready() {
            merge(&mut progress, self.replica.handle_ready(machine, &mut self.log)?);
        }
        for message in progress.messages.drain(..) {
            self.transport.send(&message);
        }
        self.transport.flush(registry, now);
        Ok(progress)
    }

    /// Proposes a command's records; `None` if raft refused (the machine was rebuilt).
    pub fn propose(&mut self, machine: &mut Machine, records: Vec<Record>) -> (Option<u64>, Progress) {
        self.replica.propose(machine, records)
    }

    /// Whether a command here must not write (`Session::read_only`): this member does not serve
    /// writes now (a follower, or a leader elected a moment ago).
    pub fn read_only(&self) -> bool {
        self.replica.serving().is_err()
    }

    /// The index a reply rendered now shows (it may leave once `applied` reaches it).
    pub fn visible(&self) -> u64 {
        self.replica.visible()
    }

    pub fn applied(&self) -> u64 {
        self.replica.applied()
    }

    /// Whether `command` may run here: the leader runs everything; a follower runs logins and
    /// resumes (read-only: `Session::read_only`), a logout that revokes nothing (a login made here,
    /// without a token) and, when asked (`"stale": true`), reads. Otherwise why not (`None`: it may
    /// run); `session` is the asking connection's.
    pub fn admit(&self, command: &Command, stale: bool, session: &Session) -> Option<NotHere> {
        let refusal = match self.replica.serving() {
            Ok(()) => return None,
            Err(refusal) => refusal,
        };
        let local_logout = matches!(command, Command::Logout { all: false }) && session.token.is_none();
        let login = matches!(command, Command::Login(_) | Command::ResumeSession { .. });
        if login || local_logout || (stale && !is_write(command)) {
            return None;
        }
        let (leader, message) = match refusal {
            NotServing::NotLeader(leader) => (leader, "This node is not the leader; send writes to the leader"),
            NotServing::CatchingUp => (Some(self.replica.id()), "The leader was just elected; retry in a moment"),
        };
        let leader = leader.and_then(|id| self.clients.get(&id).cloned());
        Some(NotHere { message, leader })
    }

    /// The `cluster_status` answer.
    pub fn status(&self, id: Option<&Value>) -> Vec<u8> {
        let leader = self.replica.leader();
        line(
            json!({
                "status": "ok",
                "node": self.replica.id(),
                "leader": leader,
                "leader_address": leader.and_then(|l| self.clients.get(&l).cloned()),
                "term": self.replica.term(),
                "commit_index": self.replica.commit_index(),
                "applied_index": self.replica.applied(),
            }),
            id,
        )
    }
}

/// Why this member does not run a command: the words, and the leader's client address when known
/// (the protocol layer sends it as `not_leader`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotHere {
    pub message: &'static str,
    pub leader: Option<String>,
}

/// Whether a command changes state (when it succeeds): a follower refuses those. Logins and resumes
/// write too (a token, its use) but run read-only on a follower (`admit`).
pub fn is_write(command: &Command) -> bool {
    match command {
        Command::Settle(settle) => settle.record,
        Command::Sessions
        | Command::ListGroups
        | Command::GroupMembers { .. }
        | Command::GroupInfo { .. }
        | Command::ViewTransactions { .. }
        | Command::ViewPayments { .. }
        | Command::ViewBalances { .. }
        | Command::Export { .. }
        | Command::History(_)
        | Command::Subscribe(_)
        | Command::BalanceDetails { .. }
        | Command::PairwiseDebts { .. } => false,
        _ => true,
    }
}

/// Whether the frame asks for `cluster_status` (an action of the cluster layer, not the machine's).
/// Parsed only in cluster mode and only when the bytes mention it; `"stale"` is the decoder's.
pub fn is_status(frame: &[u8]) -> bool {
    let word = b"cluster_status";
    if !frame.windows(word.len()).any(|w| w == word) {
        return false;
    }
    let Ok(value) = serde_json::from_slice::<Value>(frame) else { return false };
    value.get("action").and_then(Value::as_str) == Some("cluster_status")
}

fn line(mut reply: Value, id: Option<&Value>) -> Vec<u8> {
    if let (Some(id), Some(object)) = (id, reply.as_object_mut()) {
        object.insert("id".to_string(), id.clone());
    }
    let mut bytes = serde_json::to_vec(&reply).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn merge(into: &mut Progress, from: Progress) {
    into.messages.extend(from.messages);
    into.events.extend(from.events);
    into.rebuilt |= from.rebuilt;
    into.ended.extend(from.ended);
}
