//! Notifications and presence: who is online on which connections (the `online` map), queueing an
//! event to every online member of its group, and taking offline the logins a change ended.
//!
//! Owns the `online` map and the output cap on fan-out (`--max-output-bytes`). Does not decide what
//! an event says (`proto::write_event`) or when the queued bytes may leave (`commit`).

use std::time::Instant;

use super::{mark_dirty, Server};
use crate::log::{self, Limit};
use crate::machine::{Event, UserId};
use crate::proto;

impl Server {
    /// Queues `event` to every online connection of every member of its group, except the actor's.
    /// The message is rendered (and serialised) once, and only when someone will receive it.
    pub(super) fn fan_out(&mut self, actor: usize, event: &Event) {
        let recipients = &mut self.recipients;
        recipients.clear();
        for member in self.machine.members(event.group) {
            let Some(keys) = self.online.get(member) else {
                continue;
            };
            recipients.extend(keys.iter().copied().filter(|&key| key != actor));
        }
        if recipients.is_empty() {
            return;
        }
        let mut bytes = Vec::new();
        if !proto::write_event(&self.machine, event, &mut bytes) {
            return;
        }
        bytes.push(b'\n');
        let output_max = self.config.output_bytes_max;
        let mut overflowed = Vec::new();
        for &key in self.recipients.iter() {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if conn.is_closed() {
                continue;
            }
            conn.output_mut().extend_from_slice(&bytes);
            if conn.output_pending() > output_max {
                overflowed.push(key);
            }
            mark_dirty(&mut self.dirty, conn, key);
        }
        for key in overflowed {
            log::limit!(Limit::OutputMax, "closing a client whose unread output passed {output_max} bytes");
            self.close(key);
        }
    }

    /// A connection's login changed (login, logout, or a login as someone else): move it in `online`.
    /// Without a login, the time-to-log-in clock starts again.
    pub(super) fn change_presence(&mut self, key: usize, before: Option<UserId>, after: Option<UserId>) {
        if after.is_none() {
            if let Some(conn) = self.conns.get_mut(key) {
                conn.restart_login_clock(Instant::now());
            }
            self.watch_login(key);
        }
        if let Some(user) = before {
            self.go_offline(user, key);
        }
        if let Some(user) = after {
            self.online.entry(user).or_default().push(key);
        }
    }

    /// A change may have ended `user`'s logins elsewhere (a revoked token, a changed password, a
    /// deleted account): each of their online connections whose login the machine says is over goes
    /// offline, so it hears no more notifications (its next request gets `not_authenticated`).
    pub(super) fn end_revoked_sessions(&mut self, user: UserId) {
        let keys = self.online.get(&user).cloned().unwrap_or_default();
        for key in keys {
            let Some(conn) = self.conns.get_mut(key) else { continue };
            if self.machine.end_revoked(&mut conn.session) {
                self.change_presence(key, Some(user), None);
            }
        }
    }

    pub(super) fn go_offline(&mut self, user: UserId, key: usize) {
        if let Some(keys) = self.online.get_mut(&user) {
            keys.retain(|&k| k != key);
            if keys.is_empty() {
                self.online.remove(&user);
            }
        }
    }
}
