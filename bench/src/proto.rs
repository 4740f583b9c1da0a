//! Request lines of the splitd protocol (the original Python server's too), built once per run.

use serde_json::{json, Value};

pub const PASSWORD: &str = "splitbench-password";

fn request(action: &str, data: Value) -> Vec<u8> {
    let mut line = serde_json::to_vec(&json!({ "action": action, "data": data })).unwrap_or_default();
    line.push(b'\n');
    line
}

pub fn signup(user: &str) -> Vec<u8> {
    request("signup", json!({ "username": user, "password": PASSWORD }))
}

pub fn login(user: &str) -> Vec<u8> {
    request("login", json!({ "username": user, "password": PASSWORD }))
}

pub fn create_group(group: &str) -> Vec<u8> {
    request("create_group", json!({ "group": group }))
}

pub fn join_group(group: &str) -> Vec<u8> {
    request("join_group", json!({ "group": group }))
}

/// `cents` is sent as a JSON number with two decimals at most (e.g. 12.34).
pub fn add_transaction(group: &str, cents: u64, description: &str, split: &[&str], include_payer: bool) -> Vec<u8> {
    let amount = cents as f64 / 100.0;
    request(
        "add_transaction",
        json!({
            "group": group,
            "amount": amount,
            "description": description,
            "split_between": split,
            "include_payer": include_payer,
        }),
    )
}

pub fn view_balances(group: &str) -> Vec<u8> {
    request("view_balances", json!({ "group": group }))
}

pub fn settle(group: &str) -> Vec<u8> {
    request("settle", json!({ "group": group }))
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
        let line = add_transaction("g", 1234, "d", &["a", "b"], true);
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["action"], "add_transaction");
        assert_eq!(v["data"]["amount"].as_f64(), Some(12.34));
        assert_eq!(v["data"]["split_between"][1], "b");
    }
}
