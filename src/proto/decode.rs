//! The general decoder: any frame, through a `serde_json::Value` tree, into a `machine::Command`.
//! Total: every byte string becomes a command or an `Error` that names what was wrong; a frame that
//! repeats a key anywhere (`repeated`) is refused whole.

use serde_json::{Map, Value};

use super::error::{Code, Error};
use super::fields::Fields;
use super::repeated;
use super::{Decoded, HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX};
use crate::machine::{
    AddTransaction, Command, CreateGroup, Credentials, EditTransaction, ForeignSpec, History, JoinGroup, RecordPayment,
    Secret, Settle, Stats, StatsBy, TxnRef,
};
use crate::machine::{Convert, Method, WIRE_DECIMALS};
use vocab::Action;

pub(super) fn decode_general(frame: &[u8]) -> Decoded {
    let value: Value = match serde_json::from_slice(frame) {
        Ok(value) => value,
        Err(err) => {
            let command = Err(Error::new(Code::BadJson, format!("Invalid JSON: {err}")));
            return Decoded { id: None, command, stale: false };
        }
    };
    let Value::Object(mut envelope) = value else {
        let command = Err(Error::new(Code::BadJson, "A request must be a JSON object"));
        return Decoded { id: None, command, stale: false };
    };
    let mut id = envelope.remove("id");
    // The tree kept only the last of a repeated key; the frame is read once more to refuse it.
    let repeated = repeated::first_repeated(frame);
    if let Some(repeated) = repeated {
        if repeated.id_repeated {
            id = None;
        }
        let command = Err(Error::bad_request(format!("Duplicate field '{}'", repeated.field)));
        return Decoded { id, command, stale: false };
    }
    let stale = match envelope.remove("stale") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(stale)) => Ok(stale),
        Some(_) => Err(Error::bad_request("Field 'stale' must be true or false")),
    };
    let command = match (&id, &stale) {
        (_, Err(error)) => Err(error.clone()),
        (Some(Value::String(_) | Value::Number(_)) | None, Ok(_)) => decode_envelope(envelope),
        (Some(_), Ok(_)) => Err(Error::bad_request("Field 'id' must be a string or a number")),
    };
    Decoded { id, command, stale: stale.unwrap_or(false) }
}

/// `{"action": ..., "data": {...}}` without its `id`.
fn decode_envelope(mut envelope: Map<String, Value>) -> Result<Command, Error> {
    let action = match envelope.remove("action") {
        Some(Value::String(action)) => action,
        Some(_) => return Err(Error::bad_request("Field 'action' must be a string")),
        None => return Err(Error::bad_request("Missing field 'action'")),
    };
    if let Some(extra) = envelope.keys().find(|k| k.as_str() != "data") {
        return Err(Error::bad_request(format!("Unknown field '{extra}'")));
    }
    let data = match envelope.remove("data") {
        Some(Value::Object(data)) => data,
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(Error::bad_request("Field 'data' must be an object")),
    };
    let mut fields = Fields { data };
    let command = decode_action(&action, &mut fields)?;
    fields.finish()?;
    Ok(command)
}

