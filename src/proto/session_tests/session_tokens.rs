//! Session tokens and the account's life, as users' sessions: login's token, resume, expiry on an
//! injected clock, logout of one token and of all, password changes and deleted accounts — and the
//! same state again from the records and from an image.

use serde_json::{json, Value};

use super::{frame, parsed, World};
use crate::machine::tokens::{TOKEN_IDLE_MAX_MS, TOKEN_TOUCH_MS};
use crate::machine::*;
use crate::proto::{decode, write_answer};
use crate::store::snapshot::{read_image, write_image};
use crate::workers;

const DAY: Millis = 24 * 60 * 60 * 1000;
const T0: Millis = 1_700_000_000_000;

impl World {
    /// `action` for `session` at `now` (slow work runs inline and finishes at the same time): the
    /// reply, the records it made, and whether it needed slow work.
    fn at(&mut self, now: Millis, session: &mut Session, action: &str, data: Value) -> (Value, Vec<Record>, bool) {
        let command = decode(frame(action, data).as_bytes()).command.expect("a well-formed request");
        let (outcome, offloaded) = match self.machine.execute(session, command, now) {
            Step::Done(outcome) => (outcome, false),
            Step::Offload(job) => (self.machine.resume(session, job.resume, workers::run(job.work), now), true),
        };
        self.machine.check_invariants().unwrap();
        if outcome.answer.is_err() {
            assert!(outcome.records.is_empty(), "a refused {action} made records");
        }
        self.log.extend(outcome.records.iter().cloned());
        let mut out = Vec::new();
        write_answer(&self.machine, &outcome.answer, None, &mut out);
        (parsed(&out), outcome.records, offloaded)
    }

    /// Signs `name` up (password `pw-NAME-123`) and logs in at `now`: the session and its token.
    fn login_at(&mut self, now: Millis, name: &str) -> (Session, String) {
        let mut session = Session { peer: Some([10, 0, 0, 7].into()), ..Session::default() };
        let password = format!("pw-{name}-123");
        if self.machine.users().find(name).is_none() {
            self.at(now, &mut session, "signup", json!({"username": name, "password": password}));
        }
        let (reply, records, _) = self.at(now, &mut session, "login", json!({"username": name, "password": password}));
        assert_eq!(reply["message"], "Login successful", "{reply}");
        assert!(matches!(records[..], [Record::TokenIssued { .. }]), "{records:?}");
        let token = reply["token"].as_str().expect("login returns a token").to_string();
        (session, token)
    }

    fn resume_at(&mut self, now: Millis, token: &str) -> (Session, Value, Vec<Record>) {
        let mut session = Session::default();
        let (reply, records, offloaded) = self.at(now, &mut session, "resume", json!({"token": token}));
        assert!(!offloaded, "a resume hashes no password");
        (session, reply, records)
    }

    fn image(&self) -> Vec<u8> {
        let mut out = Vec::new();
        write_image(&self.machine, &mut out).unwrap();
        out
    }
}

#[test]
fn a_login_returns_a_token_that_another_connection_resumes_with() {
    let mut w = World::new();
    let (mut alice, token) = w.login_at(T0, "alice");
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    w.at(T0, &mut alice, "create_group", json!({"group": "g"}));
    // Only the hash is kept: the secret is nowhere in the log or the image.
    assert!(!serde_json::to_string(&w.log).unwrap().contains(&token));
    assert!(!String::from_utf8_lossy(&w.image()).contains(&token));

    let (mut again, reply, records) = w.resume_at(T0 + 1000, &token);
    assert_eq!(reply["message"], "Session resumed");
    assert_eq!(reply["username"], "alice");
    assert!(records.is_empty(), "a resume within a day of the last recorded use writes nothing");
    assert_eq!(w.at(T0, &mut again, "list_groups", json!({})).0["groups"], json!(["g"]));

    let (mut anon, refused, _) = w.resume_at(T0, &"0".repeat(64));
    assert_eq!(refused["code"], "invalid_token");
    assert_eq!(anon.failed_logins, 0, "a refused token is not a failed password");
    assert_eq!(w.at(T0, &mut anon, "list_groups", json!({})).0["code"], "not_authenticated");
    let malformed = decode(frame("resume", json!({"token": "abc"})).as_bytes()).command;
    assert!(malformed.is_err_and(|e| e.message.contains("'token'")));
}

