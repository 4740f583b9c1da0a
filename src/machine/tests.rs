//! The machine driven directly, without a network: a user's session read as a test.

use super::*;
use crate::auth;
use crate::proto::decode;

/// Executes `frame` (JSON text) for `session`, running password work inline. Returns the reply as JSON
/// and everything the step produced.
fn run(machine: &mut Machine, session: &mut Session, frame: &str, log: &mut Vec<Record>) -> (Value, Vec<Event>) {
    let request = match decode(frame.as_bytes()).request {
        Ok(request) => request,
        Err(error) => return (Value::Object(Reply::error(&error).0), Vec::new()),
    };
    let outcome = match machine.execute(session, request, 1_000) {
        Step::Done(outcome) => outcome,
        Step::Hash(job) => machine.resume(session, job.resume, auth::run(job.work), 2_000),
    };
    log.extend(outcome.records.iter().cloned());
    machine.check_invariants().unwrap();
    (Value::Object(outcome.reply.0), outcome.events)
}

struct World {
    machine: Machine,
    log: Vec<Record>,
}

impl World {
    fn new() -> World {
        World { machine: Machine::new(), log: Vec::new() }
    }

    fn send(&mut self, session: &mut Session, frame: &str) -> Value {
        run(&mut self.machine, session, frame, &mut self.log).0
    }

