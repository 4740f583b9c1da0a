//! The binary image: the machine's state as checksummed sections, written in one pass from the
//! machine's borrowed view (`ImageRef`) and read back in one pass into `StateImage`/`GroupImage`,
//! which `Machine::from_image` then checks as it does a JSON image.
//!
//! Layout: `SPLITIMG`, the image version (u32 LE), the section count (u32 LE), then each section:
//! its kind (1 byte), its body's length (u64 LE), the CRC-32C of its body (u32 LE), the body. The
//! first section is the state (next ids, users, tokens), then one section per group in group id
//! order, so groups can be parsed on several threads and a damaged one is named. Inside a body:
//! LEB128 varints (zigzag for signed), length-prefixed text and lists (`bytes`).
//!
//! Owns the encoding only; what a valid state is stays the machine's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::bytes::{Put, Short, Take};
use crate::machine::history::{Activity, Entry, Occurrence};
use crate::machine::image::{GroupImage, GroupRef, ImageRef, KeyImage, Read, StateImage, TokenImage, UserImage};
use crate::machine::recurring::{Every, Rule, RuleCurrency, Rules, Schedule, Sharing, Template};
use crate::machine::{ApplyError, Convert, Foreign, KeyRef, Payment, Rate, Split, TokenHash, Transaction};
use crate::money::Cents;

pub const MAGIC: &[u8; 8] = b"SPLITIMG";
/// The binary image version this build writes and reads. 2: a transaction ends with its extras
/// (foreign amount, category, recurring rule); version 1 images, which have none, still read. 3: a
/// group section ends with the categories it added, then its recurring rules (older images: none).
/// 4: a payment ends with its currency, a group section with when it converts (`put_convert`;
/// older: at entry, no currency). 5: a group section ends with its amounts' decimals (older: 2).
/// 6: a recurring rule ends with its category and its entry currency and rate (`put_rule_extras`;
/// older: none).
pub const IMAGE_VERSION: u32 = 6;
const STATE: u8 = 1;
const GROUP: u8 = 2;
/// Kind, length, checksum.
const SECTION_HEAD: usize = 1 + 8 + 4;

/// Whether `body` is a binary image (else it is a JSON one, from before).
pub fn is_binary(body: &[u8]) -> bool {
    body.starts_with(MAGIC)
}

/// Appends the whole image to `out`.
pub fn write(image: &ImageRef, out: &mut Vec<u8>) {
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&IMAGE_VERSION.to_le_bytes());
    out.extend_from_slice(&(1 + image.groups.len() as u32).to_le_bytes());
    section(out, STATE, |out| put_state(out, image));
    for group in &image.groups {
        section(out, GROUP, |out| put_group(out, group));
    }
}

/// One section: its head, filled in once `fill` has written the body behind it.
fn section(out: &mut Vec<u8>, kind: u8, fill: impl FnOnce(&mut Vec<u8>)) {
    let head = out.len();
    out.push(kind);
    out.extend_from_slice(&[0; SECTION_HEAD - 1]);
    let body = out.len();
    fill(out);
    let len = (out.len() - body) as u64;
    let crc = crc32c::crc32c(&out[body..]);
    out[head + 1..head + 9].copy_from_slice(&len.to_le_bytes());
    out[head + 9..head + 13].copy_from_slice(&crc.to_le_bytes());
}

/// An image's version, its state section and its group sections.
pub type Sections<'a> = (u32, &'a [u8], Vec<&'a [u8]>);

/// The image's version and its sections, each checked against its checksum: the state's body, then
/// the groups'.
pub fn sections(body: &[u8]) -> Result<Sections<'_>, ApplyError> {
    let bad = |why: &str| ApplyError(format!("binary snapshot: {why}"));
    let mut take = Take::new(body);
    take.raw(MAGIC.len(), "magic").map_err(|_| bad("too short"))?;
    let version = u32::from_le_bytes(take.array("version").map_err(|_| bad("too short"))?);
    if version > IMAGE_VERSION {
        return Err(bad(&format!("image version {version}; this build reads up to {IMAGE_VERSION}")));
    }
    let count = u32::from_le_bytes(take.array("count").map_err(|_| bad("too short"))?) as usize;
    let mut groups = Vec::with_capacity(count.min(body.len() / SECTION_HEAD));
    let mut state = None;
    for index in 0..count {
        let damaged = |why: &str| bad(&format!("section {index}: {why}"));
        let kind = take.byte("kind").map_err(|_| damaged("missing"))?;
        let len = u64::from_le_bytes(take.array("len").map_err(|_| damaged("head cut short"))?);
        let crc = u32::from_le_bytes(take.array("crc").map_err(|_| damaged("head cut short"))?);
        let len = usize::try_from(len).map_err(|_| damaged("too long"))?;
        let section = take.raw(len, "body").map_err(|_| damaged("cut short"))?;
        if crc32c::crc32c(section) != crc {
            return Err(damaged("checksum mismatch: the snapshot is damaged"));
        }
        match (kind, index) {
            (STATE, 0) => state = Some(section),
            (GROUP, 1..) => groups.push(section),
            _ => return Err(damaged(&format!("unexpected kind {kind}"))),
        }
    }
    if !take.is_empty() {
        return Err(bad("bytes after the last section"));
    }
    Ok((version, state.ok_or_else(|| bad("no state section"))?, groups))
}

