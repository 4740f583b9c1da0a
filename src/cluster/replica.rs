//! One member of the cluster: a raft-rs `RawNode` over the `LogStore`, and the `Machine` its
//! committed entries are applied to.
//!
//! The leader executes a command on its machine (which applies the command's records at once, as
//! the single node does) and proposes those records as one entry; the reply waits until that entry
//! is committed (`applied()` reaches its index). Followers only `apply` committed entries. So the
//! leader's machine may be *ahead* of the commit by its own proposals; when it loses leadership
//! with proposals in flight, its machine is rebuilt from the committed prefix of the log (those
//! proposals may yet commit under the next leader or may be dropped: their clients get an error,
//! never an ok). A new leader serves only once it has applied every entry of earlier terms
//! (`serving`), so it never executes against a state that misses an entry it will commit.
//!
//! Snapshots: a member replaces its log up to an applied index with the machine's image there
//! (`snapshot_meta`, `image_machine`, `compact`; the server serialises it in a forked child, the
//! simulation at once, `take_snapshot`). A follower whose next entry the leader no longer holds
//! receives the leader's snapshot and replaces its machine with it (`handle_ready`). A machine is
//! always the snapshot's image plus the committed entries after it (`machine_at`).
//!
//! Owns the ready → persist → send → apply sequence (`handle_ready`, `persisted`) minus the I/O:
//! the caller hands the writes to `Persist`, reports the ones done (`persisted`), sends the
//! returned messages, and hears which indices are now applied.

use raft::eraftpb::{Entry, EntryType, Message, MessageType, Snapshot, SnapshotMetadata};
use raft::{Config, RawNode, SnapshotStatus, StateRole};
use serde::{Deserialize, Serialize};

use super::log_store::LogStore;
use super::membership::{self, Applied, Change};
use crate::machine::{ApplyError, Event, GroupId, Machine, Notice, Record, UserId};
use crate::store::snapshot::{load_image, read_image, write_image};

/// What a normal raft entry carries: the records one executed command produced, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub records: Vec<Record>,
}

/// Where the caller's `Ready` handling writes entries and hard state durably: queued, done in
/// order, each write numbered with its `Ready`'s number; the caller reports the numbers done to
/// `Replica::persisted` (the server's raft log thread; the simulation's disk, which loses what is
/// not done yet when a member crashes).
pub trait Persist {
    /// The store's entries from `new_from` on and its hard state; `sync`: an entry, a vote or a
    /// term changed (a hard state whose only change is the commit index need not reach the disk
    /// before the write counts as done).
    fn persist(&mut self, store: &LogStore, new_from: Option<u64>, number: u64, sync: bool) -> Result<(), String>;
    /// A leader's snapshot replaced the store's log: write the snapshot, then the whole log (its
    /// entries after the snapshot, its hard state), and return only once that and every write
    /// before it are done. (raft-rs counts an installed snapshot as applied only once persisted;
    /// until then a campaign would read entries the snapshot replaced.)
    fn install(&mut self, store: &LogStore, number: u64) -> Result<(), String>;
    /// The store's log was compacted behind its snapshot, already durable: drop the covered entries.
    fn compacted(&mut self, store: &LogStore) -> Result<(), String>;
}

/// What one `handle_ready` did, for the caller.
#[derive(Debug, Default)]
pub struct Progress {
    /// To send to peers (each names its `to`).
    pub messages: Vec<Message>,
    /// Notifications for the committed records this call applied (a follower's, or a leader's
    /// after a rebuild; a leader's own proposals notified when they were executed).
    pub events: Vec<Event>,
    /// The machine was rebuilt from the committed prefix: own proposals above `applied()` are not
    /// (yet) committed and their clients must get an error.
    pub rebuilt: bool,
    /// Users whose logins an applied record may have ended (`Machine::sessions_ended_by`): a token
    /// revoked, a password changed, an account deleted.
    pub ended: Vec<UserId>,
    /// A leader's snapshot replaced the machine: its index (`events` holds the notifications for
    /// what it brought, `events_since`).
    pub installed: Option<u64>,
}

