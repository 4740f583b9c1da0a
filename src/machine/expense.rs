//! Expenses: adding (with split modes, several payers, a date and an idempotency key) and editing.
//!
//! Validation resolves names to members and amounts to exact shares here, so the record built at the
//! end carries the complete transaction and `apply` has nothing left to decide.

use std::collections::{HashMap, HashSet};

use super::groups::{Group, KeyRef};
use super::ledger::{Split, Transaction};
use super::{
    bad_request, internal, GroupId, Machine, Millis, Outcome, Record, TxnId, UserId, DESCRIPTION_CHARS_MAX,
    SPLIT_NAMES_MAX,
};
use crate::money::{split_equal, Cents};
use crate::proto::{Code, Error, Reply, SplitSpec};

/// The fields an edit may change; `None` keeps the current value.
pub(super) struct Change {
    pub amount: Option<Cents>,
    pub description: Option<String>,
    pub split: Option<SplitSpec>,
    pub paid_by: Option<Vec<(String, Cents)>>,
    pub date: Option<Option<String>>,
}

/// A split resolved against a group: the stored rule, the original's fields, and the exact shares.
struct Shares {
    split: Split,
    split_between: Vec<UserId>,
    include_payer: bool,
    owed: Vec<(UserId, Cents)>,
}

impl Machine {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn add_transaction(
        &mut self,
        user: UserId,
        group: &str,
        amount: Cents,
        description: String,
        split: SplitSpec,
        paid_by: Option<Vec<(String, Cents)>>,
        date: Option<String>,
        key: Option<String>,
        now: Millis,
    ) -> Result<Outcome, Error> {
        let (id, entry) = self.member_group(user, group)?;
        if let Some(repeat) = self.repeated_key(entry, user, key.as_ref(), "transaction")? {
            return Ok(repeat);
        }
        check_description(&description)?;
        let shares = self.resolve_split(entry, user, amount, &split)?;
        let paid = match paid_by {
            None => vec![(user, amount)],
            Some(list) => self.resolve_paid(entry, amount, &list)?,
        };
        let txn = Transaction {
            id: self.next_txn_id,
            payer: user,
            amount,
            description,
            split_between: shares.split_between,
            include_payer: shares.include_payer,
            paid,
            owed: shares.owed,
            created_at: now,
            split: shares.split,
            date,
            key,
        };
        let txn_id = txn.id;
        let outcome = self.commit(id, Record::TransactionAdded { group: id, txn }, Reply::message("Transaction added"));
        Ok(self.with_transaction(outcome, id, txn_id))
    }

    pub(super) fn edit_transaction(
        &mut self,
        user: UserId,
        group: &str,
        txn_id: TxnId,
        change: Change,
        now: Millis,
    ) -> Result<Outcome, Error> {
        let (id, entry) = self.member_group(user, group)?;
        let old = entry
            .ledger
            .transaction(txn_id)
            .ok_or_else(|| Error::new(Code::TransactionNotFound, "Transaction not found"))?;
        let amount = change.amount.unwrap_or(old.amount);
        let description = change.description.unwrap_or_else(|| old.description.clone());
        check_description(&description)?;
        // The recorder stays the recorder: `include_payer` keeps meaning them.
        let shares = match &change.split {
            Some(spec) => self.resolve_split(entry, old.payer, amount, spec)?,
            None => Shares {
                split: old.split.clone(),
                split_between: old.split_between.clone(),
                include_payer: old.include_payer,
                owed: old.shares_for(amount).map_err(|e| {
                    bad_request(format!("Field 'split': {e}; give 'split' too when changing the amount"))
                })?,
            },
        };
        let paid = match &change.paid_by {
            Some(list) => self.resolve_paid(entry, amount, list)?,
            None if amount == old.amount => old.paid.clone(),
            None => match old.paid.as_slice() {
                [(payer, _)] => vec![(*payer, amount)],
                _ => {
                    return Err(bad_request(
                        "Field 'paid_by': several people paid; give 'paid_by' too when changing the amount",
                    ))
                }
            },
        };
        let new = Transaction {
            amount,
            description,
            split_between: shares.split_between,
            include_payer: shares.include_payer,
            paid,
            owed: shares.owed,
            split: shares.split,
            date: change.date.unwrap_or_else(|| old.date.clone()),
            ..old.clone()
        };
        if new == *old {
            let reply = Reply::message("Transaction unchanged")
                .with_json("transaction", |out| self.write_transaction(old, out));
            return Ok(Outcome::reply(reply));
        }
        // Moving a former member's balance would strand money nobody can see or settle.
        let mut delta = new.effect();
        delta.extend(old.effect().into_iter().map(|(u, c)| (u, -c)));
        self.check_former_untouched(entry, &delta)?;
        let record = Record::TransactionEdited { group: id, txn: new, by: user, at: now };
        let outcome = self.commit(id, record, Reply::message("Transaction edited"));
        Ok(self.with_transaction(outcome, id, txn_id))
    }

