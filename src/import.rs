//! `splitd import`: the original Python server's `users.json` + `data.json` into a new data directory.
//!
//! Everything is read, validated and converted in memory first; only a complete conversion is
//! written, so a bad or partial input writes nothing. Plaintext passwords are hashed on the way in.
//! Float amounts become exact cents, rounded half away from zero to the cent, and every amount that
//! was not already a whole number of cents is reported. Transactions keep their order and go through
//! the machine's own `add_transaction`, so they are validated and split exactly like live ones.
//!
//! A one-off migration tool, not storage: it writes through `store::Store` like the server does.

use std::fs;
use std::path::Path;

use serde_json::{Map, Value};

use crate::auth;
use crate::config::FsyncPolicy;
use crate::machine::{Machine, Record, Session, Step};
use crate::money::{Cents, AMOUNT_CENTS_MAX};
use crate::proto;

/// What the import did, for the operator.
#[derive(Debug, Default)]
pub struct Report {
    pub users: usize,
    pub groups: usize,
    pub transactions: usize,
    /// Amounts that were not whole cents: (group, position, original text, cents used).
    pub rounded: Vec<(String, usize, String, Cents)>,
}

/// Converts the two files into `data_dir`, which must not exist yet or be empty.
pub fn import(users_path: &Path, data_path: &Path, data_dir: &Path, now: i64) -> Result<Report, String> {
    let users = read_object(users_path)?;
    let data = read_object(data_path)?;
    let (machine, records, report) = convert(&users, &data, now)?;
    if data_dir.exists() && fs::read_dir(data_dir).map_err(|e| e.to_string())?.next().is_some() {
        return Err(format!("{} is not empty: import only into a new data directory", data_dir.display()));
    }
    let mut opened = crate::store::Store::open(data_dir, FsyncPolicy::Always, u64::MAX)?;
    opened.store.append(&records);
    opened.store.snapshot(&machine).map_err(|e| format!("cannot write {}: {e}", data_dir.display()))?;
    Ok(report)
}

fn read_object(path: &Path) -> Result<Map<String, Value>, String> {
    let text = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    match serde_json::from_slice(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(format!("{}: expected a JSON object", path.display())),
        Err(e) => Err(format!("{}: not valid JSON ({e}); is the file complete?", path.display())),
    }
}

/// The conversion itself, pure but for hashing (which is CPU only).
pub fn convert(
    users: &Map<String, Value>,
    data: &Map<String, Value>,
    now: i64,
) -> Result<(Machine, Vec<Record>, Report), String> {
    let mut import = Import { machine: Machine::new(), records: Vec::new(), report: Report::default(), now };
    for (id, (name, password)) in users.iter().enumerate() {
        import.user(id as u32, name, password)?;
    }
    let groups = match data.get("groups") {
        Some(Value::Object(groups)) => groups,
        _ => return Err("data.json: expected {\"groups\": {...}}".into()),
    };
    for (group_id, (group_name, group)) in groups.iter().enumerate() {
        import.group(group_id as u32, group_name, group)?;
    }
    import.machine.check_invariants()?;
    Ok((import.machine, import.records, import.report))
}

/// A conversion under way: the machine built so far, its records, what the report will say.
struct Import {
    machine: Machine,
    records: Vec<Record>,
    report: Report,
    now: i64,
}

impl Import {
    fn user(&mut self, id: u32, name: &str, password: &Value) -> Result<(), String> {
        let Value::String(password) = password else {
            return Err(format!("users.json: the password of {name:?} is not a string"));
        };
        crate::machine::users::validate_username(name)
            .map_err(|e| format!("users.json: user {name:?}: {}", proto::describe(&e.into())))?;
        let password_hash = auth::hash_password(password).ok_or("password hashing failed")?;
        apply(
            &mut self.machine,
            &mut self.records,
            Record::UserCreated { user: id, name: name.into(), password_hash },
        )?;
        self.report.users += 1;
        Ok(())
    }