/// Why a command cannot be served here now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotServing {
    /// Not the leader; the leader's id if known.
    NotLeader(Option<u64>),
    /// The leader, but earlier terms' entries are not all applied yet (moments after an election).
    CatchingUp,
}

pub struct Replica {
    raw: RawNode<LogStore>,
    applied: u64,
    /// Own proposals applied to the machine ahead of the commit: `(term, last index)`.
    ahead: Option<(u64, u64)>,
    /// The index of this leader's first entry of its term (the empty entry raft appends).
    term_start: u64,
    role: (u64, StateRole),
    /// Set when the role changed since the caller last looked (`take_role_change`).
    role_changed: bool,
    /// Membership changes applied since the caller last looked (`take_changes`), those of the log
    /// replayed at start included.
    changes: Vec<Applied>,
    /// The last `Ready` whose write was handed to `Persist`, and the last one reported done.
    submitted: u64,
    durable: u64,
    /// Bytes of the applied entries after the store's snapshot (the in-memory log a snapshot frees).
    applied_bytes: u64,
    /// Messages that may leave only once write `.0` is done (a follower's acknowledgements, votes).
    unsent: std::collections::VecDeque<(u64, Vec<Message>)>,
}

/// Ticks without hearing from a leader before a member stands for election, drawn anew each time.
/// The lower end is above the leader's lease (`election_tick`, 10: a follower that heard from the
/// leader within it ignores votes) by two ticks, so that when the first survivor of a dead leader
/// stands, the other's lease has run out too (the members' ticks are not in step) and it answers
/// the pre-vote instead of ignoring it; ignored, the election waited for the other's own timeout
/// (seen in about one failover in five with 10..20).
pub const ELECTION_TICKS: std::ops::Range<usize> = 12..20;

/// The raft settings every member uses: elections after 12-20 ticks without a leader, heartbeats
/// every 2; pre-vote so a node back from a partition does not depose a working leader; check-quorum
/// so a leader cut off from the majority steps down (and stops serving reads) within an election.
pub fn config(id: u64, applied: u64) -> Config {
    Config {
        id,
        election_tick: 10,
        min_election_tick: ELECTION_TICKS.start,
        max_election_tick: ELECTION_TICKS.end,
        heartbeat_tick: 2,
        applied,
        max_size_per_msg: 1024 * 1024,
        max_inflight_msgs: 256,
        check_quorum: true,
        pre_vote: true,
        ..Config::default()
    }
}

impl Replica {
    /// Starts member `id` from what its store holds, with the machine that is its committed prefix
    /// replayed. The caller owns the machine and passes it to every call that may change it.
    pub fn start(id: u64, store: LogStore, logger: &slog::Logger) -> Result<(Replica, Machine), String> {
        let commit = store.hard_state().commit.min(store.last());
        let machine = machine_at(&store, commit, load_image)?;
        // The snapshot's voters are the store's; changes committed after it are applied again.
        let conf_entries: Vec<Entry> = store.tail(commit).iter().filter(|e| is_conf_change(e)).cloned().collect();
        let raw = RawNode::new(&config(id, commit), store, logger).map_err(|e| format!("raft: {e}"))?;
        let role = (raw.raft.term, raw.raft.state);
        let mut replica = Replica {
            raw,
            applied: commit,
            ahead: None,
            term_start: 0,
            role,
            role_changed: false,
            changes: Vec::new(),
            submitted: 0,
            durable: 0,
            applied_bytes: 0,
            unsent: std::collections::VecDeque::new(),
        };
        replica.applied_bytes = tail_bytes(replica.store(), commit);
        // Committed changes are applied again over the voters the store starts with.
        for entry in &conf_entries {
            replica.apply_membership(entry)?;
        }
        Ok((replica, machine))
    }

    pub fn id(&self) -> u64 {
        self.raw.raft.id
    }

