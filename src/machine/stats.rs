//! `stats`: exact totals of one group's spending and payments over a span of days, by category, by
//! member or by month. Pure over a `Group`; the protocol layer renders the result.
//!
//! Spending is what people consumed: a transaction counts its `amount` (its category's and its
//! month's), and each member is charged their share (`owed`), never what they paid — so every
//! grouping sums to the same total. Amounts are the group currency's (`amount`/`owed` are, even for
//! an expense entered in another currency). In a group that converts at settlement, transactions
//! and payments kept in another currency are counted apart, one set of totals per currency
//! (`others`): amounts in different currencies are never added together.
//! A transaction's day is its `date` when it has one, else
//! the UTC day it was recorded on; a payment's likewise. `from` and `to` are inclusive days.

use std::collections::BTreeMap;

use super::categories::UNCATEGORIZED;
use super::command::StatsBy;
use super::groups::{Group, GroupId};
use super::UserId;

/// What `stats` answers. Sums are `i128`: they add up a whole group's amounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    pub group: GroupId,
    pub by: StatsBy,
    pub from: Option<String>,
    pub to: Option<String>,
    /// The counted transactions' amounts; every grouping's `spent` sums to it.
    pub spending: i128,
    /// The counted payments' amounts.
    pub payments: i128,
    pub transactions: u64,
    pub payment_count: u64,
    pub rows: Vec<Row>,
    /// The same totals per other currency of a group that converts at settlement, in the ledger's
    /// order, each in that currency's minor units (their own `others` empty).
    pub others: Vec<(String, Totals)>,
}

/// One row of the totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub key: Key,
    /// Consumed: the amounts (category, month) or the member's shares.
    pub spent: i128,
    /// Member only: what they paid of expenses.
    pub paid: i128,
    /// Member: payments they sent; month: every payment of the month.
    pub sent: i128,
    /// Member: payments they received.
    pub received: i128,
    /// Transactions counted in the row.
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Category(String),
    Member(UserId),
    Month(String),
}

impl Row {
    fn new(key: Key) -> Row {
        Row { key, spent: 0, paid: 0, sent: 0, received: 0, count: 0 }
    }
}

/// The totals of `group` (id `id`) over `from..=to` (days `YYYY-MM-DD`), grouped `by`: in the
/// group's currency, then in each other one it keeps.
pub fn totals(id: GroupId, group: &Group, by: StatsBy, span: (Option<String>, Option<String>)) -> Totals {
    let mut totals = totals_in(id, group, by, span.clone(), None);
    totals.others = group
        .ledger
        .others()
        .map(|(code, _)| (code.to_string(), totals_in(id, group, by, span.clone(), Some(code))))
        .collect();
    totals
}

/// `totals` of the amounts in one currency: the group's (`None`) or one kept apart.
fn totals_in(
    id: GroupId,
    group: &Group,
    by: StatsBy,
    (from, to): (Option<String>, Option<String>),
    currency: Option<&str>,
) -> Totals {
    let within = |day: &str| from.as_deref().is_none_or(|f| day >= f) && to.as_deref().is_none_or(|t| day <= t);
    let mut rows = Rows::new(group, by);
    let mut totals = Totals {
        group: id,
        by,
        from: None,
        to: None,
        spending: 0,
        payments: 0,
        transactions: 0,
        payment_count: 0,
        rows: Vec::new(),
        others: Vec::new(),
    };
    for txn in group.ledger.transactions() {
        let day = day_of(txn.date.as_deref(), txn.created_at);
        if !within(&day) || txn.settled_in() != currency {
            continue;
        }
        totals.spending += i128::from(txn.amount.0);
        totals.transactions += 1;
        match by {
            StatsBy::Category => {
                let name = txn.category.as_deref().unwrap_or(UNCATEGORIZED);
                let row = rows.category(group, name);
                row.spent += i128::from(txn.amount.0);
                row.count += 1;
            }
            StatsBy::Month => {
                let row = rows.month(&day);
                row.spent += i128::from(txn.amount.0);
                row.count += 1;
            }
            StatsBy::Member => {
                for &(user, cents) in &txn.owed {
                    let row = rows.member(user);
                    row.spent += i128::from(cents.0);
                    row.count += 1;
                }
                for &(user, cents) in &txn.paid {
                    rows.member(user).paid += i128::from(cents.0);
                }
            }
        }
    }
    add_payments(group, currency, &within, &mut totals, &mut rows);
    totals.rows = rows.finish(group);
    totals.from = from;
    totals.to = to;
    totals
}