#[test]
fn a_token_expires_after_thirty_days_unused_and_each_recorded_use_moves_that() {
    let mut w = World::new();
    let (_, token) = w.login_at(T0, "alice");
    // Used a day later: recorded, once a day at most.
    let (_, _, records) = w.resume_at(T0 + TOKEN_TOUCH_MS, &token);
    assert!(matches!(records[..], [Record::TokenUsed { at, .. }] if at == T0 + TOKEN_TOUCH_MS), "{records:?}");
    let (_, _, records) = w.resume_at(T0 + TOKEN_TOUCH_MS + DAY / 2, &token);
    assert!(records.is_empty(), "{records:?}");
    let last_used = T0 + TOKEN_TOUCH_MS;
    let (_, ok, _) = w.resume_at(last_used + TOKEN_IDLE_MAX_MS, &token);
    assert_eq!(ok["status"], "ok", "thirty days to the millisecond is not expired yet");
    assert_eq!(w.machine.tokens().len(), 1);

    // bob's token is never used again: refused after 30 days, and dropped by the next token record.
    let (mut bob, bob_token) = w.login_at(T0 + 2 * DAY, "bob");
    let expired_at = T0 + 2 * DAY + TOKEN_IDLE_MAX_MS + 1;
    let (_, refused, _) = w.resume_at(expired_at, &bob_token);
    assert_eq!(refused["code"], "invalid_token");
    assert_eq!(w.at(expired_at, &mut bob, "list_groups", json!({})).0["code"], "not_authenticated");
    assert_eq!(w.machine.tokens().len(), 2, "a refusal changes nothing");
    w.login_at(expired_at, "carol");
    let users: Vec<UserId> = w.machine.tokens().iter().map(|(_, t)| t.user).collect();
    assert_eq!(users, vec![0, 2], "alice's (used) and carol's new token remain; bob's is pruned");
}

#[test]
fn a_connection_in_daily_use_keeps_its_token_fresh() {
    let mut w = World::new();
    let (mut alice, token) = w.login_at(T0, "alice");
    for day in 1..=40 {
        let (reply, records, _) = w.at(T0 + day * DAY, &mut alice, "list_groups", json!({}));
        assert_eq!(reply["status"], "ok", "day {day}");
        assert!(matches!(records[..], [Record::TokenUsed { .. }]), "day {day}: {records:?}");
    }
    assert_eq!(w.resume_at(T0 + 40 * DAY + 1, &token).1["status"], "ok");
}

#[test]
fn logout_revokes_this_token_and_logout_all_every_token_of_the_user() {
    let mut w = World::new();
    let (mut first, token1) = w.login_at(T0, "alice");
    let (_, token2) = w.login_at(T0, "alice");
    let (mut bob, bob_token) = w.login_at(T0, "bob");
    let (mut same_token, _, _) = w.resume_at(T0, &token1);

    let (reply, records, _) = w.at(T0, &mut first, "logout", json!({}));
    assert_eq!(reply["message"], "Logged out");
    assert!(matches!(records[..], [Record::TokenRevoked { .. }]), "{records:?}");
    assert_eq!(w.resume_at(T0, &token1).1["code"], "invalid_token");
    assert_eq!(w.at(T0, &mut same_token, "list_groups", json!({})).0["code"], "not_authenticated");
    assert!(w.at(T0, &mut first, "logout", json!({})).1.is_empty(), "logged out already: nothing to revoke");

    let (mut second, _, _) = w.resume_at(T0, &token2);
    let (reply, records, _) = w.at(T0, &mut second, "logout", json!({"all": true}));
    assert_eq!(reply["message"], "Logged out of every session");
    assert!(matches!(records[..], [Record::TokensRevoked { .. }]), "{records:?}");
    assert_eq!(w.resume_at(T0, &token2).1["code"], "invalid_token");
    assert_eq!(w.resume_at(T0, &bob_token).1["status"], "ok", "other users keep theirs");
    assert_eq!(w.at(T0, &mut bob, "list_groups", json!({})).0["status"], "ok");
}

