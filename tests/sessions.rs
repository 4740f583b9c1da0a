//! Session tokens against the real binary: login returns one, a new connection resumes with it,
//! logout revokes it (and ends the other connections using it), restarts keep it, and the account's
//! life (password change, deletion) over TCP.

mod common;

use common::{ok, Client, Server, TempDir};
use serde_json::{json, Value};

/// Signs `name` up and logs in on `client`; the token login returned.
fn login(client: &mut Client, name: &str) -> String {
    let password = format!("pw-{name}-secret");
    let _ = client.request("signup", json!({"username": name, "password": password}));
    let reply = ok(&client.request("login", json!({"username": name, "password": password}))).clone();
    reply["token"].as_str().unwrap_or_else(|| panic!("no token in {reply}")).to_string()
}

fn resume(server: &Server, token: &str) -> (Client, Value) {
    let mut client = server.connect();
    let reply = client.request("resume", json!({"token": token}));
    (client, reply)
}

#[test]
fn a_token_from_login_resumes_on_a_new_connection_until_logout_revokes_it() {
    let dir = TempDir::new("sessions-resume");
    let server = Server::start(dir.path(), &[]);
    let mut first = server.connect();
    let token = login(&mut first, "alice");
    assert_eq!(token.len(), 64, "{token}");
    ok(&first.request("create_group", json!({"group": "trip"})));
    let mut carol = server.connect();
    login(&mut carol, "carol");
    ok(&carol.request("join_group", json!({"group": "trip"})));

    let (mut second, reply) = resume(&server, &token);
    assert_eq!(ok(&reply)["username"], "alice");
    assert_eq!(second.request("list_groups", json!({}))["groups"], json!(["trip"]));
    let sessions = ok(&second.request("sessions", json!({}))).clone();
    let list = sessions["sessions"].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 1, "{sessions}");
    assert_eq!(list[0]["address"], "127.0.0.1", "the server records where the token was used");
    assert_eq!(list[0]["current"], true);
    assert!(!sessions.to_string().contains(&token), "a listing never shows the secret");

    // Logout on the first connection revokes the token: the second is logged out with it, hears no
    // more about the group, and the token resumes nothing.
    assert_eq!(ok(&first.request("logout", json!({})))["message"], "Logged out");
    ok(&carol.request("add_transaction", json!({"group": "trip", "amount": 5, "split_between": ["carol"]})));
    assert_eq!(second.request("list_groups", json!({}))["code"], "not_authenticated");
    assert!(second.pushed.is_empty(), "a revoked login hears no notifications: {:?}", second.pushed);
    let (_, refused) = resume(&server, &token);
    assert_eq!(refused["code"], "invalid_token", "{refused}");
    // A refused token leaves the connection usable: the password login follows on it.
    let mut again = server.connect();
    assert_eq!(again.request("resume", json!({"token": token}))["code"], "invalid_token");
    login(&mut again, "alice");
}

#[test]
fn tokens_survive_a_restart_from_the_log_and_from_a_snapshot() {
    let dir = TempDir::new("sessions-restart");
    let server = Server::start(dir.path(), &[]);
    let mut alice = server.connect();
    let token = login(&mut alice, "alice");
    let mut bob = server.connect();
    let bob_token = login(&mut bob, "bob");
    ok(&bob.request("logout", json!({"all": true})));
    drop(alice);
    drop(bob);

    // SIGKILL: the token comes back from the log.
    server.kill9();
    let server = Server::start(dir.path(), &[]);
    let (mut resumed, reply) = resume(&server, &token);
    assert_eq!(ok(&reply)["username"], "alice");
    ok(&resumed.request("list_groups", json!({})));
    assert_eq!(resume(&server, &bob_token).1["code"], "invalid_token", "a revocation is durable too");
    drop(resumed);

    // SIGTERM writes a snapshot: the token comes back from it.
    assert_eq!(server.terminate(), Some(0));
    let server = Server::start(dir.path(), &[]);
    assert_eq!(ok(&resume(&server, &token).1)["username"], "alice");
    assert_eq!(resume(&server, &bob_token).1["code"], "invalid_token");
}

#[test]
fn a_password_change_ends_other_logins_and_a_deleted_account_is_gone_for_good() {
    let dir = TempDir::new("sessions-account");
    let server = Server::start(dir.path(), &[]);
    let mut here = server.connect();
    let kept = login(&mut here, "alice");
    let mut elsewhere = server.connect();
    let other = login(&mut elsewhere, "alice");

    let change = json!({"old": "pw-alice-secret", "new": "pw-alice-changed"});
    assert_eq!(ok(&here.request("change_password", change))["message"], "Password changed");
    assert_eq!(elsewhere.request("list_groups", json!({}))["code"], "not_authenticated");
    assert_eq!(resume(&server, &other).1["code"], "invalid_token");
    assert_eq!(ok(&resume(&server, &kept).1)["username"], "alice");

    ok(&here.request("create_group", json!({"group": "g"})));
    let delete = here.request("delete_account", json!({"password": "pw-alice-changed"}));
    assert_eq!(ok(&delete)["message"], "Account deleted");
    assert_eq!(resume(&server, &kept).1["code"], "invalid_token");
    let mut anyone = server.connect();
    let relogin = anyone.request("login", json!({"username": "alice", "password": "pw-alice-changed"}));
    assert_eq!(relogin["code"], "invalid_credentials");
    let signup = anyone.request("signup", json!({"username": "alice", "password": "pw-alice-new"}));
    assert_eq!(signup["code"], "user_exists", "the name stays reserved");
}
