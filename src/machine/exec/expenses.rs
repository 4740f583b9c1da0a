//! Expenses: add (split modes, several payers, a date, an idempotency key), edit, delete.
//!
//! Validation resolves names to members and amounts to exact shares here, so the record built at the
//! end carries the complete transaction and `apply` has nothing left to decide.

use std::collections::HashSet;

use crate::machine::groups::{Group, KeyRef};
use crate::machine::history::Occurrence;
use crate::machine::ledger::{equal_participants, SharesError, Split, Transaction, FIRST_VERSION};
use crate::machine::{
    misfit, Activity, AddTransaction, Answer, ApplyError, Current, Done, EditTransaction, Error, GroupId, Invalid,
    KeyKind, Machine, Millis, Outcome, Part, Record, SplitGap, SplitSpec, TextField, TxnRef, UserId,
    DESCRIPTION_CHARS_MAX, SPLIT_NAMES_MAX,
};
use crate::money::{split_equal, Cents};

use super::categories::check_category;
use super::currency::to_group_decimals;

/// A split resolved against a group: the stored rule, the original's fields, and the exact shares.
struct Shares {
    split: Split,
    split_between: Vec<UserId>,
    include_payer: bool,
    owed: Vec<(UserId, Cents)>,
}

impl Machine {
    pub(in crate::machine) fn add_transaction(
        &mut self,
        user: UserId,
        mut add: AddTransaction,
        now: Millis,
    ) -> Result<Outcome, Error> {
        let (id, entry) = self.member_group(user, &add.group)?;
        if let Some(repeat) = self.repeated_key((id, entry), user, add.key.as_ref(), KeyKind::Transaction)? {
            return Ok(repeat);
        }
        if add.foreign.is_none() {
            to_group_decimals(entry, Some(&mut add.amount), add.paid_by.as_mut(), Some(&mut add.split))?;
        }
        let txn = self.new_transaction(entry, user, &mut add, now)?;
        let answer = Answer::Transaction { done: Done::TransactionAdded, group: id, txn: txn.id, repeated: false };
        self.commit(id, Record::TransactionAdded { group: id, txn, seq: None }, answer)
    }

    /// The transaction `add` describes, recorded by `user` at `now` and numbered next, validated
    /// against the group's current members (also what each recurring occurrence is made by).
    pub(in crate::machine) fn new_transaction(
        &self,
        entry: &Group,
        user: UserId,
        add: &mut AddTransaction,
        now: Millis,
    ) -> Result<Transaction, Error> {
        check_description(&add.description)?;
        let foreign = super::currency::convert_add(entry, add)?;
        let category = check_category(entry, add.category.take())?;
        let shares = self.resolve_split(entry, user, add.amount, &add.split)?;
        let paid = match &add.paid_by {
            None => vec![(user, add.amount)],
            Some(list) => self.resolve_paid(entry, add.amount, list)?,
        };
        Ok(Transaction {
            id: self.next_txn_id,
            payer: user,
            amount: add.amount,
            description: add.description.clone(),
            split_between: shares.split_between,
            include_payer: shares.include_payer,
            paid,
            owed: shares.owed,
            created_at: now,
            split: shares.split,
            date: add.date.clone(),
            key: add.key.clone(),
            version: FIRST_VERSION,
            foreign,
            category,
            rule: None,
        })
    }

    pub(in crate::machine) fn edit_transaction(
        &mut self,
        user: UserId,
        mut edit: EditTransaction,
        now: Millis,
    ) -> Result<Outcome, Error> {
        let (id, entry) = self.member_group(user, &edit.group)?;
        let old = entry.ledger.transaction(edit.id).ok_or(Error::TransactionNotFound)?;
        check_version(id, &old, edit.version)?;
        let foreign = super::currency::convert_edit(entry, &old, &mut edit)?;
        let mut new = self.edited(entry, &old, edit)?;
        if let Some(foreign) = foreign {
            new.foreign = foreign;
        }
        let answer = |done| Answer::Transaction { done, group: id, txn: old.id, repeated: false };
        if (Transaction { version: old.version, ..new.clone() }) == old {
            return Ok(Outcome::answer(answer(Done::TransactionUnchanged)));
        }
        // Moving a former member's balance would strand money nobody can see or settle.
        let mut delta = new.effect();
        delta.extend(old.effect().into_iter().map(|(u, c)| (u, -c)));
        self.check_former_untouched(entry, &delta)?;
        let answer = answer(Done::TransactionEdited);
        self.commit(id, Record::TransactionEdited { group: id, txn: new, by: user, at: now, seq: None }, answer)
    }