/// The state section read, with the groups' sections still raw (parsed apart: `group`).
pub fn state<'a>(state: &[u8], groups: Vec<&'a [u8]>) -> Result<StateImage<&'a [u8]>, ApplyError> {
    let mut take = Take::new(state);
    let image = take_state(&mut take, groups).map_err(|Short(what)| misread("state", what))?;
    if !take.is_empty() {
        return Err(misread("state", "trailing bytes"));
    }
    Ok(image)
}

/// One group's section, written by image `version`, parsed. Pure: safe on any thread.
pub fn group(section: &[u8], version: u32) -> Result<GroupImage, ApplyError> {
    let mut take = Take::written_by(section, version);
    let group = take_group(&mut take).map_err(|Short(what)| misread("group", what))?;
    if !take.is_empty() {
        return Err(misread("group", "trailing bytes"));
    }
    Ok(group)
}

fn misread(section: &str, what: &str) -> ApplyError {
    ApplyError(format!("binary snapshot: {section} section does not read ({what})"))
}

fn put_state(out: &mut Vec<u8>, image: &ImageRef) {
    out.u64v(image.next_txn_id);
    out.u64v(image.next_payment_id);
    out.u64v(image.users.len() as u64);
    for user in &image.users {
        out.text(user.name);
        out.text(user.password_hash);
        out.u64v(user.groups.len() as u64);
        user.groups.iter().for_each(|&g| out.u32v(g));
        out.flag(user.deleted);
    }
    out.u64v(image.tokens.len() as u64);
    for token in &image.tokens {
        out.extend_from_slice(token.token.as_bytes());
        out.u32v(token.user);
        out.i64v(token.created);
        out.i64v(token.last_used);
        match token.address {
            None => out.push(0),
            Some(IpAddr::V4(v4)) => {
                out.push(4);
                out.extend_from_slice(&v4.octets());
            }
            Some(IpAddr::V6(v6)) => {
                out.push(6);
                out.extend_from_slice(&v6.octets());
            }
        }
    }
}

fn take_state<'a>(take: &mut Take, groups: Vec<&'a [u8]>) -> Result<StateImage<&'a [u8]>, Short> {
    let next_txn_id = take.u64v("next transaction id")?;
    let next_payment_id = take.u64v("next payment id")?;
    let users = take.list("users", |t| {
        Ok(UserImage {
            name: t.string("user name")?,
            password_hash: t.string("password hash")?,
            groups: t.list("user's groups", |t| t.u32v("group id"))?,
            deleted: t.flag("deleted")?,
        })
    })?;
    let tokens = take.list("tokens", |t| {
        let token = TokenHash::from_bytes(t.array("token hash")?);
        let (user, created, last_used) = (t.u32v("token user")?, t.i64v("created")?, t.i64v("last used")?);
        let address = match t.byte("address")? {
            0 => None,
            4 => Some(IpAddr::V4(Ipv4Addr::from(t.array::<4>("address")?))),
            6 => Some(IpAddr::V6(Ipv6Addr::from(t.array::<16>("address")?))),
            _ => return Err(Short("address")),
        };
        Ok(TokenImage { token, user, created, last_used, address })
    })?;
    Ok(StateImage { next_txn_id, next_payment_id, users, groups, tokens })
}

fn put_group(out: &mut Vec<u8>, group: &GroupRef) {
    out.text(group.name);
    out.opt_text(group.password_hash);
    out.u32v(group.creator);
    out.i64v(group.created_at);
    out.text(group.currency);
    put_users(out, group.members);
    put_users(out, group.slots);
    out.u64v(group.transactions.len() as u64);
    group.transactions.iter().for_each(|txn| put_transaction(out, &txn));
    out.u64v(group.payments.len() as u64);
    group.payments.iter().for_each(|p| put_payment(out, p));
    out.u64v(group.history.len() as u64);
    group.history.iter().for_each(|e| put_entry(out, e));
    out.u64v(group.keys.len() as u64);
    for key in &group.keys {
        out.u32v(key.user);
        out.text(key.key);
        put_key_ref(out, key.made);
    }
    out.u64v(group.categories.len() as u64);
    group.categories.iter().for_each(|name| out.text(name));
    put_rules(out, group.rules);
    put_convert(out, group.convert);
    out.push(group.decimals);
}

