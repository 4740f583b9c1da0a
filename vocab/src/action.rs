//! The action names a request may carry in `"action"`.
//!
//! Owns the set of actions the server decodes and their spelling. Does not own the fields of each
//! action's `data`, nor what an action does.

wire_words! {
    /// What a request asks for.
    pub enum Action {
        Signup = "signup",
        Login = "login",
        Logout = "logout",
        CreateGroup = "create_group",
        JoinGroup = "join_group",
        ListGroups = "list_groups",
        GetGroupMembers = "get_group_members",
        AddTransaction = "add_transaction",
        EditTransaction = "edit_transaction",
        RecordPayment = "record_payment",
        DeletePayment = "delete_payment",
        ViewPayments = "view_payments",
        Export = "export",
        History = "history",
        LeaveGroup = "leave_group",
        SetGroupPassword = "set_group_password",
        SetGroupCurrency = "set_group_currency",
        SetGroupConvert = "set_group_convert",
        GroupInfo = "group_info",
        ViewTransactions = "view_transactions",
        DeleteTransaction = "delete_transaction",
        ViewBalances = "view_balances",
        BalanceDetails = "balance_details",
        PairwiseDebts = "pairwise_debts",
        Settle = "settle",
        Resume = "resume",
        Sessions = "sessions",
        ChangePassword = "change_password",
        DeleteAccount = "delete_account",
        Subscribe = "subscribe",
        AddCategory = "add_category",
        ListCategories = "list_categories",
        Stats = "stats",
        RestoreTransaction = "restore_transaction",
        RestorePayment = "restore_payment",
        AddRecurring = "add_recurring",
        ListRecurring = "list_recurring",
        EditRecurring = "edit_recurring",
        StopRecurring = "stop_recurring",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_round_trips_and_is_spelt_once() {
        assert_eq!(Action::ALL.len(), 39);
        for (i, action) in Action::ALL.iter().enumerate() {
            assert_eq!(Action::parse(action.as_str()), Some(*action));
            assert!(Action::ALL[..i].iter().all(|other| other.as_str() != action.as_str()), "{action} twice");
        }
        assert_eq!(Action::AddTransaction.to_string(), "add_transaction");
        assert_eq!(Action::parse("frobnicate"), None);
        assert_eq!(Action::parse("Login"), None);
    }
}
