//! Groups: names, join passwords (hashed), members in join order, each group's ledger and history.
//!
//! Balances are indexed by *slot*: the position of a user among everyone who has ever been a member.
//! Leaving keeps the slot (at a zero balance, which is the condition for leaving) and marks it
//! inactive, so old transactions that name a former member still apply on replay; rejoining
//! reactivates the same slot.

use std::collections::HashMap;

use super::history::{Activity, History};
use super::ledger::{Ledger, Payment, PaymentId, Transaction, TxnId};
use super::Invalid;
use super::UserId;
use crate::money::Cents;

pub type GroupId = u32;

/// Group names: 1–64 printable characters (no control characters).
pub const GROUP_NAME_CHARS_MAX: usize = 64;
/// Members a group may hold; bounds the work of one balance read, fanout and settlement.
pub const GROUP_MEMBERS_MAX: usize = 10_000;
/// The currency label of a group created without one (the original printed ₹).
pub const DEFAULT_CURRENCY: &str = "INR";

/// What an idempotency key produced the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRef {
    Transaction(TxnId),
    Payment(PaymentId),
}

#[derive(Debug)]
pub struct Group {
    pub name: String,
    /// argon2id PHC string; `None` when the group has no join password.
    pub password_hash: Option<String>,
    pub creator: UserId,
    /// Current members in join order (a rejoin goes to the end).
    pub members: Vec<UserId>,
    /// Everyone who has ever been a member, in first-join order; a position indexes `ledger.balances`.
    pub slots: Vec<UserId>,
    /// User -> slot, for current and former members.
    pub member_pos: HashMap<UserId, usize>,
    /// Per slot: is that user a member now.
    active: Vec<bool>,
    pub ledger: Ledger,
    pub created_at: i64,
    /// ISO 4217 code, a display label only.
    pub currency: String,
    pub history: History,
    /// `(user, key)` -> what that user's first request with that key made.
    pub keys: HashMap<(UserId, String), KeyRef>,
}

impl Group {
    pub fn is_member(&self, user: UserId) -> bool {
        self.member_pos.get(&user).is_some_and(|&slot| self.active[slot])
    }

    /// Adds `user` as a member (a former member gets their old slot back); `false` if already one.
    pub fn add_member(&mut self, user: UserId) -> bool {
        match self.member_pos.get(&user) {
            Some(&slot) if self.active[slot] => return false,
            Some(&slot) => self.active[slot] = true,
            None => {
                self.member_pos.insert(user, self.slots.len());
                self.slots.push(user);
                self.active.push(true);
                self.ledger.add_member();
            }
        }
        self.members.push(user);
        true
    }

    /// Makes `user` a former member; `false` if not a member now or their balance is not zero.
    pub fn remove_member(&mut self, user: UserId) -> bool {
        match self.member_pos.get(&user) {
            Some(&slot) if self.active[slot] && self.ledger.balances[slot] == Cents::ZERO => {
                self.active[slot] = false;
                self.members.retain(|&m| m != user);
                true
            }
            _ => false,
        }
    }

    /// The balance of a current or former member (zero for anyone else).
    pub fn balance(&self, user: UserId) -> Cents {
        self.member_pos.get(&user).map_or(Cents::ZERO, |&slot| self.ledger.balances[slot])
    }

    /// Current members with their balances, in join order.
    pub fn member_balances(&self) -> impl Iterator<Item = (UserId, Cents)> + '_ {
        self.members.iter().map(|&m| (m, self.balance(m)))
    }

    /// Remembers what `user`'s first request with `key` made (a later one with the same key is a
    /// repeat). The first use wins.
    pub fn note_key(&mut self, user: UserId, key: Option<&String>, made: KeyRef) {
        if let Some(key) = key {
            self.keys.entry((user, key.clone())).or_insert(made);
        }
    }

    /// Restores membership from a snapshot: `slots` (everyone ever, in slot order) and `members`
    /// (current, in join order, each one of the slots). `false` if they do not fit.
    pub fn restore_members(&mut self, slots: &[UserId], members: &[UserId]) -> bool {
        if !self.slots.is_empty() {
            return false;
        }
        for &user in slots {
            if self.member_pos.insert(user, self.slots.len()).is_some() {
                return false;
            }
            self.slots.push(user);
            self.active.push(false);
            self.ledger.add_member();
        }
        for &user in members {
            match self.member_pos.get(&user) {
                Some(&slot) if !self.active[slot] => self.active[slot] = true,
                _ => return false,
            }
            self.members.push(user);
        }
        true
    }

    /// Former members (slots not active), in slot order.
    /// The transaction `id` as it is now or, once deleted, as it was when deleted (from the history).
    pub fn transaction_ever(&self, id: TxnId) -> Option<&Transaction> {
        self.ledger.transaction(id).or_else(|| {
            self.history.entries().iter().rev().find_map(|e| match &e.what {
                Activity::TransactionDeleted { txn } if txn.id == id => Some(&**txn),
                _ => None,
            })
        })
    }

    /// The payment `id` as it is now or, once deleted, as it was when deleted (from the history).
    pub fn payment_ever(&self, id: PaymentId) -> Option<&Payment> {
        self.ledger.payment(id).or_else(|| {
            self.history.entries().iter().rev().find_map(|e| match &e.what {
                Activity::PaymentDeleted { payment } if payment.id == id => Some(payment),
                _ => None,
            })
        })
    }

    pub fn former_members(&self) -> impl Iterator<Item = UserId> + '_ {
        self.slots.iter().zip(&self.active).filter(|(_, &a)| !a).map(|(&u, _)| u)
    }
}

#[derive(Debug, Default)]
pub struct Groups {
    list: Vec<Group>,
    by_name: HashMap<String, GroupId>,
}

impl Groups {
    pub fn find(&self, name: &str) -> Option<GroupId> {
        self.by_name.get(name).copied()
    }

    pub fn get(&self, id: GroupId) -> Option<&Group> {
        self.list.get(id as usize)
    }

    pub fn get_mut(&mut self, id: GroupId) -> Option<&mut Group> {
        self.list.get_mut(id as usize)
    }

    pub fn next_id(&self) -> GroupId {
        self.list.len() as GroupId
    }

    pub fn iter(&self) -> impl Iterator<Item = (GroupId, &Group)> {
        self.list.iter().enumerate().map(|(i, g)| (i as GroupId, g))
    }

    /// Adds an empty group under the next id; `false` (nothing changed) if the id or name does not fit.
    pub fn insert(
        &mut self,
        id: GroupId,
        name: String,
        password_hash: Option<String>,
        creator: UserId,
        created_at: i64,
        currency: String,
    ) -> bool {
        if id != self.next_id() || self.by_name.contains_key(&name) {
            return false;
        }
        self.by_name.insert(name.clone(), id);
        self.list.push(Group {
            name,
            password_hash,
            creator,
            members: Vec::new(),
            slots: Vec::new(),
            member_pos: HashMap::new(),
            active: Vec::new(),
            ledger: Ledger::default(),
            created_at,
            currency,
            history: History::default(),
            keys: HashMap::new(),
        });
        true
    }
}

pub fn validate_group_name(name: &str) -> Result<(), Invalid> {
    let count = name.chars().count();
    if count == 0 || count > GROUP_NAME_CHARS_MAX || name.chars().any(char::is_control) {
        return Err(Invalid::GroupName);
    }
    Ok(())
}