/// Since version 4, after everything else: when the group converts (0: at entry, 1: at settlement).
fn put_convert(out: &mut Vec<u8>, convert: Convert) {
    out.push(match convert {
        Convert::AtEntry => 0,
        Convert::AtSettlement => 1,
    });
}

fn take_convert(take: &mut Take) -> Result<Convert, Short> {
    if take.version < 4 {
        return Ok(Convert::AtEntry);
    }
    match take.byte("convert")? {
        0 => Ok(Convert::AtEntry),
        1 => Ok(Convert::AtSettlement),
        _ => Err(Short("convert")),
    }
}

fn take_group(take: &mut Take) -> Result<GroupImage, Short> {
    let mut group = GroupImage {
        name: take.string("group name")?,
        password_hash: take.opt_string("group password")?,
        creator: take.u32v("creator")?,
        created_at: take.i64v("created at")?,
        currency: take.string("currency")?,
        members: take_users(take)?,
        slots: take_users(take)?,
        transactions: take_transactions(take)?,
        payments: take.list("payments", take_payment)?,
        history: take.list("history", take_entry)?,
        keys: take.list("keys", |t| {
            Ok(KeyImage { user: t.u32v("key user")?, key: t.string("key")?, made: take_key_ref(t)? })
        })?,
        categories: if take.version >= 3 { take.list("categories", |t| t.string("category"))? } else { Vec::new() },
        rules: Rules::default(),
        convert: Convert::AtEntry,
        decimals: 2,
    };
    if take.version >= 3 {
        group.rules = take_rules(take)?;
    }
    group.convert = take_convert(take)?;
    if take.version >= 5 {
        group.decimals = take.byte("decimals")?;
    }
    Ok(group)
}

/// Since version 3, at the end of a group section: the next rule id, then each rule.
fn put_rules(out: &mut Vec<u8>, rules: &Rules) {
    out.u64v(rules.next_id);
    out.u64v(rules.rules.len() as u64);
    for rule in rules.rules.values() {
        put_rule(out, rule);
    }
}

fn take_rules(take: &mut Take) -> Result<Rules, Short> {
    let next_id = take.u64v("next rule id")?;
    let list = take.list("rules", take_rule)?;
    Ok(Rules { next_id, rules: list.into_iter().map(|rule| (rule.id, rule)).collect() })
}

fn put_rule(out: &mut Vec<u8>, rule: &Rule) {
    out.u64v(rule.id);
    out.u32v(rule.by);
    out.i64v(rule.created_at);
    let schedule = &rule.schedule;
    out.push(match schedule.every {
        Every::Day => 0,
        Every::Week => 1,
        Every::Month => 2,
        Every::Year => 3,
    });
    out.u32v(schedule.interval);
    out.text(&schedule.start);
    out.opt_text(schedule.until.as_deref());
    match schedule.count {
        None => out.push(0),
        Some(count) => {
            out.push(1);
            out.u32v(count);
        }
    }
    let template = &rule.template;
    out.i64v(template.amount.0);
    out.text(&template.description);
    match &template.sharing {
        Sharing::Equal { members, include_payer } => {
            out.push(if members.is_some() { 1 } else { 0 });
            if let Some(members) = members {
                put_users(out, members);
            }
            out.flag(*include_payer);
        }
        Sharing::Exact(list) => {
            out.push(2);
            put_shares(out, list);
        }
        Sharing::Percent(list) => {
            out.push(3);
            out.u64v(list.len() as u64);
            list.iter().for_each(|&(u, bp)| {
                out.u32v(u);
                out.u32v(bp);
            });
        }
        Sharing::Shares(list) => {
            out.push(4);
            out.u64v(list.len() as u64);
            list.iter().for_each(|&(u, w)| {
                out.u32v(u);
                out.u64v(w);
            });
        }
    }
    match &template.paid_by {
        None => out.push(0),
        Some(list) => {
            out.push(1);
            put_shares(out, list);
        }
    }
    out.u32v(rule.made);
    put_rule_extras(out, template);
}

/// Since version 6, after `made`: the category, then the currency and its rate, each behind a
/// presence byte.
fn put_rule_extras(out: &mut Vec<u8>, template: &Template) {
    out.opt_text(template.category.as_deref());
    match &template.currency {
        None => out.push(0),
        Some(entry) => {
            out.push(1);
            out.text(&entry.currency);
            put_rate(out, entry.rate);
        }
    }
}