    pub fn store(&self) -> &LogStore {
        self.raw.store()
    }

    pub fn term(&self) -> u64 {
        self.raw.raft.term
    }

    pub fn leader(&self) -> Option<u64> {
        Some(self.raw.raft.leader_id).filter(|&id| id != raft::INVALID_ID)
    }

    pub fn is_leader(&self) -> bool {
        self.raw.raft.state == StateRole::Leader
    }

    pub fn commit_index(&self) -> u64 {
        self.raw.raft.raft_log.committed
    }

    /// Each member's match index as this leader tracks it (the highest entry known to be in that
    /// member's log, its own included), sorted by id; `None` on a follower, whose tracker is stale.
    pub fn match_indexes(&self) -> Option<Vec<(u64, u64)>> {
        if !self.is_leader() {
            return None;
        }
        let mut matched: Vec<(u64, u64)> = self.raw.raft.prs().iter().map(|(&id, pr)| (id, pr.matched)).collect();
        matched.sort_unstable();
        Some(matched)
    }

    /// The committed entries this member also holds in its store: a follower may learn of a commit
    /// before it has persisted the entries (they are still in raft's unstable log).
    pub fn committed_persisted(&self) -> u64 {
        self.commit_index().min(self.raw.raft.raft_log.persisted)
    }

    /// The last committed index whose records are in the machine.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// The index whose state the machine shows now: a reply rendered from it may leave once
    /// `applied()` reaches it.
    pub fn visible(&self) -> u64 {
        self.ahead.map_or(self.applied, |(_, last)| last)
    }

    /// Whether this member may execute commands now: the leader, with earlier terms applied.
    pub fn serving(&self) -> Result<(), NotServing> {
        if !self.is_leader() {
            return Err(NotServing::NotLeader(self.leader()));
        }
        if self.applied < self.term_start {
            return Err(NotServing::CatchingUp);
        }
        Ok(())
    }

    /// Whether the role or term changed since the last call.
    pub fn take_role_change(&mut self) -> bool {
        std::mem::take(&mut self.role_changed)
    }

    /// The randomised election timeout raft just drew, to be replaced by a deterministic one (the
    /// simulation): raft-rs draws it from the thread's random generator.
    pub fn set_election_timeout(&mut self, ticks: usize) {
        self.raw.raft.set_randomized_election_timeout(ticks);
    }

    pub fn tick(&mut self, machine: &mut Machine) -> Progress {
        self.raw.tick();
        self.observe(machine)
    }

    /// A message from a peer. A message raft refuses (from an unknown peer, a stale one) is dropped.
    /// A heartbeat naming a commit beyond this member's log (a leader that remembers more of this
    /// member than its disk holds: its directory was emptied) would make raft-rs panic; it commits
    /// nothing instead.
    pub fn step(&mut self, machine: &mut Machine, mut message: Message) -> Progress {
        let log = &self.raw.raft.raft_log;
        if message.get_msg_type() == MessageType::MsgHeartbeat && message.commit > log.last_index() {
            message.commit = log.committed;
        }
        let _ = self.raw.step(message);
        self.observe(machine)
    }

    /// Proposes the records a command just applied to the machine (call only while `serving`).
    /// Returns the entry's index, or `None` if raft dropped the proposal, in which case the machine
    /// was rebuilt (`Progress::rebuilt`) and the command's client must get an error.
    pub fn propose(&mut self, machine: &mut Machine, records: Vec<Record>) -> (Option<u64>, Progress) {
        if self.serving().is_err() {
            // Only a serving leader proposes: raft would forward a follower's proposal to the leader
            // while this machine already holds its records. Undo them; the client gets no ok.
            crate::log::info!("records produced on a member that does not serve writes; rebuilding");
            return (None, self.rebuild(machine));
        }
        let data = match serde_json::to_vec(&Payload { records }) {
            Ok(data) => data,
            Err(_) => return (None, self.rebuild(machine)),
        };
        if self.raw.propose(Vec::new(), data).is_err() {
            return (None, self.rebuild(machine));
        }
        let index = self.raw.raft.raft_log.last_index();
        self.ahead = Some((self.raw.raft.term, index));
        (Some(index), self.observe(machine))
    }