    /// Adds the transaction's current view to a reply.
    fn with_transaction(&self, mut outcome: Outcome, group: GroupId, txn: TxnId) -> Outcome {
        if let Some(t) = self.groups.get(group).and_then(|g| g.ledger.transaction(txn)) {
            outcome.reply = outcome.reply.with_json("transaction", |out| self.write_transaction(t, out));
        }
        outcome
    }

    /// For a request with an idempotency key that `user` already used in this group: the first
    /// request's result again (as that object is now, or as it was when deleted), changing nothing.
    /// `kind` is what this request makes ("transaction" or "payment"); the key must have made the same.
    pub(super) fn repeated_key(
        &self,
        entry: &Group,
        user: UserId,
        key: Option<&String>,
        kind: &str,
    ) -> Result<Option<Outcome>, Error> {
        let Some(key) = key else { return Ok(None) };
        let Some(made) = entry.keys.get(&(user, key.clone())) else { return Ok(None) };
        let reply = match (*made, kind) {
            (KeyRef::Transaction(id), "transaction") => {
                let txn = entry.ledger.transaction(id).or_else(|| super::view::deleted_transaction(entry, id));
                let txn = txn.ok_or_else(internal)?;
                Reply::message("Transaction added").with_json("transaction", |out| self.write_transaction(txn, out))
            }
            (KeyRef::Payment(id), "payment") => {
                let payment = entry.ledger.payment(id).or_else(|| super::view::deleted_payment(entry, id));
                let payment = payment.ok_or_else(internal)?;
                Reply::message("Payment recorded").with_json("payment", |out| self.write_payment(payment, out))
            }
            (KeyRef::Transaction(_), _) => {
                return Err(bad_request("Field 'key' was already used for a transaction"));
            }
            (KeyRef::Payment(_), _) => return Err(bad_request("Field 'key' was already used for a payment")),
        };
        Ok(Some(Outcome::reply(reply.with("duplicate", true))))
    }

    /// A current member named `name`, or the original's `<name> not in group`.
    pub(super) fn resolve_member(&self, entry: &Group, name: &str) -> Result<UserId, Error> {
        self.users
            .find(name)
            .filter(|&m| entry.is_member(m))
            .ok_or_else(|| Error::new(Code::NotInGroup, format!("{name} not in group")))
    }

