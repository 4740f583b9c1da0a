//! Wire types: decoding a request frame, building replies and pushed messages.
//!
//! This module owns the JSON shapes of PROTOCOL.md and nothing else: it does not know users, groups or
//! sockets. Decoding is total: any byte string becomes either a `Request` or an `Error` that names what
//! was wrong, so the loop always has a reply to send.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::json;
use crate::money::{AmountError, Cents};
use crate::settle::Method;

/// A stable, machine-readable error class, sent as `"code"` beside the human `"message"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BadJson,
    BadRequest,
    UnknownAction,
    NotAuthenticated,
    InvalidCredentials,
    UserExists,
    GroupExists,
    GroupNotFound,
    NotMember,
    InvalidGroupPassword,
    NotInGroup,
    InvalidIndex,
    TransactionNotFound,
    SettlementFailed,
    PaymentNotFound,
    Forbidden,
    BalanceNotZero,
    FrameTooLong,
    TooManyConnections,
    Limit,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BadJson => "bad_json",
            Code::BadRequest => "bad_request",
            Code::UnknownAction => "unknown_action",
            Code::NotAuthenticated => "not_authenticated",
            Code::InvalidCredentials => "invalid_credentials",
            Code::UserExists => "user_exists",
            Code::GroupExists => "group_exists",
            Code::GroupNotFound => "group_not_found",
            Code::NotMember => "not_member",
            Code::InvalidGroupPassword => "invalid_group_password",
            Code::NotInGroup => "not_in_group",
            Code::InvalidIndex => "invalid_index",
            Code::TransactionNotFound => "transaction_not_found",
            Code::SettlementFailed => "settlement_failed",
            Code::PaymentNotFound => "payment_not_found",
            Code::Forbidden => "forbidden",
            Code::BalanceNotZero => "balance_not_zero",
            Code::FrameTooLong => "frame_too_long",
            Code::TooManyConnections => "too_many_connections",
            Code::Limit => "limit",
            Code::Internal => "internal",
        }
    }
}

/// An error reply: what went wrong, in words and as a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: Code,
    pub message: String,
}

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Error {
        Error { code, message: message.into() }
    }

    fn bad_request(message: impl Into<String>) -> Error {
        Error::new(Code::BadRequest, message)
    }
}

/// Which transaction `delete_transaction` means: the original's 0-based position, or splitd's stable id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnRef {
    Index(usize),
    Id(u64),
}

/// How `add_transaction` / `edit_transaction` share an amount, as the request named it (names are
/// resolved to members by the machine). Named entries are sorted by name, so the allocation of
/// leftover cents (largest remainder, ties to the earlier entry) is in name order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitSpec {
    /// Equal shares. `members: None` (`{"mode":"equal"}` alone) means every current member. The
    /// original's `split_between` + `include_payer` arrive here too, with the names in request order.
    Equal { members: Option<Vec<String>>, include_payer: bool },
    /// Each person's exact share; must sum to the amount.
    Exact(Vec<(String, Cents)>),
    /// Percentages in basis points (`33.33` % = 3333); must sum to 10000.
    Percent(Vec<(String, u32)>),
    /// Integer weights >= 1.
    Shares(Vec<(String, u64)>),
}

/// The most a `shares` weight may be.
pub const SHARE_WEIGHT_MAX: u64 = 1_000_000;
/// Idempotency keys: 1-64 characters.
pub const KEY_CHARS_MAX: usize = 64;
/// `history`: default and largest page.
pub const HISTORY_LIMIT_DEFAULT: usize = 50;
pub const HISTORY_LIMIT_MAX: usize = 500;
/// The currency label of a group created without one (the original printed ₹).
pub const DEFAULT_CURRENCY: &str = "INR";

/// One decoded request. Field names follow PROTOCOL.md.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Signup {
        username: String,
        password: String,
    },
    Login {
        username: String,
        password: String,
    },
    Logout,
    CreateGroup {
        group: String,
        password: String,
        /// ISO 4217 shape (3 uppercase letters); `None` = the default, INR.
        currency: Option<String>,
    },
    JoinGroup {
        group: String,
        password: String,
    },
    ListGroups,
    GetGroupMembers {
        group: String,
    },
    AddTransaction {
        group: String,
        amount: Cents,
        description: String,
        split: SplitSpec,
        /// Who paid what (sums to `amount`); `None`: the caller paid it all.
        paid_by: Option<Vec<(String, Cents)>>,
        /// Client-given date, `YYYY-MM-DD`, validated.
        date: Option<String>,
        /// Idempotency key.
        key: Option<String>,
    },
    /// Every field but `group` and `id` is optional; `None` keeps the current value. `date:
    /// Some(None)` clears the date (`"date": ""`).
    EditTransaction {
        group: String,
        id: u64,
        amount: Option<Cents>,
        description: Option<String>,
        split: Option<SplitSpec>,
        paid_by: Option<Vec<(String, Cents)>>,
        date: Option<Option<String>>,
    },
    RecordPayment {
        group: String,
        /// `None`: the caller paid.
        from: Option<String>,
        to: String,
        amount: Cents,
        date: Option<String>,
        key: Option<String>,
    },
    DeletePayment {
        group: String,
        id: u64,
    },
    ViewPayments {
        group: String,
    },
    Export {
        group: String,
    },
    History {
        group: String,
        /// Only entries with a smaller id (older); `None`: from the newest.
        before: Option<u64>,
        limit: usize,
    },
    LeaveGroup {
        group: String,
    },
    SetGroupPassword {
        group: String,
        /// `""` removes the password.
        password: String,
    },
    SetGroupCurrency {
        group: String,
        currency: String,
    },
    GroupInfo {
        group: String,
    },
    ViewTransactions {
        group: String,
    },
    DeleteTransaction {
        group: String,
        target: TxnRef,
    },
    ViewBalances {
        group: String,
    },
    Settle {
        group: String,
        method: Method,
        /// Record the plan as payments, atomically, in the same step.
        record: bool,
    },
    /// Each member's balance taken apart: paid, share, payments sent and received.
    BalanceDetails {
        group: String,
    },
    /// The unsimplified who-owes-whom, netted per pair.
    PairwiseDebts {
        group: String,
    },
}

