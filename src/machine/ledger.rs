//! Transactions, payments and the per-member balances they produce, kept incrementally.
//!
//! A transaction says who paid (`paid`) and who owes what (`owed`); both lists sum to its amount, so
//! adding one moves balances by +paid −owed and leaves the group's total at exactly zero. A payment
//! (`from` paid `to` back) moves `from` up and `to` down by its amount. Deleting reverses the same
//! entries; editing is a delete and an add in one step. Reading balances is O(members), never a replay.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use super::packed::Packed;
use super::UserId;
use crate::money::{allocate, split_equal, Cents};

/// A member's balance slot, by user id. User ids are the machine's own small numbers, never chosen by
/// a client, so a multiplicative hash serves: SipHash's resistance to chosen keys buys nothing here,
/// and it was 6 % of log replay (every share of every transaction looks its member up).
pub type MemberPos = HashMap<UserId, usize, BuildHasherDefault<UserIdHasher>>;

/// Fibonacci hashing of a user id (`MemberPos`).
#[derive(Default)]
pub struct UserIdHasher(u64);

impl Hasher for UserIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, id: u32) {
        self.0 = (self.0 ^ u64::from(id)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub type TxnId = u64;
pub type PaymentId = u64;

/// How a transaction's amount was shared, kept so an edit that changes only the amount re-shares it
/// the same way. Stored beside `owed` (the resolved shares), which is what balances use. Externally
/// tagged when stored (`"exact"`, `{"percent":{...}}`), and left out for the default `equal`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Equal shares among `split_between` (plus the recorder when `include_payer`), in that order:
    /// the original's rule.
    #[default]
    Equal,
    /// `owed` holds each person's exact share.
    Exact,
    /// Basis points (1/100 of a percent) per person, summing to 10000.
    Percent { percents: Vec<(UserId, u32)> },
    /// Integer weights per person.
    Shares { weights: Vec<(UserId, u64)> },
}

impl Split {
    pub fn is_equal(&self) -> bool {
        *self == Split::Equal
    }

    /// Exact shares of `amount` for the weighted modes (percent, shares): largest remainder over the
    /// weights. `None` for the other modes, or when the weights cannot be allocated.
    pub fn weighted_shares(&self, amount: Cents) -> Option<Vec<(UserId, Cents)>> {
        let (people, weights): (Vec<UserId>, Vec<i64>) = match self {
            Split::Percent { percents } => percents.iter().map(|&(u, bp)| (u, bp as i64)).unzip(),
            Split::Shares { weights } => weights.iter().map(|&(u, w)| (u, w as i64)).unzip(),
            Split::Equal | Split::Exact => return None,
        };
        let shares = allocate(amount, &weights)?;
        Some(people.into_iter().zip(shares).collect())
    }
}

/// One expense, as stored in the log and snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub id: TxnId,
    /// The member who recorded it (and, for the original's actions, paid it).
    pub payer: UserId,
    pub amount: Cents,
    pub description: String,
    /// The original's fields, kept so `view_transactions` shows what was asked. For the non-equal
    /// modes: the people sharing, and `include_payer` false.
    pub split_between: Vec<UserId>,
    pub include_payer: bool,
    /// Who paid what; sums to `amount`.
    pub paid: Vec<(UserId, Cents)>,
    /// Each participant's share; sums to `amount`.
    pub owed: Vec<(UserId, Cents)>,
    /// Server time of recording, Unix milliseconds.
    pub created_at: i64,
    /// How `owed` was computed.
    #[serde(default, skip_serializing_if = "Split::is_equal")]
    pub split: Split,
    /// The date the client gave (`YYYY-MM-DD`), display only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The idempotency key it was added with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// 1 when added, +1 per edit: what `edit_*`/`delete_*` compare a client's `version` with.
    /// Derived as edits apply (records written before it have none, and every one says 1).
    #[serde(default = "first_version", skip_serializing_if = "is_first_version")]
    pub version: u64,
    /// Set when the expense was entered in another currency than the group's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreign: Option<Foreign>,
    /// One of the group's category names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The recurring rule that created it (its occurrence's date is `date`): a rule makes at most
    /// one transaction per date, and this is how replay and failover know which exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<u64>,
}

