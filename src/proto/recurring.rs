//! The wire of recurring expenses: decoding `add_recurring` / `edit_recurring`, rendering a rule,
//! the `list_recurring` answer, and the history entries and notifications rules produce.

use super::error::Error;
use super::fields::{validate_date, Fields};
use super::json::{self, Object};
use super::view;
use crate::machine::groups::Group;
use crate::machine::history::{Activity, Entry};
use crate::machine::recurring::{Every, Rule, Schedule, Sharing, COUNT_MAX, INTERVAL_MAX};
use crate::machine::users::Users;
use crate::machine::{AddRecurring, Answer, EditRecurring, Machine, UserId};
use crate::money::Cents;

/// A rule's amounts are in the group's currency, read as `add_transaction` reads them without a
/// `currency` (the machine rescales them to the group's decimals).
const RULE_DECIMALS: u8 = crate::machine::WIRE_DECIMALS;

pub(super) fn add_recurring(fields: &mut Fields) -> Result<AddRecurring, Error> {
    let group = fields.string("group")?;
    let every = fields.string("every")?;
    let every = Every::parse(&every)
        .ok_or_else(|| Error::bad_request("Field 'every' must be \"day\", \"week\", \"month\" or \"year\""))?;
    let interval = match fields.optional_u64("interval")? {
        None => 1,
        Some(n) if (1..=u64::from(INTERVAL_MAX)).contains(&n) => n as u32,
        Some(_) => return Err(Error::bad_request(format!("Field 'interval' must be 1-{INTERVAL_MAX}"))),
    };
    let start = validate_date("start", fields.string("start")?)?;
    let until = fields.optional_date("until")?;
    let count = match fields.optional_u64("count")? {
        None => None,
        Some(n) => Some(count(n)?),
    };
    let schedule = Schedule { every, interval, start, until, count };
    let amount = fields
        .optional_amount_in("amount", RULE_DECIMALS)?
        .ok_or_else(|| Error::bad_request("Missing field 'amount'"))?;
    let description = fields.optional_string("description")?.unwrap_or_default();
    let split =
        fields.split_spec_in(RULE_DECIMALS)?.ok_or_else(|| Error::bad_request("Missing field 'split_between'"))?;
    let paid_by = fields.optional_amount_map_in("paid_by", RULE_DECIMALS)?;
    Ok(AddRecurring { group, schedule, amount, description, split, paid_by })
}

fn count(n: u64) -> Result<u32, Error> {
    match n {
        1.. if n <= u64::from(COUNT_MAX) => Ok(n as u32),
        _ => Err(Error::bad_request(format!("Field 'count' must be 1-{COUNT_MAX}"))),
    }
}

pub(super) fn edit_recurring(fields: &mut Fields) -> Result<EditRecurring, Error> {
    let edit = EditRecurring {
        group: fields.string("group")?,
        id: fields.u64("id")?,
        amount: fields.optional_amount_in("amount", RULE_DECIMALS)?,
        description: fields.optional_string("description")?,
        split: fields.split_spec_in(RULE_DECIMALS)?,
        paid_by: fields.optional_amount_map_in("paid_by", RULE_DECIMALS)?,
        until: match fields.optional_string("until")? {
            None => None,
            Some(text) if text.is_empty() => Some(None),
            Some(text) => Some(Some(validate_date("until", text)?)),
        },
        count: match fields.optional_u64("count")? {
            None => None,
            Some(0) => Some(None),
            Some(n) => Some(Some(count(n)?)),
        },
    };
    let nothing = edit.amount.is_none()
        && edit.description.is_none()
        && edit.split.is_none()
        && edit.paid_by.is_none()
        && edit.until.is_none()
        && edit.count.is_none();
    if nothing {
        return Err(Error::bad_request(
            "Nothing to change: give 'amount', 'description', 'split', 'paid_by', 'until' or 'count'",
        ));
    }
    Ok(edit)
}

/// `ok_fields` for `add_recurring` / `edit_recurring` (`rule`) and `list_recurring` (`rules`).
pub(super) fn rule_fields(machine: &Machine, answer: &Answer, reply: &mut Object) {
    let users = machine.users();
    match answer {
        Answer::Rule { done, group, rule } => {
            reply.str("message", super::render::done_text(*done));
            if let Some((g, rule)) = machine.groups().get(*group).and_then(|g| Some((g, g.rules.rules.get(rule)?))) {
                self::rule(users, g.decimals, rule, reply.key("rule"));
            }
        }
        Answer::Rules { group } => {
            let Some(g) = machine.groups().get(*group) else { return };
            reply.str("group", &g.name);
            let mut list = reply.array("rules");
            for rule in g.rules.rules.values() {
                self::rule(users, g.decimals, rule, list.item());
            }
        }
        _ => {}
    }
}

