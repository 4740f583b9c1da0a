//! Reads that need more than a membership check (most reads are one line in
//! `Machine::execute_as`: the answer names the group, and the protocol layer shows it): history pages,
//! and catching up after a reconnect (`history {after}`, `subscribe`).

use crate::machine::{Answer, Error, History, Machine, Outcome, UserId};

impl Machine {
    /// A page of the group's history, newest first, of entries older than `before`.
    pub(in crate::machine) fn history(&self, user: UserId, history: History) -> Result<Outcome, Error> {
        if history.after.is_some() {
            return self.catch_up(user, history, false);
        }
        let (id, entry) = self.member_group(user, &history.group)?;
        let (page, more) = entry.history.page(history.before, history.limit);
        let entries = page.iter().map(|e| e.id).collect();
        Ok(Outcome::answer(Answer::History { group: id, entries, more }))
    }

    /// `subscribe {group, after}`: the entries after `after`, oldest first. Live notifications reach a
    /// member's connections anyway; what follows this reply on the connection is exactly the changes
    /// after the reply's `seq`, because both are written in the same loop turn.
    pub(in crate::machine) fn subscribe(&self, user: UserId, history: History) -> Result<Outcome, Error> {
        self.catch_up(user, history, true)
    }

    /// Entries newer than `after` (0 when absent), or `Gap` once some of them are no longer kept.
    fn catch_up(&self, user: UserId, history: History, subscribe: bool) -> Result<Outcome, Error> {
        let (id, entry) = self.member_group(user, &history.group)?;
        let (page, more) =
            entry.history.after(history.after.unwrap_or(0), history.limit).map_err(|oldest| Error::Gap { oldest })?;
        let entries = page.iter().map(|e| e.id).collect();
        Ok(Outcome::answer(Answer::CatchUp { group: id, entries, more, subscribe }))
    }
}