    /// Proposes a membership change: on the leader, `Some(index)` it will commit at; a follower
    /// forwards it to the leader (`None`). Unlike records, a change touches no machine before it
    /// commits, so a forwarded one is safe. raft-rs takes one change at a time.
    pub fn propose_change(&mut self, change: &Change) -> Result<Option<u64>, String> {
        if self.leader().is_none() {
            return Err("no leader is known yet; retry in a moment".to_string());
        }
        if self.is_leader() && self.raw.raft.has_pending_conf() {
            // raft-rs would turn it into an empty entry.
            return Err("another membership change is still being committed; retry in a moment".to_string());
        }
        let (context, cc) = change.to_raft();
        self.raw.propose_conf_change(context, cc).map_err(|e| format!("raft refused the change: {e}"))?;
        Ok(self.is_leader().then(|| self.raw.raft.raft_log.last_index()))
    }

    /// The voters of the configuration this member has applied.
    pub fn voters(&self) -> Vec<u64> {
        let mut voters: Vec<u64> = self.raw.raft.prs().conf().voters().ids().iter().collect();
        voters.sort_unstable();
        voters
    }

    /// The membership changes applied since the last call.
    pub fn take_changes(&mut self) -> Vec<Applied> {
        std::mem::take(&mut self.changes)
    }

    pub fn has_ready(&self) -> bool {
        self.raw.has_ready()
    }

    /// One `Ready`: messages that may leave before the write (a leader's appends: it replicates
    /// while it writes, raft thesis 10.2.1), snapshot, entries and hard state handed to `persist`,
    /// committed entries (those this member holds durably) applied, messages that need the write
    /// kept until `persisted` hears it is done. An error (a write that cannot be queued, a
    /// committed entry that does not apply) means this member must stop.
    pub fn handle_ready(&mut self, machine: &mut Machine, persist: &mut dyn Persist) -> Result<Progress, String> {
        let mut progress = Progress::default();
        if !self.raw.has_ready() {
            return Ok(progress);
        }
        let mut ready = self.raw.ready();
        let number = ready.number();
        progress.messages.extend(ready.take_messages());
        let snapshot = (!ready.snapshot().is_empty()).then(|| ready.snapshot().clone());
        if let Some(snapshot) = &snapshot {
            let seqs = group_seqs(machine);
            progress.rebuilt |= self.install(machine, snapshot)?;
            progress.installed = Some(self.applied);
            progress.events.extend(events_since(machine, &seqs));
        }
        self.apply_committed(machine, ready.take_committed_entries(), &mut progress)?;
        let new_from = ready.entries().first().map(|e| e.index);
        let store = self.raw.mut_store();
        store.append(ready.entries())?;
        if let Some(hard) = ready.hs() {
            store.set_hard_state(hard.clone());
        }
        if snapshot.is_some() {
            persist.install(self.raw.store(), number)?;
            (self.submitted, self.durable) = (number, number);
        } else if new_from.is_some() || ready.hs().is_some() {
            persist.persist(self.raw.store(), new_from, number, ready.must_sync())?;
            self.submitted = number;
        }
        let waiting = ready.take_persisted_messages();
        self.raw.advance_append_async(ready);
        if self.durable >= self.submitted {
            // Nothing of this or an earlier `Ready` is still being written.
            self.raw.on_persist_ready(number);
            self.release_unsent(number, &mut progress);
            progress.messages.extend(waiting);
        } else if !waiting.is_empty() {
            self.unsent.push_back((self.submitted, waiting));
        }
        self.advance_applied();
        let observed = self.observe(machine);
        progress.rebuilt |= observed.rebuilt;
        Ok(progress)
    }