fn take_rule_extras(take: &mut Take) -> Result<(Option<String>, Option<RuleCurrency>), Short> {
    if take.version >= 6 {
        let category = take.opt_string("rule category")?;
        let currency = match take.flag("rule currency")? {
            false => None,
            true => Some(RuleCurrency { currency: take.string("rule currency")?, rate: take_rate(take)? }),
        };
        return Ok((category, currency));
    }
    Ok((None, None))
}

fn put_rate(out: &mut Vec<u8>, rate: Option<Rate>) {
    match rate {
        None => out.push(0),
        Some(rate) => {
            out.push(1);
            out.u64v(rate.digits);
            out.push(rate.scale);
        }
    }
}

fn take_rate(take: &mut Take) -> Result<Option<Rate>, Short> {
    Ok(match take.flag("rate")? {
        false => None,
        true => Some(Rate { digits: take.u64v("rate digits")?, scale: take.byte("rate scale")? }),
    })
}

fn take_rule(take: &mut Take) -> Result<Rule, Short> {
    let (id, by, created_at) = (take.u64v("rule id")?, take.u32v("rule by")?, take.i64v("rule created at")?);
    let every = match take.byte("every")? {
        0 => Every::Day,
        1 => Every::Week,
        2 => Every::Month,
        3 => Every::Year,
        _ => return Err(Short("every")),
    };
    let (interval, start, until) = (take.u32v("interval")?, take.string("start")?, take.opt_string("until")?);
    let count = match take.flag("count")? {
        false => None,
        true => Some(take.u32v("count")?),
    };
    let schedule = Schedule { every, interval, start, until, count };
    let (amount, description) = (Cents(take.i64v("rule amount")?), take.string("rule description")?);
    let sharing = match take.byte("sharing")? {
        0 => Sharing::Equal { members: None, include_payer: take.flag("include payer")? },
        1 => Sharing::Equal { members: Some(take_users(take)?), include_payer: take.flag("include payer")? },
        2 => Sharing::Exact(take_shares(take)?),
        3 => Sharing::Percent(take.list("percents", |t| Ok((t.u32v("user")?, t.u32v("bp")?)))?),
        4 => Sharing::Shares(take.list("weights", |t| Ok((t.u32v("user")?, t.u64v("weight")?)))?),
        _ => return Err(Short("sharing")),
    };
    let paid_by = match take.flag("rule paid by")? {
        false => None,
        true => Some(take_shares(take)?),
    };
    let made = take.u32v("made")?;
    let (category, currency) = take_rule_extras(take)?;
    let template = Template { amount, description, sharing, paid_by, category, currency };
    Ok(Rule { id, by, created_at, schedule, template, made })
}

fn put_users(out: &mut Vec<u8>, users: &[u32]) {
    out.u64v(users.len() as u64);
    users.iter().for_each(|&u| out.u32v(u));
}

fn take_users(take: &mut Take) -> Result<Vec<u32>, Short> {
    take.list("members", |t| t.u32v("member"))
}

fn put_shares(out: &mut Vec<u8>, shares: &[(u32, Cents)]) {
    out.u64v(shares.len() as u64);
    for (user, cents) in shares {
        out.u32v(*user);
        out.i64v(cents.0);
    }
}

fn take_shares(take: &mut Take) -> Result<Vec<(u32, Cents)>, Short> {
    take.list("shares", take_share)
}

fn take_share(take: &mut Take) -> Result<(u32, Cents), Short> {
    Ok((take.u32v("share user")?, Cents(take.i64v("share")?)))
}

pub(super) fn put_transaction(out: &mut Vec<u8>, txn: &Transaction) {
    out.u64v(txn.id);
    out.u32v(txn.payer);
    out.i64v(txn.amount.0);
    out.text(&txn.description);
    put_users(out, &txn.split_between);
    out.flag(txn.include_payer);
    put_shares(out, &txn.paid);
    put_shares(out, &txn.owed);
    out.i64v(txn.created_at);
    match &txn.split {
        Split::Equal => out.push(0),
        Split::Exact => out.push(1),
        Split::Percent { percents } => {
            out.push(2);
            out.u64v(percents.len() as u64);
            percents.iter().for_each(|&(u, bp)| {
                out.u32v(u);
                out.u32v(bp);
            });
        }
        Split::Shares { weights } => {
            out.push(3);
            out.u64v(weights.len() as u64);
            weights.iter().for_each(|&(u, w)| {
                out.u32v(u);
                out.u64v(w);
            });
        }
    }
    out.opt_text(txn.date.as_deref());
    out.opt_text(txn.key.as_deref());
    out.u64v(txn.version);
    put_extras(out, txn);
}

