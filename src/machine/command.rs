//! Commands: what a client may ask of the machine, in the machine's own words.
//!
//! The protocol layer decodes wire frames into these; the machine never sees JSON. A command is
//! well-formed (types, shapes, lengths the wire can check) but not yet validated against the state:
//! names are still names, and the machine resolves them to members, refusing what does not fit.

use super::groups::Convert;
use super::tokens::Secret;
use crate::money::Cents;
use crate::settle::Method;
pub use vocab::rate::Rate;

/// The decimals a command's amounts are in when it names no currency (they are in the group's,
/// which the decoder does not know): the most any currency has. The machine rescales them to the
/// group's own (`Group::decimals`), refusing digits its currency does not have.
pub const WIRE_DECIMALS: u8 = vocab::currency::DECIMALS_MAX;

/// Which transaction a delete means: the original client's 0-based position, or splitd's stable id.
/// The id is the safe form: a position can shift while someone else deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnRef {
    Index(usize),
    Id(u64),
}

/// How an expense's amount is shared, as the client named it. Named entries are sorted by name, so
/// the allocation of leftover cents (largest remainder, ties to the earlier entry) is in name order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitSpec {
    /// Equal shares. `members: None` means every current member. The original's `split_between` +
    /// `include_payer` arrive here too, with the names in request order.
    Equal { members: Option<Vec<String>>, include_payer: bool },
    /// Each person's exact share; must sum to the amount.
    Exact(Vec<(String, Cents)>),
    /// Percentages in basis points (33.33 % = 3333); sum to 10000.
    Percent(Vec<(String, u32)>),
    /// Integer weights >= 1.
    Shares(Vec<(String, u64)>),
}

/// A name and a password, for signing up or logging in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateGroup {
    pub group: String,
    /// Empty: no join password.
    pub password: String,
    /// `None`: the default currency.
    pub currency: Option<String>,
    /// `None`: at entry.
    pub convert: Option<Convert>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroup {
    pub group: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddTransaction {
    pub group: String,
    pub amount: Cents,
    pub description: String,
    pub split: SplitSpec,
    /// Who paid what (sums to `amount`); `None`: the recorder paid it all.
    pub paid_by: Option<Vec<(String, Cents)>>,
    /// A calendar date `YYYY-MM-DD` the client gave, display only.
    pub date: Option<String>,
    /// Idempotency key: a repeat returns the first result and changes nothing.
    pub key: Option<String>,
    /// One of the group's categories (matched without regard to case); `None`: no category.
    pub category: Option<String>,
    /// Entered in another currency: then `amount`, `paid_by` and an exact split are in that
    /// currency's minor units. `None`: the group's currency.
    pub foreign: Option<ForeignSpec>,
}

/// The currency an expense was entered in and the rate the user gave (how many group-currency
/// units one unit of it is worth). In an edit either may be left out: `currency: None` keeps the
/// transaction's, `rate: None` keeps its rate (the amounts are then in the kept currency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignSpec {
    pub currency: Option<String>,
    pub rate: Option<Rate>,
}

/// Every field but `group` and `id` is optional: `None` keeps the current value. `date: Some(None)`
/// clears the date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditTransaction {
    pub group: String,
    pub id: u64,
    pub amount: Option<Cents>,
    pub description: Option<String>,
    pub split: Option<SplitSpec>,
    pub paid_by: Option<Vec<(String, Cents)>>,
    pub date: Option<Option<String>>,
    /// The version the client saw; `None`: whatever the current one is.
    pub version: Option<u64>,
    /// `Some(None)` clears the category; `Some(Some(name))` sets one of the group's.
    pub category: Option<Option<String>>,
    /// A new currency and/or rate (`add_transaction`'s `foreign`); `None`: keep them. Any amount
    /// given is in the currency the transaction ends up entered in.
    pub foreign: Option<ForeignSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPayment {
    pub group: String,
    /// `None`: the caller paid.
    pub from: Option<String>,
    pub to: String,
    /// In `currency`'s minor units when it is given.
    pub amount: Cents,
    pub date: Option<String>,
    pub key: Option<String>,
    /// `None`: the group's currency. Another only in a group that converts at settlement.
    pub currency: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    pub group: String,
    /// Only entries with a smaller id (older); `None`: from the newest.
    pub before: Option<u64>,
    /// Instead: only entries with a larger id (newer), oldest first (catching up).
    pub after: Option<u64>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settle {
    pub group: String,
    pub method: Method,
    /// Record the plan as payments, atomically, in the same step.
    pub record: bool,
}

/// `add_recurring`: a schedule and the expense each occurrence makes (the fields of
/// `add_transaction` but `date` and `key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddRecurring {
    pub group: String,
    pub schedule: super::recurring::Schedule,
    pub amount: Cents,
    pub description: String,
    pub split: SplitSpec,
    pub paid_by: Option<Vec<(String, Cents)>>,
    /// As `add_transaction`'s: one of the group's categories.
    pub category: Option<String>,
    /// As `add_transaction`'s: the amounts are then in that currency's minor units.
    pub foreign: Option<ForeignSpec>,
}

