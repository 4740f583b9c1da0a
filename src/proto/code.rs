//! Wire error codes: stable, machine-readable, sent as `"code"` beside the human `"message"`.

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