/// Adds the group's payments in `currency` whose day is `within` the span to `totals` and `rows`.
fn add_payments(
    group: &Group,
    currency: Option<&str>,
    within: &dyn Fn(&str) -> bool,
    totals: &mut Totals,
    rows: &mut Rows,
) {
    for payment in group.ledger.payments() {
        let day = day_of(payment.date.as_deref(), payment.created_at);
        if !within(&day) || payment.currency.as_deref() != currency {
            continue;
        }
        let amount = i128::from(payment.amount.0);
        totals.payments += amount;
        totals.payment_count += 1;
        match totals.by {
            StatsBy::Category => {}
            StatsBy::Month => rows.month(&day).sent += amount,
            StatsBy::Member => {
                rows.member(payment.from).sent += amount;
                rows.member(payment.to).received += amount;
            }
        }
    }
}

/// Rows as they are summed, kept in the order they are shown.
struct Rows {
    /// Category and member rows, in the order the list / the group gives; months sorted.
    listed: Vec<Row>,
    months: BTreeMap<String, Row>,
}

impl Rows {
    fn new(group: &Group, by: StatsBy) -> Rows {
        let listed = match by {
            StatsBy::Member => group.members.iter().map(|&m| Row::new(Key::Member(m))).collect(),
            StatsBy::Category => group.category_names().map(|c| Row::new(Key::Category(c.to_string()))).collect(),
            StatsBy::Month => Vec::new(),
        };
        Rows { listed, months: BTreeMap::new() }
    }

    /// The row of category `name` (a name not in the list, from older data, gets a row of its own).
    fn category(&mut self, group: &Group, name: &str) -> &mut Row {
        let name = group.find_category(name).unwrap_or(name);
        let at = self.listed.iter().position(|r| r.key == Key::Category(name.to_string()));
        let at = at.unwrap_or_else(|| {
            self.listed.push(Row::new(Key::Category(name.to_string())));
            self.listed.len() - 1
        });
        &mut self.listed[at]
    }

    fn member(&mut self, user: UserId) -> &mut Row {
        let at = self.listed.iter().position(|r| r.key == Key::Member(user));
        let at = at.unwrap_or_else(|| {
            self.listed.push(Row::new(Key::Member(user)));
            self.listed.len() - 1
        });
        &mut self.listed[at]
    }

    fn month(&mut self, day: &str) -> &mut Row {
        let month = day.get(..7).unwrap_or(day).to_string();
        self.months.entry(month.clone()).or_insert_with(|| Row::new(Key::Month(month)))
    }

    /// Categories with something in them; every current member, and former ones who appear;
    /// months in order.
    fn finish(self, group: &Group) -> Vec<Row> {
        let mut rows = self.listed;
        rows.retain(|r| match r.key {
            Key::Category(_) => r.count > 0,
            Key::Member(user) => group.is_member(user) || r.count > 0 || r.paid != 0 || r.sent != 0 || r.received != 0,
            Key::Month(_) => true,
        });
        rows.extend(self.months.into_values());
        rows
    }
}

/// A transaction's or payment's day: its `date`, else the UTC day of `created_at` (Unix ms).
pub fn day_of(date: Option<&str>, created_at: i64) -> String {
    match date {
        Some(date) => date.to_string(),
        None => utc_day(created_at),
    }
}

/// The UTC calendar day `YYYY-MM-DD` of Unix time `ms`.
pub fn utc_day(ms: i64) -> String {
    let (year, month, day) = super::calendar::civil_from_days(super::calendar::today(ms));
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_days_are_calendar_days() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(86_400_000 - 1), "1970-01-01");
        assert_eq!(utc_day(-1), "1969-12-31");
        assert_eq!(utc_day(951_782_400_000), "2000-02-29");
        assert_eq!(utc_day(1_767_225_599_999), "2025-12-31");
        assert_eq!(utc_day(1_767_225_600_000), "2026-01-01");
        assert_eq!(day_of(Some("2024-05-06"), 0), "2024-05-06");
    }
}
