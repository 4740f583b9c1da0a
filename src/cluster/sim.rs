//! Deterministic simulation of a three-member cluster, in the spirit of TigerBeetle's VOPR: three
//! `Replica`s (raft-rs + machine) in one process, a simulated network that drops, delays,
//! duplicates and reorders messages and partitions members, crashes that lose whatever a member
//! had not persisted, and clients that retry a script of commands against whoever leads, all
//! driven by one seed. After every step the checker asserts: at most one leader per term;
//! committed prefixes identical on all members; machines equal at equal applied index (compared
//! as `write_image` bytes, a snapshot's image among them); every acknowledged operation committed
//! where it was acknowledged. Members snapshot and compact their logs every few entries (a
//! threshold drawn per seed), so a member back from a crash or a partition often catches up by
//! installing the leader's snapshot. At the end the network heals, every member catches up, and
//! every acknowledged operation is in every machine.
//!
//! A failing seed prints the command that replays it: `SPLITD_SIM_SEED=<seed> cargo test -p splitd
//! sim -- --nocapture`. `SPLITD_SIM_SEEDS` and `SPLITD_SIM_STEPS` set how many and how long.

use std::collections::{BTreeMap, HashMap};

use raft::eraftpb::{Message, MessageType};

use super::log_store::LogStore;
use super::replica::{group_seqs, NotServing, Persist, Progress, Replica, ELECTION_TICKS};
use crate::machine::{
    AddTransaction, Command, CreateGroup, Credentials, JoinGroup, Machine, Secret, Session, SplitSpec, Step, Work,
    WorkDone, DUMMY_PASSWORD_HASH,
};
use crate::money::Cents;
use crate::store::snapshot::write_image;

const MEMBERS: u64 = 3;
const USERS: [&str; 3] = ["asha", "bilal", "chen"];

/// xorshift64*: small, fast, and the same sequence for the same seed everywhere.
struct Prng(u64);

