//! Recurring expenses through the protocol layer: rules made, edited, stopped, and the occurrences
//! the timer asks for (`Machine::run_due`) — month ends, leap days, a week of downtime, a rule started
//! years ago, the same occurrence proposed twice, a member who left; and a seeded random driver
//! checking that replaying the records and reloading the image rebuild the same state.

use super::*;
use crate::machine::recurring::DUE_PER_RUN_MAX;

/// 00:00 UTC of `date`, plus `hours`.
fn at(date: &str, hours: i64) -> Millis {
    calendar::day_number(vocab::parse_date(date).unwrap()) * 86_400_000 + hours * 3_600_000
}

fn image(machine: &Machine) -> Vec<u8> {
    let mut out = Vec::new();
    write_image(machine, &mut out).unwrap();
    out
}

impl World {
    /// The timer's turn at `now`: the occurrences' records go to the log; their notifications, rendered.
    pub(super) fn due(&mut self, now: Millis) -> Vec<Value> {
        let outcome = self.machine.run_due(now);
        self.log.extend(outcome.records.iter().cloned());
        self.machine.check_invariants().unwrap();
        outcome.events.iter().map(|e| rendered(&self.machine, e)).collect()
    }

    fn dates(&mut self, session: &mut Session, group: &str) -> Vec<String> {
        let txns = self.ask(session, "view_transactions", json!({"group": group}));
        txns["transactions"].as_array().unwrap().iter().map(|t| t["date"].as_str().unwrap_or("").to_string()).collect()
    }
}

/// alice and bob in `flat`.
fn flat() -> (World, Session, Session) {
    let mut w = World::new();
    let mut alice = w.user("alice");
    let mut bob = w.user("bob");
    w.ask(&mut alice, "create_group", json!({"group": "flat"}));
    w.ask(&mut bob, "join_group", json!({"group": "flat"}));
    (w, alice, bob)
}

fn rent(every: &str, start: &str) -> Value {
    json!({"group": "flat", "every": every, "start": start, "amount": 1000, "description": "rent",
        "split_between": ["alice", "bob"]})
}

#[test]
fn a_monthly_rule_on_the_31st_falls_on_the_last_day_of_shorter_months() {
    let (mut w, mut alice, mut bob) = flat();
    let mut data = rent("month", "2025-01-31");
    data["count"] = json!(5);
    let added = w.ask(&mut alice, "add_recurring", data);
    assert_eq!(added["status"], "ok", "{added}");
    assert_eq!(added["rule"]["id"], 1);
    assert_eq!(added["rule"]["next_date"], "2025-01-31");
    assert!(w.due(at("2025-01-30", 23)).is_empty(), "not due the day before, in UTC");
    let pushed = w.due(at("2025-06-15", 0));
    assert_eq!(pushed.len(), 5);
    assert_eq!(w.dates(&mut bob, "flat"), ["2025-01-31", "2025-02-28", "2025-03-31", "2025-04-30", "2025-05-31"]);
    // Each occurrence's notification is a transaction_added that names its rule and date.
    assert_eq!(pushed[1]["event"], "transaction_added");
    assert_eq!(pushed[1]["rule"], 1);
    assert_eq!(pushed[1]["date"], "2025-02-28");
    assert_eq!(pushed[1]["by"], "alice");
    assert_eq!(pushed[1]["transaction"]["shares"]["bob"].to_string(), "500.00");
    let txns = w.ask(&mut bob, "view_transactions", json!({"group": "flat"}));
    assert_eq!(txns["transactions"][1]["rule"], 1, "a transaction names the rule that made it");
    let list = w.ask(&mut bob, "list_recurring", json!({"group": "flat"}));
    assert_eq!(list["rules"][0]["made"], 5);
    assert_eq!(list["rules"][0]["next_date"], Value::Null, "count reached: {list}");
    assert!(w.due(at("2026-01-01", 0)).is_empty());
    let history = w.ask(&mut bob, "history", json!({"group": "flat", "limit": 1}));
    assert_eq!(history["history"][0]["rule"], 1, "history names the rule");
}

#[test]
fn a_yearly_rule_on_a_leap_day_falls_on_28_february_in_common_years() {
    let (mut w, mut alice, _) = flat();
    w.ask(&mut alice, "add_recurring", rent("year", "2024-02-29"));
    assert_eq!(w.due(at("2029-03-01", 0)).len(), 6);
    let dates = w.dates(&mut alice, "flat");
    assert_eq!(dates, ["2024-02-29", "2025-02-28", "2026-02-28", "2027-02-28", "2028-02-29", "2029-02-28"]);
}

