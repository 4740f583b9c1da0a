//! The recurring-expense timer: once a turn, the occurrences that came due (`Machine::run_due`),
//! persisted and notified like a command's changes — on a single node, or on the cluster's leader
//! only (a follower never proposes; the leader's records reach it through raft).
//!
//! Bounded: one call makes at most `recurring::DUE_PER_RUN_MAX` occurrences; while more are due
//! the loop does not sleep (`due_backlog`), so a long catch-up is spread over turns and never stalls
//! the connections.

use super::service::unix_millis;
use super::Server;

impl Server {
    /// Makes the occurrences due now, if this server may write.
    pub(super) fn run_due(&mut self) {
        self.due_backlog = false;
        let writer = self.cluster.as_ref().is_none_or(|node| !node.read_only() && !node.holds_commands());
        let now = unix_millis();
        if !writer || self.shutting_down || !self.machine.has_due(now) {
            return;
        }
        let outcome = self.machine.run_due(now);
        self.persist_records(&outcome.records);
        for event in &outcome.events {
            self.fan_out(usize::MAX, event);
        }
        self.due_backlog = self.machine.has_due(now);
    }
}