impl Prng {
    fn new(seed: u64) -> Prng {
        Prng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// True with probability `per_mille` / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// A member's simulated disk: what its writes were as they were asked for (a copy of the store
/// each), done in order by the `sync` event, a random prefix at a time; a crash keeps only the
/// store as of the last write done (`synced`).
struct Disk {
    synced: LogStore,
    /// The writes not done yet: the `Ready` number and the store as it was to be written.
    queue: std::collections::VecDeque<(u64, LogStore)>,
    /// The last write number this member's replica was told about (numbers restart with it).
    last: u64,
}

impl Disk {
    fn new(store: LogStore) -> Disk {
        Disk { synced: store, queue: Default::default(), last: 0 }
    }

    fn write(&mut self, store: &LogStore, number: u64) {
        self.last = self.last.max(number);
        self.queue.push_back((self.last, store.clone()));
    }
}

impl Persist for Disk {
    fn persist(&mut self, store: &LogStore, _new_from: Option<u64>, number: u64, _sync: bool) -> Result<(), String> {
        self.write(store, number);
        Ok(())
    }
    /// Done at once, with every write before it.
    fn install(&mut self, store: &LogStore, number: u64) -> Result<(), String> {
        self.queue.clear();
        self.synced = store.clone();
        self.last = self.last.max(number);
        Ok(())
    }
    fn compacted(&mut self, store: &LogStore) -> Result<(), String> {
        self.write(store, self.last);
        Ok(())
    }
}

/// One step of the client script: signups, the group, joins, then expenses with unique keys and,
/// every fifth step, a login (a session token record).
fn script_command(step: usize) -> (usize, Command) {
    let credentials = |i: usize| Credentials { username: USERS[i].to_string(), password: "pw-123456".to_string() };
    match step {
        0..=2 => (step, Command::Signup(credentials(step))),
        n if is_login_step(n) => (n % 3, Command::Login(credentials(n % 3))),
        3 => (
            0,
            Command::CreateGroup(CreateGroup {
                group: "trip".into(),
                password: String::new(),
                currency: None,
                convert: None,
            }),
        ),
        4 | 5 => (step - 3, Command::JoinGroup(JoinGroup { group: "trip".into(), password: String::new() })),
        n => (
            n % 3,
            Command::AddTransaction(AddTransaction {
                group: "trip".into(),
                // In thousandths, as the decoder gives an amount without a currency.
                amount: Cents((100 + (n as i64 % 7) * 33) * 10),
                description: op_description(n),
                split: SplitSpec::Equal { members: None, include_payer: true },
                paid_by: None,
                date: None,
                key: Some(format!("key-{n}")),
                category: None,
                foreign: None,
            }),
        ),
    }
}

fn is_login_step(step: usize) -> bool {
    step > 5 && step.is_multiple_of(5)
}

fn op_description(step: usize) -> String {
    format!("op-{step}")
}

/// Runs a command on `machine` with the slow work faked (no argon2 in a simulation); a login's token
/// secret is `nonce` (drawn from the seed: a retried login gets a new token, as a real one would).
fn execute(machine: &mut Machine, session: &mut Session, command: Command, nonce: u64) -> crate::machine::Outcome {
    let mut secret = [0u8; 32];
    secret[..8].copy_from_slice(&nonce.to_le_bytes());
    match machine.execute(session, command, 1_000) {
        Step::Done(outcome) => outcome,
        Step::Offload(job) => {
            let done = match job.work {
                Work::Hash { .. } => WorkDone::Hashed(DUMMY_PASSWORD_HASH.to_string()),
                Work::Verify { .. } => WorkDone::Verified(true),
                Work::Login { .. } => WorkDone::LoginChecked(Some(Secret::from_bytes(secret))),
                Work::Rehash { .. } => WorkDone::Rehashed(Some(DUMMY_PASSWORD_HASH.to_string())),
                Work::Plan { .. } => WorkDone::Failed,
            };
            machine.resume(session, job.resume, done, 1_000)
        }
    }
}

/// A client's command in flight: acknowledged once `member` has applied `index` (with the entry
/// there still of `term`), failed if that member rebuilt or crashed first.
struct Pending {
    member: u64,
    index: u64,
    term: u64,
    step: usize,
}

struct Sim {
    seed: u64,
    rng: Prng,
    now: u64,
    replicas: BTreeMap<u64, Option<Replica>>,
    /// Each live member's machine (the replica's caller owns it, as the server does).
    machines: HashMap<u64, Machine>,
    /// Every member's disk, a crashed one's included.
    disks: HashMap<u64, Disk>,
    in_flight: Vec<(u64, Message)>,
    isolated: Option<u64>,
    script_step: usize,
    pending: Option<Pending>,
    /// Acknowledged script steps: step → (index, term).
    acked: BTreeMap<usize, (u64, u64)>,
    /// Acknowledged steps below this were checked against the committed log.
    acks_checked: usize,
    leaders: HashMap<u64, u64>,
    /// The committed log as first seen: index → (term, data).
    committed: Vec<(u64, Vec<u8>)>,
    checked: HashMap<u64, u64>,
    images: HashMap<u64, Vec<u8>>,
    /// The applied index at which each member's image was last compared.
    imaged: HashMap<u64, u64>,
    /// Members snapshot once this many applied entries follow their last snapshot.
    snapshot_every: u64,
    /// Snapshots received from a leader and installed.
    installs: usize,
    /// The script step the client stops at (the end: so the cluster can fall quiet).
    script_end: usize,
    logger: slog::Logger,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let logger = super::discard_logger();
        let voters: Vec<u64> = (1..=MEMBERS).collect();
        // Drawn apart from the main sequence, so a seed's faults and timings stay what they were.
        let snapshot_every = 2 + Prng::new(seed ^ 0x5A5A).below(8);
        let mut sim = Sim {
            seed,
            rng: Prng::new(seed),
            now: 0,
            replicas: BTreeMap::new(),
            machines: HashMap::new(),
            disks: HashMap::new(),
            in_flight: Vec::new(),
            isolated: None,
            script_step: 0,
            pending: None,
            acked: BTreeMap::new(),
            acks_checked: 0,
            leaders: HashMap::new(),
            committed: Vec::new(),
            checked: HashMap::new(),
            images: HashMap::new(),
            imaged: HashMap::new(),
            snapshot_every,
            installs: 0,
            script_end: usize::MAX,
            logger,
        };
        for id in 1..=MEMBERS {
            sim.disks.insert(id, Disk::new(LogStore::new(&voters)));
            sim.restart(id);
        }
        sim
    }

    fn fail(&self, why: String) -> ! {
        panic!(
            "simulation seed {} failed at step {}: {why}\nreplay: SPLITD_SIM_SEED={} cargo test -p splitd sim -- --nocapture",
            self.seed, self.now, self.seed
        );
    }

    /// A member's next election timeout, in the range raft-rs is configured with.
    fn election_ticks(&mut self) -> usize {
        ELECTION_TICKS.start + self.rng.below((ELECTION_TICKS.end - ELECTION_TICKS.start) as u64) as usize
    }

    fn restart(&mut self, id: u64) {
        if matches!(self.replicas.get(&id), Some(Some(_))) {
            return;
        }
        let Some(disk) = self.disks.get_mut(&id) else { return };
        disk.last = 0;
        match Replica::start(id, disk.synced.clone(), &self.logger) {
            Ok((mut replica, machine)) => {
                self.machines.insert(id, machine);
                replica.set_election_timeout(self.election_ticks());
                self.checked.insert(id, self.checked.get(&id).copied().unwrap_or(0).min(replica.applied()));
                self.replicas.insert(id, Some(replica));
            }
            Err(err) => self.fail(format!("member {id} does not restart: {err}")),
        }
    }

    /// A crash: the member's memory (raft's state, unsent messages, the machine) and its writes
    /// not done yet are gone; its disk as of the last write done stays.
    fn crash(&mut self, id: u64) {
        let Some(Some(_)) = self.replicas.insert(id, None) else { return };
        if let Some(disk) = self.disks.get_mut(&id) {
            disk.queue.clear();
        }
        if self.pending.as_ref().is_some_and(|p| p.member == id) {
            self.pending = None;
        }
    }

    fn live(&self) -> Vec<u64> {
        self.replicas.iter().filter(|(_, r)| r.is_some()).map(|(&id, _)| id).collect()
    }

    fn pick_live(&mut self) -> Option<u64> {
        let live = self.live();
        if live.is_empty() {
            return None;
        }
        Some(live[self.rng.below(live.len() as u64) as usize])
    }

    /// One random event.
    fn step(&mut self, faults: bool) {
        self.now += 1;
        let roll = self.rng.below(100);
        match roll {
            0..=39 => self.deliver(faults),
            40..=64 => {
                if let Some(id) = self.pick_live() {
                    self.with_replica(id, |r, m| r.tick(m));
                }
            }
            65..=76 => {
                if let Some(id) = self.pick_live() {
                    self.persist(id);
                }
            }
            77..=84 => {
                if let Some(id) = self.pick_live() {
                    self.sync(id);
                }
            }
            85..=96 => self.client(),
            _ if faults => self.fault(),
            _ => {}
        }
        self.check();
    }

    fn fault(&mut self) {
        match self.rng.below(4) {
            0 if self.live().len() as u64 == MEMBERS => {
                if let Some(id) = self.pick_live() {
                    self.crash(id);
                }
            }
            1 => {
                let down: Vec<u64> = self.replicas.iter().filter(|(_, r)| r.is_none()).map(|(&id, _)| id).collect();
                if let Some(&id) = down.first() {
                    self.restart(id);
                }
            }
            2 => self.isolated = Some(1 + self.rng.below(MEMBERS)),
            _ => self.isolated = None,
        }
    }

    /// Runs `f` on live member `id`, then handles what changed (role, rebuilt machine).
    fn with_replica(&mut self, id: u64, f: impl FnOnce(&mut Replica, &mut Machine) -> Progress) {
        let Some(Some(replica)) = self.replicas.get_mut(&id) else { return };
        let Some(machine) = self.machines.get_mut(&id) else { return };
        let seqs = group_seqs(machine);
        let progress = f(replica, machine);
        let role_changed = replica.take_role_change();
        self.check_announced(id, &seqs, &progress);
        if role_changed {
            let ticks = self.election_ticks();
            if let Some(Some(replica)) = self.replicas.get_mut(&id) {
                replica.set_election_timeout(ticks);
            }
        }
        self.after(id, progress);
    }

    fn after(&mut self, id: u64, progress: Progress) {
        for message in progress.messages {
            self.send(message);
        }
        if progress.installed.is_some() {
            self.installs += 1;
        }
        let Some(pending) = &self.pending else { return };
        if pending.member != id {
            return;
        }
        if progress.rebuilt {
            self.pending = None;
            return;
        }
        let Some(Some(replica)) = self.replicas.get(&id) else { return };
        if replica.applied() >= pending.index {
            let term_there = replica.store().term_of(pending.index).unwrap_or(0);
            if pending.index == 0 || term_there == pending.term {
                self.acked.insert(pending.step, (pending.index, pending.term));
                self.script_step += 1;
            }
            self.pending = None;
        }
    }

    fn persist(&mut self, id: u64) {
        let Some(Some(replica)) = self.replicas.get_mut(&id) else { return };
        let Some(machine) = self.machines.get_mut(&id) else { return };
        let Some(disk) = self.disks.get_mut(&id) else { return };
        let seqs = group_seqs(machine);
        match replica.handle_ready(machine, disk) {
            Ok(progress) => {
                self.check_announced(id, &seqs, &progress);
                self.after(id, progress);
            }
            Err(err) => self.fail(format!("member {id}: {err}")),
        }
        self.maybe_snapshot(id);
    }

    /// Every history entry a member's machine gained in a raft call (applied entries, an installed
    /// snapshot) is announced in the call's events, so members online there hear of it.
    fn check_announced(&self, id: u64, seqs: &HashMap<crate::machine::GroupId, u64>, progress: &Progress) {
        let Some(machine) = self.machines.get(&id) else { return };
        let announced: std::collections::HashSet<(crate::machine::GroupId, u64)> = progress
            .events
            .iter()
            .filter_map(|e| match e.notice {
                crate::machine::Notice::History { entry } => Some((e.group, entry)),
                _ => None,
            })
            .collect();
        for (group, now) in group_seqs(machine) {
            let before = seqs.get(&group).copied().unwrap_or(0);
            if let Some(missed) = (before + 1..=now).find(|entry| !announced.contains(&(group, *entry))) {
                self.fail(format!("member {id}: history entry {missed} of group {group:?} was never announced"));
            }
        }
    }

    /// The disk finishes a random prefix of the member's queued writes, and the member hears it.
    fn sync(&mut self, id: u64) {
        let Some(disk) = self.disks.get_mut(&id) else { return };
        if disk.queue.is_empty() {
            return;
        }
        let count = 1 + self.rng.below(disk.queue.len() as u64) as usize;
        let mut done = 0;
        for _ in 0..count {
            if let Some((number, store)) = disk.queue.pop_front() {
                disk.synced = store;
                done = number;
            }
        }
        self.with_replica(id, |r, _| r.persisted(done));
    }

    /// Once enough entries were applied since the last snapshot: a new one, the log compacted
    /// behind it. The prefix it covers is checked first (it is gone from the log afterwards), and
    /// its image is compared with the other members' machines at the same index.
    fn maybe_snapshot(&mut self, id: u64) {
        self.check_prefix(id);
        let Some(Some(replica)) = self.replicas.get_mut(&id) else { return };
        let Some(machine) = self.machines.get(&id) else { return };
        if replica.applied_since_snapshot() < self.snapshot_every {
            return;
        }
        let Some(disk) = self.disks.get_mut(&id) else { return };
        if let Err(err) = replica.take_snapshot(machine, disk) {
            self.fail(format!("member {id} cannot snapshot: {err}"));
        }
        let snapshot = replica.store().latest_snapshot();
        let (index, image) = (snapshot.get_metadata().index, snapshot.data.to_vec());
        self.compare_image(id, index, image);
    }

    fn compare_image(&mut self, id: u64, applied: u64, image: Vec<u8>) {
        match self.images.get(&applied) {
            Some(seen) if *seen != image => self.fail(format!("member {id}: machine differs at applied {applied}")),
            Some(_) => {}
            None => {
                self.images.insert(applied, image);
            }
        }
    }

    fn send(&mut self, message: Message) {
        if message.get_msg_type() == MessageType::MsgSnapshot {
            // As the server's transport does: once handed to the network, raft probes again.
            if let Some(Some(replica)) = self.replicas.get_mut(&message.from) {
                replica.report_snapshot(message.to, true);
            }
        }
        let copies = if self.rng.chance(30) { 2 } else { 1 };
        for _ in 0..copies {
            let at = self.now + self.rng.below(8);
            self.in_flight.push((at, message.clone()));
        }
    }

    /// Delivers one random due message (so reordered), or drops it.
    fn deliver(&mut self, faults: bool) {
        let due: Vec<usize> = (0..self.in_flight.len()).filter(|&i| self.in_flight[i].0 <= self.now).collect();
        if due.is_empty() {
            return;
        }
        let i = due[self.rng.below(due.len() as u64) as usize];
        let (_, message) = self.in_flight.swap_remove(i);
        let cut = self.isolated.is_some_and(|id| id == message.from || id == message.to);
        if faults && (cut || self.rng.chance(50)) {
            return;
        }
        let to = message.to;
        self.with_replica(to, move |r, m| r.step(m, message));
    }

    /// The client sends its current script command to a random member; only a serving leader runs it.
    fn client(&mut self) {
        if self.pending.is_some() || self.script_step >= self.script_end {
            return;
        }
        let Some(id) = self.pick_live() else { return };
        let (user, command) = script_command(self.script_step);
        let step = self.script_step;
        let nonce = self.rng.next();
        let Some(Some(replica)) = self.replicas.get_mut(&id) else { return };
        let Some(machine) = self.machines.get_mut(&id) else { return };
        match replica.serving() {
            Err(NotServing::NotLeader(_)) | Err(NotServing::CatchingUp) => return,
            Ok(()) => {}
        }
        // A session is the connection's, not replicated: the user id is its login.
        let user = if step > 2 {
            match machine.users().find(USERS[user]) {
                Some(id) => Some(id),
                None => self.fail(format!("leader {id} serves without acknowledged signup of {}", USERS[user])),
            }
        } else {
            None
        };
        let mut session = Session { user, ..Session::default() };
        let outcome = execute(machine, &mut session, command, nonce);
        let term = replica.term();
        let (index, progress) = if outcome.records.is_empty() {
            (Some(replica.visible()), Progress::default())
        } else {
            replica.propose(machine, outcome.records)
        };
        let term = index.and_then(|i| replica.store().entry(i).map(|e| e.term)).unwrap_or(term);
        if let Some(index) = index {
            self.pending = Some(Pending { member: id, index, term, step });
        }
        self.after(id, progress);
    }

    fn check(&mut self) {
        for id in self.live() {
            let Some(Some(replica)) = self.replicas.get(&id) else { continue };
            if replica.is_leader() {
                let term = replica.term();
                if let Some(&other) = self.leaders.get(&term) {
                    if other != id {
                        self.fail(format!("two leaders in term {term}: {other} and {id}"));
                    }
                }
                self.leaders.insert(term, id);
            }
            self.check_prefix(id);
            self.check_image(id);
        }
        let fresh: Vec<(usize, (u64, u64))> =
            self.acked.range(self.acks_checked..).map(|(&step, &at)| (step, at)).collect();
        for (step, (index, term)) in fresh {
            if index == 0 {
                continue;
            }
            match self.committed.get((index - 1) as usize) {
                Some(&(seen, _)) if seen != term => self.fail(format!(
                    "acknowledged step {step} at {index} (term {term}) but {index} committed in term {seen}"
                )),
                Some(_) => self.acks_checked = step + 1,
                None => self.fail(format!("acknowledged step {step} at {index} before anyone committed it")),
            }
        }
    }

    /// The member's committed entries agree with the committed log everyone saw before.
    fn check_prefix(&mut self, id: u64) {
        let Some(Some(replica)) = self.replicas.get(&id) else { return };
        let commit = replica.committed_persisted();
        let from = self.checked.get(&id).copied().unwrap_or(0).max(replica.store().offset());
        for index in from + 1..=commit {
            let Some(entry) = replica.store().entry(index) else { break };
            let i = (index - 1) as usize;
            if i > self.committed.len() {
                self.fail(format!("member {id} committed {index}, but nobody was seen committing {i}"));
            }
            match self.committed.get(i) {
                Some((term, data)) if *term != entry.term || *data != entry.data => {
                    let why = format!("member {id} committed a different entry at {index}");
                    self.fail(why)
                }
                Some(_) => {}
                None => self.committed.push((entry.term, entry.data.to_vec())),
            }
        }
        self.checked.insert(id, commit.max(from));
    }

    /// Machines at the same applied index are byte-for-byte equal (sampled: every 8th index).
    fn check_image(&mut self, id: u64) {
        let Some(Some(replica)) = self.replicas.get(&id) else { return };
        let applied = replica.applied();
        let sampled = applied % 8 == 0 || applied == replica.store().offset();
        if replica.visible() != applied || !sampled || self.imaged.get(&id) == Some(&applied) {
            return;
        }
        self.imaged.insert(id, applied);
        let mut image = Vec::new();
        let Some(machine) = self.machines.get(&id) else { return };
        if write_image(machine, &mut image).is_err() {
            self.fail(format!("member {id}: image does not serialise"));
        }
        self.compare_image(id, applied, image);
    }

    /// Heals everything, lets the cluster settle, and checks every member has every acknowledged op.
    fn finish(&mut self) {
        self.isolated = None;
        for id in 1..=MEMBERS {
            self.restart(id);
        }
        let target = self.script_step + 3;
        self.script_end = target;
        for _ in 0..20_000 {
            self.step(false);
            if self.script_step >= target && self.settled() {
                break;
            }
        }
        if !self.settled() {
            self.fail(format!("the healed cluster did not settle (script at {})", self.script_step));
        }
        let mut first: Option<Vec<u8>> = None;
        for id in 1..=MEMBERS {
            let mut image = Vec::new();
            let Some(machine) = self.machines.get(&id) else { continue };
            let _ = write_image(machine, &mut image);
            let mut json = Vec::new();
            let _ = crate::store::snapshot::write_json_image(machine, &mut json);
            let text = String::from_utf8_lossy(&json).into_owned();
            for step in self.acked.keys().filter(|&&s| s > 5 && !is_login_step(s)) {
                if !text.contains(&format!("\"{}\"", op_description(*step))) {
                    self.fail(format!("member {id} lacks acknowledged {}", op_description(*step)));
                }
            }
            if first.as_ref().is_some_and(|f| *f != image) {
                self.fail(format!("member {id}'s final machine differs"));
            }
            first.get_or_insert(image);
        }
    }

    /// Every member has applied the same, highest commit, and nothing is left to persist.
    fn settled(&self) -> bool {
        let replicas: Vec<&Replica> = self.replicas.values().flatten().collect();
        let top = replicas.iter().map(|r| r.commit_index()).max().unwrap_or(0);
        replicas.len() as u64 == MEMBERS
            && self.pending.is_none()
            && self.disks.values().all(|d| d.queue.is_empty())
            && replicas.iter().all(|r| r.applied() == top && r.visible() == top && !r.has_ready() && !r.writing())
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Runs one seed: `(operations acknowledged, snapshots installed)`.
fn run_seed(seed: u64, steps: u64) -> (usize, usize) {
    let mut sim = Sim::new(seed);
    for _ in 0..steps {
        sim.step(true);
    }
    sim.finish();
    if std::env::var("SPLITD_SIM_SEED").is_ok() {
        println!(
            "seed {seed}: {} steps, {} entries committed, snapshot every {}, {} snapshots installed",
            sim.now,
            sim.committed.len(),
            sim.snapshot_every,
            sim.installs
        );
    }
    (sim.acked.len(), sim.installs)
}

/// Seeds `first`, `first + stride`, ... below `seeds`: `(acknowledged, installs, seeds run)`. Bounded in
/// CI time: stops early rather than time out, saying so.
fn run_seeds(first: u64, stride: u64, seeds: u64, steps: u64) -> (usize, usize, u64) {
    let started = std::time::Instant::now();
    let (mut acked, mut installs, mut ran) = (0, 0, 0);
    for seed in (first..seeds).step_by(stride as usize) {
        let (seed_acked, seed_installs) = run_seed(seed, steps);
        acked += seed_acked;
        installs += seed_installs;
        ran += 1;
        if started.elapsed() > std::time::Duration::from_secs(45) {
            println!("simulation: time bound reached after {ran} seeds on thread {first}");
            break;
        }
    }
    (acked, installs, ran)
}

#[test]
fn sim_three_members_keep_every_acknowledged_operation() {
    let steps = env_u64("SPLITD_SIM_STEPS", 2_000);
    if let Ok(seed) = std::env::var("SPLITD_SIM_SEED") {
        let seed = seed.parse().expect("SPLITD_SIM_SEED is a number");
        let (acked, _) = run_seed(seed, steps);
        println!("seed {seed}: {acked} operations acknowledged");
        return;
    }
    let seeds = env_u64("SPLITD_SIM_SEEDS", 2000);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4) as u64;
    // Each thread runs every `threads`-th seed; a failing seed's panic fails the test with its replay line.
    let totals: Vec<(usize, usize, u64)> = std::thread::scope(|scope| {
        let runs: Vec<_> =
            (0..threads).map(|first| scope.spawn(move || run_seeds(first, threads, seeds, steps))).collect();
        runs.into_iter().map(|run| run.join().expect("a simulation thread")).collect()
    });
    let (acked, installs, ran) = totals.iter().fold((0, 0, 0), |t, r| (t.0 + r.0, t.1 + r.1, t.2 + r.2));
    assert!(acked as u64 > ran, "the clients made progress: {acked} acknowledged over {ran} seeds");
    assert!(installs as u64 > ran / 10, "members caught up by snapshot: {installs} installs over {ran} seeds");
    println!("simulation: {ran} seeds, {acked} operations acknowledged, {installs} snapshots installed");
}
