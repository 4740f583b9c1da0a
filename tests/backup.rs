//! The backup and restore procedure of docs/operations.md ("Backups"), as written there: stop the
//! server, archive the data directory with `tar`, start it again; to restore, stop, move the broken
//! directory aside, unpack the archive, start. What was acknowledged before the backup is back, and
//! nothing after it.

mod common;

use common::*;
use serde_json::json;
use std::process::Command;

fn sh(script: &str, dir: &std::path::Path) {
    let status = Command::new("sh").args(["-c", script]).current_dir(dir).status().expect("sh");
    assert!(status.success(), "`{script}` failed");
}

fn descriptions(server: &Server) -> Vec<String> {
    let mut alice = server.connect();
    alice.login_as("alice");
    let reply = alice.request("view_transactions", json!({"group": "trip"}));
    ok(&reply)["transactions"]
        .as_array()
        .expect("transactions")
        .iter()
        .map(|t| t["description"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[test]
fn a_backup_taken_as_documented_restores_what_was_acknowledged() {
    let root = TempDir::new("backup");
    let data = root.path().join("data");
    let server = Server::start(&data, &[]);
    let mut alice = server.connect();
    alice.login_as("alice");
    ok(&alice.request("create_group", json!({"group": "trip", "password": ""})));
    let add = |client: &mut Client, description: &str| {
        let data = json!({"group": "trip", "amount": 12, "description": description, "split_between": [], "include_payer": true});
        ok(&client.request("add_transaction", data));
    };
    add(&mut alice, "before the backup");
    drop(alice);
    assert_eq!(server.terminate(), Some(0), "a clean stop");

    // Backup (docs/operations.md): while stopped, the whole directory.
    sh("tar -czf backup.tar.gz data", root.path());
    let server = Server::start(&data, &[]);
    let mut alice = server.connect();
    alice.login_as("alice");
    add(&mut alice, "after the backup");
    drop(alice);
    assert_eq!(descriptions(&server), ["before the backup", "after the backup"]);
    assert_eq!(server.terminate(), Some(0));

    // The disk loses the directory; restore as documented.
    sh("mv data data.broken && tar -xzf backup.tar.gz", root.path());
    let server = Server::start(&data, &[]);
    assert_eq!(descriptions(&server), ["before the backup"], "the backup's state, nothing later");
    drop(server);
}
