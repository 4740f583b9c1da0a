//! Settlement over real TCP against the real binary: the worked examples built from real
//! expenses and payments (minimal vs greedy transfer counts, `proven_minimal`, `lower_bound`, the plan
//! zeroing every balance), `balance_details` and `pairwise_debts` agreeing with `view_balances`, and
//! what paying a suggested transfer does to the next plan.

mod common;

use std::collections::HashMap;

use common::{cents, ok, Client, Server, TempDir};
use serde_json::{json, Value};
use vocab::Cents;

/// A wire amount as the server writes it: a JSON number with exactly two decimals.
fn money(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// `names` logged in, one connection each; the first creates `group`, the others join.
fn group_of(server: &Server, group: &str, names: &[&str]) -> HashMap<String, Client> {
    let mut clients = HashMap::new();
    for (i, name) in names.iter().enumerate() {
        let mut client = server.connect();
        client.login_as(name);
        let action = if i == 0 { "create_group" } else { "join_group" };
        ok(&client.request(action, json!({"group": group})));
        clients.insert(name.to_string(), client);
    }
    clients
}

fn balances(client: &mut Client, group: &str) -> HashMap<String, i64> {
    let reply = ok(&client.request("view_balances", json!({"group": group}))).clone();
    reply["balances"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), cents(v))).collect()
}

/// (from, to, cents) of a `settle` reply.
fn transfers(reply: &Value) -> Vec<(String, String, i64)> {
    reply["settlements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["from"].as_str().unwrap().to_string(), t["to"].as_str().unwrap().to_string(), cents(&t["amount"])))
        .collect()
}

/// `settle` with `method` (nothing recorded): the reply, checked to have its fields and to zero
/// every balance when applied.
fn settle(client: &mut Client, group: &str, method: &str) -> Value {
    let reply = ok(&client.request("settle", json!({"group": group, "method": method}))).clone();
    assert_eq!(reply["method"], method);
    let plan = transfers(&reply);
    assert_eq!(reply["transfers"], plan.len());
    let lower_bound = reply["lower_bound"].as_u64().unwrap() as usize;
    assert!(lower_bound <= plan.len(), "{reply}");
    if reply["proven_minimal"] == true {
        assert_eq!(lower_bound, plan.len(), "{reply}");
    }
    let mut left = balances(client, group);
    for (from, to, amount) in &plan {
        assert!(*amount > 0 && left[from] < 0 && left[to] > 0, "{reply}");
        *left.get_mut(from).unwrap() += amount;
        *left.get_mut(to).unwrap() -= amount;
    }
    assert!(left.values().all(|&b| b == 0), "the plan leaves {left:?}: {reply}");
    reply
}

/// balance_details and pairwise_debts agree with view_balances, to the cent.
fn check_explanations(client: &mut Client, group: &str) {
    let balances = balances(client, group);
    let details = ok(&client.request("balance_details", json!({"group": group}))).clone();
    let members = ok(&client.request("get_group_members", json!({"group": group})))["members"].clone();
    let rows = details["members"].as_array().unwrap();
    let order: Vec<Value> = rows.iter().map(|r| r["member"].clone()).collect();
    assert_eq!(Value::from(order), members);
    for row in rows {
        let part = |k: &str| cents(&row[k]);
        assert_eq!(part("paid") - part("share") + part("payments_sent") - part("payments_received"), part("net"));
        assert_eq!(part("net"), balances[row["member"].as_str().unwrap()], "{row}");
    }
    let debts = ok(&client.request("pairwise_debts", json!({"group": group}))).clone();
    let mut position: HashMap<String, i64> = HashMap::new();
    let mut keys = Vec::new();
    for d in debts["debts"].as_array().unwrap() {
        let (from, to) = (d["from"].as_str().unwrap().to_string(), d["to"].as_str().unwrap().to_string());
        assert!(cents(&d["amount"]) > 0 && from != to, "{d}");
        *position.entry(to.clone()).or_default() += cents(&d["amount"]);
        *position.entry(from.clone()).or_default() -= cents(&d["amount"]);
        keys.push((from, to));
    }
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted, "sorted by (from, to), each once: {debts}");
    for (name, balance) in &balances {
        assert_eq!(position.get(name).copied().unwrap_or(0), *balance, "{name}: {debts}");
    }
}

/// Records every transfer of `plan` with record_payment, each by its payer.
fn pay_all(clients: &mut HashMap<String, Client>, group: &str, plan: &[(String, String, i64)]) {
    for (from, to, amount) in plan {
        let amount = Cents(*amount).to_string();
        let reply = clients
            .get_mut(from)
            .unwrap()
            .request("record_payment", json!({"group": group, "to": to, "amount": amount}));
        assert_eq!(ok(&reply)["message"], "Payment recorded");
    }
}