impl Request {
    /// The action name, for logs.
    pub fn action(&self) -> &'static str {
        match self {
            Request::Signup { .. } => "signup",
            Request::Login { .. } => "login",
            Request::Logout => "logout",
            Request::CreateGroup { .. } => "create_group",
            Request::JoinGroup { .. } => "join_group",
            Request::ListGroups => "list_groups",
            Request::GetGroupMembers { .. } => "get_group_members",
            Request::AddTransaction { .. } => "add_transaction",
            Request::ViewTransactions { .. } => "view_transactions",
            Request::DeleteTransaction { .. } => "delete_transaction",
            Request::ViewBalances { .. } => "view_balances",
            Request::Settle { .. } => "settle",
            Request::EditTransaction { .. } => "edit_transaction",
            Request::RecordPayment { .. } => "record_payment",
            Request::DeletePayment { .. } => "delete_payment",
            Request::ViewPayments { .. } => "view_payments",
            Request::Export { .. } => "export",
            Request::History { .. } => "history",
            Request::LeaveGroup { .. } => "leave_group",
            Request::SetGroupPassword { .. } => "set_group_password",
            Request::SetGroupCurrency { .. } => "set_group_currency",
            Request::GroupInfo { .. } => "group_info",
            Request::BalanceDetails { .. } => "balance_details",
            Request::PairwiseDebts { .. } => "pairwise_debts",
        }
    }
}

/// A decoded frame: the request (or why it could not be decoded) and the `id` to echo either way.
#[derive(Debug)]
pub struct Decoded {
    pub id: Option<Value>,
    pub request: Result<Request, Error>,
}

/// Decodes one frame (without its newline). Never panics.
pub fn decode(frame: &[u8]) -> Decoded {
    if let Some(decoded) = decode_group_read(frame).or_else(|| decode_original_add(frame)) {
        return decoded;
    }
    decode_general(frame)
}

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

