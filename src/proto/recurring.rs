//! The wire of recurring expenses: decoding `add_recurring` / `edit_recurring`, rendering a rule,
//! the `list_recurring` answer, and the history entries and notifications rules produce.

use serde_json::Value;

use super::decode;
use super::error::Error;
use super::fields::{validate_date, Fields};
use super::json::Object;
use super::view;
use crate::machine::groups::Group;
use crate::machine::history::{Activity, Entry};
use crate::machine::recurring::{Every, Rule, Schedule, Sharing, COUNT_MAX, INTERVAL_MAX};
use crate::machine::users::Users;
use crate::machine::{AddRecurring, Answer, EditRecurring, Foreign, Machine, UserId};
use crate::money::Cents;

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
    // The expense's fields, read as `add_transaction` reads them.
    let foreign = decode::add_foreign_spec(fields)?;
    let decimals = decode::entry_decimals(&foreign);
    let amount =
        fields.optional_amount_in("amount", decimals)?.ok_or_else(|| Error::bad_request("Missing field 'amount'"))?;
    let description = fields.optional_string("description")?.unwrap_or_default();
    let split = fields.split_spec_in(decimals)?.ok_or_else(|| Error::bad_request("Missing field 'split_between'"))?;
    let paid_by = fields.optional_amount_map_in("paid_by", decimals)?;
    let category = fields.optional_string("category")?;
    Ok(AddRecurring { group, schedule, amount, description, split, paid_by, category, foreign })
}

fn count(n: u64) -> Result<u32, Error> {
    match n {
        1.. if n <= u64::from(COUNT_MAX) => Ok(n as u32),
        _ => Err(Error::bad_request(format!("Field 'count' must be 1-{COUNT_MAX}"))),
    }
}

pub(super) fn edit_recurring(fields: &mut Fields) -> Result<EditRecurring, Error> {
    let foreign = decode::foreign_spec(fields)?;
    let decimals = decode::entry_decimals(&foreign);
    let edit = EditRecurring {
        group: fields.string("group")?,
        id: fields.u64("id")?,
        amount: fields.optional_amount_in("amount", decimals)?,
        description: fields.optional_string("description")?,
        split: fields.split_spec_in(decimals)?,
        paid_by: fields.optional_amount_map_in("paid_by", decimals)?,
        until: fields.clearable_date("until")?,
        count: match fields.optional_u64("count")? {
            None => None,
            Some(0) => Some(None),
            Some(n) => Some(Some(count(n)?)),
        },
        category: edit_category(fields)?,
        foreign,
    };
    let nothing = edit.amount.is_none()
        && edit.category.is_none()
        && edit.foreign.is_none()
        && edit.description.is_none()
        && edit.split.is_none()
        && edit.paid_by.is_none()
        && edit.until.is_none()
        && edit.count.is_none();
    if nothing {
        return Err(Error::bad_request(
            "Nothing to change: give 'amount', 'description', 'split', 'paid_by', 'until', 'count', 'category', \
             'currency' or 'rate'",
        ));
    }
    Ok(edit)
}

/// An edit's `category`: a name sets it, `null` or `""` (as in `edit_transaction`) clears it.
fn edit_category(fields: &mut Fields) -> Result<Option<Option<String>>, Error> {
    if fields.data.get("category").is_some_and(Value::is_null) {
        fields.data.remove("category");
        return Ok(Some(None));
    }
    fields.clearable_string("category")
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
    // As entered: in the rule's currency's decimals when it names one, else the group's.
    let decimals = template.currency.as_ref().map_or(decimals, |c| vocab::currency::minor_units(&c.currency));
    let amount = |out: &mut Vec<u8>, cents: Cents| view::amount_in(out, decimals, cents);
    amount(view.key("amount"), template.amount);
    view.str("description", &template.description);
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
                amounts(users, split.key("amounts"), list, amount);
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
        amounts(users, view.key("paid_by"), paid, amount);
    }
    if let Some(category) = &template.category {
        view.str("category", category);
    }
    if let Some(entry) = &template.currency {
        // The shape of a foreign expense's: what each occurrence is entered as.
        let foreign = Foreign { currency: entry.currency.clone(), amount: template.amount, rate: entry.rate };
        view::foreign_view(&foreign, view.object("foreign"));
    }
}

fn amounts(users: &Users, out: &mut Vec<u8>, list: &[(UserId, Cents)], amount: impl Fn(&mut Vec<u8>, Cents)) {
    let mut map = Object::new(out);
    for &(user, cents) in list {
        amount(map.key(users.name(user)), cents);
    }
}

/// `view::activity` for the entries rules make: an occurrence (`transaction_added` with `rule` and
/// `date`), a rule added, edited or stopped.
pub(super) fn rule_activity(users: &Users, group: &Group, entry: &Entry, view: &mut Object) {
    let by = users.name(entry.by);
    match &entry.what {
        Activity::RecurringAdded { occurrence } => {
            let txn = group.ledger.transaction(occurrence.id);
            // As a hand-entered expense's: converted ones say what was entered.
            let money = view::added_money(group, txn.as_ref(), occurrence.amount);
            let description = group.description_as_added(occurrence.id, entry.id);
            let rule = occurrence.rule;
            view.str("message", &format!("Recurring #{rule} added {money} expense '{description}' for {by}"))
                .u64("transaction_id", occurrence.id);
            view::amount_in(
                view.key("amount"),
                txn.as_ref().map_or(group.decimals, |t| view::decimals_of(group.decimals, t)),
                occurrence.amount,
            );
            view.str("description", &description).u64("rule", rule);
            if let Some(txn) = txn {
                if let Some(date) = &txn.date {
                    view.str("date", date);
                }
                view::transaction(users, group.decimals, &txn, view.key("transaction"));
            }
        }
        Activity::RuleAdded { rule } | Activity::RuleEdited { rule } => {
            let verb = if matches!(entry.what, Activity::RuleAdded { .. }) { "added" } else { "edited" };
            let money = rule_money(group, rule);
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

/// A rule's amount as a message writes it: in the group's currency, or as entered in its own.
fn rule_money(group: &Group, rule: &Rule) -> String {
    match &rule.template.currency {
        Some(entry) => vocab::currency::entered_text(&entry.currency, rule.template.amount),
        None => view::money_text(group, rule.template.amount),
    }
}