#[test]
fn after_a_week_of_downtime_each_missed_day_is_made_once() {
    let (mut w, mut alice, mut bob) = flat();
    let mut data = rent("day", "2026-03-01");
    data["amount"] = json!(10);
    w.ask(&mut alice, "add_recurring", data);
    assert_eq!(w.due(at("2026-03-01", 12)).len(), 1);
    assert!(w.due(at("2026-03-01", 13)).is_empty(), "the same day again makes nothing");
    // The server was down for a week.
    assert_eq!(w.due(at("2026-03-08", 12)).len(), 7);
    assert!(w.due(at("2026-03-08", 12)).is_empty());
    let dates = w.dates(&mut bob, "flat");
    let expected: Vec<String> = (1..=8).map(|d| format!("2026-03-{d:02}")).collect();
    assert_eq!(dates, expected);
    assert_eq!(w.balances(&mut bob, "flat")["bob"], -8 * 500);
}

#[test]
fn a_rule_started_years_ago_catches_up_a_bounded_number_per_turn() {
    let (mut w, mut alice, _) = flat();
    w.ask(&mut alice, "add_recurring", rent("day", "2016-01-01"));
    let now = at("2026-01-01", 0);
    assert_eq!(w.due(now).len(), DUE_PER_RUN_MAX);
    assert!(w.machine.has_due(now));
    let mut turns = 1;
    while w.machine.has_due(now) {
        assert!(w.due(now).len() <= DUE_PER_RUN_MAX);
        turns += 1;
    }
    let days = calendar::day_number(vocab::parse_date("2026-01-01").unwrap())
        - calendar::day_number(vocab::parse_date("2016-01-01").unwrap())
        + 1;
    assert_eq!(w.machine.groups().get(0).unwrap().ledger.len() as i64, days);
    assert!(turns >= days as usize / DUE_PER_RUN_MAX);
}

/// A crash between making an occurrence and acknowledging it: the restarted server (state from the
/// log before it) proposes the same occurrence again. Whichever arrives second is a no-op, so the
/// log holding both makes one transaction; replay and the image agree.
#[test]
fn the_same_occurrence_proposed_twice_is_made_once() {
    let (mut w, mut alice, _) = flat();
    w.ask(&mut alice, "add_recurring", rent("week", "2026-05-04"));
    let before_crash = image(&w.machine);
    let now = at("2026-05-04", 1);
    let first = w.machine.run_due(now).records;
    assert_eq!(first.len(), 1);
    let mut restarted = read_image(&before_crash).unwrap();
    let again = restarted.run_due(now + 5_000).records;
    assert_eq!(again.len(), 1, "the restarted server does not know it was made");
    let mut log = w.log.clone();
    log.extend(first.iter().cloned());
    log.extend(again.iter().cloned());
    let mut replayed = Machine::new();
    for record in &log {
        replayed.apply(record).unwrap();
    }
    replayed.check_invariants().unwrap();
    assert_eq!(replayed.groups().get(0).unwrap().ledger.len(), 1, "one occurrence, not two");
    assert!(image(&replayed) == image(&w.machine), "the duplicate changed nothing");
    // Applying the live machine's own record a second time is a no-op too.
    let live = image(&w.machine);
    w.machine.apply(&first[0]).unwrap();
    assert!(image(&w.machine) == live);
    // An occurrence for a date that is not the rule's next one is ignored the same way.
    let Record::TransactionAdded { group, mut txn, .. } = first[0].clone() else { panic!("an occurrence") };
    txn.date = Some("2026-05-05".into());
    w.machine.apply(&Record::TransactionAdded { group, txn, seq: None }).unwrap();
    assert!(image(&w.machine) == live);
}

#[test]
fn a_member_who_left_stops_the_rule_with_a_history_note() {
    let (mut w, mut alice, mut bob) = flat();
    let mut carol = w.user("carol");
    w.ask(&mut carol, "join_group", json!({"group": "flat"}));
    let mut data = rent("month", "2026-01-15");
    data["split_between"] = json!(["alice", "carol"]);
    w.ask(&mut bob, "add_recurring", data);
    assert_eq!(w.due(at("2026-01-15", 0)).len(), 1);
    w.ask(&mut carol, "record_payment", json!({"group": "flat", "to": "bob", "amount": 500}));
    w.ask(&mut alice, "record_payment", json!({"group": "flat", "to": "bob", "amount": 500}));
    assert_eq!(w.ask(&mut carol, "leave_group", json!({"group": "flat"}))["status"], "ok");
    let pushed = w.due(at("2026-03-01", 0));
    assert_eq!(pushed.len(), 1, "stopped, not skipped month after month: {pushed:?}");
    assert_eq!(pushed[0]["event"], "recurring_stopped");
    assert_eq!(pushed[0]["missing"], "carol");
    let list = w.ask(&mut alice, "list_recurring", json!({"group": "flat"}));
    assert_eq!(list["rules"], json!([]));
    assert_eq!(w.machine.groups().get(0).unwrap().ledger.len(), 1);
}