#[test]
fn five_balances_settle_in_three_transfers_greedy_takes_four() {
    let dir = TempDir::new("settle-five");
    let server = Server::start(dir.path(), &[]);
    let names = ["alice", "bob", "carol", "dave", "erin"];
    let mut c = group_of(&server, "trip", &names);
    let alice = c.get_mut("alice").unwrap();
    // alice pays 8.00 for carol (3) and dave (5); bob pays 7.00 for erin (the original's shape).
    ok(&alice.request(
        "add_transaction",
        json!({"group": "trip", "amount": 8, "split": {"mode": "exact", "amounts": {"carol": 3, "dave": 5}}}),
    ));
    let bob = c.get_mut("bob").unwrap();
    ok(&bob.request("add_transaction", json!({"group": "trip", "amount": "7.00", "split_between": ["erin"]})));
    let carol = c.get_mut("carol").unwrap();
    let expected: HashMap<String, i64> =
        [("alice", 800), ("bob", 700), ("carol", -300), ("dave", -500), ("erin", -700)]
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
    assert_eq!(balances(carol, "trip"), expected);
    check_explanations(carol, "trip");

    let minimal = settle(carol, "trip", "minimal");
    assert_eq!(minimal["transfers"], 3, "{minimal}");
    assert_eq!(minimal["proven_minimal"], true);
    assert_eq!(minimal["lower_bound"], 3);
    // The exact opposites pair first: erin pays bob 7.00.
    assert_eq!(transfers(&minimal)[0], ("erin".to_string(), "bob".to_string(), 700));
    let greedy = settle(carol, "trip", "greedy");
    assert_eq!(greedy["transfers"], 4, "{greedy}");
    assert_eq!(greedy["proven_minimal"], false);
    assert_eq!(greedy["lower_bound"], 3);
    // The default method is minimal.
    let default = ok(&carol.request("settle", json!({"group": "trip"}))).clone();
    assert_eq!(transfers(&default), transfers(&minimal));

    // The debts as the expenses made them: nobody owes anyone but the one who paid for them.
    let debts = ok(&carol.request("pairwise_debts", json!({"group": "trip"}))).clone();
    assert_eq!(
        debts["debts"],
        json!([{"from": "carol", "to": "alice", "amount": money("3.00")},
               {"from": "dave", "to": "alice", "amount": money("5.00")},
               {"from": "erin", "to": "bob", "amount": money("7.00")}])
    );

    // Paying the minimal plan with real payments zeroes everyone; the explanations still add up.
    pay_all(&mut c, "trip", &transfers(&minimal));
    let carol = c.get_mut("carol").unwrap();
    assert!(balances(carol, "trip").values().all(|&b| b == 0));
    check_explanations(carol, "trip");
    let after = settle(carol, "trip", "minimal");
    assert_eq!((after["transfers"].as_u64(), after["lower_bound"].as_u64()), (Some(0), Some(0)));
    assert_eq!(after["proven_minimal"], true);
}