    /// Resolves a split for `amount` recorded by `recorder`.
    fn resolve_split(&self, entry: &Group, recorder: UserId, amount: Cents, spec: &SplitSpec) -> Result<Shares, Error> {
        let named = |names: Vec<&String>, field: &str| -> Result<Vec<UserId>, Error> {
            if names.len() > SPLIT_NAMES_MAX {
                return Err(bad_request(format!("Field '{field}' names more than {SPLIT_NAMES_MAX}")));
            }
            names.into_iter().map(|name| self.resolve_member(entry, name)).collect()
        };
        match spec {
            SplitSpec::Equal { members, include_payer } => {
                let split_ids = match members {
                    None => entry.members.clone(),
                    Some(names) => {
                        if names.len() > SPLIT_NAMES_MAX {
                            return Err(bad_request(format!(
                                "Field 'split_between' names more than {SPLIT_NAMES_MAX}"
                            )));
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
                let probe = Transaction {
                    id: 0,
                    payer: recorder,
                    amount,
                    description: String::new(),
                    split_between: split_ids,
                    include_payer: *include_payer,
                    paid: Vec::new(),
                    owed: Vec::new(),
                    created_at: 0,
                    split: Split::Equal,
                    date: None,
                    key: None,
                };
                let people = probe.equal_participants();
                let shares = split_equal(amount, people.len()).ok_or_else(|| {
                    bad_request("Field 'split_between' must name at least one member (or set include_payer)")
                })?;
                Ok(Shares {
                    split: Split::Equal,
                    split_between: probe.split_between,
                    include_payer: *include_payer,
                    owed: people.into_iter().zip(shares).collect(),
                })
            }
            SplitSpec::Exact(list) => {
                let ids = named(list.iter().map(|(n, _)| n).collect(), "split.amounts")?;
                let sum: i64 = list.iter().map(|(_, c)| c.0).sum();
                if sum != amount.0 {
                    return Err(bad_request(format!(
                        "Field 'split.amounts' must sum to the amount {amount}, not {}",
                        Cents(sum)
                    )));
                }
                let owed = ids.iter().copied().zip(list.iter().map(|(_, c)| *c)).collect();
                Ok(Shares { split: Split::Exact, split_between: ids, include_payer: false, owed })
            }
            SplitSpec::Percent(list) => {
                let ids = named(list.iter().map(|(n, _)| n).collect(), "split.percents")?;
                let percents = ids.iter().copied().zip(list.iter().map(|(_, bp)| *bp)).collect();
                let split = Split::Percent { percents };
                let owed = split.weighted_shares(amount).ok_or_else(internal)?;
                Ok(Shares { split, split_between: ids, include_payer: false, owed })
            }
            SplitSpec::Shares(list) => {
                let ids = named(list.iter().map(|(n, _)| n).collect(), "split.shares")?;
                let weights = ids.iter().copied().zip(list.iter().map(|(_, w)| *w)).collect();
                let split = Split::Shares { weights };
                let owed = split.weighted_shares(amount).ok_or_else(internal)?;
                Ok(Shares { split, split_between: ids, include_payer: false, owed })
            }
        }
    }

    /// `paid_by` resolved: current members, summing to `amount`.
    fn resolve_paid(
        &self,
        entry: &Group,
        amount: Cents,
        list: &[(String, Cents)],
    ) -> Result<Vec<(UserId, Cents)>, Error> {
        if list.len() > SPLIT_NAMES_MAX {
            return Err(bad_request(format!("Field 'paid_by' names more than {SPLIT_NAMES_MAX}")));
        }
        let mut paid = Vec::with_capacity(list.len());
        for (name, cents) in list {
            paid.push((self.resolve_member(entry, name)?, *cents));
        }
        let sum: i64 = list.iter().map(|(_, c)| c.0).sum();
        if sum != amount.0 {
            return Err(bad_request(format!("Field 'paid_by' must sum to the amount {amount}, not {}", Cents(sum))));
        }
        Ok(paid)
    }

    /// Refuses a change that would move the balance of someone who has left the group (`delta`: the
    /// change per person, possibly with repeats). Former members keep a zero balance.
    pub(super) fn check_former_untouched(&self, entry: &Group, delta: &[(UserId, i64)]) -> Result<(), Error> {
        let mut net: HashMap<UserId, i64> = HashMap::new();
        for &(user, cents) in delta {
            *net.entry(user).or_default() += cents;
        }
        let mut moved: Vec<UserId> =
            net.into_iter().filter(|(u, c)| *c != 0 && !entry.is_member(*u)).map(|(u, _)| u).collect();
        moved.sort_unstable();
        match moved.first() {
            Some(user) => Err(Error::new(
                Code::NotInGroup,
                format!("{} has left the group; this change would move their balance", self.users.name(*user)),
            )),
            None => Ok(()),
        }
    }
}

fn check_description(description: &str) -> Result<(), Error> {
    if description.chars().count() > DESCRIPTION_CHARS_MAX {
        return Err(bad_request(format!("Field 'description' must be at most {DESCRIPTION_CHARS_MAX} characters")));
    }
    Ok(())
}
