//! Recurring expenses: `add_recurring`, `edit_recurring`, `stop_recurring`, the occurrences the
//! loop's timer asks for (`run_due`), and the `apply` of their records.
//!
//! An occurrence is made exactly once per (rule, date): it is a `TransactionAdded` naming its rule
//! and date, and `apply` takes it only when that date is the rule's next one (`made` then moves on);
//! the same occurrence proposed again (a retry after a crash, an old and a new leader) is a no-op.
//! An occurrence that would name someone who is no longer a member (the maker, a person sharing, a
//! payer) is not made: the rule stops instead, with a history entry naming who is missing.
//!
//! A rule keeps what an `add_transaction` would carry — its amounts as entered (in its `currency`'s
//! minor units when it names one, with its `rate`) and its `category` — and each occurrence is made
//! from that by `new_transaction`, as a hand-entered expense is: converted then (`convert_add`,
//! exact, so the same every time), its category checked against the group's list.

use super::currency::{edit_rule_currency, to_group_decimals};
use crate::machine::calendar;
use crate::machine::exec::expenses::check_description;
use crate::machine::groups::Group;
use crate::machine::history::Activity;
use crate::machine::recurring::{Rule, RuleCurrency, RuleId, Sharing, Template, DUE_PER_RUN_MAX, RULES_PER_GROUP_MAX};
use crate::machine::{
    misfit, AddRecurring, AddTransaction, Answer, ApplyError, Done, EditRecurring, Error, ForeignSpec, GroupId,
    Invalid, Machine, Millis, Outcome, Record, SplitSpec, UserId,
};
use crate::money::Cents;

impl Machine {
    pub(in crate::machine) fn add_recurring(
        &mut self,
        user: UserId,
        mut add: AddRecurring,
        now: Millis,
    ) -> Result<Outcome, Error> {
        let (id, entry) = self.member_group(user, &add.group)?;
        if add.foreign.is_none() {
            // In the group's currency, read at the wire's decimals: kept in the group's own.
            to_group_decimals(entry, Some(&mut add.amount), add.paid_by.as_mut(), Some(&mut add.split))?;
        }
        if entry.rules.rules.len() >= RULES_PER_GROUP_MAX {
            return Err(Error::TooManyRules);
        }
        check_end(&add.schedule.start, add.schedule.until.as_deref())?;
        let sharing = self.sharing_of(entry, &add.split)?;
        let paid_by = match &add.paid_by {
            None => None,
            Some(list) => Some(self.paid_ids(entry, list)?),
        };
        let currency = match add.foreign {
            None => None,
            // The decoder gives `add_recurring` a currency whenever it gives a rate.
            Some(spec) => Some(RuleCurrency { currency: spec.currency.ok_or(Error::Internal)?, rate: spec.rate }),
        };
        let mut template = Template {
            amount: add.amount,
            description: add.description,
            sharing,
            paid_by,
            category: add.category,
            currency,
        };
        // The first occurrence must be possible as the group is now; the category is kept in the
        // group list's spelling, as a transaction's.
        template.category = self.template_transaction(entry, user, &template, now)?.category;
        let rule =
            Rule { id: entry.rules.next_id, by: user, created_at: now, schedule: add.schedule, template, made: 0 };
        let answer = Answer::Rule { done: Done::RecurringAdded, group: id, rule: rule.id };
        self.commit(id, Record::RuleAdded { group: id, rule, seq: None }, answer)
    }

