//! Groups: names, join passwords (hashed), members in join order, each group's ledger and history.
//!
//! Names are what members tell groups apart by, so a new name must not pass for another: it is
//! refused if it holds a character that is not shown as itself (`vocab::text::unsafe_in_name`), it is
//! stored trimmed and in NFC (one text, one spelling), and it is refused when its UTS #39 confusable
//! skeleton is an existing group's (Cyrillic `і` for `i`, `rn` for `m`). Those rules are for new names
//! only (`Machine::create_group`): the table itself (`Groups::insert`, used by replay and snapshot
//! load) keeps refusing only an exact duplicate, so names stored before the rules still load.
//!
//! Balances are indexed by *slot*: the position of a user among everyone who has ever been a member.
//! Leaving keeps the slot (at a zero balance, which is the condition for leaving) and marks it
//! inactive, so old transactions that name a former member still apply on replay; rejoining
//! reactivates the same slot.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;
use unicode_security::skeleton;
use vocab::text;

use super::history::{Activity, History};
use super::ledger::{Ledger, MemberPos, Payment, PaymentId, Transaction, TxnId};
use super::UserId;
use super::{Invalid, TextField};
use crate::money::Cents;

pub type GroupId = u32;

/// Group names: 1–64 characters once trimmed and normalised (see the module doc for which).
pub const GROUP_NAME_CHARS_MAX: usize = 64;
/// Members a group may hold; bounds the work of one balance read, fanout and settlement.
pub const GROUP_MEMBERS_MAX: usize = 10_000;
/// The currency label of a group created without one (the original printed ₹).
pub const DEFAULT_CURRENCY: &str = "INR";

/// The decimals of a new group's amounts: `DEFAULT_CURRENCY`'s minor unit, and what every group
/// had before a currency set the group's (records and images without `decimals` mean this).
pub const GROUP_DECIMALS_DEFAULT: u8 = 2;

/// When a group turns amounts entered in another currency into its own: at entry (at the rate
/// the user gives, the default) or at settlement (never: balances and plans are kept per currency).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Convert {
    #[default]
    AtEntry,
    AtSettlement,
}

impl Convert {
    /// The wire word: `at_entry`, `at_settlement`.
    pub fn as_str(self) -> &'static str {
        match self {
            Convert::AtEntry => "at_entry",
            Convert::AtSettlement => "at_settlement",
        }
    }

    pub fn is_at_entry(&self) -> bool {
        *self == Convert::AtEntry
    }
}

/// What an idempotency key produced the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
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
    pub member_pos: MemberPos,
    /// Per slot: is that user a member now.
    active: Vec<bool>,
    pub ledger: Ledger,
    pub created_at: i64,
    /// ISO 4217 code, a display label only.
    pub currency: String,
    /// How many decimals the group's own amounts have (its balances, expenses, payments and plans
    /// count `10^-decimals` units): its currency's minor unit (`vocab::currency::minor_units`) when
    /// it was set, 2 for groups whose currency was set before groups had their own (they keep
    /// hundredths: changing what their numbers mean would change their money).
    pub decimals: u8,
    /// When amounts in other currencies are converted (`set_group_convert`).
    pub convert: Convert,
    pub history: History,
    /// `(user, key)` -> what that user's first request with that key made.
    pub keys: HashMap<(UserId, String), KeyRef>,
    /// The category names the group added (`add_category`), in the order added; the defaults
    /// (`categories::DEFAULT_CATEGORIES`) come before them and are not stored.
    pub categories: Vec<String>,
    /// Recurring expenses (`recurring`).
    pub rules: super::recurring::Rules,
}

/// Up to this many slots a group's are searched in a line instead of through `member_pos`: a few
/// compares cost less than one SipHash of the key (the hot read does two, `is_member` and
/// `balance`), and most groups of people splitting costs are this small. Larger groups hash.
const LINEAR_SLOTS_MAX: usize = 16;

impl Group {
    /// `user`'s slot, current member or former.
    fn slot(&self, user: UserId) -> Option<usize> {
        if self.slots.len() <= LINEAR_SLOTS_MAX {
            // `slots[i]` is the user whose slot is `i` (`member_pos` maps it back).
            return self.slots.iter().position(|&u| u == user);
        }
        self.member_pos.get(&user).copied()
    }

