//! Request lines of the splitd protocol (the original Python server's too), built once per run.
//!
//! Action names and amounts come from `vocab`, as the server reads them: an amount is integer
//! `Cents`, sent as its exact two-decimal JSON number (never through f64).

use serde_json::{json, Value};
use vocab::{Action, Cents};

pub const PASSWORD: &str = "splitbench-password";

fn request(action: Action, data: Value) -> Vec<u8> {
    let mut line = serde_json::to_vec(&json!({ "action": action.as_str(), "data": data })).unwrap_or_default();
    line.push(b'\n');
    line
}

pub fn signup(user: &str) -> Vec<u8> {
    request(Action::Signup, json!({ "username": user, "password": PASSWORD }))
}

pub fn login(user: &str) -> Vec<u8> {
    request(Action::Login, json!({ "username": user, "password": PASSWORD }))
}

/// Logs in with a session token a `login` returned.
pub fn resume(token: &str) -> Vec<u8> {
    request(Action::Resume, json!({ "token": token }))
}

pub fn create_group(group: &str) -> Vec<u8> {
    request(Action::CreateGroup, json!({ "group": group }))
}

pub fn join_group(group: &str) -> Vec<u8> {
    request(Action::JoinGroup, json!({ "group": group }))
}

/// `amount` is sent as a JSON number with exactly two decimals (`Cents(1234)` is `12.34`).
pub fn add_transaction(group: &str, amount: Cents, description: &str, split: &[&str], include_payer: bool) -> Vec<u8> {
    request(
        Action::AddTransaction,
        json!({
            "group": group,
            "amount": amount.to_json(),
            "description": description,
            "split_between": split,
            "include_payer": include_payer,
        }),
    )
}

/// An exact split: each named member's share, summing to `amount`; paid by the sender.
pub fn add_exact(group: &str, amount: Cents, description: &str, shares: &[(&str, Cents)]) -> Vec<u8> {
    let amounts: serde_json::Map<String, Value> =
        shares.iter().map(|(name, c)| (name.to_string(), c.to_json())).collect();
    request(
        Action::AddTransaction,
        json!({
            "group": group,
            "amount": amount.to_json(),
            "description": description,
            "split": {"mode": "exact", "amounts": amounts},
        }),
    )
}

pub fn view_balances(group: &str) -> Vec<u8> {
    request(Action::ViewBalances, json!({ "group": group }))
}

pub fn settle(group: &str) -> Vec<u8> {
    request(Action::Settle, json!({ "group": group }))
}

/// A raw line for non-JSON servers (e.g. `PING` for Redis), CRLF-terminated.
pub fn raw(line: &str) -> Vec<u8> {
    let mut bytes = line.as_bytes().to_vec();
    bytes.extend_from_slice(b"\r\n");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_json_object_each() {
        let line = add_transaction("g", Cents(1234), "d", &["a", "b"], true);
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["action"], "add_transaction");
        assert_eq!(v["data"]["amount"].to_string(), "12.34");
        let text = String::from_utf8(add_transaction("g", Cents(100), "d", &["a"], false)).unwrap();
        assert!(text.contains(r#""amount":1.00,"#), "exact decimal text on the wire: {text}");
        assert_eq!(v["data"]["split_between"][1], "b");
    }
}
