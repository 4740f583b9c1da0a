//! Error replies: a stable code and words. Decoding errors are made here directly; the machine's
//! refusals (`machine::Error`) are put into words here too, so the machine never writes wire text
//! and every message names the wire field it is about.

use crate::machine::categories::{CATEGORIES_ADDED_MAX, CATEGORY_CHARS_MAX};
use crate::machine::groups::GROUP_NAME_CHARS_MAX;
use crate::machine::users::{PASSWORD_BYTES_MAX, PASSWORD_BYTES_MIN, USERNAME_CHARS_MAX};
use crate::machine::{
    self, Current, Invalid, KeyKind, Part, Setting, SplitGap, TextField, DESCRIPTION_CHARS_MAX, SPLIT_NAMES_MAX,
};
use vocab::money::minor_text;
use vocab::text::Unsafe;

pub use vocab::Code;

/// An error reply: what went wrong, in words and as a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: Code,
    pub message: String,
    /// `rate_limited` only: how long to wait before the request could be let through, in ms.
    pub retry_after_ms: Option<u64>,
    /// `not_leader` only: the leader's client address, when this member knows it (sent as `null`
    /// otherwise, so a client can tell "wait for an election" from "go there").
    pub leader: Option<String>,
    /// `gap` only: the oldest `seq` still kept.
    pub oldest: Option<u64>,
}

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Error {
        Error { code, message: message.into(), retry_after_ms: None, leader: None, oldest: None }
    }

    /// `rate_limited`: refused unrun; worth trying again after `wait` (at least 1 ms).
    pub fn rate_limited(message: impl Into<String>, wait: std::time::Duration) -> Error {
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
        Error { retry_after_ms: Some(wait_ms), ..Error::new(Code::RateLimited, message) }
    }

    /// A cluster member that is not the leader (or not yet serving) refusing a command.
    pub fn not_leader(message: impl Into<String>, leader: Option<String>) -> Error {
        Error { leader, ..Error::new(Code::NotLeader, message) }
    }

    pub fn bad_request(message: impl Into<String>) -> Error {
        Error::new(Code::BadRequest, message)
    }
}

impl From<&machine::Error> for Error {
    fn from(error: &machine::Error) -> Error {
        use machine::Error as E;
        let (code, message): (Code, String) = match error {
            E::NotAuthenticated => (Code::NotAuthenticated, "Not authenticated".into()),
            E::InvalidCredentials => (Code::InvalidCredentials, "Invalid credentials".into()),
            E::InvalidToken => (Code::InvalidToken, "Invalid or expired token; log in with the password".into()),
            E::UserExists => (Code::UserExists, "Username already exists".into()),
            E::GroupExists => (Code::GroupExists, "Group already exists".into()),
            E::GroupLookalike => (Code::GroupExists, "A group with a name that looks the same already exists".into()),
            E::GroupNotFound => (Code::GroupNotFound, "Group not found".into()),
            E::NotMember => (Code::NotMember, "Not a member of this group".into()),
            E::GroupFull => (Code::Limit, "Group is full".into()),
            E::InvalidGroupPassword => (Code::InvalidGroupPassword, "Invalid group password".into()),
            E::NotInGroup { name } => (Code::NotInGroup, format!("{name} not in group")),
            E::FormerMemberMoved { name } => {
                (Code::NotInGroup, format!("{name} has left the group; this change would move their balance"))
            }
            E::InvalidIndex => (Code::InvalidIndex, "Invalid index".into()),
            E::TransactionNotFound => (Code::TransactionNotFound, "Transaction not found".into()),
            E::PaymentNotFound => (Code::PaymentNotFound, "Payment not found".into()),
            E::CreatorOnly(setting) => {
                let what = match setting {
                    Setting::Password => "password",
                    Setting::Currency => "currency",
                    Setting::Convert => "convert setting",
                };
                (Code::Forbidden, format!("Only the group's creator can change its {what}"))
            }
            E::BalanceNotZero => (Code::BalanceNotZero, "Settle your balance before leaving".into()),
            E::AccountBalanceNotZero { group } => {
                (Code::BalanceNotZero, format!("Settle your balance in {group} before deleting your account"))
            }
            E::TooLargeToExplain { pieces, limit } => (
                Code::Limit,
                format!(
                    "This group's transactions are too large to explain pair by pair \
                     ({pieces} pieces, limit {limit}); use balance_details"
                ),
            ),
            E::Gap { oldest } => {
                let message = format!("Changes before {oldest} are no longer kept; reload the group");
                return Error { oldest: Some(*oldest), ..Error::new(Code::Gap, message) };
            }
            E::Conflict(Current::Transaction { .. }) => {
                (Code::Conflict, "The transaction was changed since you saw it; it is shown as it is now".into())
            }
            E::Conflict(Current::Payment { .. }) => {
                (Code::Conflict, "The payment is not the version you saw; it is shown as it is now".into())
            }
            E::Invalid(invalid) => (Code::BadRequest, invalid_words(invalid)),
            E::Internal => (Code::Internal, "Internal server error".into()),
            E::UnknownCategory { .. }
            | E::CategoryExists { .. }
            | E::TooManyCategories
            | E::NotDeleted(_)
            | E::RuleNotFound
            | E::TooManyRules => trip_words(error),
        };
        Error::new(code, message)
    }
}

