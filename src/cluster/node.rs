//! This server as a member of the cluster: the replica, its raft log file, the peer transport, the
//! tick clock, and the answers only a cluster gives (`not_leader`, `cluster_status`).
//!
//! The loop calls in at four points: a peer socket's event (`on_event`), once a turn (`turn`:
//! tick, persist, send, apply), before executing a command (`admit`), and after executing one
//! (`propose`). Everything else about a request stays the loop's and the machine's.
//! Snapshots are taken by `taking` once a turn.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use mio::{Registry, Token};
use serde_json::{json, Map, Value};

use super::durable::DurableLog;
use super::identity::Hello;
use super::membership::{self, AdminRequest, Change};
use super::replica::{NotServing, Progress, Replica};
use super::taking::Taker;
use super::transport::{Received, Transport};
use crate::machine::{Command, Machine, Record, Session};
use crate::net::tls::PeerTls;
use vocab::Code;

/// One raft tick: elections after 0.48-0.8 s without a leader (`replica::ELECTION_TICKS`),
/// heartbeats every 80 ms. Shorter than the 50 ms it was, so that the rare split vote (both
/// survivors standing within a round trip) still ends within 1.5 s of a leader's death; a leader
/// still has six heartbeats to miss before anyone stands (no leader change under a saturating
/// write load on a shared 2-core machine, docs/benchmarks.md).
pub const TICK: Duration = Duration::from_millis(40);

/// `--node-id`, `--peers`, `--peer-clients`.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub id: u64,
    /// Every member's peer address, this one's included.
    pub peers: Vec<(u64, SocketAddr)>,
    /// Members' client addresses, for `not_leader` answers (also learnt from peers' hellos).
    pub peer_clients: Vec<(u64, String)>,
    /// `--join`: this member is new to a running cluster; it starts with the others of `--peers`
    /// as the voters and becomes one once the leader's `cluster_add` for it is committed.
    pub join: bool,
    /// `--cluster-id`: checked against the data directory's and every peer's (`identity`).
    pub cluster_id: Option<String>,
    /// Peers over TLS (with `--tls-cert`): the member's pair and `--peer-ca`.
    pub tls: Option<crate::config::PeerTlsFiles>,
    /// `--raft-snapshot-every`: applied entries after the last snapshot that start a new one.
    pub snapshot_every: u64,
}

pub use super::taking::SNAPSHOT_EVERY;

pub struct Node {
    replica: Replica,
    /// Authorises membership changes (`membership::admin_key`).
    admin_key: String,
    log: DurableLog,
    transport: Transport,
    clients: HashMap<u64, String>,
    next_tick: Instant,
    received: Vec<Received>,
    taker: Taker,
    /// Records of commands run since the last proposal, already in the machine: proposed as one
    /// entry before raft hears anything else (`flush_proposals`).
    queued: Vec<Record>,
}