    /// The group, its members (the first is its creator) and its transactions.
    fn group(&mut self, group_id: u32, group_name: &str, group: &Value) -> Result<(), String> {
        let bad = |why: &str| format!("data.json: group {group_name:?}: {why}");
        crate::machine::groups::validate_group_name(group_name).map_err(|e| bad(&proto::describe(&e.into())))?;
        let members: Vec<&str> = match group.get("members") {
            Some(Value::Array(list)) => list
                .iter()
                .map(|m| m.as_str().ok_or_else(|| bad("a member is not a string")))
                .collect::<Result<_, _>>()?,
            _ => return Err(bad("missing 'members' list")),
        };
        let creator = self.user_of(members.first().ok_or_else(|| bad("has no members"))?, &bad)?;
        let password_hash = match group.get("password") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) if p.is_empty() => None,
            Some(Value::String(p)) => Some(auth::hash_password(p).ok_or("password hashing failed")?),
            Some(_) => return Err(bad("'password' is not a string")),
        };
        let (name, at) = (group_name.to_string(), self.now);
        let created = Record::GroupCreated { group: group_id, name, creator, password_hash, at, seq: None };
        apply(&mut self.machine, &mut self.records, created)?;
        for member in &members[1..] {
            let user = self.user_of(member, &bad)?;
            if self.machine.groups().get(group_id).is_some_and(|g| g.is_member(user)) {
                continue;
            }
            apply(&mut self.machine, &mut self.records, Record::MemberJoined { group: group_id, user, at, seq: None })?;
        }
        self.report.groups += 1;
        let txns = match group.get("transactions") {
            None => Vec::new(),
            Some(Value::Array(list)) => list.clone(),
            Some(_) => return Err(bad("'transactions' is not a list")),
        };
        for (position, txn) in txns.iter().enumerate() {
            self.transaction(group_name, position, txn)
                .map_err(|why| bad(&format!("transaction {position}: {why}")))?;
        }
        Ok(())
    }

    fn user_of(&self, name: &str, bad: &dyn Fn(&str) -> String) -> Result<u32, String> {
        machine_user(&self.machine, name).ok_or_else(|| bad(&format!("member {name:?} is not in users.json")))
    }

    /// One of the original's transactions, added through the protocol as its payer would have.
    fn transaction(&mut self, group_name: &str, position: usize, txn: &Value) -> Result<(), String> {
        let field_str =
            |key: &str| txn.get(key).and_then(Value::as_str).ok_or_else(|| format!("'{key}' missing or not a string"));
        let payer = field_str("payer")?;
        let amount_text = match txn.get("amount") {
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err("'amount' missing or not a number".into()),
        };
        let (amount, exact) = round_to_cents(&amount_text)
            .ok_or_else(|| format!("amount {amount_text} is not a usable positive amount"))?;
        if !exact {
            self.report.rounded.push((group_name.to_string(), position, amount_text, amount));
        }
        let split_between: Vec<String> = match txn.get("split_between") {
            Some(Value::Array(list)) => list
                .iter()
                .map(|m| m.as_str().map(str::to_string).ok_or_else(|| "a split name is not a string".to_string()))
                .collect::<Result<_, _>>()?,
            _ => return Err("'split_between' missing or not a list".into()),
        };
        // Built as a wire request, so the importer speaks the same (stable) protocol as clients.
        let frame = serde_json::json!({"action": "add_transaction", "data": {
            "group": group_name,
            "amount": amount.to_string(),
            "description": txn.get("description").and_then(Value::as_str).unwrap_or_default(),
            "split_between": split_between,
            "include_payer": txn.get("include_payer").and_then(Value::as_bool).unwrap_or(false),
        }});
        let command = proto::decode(frame.to_string().as_bytes()).command.map_err(|e| e.message)?;
        let user =
            machine_user(&self.machine, payer).ok_or_else(|| format!("member {payer:?} is not in users.json"))?;
        let mut session = Session { user: Some(user), ..Session::default() };
        let Step::Done(outcome) = self.machine.execute(&mut session, command, self.now) else {
            return Err("unexpected password work".into());
        };
        if let Err(error) = &outcome.answer {
            return Err(proto::describe(error));
        }
        self.records.extend(outcome.records);
        self.report.transactions += 1;
        Ok(())
    }
}

fn apply(machine: &mut Machine, records: &mut Vec<Record>, record: Record) -> Result<(), String> {
    machine.apply(&record).map_err(|e| e.0)?;
    records.push(record);
    Ok(())
}

fn machine_user(machine: &Machine, name: &str) -> Option<u32> {
    machine.users().find(name)
}

