//! The wire error codes: the stable, machine-readable `"code"` of an error reply.
//!
//! Owns the set of codes and their spelling (docs/protocol.md lists what each means). Does not own the
//! human `"message"` beside a code, nor which failure gets which code: that is the server's.

wire_words! {
    /// A stable error class, sent as `"code"` beside the human `"message"`.
    pub enum Code {
        BadJson = "bad_json",
        BadRequest = "bad_request",
        UnknownAction = "unknown_action",
        NotAuthenticated = "not_authenticated",
        InvalidCredentials = "invalid_credentials",
        InvalidToken = "invalid_token",
        UserExists = "user_exists",
        GroupExists = "group_exists",
        GroupNotFound = "group_not_found",
        NotMember = "not_member",
        InvalidGroupPassword = "invalid_group_password",
        NotInGroup = "not_in_group",
        InvalidIndex = "invalid_index",
        TransactionNotFound = "transaction_not_found",
        SettlementFailed = "settlement_failed",
        PaymentNotFound = "payment_not_found",
        Forbidden = "forbidden",
        BalanceNotZero = "balance_not_zero",
        FrameTooLong = "frame_too_long",
        TooManyConnections = "too_many_connections",
        RateLimited = "rate_limited",
        Limit = "limit",
        Internal = "internal",
        NotLeader = "not_leader",
        Gap = "gap",
        Conflict = "conflict",
        UnknownCategory = "unknown_category",
        CategoryExists = "category_exists",
        NotDeleted = "not_deleted",
        RuleNotFound = "rule_not_found",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_is_spelt_once() {
        assert_eq!(Code::ALL.len(), 30);
        for (i, code) in Code::ALL.iter().enumerate() {
            assert_eq!(Code::parse(code.as_str()), Some(*code));
            assert!(Code::ALL[..i].iter().all(|other| other.as_str() != code.as_str()), "{code} twice");
            assert!(code.as_str().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{code}");
        }
        assert_eq!(Code::BadRequest.to_string(), "bad_request");
        assert_eq!(Code::parse("Bad_Request"), None);
        assert_eq!(Code::parse("not_found"), None);
    }
}