#[test]
fn an_edit_changes_the_occurrences_to_come_and_a_stop_ends_them() {
    let (mut w, mut alice, mut bob) = flat();
    w.ask(&mut alice, "add_recurring", rent("week", "2026-02-02"));
    assert_eq!(w.due(at("2026-02-02", 0)).len(), 1);
    let (edited, pushed) = w.ask_events(&mut bob, "edit_recurring", json!({"group": "flat", "id": 1, "amount": 1200}));
    assert_eq!(edited["message"], "Recurring expense edited", "{edited}");
    assert_eq!(edited["rule"]["amount"].to_string(), "1200.00");
    assert_eq!(pushed[0]["event"], "recurring_edited");
    let same = w.ask(&mut bob, "edit_recurring", json!({"group": "flat", "id": 1, "amount": 1200}));
    assert_eq!(same["message"], "Recurring expense unchanged");
    assert_eq!(w.due(at("2026-02-09", 0)).len(), 1);
    let txns = w.ask(&mut bob, "view_transactions", json!({"group": "flat"}));
    let amounts: Vec<String> =
        txns["transactions"].as_array().unwrap().iter().map(|t| t["amount"].to_string()).collect();
    assert_eq!(amounts, ["1000.00", "1200.00"], "the past occurrence kept its amount");
    let (stopped, pushed) = w.ask_events(&mut bob, "stop_recurring", json!({"group": "flat", "id": 1}));
    assert_eq!(stopped["message"], "Recurring expense stopped");
    assert_eq!(pushed[0]["event"], "recurring_stopped");
    assert!(w.due(at("2026-12-31", 0)).is_empty());
    let gone = w.ask(&mut bob, "stop_recurring", json!({"group": "flat", "id": 1}));
    assert_eq!(gone["code"], "rule_not_found");
    let until = w.ask(
        &mut alice,
        "add_recurring",
        json!({"group": "flat", "every": "day", "start": "2026-02-02",
        "until": "2026-02-01", "amount": 1, "split_between": ["bob"]}),
    );
    assert_eq!(until["message"], "Field 'until' must be on or after 'start'");
    let every = w.ask(&mut alice, "add_recurring", rent("fortnight", "2026-02-02"));
    assert_eq!(every["message"], "Field 'every' must be \"day\", \"week\", \"month\" or \"year\"");
    let mut stranger = w.user("stranger");
    assert_eq!(w.ask(&mut stranger, "list_recurring", json!({"group": "flat"}))["code"], "not_member");
    let nobody = w.ask(
        &mut alice,
        "add_recurring",
        json!({"group": "flat", "every": "day", "start": "2026-02-02",
        "amount": 1, "split_between": ["zed"]}),
    );
    assert_eq!(nobody["code"], "not_in_group");
    let nothing = w.ask(&mut alice, "edit_recurring", json!({"group": "flat", "id": 2}));
    assert_eq!(nothing["code"], "bad_request");
}

/// Seeded random rules, edits, stops, expenses, payments, joins and leaves, with the clock jumping
/// ahead and the timer running between requests; after each step a shadow machine fed only the
/// records has the same image, and at the end replay, the binary and the JSON image all agree.
/// A random `add_recurring` frame for the random driver: any schedule, sometimes a count or an
/// end, a shares split, a category (or one the group lacks), another currency (with or without the
/// rate it needs).
fn random_rule(next: &mut impl FnMut(u64) -> u64, names: &[&str; 3]) -> String {
    let name = |n: u64| names[n as usize];
    let everies = ["day", "week", "month", "year"];
    let mut data = json!({"group": "g", "every": everies[next(4) as usize], "interval": next(3) + 1,
            "start": format!("2026-0{}-{:02}", next(3) + 1, next(28) + 1), "amount": next(90) + 1,
            "split_between": [name(next(3)), name(next(3))]});
    match next(3) {
        0 => data["count"] = json!(next(5) + 1),
        1 => data["until"] = json!(format!("2026-0{}-15", next(9) + 1)),
        _ => {}
    }
    if next(3) == 0 {
        data["split"] = json!({"mode": "shares", "shares": {name(next(3)): 1, name(next(3)): 2}});
        data.as_object_mut().unwrap().remove("split_between");
    }
    if next(3) == 0 {
        data["category"] = json!(["Food", "fun", "nope"][next(3) as usize]);
    }
    // Yen at a rate, dollars without one (refused: the group converts at entry), rupees.
    match next(5) {
        0 => (data["currency"], data["rate"]) = (json!("JPY"), json!(["0.61", "0.5"][next(2) as usize])),
        1 => data["currency"] = json!("USD"),
        2 => data["currency"] = json!("INR"),
        _ => {}
    }
    frame("add_recurring", data)
}

