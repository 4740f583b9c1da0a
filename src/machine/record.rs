//! Records: every change to the state, as data.
//!
//! The machine changes its state only by applying records, both when it executes a request and when
//! storage replays the log, so replay rebuilds exactly the state that was acknowledged. Records carry
//! ids chosen by the machine (never random) and password hashes (never passwords).

use serde::{Deserialize, Serialize};

use super::ledger::{Transaction, TxnId};
use super::{GroupId, UserId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    UserCreated {
        user: UserId,
        name: String,
        password_hash: String,
    },
    /// The creator becomes the first member in the same record.
    GroupCreated {
        group: GroupId,
        name: String,
        creator: UserId,
        password_hash: Option<String>,
        at: i64,
    },
    MemberJoined {
        group: GroupId,
        user: UserId,
        at: i64,
    },
    TransactionAdded {
        group: GroupId,
        txn: Transaction,
    },
    TransactionDeleted {
        group: GroupId,
        txn: TxnId,
        by: UserId,
        at: i64,
    },
}
