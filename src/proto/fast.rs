//! The two fast paths of decoding: the hot read (an action that names only a group) and the
//! original client's `add_transaction`, decoded with borrowed strings and no `Value` tree. Each
//! declines (returns `None`) on anything unusual, and the general decoder answers instead, which
//! also words every error; a test holds the two to the same results.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::Decoded;
use crate::machine::{AddTransaction, Command, SplitSpec, WIRE_DECIMALS};
use crate::money::Cents;
use vocab::Action;

/// `add_transaction` in the original client's shape (`group`, `amount` as a JSON number,
/// `description`, `split_between`, `include_payer`), decoded like `GroupRead`: borrowed, no `Value`
/// tree, declining (to the general way) on anything else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OriginalAdd<'a> {
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(borrow)]
    data: OriginalAddData<'a>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OriginalAddData<'a> {
    #[serde(borrow)]
    group: Cow<'a, str>,
    #[serde(borrow)]
    amount: &'a RawValue,
    #[serde(borrow, default)]
    description: Option<Cow<'a, str>>,
    #[serde(borrow)]
    split_between: Vec<Cow<'a, str>>,
    #[serde(default)]
    include_payer: Option<bool>,
}

pub(super) fn decode_original_add(frame: &[u8]) -> Option<Decoded> {
    let add: OriginalAdd = serde_json::from_slice(frame).ok()?;
    if Action::parse(&add.action) != Some(Action::AddTransaction) {
        return None;
    }
    // A JSON number's exact text. A string amount (its quotes do not parse) or an invalid one is left
    // to the general way, which words the error.
    let amount = Cents::parse_amount_in(add.data.amount.get(), WIRE_DECIMALS).ok()?;
    let data = add.data;
    let command = Command::AddTransaction(AddTransaction {
        group: data.group.into_owned(),
        amount,
        description: data.description.map(Cow::into_owned).unwrap_or_default(),
        split: SplitSpec::Equal {
            members: Some(data.split_between.into_iter().map(Cow::into_owned).collect()),
            include_payer: data.include_payer.unwrap_or(false),
        },
        paid_by: None,
        date: None,
        key: None,
        category: None,
        foreign: None,
    });
    Some(Decoded { id: id_value(add.id)?, command: Ok(command), stale: false })
}

/// The `id` to echo, if it is one the general way accepts too (a string or a number); `None` declines.
fn id_value(raw: Option<&RawValue>) -> Option<Option<Value>> {
    match raw {
        None => Some(None),
        Some(raw) => match serde_json::from_str::<Value>(raw.get()).ok()? {
            id @ (Value::String(_) | Value::Number(_)) => Some(Some(id)),
            _ => None,
        },
    }
}

/// The envelope of a read that names only a group (`view_balances`, ...), decoded with borrowed
/// strings and no `Value` tree: the hot path of a read-heavy load. Anything else, and anything
/// unusual about these (unknown or repeated fields, an odd `id`), goes the general way, which also
/// words every error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupRead<'a> {
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(borrow)]
    data: GroupReadData<'a>,
    /// Present even when `null` (a plain `Option` would read `null` as absent).
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
}

fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupReadData<'a> {
    #[serde(borrow)]
    group: Cow<'a, str>,
}

#[inline]
pub(super) fn decode_group_read(frame: &[u8]) -> Option<Decoded> {
    let read: GroupRead = serde_json::from_slice(frame).ok()?;
    let group = read.data.group.into_owned();
    let command = match Action::parse(&read.action)? {
        Action::ViewBalances => Command::ViewBalances { group },
        Action::ViewTransactions => Command::ViewTransactions { group },
        Action::GetGroupMembers => Command::GroupMembers { group },
        _ => return None,
    };
    Some(Decoded { id: id_value(read.id)?, command: Ok(command), stale: false })
}