/// One rule on the wire: its schedule, what each occurrence makes, how many it made and when the
/// next is (`null` once it has run its course).
/// A rule; `decimals`: the group's, which its amounts have.
pub(super) fn rule(users: &Users, decimals: u8, rule: &Rule, out: &mut Vec<u8>) {
    let mut view = Object::new(out);
    let schedule = &rule.schedule;
    view.u64("id", rule.id)
        .str("by", users.name(rule.by))
        .i64("created_at", rule.created_at)
        .str("every", schedule.every.as_str())
        .u64("interval", u64::from(schedule.interval))
        .str("start", &schedule.start);
    if let Some(until) = &schedule.until {
        view.str("until", until);
    }
    if let Some(count) = schedule.count {
        view.u64("count", u64::from(count));
    }
    view.u64("made", u64::from(rule.made)).value("next_date", &rule.next_date().map(|d| d.to_string()));
    let template = &rule.template;
    view.amount("amount", template.amount, decimals).str("description", &template.description);
    {
        let mut split = view.object("split");
        match &template.sharing {
            Sharing::Equal { members, include_payer } => {
                split.str("mode", "equal");
                match members {
                    None => {
                        split.value("members", &());
                    }
                    Some(list) => view::names(users, split.key("members"), list.iter().copied()),
                }
                split.bool("include_payer", *include_payer);
            }
            Sharing::Exact(list) => {
                split.str("mode", "exact");
                amounts(users, split.key("amounts"), (list, decimals));
            }
            Sharing::Percent(list) => {
                split.str("mode", "percent");
                let mut map = split.object("percents");
                for &(user, bp) in list {
                    map.cents(users.name(user), Cents(bp.into()));
                }
            }
            Sharing::Shares(list) => {
                split.str("mode", "shares");
                let mut map = split.object("shares");
                for &(user, weight) in list {
                    map.u64(users.name(user), weight);
                }
            }
        }
    }
    if let Some(paid) = &template.paid_by {
        amounts(users, view.key("paid_by"), (paid, decimals));
    }
}

fn amounts(users: &Users, out: &mut Vec<u8>, (list, decimals): (&[(UserId, Cents)], u8)) {
    let mut map = Object::new(out);
    for &(user, cents) in list {
        json::amount(map.key(users.name(user)), cents, decimals);
    }
}

/// `view::activity` for the entries rules make: an occurrence (`transaction_added` with `rule` and
/// `date`), a rule added, edited or stopped.
pub(super) fn rule_activity(users: &Users, group: &Group, entry: &Entry, view: &mut Object) {
    let by = users.name(entry.by);
    match &entry.what {
        Activity::RecurringAdded { occurrence } => {
            let money = view::money_text(group, occurrence.amount);
            let description = group.description_as_added(occurrence.id, entry.id);
            let rule = occurrence.rule;
            view.str("message", &format!("Recurring #{rule} added {money} expense '{description}' for {by}"))
                .u64("transaction_id", occurrence.id)
                .amount("amount", occurrence.amount, group.decimals)
                .str("description", &description)
                .u64("rule", rule);
            if let Some(txn) = group.ledger.transaction(occurrence.id) {
                if let Some(date) = &txn.date {
                    view.str("date", date);
                }
                view::transaction(users, group.decimals, &txn, view.key("transaction"));
            }
        }
        Activity::RuleAdded { rule } | Activity::RuleEdited { rule } => {
            let verb = if matches!(entry.what, Activity::RuleAdded { .. }) { "added" } else { "edited" };
            let money = view::money_text(group, rule.template.amount);
            let every = rule.schedule.every.as_str();
            let text =
                format!("{by} {verb} recurring #{} '{}': {money} every {every}", rule.id, rule.template.description);
            view.str("message", &text).u64("rule_id", rule.id);
            self::rule(users, group.decimals, rule, view.key("rule"));
        }
        Activity::RuleStopped { rule, missing } => {
            let text = match missing {
                None => format!("{by} stopped recurring #{rule}"),
                Some(user) => format!("Recurring #{rule} stopped: {} is no longer a member", users.name(*user)),
            };
            view.str("message", &text).u64("rule_id", *rule);
            if let Some(user) = missing {
                view.str("missing", users.name(*user));
            }
        }
        _ => {}
    }
}