    /// `Persist` finished every write up to `number`: raft counts those entries as this member's
    /// (a leader may commit them), and the messages that waited for them may leave. Entries this
    /// makes committed come with the next `handle_ready`. (It changes no role: nothing to rebuild.)
    pub fn persisted(&mut self, number: u64) -> Progress {
        let mut progress = Progress::default();
        if number <= self.durable {
            return progress;
        }
        self.durable = number;
        self.raw.on_persist_ready(number);
        self.advance_applied();
        self.release_unsent(number, &mut progress);
        progress
    }

    /// The messages that waited for writes up to `number`.
    fn release_unsent(&mut self, number: u64, progress: &mut Progress) {
        while self.unsent.front().is_some_and(|(needs, _)| *needs <= number) {
            if let Some((_, messages)) = self.unsent.pop_front() {
                progress.messages.extend(messages);
            }
        }
    }

    /// Tells raft what is applied: at most what it counts as persisted (an installed snapshot is
    /// applied to the machine at once, but counts for raft only once written).
    fn advance_applied(&mut self) {
        let log = &self.raw.raft.raft_log;
        let to = self.applied.min(log.persisted).min(log.committed);
        if to > log.applied {
            self.raw.advance_apply_to(to);
        }
    }

    /// Whether a write handed to `Persist` is not yet reported done.
    pub fn writing(&self) -> bool {
        self.durable < self.submitted
    }

    /// A leader's snapshot (raft checked it is ahead of this member's commit): the store's log and
    /// the machine replaced (the caller has it written before raft hears it was persisted).
    /// Returns whether own proposals were in the machine (they are gone).
    fn install(&mut self, machine: &mut Machine, snapshot: &Snapshot) -> Result<bool, String> {
        let index = snapshot.get_metadata().index;
        let installed = load_image(&snapshot.data).map_err(|e| format!("snapshot at {index}: {}", e.0))?;
        self.raw.mut_store().install(snapshot.clone());
        self.applied_bytes = 0;
        *machine = installed;
        self.applied = index;
        Ok(self.ahead.take().is_some())
    }

    /// How many applied entries the log holds beyond its snapshot (the caller snapshots when this
    /// passes its threshold).
    pub fn applied_since_snapshot(&self) -> u64 {
        self.applied.saturating_sub(self.store().offset())
    }

    /// How many bytes of entries those are: a loop turn's commands are one entry, so the count of
    /// entries alone does not bound the log's memory.
    pub fn applied_bytes_since_snapshot(&self) -> u64 {
        self.applied_bytes
    }

    /// The metadata of a snapshot at the applied index.
    pub fn snapshot_meta(&self) -> SnapshotMetadata {
        let mut meta = SnapshotMetadata {
            index: self.applied,
            term: self.store().term_of(self.applied).unwrap_or(0),
            ..SnapshotMetadata::default()
        };
        meta.set_conf_state(self.store().conf_state().clone());
        meta
    }

    /// The machine as of the applied index: `machine` itself, unless own proposals are in it
    /// (then rebuilt from the log). For a forked child; costs a rebuild only on a busy leader.
    pub fn image_machine<R>(&self, machine: &Machine, f: impl FnOnce(&Machine) -> R) -> Result<R, String> {
        if self.ahead.is_none() {
            return Ok(f(machine));
        }
        machine_at(self.store(), self.applied, read_image).map(|m| f(&m))
    }

    /// Replaces the log up to the snapshot's index with it (its image must be the machine there:
    /// `snapshot_meta` + `image_machine`), and has the covered entries dropped from disk.
    pub fn compact(&mut self, snapshot: Snapshot, persist: &mut dyn Persist) -> Result<(), String> {
        if snapshot.get_metadata().index <= self.store().offset() {
            return Ok(());
        }
        self.raw.mut_store().compact(snapshot)?;
        self.applied_bytes = tail_bytes(self.raw.store(), self.applied);
        persist.compacted(self.raw.store())
    }