    /// The new version of `old` that `edit` asks for. The recorder stays the recorder, so
    /// `include_payer` keeps meaning them; a kept split or payer list is re-shared for a new amount.
    fn edited(&self, entry: &Group, old: &Transaction, edit: EditTransaction) -> Result<Transaction, Error> {
        let amount = edit.amount.unwrap_or(old.amount);
        // Only new text is checked: a description kept from before the character rules stays.
        if let Some(description) = &edit.description {
            check_description(description)?;
        }
        let description = edit.description.unwrap_or_else(|| old.description.clone());
        let shares = match &edit.split {
            Some(spec) => self.resolve_split(entry, old.payer, amount, spec)?,
            None => Shares {
                split: old.split.clone(),
                split_between: old.split_between.clone(),
                include_payer: old.include_payer,
                owed: old.shares_for(amount).map_err(|gap| {
                    Invalid::SplitNeeded(match gap {
                        SharesError::Nobody => SplitGap::Nobody,
                        SharesError::ExactSum(sum) => SplitGap::ExactSum { sum, amount, decimals: entry.decimals },
                    })
                })?,
            },
        };
        let paid = match &edit.paid_by {
            Some(list) => self.resolve_paid(entry, amount, list)?,
            None if amount == old.amount => old.paid.clone(),
            None => match old.paid.as_slice() {
                [(payer, _)] => vec![(*payer, amount)],
                _ => return Err(Invalid::PayersNeeded.into()),
            },
        };
        let category = match edit.category {
            None => old.category.clone(),
            Some(name) => check_category(entry, name)?,
        };
        Ok(Transaction {
            amount,
            description,
            category,
            split_between: shares.split_between,
            include_payer: shares.include_payer,
            paid,
            owed: shares.owed,
            split: shares.split,
            date: edit.date.unwrap_or_else(|| old.date.clone()),
            version: old.version + 1,
            ..old.clone()
        })
    }

    pub(in crate::machine) fn delete_transaction(
        &mut self,
        user: UserId,
        group: &str,
        (target, version): (TxnRef, Option<u64>),
        now: Millis,
    ) -> Result<Outcome, Error> {
        let (id, entry) = self.member_group(user, group)?;
        let txn = match target {
            TxnRef::Index(index) => entry.ledger.transaction_at(index).ok_or(Error::InvalidIndex)?,
            TxnRef::Id(txn) => entry.ledger.transaction(txn).ok_or(Error::TransactionNotFound)?,
        };
        check_version(id, &txn, version)?;
        let undo: Vec<(UserId, i64)> = txn.effect().into_iter().map(|(u, c)| (u, -c)).collect();
        self.check_former_untouched(entry, &undo)?;
        let record = Record::TransactionDeleted { group: id, txn: txn.id, by: user, at: now, seq: None };
        self.commit(id, record, Answer::Done(Done::TransactionDeleted))
    }

    /// Resolves a split of `amount` recorded by `recorder`.
    fn resolve_split(&self, entry: &Group, recorder: UserId, amount: Cents, spec: &SplitSpec) -> Result<Shares, Error> {
        let named = |names: Vec<&String>, part: Part| -> Result<Vec<UserId>, Error> {
            if names.len() > SPLIT_NAMES_MAX {
                return Err(Invalid::TooManyNames(part).into());
            }
            names.into_iter().map(|name| self.resolve_member(entry, name)).collect()
        };
        let weighted = |split: Split, ids: Vec<UserId>| -> Result<Shares, Error> {
            let owed = split.weighted_shares(amount).ok_or(Error::Internal)?;
            Ok(Shares { split, split_between: ids, include_payer: false, owed })
        };
        match spec {
            SplitSpec::Equal { members, include_payer } => {
                self.resolve_equal(entry, recorder, amount, members.as_deref(), *include_payer)
            }
            SplitSpec::Exact(list) => {
                let ids = named(list.iter().map(|(n, _)| n).collect(), Part::ExactAmounts)?;
                let sum = Cents(list.iter().map(|(_, c)| c.0).sum());
                if sum != amount {
                    return Err(Invalid::SumMismatch {
                        part: Part::ExactAmounts,
                        amount,
                        sum,
                        decimals: entry.decimals,
                    }
                    .into());
                }
                let owed = ids.iter().copied().zip(list.iter().map(|(_, c)| *c)).collect();
                Ok(Shares { split: Split::Exact, split_between: ids, include_payer: false, owed })
            }
            SplitSpec::Percent(list) => {
                let ids = named(list.iter().map(|(n, _)| n).collect(), Part::Percents)?;
                let percents = ids.iter().copied().zip(list.iter().map(|(_, bp)| *bp)).collect();
                weighted(Split::Percent { percents }, ids)
            }
            SplitSpec::Shares(list) => {
                let ids = named(list.iter().map(|(n, _)| n).collect(), Part::Shares)?;
                let weights = ids.iter().copied().zip(list.iter().map(|(_, w)| *w)).collect();
                weighted(Split::Shares { weights }, ids)
            }
        }
    }