impl Node {
    /// Opens the raft log in `dir`, replays it into a machine, binds the peer listener.
    pub fn start(
        config: &ClusterConfig,
        dir: &Path,
        own_client: String,
        registry: &Registry,
        tokens: (Token, usize),
        wake: impl Fn() + Send + 'static,
    ) -> Result<(Node, Machine), String> {
        let voters: Vec<u64> = config.peers.iter().map(|&(id, _)| id).collect();
        let listen = config
            .peers
            .iter()
            .find(|&&(id, _)| id == config.id)
            .map(|&(_, addr)| addr)
            .ok_or_else(|| format!("--peers does not name this node ({})", config.id))?;
        let voters: Vec<u64> = voters.into_iter().filter(|&id| !config.join || id != config.id).collect();
        let admin_key = membership::admin_key(dir)?;
        let mut reopened = DurableLog::open(dir, &voters)?;
        reopened.log.start_syncer(wake)?;
        if reopened.cut_bytes > 0 {
            crate::log::info!("raft log: cut a torn last frame ({} bytes)", reopened.cut_bytes);
        }
        let (replica, machine) = Replica::start(config.id, reopened.store, &super::discard_logger())?;
        let others: Vec<(u64, SocketAddr)> = config.peers.iter().copied().filter(|&(id, _)| id != config.id).collect();
        let cluster = super::identity::settle_cluster_id(dir, config.cluster_id.as_deref())?;
        let tls = config.tls.as_ref().map(PeerTls::load).transpose()?;
        let hello = Hello { id: config.id, cluster, client: own_client.clone(), peer: Some(listen) };
        let mut transport = Transport::bind(registry, tokens, hello, listen, &others, tls)
            .map_err(|e| format!("cannot listen for peers on {listen}: {e}"))?;
        transport.set_members(&replica.voters());
        let mut clients: HashMap<u64, String> = config.peer_clients.iter().cloned().collect();
        clients.insert(config.id, own_client);
        let node = Node {
            replica,
            admin_key,
            log: reopened.log,
            transport,
            clients,
            next_tick: Instant::now(),
            received: Vec::new(),
            taker: Taker::new(dir, config.snapshot_every),
            queued: Vec::new(),
        };
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
        let mut progress = self.flush_proposals(machine);
        for frame in received.drain(..) {
            match frame {
                Received::Hello(hello) => {
                    if let Some(peer) = hello.peer.filter(|_| !self.transport.knows(hello.id)) {
                        crate::log::info!("cluster: member {} is at {peer} (from its hello)", hello.id);
                        self.transport.set_peer(registry, hello.id, peer);
                    }
                    self.clients.insert(hello.id, hello.client);
                }
                Received::Message(message) => merge(&mut progress, self.replica.step(machine, *message)),
            }
        }
        self.received = received;
        progress
    }

    /// Once a turn: tick when due, hear which raft log writes the log thread finished, hand it
    /// the next ones and apply what is committed, send what raft says. An error is fatal: the raft
    /// log could not be made durable or a committed entry does not apply.
    pub fn turn(&mut self, registry: &Registry, machine: &mut Machine, now: Instant) -> Result<Progress, String> {
        let mut progress = self.flush_proposals(machine);
        if now >= self.next_tick {
            self.next_tick = now + TICK;
            merge(&mut progress, self.replica.tick(machine));
        }
        while let Some(done) = self.log.poll_done() {
            merge(&mut progress, self.replica.persisted(done?));
        }
        while self.replica.has_ready() {
            merge(&mut progress, self.replica.handle_ready(machine, &mut self.log)?);
        }
        self.sync_members(registry, progress.installed.is_some());
        if let Some(index) = progress.installed {
            crate::log::info!("raft: installed the leader's snapshot at {index}");
        }
        for message in progress.messages.drain(..) {
            let queued = self.transport.send(&message);
            if message.get_msg_type() == raft::eraftpb::MessageType::MsgSnapshot {
                // Raft waits for this before probing the follower again.
                self.replica.report_snapshot(message.to, queued);
            }
        }
        self.transport.flush(registry, now);
        self.taker.turn(&mut self.replica, &mut self.log, machine, now)?;
        Ok(progress)
    }

    /// Whether the loop should run no new commands this turn (`Taker::draining`).
    pub fn holds_commands(&self) -> bool {
        self.taker.draining()
    }

    /// Applied membership changes reach the transport (whom to dial) and the client addresses.
    fn sync_members(&mut self, registry: &Registry, installed: bool) {
        let changes = self.replica.take_changes();
        if installed || !changes.is_empty() {
            self.transport.set_members(&self.replica.voters());
        }
        for applied in changes {
            match applied.change {
                Change::Add { id, peer, client } => {
                    crate::log::info!("cluster: member {id} ({peer}) added at index {}", applied.index);
                    self.transport.set_peer(registry, id, peer);
                    if let Some(client) = client {
                        self.clients.insert(id, client);
                    }
                }
                Change::Remove { id } if id == self.replica.id() => {
                    crate::log::info!("cluster: this member was removed at index {}", applied.index);
                }
                Change::Remove { id } => {
                    crate::log::info!("cluster: member {id} removed at index {}", applied.index);
                    self.transport.remove_peer(registry, id);
                    self.clients.remove(&id);
                }
            }
        }
    }