fn decode_original_add(frame: &[u8]) -> Option<Decoded> {
    let add: OriginalAdd = serde_json::from_slice(frame).ok()?;
    if add.action != "add_transaction" {
        return None;
    }
    // A JSON number's exact text. A string amount (its quotes do not parse) or an invalid one is left
    // to the general way, which words the error.
    let amount = Cents::parse_amount(add.data.amount.get()).ok()?;
    let data = add.data;
    let request = Request::AddTransaction {
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
    };
    Some(Decoded { id: id_value(add.id)?, request: Ok(request) })
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

fn decode_group_read(frame: &[u8]) -> Option<Decoded> {
    let read: GroupRead = serde_json::from_slice(frame).ok()?;
    let group = read.data.group.into_owned();
    let request = match &*read.action {
        "view_balances" => Request::ViewBalances { group },
        "view_transactions" => Request::ViewTransactions { group },
        "get_group_members" => Request::GetGroupMembers { group },
        _ => return None,
    };
    Some(Decoded { id: id_value(read.id)?, request: Ok(request) })
}

/// Any frame, through a `serde_json::Value` tree.
fn decode_general(frame: &[u8]) -> Decoded {
    let value: Value = match serde_json::from_slice(frame) {
        Ok(value) => value,
        Err(err) => {
            return Decoded { id: None, request: Err(Error::new(Code::BadJson, format!("Invalid JSON: {err}"))) }
        }
    };
    let Value::Object(mut envelope) = value else {
        return Decoded { id: None, request: Err(Error::new(Code::BadJson, "A request must be a JSON object")) };
    };
    let id = envelope.remove("id");
    let request = match &id {
        Some(Value::String(_) | Value::Number(_)) | None => decode_envelope(envelope),
        Some(_) => Err(Error::bad_request("Field 'id' must be a string or a number")),
    };
    Decoded { id, request }
}

fn decode_envelope(mut envelope: Map<String, Value>) -> Result<Request, Error> {
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
    let request = match action.as_str() {
        "signup" => Request::Signup { username: fields.string("username")?, password: fields.string("password")? },
        "login" => Request::Login { username: fields.string("username")?, password: fields.string("password")? },
        "logout" => Request::Logout,
        "create_group" => Request::CreateGroup {
            group: fields.string("group")?,
            password: fields.optional_string("password")?.unwrap_or_default(),
            currency: fields.optional_currency("currency")?,
        },
        "join_group" => Request::JoinGroup {
            group: fields.string("group")?,
            password: fields.optional_string("password")?.unwrap_or_default(),
        },
        "list_groups" => Request::ListGroups,
        "get_group_members" => Request::GetGroupMembers { group: fields.string("group")? },
        "add_transaction" => {
            let group = fields.string("group")?;
            let amount = fields.amount("amount")?;
            let description = fields.optional_string("description")?.unwrap_or_default();
            let split = match fields.split_spec()? {
                Some(split) => split,
                None => return Err(Error::bad_request("Missing field 'split_between'")),
            };
            Request::AddTransaction {
                group,
                amount,
                description,
                split,
                paid_by: fields.optional_amount_map("paid_by")?,
                date: fields.optional_date("date")?,
                key: fields.optional_key("key")?,
            }
        }
        "edit_transaction" => {
            let request = Request::EditTransaction {
                group: fields.string("group")?,
                id: fields.u64("id")?,
                amount: fields.optional_amount("amount")?,
                description: fields.optional_string("description")?,
                split: fields.split_spec()?,
                paid_by: fields.optional_amount_map("paid_by")?,
                date: match fields.optional_string("date")? {
                    None => None,
                    Some(text) if text.is_empty() => Some(None),
                    Some(text) => Some(Some(validate_date("date", text)?)),
                },
            };
            if let Request::EditTransaction {
                amount: None,
                description: None,
                split: None,
                paid_by: None,
                date: None,
                ..
            } = request
            {
                return Err(Error::bad_request(
                    "Nothing to change: give 'amount', 'description', 'split', 'paid_by' or 'date'",
                ));
            }
            request
        }
        "record_payment" => Request::RecordPayment {
            group: fields.string("group")?,
            from: fields.optional_string("from")?,
            to: fields.string("to")?,
            amount: fields.amount("amount")?,
            date: fields.optional_date("date")?,
            key: fields.optional_key("key")?,
        },
        "delete_payment" => Request::DeletePayment { group: fields.string("group")?, id: fields.u64("id")? },
        "view_payments" => Request::ViewPayments { group: fields.string("group")? },
        "export" => Request::Export { group: fields.string("group")? },
        "history" => {
            let group = fields.string("group")?;
            let before = fields.optional_u64("before")?;
            let limit = match fields.optional_u64("limit")? {
                None => HISTORY_LIMIT_DEFAULT,
                Some(n) if (1..=HISTORY_LIMIT_MAX as u64).contains(&n) => n as usize,
                Some(_) => {
                    return Err(Error::bad_request(format!("Field 'limit' must be 1-{HISTORY_LIMIT_MAX}")));
                }
            };
            Request::History { group, before, limit }
        }
        "leave_group" => Request::LeaveGroup { group: fields.string("group")? },
        "set_group_password" => {
            Request::SetGroupPassword { group: fields.string("group")?, password: fields.string("password")? }
        }
        "set_group_currency" => Request::SetGroupCurrency {
            group: fields.string("group")?,
            currency: fields
                .optional_currency("currency")?
                .ok_or_else(|| Error::bad_request("Missing field 'currency'"))?,
        },
        "group_info" => Request::GroupInfo { group: fields.string("group")? },
        "view_transactions" => Request::ViewTransactions { group: fields.string("group")? },
        "delete_transaction" => {
            let group = fields.string("group")?;
            let id = fields.optional_u64("id")?;
            let index = fields.optional_u64("index")?;
            let target = match (id, index) {
                (Some(id), None) => TxnRef::Id(id),
                (None, Some(index)) => TxnRef::Index(usize::try_from(index).unwrap_or(usize::MAX)),
                (Some(_), Some(_)) => return Err(Error::bad_request("Give either 'id' or 'index', not both")),
                (None, None) => return Err(Error::bad_request("Missing field 'id' (or 'index')")),
            };
            Request::DeleteTransaction { group, target }
        }
        "view_balances" => Request::ViewBalances { group: fields.string("group")? },
        "balance_details" => Request::BalanceDetails { group: fields.string("group")? },
        "pairwise_debts" => Request::PairwiseDebts { group: fields.string("group")? },
        "settle" => {
            let group = fields.string("group")?;
            let method = match fields.optional_string("method")? {
                None => Method::Minimal,
                Some(name) => Method::parse(&name)
                    .ok_or_else(|| Error::bad_request("Field 'method' must be \"minimal\" or \"greedy\""))?,
            };
            let record = fields.optional_bool("record")?.unwrap_or(false);
            Request::Settle { group, method, record }
        }
        _ => return Err(Error::new(Code::UnknownAction, "Unknown action")),
    };
    fields.finish()?;
    Ok(request)
}

/// The `data` object of a request, taken apart field by field so every error names its field.
struct Fields {
    data: Map<String, Value>,
}

impl Fields {
    fn take(&mut self, name: &str) -> Option<Value> {
        match self.data.remove(name) {
            None | Some(Value::Null) => None,
            Some(value) => Some(value),
        }
    }

    fn string(&mut self, name: &str) -> Result<String, Error> {
        self.optional_string(name)?.ok_or_else(|| Error::bad_request(format!("Missing field '{name}'")))
    }

    fn optional_string(&mut self, name: &str) -> Result<Option<String>, Error> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::bad_request(format!("Field '{name}' must be a string"))),
        }
    }

    fn optional_bool(&mut self, name: &str) -> Result<Option<bool>, Error> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(Error::bad_request(format!("Field '{name}' must be true or false"))),
        }
    }

    fn optional_u64(&mut self, name: &str) -> Result<Option<u64>, Error> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| Error::bad_request(format!("Field '{name}' must be a whole number >= 0"))),
            Some(_) => Err(Error::bad_request(format!("Field '{name}' must be a whole number >= 0"))),
        }
    }

    fn u64(&mut self, name: &str) -> Result<u64, Error> {
        self.optional_u64(name)?.ok_or_else(|| Error::bad_request(format!("Missing field '{name}'")))
    }

    fn optional_string_list(&mut self, name: &str) -> Result<Option<Vec<String>>, Error> {
        match self.take(name) {
            None => Ok(None),
            Some(value) => names_list(name, value).map(Some),
        }
    }

    fn optional_amount(&mut self, name: &str) -> Result<Option<Cents>, Error> {
        match self.take(name) {
            None => Ok(None),
            Some(value) => amount_value(name, value).map(Some),
        }
    }

    /// `{"name": amount, ...}`, sorted by name; at least one entry.
    fn optional_amount_map(&mut self, name: &str) -> Result<Option<Vec<(String, Cents)>>, Error> {
        match self.take(name) {
            None => Ok(None),
            Some(value) => name_map(name, value, amount_value).map(Some),
        }
    }

    fn optional_date(&mut self, name: &str) -> Result<Option<String>, Error> {
        match self.optional_string(name)? {
            None => Ok(None),
            Some(text) => validate_date(name, text).map(Some),
        }
    }

    fn optional_key(&mut self, name: &str) -> Result<Option<String>, Error> {
        match self.optional_string(name)? {
            None => Ok(None),
            Some(key) => {
                let count = key.chars().count();
                if count == 0 || count > KEY_CHARS_MAX || key.chars().any(char::is_control) {
                    return Err(Error::bad_request(format!(
                        "Field '{name}' must be 1-{KEY_CHARS_MAX} printable characters"
                    )));
                }
                Ok(Some(key))
            }
        }
    }

    fn optional_currency(&mut self, name: &str) -> Result<Option<String>, Error> {
        match self.optional_string(name)? {
            None => Ok(None),
            Some(code) if validate_currency(&code) => Ok(Some(code)),
            Some(_) => Err(Error::bad_request(format!(
                "Field '{name}' must be an ISO 4217 code: 3 uppercase letters, like \"INR\" or \"EUR\""
            ))),
        }
    }

    /// The split of `add_transaction` / `edit_transaction`: `split` (any mode) or the original's
    /// `split_between` + `include_payer`, never both. `None` when neither is given.
    fn split_spec(&mut self) -> Result<Option<SplitSpec>, Error> {
        let split = self.take("split");
        let split_between = self.optional_string_list("split_between")?;
        let include_payer = self.optional_bool("include_payer")?;
        match (split, split_between, include_payer) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                Err(Error::bad_request("Give either 'split' or 'split_between' (with 'include_payer'), not both"))
            }
            (Some(value), None, None) => split_object(value).map(Some),
            (None, Some(members), include_payer) => {
                Ok(Some(SplitSpec::Equal { members: Some(members), include_payer: include_payer.unwrap_or(false) }))
            }
            (None, None, Some(_)) => Err(Error::bad_request("Missing field 'split_between'")),
            (None, None, None) => Ok(None),
        }
    }

    /// A positive amount, from a JSON number or a decimal string, parsed exactly from its text.
    fn amount(&mut self, name: &str) -> Result<Cents, Error> {
        self.optional_amount(name)?.ok_or_else(|| Error::bad_request(format!("Missing field '{name}'")))
    }

    /// Unknown fields are refused rather than ignored: a misspelt optional field would otherwise be
    /// silently dropped (a `"include_payr": true` splitting money wrongly).
    fn finish(self) -> Result<(), Error> {
        match self.data.keys().next() {
            Some(extra) => Err(Error::bad_request(format!("Unknown field '{extra}'"))),
            None => Ok(()),
        }
    }
}