    /// Changes what the occurrences still to come make, and when the rule ends.
    pub(in crate::machine) fn edit_recurring(
        &mut self,
        user: UserId,
        mut edit: EditRecurring,
        now: Millis,
    ) -> Result<Outcome, Error> {
        let (id, entry) = self.member_group(user, &edit.group)?;
        let old = entry.rules.rules.get(&edit.id).ok_or(Error::RuleNotFound)?;
        let spec = edit.foreign.take();
        if spec.as_ref().and_then(|s| s.currency.as_ref()).is_none() && old.template.currency.is_none() {
            // Amounts in the group's currency, read at the wire's decimals (as add_recurring's).
            to_group_decimals(entry, edit.amount.as_mut(), edit.paid_by.as_mut(), edit.split.as_mut())?;
        }
        let currency = edit_rule_currency(old.template.currency.as_ref(), spec, &mut edit)?;
        let amount = edit.amount.unwrap_or(old.template.amount);
        if let Some(description) = &edit.description {
            check_description(description)?;
        }
        let sharing = match &edit.split {
            Some(spec) => self.sharing_of(entry, spec)?,
            None => old.template.sharing.clone(),
        };
        let paid_by = match (&edit.paid_by, &old.template.paid_by) {
            (Some(list), _) => Some(self.paid_ids(entry, list)?),
            (None, kept) if amount == old.template.amount => kept.clone(),
            (None, None) => None,
            (None, Some(kept)) => match kept.as_slice() {
                [(payer, _)] => Some(vec![(*payer, amount)]),
                _ => return Err(Invalid::PayersNeeded.into()),
            },
        };
        let description = edit.description.unwrap_or_else(|| old.template.description.clone());
        let mut schedule = old.schedule.clone();
        schedule.until = edit.until.unwrap_or(schedule.until);
        schedule.count = edit.count.unwrap_or(schedule.count);
        check_end(&schedule.start, schedule.until.as_deref())?;
        let category = edit.category.unwrap_or_else(|| old.template.category.clone());
        let mut template = Template { amount, description, sharing, paid_by, category, currency };
        template.category = self.template_transaction(entry, old.by, &template, now)?.category;
        let rule = Rule { schedule, template, ..old.clone() };
        let answer = |done| Answer::Rule { done, group: id, rule: rule.id };
        if rule == *old {
            return Ok(Outcome::answer(answer(Done::RecurringUnchanged)));
        }
        let answer = answer(Done::RecurringEdited);
        self.commit(id, Record::RuleEdited { group: id, rule, by: user, at: now, seq: None }, answer)
    }

    pub(in crate::machine) fn stop_recurring(
        &mut self,
        user: UserId,
        group: &str,
        rule: RuleId,
        now: Millis,
    ) -> Result<Outcome, Error> {
        let (id, entry) = self.member_group(user, group)?;
        if !entry.rules.rules.contains_key(&rule) {
            return Err(Error::RuleNotFound);
        }
        let record = Record::RuleStopped { group: id, rule, by: user, at: now, missing: None, seq: None };
        self.commit(id, record, Answer::Done(Done::RecurringStopped))
    }

    /// Makes the occurrences due by `now` (UTC days: one dated D is due from 00:00 UTC of D), earliest
    /// first, at most `DUE_PER_RUN_MAX` (the caller asks again while `has_due`). The loop calls this on
    /// its timer, on a single node or the cluster's leader only; the records are persisted and the
    /// events fanned out like a command's.
    pub fn run_due(&mut self, now: Millis) -> Outcome {
        let mut outcome = Outcome::done(Done::RecurringAdded);
        let today = calendar::today(now);
        for _ in 0..DUE_PER_RUN_MAX {
            let Some((group, rule)) = self.due.first_due(today) else { break };
            let Some(record) = self.occurrence(group, rule, now) else { break };
            match self.commit(group, record, Answer::Done(Done::RecurringAdded)) {
                Ok(made) => {
                    outcome.records.extend(made.records);
                    outcome.events.extend(made.events);
                }
                // A bug (the record did not apply): nothing changed; stop rather than spin on it.
                Err(_) => break,
            }
        }
        outcome
    }

    /// Whether an occurrence is due by `now` (cheap: the earliest in the index).
    pub fn has_due(&self, now: Millis) -> bool {
        self.due.first_due(calendar::today(now)).is_some()
    }

    /// The record the next occurrence of `rule` makes: the transaction, or — when it would name
    /// someone who is no longer a member, or no longer fits — the rule's stop.
    fn occurrence(&self, group: GroupId, rule: RuleId, now: Millis) -> Option<Record> {
        let entry = self.groups.get(group)?;
        let rule = entry.rules.rules.get(&rule)?;
        let date = rule.next_date()?;
        let stop = |missing| Record::RuleStopped { group, rule: rule.id, by: rule.by, at: now, missing, seq: None };
        if let Some(missing) = people(rule).find(|&u| !entry.is_member(u)) {
            return Some(stop(Some(missing)));
        }
        match self.template_transaction(entry, rule.by, &rule.template, now) {
            Ok(mut txn) => {
                txn.date = Some(date.to_string());
                txn.rule = Some(rule.id);
                Some(Record::TransactionAdded { group, txn, seq: None })
            }
            Err(_) => Some(stop(None)),
        }
    }