/// Since version 2: the foreign amount, the category, the rule, each behind a presence byte.
fn put_extras(out: &mut Vec<u8>, txn: &Transaction) {
    match &txn.foreign {
        None => out.push(0),
        Some(foreign) => {
            out.push(1);
            out.text(&foreign.currency);
            out.i64v(foreign.amount.0);
            put_rate(out, foreign.rate);
        }
    }
    out.opt_text(txn.category.as_deref());
    match txn.rule {
        None => out.push(0),
        Some(rule) => {
            out.push(1);
            out.u64v(rule);
        }
    }
}

type Extras = (Option<Foreign>, Option<String>, Option<u64>);

fn take_extras(take: &mut Take) -> Result<Extras, Short> {
    if take.version < 2 {
        return Ok((None, None, None));
    }
    let foreign = match take.flag("foreign")? {
        false => None,
        true => Some(Foreign {
            currency: take.string("foreign currency")?,
            amount: Cents(take.i64v("foreign amount")?),
            rate: take_rate(take)?,
        }),
    };
    let category = take.opt_string("category")?;
    let rule = match take.flag("rule")? {
        false => None,
        true => Some(take.u64v("rule")?),
    };
    Ok((foreign, category, rule))
}

pub(super) fn take_transaction(take: &mut Take) -> Result<Transaction, Short> {
    let mut txn = blank_transaction();
    take_transaction_into(take, &mut txn)?;
    Ok(txn)
}

/// What `take_transaction_into` reads over: every field is written there.
fn blank_transaction() -> Transaction {
    Transaction {
        id: 0,
        payer: 0,
        amount: Cents(0),
        description: String::new(),
        split_between: Vec::new(),
        include_payer: false,
        paid: Vec::new(),
        owed: Vec::new(),
        created_at: 0,
        split: Split::Equal,
        date: None,
        key: None,
        version: 0,
        foreign: None,
        category: None,
        rule: None,
    }
}

/// Reads a transaction over `txn`, reusing its text and lists' memory: a snapshot's transactions
/// are read one after another into one `Transaction`, without four allocations each.
pub(super) fn take_transaction_into(take: &mut Take, txn: &mut Transaction) -> Result<(), Short> {
    (txn.id, txn.payer, txn.amount) = (take.u64v("transaction id")?, take.u32v("payer")?, Cents(take.i64v("amount")?));
    txn.description.clear();
    txn.description.push_str(take.text("description")?);
    refill(&mut txn.split_between, take, "members", |t| t.u32v("member"))?;
    txn.include_payer = take.flag("include payer")?;
    refill(&mut txn.paid, take, "shares", take_share)?;
    refill(&mut txn.owed, take, "shares", take_share)?;
    txn.created_at = take.i64v("created at")?;
    txn.split = match take.byte("split")? {
        0 => Split::Equal,
        1 => Split::Exact,
        2 => Split::Percent { percents: take.list("percents", |t| Ok((t.u32v("user")?, t.u32v("bp")?)))? },
        3 => Split::Shares { weights: take.list("weights", |t| Ok((t.u32v("user")?, t.u64v("weight")?)))? },
        _ => return Err(Short("split")),
    };
    (txn.date, txn.key) = (take.opt_string("date")?, take.opt_string("key")?);
    txn.version = take.u64v("version")?;
    (txn.foreign, txn.category, txn.rule) = take_extras(take)?;
    Ok(())
}

/// `list`, into a cleared `Vec` that keeps its capacity.
fn refill<'a, T>(
    items: &mut Vec<T>,
    take: &mut Take<'a>,
    what: &'static str,
    mut item: impl FnMut(&mut Take<'a>) -> Result<T, Short>,
) -> Result<(), Short> {
    items.clear();
    for _ in 0..take.count(what)? {
        items.push(item(take)?);
    }
    Ok(())
}

/// A group's transactions, read into one reused `Transaction` and packed as they come.
fn take_transactions(take: &mut Take) -> Result<Read, Short> {
    let count = take.count("transactions")?;
    let mut read = Read::with_capacity(count);
    let mut txn = blank_transaction();
    for _ in 0..count {
        take_transaction_into(take, &mut txn)?;
        read.push(&txn).map_err(|_| Short("a transaction unbalanced or out of order"))?;
    }
    Ok(read)
}

pub(super) fn put_payment(out: &mut Vec<u8>, p: &Payment) {
    out.u64v(p.id);
    out.u32v(p.from);
    out.u32v(p.to);
    out.i64v(p.amount.0);
    out.u32v(p.by);
    out.i64v(p.created_at);
    out.opt_text(p.date.as_deref());
    out.opt_text(p.key.as_deref());
    // Since version 4.
    out.opt_text(p.currency.as_deref());
}

