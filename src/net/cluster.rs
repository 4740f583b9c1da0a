//! The loop's hooks into cluster mode (`crate::cluster`): peer events, the once-a-turn raft work,
//! admitting a command (followers answer `not_leader`), proposing a command's records instead of
//! appending them to the local log, and the hold condition — in cluster mode output waits until the
//! raft entry it shows is committed and applied, as it waits for the fsync on a single node.
//!
//! Without `--peers` (`cluster` is `None`) every hook is the single node's behaviour.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpListener;
use mio::{Poll, Waker};

use serde_json::Value;

use super::{mark_dirty, Server, PEER_BASE, PEER_LISTENER};
use crate::cluster::membership::AdminRequest;
use crate::cluster::node::Node;
use crate::cluster::replica::Progress;
use crate::config::Config;
use crate::log;
use crate::machine::{Command, Machine, Record, UserId};
use crate::proto;

/// In cluster mode, this server as a member: its raft log and snapshot replayed into the machine
/// (which must come from an empty single-node directory), the peer listener bound; `waker` wakes
/// the loop when a raft log write is done. Without `--peers`: no member, `machine` as it is.
pub(super) fn start_member(
    config: &Config,
    poll: &Poll,
    listener: &TcpListener,
    waker: Arc<Waker>,
    machine: Machine,
) -> io::Result<(Option<Node>, Machine)> {
    let Some(cluster) = &config.cluster else { return Ok((None, machine)) };
    if !machine.users().is_empty() {
        // Its single-node log would be ignored: refuse rather than hide that state.
        let why = "the data directory holds single-node state; cluster mode starts from an empty one";
        return Err(io::Error::other(why));
    }
    let own_client = listener.local_addr()?.to_string();
    let wake = move || {
        let _ = waker.wake();
    };
    let tokens = (PEER_LISTENER, PEER_BASE);
    let (node, replayed) =
        Node::start(cluster, &config.data_dir, own_client, poll.registry(), tokens, wake).map_err(io::Error::other)?;
    Ok((Some(node), replayed))
}

impl Server {
    /// `(needed, done)`: output rendered now may leave once `done` reaches `needed` (log batches on a
    /// single node; raft indices, visible and applied, in a cluster).
    pub(super) fn hold_marks(&self) -> (u64, u64) {
        match &self.cluster {
            Some(node) => (node.visible(), node.applied()),
            None => (self.store.needed(), self.store.durable()),
        }
    }

    /// A command's records: to the local log, or proposed to the cluster.
    pub(super) fn persist_records(&mut self, records: &[Record]) {
        let Some(node) = self.cluster.as_mut() else {
            return self.store.append(records);
        };
        node.propose(records);
    }

    /// Refuses a command this member may not run now, writing the `not_leader` answer.
    pub(super) fn cluster_refuses(&mut self, key: usize, command: &Command, stale: bool, id: Option<&Value>) -> bool {
        let Some(node) = &self.cluster else { return false };
        let Some(conn) = self.conns.get(key) else { return true };
        let known = match command {
            Command::Login(credentials) => self.machine.users().find(&credentials.username).is_some(),
            Command::ResumeSession { secret } => self.machine.tokens().get(&secret.hash()).is_some(),
            _ => true,
        };
        let Some(not_here) = node.admit(command, stale, (&conn.session, known)) else { return false };
        self.refuse(key, id.cloned(), &proto::Error::not_leader(not_here.message, not_here.leader));
        true
    }

    /// Answers `cluster_status` (logged-in users only, like every other read).
    pub(super) fn cluster_status(&mut self, key: usize, id: Option<&Value>) {
        let Some(node) = &self.cluster else { return };
        let Some(conn) = self.conns.get_mut(key) else { return };
        if conn.session.user.is_none() {
            let error = proto::Error::new(proto::Code::NotAuthenticated, "Not logged in");
            proto::write_error(&error, id, conn.output_mut());
        } else {
            conn.output_mut().extend_from_slice(&node.status(id));
        }
        mark_dirty(&mut self.dirty, conn, key);
    }

    /// Answers `cluster_add` / `cluster_remove` (the admin key is their authority, not a login).
    pub(super) fn cluster_admin(&mut self, key: usize, request: Result<AdminRequest, String>, id: Option<&Value>) {
        let Some(node) = self.cluster.as_mut() else { return };
        let reply = node.admin(request, id);
        let Some(conn) = self.conns.get_mut(key) else { return };
        conn.output_mut().extend_from_slice(&reply);
        mark_dirty(&mut self.dirty, conn, key);
    }

    pub(super) fn cluster_event(&mut self, token: mio::Token) {
        let Some(node) = self.cluster.as_mut() else { return };
        let progress = node.on_event(self.poll.registry(), token, &mut self.machine);
        self.after_progress(progress);
    }

    /// Once a turn: raft's tick, persistence, messages and applied entries; held output released.
    pub(super) fn cluster_turn(&mut self) -> io::Result<()> {
        let Some(node) = self.cluster.as_mut() else { return Ok(()) };
        let progress = node.turn(self.poll.registry(), &mut self.machine, Instant::now()).map_err(|err| {
            log::info!("FATAL: cluster: {err}; stopping without acknowledging what it held");
            io::Error::other(err)
        })?;
        self.after_progress(progress);
        self.release_durable();
        Ok(())
    }

    /// Whether ready connections wait a moment: a leader about to snapshot lets its proposals
    /// commit first (`cluster::taking`); peers' messages and log writes still wake the loop.
    pub(super) fn cluster_holds_commands(&self) -> bool {
        self.cluster.as_ref().is_some_and(|node| node.holds_commands())
    }

    /// The next raft tick, for the poll timeout.
    pub(super) fn cluster_wake(&self) -> Option<Instant> {
        self.cluster.as_ref().map(|node| node.next_tick())
    }

    /// Notifications for entries applied here; after a rebuild, the output that showed proposals
    /// which may never commit is never sent: those connections close, as a leader crash would.
    fn after_progress(&mut self, progress: Progress) {
        for event in &progress.events {
            self.fan_out(usize::MAX, event);
        }
        for &user in &progress.ended {
            self.end_revoked_sessions(user);
        }
        if progress.installed.is_some() {
            // A snapshot replaced the state wholesale: any login may have lost its token.
            let users: Vec<UserId> = self.online.keys().copied().collect();
            for user in users {
                self.end_revoked_sessions(user);
            }
        }
        if !progress.rebuilt {
            return;
        }
        self.release_durable();
        self.held.clear();
        let unsent: Vec<usize> =
            self.conns.iter().filter(|(_, c)| !c.is_closed() && !c.releasable_all()).map(|(key, _)| key).collect();
        if !unsent.is_empty() {
            log::info!(
                "leadership lost with uncommitted writes; closing {} connections without their replies",
                unsent.len()
            );
        }
        for key in unsent {
            self.close(key);
        }
    }

    /// At shutdown: a single node makes everything durable and releases it; a member releases only
    /// what is applied (the rest is not committed) and writes no snapshot (its state is the raft log).
    pub(super) fn release_for_shutdown(&mut self) -> io::Result<()> {
        if self.cluster.is_some() {
            self.release_durable();
            self.held.clear();
            return Ok(());
        }
        self.store.commit().map_err(super::commit::fatal)?;
        self.held.clear();
        for (_, conn) in self.conns.iter_mut() {
            conn.release_all();
        }
        Ok(())
    }
}
