//! Reads that need more than a membership check (most reads are one line in
//! `Machine::execute_as`: the answer names the group, and the protocol layer shows it).

use crate::machine::{Answer, Error, History, Machine, Outcome, UserId};

impl Machine {
    /// A page of the group's history, newest first, of entries older than `before`.
    pub(in crate::machine) fn history(&self, user: UserId, history: History) -> Result<Outcome, Error> {
        let (id, entry) = self.member_group(user, &history.group)?;
        let (page, more) = entry.history.page(history.before, history.limit);
        let entries = page.iter().map(|e| e.id).collect();
        Ok(Outcome::answer(Answer::History { group: id, entries, more }))
    }
}