/// The codes and words of the refusals issue 15's actions brought (categories, undo, recurring rules).
fn trip_words(error: &machine::Error) -> (Code, String) {
    use machine::Error as E;
    match error {
        E::UnknownCategory { name, valid } => (
            Code::UnknownCategory,
            format!("Field 'category': {name:?} is not one of the group's categories: {}", valid.join(", ")),
        ),
        E::CategoryExists { name } => (Code::CategoryExists, format!("The group already has the category {name:?}")),
        E::TooManyCategories => (Code::Limit, format!("A group can add at most {CATEGORIES_ADDED_MAX} categories")),
        E::NotDeleted(KeyKind::Transaction) => {
            (Code::NotDeleted, "The transaction is not deleted (it is in the group already)".into())
        }
        E::NotDeleted(KeyKind::Payment) => {
            (Code::NotDeleted, "The payment is not deleted (it is in the group already)".into())
        }
        E::RuleNotFound => (Code::RuleNotFound, "Recurring rule not found".into()),
        E::TooManyRules => (
            Code::Limit,
            format!("A group holds at most {} recurring rules", crate::machine::recurring::RULES_PER_GROUP_MAX),
        ),
        // `from` sends only the errors above here.
        _ => (Code::Internal, "Internal server error".into()),
    }
}

/// The words for a machine's refusal, for tools that print them (the importer).
pub fn describe(error: &machine::Error) -> String {
    Error::from(error).message
}

/// The wire field a list of names comes in.
fn part_field(part: Part) -> &'static str {
    match part {
        Part::EqualMembers => "split_between",
        Part::ExactAmounts => "split.amounts",
        Part::Percents => "split.percents",
        Part::Shares => "split.shares",
        Part::PaidBy => "paid_by",
    }
}

/// The field an amount error names: `amount`, `paid_by.bob`, `split.amounts.bob`.
fn amount_field(field: &Option<(Part, String)>) -> String {
    match field {
        None => "amount".into(),
        Some((part, name)) => format!("{}.{name}", part_field(*part)),
    }
}

