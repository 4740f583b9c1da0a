//! The whole state as one serialisable image, for snapshots.
//!
//! Written from borrowed views (no copy of a large state), read back into owned values and rebuilt
//! through the same checks as records: ids dense, members known, every transaction balanced. Balances
//! are not stored; they are recomputed from the transactions, so a snapshot cannot carry a wrong one.
//! Session tokens are carried as their hashes, least recently used first; deleted accounts by a flag.
//! The machine only says what the image is (plain types with public fields, serde for the JSON of
//! older snapshots and `splitd inspect`); its encodings (binary sections, JSON) and how its groups are
//! parsed (on several threads) are the store's.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::groups::{Convert, Group, KeyRef};
use super::history::{Activity, Entry, History};
use super::ledger::{Payment, PaymentId, Transaction};
use super::packed::Packed;
use super::recurring::Rules;
use super::tokens::{Token, TokenHash};
use super::{ApplyError, GroupId, Machine, Millis, TxnId, UserId};

/// The state as it is written: borrowed views.
#[derive(Serialize)]
pub struct ImageRef<'a> {
    pub next_txn_id: TxnId,
    pub next_payment_id: PaymentId,
    pub users: Vec<UserRef<'a>>,
    pub groups: Vec<GroupRef<'a>>,
    pub tokens: Vec<TokenImage>,
}

#[derive(Serialize)]
pub struct UserRef<'a> {
    pub name: &'a str,
    pub password_hash: &'a str,
    pub groups: &'a [GroupId],
    #[serde(skip_serializing_if = "is_false")]
    pub deleted: bool,
}

fn is_false(flag: &bool) -> bool {
    !*flag
}

/// One session token, written and read alike (small and fixed-size: no borrowed view needed).
#[derive(Serialize, Deserialize)]
pub struct TokenImage {
    pub token: TokenHash,
    pub user: UserId,
    pub created: Millis,
    pub last_used: Millis,
    pub address: Option<IpAddr>,
}

#[derive(Serialize)]
pub struct GroupRef<'a> {
    pub name: &'a str,
    pub password_hash: Option<&'a str>,
    pub creator: UserId,
    pub created_at: i64,
    pub currency: &'a str,
    pub members: &'a [UserId],
    pub slots: &'a [UserId],
    pub transactions: Transactions<'a>,
    pub payments: &'a [Payment],
    pub history: &'a [Entry],
    /// Written only once the history is trimmed: the idempotency keys are otherwise rebuilt from it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeyImage<&'a str>>,
    /// The categories the group added (the defaults are not written).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub categories: &'a [String],
    /// Recurring rules and the next rule id; absent while the group never had one.
    #[serde(skip_serializing_if = "Rules::is_empty")]
    pub rules: &'a Rules,
    /// Written only for a group that converts at settlement.
    #[serde(skip_serializing_if = "Convert::is_at_entry")]
    pub convert: Convert,
    /// Written only when not 2 (`Group::decimals`).
    #[serde(skip_serializing_if = "is_two")]
    pub decimals: u8,
}

fn is_two(decimals: &u8) -> bool {
    *decimals == 2
}

fn two() -> u8 {
    2
}

/// A group's transactions as the image writes them: unpacked one at a time from the ledger, never
/// all at once (a snapshot must not double the memory of a large group).
#[derive(Clone, Copy)]
pub struct Transactions<'a>(&'a super::ledger::Ledger);

impl<'a> Transactions<'a> {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Transaction> + 'a {
        self.0.transactions()
    }
}

impl Serialize for Transactions<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// One idempotency key: whose, the key, what it made.
#[derive(Serialize, Deserialize)]
pub struct KeyImage<S> {
    pub user: UserId,
    pub key: S,
    pub made: KeyRef,
}

/// The state as it is read. Fields added after the first image format have defaults, so older
/// snapshots still load. `G` is how the groups are held: the store first reads them as raw text
/// (`G` = a borrowed raw JSON value), parses them apart, possibly on several threads, and swaps the
/// parsed `GroupImage`s in (`with_groups`) before `Machine::from_image` checks everything.
#[derive(Deserialize)]
pub struct StateImage<G> {
    pub next_txn_id: TxnId,
    #[serde(default = "first_id")]
    pub next_payment_id: PaymentId,
    pub users: Vec<UserImage>,
    pub groups: Vec<G>,
    /// Absent in images from before session tokens.
    #[serde(default)]
    pub tokens: Vec<TokenImage>,
}