    /// The transaction `template` makes for `by` as the group is now.
    fn template_transaction(
        &self,
        entry: &Group,
        by: UserId,
        template: &Template,
        now: Millis,
    ) -> Result<crate::machine::Transaction, Error> {
        let name = |u: UserId| self.users.name(u).to_string();
        let named = |list: &[(UserId, Cents)]| list.iter().map(|&(u, c)| (name(u), c)).collect();
        let split = match &template.sharing {
            Sharing::Equal { members, include_payer } => SplitSpec::Equal {
                members: members.as_ref().map(|list| list.iter().map(|&u| name(u)).collect()),
                include_payer: *include_payer,
            },
            Sharing::Exact(list) => SplitSpec::Exact(named(list)),
            Sharing::Percent(list) => SplitSpec::Percent(list.iter().map(|&(u, bp)| (name(u), bp)).collect()),
            Sharing::Shares(list) => SplitSpec::Shares(list.iter().map(|&(u, w)| (name(u), w)).collect()),
        };
        let mut add = AddTransaction {
            group: entry.name.clone(),
            amount: template.amount,
            description: template.description.clone(),
            split,
            paid_by: template.paid_by.as_deref().map(named),
            date: None,
            key: None,
            category: template.category.clone(),
            foreign: template
                .currency
                .as_ref()
                .map(|c| ForeignSpec { currency: Some(c.currency.clone()), rate: c.rate }),
        };
        self.new_transaction(entry, by, &mut add, now)
    }

    /// A split as a rule keeps it: names resolved to current members.
    fn sharing_of(&self, entry: &Group, spec: &SplitSpec) -> Result<Sharing, Error> {
        let id = |name: &String| self.resolve_member(entry, name);
        Ok(match spec {
            SplitSpec::Equal { members, include_payer } => Sharing::Equal {
                members: match members {
                    None => None,
                    Some(names) => Some(names.iter().map(id).collect::<Result<_, _>>()?),
                },
                include_payer: *include_payer,
            },
            SplitSpec::Exact(list) => Sharing::Exact(self.paid_ids(entry, list)?),
            SplitSpec::Percent(list) => {
                Sharing::Percent(list.iter().map(|(n, bp)| Ok((id(n)?, *bp))).collect::<Result<_, Error>>()?)
            }
            SplitSpec::Shares(list) => {
                Sharing::Shares(list.iter().map(|(n, w)| Ok((id(n)?, *w))).collect::<Result<_, Error>>()?)
            }
        })
    }

    fn paid_ids(&self, entry: &Group, list: &[(String, Cents)]) -> Result<Vec<(UserId, Cents)>, Error> {
        list.iter().map(|(name, cents)| Ok((self.resolve_member(entry, name)?, *cents))).collect()
    }

    /// An occurrence record that is not its rule's next one: the rule is gone or has run its course,
    /// or that date was made already. `apply` takes it as a no-op (deterministically, on every
    /// member), so one occurrence proposed twice is made once.
    pub(in crate::machine) fn is_stale_occurrence(&self, record: &Record) -> bool {
        let Record::TransactionAdded { group, txn, .. } = record else { return false };
        let Some(rule) = txn.rule else { return false };
        let next = self.groups.get(*group).and_then(|g| g.rules.rules.get(&rule)).and_then(Rule::next_date);
        next.map(|date| date.to_string()) != txn.date
    }

    /// An occurrence of `rule` was applied: the next one is due.
    pub(in crate::machine) fn advance_rule(&mut self, group: GroupId, rule: RuleId) {
        let Some(entry) = self.groups.get_mut(group).and_then(|g| g.rules.rules.get_mut(&rule)) else { return };
        let old = entry.next_day();
        entry.made = entry.made.saturating_add(1);
        self.due.update(group, rule, old, entry.next_day());
    }