#[test]
fn six_balances_settle_in_four_transfers_greedy_takes_five() {
    let dir = TempDir::new("settle-six");
    let server = Server::start(dir.path(), &[]);
    let names = ["alice", "bob", "carol", "dave", "erin", "frank"];
    let mut c = group_of(&server, "flat", &names);
    // One 12.00 bill paid by four people and shared by two, then frank pays dave 1.00 back:
    // [+4, +3, +3, +1, -5, -6].
    let alice = c.get_mut("alice").unwrap();
    ok(&alice.request(
        "add_transaction",
        json!({"group": "flat", "amount": 12, "paid_by": {"alice": 4, "bob": 3, "carol": 3, "dave": 2},
               "split": {"mode": "exact", "amounts": {"erin": 5, "frank": 7}}}),
    ));
    let frank = c.get_mut("frank").unwrap();
    ok(&frank.request("record_payment", json!({"group": "flat", "to": "dave", "amount": 1})));
    let expected: HashMap<String, i64> =
        [("alice", 400), ("bob", 300), ("carol", 300), ("dave", 100), ("erin", -500), ("frank", -600)]
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
    assert_eq!(balances(frank, "flat"), expected);
    check_explanations(frank, "flat");
    let details = ok(&frank.request("balance_details", json!({"group": "flat"}))).clone();
    assert_eq!(
        details["members"][5],
        json!({"member": "frank", "paid": money("0.00"), "share": money("7.00"), "payments_sent": money("1.00"),
               "payments_received": money("0.00"), "net": money("-6.00")})
    );
    assert_eq!(
        details["members"][3],
        json!({"member": "dave", "paid": money("2.00"), "share": money("0.00"), "payments_sent": money("0.00"),
               "payments_received": money("1.00"), "net": money("1.00")})
    );

    let minimal = settle(frank, "flat", "minimal");
    assert_eq!(minimal["transfers"], 4, "{minimal}");
    assert_eq!(minimal["proven_minimal"], true);
    assert_eq!(minimal["lower_bound"], 4);
    let greedy = settle(frank, "flat", "greedy");
    assert_eq!(greedy["transfers"], 5, "{greedy}");
    assert_eq!(greedy["proven_minimal"], false);
    assert!(greedy["lower_bound"].as_u64().unwrap() <= 4);

    // Shares spread over several payers in proportion: erin's 5.00 over 4:3:3:2 of 12 and frank's
    // 7.00 likewise; each payer is owed exactly what they paid, so the debts net to the balances.
    let debts = ok(&frank.request("pairwise_debts", json!({"group": "flat"}))).clone();
    let owed_to = |name: &str| -> i64 {
        debts["debts"].as_array().unwrap().iter().filter(|d| d["to"] == name).map(|d| cents(&d["amount"])).sum()
    };
    assert_eq!((owed_to("alice"), owed_to("bob"), owed_to("carol")), (400, 300, 300));

    // Greedy paid in its own order: after each payment the next plan is exactly the rest.
    let plan = transfers(&greedy);
    for (k, t) in plan.iter().enumerate() {
        pay_all(&mut c, "flat", std::slice::from_ref(t));
        let erin = c.get_mut("erin").unwrap();
        let next = settle(erin, "flat", "greedy");
        assert_eq!(transfers(&next), plan[k + 1..], "after paying {t:?}");
        check_explanations(erin, "flat");
    }
    let erin = c.get_mut("erin").unwrap();
    assert!(balances(erin, "flat").values().all(|&b| b == 0));
}

#[test]
fn paying_a_suggested_pair_leaves_the_rest_of_the_minimal_plan() {
    let dir = TempDir::new("settle-stable");
    let server = Server::start(dir.path(), &[]);
    let names = ["alice", "bob", "carol", "dave", "erin"];
    let mut c = group_of(&server, "trip", &names);
    let alice = c.get_mut("alice").unwrap();
    ok(&alice.request(
        "add_transaction",
        json!({"group": "trip", "amount": 15, "paid_by": {"alice": 8, "bob": 7},
               "split": {"mode": "exact", "amounts": {"carol": 3, "dave": 5, "erin": 7}}}),
    ));
    check_explanations(alice, "trip");
    let before = transfers(&settle(alice, "trip", "minimal"));
    assert_eq!(before.len(), 3);
    // erin → bob 7.00 clears both: the other two transfers stay exactly as they were.
    let pair = before.iter().position(|t| t.0 == "erin" && t.1 == "bob").expect("the exact opposites pair");
    pay_all(&mut c, "trip", &before[pair..=pair]);
    let alice = c.get_mut("alice").unwrap();
    let after = settle(alice, "trip", "minimal");
    let mut rest = before.clone();
    rest.remove(pair);
    assert_eq!(transfers(&after), rest);
    assert_eq!(after["proven_minimal"], true);
    // Any other suggested transfer: one transfer fewer, still proven minimal.
    pay_all(&mut c, "trip", &rest[..1]);
    let alice = c.get_mut("alice").unwrap();
    let last = settle(alice, "trip", "minimal");
    assert_eq!((last["transfers"].as_u64(), last["proven_minimal"].as_bool()), (Some(1), Some(true)));
    check_explanations(alice, "trip");
}

#[test]
fn explanations_need_membership_and_name_bad_fields() {
    let dir = TempDir::new("settle-errors");
    let server = Server::start(dir.path(), &[]);
    let _members = group_of(&server, "trip", &["alice", "bob"]);
    let mut eve = server.connect();
    eve.login_as("eve");
    for action in ["balance_details", "pairwise_debts"] {
        let reply = eve.request(action, json!({"group": "trip"}));
        assert_eq!(
            (reply["code"].as_str(), reply["message"].as_str()),
            (Some("not_member"), Some("Not a member of this group"))
        );
        let reply = eve.request(action, json!({"group": 5}));
        assert_eq!(
            (reply["code"].as_str(), reply["message"].as_str()),
            (Some("bad_request"), Some("Field 'group' must be a string"))
        );
        let reply = eve.request(action, json!({"group": "nowhere"}));
        assert_eq!(reply["code"], "group_not_found");
    }
    let mut anon = server.connect();
    assert_eq!(anon.request("pairwise_debts", json!({"group": "trip"}))["code"], "not_authenticated");
}