impl<G> StateImage<G> {
    /// The groups, in group id order.
    pub fn groups(&self) -> &[G] {
        &self.groups
    }

    /// The same image with `groups` (parsed from `self.groups()`, in the same order) in their place.
    pub fn with_groups<H>(self, groups: Vec<H>) -> StateImage<H> {
        let StateImage { next_txn_id, next_payment_id, users, tokens, .. } = self;
        StateImage { next_txn_id, next_payment_id, users, groups, tokens }
    }
}

#[derive(Deserialize)]
pub struct UserImage {
    pub name: String,
    pub password_hash: String,
    pub groups: Vec<GroupId>,
    #[serde(default)]
    pub deleted: bool,
}

/// One group as the image holds it: parsed, not yet checked (`Machine::from_image` checks it).
#[derive(Deserialize)]
pub struct GroupImage {
    pub name: String,
    pub password_hash: Option<String>,
    pub creator: UserId,
    pub created_at: i64,
    #[serde(default = "default_currency")]
    pub currency: String,
    pub members: Vec<UserId>,
    /// Empty in older images: then the members are the slots.
    #[serde(default)]
    pub slots: Vec<UserId>,
    /// Packed as they were read (`Read::push`), not held as `Transaction`s: a large group's would
    /// be most of a restart's memory and allocations.
    #[serde(deserialize_with = "read_transactions")]
    pub transactions: Read,
    #[serde(default)]
    pub payments: Vec<Payment>,
    #[serde(default)]
    pub history: Vec<Entry>,
    /// Absent unless the history was trimmed (then the keys of trimmed entries are only here).
    #[serde(default)]
    pub keys: Vec<KeyImage<String>>,
    /// Absent in images from before categories (and when none was added).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Absent in images from before recurring expenses.
    #[serde(default)]
    pub rules: Rules,
    /// Absent in images from before it (and for a group that converts at entry).
    #[serde(default)]
    pub convert: Convert,
    /// Absent in images from before groups had their own decimals (they had 2), and when 2.
    #[serde(default = "two")]
    pub decimals: u8,
}

/// A group's transactions as an image is read: each checked balanced and in id order and packed as
/// it arrives (on the parsing thread), with what the ledger needs to take them all at once (each
/// user's net effect, the keys).
#[derive(Default)]
pub struct Read {
    packed: Vec<Packed>,
    /// Net effect per user (+paid −owed), in first-seen order.
    effects: Vec<(UserId, i128)>,
    /// The same for the transactions kept in another currency (a group that converts at
    /// settlement), per currency in first-seen order; empty for most groups.
    others: Vec<(String, Vec<(UserId, i128)>)>,
    /// `(recorder, key, transaction)` of the keyed ones.
    keys: Vec<(UserId, String, TxnId)>,
}

impl Read {
    pub fn with_capacity(transactions: usize) -> Read {
        Read { packed: Vec::with_capacity(transactions), ..Read::default() }
    }

    /// Takes `txn` (the caller may reuse it): `Err` if it is unbalanced or not after the last one.
    pub fn push(&mut self, txn: &Transaction) -> Result<(), ApplyError> {
        if !txn.is_balanced() || self.packed.last().is_some_and(|last| last.id >= txn.id) {
            return Err(ApplyError(format!("snapshot: transaction {} is unbalanced or out of order", txn.id)));
        }
        let effects = match txn.settled_in() {
            None => &mut self.effects,
            Some(code) => match self.others.iter().position(|(c, _)| c == code) {
                Some(at) => &mut self.others[at].1,
                None => {
                    self.others.push((code.to_string(), Vec::new()));
                    &mut self.others.last_mut().ok_or_else(|| ApplyError("snapshot: no currency".into()))?.1
                }
            },
        };
        let shares = txn.paid.iter().map(|&(u, c)| (u, c.0)).chain(txn.owed.iter().map(|&(u, c)| (u, -c.0)));
        for (user, cents) in shares {
            match effects.iter_mut().find(|(u, _)| *u == user) {
                Some((_, net)) => *net += i128::from(cents),
                None => effects.push((user, i128::from(cents))),
            }
        }
        if let Some(key) = &txn.key {
            self.keys.push((txn.payer, key.clone(), txn.id));
        }
        self.packed.push(Packed::pack(txn));
        Ok(())
    }
}

fn read_transactions<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Read, D::Error> {
    struct Visit;
    impl<'de> serde::de::Visitor<'de> for Visit {
        type Value = Read;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of transactions")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Read, A::Error> {
            let mut read = Read::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(txn) = seq.next_element::<Transaction>()? {
                read.push(&txn).map_err(|e| serde::de::Error::custom(e.0))?;
            }
            Ok(read)
        }
    }
    deserializer.deserialize_seq(Visit)
}

