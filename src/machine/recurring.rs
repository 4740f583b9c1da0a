//! Recurring expenses as state: a group's rules (schedule + the expense to make), when each is due
//! next, and the machine-wide index of what is due when.
//!
//! Days are UTC days (`calendar`); an occurrence dated D is due from 00:00 UTC of D. A rule's n-th
//! occurrence (0-based) is counted from its `start`, never from the previous one, so a monthly rule
//! on the 31st falls on the last day of shorter months and comes back to the 31st. `made` counts the
//! occurrences already made (or skipped): the next is occurrence number `made`, and an occurrence
//! record is applied only when its date is exactly that one, so none is ever made twice.
//!
//! Does not own the commands (`exec/recurring`) nor when the loop asks (`net`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use vocab::Date;

use super::calendar;
use super::ledger::Rate;
use super::{GroupId, UserId};
use crate::money::Cents;

pub type RuleId = u64;

/// Rules a group may hold at once (running or finished, until stopped): bounds `list_recurring`,
/// the snapshot and the due index.
pub const RULES_PER_GROUP_MAX: usize = 100;
/// The largest `interval` (every 1000 days, weeks, months or years).
pub const INTERVAL_MAX: u32 = 1000;
/// The largest `count`.
pub const COUNT_MAX: u32 = 100_000;
/// Occurrences one `Machine::run_due` makes at most: a daily rule started ten years ago catches up
/// over many loop turns, never in one.
pub const DUE_PER_RUN_MAX: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Every {
    Day,
    Week,
    Month,
    Year,
}

impl Every {
    pub fn parse(text: &str) -> Option<Every> {
        Some(match text {
            "day" => Every::Day,
            "week" => Every::Week,
            "month" => Every::Month,
            "year" => Every::Year,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Every::Day => "day",
            Every::Week => "week",
            Every::Month => "month",
            Every::Year => "year",
        }
    }
}

/// When a rule makes occurrences: every `interval` `every`s from `start`, until the date `until`
/// (inclusive) or `count` occurrences, whichever comes first; neither: forever.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub every: Every,
    pub interval: u32,
    /// `YYYY-MM-DD`, checked by `vocab::parse_date`.
    pub start: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

impl Schedule {
    /// The date of occurrence `n` (0-based), if the schedule has one.
    pub fn nth(&self, n: u32) -> Option<Date> {
        if self.count.is_some_and(|count| n >= count) {
            return None;
        }
        let start = vocab::parse_date(&self.start).ok()?;
        let steps = i64::from(n) * i64::from(self.interval.max(1));
        let date = match self.every {
            Every::Day => calendar::date_of(calendar::day_number(start) + steps)?,
            Every::Week => calendar::date_of(calendar::day_number(start) + 7 * steps)?,
            Every::Month => calendar::add_months(start, steps)?,
            Every::Year => calendar::add_months(start, 12 * steps)?,
        };
        match self.until.as_deref().map(vocab::parse_date) {
            Some(Ok(until)) if date > until => None,
            _ => Some(date),
        }
    }
}

/// How each occurrence is shared, by user id (the command's names resolved when the rule was made);
/// re-resolved against the members at each occurrence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sharing {
    /// `members: None`: every member at the occurrence's time.
    Equal {
        members: Option<Vec<UserId>>,
        include_payer: bool,
    },
    Exact(Vec<(UserId, Cents)>),
    /// Basis points.
    Percent(Vec<(UserId, u32)>),
    Shares(Vec<(UserId, u64)>),
}

/// The expense each occurrence makes, recorded by the rule's `by`: what an `add_transaction` would
/// carry, made into a transaction (and converted) by the same code at each occurrence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    /// In `currency`'s minor units when the rule has one, else cents of the group's currency (as
    /// `paid_by` and an exact split's amounts).
    pub amount: Cents,
    pub description: String,
    pub sharing: Sharing,
    /// `None`: the rule's `by` paid it all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_by: Option<Vec<(UserId, Cents)>>,
    /// One of the group's categories, in the list's spelling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The currency the amounts are entered in, and the rate each occurrence converts at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<RuleCurrency>,
}

/// A rule's entry currency: `add_transaction`'s `currency` and `rate`, kept for every occurrence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCurrency {
    /// ISO 4217 code: three capital letters.
    pub currency: String,
    /// `None`: no rate given (a group that converts at settlement, or the group's own currency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
}

/// One rule of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// The group's own numbering: 1, 2, 3..., never reused.
    pub id: RuleId,
    /// Who made it: the recorder of its occurrences.
    pub by: UserId,
    pub created_at: i64,
    pub schedule: Schedule,
    pub template: Template,
    /// Occurrences made (or skipped) so far: the next is number `made`.
    #[serde(default)]
    pub made: u32,
}

impl Rule {
    /// The date of the next occurrence; `None` once the rule has run its course.
    pub fn next_date(&self) -> Option<Date> {
        self.schedule.nth(self.made)
    }

    /// The UTC day number of the next occurrence (the due index's key).
    pub fn next_day(&self) -> Option<i64> {
        self.next_date().map(calendar::day_number)
    }
}

/// A group's rules and the next id to give.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    pub next_id: RuleId,
    pub rules: BTreeMap<RuleId, Rule>,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules { next_id: 1, rules: BTreeMap::new() }
    }
}

impl Rules {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.next_id == 1
    }
}

/// Every running rule's next occurrence, earliest first: `(day, group, rule)`. Derived from the
/// groups' rules as they change (and rebuilt from an image), never stored.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DueIndex {
    due: BTreeSet<(i64, GroupId, RuleId)>,
}

impl DueIndex {
    /// Moves `rule`'s entry from its old next day to its new one.
    pub fn update(&mut self, group: GroupId, rule: RuleId, old: Option<i64>, new: Option<i64>) {
        if let Some(day) = old {
            self.due.remove(&(day, group, rule));
        }
        if let Some(day) = new {
            self.due.insert((day, group, rule));
        }
    }

    /// The earliest occurrence due on or before `today`.
    pub fn first_due(&self, today: i64) -> Option<(GroupId, RuleId)> {
        self.due.first().filter(|(day, _, _)| *day <= today).map(|&(_, group, rule)| (group, rule))
    }

    pub fn len(&self) -> usize {
        self.due.len()
    }

    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }
}