    /// Equal shares among the named members (each once, in the order named; `None`: every current
    /// member), plus the recorder with `include_payer`.
    fn resolve_equal(
        &self,
        entry: &Group,
        recorder: UserId,
        amount: Cents,
        members: Option<&[String]>,
        include_payer: bool,
    ) -> Result<Shares, Error> {
        let split_between = match members {
            None => entry.members.clone(),
            Some(names) => {
                if names.len() > SPLIT_NAMES_MAX {
                    return Err(Invalid::TooManyNames(Part::EqualMembers).into());
                }
                let mut seen = HashSet::with_capacity(names.len());
                let mut ids: Vec<UserId> = Vec::with_capacity(names.len());
                for name in names {
                    let member = self.resolve_member(entry, name)?;
                    if seen.insert(member) {
                        ids.push(member);
                    }
                }
                ids
            }
        };
        let people = equal_participants(&split_between, recorder, include_payer);
        let shares = split_equal(amount, people.len()).ok_or(Invalid::NobodyShares)?;
        Ok(Shares { split: Split::Equal, split_between, include_payer, owed: people.into_iter().zip(shares).collect() })
    }

    /// `paid_by` resolved: current members, summing to `amount`.
    fn resolve_paid(
        &self,
        entry: &Group,
        amount: Cents,
        list: &[(String, Cents)],
    ) -> Result<Vec<(UserId, Cents)>, Error> {
        if list.len() > SPLIT_NAMES_MAX {
            return Err(Invalid::TooManyNames(Part::PaidBy).into());
        }
        let mut paid = Vec::with_capacity(list.len());
        for (name, cents) in list {
            paid.push((self.resolve_member(entry, name)?, *cents));
        }
        let sum = Cents(list.iter().map(|(_, c)| c.0).sum());
        if sum != amount {
            return Err(Invalid::SumMismatch { part: Part::PaidBy, amount, sum, decimals: entry.decimals }.into());
        }
        Ok(paid)
    }

    pub(in crate::machine) fn apply_expense(&mut self, record: &Record) -> Result<(), ApplyError> {
        let group = match record {
            Record::TransactionAdded { group, .. }
            | Record::TransactionEdited { group, .. }
            | Record::TransactionDeleted { group, .. } => *group,
            _ => return misfit("not an expense record"),
        };
        let Some(entry) = self.groups.get_mut(group) else { return misfit("unknown group") };
        match record {
            Record::TransactionAdded { txn, .. } => {
                if !entry.ledger.add(txn, &entry.member_pos) {
                    return misfit("transaction unbalanced, out of order or naming a non-member");
                }
                entry.note_key(txn.payer, txn.key.as_ref(), KeyRef::Transaction(txn.id));
                let what = match txn.rule {
                    None => Activity::TransactionAdded { id: txn.id, amount: txn.amount },
                    Some(rule) => {
                        let occurrence = Occurrence { id: txn.id, amount: txn.amount, rule };
                        Activity::RecurringAdded { occurrence: Box::new(occurrence) }
                    }
                };
                entry.history.push(txn.created_at, txn.payer, what);
                self.next_txn_id = self.next_txn_id.max(txn.id + 1);
                if let Some(rule) = txn.rule {
                    self.advance_rule(group, rule);
                }
            }
            Record::TransactionEdited { txn, by, at, .. } => {
                // The version is the ledger's count of edits, whatever an older record says.
                let version = entry.ledger.version_of(txn.id).unwrap_or(FIRST_VERSION) + 1;
                let txn = Transaction { version, ..txn.clone() };
                let Some(before) = entry.ledger.replace(&txn, &entry.member_pos) else {
                    return misfit("unknown transaction, or the new version is unbalanced or names a non-member");
                };
                let what = Activity::TransactionEdited { before: Box::new(before), after: Box::new(txn.clone()) };
                entry.history.push(*at, *by, what);
            }
            Record::TransactionDeleted { txn, by, at, .. } => {
                let Some(position) = entry.ledger.position_of(*txn) else { return misfit("unknown transaction") };
                if let Some(txn) = entry.ledger.remove(position, &entry.member_pos) {
                    entry.history.push(*at, *by, Activity::TransactionDeleted { txn: Box::new(txn) });
                }
            }
            _ => return misfit("not an expense record"),
        }
        Ok(())
    }
}

/// A client's `version` (when it sent one) must be the transaction's current one: otherwise someone
/// changed it since the client looked, and the answer is `Conflict` with the current object.
fn check_version(group: GroupId, txn: &Transaction, version: Option<u64>) -> Result<(), Error> {
    match version {
        Some(version) if version != txn.version => Err(Error::Conflict(Current::Transaction { group, txn: txn.id })),
        _ => Ok(()),
    }
}

/// A new description: at most `DESCRIPTION_CHARS_MAX` characters, none of them a control, bidi
/// control, invisible format character or line separator (`vocab::text::unsafe_in_text`): the text
/// goes to every member's screen, where an escape would rewrite the terminal and a bidi override
/// the meaning. Tabs and newlines are controls too: a description is one line.
pub(in crate::machine) fn check_description(description: &str) -> Result<(), Invalid> {
    if description.chars().count() > DESCRIPTION_CHARS_MAX {
        return Err(Invalid::DescriptionTooLong);
    }
    if let Some(found) = vocab::text::first_unsafe(description, vocab::text::unsafe_in_text) {
        return Err(Invalid::Unsafe { field: TextField::Description, found });
    }
    Ok(())
}