#[test]
fn random_rules_and_timer_turns_replay_to_the_same_state() {
    let mut w = World::new();
    let names = ["ann", "ben", "cat"];
    let mut sessions: Vec<Session> = names.iter().map(|n| w.user(n)).collect();
    let mut seed = 0x0CC0_u64;
    let mut next = move |n: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let mut shadow = Machine::new();
    for record in &w.log {
        shadow.apply(record).unwrap();
    }
    let mut now = at("2026-01-01", 0);
    let mut made = 0;
    for step in 0..1_500 {
        let who = next(3) as usize;
        let name = |n: u64| names[n as usize];
        let data = match next(12) {
            0 => frame("create_group", json!({"group": "g"})),
            1 => frame("join_group", json!({"group": "g"})),
            2 => frame("leave_group", json!({"group": "g"})),
            3 | 4 => random_rule(&mut next, &names),
            5 if next(2) == 0 => {
                let mut data = json!({"group": "g", "id": next(8)});
                match next(3) {
                    0 => data["category"] = json!(["travel", "", "nope"][next(3) as usize]),
                    1 => data["rate"] = json!(["0.62", "2"][next(2) as usize]),
                    _ => (data["currency"], data["rate"], data["amount"]) = (json!("KWD"), json!(270), json!("1.5")),
                }
                frame("edit_recurring", data)
            }
            5 => frame("edit_recurring", json!({"group": "g", "id": next(8), "amount": next(50) + 1})),
            6 => frame("edit_recurring", json!({"group": "g", "id": next(8), "count": next(4)})),
            7 => frame("stop_recurring", json!({"group": "g", "id": next(8)})),
            8 => frame("record_payment", json!({"group": "g", "to": name(next(3)), "amount": next(50) + 1})),
            9 => frame("settle", json!({"group": "g", "record": true})),
            10 => frame("list_recurring", json!({"group": "g"})),
            _ => frame("delete_transaction", json!({"group": "g", "id": next(40)})),
        };
        let log_len = w.log.len();
        let reply = w.send(&mut sessions[who], &data);
        if reply["status"] == "error" {
            assert_eq!(w.log.len(), log_len, "step {step}: a refused request produced records");
        }
        now += next(4 * 86_400_000) as i64;
        made += w.due(now).len();
        for record in &w.log[log_len..] {
            shadow.apply(record).unwrap_or_else(|e| panic!("step {step}: {data}: replay: {e}"));
        }
        if step % 10 == 0 {
            assert!(image(&w.machine) == image(&shadow), "state and replayed records differ by step {step}");
        }
    }
    assert!(made > 50, "the timer should have made occurrences ({made})");
    let live = image(&w.machine);
    let restored = replay_and_restore_match(&w.log, &live);
    // The restored machine's due index is the live one's: the same next turn makes the same records.
    let mut restored = restored;
    let later = now + 400 * 86_400_000;
    assert_eq!(restored.run_due(later).records, w.machine.run_due(later).records);
    let mut json = Vec::new();
    write_json_image(&w.machine, &mut json).unwrap();
    assert!(image(&w.machine) == image(&read_image(&json).unwrap()), "the JSON image loads to the same state");
    let kinds: std::collections::BTreeSet<String> = w.log.iter().map(record_kind).collect();
    for kind in ["rule_added", "rule_edited", "rule_stopped"] {
        assert!(kinds.contains(kind), "the mix reaches {kind}: {kinds:?}");
    }
    // The mix made occurrences with a category and converted from another currency.
    let txns = || w.machine.groups().iter().flat_map(|(_, g)| g.ledger.transactions().collect::<Vec<_>>());
    let occurrences: Vec<_> = txns().filter(|t| t.rule.is_some()).collect();
    assert!(occurrences.iter().any(|t| t.category.is_some()), "an occurrence with a category");
    assert!(occurrences.iter().any(|t| t.foreign.as_ref().is_some_and(|f| f.rate.is_some())), "a converted one");
}

/// A rule's category, currency and rate.
mod fields;