fn first_id() -> PaymentId {
    1
}

/// A group image's currency is a code and its decimals those of some currency.
fn check_money_settings(image: &GroupImage) -> Result<(), ApplyError> {
    if !vocab::is_currency_code(&image.currency) {
        return Err(ApplyError(format!("snapshot: group {} has a bad currency", image.name)));
    }
    if image.decimals > vocab::currency::DECIMALS_MAX {
        return Err(ApplyError(format!("snapshot: group {} has {} decimals", image.name, image.decimals)));
    }
    Ok(())
}

fn default_currency() -> String {
    super::DEFAULT_CURRENCY.to_string()
}

/// Every idempotency key of `group`, in a stable order (so one state writes one image).
fn key_images(group: &super::Group) -> Vec<KeyImage<&str>> {
    let mut keys: Vec<_> =
        group.keys.iter().map(|((user, key), made)| KeyImage { user: *user, key: key.as_str(), made: *made }).collect();
    keys.sort_by(|a, b| (a.user, a.key).cmp(&(b.user, b.key)));
    keys
}

impl Machine {
    /// The whole state, borrowed, ready to serialise.
    pub fn image(&self) -> ImageRef<'_> {
        ImageRef {
            next_txn_id: self.next_txn_id,
            next_payment_id: self.next_payment_id,
            users: self
                .users
                .iter()
                .map(|(_, u)| UserRef {
                    name: &u.name,
                    password_hash: &u.password_hash,
                    groups: &u.groups,
                    deleted: u.deleted,
                })
                .collect(),
            groups: self
                .groups
                .iter()
                .map(|(_, g)| GroupRef {
                    name: &g.name,
                    password_hash: g.password_hash.as_deref(),
                    creator: g.creator,
                    created_at: g.created_at,
                    currency: &g.currency,
                    members: &g.members,
                    slots: &g.slots,
                    transactions: Transactions(&g.ledger),
                    payments: g.ledger.payments(),
                    history: g.history.entries(),
                    keys: if g.history.oldest() > 1 { key_images(g) } else { Vec::new() },
                    categories: &g.categories,
                    rules: &g.rules,
                    convert: g.convert,
                    decimals: g.decimals,
                })
                .collect(),
            tokens: self
                .tokens
                .iter()
                .map(|(token, t)| TokenImage {
                    token,
                    user: t.user,
                    created: t.created,
                    last_used: t.last_used,
                    address: t.address,
                })
                .collect(),
        }
    }

    /// Rebuilds a machine from an image, checking everything a record would be checked for.
    pub fn from_image(mut state: StateImage<GroupImage>) -> Result<Machine, ApplyError> {
        let groups = std::mem::take(&mut state.groups);
        let mut machine = Machine::new();
        for (id, user) in state.users.iter().enumerate() {
            if !machine.users.insert(id as UserId, user.name.clone(), user.password_hash.clone()) {
                return Err(ApplyError(format!("snapshot: duplicate user {}", user.name)));
            }
            if user.deleted && (!user.groups.is_empty() || !machine.users.mark_deleted(id as UserId)) {
                return Err(ApplyError(format!("snapshot: deleted account {} is still in a group", user.name)));
            }
        }
        for (id, image) in groups.into_iter().enumerate() {
            machine.restore_group(id as GroupId, image, &state)?;
        }
        // Each user's group list must be exactly the groups that list them, in the user's own order.
        for (id, image) in state.users.into_iter().enumerate() {
            let id = id as UserId;
            let mut listed: Vec<GroupId> = image.groups.clone();
            listed.sort_unstable();
            let mut actual: Vec<GroupId> =
                machine.groups.iter().filter(|(_, g)| g.is_member(id)).map(|(g, _)| g).collect();
            actual.sort_unstable();
            if listed != actual {
                return Err(ApplyError(format!("snapshot: group list of {} does not match membership", image.name)));
            }
            if let Some(user) = machine.users.get_mut(id) {
                user.groups = image.groups;
            }
        }
        machine.next_txn_id = state.next_txn_id.max(1);
        machine.next_payment_id = state.next_payment_id.max(1);
        machine.restore_tokens(state.tokens)?;
        machine.rebuild_due();
        Ok(machine)
    }

    /// The token table, after the users: each token of an active user, each hash once.
    fn restore_tokens(&mut self, tokens: Vec<TokenImage>) -> Result<(), ApplyError> {
        for image in tokens {
            let TokenImage { token, user, created, last_used, address } = image;
            if !self.users.is_active(user) || !self.tokens.insert(token, Token { user, created, last_used, address }) {
                return Err(ApplyError(format!("snapshot: token {token:?} of user {user} does not fit")));
            }
        }
        Ok(())
    }

    /// Adds group `id` from its image, after the users: members known, payments and transactions
    /// fitting the group and numbered below the image's next ids, history numbered 1, 2, 3... (or
    /// consecutive from where it was trimmed)
    fn restore_group(
        &mut self,
        id: GroupId,
        image: GroupImage,
        state: &StateImage<GroupImage>,
    ) -> Result<(), ApplyError> {
        check_money_settings(&image)?;
        let known = |u: &UserId| (*u as usize) < state.users.len();
        let slots = if image.slots.is_empty() { image.members.clone() } else { image.slots };
        if !known(&image.creator) || !slots.iter().all(known) {
            return Err(ApplyError(format!("snapshot: group {} names an unknown user", image.name)));
        }

        let inserted = self.groups.insert(
            id,
            image.name.clone(),
            image.password_hash,
            image.creator,
            image.created_at,
            image.currency,
        );
        if !inserted {
            return Err(ApplyError(format!("snapshot: duplicate group {}", image.name)));
        }
        let group = self.groups.get_mut(id).ok_or_else(|| ApplyError("snapshot: group vanished".into()))?;
        if !group.restore_members(&slots, &image.members) {
            return Err(ApplyError(format!("snapshot: members of {} do not fit its slots", image.name)));
        }
        for payment in image.payments {
            let payment_id = payment.id;
            if payment_id >= state.next_payment_id.max(1) || !group.ledger.add_payment(payment, &group.member_pos) {
                return Err(ApplyError(format!("snapshot: payment {payment_id} does not fit group {}", image.name)));
            }
        }
        group.history = History::restore(image.history)
            .ok_or_else(|| ApplyError(format!("snapshot: history of {} is not numbered consecutively", image.name)))?;
        // Idempotency keys: of the transactions there are and those the history saw deleted (a key
        // stays with its transaction through edits; its recorder is the one who added it), of the
        // payments the history saw recorded, and those of trimmed entries (`keys`). One key names one
        // thing, so the order does not matter.
        let mut keys = Vec::new();
        for entry in group.history.entries() {
            match &entry.what {
                Activity::TransactionDeleted { txn } => {
                    keys.push((txn.payer, txn.key.clone(), KeyRef::Transaction(txn.id)))
                }
                Activity::PaymentRecorded { payment } => {
                    keys.push((payment.by, payment.key.clone(), KeyRef::Payment(payment.id)))
                }
                _ => {}
            }
        }
        group.convert = image.convert;
        group.decimals = image.decimals;
        let Read { packed, effects, others, keys: keyed } = image.transactions;
        keys.extend(keyed.into_iter().map(|(user, key, txn)| (user, Some(key), KeyRef::Transaction(txn))));
        for (user, key, made) in keys {
            group.note_key(user, key.as_ref(), made);
        }
        for KeyImage { user, key, made } in image.keys {
            group.keys.entry((user, key)).or_insert(made);
        }
        restore_lists(group, &image.name, image.categories, image.rules, state.users.len())?;
        let last = packed.last().map(|t| t.id);
        if last.is_some_and(|id| id >= state.next_txn_id)
            || !group.ledger.restore(packed, &effects, &others, &group.member_pos)
        {
            return Err(ApplyError(format!("snapshot: the transactions of group {} do not fit it", image.name)));
        }
        Ok(())
    }
}

/// A group's added categories and recurring rules, checked against the group and its users.
fn restore_lists(
    group: &mut Group,
    name: &str,
    categories: Vec<String>,
    rules: Rules,
    users: usize,
) -> Result<(), ApplyError> {
    for category in categories {
        if group.find_category(&category).is_some() {
            return Err(ApplyError(format!("snapshot: category {category:?} twice in group {name}")));
        }
        group.categories.push(category);
    }
    let rules_fit = rules.rules.iter().all(|(&id, rule)| {
        id == rule.id
            && id < rules.next_id
            && (rule.by as usize) < users
            && vocab::parse_date(&rule.schedule.start).is_ok()
    });
    if !rules_fit || rules.next_id == 0 {
        return Err(ApplyError(format!("snapshot: the recurring rules of group {name} do not fit it")));
    }
    group.rules = rules;
    Ok(())
}