#[test]
fn sessions_lists_when_and_where_without_any_secret() {
    let mut w = World::new();
    let (_, token1) = w.login_at(T0, "alice");
    let (mut alice, token2) = w.login_at(T0 + 5, "alice");
    let (reply, _, _) = w.at(T0 + 9, &mut alice, "sessions", json!({}));
    assert_eq!(
        reply["sessions"],
        json!([
            {"created": T0, "last_used": T0, "address": "10.0.0.7", "current": false},
            {"created": T0 + 5, "last_used": T0 + 5, "address": "10.0.0.7", "current": true},
        ])
    );
    let text = reply.to_string();
    assert!(!text.contains(&token1) && !text.contains(&token2));
    assert_eq!(w.at(T0, &mut Session::default(), "sessions", json!({})).0["code"], "not_authenticated");
}

#[test]
fn changing_the_password_revokes_every_other_token() {
    let mut w = World::new();
    let (mut here, kept) = w.login_at(T0, "alice");
    let (mut elsewhere, other) = w.login_at(T0, "alice");
    let (mut bob, _) = w.login_at(T0, "bob");

    let (wrong, records, offloaded) =
        w.at(T0, &mut here, "change_password", json!({"old": "not-the-password", "new": "new-password-1"}));
    assert!(offloaded, "the old password is checked off the loop");
    assert_eq!(wrong["code"], "invalid_credentials");
    assert!(records.is_empty());
    assert_eq!(here.failed_logins, 1);
    let short = w.at(T0, &mut here, "change_password", json!({"old": "pw-alice-123", "new": "short"})).0;
    assert!(short["message"].as_str().unwrap().contains("'new'"), "{short}");

    let (reply, records, _) =
        w.at(T0, &mut here, "change_password", json!({"old": "pw-alice-123", "new": "new-password-1"}));
    assert_eq!(reply["message"], "Password changed");
    assert!(matches!(&records[..], [Record::PasswordChanged { keep: Some(_), .. }]), "{records:?}");
    assert_eq!(w.at(T0, &mut here, "list_groups", json!({})).0["status"], "ok", "this connection stays");
    assert_eq!(w.resume_at(T0, &kept).1["status"], "ok");
    assert_eq!(w.resume_at(T0, &other).1["code"], "invalid_token");
    assert_eq!(w.at(T0, &mut elsewhere, "list_groups", json!({})).0["code"], "not_authenticated");
    assert_eq!(w.at(T0, &mut bob, "list_groups", json!({})).0["status"], "ok");

    let mut anon = Session::default();
    let old = w.at(T0, &mut anon, "login", json!({"username": "alice", "password": "pw-alice-123"})).0;
    assert_eq!(old["code"], "invalid_credentials");
    let new = w.at(T0, &mut anon, "login", json!({"username": "alice", "password": "new-password-1"})).0;
    assert_eq!(new["message"], "Login successful");
}