    /// A snapshot at the applied index, serialised here and now, and the log compacted behind it
    /// (the simulation; the server writes it in a forked child). The caller makes it durable first.
    pub fn take_snapshot(&mut self, machine: &Machine, persist: &mut dyn Persist) -> Result<(), String> {
        let meta = self.snapshot_meta();
        let mut image = Vec::new();
        self.image_machine(machine, |m| write_image(m, &mut image))?.map_err(|e| format!("image: {e}"))?;
        let mut snapshot = Snapshot { data: image.into(), ..Snapshot::default() };
        snapshot.set_metadata(meta);
        self.compact(snapshot, persist)
    }

    /// The transport handed a snapshot to `to` (or could not): raft then probes that follower again.
    pub fn report_snapshot(&mut self, to: u64, sent: bool) {
        let status = if sent { SnapshotStatus::Finish } else { SnapshotStatus::Failure };
        self.raw.report_snapshot(to, status);
    }

    /// Applies committed entries in order; own proposals already in the machine are only counted.
    fn apply_committed(
        &mut self,
        machine: &mut Machine,
        entries: Vec<Entry>,
        progress: &mut Progress,
    ) -> Result<(), String> {
        for entry in entries {
            if entry.index <= self.applied {
                continue;
            }
            if let Some((term, last)) = self.ahead {
                if entry.index <= last && entry.term != term {
                    // Not the entry this leader proposed there: its speculation is void.
                    progress.rebuilt |= self.rebuild(machine).rebuilt;
                }
            }
            if is_conf_change(&entry) {
                self.apply_membership(&entry)?;
            }
            let records = decode(&entry)?;
            match self.ahead {
                Some((term, last)) if entry.index <= last && entry.term == term => {
                    if entry.index == last {
                        self.ahead = None;
                    }
                }
                _ => {
                    for record in &records {
                        let groups = record_groups(machine, record);
                        machine.apply(record).map_err(|e| format!("entry {}: {e}", entry.index))?;
                        progress.events.extend(groups.into_iter().filter_map(|group| event_of(machine, group)));
                        progress.ended.extend(Machine::sessions_ended_by(record));
                    }
                }
            }
            self.applied = entry.index;
            self.applied_bytes += entry.data.len() as u64;
        }
        Ok(())
    }

    /// After any call into raft: notes a role or term change; a leader that lost its role with own
    /// proposals in the machine rebuilds it from the committed prefix.
    fn observe(&mut self, machine: &mut Machine) -> Progress {
        let role = (self.raw.raft.term, self.raw.raft.state);
        if role == self.role {
            return Progress::default();
        }
        self.role = role;
        self.role_changed = true;
        if role.1 == StateRole::Leader {
            self.term_start = self.raw.raft.raft_log.last_index();
        }
        if self.ahead.is_some() {
            return self.rebuild(machine);
        }
        Progress::default()
    }

    /// Applies a committed conf change to raft's configuration and the store's, and notes it.
    fn apply_membership(&mut self, entry: &Entry) -> Result<(), String> {
        let Some((cc, change)) = membership::decode(entry)? else { return Ok(()) };
        let conf = self.raw.apply_conf_change(&cc).map_err(|e| format!("entry {}: {e}", entry.index))?;
        self.raw.mut_store().set_conf_state(conf);
        self.changes.push(Applied { change, index: entry.index });
        Ok(())
    }

    /// The machine again from the committed, applied prefix of the log.
    fn rebuild(&mut self, machine: &mut Machine) -> Progress {
        self.ahead = None;
        match machine_at(self.raw.store(), self.applied, read_image) {
            Ok(rebuilt) => *machine = rebuilt,
            // The prefix applied once already; failing now would be a bug in `apply`.
            Err(err) => crate::log::info!("rebuilding the state from the raft log failed: {err}"),
        }
        Progress { rebuilt: true, ..Progress::default() }
    }
}

/// The bytes of the entries after the store's snapshot up to `through`.
fn tail_bytes(store: &LogStore, through: u64) -> u64 {
    store.tail(through).iter().map(|entry| entry.data.len() as u64).sum()
}