/// One arm per action; the larger ones have a function each.
fn decode_action(action: &str, fields: &mut Fields) -> Result<Command, Error> {
    let Some(action) = Action::parse(action) else {
        return Err(Error::new(Code::UnknownAction, "Unknown action"));
    };
    let group = |fields: &mut Fields| fields.string("group");
    Ok(match action {
        Action::Signup => Command::Signup(credentials(fields)?),
        Action::Login => Command::Login(credentials(fields)?),
        Action::Logout => Command::Logout { all: fields.optional_bool("all")?.unwrap_or(false) },
        Action::Resume => Command::ResumeSession { secret: token(fields)? },
        Action::Sessions => Command::Sessions,
        Action::ChangePassword => Command::ChangePassword { old: fields.string("old")?, new: fields.string("new")? },
        Action::DeleteAccount => Command::DeleteAccount { password: fields.string("password")? },
        Action::CreateGroup => Command::CreateGroup(CreateGroup {
            group: group(fields)?,
            password: fields.optional_string("password")?.unwrap_or_default(),
            currency: fields.optional_currency("currency")?,
            convert: optional_convert(fields)?,
        }),
        Action::JoinGroup => Command::JoinGroup(JoinGroup {
            group: group(fields)?,
            password: fields.optional_string("password")?.unwrap_or_default(),
        }),
        Action::LeaveGroup => Command::LeaveGroup { group: group(fields)? },
        Action::SetGroupPassword => {
            Command::SetGroupPassword { group: group(fields)?, password: fields.string("password")? }
        }
        Action::SetGroupCurrency => Command::SetGroupCurrency {
            group: group(fields)?,
            currency: fields
                .optional_currency("currency")?
                .ok_or_else(|| Error::bad_request("Missing field 'currency'"))?,
        },
        Action::SetGroupConvert => Command::SetGroupConvert {
            group: group(fields)?,
            convert: optional_convert(fields)?.ok_or_else(|| Error::bad_request("Missing field 'convert'"))?,
        },
        Action::AddTransaction => Command::AddTransaction(add_transaction(fields)?),
        Action::EditTransaction => Command::EditTransaction(edit_transaction(fields)?),
        Action::DeleteTransaction => delete_transaction(fields)?,
        Action::RecordPayment => record_payment(fields)?,
        Action::DeletePayment => Command::DeletePayment {
            group: group(fields)?,
            id: fields.u64("id")?,
            version: fields.optional_u64("version")?,
        },
        Action::ListGroups => Command::ListGroups,
        Action::GetGroupMembers => Command::GroupMembers { group: group(fields)? },
        Action::GroupInfo => Command::GroupInfo { group: group(fields)? },
        Action::ViewTransactions => Command::ViewTransactions { group: group(fields)? },
        Action::ViewPayments => Command::ViewPayments { group: group(fields)? },
        Action::ViewBalances => Command::ViewBalances { group: group(fields)? },
        Action::Export => Command::Export { group: group(fields)? },
        Action::History => Command::History(history(fields)?),
        Action::Subscribe => Command::Subscribe(History { before: None, ..history(fields)? }),
        Action::Settle => Command::Settle(settle(fields)?),
        Action::BalanceDetails => Command::BalanceDetails { group: group(fields)? },
        Action::PairwiseDebts => Command::PairwiseDebts { group: group(fields)? },
        Action::AddCategory => Command::AddCategory { group: group(fields)?, category: fields.string("category")? },
        Action::ListCategories => Command::ListCategories { group: group(fields)? },
        Action::Stats => Command::Stats(stats(fields)?),
        Action::RestoreTransaction => Command::RestoreTransaction { group: group(fields)?, id: fields.u64("id")? },
        Action::RestorePayment => Command::RestorePayment { group: group(fields)?, id: fields.u64("id")? },
        Action::AddRecurring => Command::AddRecurring(super::recurring::add_recurring(fields)?),
        Action::ListRecurring => Command::ListRecurring { group: group(fields)? },
        Action::EditRecurring => Command::EditRecurring(super::recurring::edit_recurring(fields)?),
        Action::StopRecurring => Command::StopRecurring { group: group(fields)?, id: fields.u64("id")? },
    })
}

fn credentials(fields: &mut Fields) -> Result<Credentials, Error> {
    Ok(Credentials { username: fields.string("username")?, password: fields.string("password")? })
}

/// A session token as `login` returned it: 64 hex digits.
fn token(fields: &mut Fields) -> Result<Secret, Error> {
    let text = fields.string("token")?;
    Secret::parse(&text).ok_or_else(|| Error::bad_request("Field 'token' must be the 64 hex digits 'login' returned"))
}

/// `record_payment`; with `currency`, the amount is read in its decimals.
fn record_payment(fields: &mut Fields) -> Result<Command, Error> {
    let group = fields.string("group")?;
    let currency = fields.optional_currency("currency")?;
    let decimals = currency.as_deref().map_or(WIRE_DECIMALS, vocab::currency::minor_units);
    Ok(Command::RecordPayment(RecordPayment {
        group,
        from: fields.optional_string("from")?,
        to: fields.string("to")?,
        amount: fields
            .optional_amount_in("amount", decimals)?
            .ok_or_else(|| Error::bad_request("Missing field 'amount'"))?,
        date: fields.optional_date("date")?,
        key: fields.optional_key("key")?,
        currency,
    }))
}