/// `edit_recurring`: what changes for the occurrences still to come. `None` keeps a value;
/// `until: Some(None)` / `count: Some(None)` clear the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditRecurring {
    pub group: String,
    pub id: u64,
    pub amount: Option<Cents>,
    pub description: Option<String>,
    pub split: Option<SplitSpec>,
    pub paid_by: Option<Vec<(String, Cents)>>,
    pub until: Option<Option<String>>,
    pub count: Option<Option<u32>>,
    /// `Some(None)` clears the category.
    pub category: Option<Option<String>>,
    /// A new currency (the amounts, then in it, must be given) or rate; `currency: None` keeps the
    /// rule's currency, `rate: None` its rate.
    pub foreign: Option<ForeignSpec>,
}

/// One request to the machine. Reads that name only a group carry just its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Signup(Credentials),
    /// Also issues a session token.
    Login(Credentials),
    /// Logs in with a token a `login` issued, without a password.
    ResumeSession {
        secret: Secret,
    },
    /// Ends the login and revokes its token; `all`: every token of the user.
    Logout {
        all: bool,
    },
    /// The caller's tokens: created, last used, address.
    Sessions,
    /// Revokes every other token of the user.
    ChangePassword {
        old: String,
        new: String,
    },
    /// Only at a zero balance in every group.
    DeleteAccount {
        password: String,
    },
    CreateGroup(CreateGroup),
    JoinGroup(JoinGroup),
    LeaveGroup {
        group: String,
    },
    /// An empty password removes it.
    SetGroupPassword {
        group: String,
        password: String,
    },
    SetGroupCurrency {
        group: String,
        currency: String,
    },
    SetGroupConvert {
        group: String,
        convert: Convert,
    },
    AddTransaction(AddTransaction),
    EditTransaction(EditTransaction),
    /// `version`: the one the client saw (`id` + `version` is the safe form; an index may name
    /// another transaction by the time it arrives).
    DeleteTransaction {
        group: String,
        target: TxnRef,
        version: Option<u64>,
    },
    RecordPayment(RecordPayment),
    DeletePayment {
        group: String,
        id: u64,
        version: Option<u64>,
    },
    ListGroups,
    GroupMembers {
        group: String,
    },
    GroupInfo {
        group: String,
    },
    ViewTransactions {
        group: String,
    },
    ViewPayments {
        group: String,
    },
    ViewBalances {
        group: String,
    },
    Export {
        group: String,
    },
    History(History),
    /// Catching up: the entries after `after` (oldest first, as notifications), in the same turn as
    /// the live notifications that follow (`before` is unused).
    Subscribe(History),
    Settle(Settle),
    /// Each member's balance taken apart: paid, share, payments sent and received.
    BalanceDetails {
        group: String,
    },
    /// The unsimplified who-owes-whom, netted per pair.
    PairwiseDebts {
        group: String,
    },
    /// A category name added to the group's list.
    AddCategory {
        group: String,
        category: String,
    },
    /// The group's categories: the defaults, then the added ones.
    ListCategories {
        group: String,
    },
    /// Exact totals of spending and payments, per category, member or month.
    Stats(Stats),
    /// Brings a deleted transaction back, with its id.
    RestoreTransaction {
        group: String,
        id: u64,
    },
    /// Brings a deleted payment back, with its id.
    RestorePayment {
        group: String,
        id: u64,
    },
    AddRecurring(AddRecurring),
    /// The group's rules, each with its next date.
    ListRecurring {
        group: String,
    },
    EditRecurring(EditRecurring),
    /// No more occurrences: the rule is removed (what it made stays).
    StopRecurring {
        group: String,
        id: u64,
    },
}

/// How `stats` groups its totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsBy {
    Category,
    Member,
    Month,
}

impl StatsBy {
    pub fn as_str(self) -> &'static str {
        match self {
            StatsBy::Category => "category",
            StatsBy::Member => "member",
            StatsBy::Month => "month",
        }
    }
}

/// `stats {group, from?, to?, by}`: `from`/`to` are checked dates `YYYY-MM-DD`, inclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub group: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub by: StatsBy,
}