    pub(in crate::machine) fn apply_recurring(&mut self, record: &Record) -> Result<(), ApplyError> {
        let (group, at, by, what) = match record {
            Record::RuleAdded { group, rule, .. } => {
                let Some(entry) = self.groups.get_mut(*group) else { return misfit("unknown group") };
                if rule.id != entry.rules.next_id || vocab::parse_date(&rule.schedule.start).is_err() {
                    return misfit("a rule out of order or with a bad start");
                }
                entry.rules.next_id = rule.id + 1;
                entry.rules.rules.insert(rule.id, rule.clone());
                self.due.update(*group, rule.id, None, rule.next_day());
                (*group, rule.created_at, rule.by, Activity::RuleAdded { rule: Box::new(rule.clone()) })
            }
            Record::RuleEdited { group, rule, by, at, .. } => {
                let Some(entry) = self.groups.get_mut(*group) else { return misfit("unknown group") };
                let Some(current) = entry.rules.rules.get_mut(&rule.id) else { return misfit("unknown rule") };
                let old = current.next_day();
                // What was made and who made the rule are the state's.
                *current = Rule { made: current.made, by: current.by, created_at: current.created_at, ..rule.clone() };
                let after = current.clone();
                self.due.update(*group, rule.id, old, after.next_day());
                (*group, *at, *by, Activity::RuleEdited { rule: Box::new(after) })
            }
            Record::RuleStopped { group, rule, by, at, missing, .. } => {
                let Some(entry) = self.groups.get_mut(*group) else { return misfit("unknown group") };
                let Some(stopped) = entry.rules.rules.remove(rule) else { return misfit("unknown rule") };
                self.due.update(*group, *rule, stopped.next_day(), None);
                (*group, *at, *by, Activity::RuleStopped { rule: *rule, missing: *missing })
            }
            _ => return misfit("not a recurring record"),
        };
        if let Some(entry) = self.groups.get_mut(group) {
            entry.history.push(at, by, what);
        }
        Ok(())
    }

    /// Rebuilds the due index from the groups' rules (after loading an image).
    pub(in crate::machine) fn rebuild_due(&mut self) {
        self.due = Default::default();
        for (group, entry) in self.groups.iter() {
            for rule in entry.rules.rules.values() {
                self.due.update(group, rule.id, None, rule.next_day());
            }
        }
    }

    /// The due index says exactly what the rules say.
    pub(in crate::machine) fn check_due_index(&self) -> Result<(), String> {
        let mut expected = crate::machine::recurring::DueIndex::default();
        for (group, entry) in self.groups.iter() {
            for rule in entry.rules.rules.values() {
                expected.update(group, rule.id, None, rule.next_day());
            }
        }
        if expected != self.due {
            return Err("the recurring due index disagrees with the rules".into());
        }
        Ok(())
    }
}

/// Everyone an occurrence names: the maker (its recorder), the people sharing, the payers.
fn people(rule: &Rule) -> impl Iterator<Item = UserId> + '_ {
    let sharing: Vec<UserId> = match &rule.template.sharing {
        Sharing::Equal { members, .. } => members.clone().unwrap_or_default(),
        Sharing::Exact(list) => list.iter().map(|&(u, _)| u).collect(),
        Sharing::Percent(list) => list.iter().map(|&(u, _)| u).collect(),
        Sharing::Shares(list) => list.iter().map(|&(u, _)| u).collect(),
    };
    let paid = rule.template.paid_by.iter().flatten().map(|&(u, _)| u);
    std::iter::once(rule.by).chain(sharing).chain(paid)
}

/// `until`, when given, is on or after `start` (both already checked as dates).
fn check_end(start: &str, until: Option<&str>) -> Result<(), Invalid> {
    let day = |text: &str| vocab::parse_date(text).ok();
    match (day(start), until.map(day)) {
        (Some(start), Some(Some(until))) if until < start => Err(Invalid::UntilBeforeStart),
        (None, _) | (_, Some(None)) => Err(Invalid::UntilBeforeStart),
        _ => Ok(()),
    }
}