/// Rounds a positive decimal number's text to cents, half away from zero. Returns the cents and
/// whether the text was already exact.
fn round_to_cents(text: &str) -> Option<(Cents, bool)> {
    if let Ok(cents) = Cents::parse_amount(text) {
        return Some((cents, true));
    }
    // Not exact (or exponent form): go through the float the original stored, printed with far more
    // precision than a cent, then round that decimal text.
    let value: f64 = text.parse().ok()?;
    if !value.is_finite() || value <= 0.0 {
        return None;
    }
    let fixed = format!("{value:.6}");
    let (whole, fraction) = fixed.split_once('.')?;
    let mut cents: i64 = whole.parse::<i64>().ok()?.checked_mul(100)? + fraction[..2].parse::<i64>().ok()?;
    if fraction.as_bytes()[2] >= b'5' {
        cents += 1;
    }
    if cents <= 0 || cents > AMOUNT_CENTS_MAX {
        return None;
    }
    Some((Cents(cents), false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::snapshot::write_json_image;

    fn parse(text: &str) -> Map<String, Value> {
        match serde_json::from_str(text).unwrap() {
            Value::Object(map) => map,
            _ => panic!("fixture must be an object"),
        }
    }

    /// Files in the original's format, as its server writes them.
    const USERS: &str = r#"{"alice": "alice123", "bob": "bob", "carol": "c"}"#;
    const DATA: &str = r#"{"groups": {
        "goa": {"members": ["alice", "bob", "carol"], "password": "beach",
                "transactions": [
                  {"payer": "alice", "amount": 300.0, "description": "hotel", "split_between": ["bob", "carol"], "include_payer": true},
                  {"payer": "bob", "amount": 10.005, "description": "chai", "split_between": ["alice"], "include_payer": false},
                  {"payer": "carol", "amount": 33.33, "description": "taxi", "split_between": ["alice", "bob"], "include_payer": true}
                ]},
        "flat": {"members": ["bob"], "password": "", "transactions": []}
    }}"#;

    #[test]
    fn converts_the_originals_files() {
        let (machine, records, report) = convert(&parse(USERS), &parse(DATA), 5).unwrap();
        assert_eq!((report.users, report.groups, report.transactions), (3, 2, 3));
        assert_eq!(report.rounded.len(), 1);
        assert_eq!(report.rounded[0].3, Cents(1001), "10.005 rounds half up to 10.01");
        // Passwords are hashed, never stored in plain text; the original passwords still verify.
        let alice = machine.users().get(machine.users().find("alice").unwrap()).unwrap();
        assert!(alice.password_hash.starts_with("$argon2id$"));
        assert!(auth::verify_password("alice123", &alice.password_hash));
        let image = {
            let mut out = Vec::new();
            write_json_image(&machine, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert!(!image.contains("alice123") && !image.contains("beach"));
        let goa = machine.groups().get(machine.groups().find("goa").unwrap()).unwrap();
        let descriptions: Vec<String> = goa.ledger.transactions().map(|t| t.description).collect();
        assert_eq!(descriptions, ["hotel", "chai", "taxi"], "order kept");
        assert!(auth::verify_password("beach", goa.password_hash.as_deref().unwrap()));
        // Replaying the records gives the same state.
        let mut replay = Machine::new();
        for record in &records {
            replay.apply(record).unwrap();
        }
        let mut a = Vec::new();
        write_json_image(&replay, &mut a).unwrap();
        assert_eq!(String::from_utf8(a).unwrap(), image);
        machine.check_invariants().unwrap();
    }

    #[test]
    fn bad_input_is_refused_with_a_clear_error() {
        let cases = [
            (USERS, r#"{"nope": {}}"#, "expected {\"groups\""),
            (USERS, r#"{"groups": {"g": {"members": ["zed"]}}}"#, "\"zed\" is not in users.json"),
            (USERS, r#"{"groups": {"g": {"members": []}}}"#, "has no members"),
            (
                USERS,
                r#"{"groups": {"g": {"members": ["alice"], "transactions": [{"payer": "alice", "amount": -5, "split_between": []}]}}}"#,
                "not a usable positive amount",
            ),
            (
                USERS,
                r#"{"groups": {"g": {"members": ["alice"], "transactions": [{"payer": "alice", "amount": 5, "split_between": ["bob"]}]}}}"#,
                "bob not in group",
            ),
            (r#"{"alice": 5}"#, r#"{"groups": {}}"#, "is not a string"),
        ];
        for (users, data, needle) in cases {
            let err = convert(&parse(users), &parse(data), 0).expect_err(data);
            assert!(err.contains(needle), "{data}: {err}");
        }
    }

    #[test]
    fn partial_files_write_nothing() {
        let dir = std::env::temp_dir().join(format!("splitd-import-partial-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let users = dir.join("users.json");
        let data = dir.join("data.json");
        fs::write(&users, USERS).unwrap();
        fs::write(&data, &DATA[..DATA.len() / 2]).unwrap();
        let target = dir.join("out");
        let err = import(&users, &data, &target, 0).expect_err("partial input must fail");
        assert!(err.contains("not valid JSON"), "{err}");
        assert!(!target.exists(), "nothing written");
        fs::write(&data, DATA).unwrap();
        let report = import(&users, &data, &target, 0).unwrap();
        assert_eq!(report.transactions, 3);
        let opened = crate::store::Store::open(&target, FsyncPolicy::Always, u64::MAX).unwrap();
        assert_eq!(opened.machine.users().len(), 3);
        drop(opened);
        let again = import(&users, &data, &target, 0).expect_err("refuses a non-empty directory");
        assert!(again.contains("not empty"), "{again}");
        let _ = fs::remove_dir_all(&dir);
    }
}