/// An expense as entered in another currency: the amount in that currency's own minor units, and
/// the rate it was converted at. `rate: None` means the group converts at settlement, and the
/// transaction's `amount` stays in `currency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Foreign {
    /// ISO 4217 code: three capital letters.
    pub currency: String,
    pub amount: Cents,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
}

impl Foreign {
    /// The currency this entry moves balances in when it is not the group's: an entry kept in its
    /// own currency (no rate: the group converts at settlement).
    pub fn settled_in(&self) -> Option<&str> {
        self.rate.is_none().then_some(self.currency.as_str())
    }

    /// A currency code, a positive amount, and a rate above zero when there is one.
    pub fn is_valid(&self) -> bool {
        vocab::is_currency_code(&self.currency) && self.amount.0 > 0 && self.rate.is_none_or(|r| r.digits > 0)
    }
}

/// An exact decimal: `digits` × 10^−`scale` group-currency units for one unit of the foreign one
/// (the shared `vocab::rate::Rate`, so `splitc` reads and writes rates alike).
pub use vocab::rate::Rate;

/// A new transaction's version; payments, which are never edited, are always at it.
pub const FIRST_VERSION: u64 = 1;

fn first_version() -> u64 {
    FIRST_VERSION
}

fn is_first_version(version: &u64) -> bool {
    *version == FIRST_VERSION
}

impl Transaction {
    /// The currency whose balances this transaction moves; `None`: the group's.
    pub fn settled_in(&self) -> Option<&str> {
        self.foreign.as_ref().and_then(Foreign::settled_in)
    }

    /// The invariant every stored transaction keeps: both sides sum exactly to the amount.
    pub fn is_balanced(&self) -> bool {
        let paid: i128 = self.paid.iter().map(|(_, c)| c.0 as i128).sum();
        let owed: i128 = self.owed.iter().map(|(_, c)| c.0 as i128).sum();
        self.amount.0 > 0
            && paid == self.amount.0 as i128
            && owed == self.amount.0 as i128
            && self.paid.iter().chain(&self.owed).all(|(_, c)| c.0 >= 0)
    }

    /// The people sharing an equal split, in allocation order: `split_between`, then the recorder if
    /// `include_payer` (counted once).
    pub fn equal_participants(&self) -> Vec<UserId> {
        equal_participants(&self.split_between, self.payer, self.include_payer)
    }

    /// Recomputes `owed` for `amount` from `split` (the rule the transaction was made with). `Err`
    /// for an exact split whose amounts do not sum to `amount`: those must be given again.
    pub fn shares_for(&self, amount: Cents) -> Result<Vec<(UserId, Cents)>, SharesError> {
        let zip = |people: Vec<UserId>, shares: Option<Vec<Cents>>| {
            shares.map(|s| people.into_iter().zip(s).collect()).ok_or(SharesError::Nobody)
        };
        match &self.split {
            Split::Equal => {
                let people = self.equal_participants();
                let shares = split_equal(amount, people.len());
                zip(people, shares)
            }
            Split::Exact => {
                let sum: i64 = self.owed.iter().map(|(_, c)| c.0).sum();
                if sum == amount.0 {
                    Ok(self.owed.clone())
                } else {
                    Err(SharesError::ExactSum(Cents(sum)))
                }
            }
            Split::Percent { .. } | Split::Shares { .. } => {
                self.split.weighted_shares(amount).ok_or(SharesError::Nobody)
            }
        }
    }

    /// Net effect on each person's balance (+paid −owed), merged per person, in first-seen order.
    pub fn effect(&self) -> Vec<(UserId, i64)> {
        let mut net: Vec<(UserId, i64)> = Vec::new();
        let mut at: HashMap<UserId, usize> = HashMap::new();
        let mut add = |user: UserId, cents: i64| match at.get(&user) {
            Some(&i) => net[i].1 += cents,
            None => {
                at.insert(user, net.len());
                net.push((user, cents));
            }
        };
        for (user, cents) in &self.paid {
            add(*user, cents.0);
        }
        for (user, cents) in &self.owed {
            add(*user, -cents.0);
        }
        net
    }
}

/// Why a transaction's rule cannot share a new amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharesError {
    /// Nobody shares it.
    Nobody,
    /// An exact split whose amounts sum to this, not to the new amount.
    ExactSum(Cents),
}