    fn user(&mut self, name: &str) -> Session {
        let mut session = Session::default();
        let signup = format!(r#"{{"action":"signup","data":{{"username":"{name}","password":"pw-{name}-123"}}}}"#);
        assert_eq!(self.send(&mut session, &signup)["message"], "Signup successful");
        let login = signup.replace("signup", "login");
        assert_eq!(self.send(&mut session, &login)["message"], "Login successful");
        session
    }
}

#[test]
fn a_dinner_split_three_ways() {
    let mut w = World::new();
    let mut alice = w.user("alice");
    let mut bob = w.user("bob");
    let mut carol = w.user("carol");
    assert_eq!(
        w.send(&mut alice, r#"{"action":"create_group","data":{"group":"trip","password":""}}"#)["message"],
        "Group created successfully"
    );
    for s in [&mut bob, &mut carol] {
        assert_eq!(w.send(s, r#"{"action":"join_group","data":{"group":"trip"}}"#)["message"], "Joined group");
    }
    let reply = w.send(
        &mut alice,
        r#"{"action":"add_transaction","data":{"group":"trip","amount":100,"description":"dinner","split_between":["alice","bob","carol"]}}"#,
    );
    assert_eq!(reply["message"], "Transaction added");
    let balances = w.send(&mut bob, r#"{"action":"view_balances","data":{"group":"trip"}}"#);
    // alice paid 100.00 and owes the first (extra) cent: 33.34; bob and carol owe 33.33 each.
    assert_eq!(balances["balances"]["alice"].to_string(), "66.66");
    assert_eq!(balances["balances"]["bob"].to_string(), "-33.33");
    assert_eq!(balances["balances"]["carol"].to_string(), "-33.33");
    let settle = w.send(&mut carol, r#"{"action":"settle","data":{"group":"trip"}}"#);
    let plan = settle["settlements"].as_array().unwrap();
    assert_eq!(plan.len(), 2);
    for t in plan {
        assert_eq!(t["to"], "alice");
        assert_eq!(t["amount"].to_string(), "33.33");
    }
    let members = w.send(&mut carol, r#"{"action":"get_group_members","data":{"group":"trip"}}"#);
    assert_eq!(members["members"], json!(["alice", "bob", "carol"]));
}

#[test]
fn include_payer_counts_the_payer_once() {
    let mut w = World::new();
    let mut alice = w.user("alice");
    let mut bob = w.user("bob");
    w.send(&mut alice, r#"{"action":"create_group","data":{"group":"g"}}"#);
    w.send(&mut bob, r#"{"action":"join_group","data":{"group":"g"}}"#);
    // The original's shape: payer plus split_between; alice lists herself and sets include_payer.
    w.send(
        &mut alice,
        r#"{"action":"add_transaction","data":{"group":"g","amount":"10.00","split_between":["bob","alice"],"include_payer":true}}"#,
    );
    let b = w.send(&mut alice, r#"{"action":"view_balances","data":{"group":"g"}}"#);
    assert_eq!(b["balances"], json!({"alice": Cents(500).to_json(), "bob": Cents(-500).to_json()}));
    // Without include_payer the payer is owed the whole amount.
    w.send(&mut alice, r#"{"action":"add_transaction","data":{"group":"g","amount":3,"split_between":["bob"]}}"#);
    let b = w.send(&mut alice, r#"{"action":"view_balances","data":{"group":"g"}}"#);
    assert_eq!(b["balances"]["bob"].to_string(), "-8.00");
}

#[test]
fn error_messages_are_the_originals() {
    let mut w = World::new();
    let mut anon = Session::default();
    let cases = [
        (r#"{"action":"list_groups"}"#, "Not authenticated"),
        (r#"{"action":"create_group","data":{"group":"g"}}"#, "Not authenticated"),
        (r#"{"action":"login","data":{"username":"nobody","password":"whatever1"}}"#, "Invalid credentials"),
    ];
    for (frame, message) in cases {
        assert_eq!(w.send(&mut anon, frame)["message"], message, "{frame}");
    }
    let mut alice = w.user("alice");
    let mut eve = w.user("eve");
    let again = w.send(&mut anon, r#"{"action":"signup","data":{"username":"alice","password":"password9"}}"#);
    assert_eq!(again["message"], "Username already exists");
    assert_eq!(again["code"], "user_exists");
    let wrong = w.send(&mut anon, r#"{"action":"login","data":{"username":"alice","password":"wrong-pass"}}"#);
    assert_eq!(wrong["message"], "Invalid credentials");
    assert_eq!(anon.failed_logins, 2);
    w.send(&mut alice, r#"{"action":"create_group","data":{"group":"g","password":"secret-pw"}}"#);
    let cases = [
        (r#"{"action":"create_group","data":{"group":"g"}}"#, "Group already exists"),
        (r#"{"action":"join_group","data":{"group":"nope"}}"#, "Group not found"),
        (r#"{"action":"join_group","data":{"group":"g","password":"bad-secret"}}"#, "Invalid group password"),
        (r#"{"action":"join_group","data":{"group":"g"}}"#, "Invalid group password"),
        (r#"{"action":"get_group_members","data":{"group":"g"}}"#, "Not a member of this group"),
        (r#"{"action":"view_transactions","data":{"group":"g"}}"#, "Not a member of this group"),
        (r#"{"action":"view_balances","data":{"group":"nope"}}"#, "Group not found"),
        (r#"{"action":"delete_transaction","data":{"group":"g","index":0}}"#, "Not a member of this group"),
        (r#"{"action":"settle","data":{"group":"g"}}"#, "Not a member of this group"),
    ];
    for (frame, message) in cases {
        assert_eq!(w.send(&mut eve, frame)["message"], message, "{frame}");
    }
    assert_eq!(
        w.send(&mut eve, r#"{"action":"join_group","data":{"group":"g","password":"secret-pw"}}"#)["message"],
        "Joined group"
    );
    let cases = [
        (
            r#"{"action":"add_transaction","data":{"group":"g","amount":5,"split_between":["mallory"]}}"#,
            "mallory not in group",
        ),
        (r#"{"action":"delete_transaction","data":{"group":"g","index":0}}"#, "Invalid index"),
        (r#"{"action":"delete_transaction","data":{"group":"g","id":99}}"#, "Transaction not found"),
        (
            r#"{"action":"add_transaction","data":{"group":"g","amount":5,"split_between":[]}}"#,
            "Field 'split_between' must name at least one member (or set include_payer)",
        ),
    ];
    for (frame, message) in cases {
        assert_eq!(w.send(&mut eve, frame)["message"], message, "{frame}");
    }
    assert_eq!(w.send(&mut eve, r#"{"action":"logout"}"#)["message"], "Logged out");
    assert_eq!(w.send(&mut eve, r#"{"action":"list_groups"}"#)["message"], "Not authenticated");
}

#[test]
fn signup_rules_name_the_field() {
    let mut w = World::new();
    let mut anon = Session::default();
    let short = w.send(&mut anon, r#"{"action":"signup","data":{"username":"bob","password":"short"}}"#);
    assert!(short["message"].as_str().unwrap().contains("'password'"));
    let name = w.send(&mut anon, r#"{"action":"signup","data":{"username":"bad name","password":"long-enough"}}"#);
    assert!(name["message"].as_str().unwrap().contains("'username'"));
    assert!(w.log.is_empty(), "rejected signups record nothing");
}

#[test]
fn delete_by_index_and_by_id_reverse_balances_and_notify() {
    let mut w = World::new();
    let mut alice = w.user("alice");
    let mut bob = w.user("bob");
    w.send(&mut alice, r#"{"action":"create_group","data":{"group":"g"}}"#);
    w.send(&mut bob, r#"{"action":"join_group","data":{"group":"g"}}"#);
    for amount in ["1.00", "2.00", "3.00"] {
        let frame = format!(
            r#"{{"action":"add_transaction","data":{{"group":"g","amount":"{amount}","split_between":["bob"]}}}}"#
        );
        w.send(&mut alice, &frame);
    }
    let (reply, events) =
        run(&mut w.machine, &mut bob, r#"{"action":"delete_transaction","data":{"group":"g","index":1}}"#, &mut w.log);
    assert_eq!(reply["message"], "Transaction deleted");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].message["event"], "transaction_deleted");
    assert_eq!(events[0].message["type"], "notification");
    assert_eq!(events[0].message["transaction"]["amount"].to_string(), "2.00");
    w.send(&mut bob, r#"{"action":"delete_transaction","data":{"group":"g","id":3}}"#);
    let list = w.send(&mut alice, r#"{"action":"view_transactions","data":{"group":"g"}}"#);
    let ids: Vec<u64> = list["transactions"].as_array().unwrap().iter().map(|t| t["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, vec![1]);
    let b = w.send(&mut alice, r#"{"action":"view_balances","data":{"group":"g"}}"#);
    assert_eq!(b["balances"]["alice"].to_string(), "1.00");
}

/// Replaying the records rebuilds the same state; so does a snapshot image.
#[test]
fn replay_and_image_rebuild_the_same_state() {
    let mut w = World::new();
    let mut alice = w.user("alice");
    let mut bob = w.user("bob");
    let mut carol = w.user("carol");
    w.send(&mut alice, r#"{"action":"create_group","data":{"group":"g1"}}"#);
    w.send(&mut bob, r#"{"action":"create_group","data":{"group":"g2"}}"#);
    // carol joins g2 before g1: her group list order must survive both paths.
    w.send(&mut carol, r#"{"action":"join_group","data":{"group":"g2"}}"#);
    w.send(&mut carol, r#"{"action":"join_group","data":{"group":"g1"}}"#);
    w.send(&mut carol, r#"{"action":"add_transaction","data":{"group":"g1","amount":7.77,"split_between":["alice"],"include_payer":true}}"#);
    w.send(
        &mut carol,
        r#"{"action":"add_transaction","data":{"group":"g2","amount":1,"split_between":["bob","carol"]}}"#,
    );
    w.send(&mut bob, r#"{"action":"delete_transaction","data":{"group":"g2","index":0}}"#);
    let mut image = Vec::new();
    w.machine.write_image(&mut image).unwrap();

    let mut replayed = Machine::new();
    for record in &w.log {
        replayed.apply(record).unwrap();
    }
    let mut replayed_image = Vec::new();
    replayed.write_image(&mut replayed_image).unwrap();
    assert_eq!(String::from_utf8_lossy(&image), String::from_utf8_lossy(&replayed_image));

    let restored = Machine::read_image(&image).unwrap();
    let mut restored_image = Vec::new();
    restored.write_image(&mut restored_image).unwrap();
    assert_eq!(image, restored_image);
    let carol_id = restored.users().find("carol").unwrap();
    let names: Vec<&str> = restored
        .users()
        .get(carol_id)
        .unwrap()
        .groups
        .iter()
        .map(|&g| restored.groups().get(g).unwrap().name.as_str())
        .collect();
    assert_eq!(names, vec!["g2", "g1"]);
    // New transactions after a restore get fresh ids.
    let mut restored = restored;
    let mut log = Vec::new();
    let mut session = Session { user: Some(carol_id), failed_logins: 0 };
    let (reply, _) = run(
        &mut restored,
        &mut session,
        r#"{"action":"add_transaction","data":{"group":"g1","amount":1,"split_between":["alice"]}}"#,
        &mut log,
    );
    // Ids are never reused: 1 and 2 were taken (2 is deleted), so the next is 3.
    assert_eq!(reply["transaction"]["id"], 3);
}

#[test]
fn records_that_do_not_fit_are_refused_without_change() {
    let mut m = Machine::new();
    assert!(m.apply(&Record::MemberJoined { group: 0, user: 0, at: 0 }).is_err());
    m.apply(&Record::UserCreated { user: 0, name: "a".into(), password_hash: "h".into() }).unwrap();
    assert!(m.apply(&Record::UserCreated { user: 0, name: "b".into(), password_hash: "h".into() }).is_err());
    m.apply(&Record::GroupCreated { group: 0, name: "g".into(), creator: 0, password_hash: None, at: 0 }).unwrap();
    let unbalanced = Transaction {
        id: 1,
        payer: 0,
        amount: Cents(100),
        description: String::new(),
        split_between: vec![0],
        include_payer: false,
        paid: vec![(0, Cents(100))],
        owed: vec![(0, Cents(99))],
        created_at: 0,
    };
    assert!(m.apply(&Record::TransactionAdded { group: 0, txn: unbalanced }).is_err());
    assert!(m.apply(&Record::TransactionDeleted { group: 0, txn: 1, by: 0, at: 0 }).is_err());
    m.check_invariants().unwrap();
}

/// Seeded random requests from several sessions; after each: balances sum to zero, and a rejected
/// request changed nothing.
#[test]
fn random_requests_keep_the_invariants() {
    let mut w = World::new();
    let names = ["ann", "ben", "cat", "dan", "eve"];
    let mut sessions: Vec<Session> = names.iter().map(|n| w.user(n)).collect();
    let groups = ["g0", "g1", "g2"];
    let mut seed = 0x5EED_u64;
    let mut next = move |n: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let mut accepted = 0;
    for step in 0..4_000 {
        let who = next(names.len() as u64) as usize;
        let group = groups[next(groups.len() as u64) as usize];
        let frame = match next(10) {
            0 => format!(r#"{{"action":"create_group","data":{{"group":"{group}"}}}}"#),
            1 => format!(r#"{{"action":"join_group","data":{{"group":"{group}"}}}}"#),
            2..=5 => {
                let count = next(4) as usize;
                let split: Vec<String> = (0..count).map(|_| format!("\"{}\"", names[next(5) as usize])).collect();
                let amount = match next(4) {
                    0 => format!("{}", next(100_000)),
                    1 => format!("\"{}.{:02}\"", next(1000), next(100)),
                    2 => format!("{}.{}", next(10_000), next(10)),
                    _ => format!("{}.{:03}", next(10), next(1000)),
                };
                format!(
                    r#"{{"action":"add_transaction","data":{{"group":"{group}","amount":{amount},"split_between":[{}],"include_payer":{}}}}}"#,
                    split.join(","),
                    next(2) == 0
                )
            }
            6 => format!(r#"{{"action":"delete_transaction","data":{{"group":"{group}","index":{}}}}}"#, next(5)),
            7 => format!(r#"{{"action":"delete_transaction","data":{{"group":"{group}","id":{}}}}}"#, next(50)),
            8 => format!(r#"{{"action":"settle","data":{{"group":"{group}","method":"greedy"}}}}"#),
            _ => format!(r#"{{"action":"view_balances","data":{{"group":"{group}"}}}}"#),
        };
        let mut before = Vec::new();
        w.machine.write_image(&mut before).unwrap();
        let log_len = w.log.len();
        let reply = w.send(&mut sessions[who], &frame);
        if reply["status"] == "error" {
            let mut after = Vec::new();
            w.machine.write_image(&mut after).unwrap();
            assert_eq!(before, after, "step {step}: rejected {frame} changed the state");
            assert_eq!(w.log.len(), log_len, "step {step}: rejected request produced records");
        } else {
            accepted += 1;
        }
        if frame.contains("settle") && reply["status"] == "ok" {
            // Applying the plan zeroes every balance.
            let b = w.send(
                &mut sessions[who],
                &frame.replace("settle", "view_balances").replace(r#","method":"greedy""#, ""),
            );
            let mut balances: HashMap<String, i64> =
                b["balances"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), signed_cents(v))).collect();
            for t in reply["settlements"].as_array().unwrap() {
                let cents = Cents::parse_amount(&t["amount"].to_string()).unwrap().0;
                *balances.get_mut(t["from"].as_str().unwrap()).unwrap() += cents;
                *balances.get_mut(t["to"].as_str().unwrap()).unwrap() -= cents;
            }
            assert!(balances.values().all(|&v| v == 0), "step {step}: plan leaves {balances:?}");
        }
    }
    assert!(accepted > 1_000, "the random mix should mostly be valid requests ({accepted})");
    let mut replayed = Machine::new();
    for record in &w.log {
        replayed.apply(record).unwrap();
    }
    replayed.check_invariants().unwrap();
}

use std::collections::HashMap;

/// A wire balance (possibly negative or zero) in cents.
fn signed_cents(value: &Value) -> i64 {
    let text = value.to_string();
    match text.strip_prefix('-') {
        Some(abs) => -Cents::parse_amount(abs).unwrap().0,
        None => Cents::parse_amount(&text).map_or(0, |c| c.0),
    }
}
