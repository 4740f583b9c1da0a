//! A transaction as the ledger keeps it in memory: the fixed fields inline, everything of variable
//! size in one packed byte slice (one heap block instead of five), and what the transaction's own
//! rule recomputes exactly left out.
//!
//! Packed: the description, `split_between`, and only when they cannot be derived, `paid` (derived:
//! the recorder paid it all, the original's case) and `owed` (derived: recomputing the shares from
//! the split rule — equal, percent, shares — gives exactly these, in this order; never for exact
//! splits). Then the weights of a percent or shares split, the date and the key. Numbers are LEB128
//! varints (user ids are small), cents zigzag. `pack` checks the derivation against the
//! transaction itself, so `unpack(pack(t)) == t` for every `t`: the property test below.
//!
//! Owns the layout only; what a valid transaction is stays `ledger`'s.

use super::ledger::{Foreign, Rate, Split, Transaction, TxnId};
use super::UserId;
use crate::money::{equal_share, split_equal, Cents};

/// `paid` is `[(payer, amount)]`.
const PAID_BY_PAYER: u8 = 1;
/// `owed` is what the split rule gives for `amount`.
const OWED_DERIVED: u8 = 2;
const INCLUDE_PAYER: u8 = 4;
const HAS_DATE: u8 = 8;
const HAS_KEY: u8 = 16;
/// Two bits of split mode: equal, exact, percent, shares.
const MODE_SHIFT: u8 = 5;
/// A byte of `EXTRA_*` flags follows the key, then the fields it names, in this order.
const HAS_EXTRA: u8 = 128;
const EXTRA_FOREIGN: u8 = 1;
const EXTRA_RATE: u8 = 2;
const EXTRA_CATEGORY: u8 = 4;
const EXTRA_RULE: u8 = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    pub id: TxnId,
    pub amount: Cents,
    pub created_at: i64,
    pub version: u64,
    pub payer: UserId,
    flags: u8,
    rest: Box<[u8]>,
}

impl Packed {
    pub fn pack(txn: &Transaction) -> Packed {
        let mut flags = 0;
        let mut rest = Vec::with_capacity(txn.description.len() + 2 + txn.split_between.len());
        put_text(&mut rest, &txn.description);
        put_u64(&mut rest, txn.split_between.len() as u64);
        txn.split_between.iter().for_each(|&u| put_u64(&mut rest, u as u64));
        if txn.include_payer {
            flags |= INCLUDE_PAYER;
        }
        if txn.paid.len() == 1 && txn.paid[0] == (txn.payer, txn.amount) {
            flags |= PAID_BY_PAYER;
        } else {
            put_shares(&mut rest, &txn.paid);
        }
        if owed_is_derived(txn) {
            flags |= OWED_DERIVED;
        } else {
            put_shares(&mut rest, &txn.owed);
        }
        let mode = match &txn.split {
            Split::Equal => 0,
            Split::Exact => 1,
            Split::Percent { percents } => {
                put_u64(&mut rest, percents.len() as u64);
                percents.iter().for_each(|&(u, bp)| put_pair(&mut rest, u, bp as u64));
                2
            }
            Split::Shares { weights } => {
                put_u64(&mut rest, weights.len() as u64);
                weights.iter().for_each(|&(u, w)| put_pair(&mut rest, u, w));
                3
            }
        };
        flags |= mode << MODE_SHIFT;
        if let Some(date) = &txn.date {
            flags |= HAS_DATE;
            put_text(&mut rest, date);
        }
        if let Some(key) = &txn.key {
            flags |= HAS_KEY;
            put_text(&mut rest, key);
        }
        if txn.foreign.is_some() || txn.category.is_some() || txn.rule.is_some() {
            flags |= HAS_EXTRA;
            put_extra(&mut rest, txn);
        }
        Packed {
            id: txn.id,
            amount: txn.amount,
            created_at: txn.created_at,
            version: txn.version,
            payer: txn.payer,
            flags,
            rest: rest.into_boxed_slice(),
        }
    }