/// The people sharing an equal split, in allocation order: `split_between` (each once), then the
/// recorder `payer` if `include_payer` (counted once).
pub fn equal_participants(split_between: &[UserId], payer: UserId, include_payer: bool) -> Vec<UserId> {
    // The usual few people: a scan of the list so far beats hashing (this runs for every
    // transaction packed or unpacked).
    if split_between.len() <= 16 {
        let mut people = Vec::with_capacity(split_between.len() + 1);
        for &user in split_between.iter().chain(include_payer.then_some(&payer)) {
            if !people.contains(&user) {
                people.push(user);
            }
        }
        return people;
    }
    let mut seen = HashSet::with_capacity(split_between.len() + 1);
    let mut people = Vec::with_capacity(split_between.len() + 1);
    for &user in split_between {
        if seen.insert(user) {
            people.push(user);
        }
    }
    if include_payer && seen.insert(payer) {
        people.push(payer);
    }
    people
}

/// Money paid back between two members ("settle up"): `from`'s balance goes up, `to`'s goes down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: PaymentId,
    pub from: UserId,
    pub to: UserId,
    pub amount: Cents,
    /// Who recorded it.
    pub by: UserId,
    /// Server time of recording, Unix milliseconds.
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The currency paid in, in a group that converts at settlement (its minor units); `None`:
    /// the group's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

impl Payment {
    pub fn is_valid(&self) -> bool {
        self.amount.0 > 0 && self.from != self.to && self.currency.as_deref().is_none_or(vocab::is_currency_code)
    }
}

/// A group's transactions and payments (each in id order, which is insertion order) and its members'
/// balances. Transactions are kept packed (`packed`: about 56 bytes and one small heap block each)
/// and handed out whole (`Transaction`, owned) when asked for.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Balance per member slot (see `Group::slots`), in the group's currency; positive = is owed.
    pub balances: Vec<Cents>,
    /// In a group that converts at settlement, the balances in each other currency its entries
    /// were made in (per slot, in that currency's minor units), sorted by code. Empty, and no
    /// allocation, for a group that never had one.
    others: Vec<(String, Vec<Cents>)>,
    transactions: Vec<Packed>,
    payments: Vec<Payment>,
}

impl Ledger {
    pub fn add_member(&mut self) {
        self.balances.push(Cents::ZERO);
        for (_, column) in &mut self.others {
            column.push(Cents::ZERO);
        }
    }

    /// The balances in `currency` (`None`: the group's), made (at zero) the first time one is named.
    fn column_mut(&mut self, currency: Option<&str>) -> &mut Vec<Cents> {
        let Some(code) = currency else { return &mut self.balances };
        let at = match self.others.binary_search_by(|(c, _)| c.as_str().cmp(code)) {
            Ok(at) => at,
            Err(at) => {
                self.others.insert(at, (code.to_string(), vec![Cents::ZERO; self.balances.len()]));
                at
            }
        };
        &mut self.others[at].1
    }

    /// The balances in other currencies than the group's (per slot), by code.
    pub fn others(&self) -> impl Iterator<Item = (&str, &[Cents])> {
        self.others.iter().map(|(code, column)| (code.as_str(), column.as_slice()))
    }

    /// Whether slot `slot`'s balance is zero in every currency.
    pub fn settled_up(&self, slot: usize) -> bool {
        let zero = |column: &[Cents]| column.get(slot).is_none_or(|c| *c == Cents::ZERO);
        zero(&self.balances) && self.others.iter().all(|(_, column)| zero(column))
    }

    /// The first other currency whose balances do not sum to zero (for invariant checks).
    pub fn unbalanced_currency(&self) -> Option<&str> {
        let sum = |column: &[Cents]| column.iter().map(|c| i128::from(c.0)).sum::<i128>();
        self.others.iter().find(|(_, column)| sum(column) != 0).map(|(code, _)| code.as_str())
    }

    /// Whether every other currency has a balance per slot.
    pub fn others_fit(&self) -> bool {
        self.others.iter().all(|(_, column)| column.len() == self.balances.len())
    }

    /// How many transactions the group has.
    pub fn len(&self) -> usize {
        self.transactions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.transactions.is_empty()
    }

