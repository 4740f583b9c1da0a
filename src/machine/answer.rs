//! Answers and events: what a command produced, as typed values.
//!
//! An answer names the state it shows (a group, a transaction id) rather than copying it, so a read
//! costs nothing until the protocol layer renders it from the machine's state — straight into the
//! outgoing bytes, in the same loop turn, before anything else changes the state. Every answer that
//! shows a group names it, so its reply carries the group's `seq` (how fresh the view is).

use super::explain::Details;
use super::tokens::{Secret, TokenHash};
use super::{GroupId, PaymentId, TxnId, UserId};
use crate::money::Cents;
use crate::settle::Method;

/// A finished command's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Nothing to show but what happened.
    Done(Done),
    /// A login: the new token's secret, shown to this client once (none from a read-only member).
    LoggedIn {
        token: Option<Secret>,
    },
    /// A login resumed with a token, as `user`.
    Resumed {
        user: UserId,
    },
    /// The tokens of `user`; `current` is the asking connection's.
    Sessions {
        user: UserId,
        current: Option<TokenHash>,
    },
    /// The groups `user` belongs to, in the order joined.
    Groups {
        user: UserId,
    },
    Members {
        group: GroupId,
    },
    GroupInfo {
        group: GroupId,
    },
    Transactions {
        group: GroupId,
    },
    Payments {
        group: GroupId,
    },
    Balances {
        group: GroupId,
    },
    /// The group's settings, transactions and payments.
    Export {
        group: GroupId,
    },
    /// History entries by id, newest first; `more` when older ones remain.
    History {
        group: GroupId,
        entries: Vec<u64>,
        more: bool,
    },
    /// History entries newer than a `seq`, oldest first, shaped as their notifications; `more` when
    /// newer ones remain. `subscribe`: under `events`; `history {after}`: under `history`.
    CatchUp {
        group: GroupId,
        entries: Vec<u64>,
        more: bool,
        subscribe: bool,
    },
    /// A transaction as it is now (or, once deleted, as it was when deleted).
    Transaction {
        done: Done,
        group: GroupId,
        txn: TxnId,
        repeated: bool,
    },
    /// A payment as it is now (or, once deleted, as it was when deleted).
    Payment {
        group: GroupId,
        payment: PaymentId,
        repeated: bool,
    },
    Settlement(Box<Settlement>),
    /// Per current member, in member order; `others`: the same per other currency of a group that
    /// converts at settlement (each in its minor units), in the ledger's order.
    BalanceDetails {
        group: GroupId,
        members: Vec<(UserId, Details)>,
        others: Vec<(String, Vec<(UserId, Details)>)>,
    },
    /// Netted debts per pair (debtor, creditor, cents), sorted by names; `others` as in
    /// `BalanceDetails`.
    Debts {
        group: GroupId,
        debts: Vec<Debt>,
        others: Vec<(String, Vec<Debt>)>,
    },
    /// The group's categories (defaults, then added); `done` when a command added one.
    Categories {
        group: GroupId,
        done: Option<Done>,
    },
    /// `stats`: totals computed from the group's state.
    Stats(Box<super::stats::Totals>),
    /// `restore_payment`: the payment as it is back.
    PaymentRestored {
        group: GroupId,
        payment: PaymentId,
    },
    /// A recurring rule as it is now.
    Rule {
        done: Done,
        group: GroupId,
        rule: super::recurring::RuleId,
    },
    /// The group's recurring rules.
    Rules {
        group: GroupId,
    },
}

/// A netted debt: (debtor, creditor, amount in minor units).
pub type Debt = (UserId, UserId, i128);

/// What a command did, when that is all there is to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    SignedUp,
    LoggedIn,
    LoggedOut,
    /// Every token of the user revoked.
    LoggedOutEverywhere,
    AccountPasswordChanged,
    AccountDeleted,
    GroupCreated,
    Joined,
    Left,
    PasswordChanged,
    PasswordRemoved,
    CurrencySet,
    ConvertSet,
    TransactionAdded,
    TransactionEdited,
    TransactionUnchanged,
    TransactionDeleted,
    PaymentRecorded,
    PaymentDeleted,
    CategoryAdded,
    TransactionRestored,
    PaymentRestored,
    RecurringAdded,
    RecurringEdited,
    RecurringUnchanged,
    RecurringStopped,
}

/// One suggested (or recorded) payment of a settlement plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    pub from: UserId,
    pub to: UserId,
    pub amount: Cents,
}

/// A settlement plan for a group's balances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// The group planned for.
    pub group: GroupId,
    pub transfers: Vec<Transfer>,
    pub method: Method,
    pub proven_minimal: bool,
    pub lower_bound: usize,
    /// `Some` when the plan was asked to be recorded: the payments made of it (empty when nothing
    /// was owed), those of `others` after the group currency's.
    pub recorded: Option<Recorded>,
    /// In a group that converts at settlement: a plan per other currency with a balance, by code
    /// (each transfer in that currency's minor units). Empty otherwise.
    pub others: Vec<CurrencyPlan>,
}

/// The plan for the balances in one other currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyPlan {
    pub currency: String,
    pub transfers: Vec<Transfer>,
    pub method: Method,
    pub proven_minimal: bool,
    pub lower_bound: usize,
}

/// The payments a recorded settlement made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub group: GroupId,
    pub payments: Vec<PaymentId>,
}

/// A change to a group that online members should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub group: GroupId,
    pub notice: Notice,
}

/// What to push. Rendered only when someone will receive it: building the text of a notification
/// nobody is online to read was the largest cost of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The group's history entry `entry`.
    History { entry: u64 },
    /// The history entry of a recorded settlement, with the plan it recorded (the original client
    /// prints a `settlement` message's list).
    Settled { entry: u64, plans: Plans },
    /// `by` asked for a plan without recording it.
    SettleRequested { by: UserId, plans: Plans },
}

/// The plans a `settlement` notification shows: the group currency's transfers (the original's
/// list), then each other currency's of a group that converts at settlement (in its minor units).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plans {
    pub transfers: Vec<Transfer>,
    pub others: Vec<(String, Vec<Transfer>)>,
}

impl Plans {
    /// The plans a recorded settlement's payments are: each payment in its currency's plan, in order.
    pub fn of_payments(payments: &[super::Payment]) -> Plans {
        let mut plans = Plans::default();
        for p in payments {
            let transfer = Transfer { from: p.from, to: p.to, amount: p.amount };
            match &p.currency {
                None => plans.transfers.push(transfer),
                Some(code) => match plans.others.iter_mut().find(|(c, _)| c == code) {
                    Some((_, list)) => list.push(transfer),
                    None => plans.others.push((code.clone(), vec![transfer])),
                },
            }
        }
        plans
    }
}
