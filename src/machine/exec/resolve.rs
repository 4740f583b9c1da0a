//! Rules several families share: names resolved to current members, the guard that keeps former
//! members' balances at zero, and idempotency keys.

use std::collections::HashMap;

use crate::machine::groups::Group;
use crate::machine::{Answer, Done, Error, Invalid, KeyKind, KeyRef, Machine, Outcome, UserId};

impl Machine {
    /// A current member named `name`, or the original's `<name> not in group`.
    pub(in crate::machine) fn resolve_member(&self, entry: &Group, name: &str) -> Result<UserId, Error> {
        self.users
            .find(name)
            .filter(|&m| entry.is_member(m))
            .ok_or_else(|| Error::NotInGroup { name: name.to_string() })
    }

    /// Refuses a change that would move the balance of someone who has left the group (`delta`: the
    /// change per person, possibly with repeats). Former members keep a zero balance.
    pub(in crate::machine) fn check_former_untouched(
        &self,
        entry: &Group,
        delta: &[(UserId, i64)],
    ) -> Result<(), Error> {
        let mut net: HashMap<UserId, i64> = HashMap::new();
        for &(user, cents) in delta {
            *net.entry(user).or_default() += cents;
        }
        let mut moved: Vec<UserId> =
            net.into_iter().filter(|(u, c)| *c != 0 && !entry.is_member(*u)).map(|(u, _)| u).collect();
        moved.sort_unstable();
        match moved.first() {
            Some(user) => Err(Error::FormerMemberMoved { name: self.users.name(*user).to_string() }),
            None => Ok(()),
        }
    }

    /// For a command with an idempotency key that `user` already used in group `id`: the first
    /// command's result again (as that object is now, or as it was when deleted), changing nothing.
    /// `kind` is what this command makes; the key must have made the same.
    pub(in crate::machine) fn repeated_key(
        &self,
        (id, entry): (crate::machine::GroupId, &Group),
        user: UserId,
        key: Option<&String>,
        kind: KeyKind,
    ) -> Result<Option<Outcome>, Error> {
        let Some(key) = key else { return Ok(None) };
        let Some(made) = entry.keys.get(&(user, key.clone())) else { return Ok(None) };
        let answer = match (*made, kind) {
            (KeyRef::Transaction(txn), KeyKind::Transaction) => {
                entry.transaction_ever(txn).ok_or(Error::Internal)?;
                Answer::Transaction { done: Done::TransactionAdded, group: id, txn, repeated: true }
            }
            (KeyRef::Payment(payment), KeyKind::Payment) => {
                entry.payment_ever(payment).ok_or(Error::Internal)?;
                Answer::Payment { group: id, payment, repeated: true }
            }
            (KeyRef::Transaction(_), KeyKind::Payment) => return Err(Invalid::KeyUsedFor(KeyKind::Transaction).into()),
            (KeyRef::Payment(_), KeyKind::Transaction) => return Err(Invalid::KeyUsedFor(KeyKind::Payment).into()),
        };
        Ok(Some(Outcome::answer(answer)))
    }
}
