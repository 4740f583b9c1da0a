//! Records: every change to the state, as data.
//!
//! The machine changes its state only by applying records, both when it executes a request and when
//! storage replays the log, so replay rebuilds exactly the state that was acknowledged. Records carry
//! ids chosen by the machine (never random) and password hashes (never passwords). The log is
//! append-only: variants and fields are only ever added, new fields with a default so older logs
//! still read.
//!
//! A record that changes one group carries `seq`, the number the change gets in that group (its
//! history entry's id): `Machine::apply` refuses one that is not the group's next. Records written
//! before `seq` existed have none and get the next number as they apply (the numbering is the apply
//! order, so that is the same number); so does `AccountDeleted`, which leaves several groups at once.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::groups::Convert;
use super::ledger::{Payment, PaymentId, Transaction, TxnId};
use super::recurring::{Rule, RuleId};
use super::tokens::TokenHash;
use super::{GroupId, UserId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    UserCreated {
        user: UserId,
        name: String,
        password_hash: String,
    },
    /// The creator becomes the first member in the same record. The currency starts as INR; a
    /// `create_group` with another currency is followed by `GroupCurrencySet` in the same step.
    GroupCreated {
        group: GroupId,
        name: String,
        creator: UserId,
        password_hash: Option<String>,
        at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    /// Also a former member coming back (same balance slot).
    MemberJoined {
        group: GroupId,
        user: UserId,
        at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    TransactionAdded {
        group: GroupId,
        txn: Transaction,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    TransactionDeleted {
        group: GroupId,
        txn: TxnId,
        by: UserId,
        at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    /// `txn` is the whole new version (same id); the old one is in the state being changed.
    TransactionEdited {
        group: GroupId,
        txn: Transaction,
        by: UserId,
        at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    PaymentRecorded {
        group: GroupId,
        payment: Payment,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    /// A settlement plan recorded at once: all its payments or none (one record, one log line).
    SettlementRecorded {
        group: GroupId,
        payments: Vec<Payment>,
        by: UserId,
        at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    PaymentDeleted {
        group: GroupId,
        payment: PaymentId,
        by: UserId,
        at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    /// Only at a zero balance.
    MemberLeft {
        group: GroupId,
        user: UserId,
        at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    /// The group's currency label (ISO 4217 shape), and the decimals its amounts have from now on
    /// (`Group::decimals`: the currency's minor unit, or the group's old decimals when it holds
    /// amounts). Records from before groups had decimals have none: the group keeps 2.
    GroupCurrencySet {
        group: GroupId,
        currency: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        decimals: Option<u8>,
        by: UserId,
        at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    /// When the group converts other currencies (`set_group_convert`; `create_group` with
    /// `at_settlement` is followed by it in the same step). Only while the group has no
    /// transactions or payments.
    GroupConvertSet {
        group: GroupId,
        convert: Convert,
        by: UserId,
        at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    /// `None` removes the password.
    GroupPasswordSet {
        group: GroupId,
        password_hash: Option<String>,
        by: UserId,
        at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    // Sessions and the account's life (exec/sessions.rs, exec/account.rs). Every one of these first
    // drops the tokens expired at its `at` (`Tokens::prune`), so replay expires what the server did.
    /// A login issued a session token (only its hash is kept); created and last used `at`. A user at
    /// `tokens::TOKENS_PER_USER_MAX` loses their least recently used token in the same step.
    TokenIssued {
        user: UserId,
        token: TokenHash,
        address: Option<IpAddr>,
        at: i64,
    },
    /// A use of the token, recorded only when its recorded last use was a day old or more.
    TokenUsed {
        token: TokenHash,
        address: Option<IpAddr>,
        at: i64,
    },
    /// `logout`: the connection's token.
    TokenRevoked {
        user: UserId,
        token: TokenHash,
        at: i64,
    },
    /// `logout {"all": true}`: every token of the user.
    TokensRevoked {
        user: UserId,
        at: i64,
    },
    /// `change_password`: the new hash; every token of the user but `keep` (the changing
    /// connection's) is revoked in the same step.
    PasswordChanged {
        user: UserId,
        password_hash: String,
        keep: Option<TokenHash>,
        at: i64,
    },
    /// `delete_account`, at a zero balance in every group: the user leaves each group (a `member_left`
    /// history entry in each), every token is revoked, the password hash is dropped; the name stays,
    /// reserved, shown as "NAME (deleted)".
    AccountDeleted {
        user: UserId,
        at: i64,
    },
    /// A category name added to the group's list (exec/categories.rs).
    CategoryAdded {
        group: GroupId,
        name: String,
        by: UserId,
        at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    // Recurring expenses (exec/recurring.rs). An occurrence is a `TransactionAdded` whose `txn.rule`
    // and `txn.date` name its rule and date.
    /// `add_recurring`: the whole rule (`made` 0); made by `rule.by` at `rule.created_at`.
    RuleAdded {
        group: GroupId,
        rule: Rule,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    /// `edit_recurring`: the rule's new template and end (its `made` is the state's, whatever this
    /// says).
    RuleEdited {
        group: GroupId,
        rule: Rule,
        by: UserId,
        at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    /// A deleted transaction back in the ledger, with its id: `txn` is the whole restored version
    /// (the deleted one at the next version), so applying needs nothing the history may have trimmed.
    TransactionRestored {
        group: GroupId,
        txn: Transaction,
        by: UserId,
        at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    /// A deleted payment back in the ledger, with its id.
    PaymentRestored {
        group: GroupId,
        payment: Payment,
        by: UserId,
        at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    /// `stop_recurring`, or the server stopping a rule whose occurrence names someone who is no
    /// longer a member (`missing`; `by` is then the rule's maker).
    RuleStopped {
        group: GroupId,
        rule: RuleId,
        by: UserId,
        at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        missing: Option<UserId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
}

impl Record {
    /// The group this record changes and the number it says that change gets, if it says one.
    pub fn group_seq(&self) -> Option<(GroupId, u64)> {
        let seq = match self {
            Record::GroupCreated { seq, .. }
            | Record::MemberJoined { seq, .. }
            | Record::TransactionAdded { seq, .. }
            | Record::TransactionDeleted { seq, .. }
            | Record::TransactionEdited { seq, .. }
            | Record::PaymentRecorded { seq, .. }
            | Record::SettlementRecorded { seq, .. }
            | Record::PaymentDeleted { seq, .. }
            | Record::MemberLeft { seq, .. }
            | Record::GroupCurrencySet { seq, .. }
            | Record::GroupConvertSet { seq, .. }
            | Record::GroupPasswordSet { seq, .. }
            | Record::CategoryAdded { seq, .. }
            | Record::TransactionRestored { seq, .. }
            | Record::PaymentRestored { seq, .. } => *seq,
            Record::RuleAdded { seq, .. } | Record::RuleEdited { seq, .. } | Record::RuleStopped { seq, .. } => *seq,
            _ => None,
        };
        Some((self.group()?, seq?))
    }

    /// The one group this record changes, if it changes one.
    pub fn group(&self) -> Option<GroupId> {
        match self {
            Record::GroupCreated { group, .. }
            | Record::MemberJoined { group, .. }
            | Record::TransactionAdded { group, .. }
            | Record::TransactionDeleted { group, .. }
            | Record::TransactionEdited { group, .. }
            | Record::PaymentRecorded { group, .. }
            | Record::SettlementRecorded { group, .. }
            | Record::PaymentDeleted { group, .. }
            | Record::MemberLeft { group, .. }
            | Record::GroupCurrencySet { group, .. }
            | Record::GroupConvertSet { group, .. }
            | Record::GroupPasswordSet { group, .. }
            | Record::CategoryAdded { group, .. }
            | Record::TransactionRestored { group, .. }
            | Record::PaymentRestored { group, .. } => Some(*group),
            Record::RuleAdded { group, .. } | Record::RuleEdited { group, .. } | Record::RuleStopped { group, .. } => {
                Some(*group)
            }
            _ => None,
        }
    }

    /// Sets the number a one-group change gets (nothing for other records).
    pub fn set_seq(&mut self, next: u64) {
        match self {
            Record::GroupCreated { seq, .. }
            | Record::MemberJoined { seq, .. }
            | Record::TransactionAdded { seq, .. }
            | Record::TransactionDeleted { seq, .. }
            | Record::TransactionEdited { seq, .. }
            | Record::PaymentRecorded { seq, .. }
            | Record::SettlementRecorded { seq, .. }
            | Record::PaymentDeleted { seq, .. }
            | Record::MemberLeft { seq, .. }
            | Record::GroupCurrencySet { seq, .. }
            | Record::GroupConvertSet { seq, .. }
            | Record::GroupPasswordSet { seq, .. }
            | Record::CategoryAdded { seq, .. }
            | Record::TransactionRestored { seq, .. }
            | Record::PaymentRestored { seq, .. } => *seq = Some(next),
            Record::RuleAdded { seq, .. } | Record::RuleEdited { seq, .. } | Record::RuleStopped { seq, .. } => {
                *seq = Some(next)
            }
            _ => {}
        }
    }
}