pub(super) fn take_payment(take: &mut Take) -> Result<Payment, Short> {
    Ok(Payment {
        id: take.u64v("payment id")?,
        from: take.u32v("from")?,
        to: take.u32v("to")?,
        amount: Cents(take.i64v("payment amount")?),
        by: take.u32v("recorded by")?,
        created_at: take.i64v("payment created at")?,
        date: take.opt_string("payment date")?,
        key: take.opt_string("payment key")?,
        currency: if take.version >= 4 { take.opt_string("payment currency")? } else { None },
    })
}

fn put_key_ref(out: &mut Vec<u8>, made: KeyRef) {
    let (tag, id) = match made {
        KeyRef::Transaction(id) => (0, id),
        KeyRef::Payment(id) => (1, id),
    };
    out.push(tag);
    out.u64v(id);
}

fn take_key_ref(take: &mut Take) -> Result<KeyRef, Short> {
    match take.byte("key made")? {
        0 => Ok(KeyRef::Transaction(take.u64v("key transaction")?)),
        1 => Ok(KeyRef::Payment(take.u64v("key payment")?)),
        _ => Err(Short("key made")),
    }
}

fn put_entry(out: &mut Vec<u8>, entry: &Entry) {
    out.u64v(entry.id);
    out.i64v(entry.at);
    out.u32v(entry.by);
    match &entry.what {
        Activity::GroupCreated => out.push(0),
        Activity::CurrencySet { currency } => {
            out.push(1);
            out.text(currency);
        }
        Activity::MemberJoined { member } => {
            out.push(2);
            out.u32v(*member);
        }
        Activity::MemberLeft { member } => {
            out.push(3);
            out.u32v(*member);
        }
        Activity::TransactionAdded { id, amount } => {
            out.push(4);
            out.u64v(*id);
            out.i64v(amount.0);
        }
        Activity::TransactionEdited { before, after } => {
            out.push(5);
            put_transaction(out, before);
            put_transaction(out, after);
        }
        Activity::TransactionDeleted { txn } => {
            out.push(6);
            put_transaction(out, txn);
        }
        Activity::PaymentRecorded { payment } => {
            out.push(7);
            put_payment(out, payment);
        }
        Activity::SettlementRecorded { payments } => {
            out.push(8);
            out.u64v(payments.len() as u64);
            payments.iter().for_each(|p| put_payment(out, p));
        }
        Activity::PaymentDeleted { payment } => {
            out.push(9);
            put_payment(out, payment);
        }
        Activity::PasswordChanged { has_password } => {
            out.push(10);
            out.flag(*has_password);
        }
        Activity::CategoryAdded { name } => tagged(out, 20, |out| out.text(name)),
        Activity::TransactionRestored { txn } => tagged(out, 21, |out| put_transaction(out, txn)),
        Activity::PaymentRestored { payment } => tagged(out, 22, |out| put_payment(out, payment)),
        Activity::RecurringAdded { occurrence } => tagged(out, 30, |out| {
            out.u64v(occurrence.id);
            out.i64v(occurrence.amount.0);
            out.u64v(occurrence.rule);
        }),
        Activity::RuleAdded { rule } => tagged(out, 31, |out| put_rule(out, rule)),
        Activity::RuleEdited { rule } => tagged(out, 32, |out| put_rule(out, rule)),
        Activity::RuleStopped { rule, missing } => tagged(out, 33, |out| {
            out.u64v(*rule);
            out.flag(missing.is_some());
            if let Some(user) = missing {
                out.u32v(*user);
            }
        }),
        Activity::ConvertSet { convert } => tagged(out, 40, |out| put_convert(out, *convert)),
    }
}

/// An activity's tag, then what `body` writes.
fn tagged(out: &mut Vec<u8>, tag: u8, body: impl FnOnce(&mut Vec<u8>)) {
    out.push(tag);
    body(out);
}