fn is_conf_change(entry: &Entry) -> bool {
    entry.get_entry_type() != EntryType::EntryNormal
}

/// The records an entry carries (none for raft's own empty entries).
pub fn decode(entry: &Entry) -> Result<Vec<Record>, String> {
    if entry.data.is_empty() || entry.get_entry_type() != EntryType::EntryNormal {
        return Ok(Vec::new());
    }
    serde_json::from_slice::<Payload>(&entry.data)
        .map(|payload| payload.records)
        .map_err(|e| format!("entry {} does not decode: {e}", entry.index))
}

/// The machine as of committed index `through`: the store's snapshot image (read with `parse`:
/// on several threads at a start, on this one in a forked child), then the entries after it.
pub fn machine_at(
    store: &LogStore,
    through: u64,
    parse: fn(&[u8]) -> Result<Machine, ApplyError>,
) -> Result<Machine, String> {
    let mut machine = match store.offset() {
        0 => Machine::new(),
        index => parse(&store.latest_snapshot().data).map_err(|e| format!("snapshot at {index}: {}", e.0))?,
    };
    for entry in store.tail(through) {
        for record in decode(entry)? {
            machine.apply(&record).map_err(|e| format!("entry {}: {e}", entry.index))?;
        }
    }
    Ok(machine)
}

/// At most this many notifications per group for what a leader's snapshot brought (the newest;
/// a client that sees the jump in `seq` catches up with `subscribe {after}`).
const INSTALL_EVENTS_MAX: u64 = 10_000;

/// Each group's sequence number (its newest history entry).
pub fn group_seqs(machine: &Machine) -> std::collections::HashMap<GroupId, u64> {
    machine.groups().iter().map(|(id, group)| (id, group.history.seq())).collect()
}

/// The notifications for every history entry newer than `seqs` (a group not in it: all of its
/// entries), as applying those records one by one would have made: what members online here must
/// hear after a leader's snapshot replaced the machine.
pub fn events_since(machine: &Machine, seqs: &std::collections::HashMap<GroupId, u64>) -> Vec<Event> {
    let mut events = Vec::new();
    for (group, state) in machine.groups().iter() {
        let seq = state.history.seq();
        let from = seqs.get(&group).copied().unwrap_or(0).max(seq.saturating_sub(INSTALL_EVENTS_MAX));
        let entries = match state.history.after(from, INSTALL_EVENTS_MAX as usize) {
            Ok((entries, _)) => entries,
            Err(oldest) => state
                .history
                .after(oldest.saturating_sub(1), INSTALL_EVENTS_MAX as usize)
                .map_or(Vec::new(), |(e, _)| e),
        };
        events.extend(entries.iter().map(|entry| Event { group, notice: Notice::History { entry: entry.id } }));
    }
    events
}

/// The notification a just-applied record makes in `group`: the group's newest history entry.
fn event_of(machine: &Machine, group: GroupId) -> Option<Event> {
    let entry = machine.groups().get(group)?.history.entries().last()?.id;
    Some(Event { group, notice: Notice::History { entry } })
}

/// The groups whose history `record` adds to, read before it is applied: a deleted account leaves
/// every group it was in.
fn record_groups(machine: &Machine, record: &Record) -> Vec<GroupId> {
    match record {
        Record::AccountDeleted { user, .. } => machine.users().get(*user).map(|u| u.groups.clone()).unwrap_or_default(),
        record => record.group().into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_beyond_an_emptied_log_commits_nothing_and_does_not_panic() {
        let (mut replica, mut machine) =
            Replica::start(3, LogStore::new(&[1, 2, 3]), &super::super::discard_logger()).expect("start");
        let mut heartbeat = Message { from: 1, to: 3, term: 2, commit: 588, ..Message::default() };
        heartbeat.set_msg_type(MessageType::MsgHeartbeat);
        replica.step(&mut machine, heartbeat);
        assert_eq!((replica.commit_index(), replica.leader()), (0, Some(1)));
    }
}