/// `convert`: `"at_entry"` or `"at_settlement"`.
fn optional_convert(fields: &mut Fields) -> Result<Option<Convert>, Error> {
    match fields.optional_string("convert")?.as_deref() {
        None => Ok(None),
        Some("at_entry") => Ok(Some(Convert::AtEntry)),
        Some("at_settlement") => Ok(Some(Convert::AtSettlement)),
        Some(_) => Err(Error::bad_request(r#"Field 'convert' must be "at_entry" or "at_settlement""#)),
    }
}

fn add_transaction(fields: &mut Fields) -> Result<AddTransaction, Error> {
    let group = fields.string("group")?;
    let foreign = add_foreign_spec(fields)?;
    let decimals = entry_decimals(&foreign);
    let amount =
        fields.optional_amount_in("amount", decimals)?.ok_or_else(|| Error::bad_request("Missing field 'amount'"))?;
    let description = fields.optional_string("description")?.unwrap_or_default();
    let split = fields.split_spec_in(decimals)?.ok_or_else(|| Error::bad_request("Missing field 'split_between'"))?;
    Ok(AddTransaction {
        group,
        amount,
        description,
        split,
        paid_by: fields.optional_amount_map_in("paid_by", decimals)?,
        date: fields.optional_date("date")?,
        key: fields.optional_key("key")?,
        category: fields.optional_string("category")?,
        foreign,
    })
}

/// `currency` and `rate` of a new expense (or recurring rule): a rate only with the currency it is for.
pub(super) fn add_foreign_spec(fields: &mut Fields) -> Result<Option<ForeignSpec>, Error> {
    let foreign = foreign_spec(fields)?;
    if foreign.as_ref().is_some_and(|f| f.currency.is_none()) {
        return Err(Error::bad_request("Field 'rate' needs 'currency': the currency the amount is in"));
    }
    Ok(foreign)
}

/// `currency` and `rate` of an expense (docs/protocol.md, "Currencies"); `None` when neither is given.
pub(super) fn foreign_spec(fields: &mut Fields) -> Result<Option<ForeignSpec>, Error> {
    let currency = fields.optional_currency("currency")?;
    let rate = fields.optional_rate("rate")?;
    Ok((currency.is_some() || rate.is_some()).then_some(ForeignSpec { currency, rate }))
}

/// The decimals a request's amounts are read in: its `currency`'s, else the wire's (the machine
/// knows the group's).
pub(super) fn entry_decimals(foreign: &Option<ForeignSpec>) -> u8 {
    foreign.as_ref().and_then(|f| f.currency.as_deref()).map_or(WIRE_DECIMALS, vocab::currency::minor_units)
}

fn edit_transaction(fields: &mut Fields) -> Result<EditTransaction, Error> {
    let foreign = foreign_spec(fields)?;
    let decimals = entry_decimals(&foreign);
    let edit = EditTransaction {
        group: fields.string("group")?,
        id: fields.u64("id")?,
        amount: fields.optional_amount_in("amount", decimals)?,
        description: fields.optional_string("description")?,
        split: fields.split_spec_in(decimals)?,
        paid_by: fields.optional_amount_map_in("paid_by", decimals)?,
        date: fields.clearable_date("date")?,
        version: fields.optional_u64("version")?,
        // "" clears the category, as it does the date.
        category: fields.clearable_string("category")?,
        foreign,
    };
    let nothing = edit.amount.is_none()
        && edit.category.is_none()
        && edit.foreign.is_none()
        && edit.description.is_none()
        && edit.split.is_none()
        && edit.paid_by.is_none()
        && edit.date.is_none();
    if nothing {
        return Err(Error::bad_request(
            "Nothing to change: give 'amount', 'description', 'split', 'paid_by', 'date', 'category', 'currency' or \
             'rate'",
        ));
    }
    Ok(edit)
}

fn delete_transaction(fields: &mut Fields) -> Result<Command, Error> {
    let group = fields.string("group")?;
    let id = fields.optional_u64("id")?;
    let index = fields.optional_u64("index")?;
    let target = match (id, index) {
        (Some(id), None) => TxnRef::Id(id),
        (None, Some(index)) => TxnRef::Index(usize::try_from(index).unwrap_or(usize::MAX)),
        (Some(_), Some(_)) => return Err(Error::bad_request("Give either 'id' or 'index', not both")),
        (None, None) => return Err(Error::bad_request("Missing field 'id' (or 'index')")),
    };
    Ok(Command::DeleteTransaction { group, target, version: fields.optional_u64("version")? })
}

fn history(fields: &mut Fields) -> Result<History, Error> {
    let group = fields.string("group")?;
    let before = fields.optional_u64("before")?;
    let after = fields.optional_u64("after")?;
    if before.is_some() && after.is_some() {
        return Err(Error::bad_request("Give either 'before' or 'after', not both"));
    }
    let limit = match fields.optional_u64("limit")? {
        None => HISTORY_LIMIT_DEFAULT,
        Some(n) if (1..=HISTORY_LIMIT_MAX as u64).contains(&n) => n as usize,
        Some(_) => return Err(Error::bad_request(format!("Field 'limit' must be 1-{HISTORY_LIMIT_MAX}"))),
    };
    Ok(History { group, before, after, limit })
}

fn settle(fields: &mut Fields) -> Result<Settle, Error> {
    let group = fields.string("group")?;
    let method = match fields.optional_string("method")? {
        None => Method::Minimal,
        Some(name) => Method::parse(&name)
            .ok_or_else(|| Error::bad_request("Field 'method' must be \"minimal\" or \"greedy\""))?,
    };
    let record = fields.optional_bool("record")?.unwrap_or(false);
    Ok(Settle { group, method, record })
}

/// `stats {group, from?, to?, by}`: `from` and `to` are dates, inclusive, `from` not after `to`.
fn stats(fields: &mut Fields) -> Result<Stats, Error> {
    let group = fields.string("group")?;
    let from = fields.optional_date("from")?;
    let to = fields.optional_date("to")?;
    if let (Some(from), Some(to)) = (&from, &to) {
        if from > to {
            return Err(Error::bad_request(format!("Field 'from' ({from}) must not be after 'to' ({to})")));
        }
    }
    let by = match fields.string("by")?.as_str() {
        "category" => StatsBy::Category,
        "member" => StatsBy::Member,
        "month" => StatsBy::Month,
        other => {
            return Err(Error::bad_request(format!(
                "Field 'by' must be \"category\", \"member\" or \"month\", not {other:?}"
            )))
        }
    };
    Ok(Stats { group, from, to, by })
}