fn take_entry(take: &mut Take) -> Result<Entry, Short> {
    let (id, at, by) = (take.u64v("entry id")?, take.i64v("entry at")?, take.u32v("entry by")?);
    let what = match take.byte("activity")? {
        0 => Activity::GroupCreated,
        1 => Activity::CurrencySet { currency: take.text("currency")?.into() },
        2 => Activity::MemberJoined { member: take.u32v("member")? },
        3 => Activity::MemberLeft { member: take.u32v("member")? },
        4 => Activity::TransactionAdded { id: take.u64v("added id")?, amount: Cents(take.i64v("added amount")?) },
        5 => Activity::TransactionEdited {
            before: Box::new(take_transaction(take)?),
            after: Box::new(take_transaction(take)?),
        },
        6 => Activity::TransactionDeleted { txn: Box::new(take_transaction(take)?) },
        7 => Activity::PaymentRecorded { payment: Box::new(take_payment(take)?) },
        8 => Activity::SettlementRecorded { payments: take.list("settlement", take_payment)?.into() },
        9 => Activity::PaymentDeleted { payment: Box::new(take_payment(take)?) },
        10 => Activity::PasswordChanged { has_password: take.flag("has password")? },
        40 => Activity::ConvertSet { convert: take_convert(take)? },
        20 => Activity::CategoryAdded { name: take.text("category")?.into() },
        21 => Activity::TransactionRestored { txn: Box::new(take_transaction(take)?) },
        22 => Activity::PaymentRestored { payment: Box::new(take_payment(take)?) },
        30 => {
            let (id, amount, rule) = (take.u64v("occurrence id")?, take.i64v("occurrence amount")?, take.u64v("rule")?);
            Activity::RecurringAdded { occurrence: Box::new(Occurrence { id, amount: Cents(amount), rule }) }
        }
        31 => Activity::RuleAdded { rule: Box::new(take_rule(take)?) },
        32 => Activity::RuleEdited { rule: Box::new(take_rule(take)?) },
        33 => Activity::RuleStopped {
            rule: take.u64v("stopped rule")?,
            missing: match take.flag("missing")? {
                false => None,
                true => Some(take.u32v("missing member")?),
            },
        },
        _ => return Err(Short("activity")),
    };
    Ok(Entry { id, at, by, what })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transaction() -> Transaction {
        Transaction {
            id: 9,
            payer: 1,
            amount: Cents(1250),
            description: "taxi".into(),
            split_between: vec![1, 2],
            include_payer: false,
            paid: vec![(1, Cents(1250))],
            owed: vec![(1, Cents(625)), (2, Cents(625))],
            created_at: 7,
            split: Split::Equal,
            date: Some("2026-01-31".into()),
            key: None,
            version: 3,
            foreign: None,
            category: None,
            rule: None,
        }
    }

    #[test]
    fn a_transaction_with_extras_reads_back_and_a_version_one_one_reads_without() {
        let mut txn = transaction();
        let mut plain = Vec::new();
        put_transaction(&mut plain, &txn);
        // Version 1 wrote everything up to the version: the same bytes without the three absent extras.
        assert_eq!(&plain[plain.len() - 3..], &[0, 0, 0]);
        let v1 = &plain[..plain.len() - 3];
        let mut take = Take::written_by(v1, 1);
        assert_eq!(take_transaction(&mut take), Ok(txn.clone()));
        assert!(take.is_empty());
        txn.foreign =
            Some(Foreign { currency: "KWD".into(), amount: Cents(1_250), rate: Some(Rate { digits: 3_25, scale: 2 }) });
        txn.category = Some("transport".into());
        txn.rule = Some(4);
        let mut full = Vec::new();
        put_transaction(&mut full, &txn);
        let mut take = Take::new(&full);
        assert_eq!(take_transaction(&mut take), Ok(txn));
        assert!(take.is_empty());
    }

    #[test]
    fn a_group_section_ends_with_its_categories_and_a_version_two_one_has_none() {
        use crate::machine::{Machine, Record};
        let mut machine = Machine::new();
        let records = [
            Record::UserCreated { user: 0, name: "ann".into(), password_hash: "h".into() },
            Record::GroupCreated { group: 0, name: "g".into(), creator: 0, password_hash: None, at: 0, seq: None },
            Record::CategoryAdded { group: 0, name: "ski".into(), by: 0, at: 1, seq: None },
        ];
        for record in &records {
            machine.apply(record).unwrap();
        }
        let image = machine.image();
        let mut section = Vec::new();
        put_group(&mut section, &image.groups[0]);
        // The categories, then the recurring rules (none: the next rule id and a count of 0), then
        // (version 4) the convert setting: at entry, then (version 5) the decimals: 2.
        let rules = {
            let mut rules = Vec::new();
            put_rules(&mut rules, &crate::machine::recurring::Rules::default());
            rules.len()
        };
        let categories_end = section.len() - rules - 2;
        assert_eq!(&section[categories_end - 5..categories_end], &[1, 3, b's', b'k', b'i']);
        assert_eq!(section[section.len() - 2..], [0, 2], "converts at entry, two decimals");
        let group = take_group(&mut Take::new(&section)).unwrap();
        assert_eq!(group.categories, ["ski"]);
        // Version 2 wrote everything up to the keys; its history entry tags stop at 10, so this
        // section's history (tag 20) is cut off too: a group with only its creation.
        let v2 = as_version_two(&section);
        let group = take_group(&mut Take::written_by(&v2, 2)).unwrap();
        assert!(group.categories.is_empty());
    }

    #[test]
    fn version_five_keeps_a_groups_decimals_and_older_sections_have_two() {
        use crate::machine::{Machine, Record};
        let mut machine = Machine::new();
        let records = [
            Record::UserCreated { user: 0, name: "ann".into(), password_hash: "h".into() },
            Record::GroupCreated { group: 0, name: "g".into(), creator: 0, password_hash: None, at: 0, seq: None },
            Record::GroupCurrencySet { group: 0, currency: "JPY".into(), decimals: Some(0), by: 0, at: 1, seq: None },
        ];
        for record in &records {
            machine.apply(record).unwrap();
        }
        let image = machine.image();
        let mut section = Vec::new();
        put_group(&mut section, &image.groups[0]);
        assert_eq!(section.last(), Some(&0), "no decimals");
        assert_eq!(take_group(&mut Take::new(&section)).unwrap().decimals, 0);
        let v4 = &section[..section.len() - 1];
        let mut take = Take::written_by(v4, 4);
        assert_eq!(take_group(&mut take).unwrap().decimals, 2);
        assert!(take.is_empty());
    }

    #[test]
    fn version_four_keeps_the_convert_setting_and_a_payment_currency_and_version_three_has_neither() {
        let mut payment = Payment {
            id: 3,
            from: 1,
            to: 2,
            amount: Cents(500),
            by: 1,
            created_at: 9,
            date: None,
            key: None,
            currency: Some("JPY".into()),
        };
        let mut bytes = Vec::new();
        put_payment(&mut bytes, &payment);
        assert_eq!(take_payment(&mut Take::new(&bytes)), Ok(payment.clone()));
        payment.currency = None;
        let mut plain = Vec::new();
        put_payment(&mut plain, &payment);
        // Version 3 wrote the same without the currency's presence byte.
        let v3 = &plain[..plain.len() - 1];
        let mut take = Take::written_by(v3, 3);
        assert_eq!(take_payment(&mut take), Ok(payment));
        assert!(take.is_empty());
        let mut convert = Vec::new();
        put_convert(&mut convert, Convert::AtSettlement);
        assert_eq!(take_convert(&mut Take::new(&convert)), Ok(Convert::AtSettlement));
        assert_eq!(take_convert(&mut Take::written_by(&[], 3)), Ok(Convert::AtEntry));
        assert!(take_convert(&mut Take::new(&[7])).is_err());
    }

    #[test]
    fn a_rule_keeps_its_category_and_currency_and_a_version_five_or_older_rule_reads_without() {
        let mut rule = Rule {
            id: 2,
            by: 1,
            created_at: 5,
            schedule: Schedule {
                every: Every::Month,
                interval: 1,
                start: "2026-01-31".into(),
                until: None,
                count: Some(3),
            },
            template: Template {
                amount: Cents(1234),
                description: "ski pass".into(),
                sharing: Sharing::Exact(vec![(1, Cents(1000)), (2, Cents(234))]),
                paid_by: None,
                category: None,
                currency: None,
            },
            made: 1,
        };
        let mut plain = Vec::new();
        put_rule(&mut plain, &rule);
        // Versions 3 to 5 wrote a rule up to `made`: the same bytes without the two absent extras.
        assert_eq!(&plain[plain.len() - 2..], &[0, 0]);
        for version in 3..=5 {
            let mut take = Take::written_by(&plain[..plain.len() - 2], version);
            assert_eq!(take_rule(&mut take), Ok(rule.clone()), "version {version}");
            assert!(take.is_empty());
        }
        rule.template.category = Some("travel".into());
        rule.template.currency =
            Some(RuleCurrency { currency: "JPY".into(), rate: Some(Rate { digits: 61, scale: 4 }) });
        let mut full = Vec::new();
        put_rule(&mut full, &rule);
        let mut take = Take::new(&full);
        assert_eq!(take_rule(&mut take), Ok(rule.clone()));
        assert!(take.is_empty());
        rule.template.currency = Some(RuleCurrency { currency: "USD".into(), rate: None });
        let mut no_rate = Vec::new();
        put_rule(&mut no_rate, &rule);
        assert_eq!(take_rule(&mut Take::new(&no_rate)), Ok(rule));
    }

    /// `section` (one group, created and given one category) as version 2 wrote it: one history
    /// entry, no categories.
    fn as_version_two(section: &[u8]) -> Vec<u8> {
        let mut take = Take::new(section);
        let group = take_group(&mut take).unwrap();
        let mut v2 = Vec::new();
        v2.text(&group.name);
        v2.opt_text(group.password_hash.as_deref());
        v2.u32v(group.creator);
        v2.i64v(group.created_at);
        v2.text(&group.currency);
        put_users(&mut v2, &group.members);
        put_users(&mut v2, &group.slots);
        v2.u64v(0);
        v2.u64v(0);
        v2.u64v(1);
        put_entry(&mut v2, &group.history[0]);
        v2.u64v(0);
        v2
    }
}