fn invalid_words(invalid: &Invalid) -> String {
    match invalid {
        Invalid::Username => {
            format!("Field 'username' must be 1-{USERNAME_CHARS_MAX} characters of letters, digits, '_', '.', '-'")
        }
        Invalid::Password => format!("Field 'password' must be {PASSWORD_BYTES_MIN}-{PASSWORD_BYTES_MAX} bytes long"),
        Invalid::GroupPassword => format!("Field 'password' must be at most {PASSWORD_BYTES_MAX} bytes long"),
        Invalid::NewPassword => format!("Field 'new' must be {PASSWORD_BYTES_MIN}-{PASSWORD_BYTES_MAX} bytes long"),
        Invalid::GroupName => format!("Field 'group' must be 1-{GROUP_NAME_CHARS_MAX} printable characters"),
        Invalid::DescriptionTooLong => {
            format!("Field 'description' must be at most {DESCRIPTION_CHARS_MAX} characters")
        }
        Invalid::Unsafe { field, found } => {
            let field = match field {
                TextField::Group => "group",
                TextField::Description => "description",
            };
            let what = match found.why {
                Unsafe::Control => "control characters",
                Unsafe::Bidi => "bidirectional controls",
                Unsafe::Format => "invisible format characters",
                Unsafe::Separator => "line or paragraph separators",
                Unsafe::PrivateUse => "private-use characters",
                Unsafe::Unassigned => "unassigned characters",
            };
            let (code, at) = (found.ch as u32, found.position);
            format!("Field '{field}' must not contain {what} (U+{code:04X} at position {at})")
        }
        Invalid::TooManyNames(part) => format!("Field '{}' names more than {SPLIT_NAMES_MAX}", part_field(*part)),
        Invalid::SumMismatch { part, amount, sum, decimals } => {
            let (amount, sum) = (minor_text(*amount, *decimals), minor_text(*sum, *decimals));
            format!("Field '{}' must sum to the amount {amount}, not {sum}", part_field(*part))
        }
        Invalid::NobodyShares => "Field 'split_between' must name at least one member (or set include_payer)".into(),
        Invalid::SplitNeeded(gap) => {
            let why = match gap {
                SplitGap::Nobody => "nobody shares it".to_string(),
                SplitGap::ExactSum { sum, amount, decimals } => format!(
                    "the exact amounts sum to {}, not {}",
                    minor_text(*sum, *decimals),
                    minor_text(*amount, *decimals)
                ),
            };
            format!("Field 'split': {why}; give 'split' too when changing the amount")
        }
        Invalid::PayersNeeded => {
            "Field 'paid_by': several people paid; give 'paid_by' too when changing the amount".into()
        }
        Invalid::KeyUsedFor(KeyKind::Transaction) => "Field 'key' was already used for a transaction".into(),
        Invalid::KeyUsedFor(KeyKind::Payment) => "Field 'key' was already used for a payment".into(),
        Invalid::PaysSelf => "Field 'to' must name someone other than the payer ('from')".into(),
        Invalid::CategoryName => format!(
            "Field 'category' must be 1-{CATEGORY_CHARS_MAX} letters, digits, spaces, '-', '_', '&' or '/', \
             not starting or ending with a space"
        ),
        Invalid::UntilBeforeStart => "Field 'until' must be on or after 'start'".into(),
        other => currency_words(other),
    }
}

/// The words for the refusals of expenses in another currency (docs/protocol.md, "Currencies").
fn currency_words(invalid: &Invalid) -> String {
    match invalid {
        Invalid::RateNeeded { currency } => {
            format!("Field 'rate' is needed: how many units of the group's currency one {currency} is worth")
        }
        Invalid::RateForOwnCurrency => "Field 'rate' must be 1 (or left out) for the group's own currency".into(),
        Invalid::ConvertedTooLarge => "Field 'amount' converted at 'rate' must be at most 10000000000".into(),
        Invalid::ConvertedToZero => "Field 'amount' converted at 'rate' rounds to nothing".into(),
        Invalid::AmountNotWhole { field, currency, decimals: 0 } => {
            format!("Field '{}' must be a whole number of {currency} (it has no decimals)", amount_field(field))
        }
        Invalid::AmountNotWhole { field, currency, decimals } => {
            format!("Field '{}' must have at most {decimals} decimals in {currency}", amount_field(field))
        }
        Invalid::DecimalsLocked { currency, decimals } => format!(
            "Field 'currency' cannot be {currency}: its amounts have {} decimals and the group's have {decimals}, \
             and the group has transactions, payments or recurring expenses in them",
            vocab::currency::minor_units(currency)
        ),
        Invalid::AmountNeeded { currency } => {
            format!("Field 'amount' is needed in {currency} when changing the currency")
        }
        Invalid::CurrencyLocked => {
            "Field 'currency' cannot change: the group has expenses converted from other currencies".into()
        }
        Invalid::CurrencyLockedByRule { rule } => {
            format!("Field 'currency' cannot change: recurring rule #{rule} has amounts in a named currency (stop it first)")
        }
        Invalid::ConvertLocked => {
            "Field 'convert' cannot change: the group has transactions or payments (or deleted ones)".into()
        }
        Invalid::RateAtSettlement => {
            "Field 'rate' is not taken: the group converts at settlement (amounts stay in their currency)".into()
        }
        Invalid::PaymentCurrencyAtEntry => {
            "Field 'currency' must be the group's: it converts at entry (set_group_convert)".into()
        }
        _ => "Invalid request".into(),
    }
}
