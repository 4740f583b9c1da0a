//! Categories: `add_category` (a name added to the group's list, `Record::CategoryAdded`), the
//! check of a transaction's `category` against the list, and `stats` (the totals, computed by
//! `machine::stats`).

use crate::machine::categories::{check_category_name, CATEGORIES_ADDED_MAX};
use crate::machine::groups::Group;
use crate::machine::stats::totals;
use crate::machine::{
    misfit, Activity, Answer, ApplyError, Done, Error, Machine, Millis, Outcome, Record, Stats, UserId,
};

impl Machine {
    pub(in crate::machine) fn add_category(
        &mut self,
        user: UserId,
        group: &str,
        name: String,
        now: Millis,
    ) -> Result<Outcome, Error> {
        let (id, entry) = self.member_group(user, group)?;
        check_category_name(&name)?;
        if let Some(known) = entry.find_category(&name) {
            return Err(Error::CategoryExists { name: known.to_string() });
        }
        if entry.categories.len() >= CATEGORIES_ADDED_MAX {
            return Err(Error::TooManyCategories);
        }
        let record = Record::CategoryAdded { group: id, name, by: user, at: now, seq: None };
        self.commit(id, record, Answer::Categories { group: id, done: Some(Done::CategoryAdded) })
    }

    pub(in crate::machine) fn stats(&self, user: UserId, stats: Stats) -> Result<Outcome, Error> {
        let (id, entry) = self.member_group(user, &stats.group)?;
        let totals = totals(id, entry, stats.by, (stats.from, stats.to));
        Ok(Outcome::answer(Answer::Stats(Box::new(totals))))
    }

    pub(in crate::machine) fn apply_category(&mut self, record: &Record) -> Result<(), ApplyError> {
        let Record::CategoryAdded { group, name, by, at, .. } = record else { return misfit("not a category record") };
        let Some(entry) = self.groups.get_mut(*group) else { return misfit("unknown group") };
        if entry.find_category(name).is_some() {
            return misfit("category already in the group's list");
        }
        entry.categories.push(name.clone());
        entry.history.push(*at, *by, Activity::CategoryAdded { name: name.as_str().into() });
        Ok(())
    }
}

/// A transaction's new `category`: one of the group's (without regard to case), stored in the list's
/// spelling; `None` stays none.
pub(in crate::machine) fn check_category(entry: &Group, category: Option<String>) -> Result<Option<String>, Error> {
    let Some(name) = category else { return Ok(None) };
    match entry.find_category(&name) {
        Some(known) => Ok(Some(known.to_string())),
        None => Err(Error::UnknownCategory { name, valid: entry.category_names().map(String::from).collect() }),
    }
}