    /// The transaction, whole again. The bytes were written by `pack` (never read from outside), so
    /// they always read; a short read would give empty fields, never a panic.
    pub fn unpack(&self) -> Transaction {
        let mut take = Take { bytes: &self.rest, at: 0 };
        let description = take.text();
        let split_between = (0..take.u64()).map(|_| take.u64() as UserId).collect();
        let paid = if self.flags & PAID_BY_PAYER != 0 { vec![(self.payer, self.amount)] } else { take.shares() };
        let owed = if self.flags & OWED_DERIVED != 0 { Vec::new() } else { take.shares() };
        let split = match self.flags >> MODE_SHIFT & 3 {
            0 => Split::Equal,
            1 => Split::Exact,
            2 => Split::Percent {
                percents: (0..take.u64()).map(|_| (take.u64() as UserId, take.u64() as u32)).collect(),
            },
            _ => Split::Shares { weights: (0..take.u64()).map(|_| (take.u64() as UserId, take.u64())).collect() },
        };
        let date = (self.flags & HAS_DATE != 0).then(|| take.text());
        let key = (self.flags & HAS_KEY != 0).then(|| take.text());
        let extra = if self.flags & HAS_EXTRA != 0 { take.byte() } else { 0 };
        let foreign = (extra & EXTRA_FOREIGN != 0).then(|| Foreign {
            currency: take.text(),
            amount: take.cents(),
            rate: (extra & EXTRA_RATE != 0).then(|| Rate { digits: take.u64(), scale: take.byte() }),
        });
        let category = (extra & EXTRA_CATEGORY != 0).then(|| take.text());
        let rule = (extra & EXTRA_RULE != 0).then(|| take.u64());
        let mut txn = Transaction {
            id: self.id,
            payer: self.payer,
            amount: self.amount,
            description,
            split_between,
            include_payer: self.flags & INCLUDE_PAYER != 0,
            paid,
            owed,
            created_at: self.created_at,
            split,
            date,
            key,
            version: self.version,
            foreign,
            category,
            rule,
        };
        if self.flags & OWED_DERIVED != 0 {
            txn.owed = derived_owed(&txn).unwrap_or_default();
        }
        txn
    }

    /// `Transaction::is_balanced`, without unpacking the usual shape: paid by the recorder and owed as
    /// the rule gives it both sum to the amount by construction (`pack` checked the shares are
    /// exactly the rule's).
    pub fn is_balanced(&self) -> bool {
        let derived = PAID_BY_PAYER | OWED_DERIVED;
        match self.flags & derived == derived {
            true => self.amount.0 > 0,
            false => self.unpack().is_balanced(),
        }
    }

    /// The description, without unpacking the rest.
    pub fn description(&self) -> String {
        Take { bytes: &self.rest, at: 0 }.text()
    }
}

/// Whether `txn.owed` is exactly what its rule gives (for an equal split: checked without building
/// the shares).
fn owed_is_derived(txn: &Transaction) -> bool {
    match &txn.split {
        Split::Equal => {
            let people = txn.equal_participants();
            people.len() == txn.owed.len()
                && people.iter().zip(&txn.owed).enumerate().all(|(position, (&user, &(owed_user, cents)))| {
                    user == owed_user && equal_share(txn.amount, people.len(), position) == Some(cents)
                })
        }
        _ => derived_owed(txn).is_some_and(|owed| owed == txn.owed),
    }
}

/// The shares the transaction's split rule gives for its amount (`None`: exact, or no allocation).
fn derived_owed(txn: &Transaction) -> Option<Vec<(UserId, Cents)>> {
    match &txn.split {
        Split::Equal => {
            let people = txn.equal_participants();
            let shares = split_equal(txn.amount, people.len())?;
            Some(people.into_iter().zip(shares).collect())
        }
        Split::Exact => None,
        Split::Percent { .. } | Split::Shares { .. } => txn.split.weighted_shares(txn.amount),
    }
}

/// The fields most transactions do not have, behind one byte saying which are there.
fn put_extra(rest: &mut Vec<u8>, txn: &Transaction) {
    let at = rest.len();
    rest.push(0);
    let mut extra = 0;
    if let Some(foreign) = &txn.foreign {
        extra |= EXTRA_FOREIGN;
        put_text(rest, &foreign.currency);
        put_cents(rest, foreign.amount);
        if let Some(rate) = foreign.rate {
            extra |= EXTRA_RATE;
            put_u64(rest, rate.digits);
            rest.push(rate.scale);
        }
    }
    if let Some(category) = &txn.category {
        extra |= EXTRA_CATEGORY;
        put_text(rest, category);
    }
    if let Some(rule) = txn.rule {
        extra |= EXTRA_RULE;
        put_u64(rest, rule);
    }
    rest[at] = extra;
}

fn put_cents(out: &mut Vec<u8>, cents: Cents) {
    put_u64(out, ((cents.0 << 1) ^ (cents.0 >> 63)) as u64);
}