#[test]
fn an_account_is_deleted_only_at_zero_balances_and_its_name_stays_reserved() {
    let mut w = World::new();
    let (mut alice, alice_token) = w.login_at(T0, "alice");
    let (mut bob, _) = w.login_at(T0, "bob");
    let (mut other_alice, _) = w.login_at(T0, "alice");
    w.at(T0, &mut alice, "create_group", json!({"group": "g"}));
    w.at(T0, &mut alice, "create_group", json!({"group": "quiet"}));
    w.at(T0, &mut bob, "join_group", json!({"group": "g"}));
    w.at(T0, &mut bob, "add_transaction", json!({"group": "g", "amount": 10, "split_between": ["alice"]}));

    let (refused, records, offloaded) = w.at(T0, &mut alice, "delete_account", json!({"password": "pw-alice-123"}));
    assert_eq!(refused["code"], "balance_not_zero");
    assert!(refused["message"].as_str().unwrap().contains("in g "), "{refused}");
    assert!(records.is_empty() && !offloaded, "refused before any password work");
    w.at(T0, &mut alice, "record_payment", json!({"group": "g", "to": "bob", "amount": 10}));
    let wrong = w.at(T0, &mut alice, "delete_account", json!({"password": "wrong-password"})).0;
    assert_eq!(wrong["code"], "invalid_credentials");

    let before = w.image();
    let (reply, records, _) = w.at(T0 + 1, &mut alice, "delete_account", json!({"password": "pw-alice-123"}));
    assert_eq!(reply["message"], "Account deleted");
    assert!(matches!(records[..], [Record::AccountDeleted { .. }]), "{records:?}");
    assert_ne!(before, w.image());
    assert_eq!(w.at(T0, &mut alice, "list_groups", json!({})).0["code"], "not_authenticated");
    assert_eq!(w.at(T0, &mut other_alice, "list_groups", json!({})).0["code"], "not_authenticated");
    assert_eq!(w.resume_at(T0, &alice_token).1["code"], "invalid_token");
    assert_eq!(w.machine.tokens().iter().filter(|(_, t)| t.user == 0).count(), 0);

    // The name logs in no more, with the right password or not, and cannot be signed up again.
    let mut anon = Session::default();
    let login = w.at(T0, &mut anon, "login", json!({"username": "alice", "password": "pw-alice-123"})).0;
    assert_eq!(login["code"], "invalid_credentials");
    let signup = w.at(T0, &mut anon, "signup", json!({"username": "alice", "password": "pw-alice-999"})).0;
    assert_eq!(signup["code"], "user_exists");

    // History keeps who did what, shown as deleted; the group goes on without her.
    let info = w.at(T0, &mut bob, "group_info", json!({"group": "g"})).0;
    assert_eq!(info["members"], json!(["bob"]));
    assert_eq!(info["former_members"], json!(["alice (deleted)"]));
    assert_eq!(info["creator"], "alice (deleted)");
    let history = w.at(T0, &mut bob, "history", json!({"group": "g"})).0;
    assert_eq!(history["history"][0]["message"], "alice (deleted) left g");
    assert_eq!(history["history"][1]["by"], "alice (deleted)");
    assert_eq!(w.machine.groups().get(1).map(|g| g.members.len()), Some(0), "she left every group");
}

/// Tokens, uses, revocations, a password change and a deleted account: the records replayed and the
/// image restored give the same state, and a token still resumes there.
#[test]
fn replay_and_image_rebuild_the_same_tokens_and_accounts() {
    let mut w = World::new();
    let (mut alice, alice_token) = w.login_at(T0, "alice");
    let (mut bob, _) = w.login_at(T0, "bob");
    let (mut carol, carol_token) = w.login_at(T0, "carol");
    w.at(T0, &mut alice, "create_group", json!({"group": "g"}));
    w.at(T0, &mut carol, "join_group", json!({"group": "g"}));
    w.resume_at(T0 + 2 * DAY, &alice_token);
    w.at(T0 + 2 * DAY, &mut bob, "logout", json!({"all": true}));
    w.at(T0 + 3 * DAY, &mut alice, "change_password", json!({"old": "pw-alice-123", "new": "pw-alice-456"}));
    w.at(T0 + 3 * DAY, &mut carol, "delete_account", json!({"password": "pw-carol-123"}));
    w.login_at(T0 + 20 * DAY, "dave");
    let restored = super::replay_and_restore_match(&w.log, &w.image());

    // alice's token was last used on day 3: alive on day 25; dave's is new; the rest are gone.
    assert_eq!(restored.tokens().len(), 2);
    let mut restored = World { machine: restored, log: Vec::new() };
    assert_eq!(restored.resume_at(T0 + 25 * DAY, &alice_token).1["username"], "alice");
    assert_eq!(restored.resume_at(T0 + 25 * DAY, &carol_token).1["code"], "invalid_token");
    assert!(restored.machine.users().get(2).is_some_and(|u| u.deleted));
}

/// Images written before tokens (no `tokens`, no `deleted`) still load.
#[test]
fn an_image_from_before_tokens_loads() {
    let old =
        br#"{"next_txn_id":1,"next_payment_id":1,"users":[{"name":"a","password_hash":"h","groups":[]}],"groups":[]}"#;
    let machine = read_image(old).unwrap();
    assert!(machine.tokens().is_empty());
    assert!(machine.users().is_active(0));
}
