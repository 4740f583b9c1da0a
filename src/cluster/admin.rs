//! `splitd cluster add|remove`: the operator's client of the admin actions. It reads the admin key
//! from a member's data directory and sends one request to that member's client port over plaintext
//! TCP (the loopback listener; `--listen-plain` when the main one is TLS); the member checks the key
//! against its own and hands the change to raft (a follower forwards it to the leader).
//!
//! A blocking client run from the command line, never inside the server's loop.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::membership::{admin_key, Change, ADMIN_KEY_FILE};

fn frame_of(action: &str, data: Value) -> Value {
    json!({"action": action, "data": data})
}

/// Sends `change` to the member at `server`, with the key of its data directory; the ok reply's text.
pub fn request_change(server: &str, data_dir: &Path, change: &Change) -> Result<String, String> {
    let key = admin_key_of(data_dir)?;
    let data = match change {
        Change::Add { id, peer, client } => {
            json!({"admin_key": key, "node": id, "peer": peer.to_string(), "client": client})
        }
        Change::Remove { id } => json!({"admin_key": key, "node": id}),
    };
    let action = match change {
        Change::Add { .. } => "cluster_add",
        Change::Remove { .. } => "cluster_remove",
    };
    let reply = exchange(server, &frame_of(action, data))?;
    let message = reply["message"].as_str().unwrap_or("").to_string();
    match reply["status"].as_str() {
        Some("ok") => Ok(message),
        _ => Err(format!("{message} ({})", reply["code"].as_str().unwrap_or("error"))),
    }
}

/// The key, without creating one: a data directory that has none is not a member's.
fn admin_key_of(data_dir: &Path) -> Result<String, String> {
    if !data_dir.join(ADMIN_KEY_FILE).exists() {
        return Err(format!("{} has no admin.key: point --data-dir at a member's data directory", data_dir.display()));
    }
    admin_key(data_dir)
}

fn exchange(server: &str, frame: &Value) -> Result<Value, String> {
    let stream = TcpStream::connect(server).map_err(|e| format!("cannot connect to {server}: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let mut line = frame.to_string();
    line.push('\n');
    writer.write_all(line.as_bytes()).map_err(|e| format!("cannot send to {server}: {e}"))?;
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply).map_err(|e| format!("no reply from {server}: {e}"))?;
    serde_json::from_str(&reply).map_err(|_| format!("{server} answered something else than JSON: {reply:?}"))
}