    pub fn is_member(&self, user: UserId) -> bool {
        self.slot(user).is_some_and(|slot| self.active[slot])
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

    /// Makes `user` a former member; `false` if not a member now or a balance (in any currency) is
    /// not zero.
    pub fn remove_member(&mut self, user: UserId) -> bool {
        match self.member_pos.get(&user) {
            Some(&slot) if self.active[slot] && self.ledger.settled_up(slot) => {
                self.active[slot] = false;
                self.members.retain(|&m| m != user);
                true
            }
            _ => false,
        }
    }

    /// The balance of a current or former member (zero for anyone else).
    pub fn balance(&self, user: UserId) -> Cents {
        self.slot(user).map_or(Cents::ZERO, |slot| self.ledger.balances[slot])
    }

    /// Whether the group has amounts whose meaning depends on its settings: transactions,
    /// payments, recurring rules, or history entries that show (or could restore) one.
    pub fn holds_amounts(&self) -> bool {
        let settings_only = |what: &Activity| {
            matches!(
                what,
                Activity::GroupCreated
                    | Activity::CurrencySet { .. }
                    | Activity::ConvertSet { .. }
                    | Activity::MemberJoined { .. }
                    | Activity::MemberLeft { .. }
                    | Activity::PasswordChanged { .. }
                    | Activity::CategoryAdded { .. }
            )
        };
        !self.ledger.is_empty()
            || !self.ledger.payments().is_empty()
            || !self.rules.rules.is_empty()
            || !self.history.entries().iter().all(|e| settings_only(&e.what))
    }

    /// Whether `user`'s balance is zero in every currency (anyone not in the group: yes).
    pub fn settled_up(&self, user: UserId) -> bool {
        self.slot(user).is_none_or(|slot| self.ledger.settled_up(slot))
    }

    /// Per other currency with a balance that is not zero (a group that converts at settlement), by
    /// code: current members with their balances in it, in join order.
    pub fn other_balances(&self) -> Vec<(&str, Vec<(UserId, Cents)>)> {
        let shown = |column: &[Cents]| column.iter().any(|c| *c != Cents::ZERO);
        let of = |column: &[Cents]| -> Vec<(UserId, Cents)> {
            self.members.iter().map(|&m| (m, self.slot(m).map_or(Cents::ZERO, |s| column[s]))).collect()
        };
        self.ledger.others().filter(|(_, column)| shown(column)).map(|(code, column)| (code, of(column))).collect()
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
    pub fn transaction_ever(&self, id: TxnId) -> Option<Transaction> {
        self.ledger.transaction(id).or_else(|| {
            self.history.entries().iter().rev().find_map(|e| match &e.what {
                Activity::TransactionDeleted { txn } if txn.id == id => Some((**txn).clone()),
                _ => None,
            })
        })
    }

    /// The description transaction `id` had when it was added (by history entry `added`): the ledger's
    /// while it was never changed (version 1), else the version the first later change replaced (an
    /// edit's `before`, a deletion's transaction). Empty if neither is known.
    pub fn description_as_added(&self, id: TxnId, added: u64) -> String {
        if self.ledger.version_of(id) == Some(super::ledger::FIRST_VERSION) {
            return self.ledger.description_of(id).unwrap_or_default();
        }
        let later = usize::try_from((added + 1).saturating_sub(self.history.oldest())).unwrap_or(usize::MAX);
        let entries = self.history.entries().get(later..).unwrap_or_default();
        let first_change = entries.iter().find_map(|e| match &e.what {
            Activity::TransactionEdited { before, .. } if before.id == id => Some(&before.description),
            Activity::TransactionDeleted { txn } if txn.id == id => Some(&txn.description),
            _ => None,
        });
        first_change.cloned().or_else(|| self.ledger.description_of(id)).unwrap_or_default()
    }

    /// The payment `id` as it is now or, once deleted, as it was when deleted (from the history).
    pub fn payment_ever(&self, id: PaymentId) -> Option<&Payment> {
        self.ledger.payment(id).or_else(|| {
            self.history.entries().iter().rev().find_map(|e| match &e.what {
                Activity::PaymentDeleted { payment } if payment.id == id => Some(&**payment),
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
    /// [`canonical`] form of each name -> the first group with it: finds a name stored untrimmed or
    /// in NFD (before the rules) by what a user types, and a new name by an NFD spelling of it.
    by_canonical: HashMap<String, GroupId>,
    /// [`skeleton_key`] of each name -> the first group with it: what a new name must not match.
    /// Old data may hold several groups with one skeleton; any one of them is enough to refuse.
    by_skeleton: HashMap<String, GroupId>,
    /// The exact names again, as a cache in front of `by_name`: slot `name_slot(name)` holds the first
    /// group whose name hashed there (`NO_GROUP` if none). A hit is confirmed by comparing the
    /// name, so a collision, chosen or not, only sends a lookup on to `by_name` (see `find`).
    exact: Vec<GroupId>,
}

/// An empty slot of `Groups::exact`.
const NO_GROUP: GroupId = GroupId::MAX;

impl Groups {
    /// The group named exactly `name`, else the one whose name is the same text once trimmed and
    /// normalised (NFC), so `"trip "` and an NFD `café` reach `trip` and `café`. Never by look-alike:
    /// a skeleton says two names could be confused, not that they are the same name.
    pub fn find(&self, name: &str) -> Option<GroupId> {
        if let Some(&id) = self.exact.get(name_slot(name, self.exact.len())) {
            if self.list.get(id as usize).is_some_and(|g| g.name == name) {
                // Names are unique (`insert`), so this is the group `by_name` holds for `name`.
                return Some(id);
            }
        }
        self.by_name.get(name).or_else(|| self.by_canonical.get(&canonical(name))).copied()
    }

    /// Notes group `id`'s name in `exact`, growing the table to keep it at most a quarter full (so
    /// few names share a slot); a slot already taken stays with the group that took it.
    fn note_exact(&mut self, id: GroupId) {
        if self.list.len() * 4 > self.exact.len() {
            let size = (self.list.len() * 8).next_power_of_two().max(64);
            self.exact = vec![NO_GROUP; size];
            for (id, group) in self.list.iter().enumerate() {
                let slot = &mut self.exact[name_slot(&group.name, size)];
                if *slot == NO_GROUP {
                    *slot = id as GroupId;
                }
            }
            return;
        }
        let size = self.exact.len();
        if let Some(group) = self.list.get(id as usize) {
            let slot = &mut self.exact[name_slot(&group.name, size)];
            if *slot == NO_GROUP {
                *slot = id;
            }
        }
    }

    /// A group whose name looks the same as `name` (same UTS #39 skeleton), if any.
    pub fn lookalike(&self, name: &str) -> Option<GroupId> {
        self.by_skeleton.get(&skeleton_key(name)).copied()
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
    /// Only an exact duplicate name is refused here (see the module doc).
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
        self.by_canonical.entry(canonical(&name)).or_insert(id);
        self.by_skeleton.entry(skeleton_key(&name)).or_insert(id);
        self.list.push(Group {
            name,
            password_hash,
            creator,
            members: Vec::new(),
            slots: Vec::new(),
            member_pos: MemberPos::default(),
            active: Vec::new(),
            ledger: Ledger::default(),
            created_at,
            currency,
            decimals: GROUP_DECIMALS_DEFAULT,
            convert: Convert::AtEntry,
            history: History::default(),
            keys: HashMap::new(),
            categories: Vec::new(),
            rules: Default::default(),
        });
        self.note_exact(id);
        true
    }
}

/// Where `name` goes in a table of `size` slots (a power of two; 0, past the end, when the table is
/// empty). A keyless multiply-xorshift over its words (each step a bijection, so two names of one
/// length never meet before the slot is taken), a few instructions a word where SipHash costs more
/// than the rest of a balance read's lookup. Safe without a key: it only picks a cache slot, never
/// decides a lookup, so names chosen to collide cost a lookup in `by_name`, as without the cache.
fn name_slot(name: &str, size: usize) -> usize {
    const MIX: u64 = 0x9e37_79b9_7f4a_7c15;
    if size == 0 {
        return 0;
    }
    let mut hash = name.len() as u64;
    for chunk in name.as_bytes().chunks(8) {
        let word = chunk.iter().rev().fold(0u64, |word, &byte| (word << 8) | u64::from(byte));
        hash = (hash ^ word).wrapping_mul(MIX);
        hash ^= hash >> 29;
    }
    hash = hash.wrapping_mul(MIX);
    (hash >> (64 - size.trailing_zeros())) as usize
}

/// A name as stored: edge whitespace trimmed (the original client sends what was typed, spaces
/// included), then NFC.
fn canonical(name: &str) -> String {
    name.trim().nfc().collect()
}

/// What two names that look the same have in common: the UTS #39 skeleton of the canonical form.
fn skeleton_key(name: &str) -> String {
    skeleton(&canonical(name)).collect()
}

/// A new group name as it will be stored (trimmed, NFC), or why it is refused: a character that is
/// not shown as itself (checked before trimming, so a trailing newline is refused, not trimmed), or
/// not 1-`GROUP_NAME_CHARS_MAX` characters with something visible among them.
pub fn validate_group_name(name: &str) -> Result<String, Invalid> {
    if let Some(found) = text::first_unsafe(name, text::unsafe_in_name) {
        return Err(Invalid::Unsafe { field: TextField::Group, found });
    }
    let name = canonical(name);
    let count = name.chars().count();
    // An empty skeleton: nothing but default-ignorable letters such as HANGUL FILLER, which draw nothing.
    if count == 0 || count > GROUP_NAME_CHARS_MAX || skeleton(&name).all(char::is_whitespace) {
        return Err(Invalid::GroupName);
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vocab::text::{Found, Unsafe};

    fn table(names: &[&str]) -> Groups {
        let mut groups = Groups::default();
        for (id, name) in names.iter().enumerate() {
            assert!(groups.insert(id as GroupId, name.to_string(), None, 0, 0, DEFAULT_CURRENCY.into()), "{name:?}");
        }
        groups
    }

    #[test]
    fn a_new_name_is_stored_trimmed_and_in_nfc() {
        assert_eq!(validate_group_name("  trip\u{a0}"), Ok("trip".into()));
        assert_eq!(validate_group_name("cafe\u{301}"), Ok("caf\u{e9}".into()));
        assert_eq!(validate_group_name("Goa 2025 🏖️"), Ok("Goa 2025 🏖️".into()));
        let sixty_four = "é".repeat(GROUP_NAME_CHARS_MAX);
        assert_eq!(validate_group_name(&format!(" {sixty_four} ")), Ok(sixty_four.clone()));
        // 64 NFD pairs are 128 characters as sent, 64 once composed.
        assert!(validate_group_name(&"e\u{301}".repeat(GROUP_NAME_CHARS_MAX)).is_ok());
        assert_eq!(validate_group_name(&format!("{sixty_four}x")), Err(Invalid::GroupName));
        for empty in ["", "   ", "\u{3000}", "\u{3164}", "\u{115f}\u{3164}"] {
            assert_eq!(validate_group_name(empty), Err(Invalid::GroupName), "{empty:?}");
        }
    }

    #[test]
    fn a_new_name_with_a_character_not_shown_as_itself_is_refused_naming_it() {
        let refused = |name: &str| match validate_group_name(name) {
            Err(Invalid::Unsafe { field: TextField::Group, found }) => Some(found),
            _ => None,
        };
        assert_eq!(refused("trip\n"), Some(Found { ch: '\n', position: 5, why: Unsafe::Control }));
        assert_eq!(refused("tr\u{200b}ip"), Some(Found { ch: '\u{200b}', position: 3, why: Unsafe::Format }));
        assert_eq!(refused("\u{202e}pirt"), Some(Found { ch: '\u{202e}', position: 1, why: Unsafe::Bidi }));
        assert_eq!(refused("a\u{200d}b").map(|f| f.why), Some(Unsafe::Format));
        assert_eq!(refused("\u{f8ff}").map(|f| f.why), Some(Unsafe::PrivateUse));
        assert_eq!(refused("x\u{9b}").map(|f| f.why), Some(Unsafe::Control));
    }

    #[test]
    fn look_alikes_share_a_skeleton_and_lookups_stay_exact_first() {
        let groups = table(&["trip", "café", "team", "Trip"]);
        for lookalike in ["tr\u{456}p", "t\u{ff52}ip", "tr\u{131}p", "tearn", "trip", " trip ", "cafe\u{301}"] {
            assert!(groups.lookalike(lookalike).is_some(), "{lookalike:?}");
        }
        assert_eq!(groups.lookalike("trips"), None);
        assert_eq!(groups.lookalike("Trip"), Some(3), "case is visible: Trip is its own group");
        assert_eq!(groups.find("trip"), Some(0));
        assert_eq!(groups.find("trip "), Some(0), "by the canonical form");
        assert_eq!(groups.find("cafe\u{301}"), Some(1));
        assert_eq!(groups.find("tr\u{456}p"), None, "never by look-alike");
    }

    /// Small groups find a slot by search, larger ones through `member_pos`: either way the same
    /// answers, for current, former and never members, across the size where one gives way to the other.
    #[test]
    fn membership_and_balances_by_slot_at_every_size() {
        let mut groups = table(&["trip"]);
        let group = groups.get_mut(0).expect("the group");
        for user in 1..=(LINEAR_SLOTS_MAX as UserId + 4) {
            assert!(group.add_member(user * 10));
            if user % 3 == 0 {
                assert!(group.remove_member(user * 10), "a former member at a zero balance");
            } else {
                let last = group.slots.len() - 1;
                group.ledger.balances[last] = Cents(i64::from(user));
            }
            for other in 1..=user {
                let member = other % 3 != 0;
                assert_eq!(group.is_member(other * 10), member, "{other} among {user}");
                assert_eq!(group.balance(other * 10), Cents(if member { i64::from(other) } else { 0 }));
                assert!(!group.is_member(other * 10 + 1));
                assert_eq!(group.balance(other * 10 + 1), Cents::ZERO);
            }
        }
    }

    /// The name cache in front of `by_name`: every group is found, through the table's growth and
    /// its collisions, and names that differ only at the end (as generated names do) spread over it.
    #[test]
    fn the_name_cache_finds_every_group_and_mostly_hits() {
        let names: Vec<String> = (0..1000).map(|i| format!("splitbench-0123456789-g{i}")).collect();
        let groups = table(&names.iter().map(String::as_str).collect::<Vec<_>>());
        for (id, name) in names.iter().enumerate() {
            assert_eq!(groups.find(name), Some(id as GroupId), "{name}");
            assert_eq!(groups.find(&format!(" {name}")), Some(id as GroupId), "by the canonical form");
        }
        assert_eq!(groups.find("splitbench-0123456789-g1000"), None);
        let size = groups.exact.len();
        let hits = names.iter().enumerate().filter(|&(id, name)| groups.exact[name_slot(name, size)] == id as GroupId);
        let hits = hits.count();
        assert!(hits >= 850, "{hits} of 1000 names in {size} slots");
    }

    #[test]
    fn names_stored_before_the_rules_still_insert_and_are_found_exactly() {
        // Replay and snapshot load insert whatever was stored: look-alikes of each other, untrimmed,
        // NFD, with escapes. Only an exact duplicate does not fit.
        let old = ["tr\u{200b}ip", "trip", "trip ", "\u{1b}]0;x\u{7}", "cafe\u{301}"];
        let mut groups = table(&old);
        for (id, name) in old.iter().enumerate() {
            assert_eq!(groups.find(name), Some(id as GroupId), "{name:?}");
        }
        assert_eq!(groups.find("caf\u{e9}"), Some(4), "an old NFD name is found by its NFC spelling");
        assert!(groups.lookalike("trip").is_some());
        assert!(!groups.insert(5, "trip".into(), None, 0, 0, DEFAULT_CURRENCY.into()));
        assert!(groups.insert(5, "tr\u{456}p".into(), None, 0, 0, DEFAULT_CURRENCY.into()));
    }
}
