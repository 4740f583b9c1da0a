//! Why the machine refused a command, as domain result codes (TigerBeetle's `CreateAccountResult`
//! habit): the protocol layer turns each into a wire code and words. A refused command changed
//! nothing.

use crate::money::Cents;
use vocab::text::Found;

/// A refusal. Variants that carry data carry what the words need (a name, a sum), never wire text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The command needs a logged-in session.
    NotAuthenticated,
    /// Unknown user or wrong password: the same answer for both.
    InvalidCredentials,
    /// `resume` with a token that is unknown, revoked or expired: the same answer for all.
    InvalidToken,
    UserExists,
    GroupExists,
    /// A new group name has the confusable skeleton of an existing group's: it would pass for it.
    /// (The existing name is not given: the caller may not be a member, and it may be old text
    /// that is not safe to show.)
    GroupLookalike,
    GroupNotFound,
    /// The caller is not a member of the group.
    NotMember,
    /// The group has `groups::GROUP_MEMBERS_MAX` members.
    GroupFull,
    InvalidGroupPassword,
    /// `name` is not a current member (the original's `<name> not in group`).
    NotInGroup {
        name: String,
    },
    /// The change would move the balance of `name`, who has left the group.
    FormerMemberMoved {
        name: String,
    },
    /// No transaction at that position (the original's delete-by-index).
    InvalidIndex,
    TransactionNotFound,
    PaymentNotFound,
    /// Only the group's creator may change this setting.
    CreatorOnly(Setting),
    /// Leaving needs a zero balance.
    BalanceNotZero,
    /// Deleting an account needs a zero balance in every group; not so in `group`.
    AccountBalanceNotZero {
        group: String,
    },
    /// `pairwise_debts` would cost `pieces` (> `limit`) steps of work.
    TooLargeToExplain {
        pieces: usize,
        limit: usize,
    },
    /// `history {after}` / `subscribe`: entries newer than `after` are no longer kept; `oldest` is the
    /// oldest one that is (the client reloads the group, then continues from its `seq`).
    Gap {
        oldest: u64,
    },
    /// The `version` a client sent is not the object's current one: someone changed it since the
    /// client looked. Nothing changed; the answer shows the object as it is now.
    Conflict(Current),
    /// The command's content does not fit the rules or the state.
    Invalid(Invalid),
    /// A bug or a failed hash: the command changed nothing.
    Internal,
    /// A transaction names a category that is not in the group's list; `valid` is the list.
    UnknownCategory {
        name: String,
        valid: Vec<String>,
    },
    /// `add_category` with a name the list already has (compared without regard to case).
    CategoryExists {
        name: String,
    },
    /// The group has added `categories::CATEGORIES_ADDED_MAX` categories.
    TooManyCategories,
    /// `restore_*` of a transaction or payment that is in the ledger (never deleted, or already
    /// restored).
    NotDeleted(KeyKind),
    /// No recurring rule with that id in the group (never made, or stopped).
    RuleNotFound,
    /// The group has `recurring::RULES_PER_GROUP_MAX` rules.
    TooManyRules,
}

/// The object a `Conflict` is about, shown as it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Current {
    Transaction { group: super::GroupId, txn: super::TxnId },
    Payment { group: super::GroupId, payment: super::PaymentId },
}

/// A group setting only its creator may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Password,
    Currency,
    Convert,
}

/// Which list of names a rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The people of an equal split.
    EqualMembers,
    /// The people of an exact split.
    ExactAmounts,
    Percents,
    Shares,
    /// The payers.
    PaidBy,
}

/// Content that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// Usernames: 1-`USERNAME_CHARS_MAX` of letters, digits, `_`, `.`, `-`.
    Username,
    /// Account passwords: `PASSWORD_BYTES_MIN`-`PASSWORD_BYTES_MAX` bytes.
    Password,
    /// Group join passwords: at most `PASSWORD_BYTES_MAX` bytes.
    GroupPassword,
    /// The account password rule, for `change_password`'s new password.
    NewPassword,
    /// Group names: 1-`GROUP_NAME_CHARS_MAX` characters once trimmed, something visible among them.
    GroupName,
    /// Descriptions: at most `DESCRIPTION_CHARS_MAX` characters.
    DescriptionTooLong,
    /// New text holds a character that is not shown as itself (`vocab::text`): which, and where.
    Unsafe { field: TextField, found: Found },
    /// A list names more people than a group can hold.
    TooManyNames(Part),
    /// A list's amounts do not sum to the transaction's amount.
    SumMismatch { part: Part, amount: Cents, sum: Cents, decimals: u8 },
    /// An equal split with nobody in it.
    NobodyShares,
    /// An edit changes the amount, and the kept split cannot share the new one: the split must be
    /// given again.
    SplitNeeded(SplitGap),
    /// An edit changes the amount of an expense several people paid: `paid_by` must be given again.
    PayersNeeded,
    /// An idempotency key the user already used for the other kind of object.
    KeyUsedFor(KeyKind),
    /// A payment from someone to themselves.
    PaysSelf,
    /// Category names: 1-`CATEGORY_CHARS_MAX` letters, digits, spaces, `-`, `_`, `&`, `/`.
    CategoryName,
    /// An expense in another currency than the group's, with no `rate` to convert it at.
    RateNeeded { currency: String },
    /// A `rate` other than 1 for the group's own currency.
    RateForOwnCurrency,
    /// The amount converted at the rate is above the largest amount (10^10 units).
    ConvertedTooLarge,
    /// The amount converted at the rate rounds to nothing in the group's currency.
    ConvertedToZero,
    /// An amount with digits below `currency`'s minor unit (`decimals` decimals): 10.5 yen. `field`:
    /// the payer's or share's entry it is, `None` for the total.
    AmountNotWhole { field: Option<(Part, String)>, currency: String, decimals: u8 },
    /// `set_group_currency` to a currency with other decimals than the group's amounts have
    /// (`decimals`), once it holds amounts.
    DecimalsLocked { currency: String, decimals: u8 },
    /// An edit moves an expense to another currency without giving its amount in it.
    AmountNeeded { currency: String },
    /// The group's currency cannot change: it has expenses entered in other currencies, converted
    /// at rates relative to it.
    CurrencyLocked,
    /// The group's currency cannot change: this recurring rule's amounts are entered in a currency
    /// (at a rate relative to the group's, or in the group's own).
    CurrencyLockedByRule { rule: u64 },
    /// A recurring rule's `until` is before its `start`.
    UntilBeforeStart,
    /// `set_group_convert` once the group has transactions or payments (or deleted ones that could
    /// be restored).
    ConvertLocked,
    /// A `rate` in a group that converts at settlement.
    RateAtSettlement,
    /// A payment's `currency` other than the group's, in a group that converts at entry.
    PaymentCurrencyAtEntry,
}

/// A text field the character rules apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    /// A new group's name.
    Group,
    /// A transaction's description.
    Description,
}

/// Why a kept split cannot share a new amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitGap {
    /// Nobody is left to share it.
    Nobody,
    /// The exact amounts sum to `sum`, not the new `amount`.
    ExactSum { sum: Cents, amount: Cents, decimals: u8 },
}

/// What an idempotency key made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Transaction,
    Payment,
}

impl From<Invalid> for Error {
    fn from(invalid: Invalid) -> Error {
        Error::Invalid(invalid)
    }
}