    /// Answers an admin request (`cluster_add`, `cluster_remove`) with this member's admin key:
    /// proposed (a follower forwards it to the leader); `ok` says it was proposed, at `index` on the
    /// leader (`cluster_status`'s `voters` show it applied).
    pub fn admin(&mut self, request: Result<AdminRequest, String>, id: Option<&Value>) -> Vec<u8> {
        let request = match request {
            Ok(request) => request,
            Err(message) => return error_line(Code::BadRequest, &message, id),
        };
        if !membership::same_key(&request.key, &self.admin_key) {
            return error_line(Code::Forbidden, "Wrong admin key (see admin.key in the leader's data directory)", id);
        }
        match self.replica.propose_change(&request.change) {
            Ok(Some(index)) => {
                line(json!({"status": "ok", "message": "Membership change proposed", "index": index}), id)
            }
            Ok(None) => line(json!({"status": "ok", "message": "Membership change sent to the leader"}), id),
            // Another change is being committed, or the leader was elected a moment ago.
            Err(message) => {
                let reply = json!({"status": "error", "code": Code::RateLimited.as_str(), "message": message,
                    "retry_after_ms": 500});
                line(reply, id)
            }
        }
    }

    /// Queues a command's records (already applied to the machine) for the turn's one proposal:
    /// a loop turn's commands become one raft entry, one append per follower and one write, not
    /// one each. Their output is held until that entry is applied (`visible`, read after the
    /// turn's `turn` proposed it).
    pub fn propose(&mut self, records: &[Record]) {
        self.queued.extend_from_slice(records);
    }

    /// Proposes the queued records as one entry, before raft steps, ticks or readies anything else:
    /// so the machine is never ahead of raft by records raft does not know (a lost leadership
    /// rebuilds it from the committed prefix). A refused proposal rebuilds the machine at once.
    fn flush_proposals(&mut self, machine: &mut Machine) -> Progress {
        if self.queued.is_empty() {
            return Progress::default();
        }
        let records = std::mem::take(&mut self.queued);
        self.replica.propose(machine, records).1
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
    /// run); `session` is the asking connection's. `known`: whether this member's state has the
    /// account a login names (or the token a resume gives): a follower may not have applied a
    /// signup the leader acknowledged, so it sends that login to the leader rather than refuse it.
    pub fn admit(&self, command: &Command, stale: bool, (session, known): (&Session, bool)) -> Option<NotHere> {
        let refusal = match self.replica.serving() {
            Ok(()) => return None,
            Err(refusal) => refusal,
        };
        let local_logout = matches!(command, Command::Logout { all: false }) && session.token.is_none();
        let login = matches!(command, Command::Login(_) | Command::ResumeSession { .. }) && known;
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

    /// The `cluster_status` answer. `match_index` (the leader only, else `null`): each member's
    /// highest entry the leader knows it holds, by node id — how far behind a follower is.
    pub fn status(&self, id: Option<&Value>) -> Vec<u8> {
        let leader = self.replica.leader();
        let match_index = self.replica.match_indexes().map(|members| {
            members.into_iter().map(|(node, index)| (node.to_string(), Value::from(index))).collect::<Map<_, _>>()
        });
        line(
            json!({
                "status": "ok",
                "node": self.replica.id(),
                "leader": leader,
                "leader_address": leader.and_then(|l| self.clients.get(&l).cloned()),
                "term": self.replica.term(),
                "commit_index": self.replica.commit_index(),
                "applied_index": self.replica.applied(),
                "voters": self.replica.voters(),
                "match_index": match_index,
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
        | Command::PairwiseDebts { .. }
        | Command::ListCategories { .. }
        | Command::Stats(_)
        | Command::ListRecurring { .. } => false,
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

fn error_line(code: Code, message: &str, id: Option<&Value>) -> Vec<u8> {
    line(json!({"status": "error", "code": code.as_str(), "message": message}), id)
}

fn merge(into: &mut Progress, from: Progress) {
    into.messages.extend(from.messages);
    into.events.extend(from.events);
    into.rebuilt |= from.rebuilt;
    into.ended.extend(from.ended);
    into.installed = into.installed.max(from.installed);
}