/// A positive amount from a JSON number or decimal string, exactly; the error names `name`.
fn amount_value(name: &str, value: Value) -> Result<Cents, Error> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s,
        _ => return Err(Error::bad_request(format!("Field '{name}' must be a number"))),
    };
    Cents::parse_amount(&text).map_err(|err: AmountError| Error::bad_request(format!("Field '{name}' {err}")))
}

fn names_list(name: &str, value: Value) -> Result<Vec<String>, Error> {
    let wrong = || Error::bad_request(format!("Field '{name}' must be a list of names"));
    match value {
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                _ => Err(wrong()),
            })
            .collect(),
        _ => Err(wrong()),
    }
}

/// `{"member": value, ...}` with each value read by `read` (its errors name `field.member`); sorted by
/// member name; at least one entry.
fn name_map<T>(
    field: &str,
    value: Value,
    read: impl Fn(&str, Value) -> Result<T, Error>,
) -> Result<Vec<(String, T)>, Error> {
    let Value::Object(map) = value else {
        return Err(Error::bad_request(format!("Field '{field}' must be an object of member names to values")));
    };
    if map.is_empty() {
        return Err(Error::bad_request(format!("Field '{field}' must name at least one member")));
    }
    let mut entries = map
        .into_iter()
        .map(|(member, v)| {
            let item = read(&format!("{field}.{member}"), v)?;
            Ok((member, item))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

/// A percentage with at most two decimals, > 0 and <= 100, as basis points.
fn percent_value(name: &str, value: Value) -> Result<u32, Error> {
    let wrong =
        || Error::bad_request(format!("Field '{name}' must be a percentage > 0 and <= 100, at most 2 decimals"));
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s,
        _ => return Err(wrong()),
    };
    // Basis points are "cents of a percent": the exact decimal parser does the work.
    match Cents::parse_amount(&text) {
        Ok(bp) if bp.0 <= 10_000 => Ok(bp.0 as u32),
        _ => Err(wrong()),
    }
}

fn weight_value(name: &str, value: Value) -> Result<u64, Error> {
    match value.as_u64() {
        Some(w) if (1..=SHARE_WEIGHT_MAX).contains(&w) => Ok(w),
        _ => Err(Error::bad_request(format!("Field '{name}' must be a whole number 1-{SHARE_WEIGHT_MAX}"))),
    }
}

/// The `split` object: `{"mode": "equal"|"exact"|"percent"|"shares", ...}`.
fn split_object(value: Value) -> Result<SplitSpec, Error> {
    let Value::Object(data) = value else {
        return Err(Error::bad_request("Field 'split' must be an object with a 'mode'"));
    };
    let mut fields = Fields { data };
    let mode = fields.optional_string("mode").map_err(|_| Error::bad_request("Field 'split.mode' must be a string"))?;
    let spec = match mode.as_deref() {
        None => return Err(Error::bad_request("Missing field 'split.mode'")),
        Some("equal") => {
            let members = match fields.take("members") {
                None => None,
                Some(v) => Some(names_list("split.members", v)?),
            };
            if members.as_ref().is_some_and(Vec::is_empty) {
                return Err(Error::bad_request("Field 'split.members' must name at least one member"));
            }
            SplitSpec::Equal { members, include_payer: false }
        }
        Some("exact") => SplitSpec::Exact(name_map(
            "split.amounts",
            fields.take("amounts").ok_or_else(|| Error::bad_request("Missing field 'split.amounts'"))?,
            amount_value,
        )?),
        Some("percent") => {
            let percents = name_map(
                "split.percents",
                fields.take("percents").ok_or_else(|| Error::bad_request("Missing field 'split.percents'"))?,
                percent_value,
            )?;
            let total: u64 = percents.iter().map(|(_, bp)| *bp as u64).sum();
            if total != 10_000 {
                return Err(Error::bad_request(format!(
                    "Field 'split.percents' must sum to 100, not {}",
                    Cents(total as i64)
                )));
            }
            SplitSpec::Percent(percents)
        }
        Some("shares") => SplitSpec::Shares(name_map(
            "split.shares",
            fields.take("shares").ok_or_else(|| Error::bad_request("Missing field 'split.shares'"))?,
            weight_value,
        )?),
        Some(other) => {
            return Err(Error::bad_request(format!(
                "Field 'split.mode' must be \"equal\", \"exact\", \"percent\" or \"shares\", not {other:?}"
            )))
        }
    };
    if let Some(extra) = fields.data.keys().next() {
        return Err(Error::bad_request(format!("Unknown field 'split.{extra}'")));
    }
    Ok(spec)
}

/// The shape of an ISO 4217 code: 3 uppercase ASCII letters. (A label only: not checked against the
/// list of real currencies.)
pub fn validate_currency(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// A calendar date `YYYY-MM-DD` (years 1000-9999, real days of real months).
pub fn validate_date(name: &str, text: String) -> Result<String, Error> {
    let bytes = text.as_bytes();
    let shape = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes.iter().enumerate().all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    let valid = shape && {
        let num = |r: std::ops::Range<usize>| text[r].parse::<u32>().unwrap_or(0);
        let (year, month, day) = (num(0..4), num(5..7), num(8..10));
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => 0,
        };
        year >= 1000 && (1..=days).contains(&day)
    };
    if !valid {
        return Err(Error::bad_request(format!("Field '{name}' must be a date YYYY-MM-DD")));
    }
    Ok(text)
}

/// A reply under construction: `{"status": ...}` plus fields, kept as the JSON text it will be sent
/// as (fields are written straight in, see `json`). Never has a `type` key, so the original client
/// never mistakes it for a pushed message. Each field is added once.
#[derive(Clone, PartialEq)]
pub struct Reply {
    /// A complete JSON object.
    body: Vec<u8>,
    /// The error code of an error reply.
    code: Option<Code>,
}

impl Reply {
    pub fn ok() -> Reply {
        Reply::starting(br#"{"status":"ok"}"#, None)
    }

    /// Room for a typical reply (a transaction's view is ~300 bytes) without regrowing.
    fn starting(body: &[u8], code: Option<Code>) -> Reply {
        let mut reply = Reply { body: Vec::with_capacity(384), code };
        reply.body.extend_from_slice(body);
        reply
    }

    pub fn message(text: &str) -> Reply {
        Reply::ok().with_json("message", |out| json::string(out, text))
    }

    pub fn error(error: &Error) -> Reply {
        let mut reply = Reply::starting(br#"{"status":"error"}"#, Some(error.code));
        json::Object::reopen(&mut reply.body).str("message", &error.message).str("code", error.code.as_str());
        reply
    }

    /// Adds `key` with any serialisable value.
    pub fn with(self, key: &str, value: impl Serialize) -> Reply {
        self.with_json(key, |out| json::value(out, &value))
    }

    /// Adds `key` with the value `write` appends (one JSON value).
    pub fn with_json(mut self, key: &str, write: impl FnOnce(&mut Vec<u8>)) -> Reply {
        debug_assert_ne!(key, "type", "replies never carry a type key");
        write(json::Object::reopen(&mut self.body).key(key));
        self
    }

    pub fn is_ok(&self) -> bool {
        self.code.is_none()
    }

    pub fn code(&self) -> Option<Code> {
        self.code
    }

    /// The reply as a JSON value (for tests and tools; the server sends the text).
    pub fn to_value(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Appends the reply, with the request's `id` echoed, as one frame.
    pub fn write_frame(&self, id: Option<Value>, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.body);
        if let Some(id) = id {
            json::Object::reopen(out).value("id", &id);
        }
        out.push(b'\n');
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(frame: &str) -> Result<Request, Error> {
        decode(frame.as_bytes()).request
    }

    #[test]
    fn decodes_the_original_clients_requests() {
        assert_eq!(request(r#"{"action": "list_groups"}"#), Ok(Request::ListGroups));
        assert_eq!(
            request(
                r#"{"action":"add_transaction","data":{"group":"trip","amount":30.5,"description":"taxi","split_between":["bob"],"include_payer":true}}"#
            ),
            Ok(Request::AddTransaction {
                group: "trip".into(),
                amount: Cents(3050),
                description: "taxi".into(),
                split: SplitSpec::Equal { members: Some(vec!["bob".into()]), include_payer: true },
                paid_by: None,
                date: None,
                key: None,
            })
        );
        assert_eq!(
            request(r#"{"action":"delete_transaction","data":{"group":"g","index":0}}"#),
            Ok(Request::DeleteTransaction { group: "g".into(), target: TxnRef::Index(0) })
        );
    }

    #[test]
    fn decodes_the_new_actions() {
        assert_eq!(
            request(
                r#"{"action":"add_transaction","data":{"group":"g","amount":"9","split":{"mode":"shares","shares":{"carol":1,"bob":2}},"paid_by":{"bob":9},"date":"2024-02-29","key":"k"}}"#
            ),
            Ok(Request::AddTransaction {
                group: "g".into(),
                amount: Cents(900),
                description: String::new(),
                split: SplitSpec::Shares(vec![("bob".into(), 2), ("carol".into(), 1)]),
                paid_by: Some(vec![("bob".into(), Cents(900))]),
                date: Some("2024-02-29".into()),
                key: Some("k".into()),
            })
        );
        assert_eq!(
            request(r#"{"action":"add_transaction","data":{"group":"g","amount":1,"split":{"mode":"percent","percents":{"a":33.33,"b":"66.67"}}}}"#)
                .map(|r| match r {
                    Request::AddTransaction { split, .. } => split,
                    _ => unreachable!(),
                }),
            Ok(SplitSpec::Percent(vec![("a".into(), 3333), ("b".into(), 6667)]))
        );
        assert_eq!(
            request(r#"{"action":"edit_transaction","data":{"group":"g","id":3,"date":""}}"#),
            Ok(Request::EditTransaction {
                group: "g".into(),
                id: 3,
                amount: None,
                description: None,
                split: None,
                paid_by: None,
                date: Some(None),
            })
        );
        assert_eq!(
            request(r#"{"action":"history","data":{"group":"g"}}"#),
            Ok(Request::History { group: "g".into(), before: None, limit: HISTORY_LIMIT_DEFAULT })
        );
        assert_eq!(
            request(r#"{"action":"settle","data":{"group":"g","record":true}}"#),
            Ok(Request::Settle { group: "g".into(), method: Method::Minimal, record: true })
        );
        assert_eq!(
            request(r#"{"action":"record_payment","data":{"group":"g","to":"b","amount":1}}"#),
            Ok(Request::RecordPayment {
                group: "g".into(),
                from: None,
                to: "b".into(),
                amount: Cents(100),
                date: None,
                key: None
            })
        );
        let cases = [
            (r#"{"action":"add_transaction","data":{"group":"g","amount":1}}"#, "Missing field 'split_between'"),
            (
                r#"{"action":"add_transaction","data":{"group":"g","amount":1,"include_payer":true}}"#,
                "Missing field 'split_between'",
            ),
            (
                r#"{"action":"add_transaction","data":{"group":"g","amount":1,"split":{"mode":"exact","amounts":{"b":"x"}}}}"#,
                "'split.amounts.b'",
            ),
            (
                r#"{"action":"add_transaction","data":{"group":"g","amount":1,"split_between":[],"paid_by":[1]}}"#,
                "'paid_by' must be an object",
            ),
            (
                r#"{"action":"add_transaction","data":{"group":"g","amount":1,"split_between":[],"key":""}}"#,
                "'key' must be 1-64",
            ),
            (r#"{"action":"create_group","data":{"group":"g","currency":"EURO"}}"#, "'currency'"),
            (r#"{"action":"set_group_currency","data":{"group":"g"}}"#, "Missing field 'currency'"),
            (r#"{"action":"history","data":{"group":"g","before":-1}}"#, "'before'"),
            (r#"{"action":"delete_payment","data":{"group":"g"}}"#, "Missing field 'id'"),
            (
                r#"{"action":"record_payment","data":{"group":"g","to":"b","amount":1,"memo":"x"}}"#,
                "Unknown field 'memo'",
            ),
        ];
        for (frame, needle) in cases {
            let err = request(frame).expect_err(frame);
            assert_eq!(err.code, Code::BadRequest, "{frame}");
            assert!(err.message.contains(needle), "{frame}: {}", err.message);
        }
    }

    /// The borrowed fast path must decode exactly what the general path decodes, whenever it decodes
    /// at all (otherwise it declines and the general path answers).
    #[test]
    fn the_read_fast_path_agrees_with_the_general_decoder() {
        let frames = [
            r#"{"action":"view_balances","data":{"group":"trip"}}"#,
            r#"{"action":"view_transactions","data":{"group":"t\u00e9 \"x\""},"id":7}"#,
            r#"{"action":"get_group_members","id":"a","data":{"group":"g"}}"#,
            r#" { "data" : { "group" : "g" } , "action" : "view_balances" } "#,
            r#"{"action":"view_balances","data":{"group":"g"},"id":null}"#,
            r#"{"action":"view_balances","data":{"group":"g"},"id":true}"#,
            r#"{"action":"view_balances","data":{"group":"g"},"id":123456789012345678901234567890}"#,
            r#"{"action":"view_balances","data":{"group":"g"},"id":1.5e3}"#,
            r#"{"action":"view_balances","data":{"group":"g","x":1}}"#,
            r#"{"action":"view_balances","data":{"group":"g"},"extra":1}"#,
            r#"{"action":"view_balances","action":"settle","data":{"group":"g"}}"#,
            r#"{"action":"view_balances","data":{"group":"a","group":"b"}}"#,
            r#"{"action":"view_balances","data":{"group":5}}"#,
            r#"{"action":"view_balances","data":null}"#,
            r#"{"action":"settle","data":{"group":"g"}}"#,
            r#"{"action":"add_transaction","data":{"group":"g","amount":30.5,"description":"taxi","split_between":["bob"],"include_payer":true}}"#,
            r#"{"action":"add_transaction","id":9,"data":{"group":"g","amount":1e2,"split_between":["a","b"]}}"#,
            r#"{"action":"add_transaction","data":{"group":"g","amount":"7.00","split_between":[]}}"#,
            r#"{"action":"add_transaction","data":{"group":"g","amount":0.001,"split_between":["a"],"include_payer":null}}"#,
            r#"{"action":"add_transaction","data":{"group":"g","amount":5,"description":null,"split_between":["a"],"key":"k"}}"#,
            r#"{"action":"add_transaction","data":{"group":"g","amount":-5,"split_between":["a"]}}"#,
            r#"{"action":"add_transaction","data":{"group":"g","amount":5,"split_between":null}}"#,
        ];
        let agree = |frame: &[u8]| {
            if let Some(fast) = decode_original_add(frame) {
                let general = decode_general(frame);
                assert_eq!(fast.request, general.request, "{}", String::from_utf8_lossy(frame));
                assert_eq!(fast.id, general.id, "{}", String::from_utf8_lossy(frame));
            }
            if let Some(fast) = decode_group_read(frame) {
                let general = decode_general(frame);
                assert_eq!(fast.request, general.request, "{}", String::from_utf8_lossy(frame));
                assert_eq!(fast.id, general.id, "{}", String::from_utf8_lossy(frame));
            }
        };
        for frame in frames {
            agree(frame.as_bytes());
        }
        assert!(decode_group_read(frames[0].as_bytes()).is_some(), "the common read takes the fast path");
        assert!(decode_original_add(frames[15].as_bytes()).is_some(), "the original add takes the fast path");
        // Seeded byte mutations of the same frames.
        let mut seed = 0x51_u64;
        for _ in 0..40_000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let mut frame = frames[(seed >> 40) as usize % frames.len()].as_bytes().to_vec();
            let at = (seed >> 20) as usize % frame.len();
            frame[at] = b" {}[]\",:0123456789abcdefgnrtu-.e\"\\x"[(seed >> 8) as usize % 34];
            agree(&frame);
        }
    }

    #[test]
    fn echoes_id_even_on_errors() {
        let decoded = decode(br#"{"action":"nope","id":"abc"}"#);
        assert_eq!(decoded.id, Some(Value::from("abc")));
        assert_eq!(decoded.request.unwrap_err().code, Code::UnknownAction);
    }

    #[test]
    fn every_bad_input_names_its_problem() {
        let cases = [
            ("not json", Code::BadJson, "Invalid JSON"),
            ("[1,2]", Code::BadJson, "must be a JSON object"),
            ("\"x\"", Code::BadJson, "must be a JSON object"),
            ("{}", Code::BadRequest, "Missing field 'action'"),
            (r#"{"action":5}"#, Code::BadRequest, "'action' must be a string"),
            (r#"{"action":"login","data":[]}"#, Code::BadRequest, "'data' must be an object"),
            (r#"{"action":"login","data":{"username":"a"}}"#, Code::BadRequest, "Missing field 'password'"),
            (
                r#"{"action":"login","data":{"username":1,"password":"x"}}"#,
                Code::BadRequest,
                "'username' must be a string",
            ),
            (
                r#"{"action":"login","data":{"username":"a","password":"x","x":1}}"#,
                Code::BadRequest,
                "Unknown field 'x'",
            ),
            (
                r#"{"action":"add_transaction","data":{"group":"g","amount":-1,"split_between":[]}}"#,
                Code::BadRequest,
                "'amount' must be greater than zero",
            ),
            (
                r#"{"action":"add_transaction","data":{"group":"g","amount":1.001,"split_between":[]}}"#,
                Code::BadRequest,
                "at most 2 decimals",
            ),
            (
                r#"{"action":"add_transaction","data":{"group":"g","amount":1e999,"split_between":[]}}"#,
                Code::BadRequest,
                "at most 10000000000",
            ),
            (
                r#"{"action":"add_transaction","data":{"group":"g","amount":"x","split_between":[]}}"#,
                Code::BadRequest,
                "decimal number",
            ),
            (
                r#"{"action":"add_transaction","data":{"group":"g","amount":true,"split_between":[]}}"#,
                Code::BadRequest,
                "'amount' must be a number",
            ),
            (
                r#"{"action":"add_transaction","data":{"group":"g","amount":1,"split_between":[1]}}"#,
                Code::BadRequest,
                "list of names",
            ),
            (r#"{"action":"delete_transaction","data":{"group":"g"}}"#, Code::BadRequest, "Missing field 'id'"),
            (r#"{"action":"delete_transaction","data":{"group":"g","index":-1}}"#, Code::BadRequest, "whole number"),
            (r#"{"action":"settle","data":{"group":"g","method":"magic"}}"#, Code::BadRequest, "'method'"),
            (r#"{"action":"list_groups","id":[1]}"#, Code::BadRequest, "'id' must be"),
        ];
        for (frame, code, needle) in cases {
            let err = request(frame).expect_err(frame);
            assert_eq!(err.code, code, "{frame}");
            assert!(err.message.contains(needle), "{frame}: {}", err.message);
        }
    }

    #[test]
    fn deep_nesting_and_garbage_are_errors_not_panics() {
        let deep = "[".repeat(100_000);
        assert_eq!(request(&deep).unwrap_err().code, Code::BadJson);
        assert_eq!(decode(b"\xff\xfe\x00").request.unwrap_err().code, Code::BadJson);
        assert_eq!(decode(b"").request.unwrap_err().code, Code::BadJson);
    }

    #[test]
    fn replies_have_no_type_key_and_echo_id() {
        let mut out = Vec::new();
        Reply::message("Signup successful").write_frame(Some(Value::from(7)), &mut out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["status"], "ok");
        assert_eq!(v["message"], "Signup successful");
        assert_eq!(v["id"], 7);
        assert!(v.get("type").is_none());
        assert_eq!(out.last(), Some(&b'\n'));
    }
}