fn put_u64(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    put_u64(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

fn put_pair(out: &mut Vec<u8>, user: UserId, value: u64) {
    put_u64(out, user as u64);
    put_u64(out, value);
}

fn put_shares(out: &mut Vec<u8>, shares: &[(UserId, Cents)]) {
    put_u64(out, shares.len() as u64);
    for &(user, cents) in shares {
        put_u64(out, user as u64);
        put_cents(out, cents);
    }
}

/// Reads what `pack` wrote; past the end it reads zeros.
struct Take<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Take<'_> {
    fn u64(&mut self) -> u64 {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&byte) = self.bytes.get(self.at) else { return value };
            self.at += 1;
            value |= ((byte & 0x7f) as u64) << shift;
            if byte & 0x80 == 0 {
                break;
            }
        }
        value
    }

    fn byte(&mut self) -> u8 {
        let byte = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        byte
    }

    fn cents(&mut self) -> Cents {
        let zigzag = self.u64();
        Cents(((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64))
    }

    fn text(&mut self) -> String {
        let len = self.u64() as usize;
        let end = self.at.saturating_add(len).min(self.bytes.len());
        let text = String::from_utf8_lossy(&self.bytes[self.at.min(end)..end]).into_owned();
        self.at = end;
        text
    }

    fn shares(&mut self) -> Vec<(UserId, Cents)> {
        (0..self.u64())
            .map(|_| {
                let user = self.u64() as UserId;
                (user, self.cents())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(amount: i64) -> Transaction {
        Transaction {
            id: 7,
            payer: 300,
            amount: Cents(amount),
            description: "dîner".into(),
            split_between: vec![1, 300, 70_000],
            include_payer: true,
            paid: vec![(300, Cents(amount))],
            owed: Vec::new(),
            created_at: -5,
            split: Split::Equal,
            date: None,
            key: None,
            version: 1,
            foreign: None,
            category: None,
            rule: None,
        }
    }

    #[test]
    fn every_shape_unpacks_to_itself() {
        let mut shapes = Vec::new();
        let mut equal = base(1001);
        equal.owed = derived_owed(&equal).unwrap();
        shapes.push(equal.clone());
        // Owed that the rule does not give (an older rule, a hand-made record): kept as given.
        let mut odd = equal.clone();
        odd.owed = vec![(1, Cents(1000)), (300, Cents(1)), (70_000, Cents(0))];
        shapes.push(odd);
        let mut exact = base(10);
        exact.split = Split::Exact;
        exact.owed = vec![(1, Cents(4)), (70_000, Cents(6))];
        exact.paid = vec![(1, Cents(3)), (300, Cents(7))];
        exact.date = Some("2026-12-01".into());
        exact.key = Some("k".into());
        exact.version = u64::MAX;
        shapes.push(exact.clone());
        let mut extras = exact;
        extras.category = Some("food".into());
        extras.rule = Some(u64::MAX);
        extras.foreign = Some(Foreign { currency: "JPY".into(), amount: Cents(-3), rate: None });
        shapes.push(extras.clone());
        extras.foreign =
            Some(Foreign { currency: "KWD".into(), amount: Cents(1250), rate: Some(Rate { digits: 1, scale: 255 }) });
        extras.category = None;
        shapes.push(extras.clone());
        extras.rule = None;
        shapes.push(extras);
        let mut percent = base(999);
        percent.split = Split::Percent { percents: vec![(1, 3333), (70_000, 6667)] };
        percent.owed = percent.split.weighted_shares(percent.amount).unwrap();
        shapes.push(percent);
        let mut weights = base(i64::MAX);
        weights.split = Split::Shares { weights: vec![(1, u64::MAX / 4), (300, 1)] };
        weights.owed = weights.split.weighted_shares(weights.amount).unwrap();
        weights.description = String::new();
        shapes.push(weights);
        for txn in shapes {
            let packed = Packed::pack(&txn);
            assert_eq!(packed.unpack(), txn);
            assert_eq!(packed.description(), txn.description);
            assert!(packed.is_balanced() && txn.is_balanced());
        }
    }

    #[test]
    fn the_common_shape_packs_into_a_few_bytes() {
        let mut txn = base(1001);
        txn.split_between = vec![1, 2];
        txn.payer = 0;
        txn.paid = vec![(0, txn.amount)];
        txn.description = "0123456789".into();
        txn.owed = derived_owed(&txn).unwrap();
        let packed = Packed::pack(&txn);
        assert_eq!(packed.rest.len(), 1 + 10 + 1 + 2, "description, split_between; paid and owed derived");
        assert_eq!(packed.unpack(), txn);
    }
}