    /// Every transaction, in id order, unpacked one at a time.
    pub fn transactions(&self) -> impl ExactSizeIterator<Item = Transaction> + DoubleEndedIterator + '_ {
        self.transactions.iter().map(Packed::unpack)
    }

    /// The transaction at `index` (0 = the oldest).
    pub fn transaction_at(&self, index: usize) -> Option<Transaction> {
        self.transactions.get(index).map(Packed::unpack)
    }

    pub fn payments(&self) -> &[Payment] {
        &self.payments
    }

    pub fn position_of(&self, id: TxnId) -> Option<usize> {
        // The newest is asked for most (right after adding it); skip the cache-missing search then.
        if self.transactions.last().is_some_and(|t| t.id == id) {
            return Some(self.transactions.len() - 1);
        }
        self.transactions.binary_search_by_key(&id, |t| t.id).ok()
    }

    /// A transaction that is not balanced, if any (for invariant checks; see `Packed::is_balanced`).
    pub fn unbalanced(&self) -> Option<TxnId> {
        self.transactions.iter().find(|t| !t.is_balanced()).map(|t| t.id)
    }

    pub fn payment_position(&self, id: PaymentId) -> Option<usize> {
        self.payments.binary_search_by_key(&id, |p| p.id).ok()
    }

    pub fn transaction(&self, id: TxnId) -> Option<Transaction> {
        self.position_of(id).map(|p| self.transactions[p].unpack())
    }

    /// The version of transaction `id`, without unpacking it.
    pub fn version_of(&self, id: TxnId) -> Option<u64> {
        self.position_of(id).map(|p| self.transactions[p].version)
    }

    /// The description of transaction `id`, without unpacking the rest.
    pub fn description_of(&self, id: TxnId) -> Option<String> {
        self.position_of(id).map(|p| self.transactions[p].description())
    }

    pub fn payment(&self, id: PaymentId) -> Option<&Payment> {
        self.payment_position(id).map(|p| &self.payments[p])
    }

    /// Records `txn` (packed: the caller keeps its own); `member_pos` maps a user to their balance
    /// slot. `false` (nothing changed) if the transaction is unbalanced, out of id order, or names
    /// someone without a slot.
    pub fn add(&mut self, txn: &Transaction, member_pos: &MemberPos) -> bool {
        let in_order = self.transactions.last().is_none_or(|last| last.id < txn.id);
        if !in_order || !fits(txn, member_pos) {
            return false;
        }
        self.shift(txn, member_pos, 1);
        self.transactions.push(Packed::pack(txn));
        true
    }

    /// Takes a snapshot's transactions, packed and checked as they were read (`image::Read`), into
    /// an empty ledger, with each user's net effect on the balances. `false` (nothing changed) if the
    /// ledger is not empty or the effects name someone without a slot.
    /// `others`: the same per other currency (the transactions kept in their own currency).
    pub(super) fn restore(
        &mut self,
        packed: Vec<Packed>,
        effects: &[(UserId, i128)],
        others: &[(String, Vec<(UserId, i128)>)],
        member_pos: &MemberPos,
    ) -> bool {
        let fitted = |effects: &[(UserId, i128)]| -> Option<Vec<(usize, i64)>> {
            let fit = |&(user, net): &(UserId, i128)| Some((*member_pos.get(&user)?, i64::try_from(net).ok()?));
            effects.iter().map(fit).collect()
        };
        let Some(main) = fitted(effects).filter(|_| self.transactions.is_empty()) else { return false };
        let Some(columns) = others.iter().map(|(code, e)| Some((code, fitted(e)?))).collect::<Option<Vec<_>>>() else {
            return false;
        };
        for (currency, fitted) in std::iter::once((None, main)).chain(columns.into_iter().map(|(c, f)| (Some(c), f))) {
            let column = self.column_mut(currency.map(String::as_str));
            for (slot, net) in fitted {
                column[slot].0 += net;
            }
        }
        self.transactions = packed;
        true
    }

    /// Replaces the transaction with `txn.id` by `txn` (same id, new content), moving balances by the
    /// difference. Returns the old version; `None` (nothing changed) if there is no such transaction
    /// or the new one does not fit.
    pub fn replace(&mut self, txn: &Transaction, member_pos: &MemberPos) -> Option<Transaction> {
        let position = self.position_of(txn.id)?;
        if !fits(txn, member_pos) {
            return None;
        }
        self.shift(txn, member_pos, 1);
        let old = std::mem::replace(&mut self.transactions[position], Packed::pack(txn)).unpack();
        self.shift(&old, member_pos, -1);
        Some(old)
    }

    /// Removes the transaction at `position` and reverses its effect on balances.
    pub fn remove(&mut self, position: usize, member_pos: &MemberPos) -> Option<Transaction> {
        if position >= self.transactions.len() {
            return None;
        }
        let txn = self.transactions.remove(position).unpack();
        self.shift(&txn, member_pos, -1);
        Some(txn)
    }

    /// Puts a deleted transaction back at its place in id order (`restore_transaction`); `false`
    /// (nothing changed) if one with its id is here, or it does not fit.
    pub fn reinsert(&mut self, txn: &Transaction, member_pos: &MemberPos) -> bool {
        let Err(position) = self.transactions.binary_search_by_key(&txn.id, |t| t.id) else { return false };
        if !fits(txn, member_pos) {
            return false;
        }
        self.shift(txn, member_pos, 1);
        self.transactions.insert(position, Packed::pack(txn));
        true
    }

    /// Puts a deleted payment back at its place in id order (`restore_payment`); `false` (nothing
    /// changed) if one with its id is here, or it does not fit.
    pub fn reinsert_payment(&mut self, payment: Payment, member_pos: &MemberPos) -> bool {
        let Err(position) = self.payments.binary_search_by_key(&payment.id, |p| p.id) else { return false };
        let (Some(&from), Some(&to)) = (member_pos.get(&payment.from), member_pos.get(&payment.to)) else {
            return false;
        };
        if !payment.is_valid() {
            return false;
        }
        self.move_payment(&payment, (from, to), 1);
        self.payments.insert(position, payment);
        true
    }

    /// Records `payment`; `false` (nothing changed) if it is out of id order, not positive, between one
    /// person and themselves, or names someone without a slot.
    pub fn add_payment(&mut self, payment: Payment, member_pos: &MemberPos) -> bool {
        let in_order = self.payments.last().is_none_or(|last| last.id < payment.id);
        let (Some(&from), Some(&to)) = (member_pos.get(&payment.from), member_pos.get(&payment.to)) else {
            return false;
        };
        if !in_order || !payment.is_valid() {
            return false;
        }
        self.move_payment(&payment, (from, to), 1);
        self.payments.push(payment);
        true
    }

    /// Removes the payment with `id` and reverses it.
    pub fn remove_payment(&mut self, id: PaymentId, member_pos: &MemberPos) -> Option<Payment> {
        let position = self.payment_position(id)?;
        let payment = self.payments.remove(position);
        if let (Some(&from), Some(&to)) = (member_pos.get(&payment.from), member_pos.get(&payment.to)) {
            self.move_payment(&payment, (from, to), -1);
        }
        Some(payment)
    }

    /// Moves `payment`'s amount (`sign` 1: recorded, -1: undone) between the slots `from` and `to`,
    /// in its currency.
    fn move_payment(&mut self, payment: &Payment, (from, to): (usize, usize), sign: i64) {
        let column = self.column_mut(payment.currency.as_deref());
        column[from].0 += sign * payment.amount.0;
        column[to].0 -= sign * payment.amount.0;
    }

    fn shift(&mut self, txn: &Transaction, member_pos: &MemberPos, sign: i64) {
        let column = self.column_mut(txn.settled_in());
        for (user, cents) in &txn.paid {
            if let Some(&pos) = member_pos.get(user) {
                column[pos].0 += sign * cents.0;
            }
        }
        for (user, cents) in &txn.owed {
            if let Some(&pos) = member_pos.get(user) {
                column[pos].0 -= sign * cents.0;
            }
        }
        debug_assert_eq!(self.balance_sum(), 0, "a group's balances must sum to zero");
        debug_assert!(self.unbalanced_currency().is_none(), "each currency's balances must sum to zero");
    }

    /// Always 0; exposed for invariant checks in tests and recovery.
    pub fn balance_sum(&self) -> i128 {
        self.balances.iter().map(|c| c.0 as i128).sum()
    }
}

/// A transaction fits a group when it is balanced, everyone it names has a balance slot, and an
/// entry in another currency is well formed.
fn fits(txn: &Transaction, member_pos: &MemberPos) -> bool {
    txn.is_balanced()
        && txn.foreign.as_ref().is_none_or(Foreign::is_valid)
        && txn.paid.iter().chain(&txn.owed).all(|(u, _)| member_pos.contains_key(u))
}
