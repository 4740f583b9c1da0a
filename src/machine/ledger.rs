//! Transactions and the per-member balances they produce, kept incrementally.
//!
//! A transaction says who paid (`paid`) and who owes what (`owed`); both lists sum to its amount, so
//! adding one moves balances by +paid −owed and leaves the group's total at exactly zero. Deleting
//! reverses the same entries. Reading balances is O(members), never a replay of transactions.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::UserId;
use crate::money::Cents;

pub type TxnId = u64;

/// One expense, as stored in the log and snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub id: TxnId,
    /// The member who recorded it and (for the original's actions) paid it.
    pub payer: UserId,
    pub amount: Cents,
    pub description: String,
    /// The original's fields, kept so `view_transactions` shows what was asked.
    pub split_between: Vec<UserId>,
    pub include_payer: bool,
    /// Who paid what; sums to `amount`.
    pub paid: Vec<(UserId, Cents)>,
    /// Each participant's share; sums to `amount`.
    pub owed: Vec<(UserId, Cents)>,
    /// Server time of recording, Unix milliseconds.
    pub created_at: i64,
}

impl Transaction {
    /// The invariant every stored transaction keeps: both sides sum exactly to the amount.
    pub fn is_balanced(&self) -> bool {
        let paid: i128 = self.paid.iter().map(|(_, c)| c.0 as i128).sum();
        let owed: i128 = self.owed.iter().map(|(_, c)| c.0 as i128).sum();
        self.amount.0 > 0 && paid == self.amount.0 as i128 && owed == self.amount.0 as i128
    }
}

/// A group's transactions (in id order, which is insertion order) and its members' balances.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Balance per member position (see `Group::members`); positive = is owed.
    pub balances: Vec<Cents>,
    transactions: Vec<Transaction>,
}

impl Ledger {
    pub fn add_member(&mut self) {
        self.balances.push(Cents::ZERO);
    }

    pub fn transactions(&self) -> &[Transaction] {
        &self.transactions
    }

    pub fn position_of(&self, id: TxnId) -> Option<usize> {
        self.transactions.binary_search_by_key(&id, |t| t.id).ok()
    }

    /// Records `txn`; `member_pos` maps a user to their balance slot. `false` (nothing changed) if the
    /// transaction is unbalanced, out of id order, or names a non-member.
    pub fn add(&mut self, txn: Transaction, member_pos: &HashMap<UserId, usize>) -> bool {
        let in_order = self.transactions.last().is_none_or(|last| last.id < txn.id);
        let all_members = txn.paid.iter().chain(&txn.owed).all(|(u, _)| member_pos.contains_key(u));
        if !in_order || !all_members || !txn.is_balanced() {
            return false;
        }
        self.shift(&txn, member_pos, 1);
        self.transactions.push(txn);
        true
    }

    /// Removes the transaction at `position` and reverses its effect on balances.
    pub fn remove(&mut self, position: usize, member_pos: &HashMap<UserId, usize>) -> Option<Transaction> {
        if position >= self.transactions.len() {
            return None;
        }
        let txn = self.transactions.remove(position);
        self.shift(&txn, member_pos, -1);
        Some(txn)
    }

    fn shift(&mut self, txn: &Transaction, member_pos: &HashMap<UserId, usize>, sign: i64) {
        for (user, cents) in &txn.paid {
            if let Some(&pos) = member_pos.get(user) {
                self.balances[pos].0 += sign * cents.0;
            }
        }
        for (user, cents) in &txn.owed {
            if let Some(&pos) = member_pos.get(user) {
                self.balances[pos].0 -= sign * cents.0;
            }
        }
        debug_assert_eq!(self.balance_sum(), 0, "a group's balances must sum to zero");
    }

    /// Always 0; exposed for invariant checks in tests and recovery.
    pub fn balance_sum(&self) -> i128 {
        self.balances.iter().map(|c| c.0 as i128).sum()
    }
}
