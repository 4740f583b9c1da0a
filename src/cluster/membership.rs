//! Membership changes: adding a member to the cluster and removing one, through raft-rs's simple
//! conf changes (one voter at a time, so every majority of the old configuration overlaps every
//! majority of the new one), and the admin key that authorises them.
//!
//! A change is a raft entry like any other: the leader proposes it (`cluster_add`,
//! `cluster_remove`, admin actions from `splitd cluster add|remove`), and every member applies it
//! when it is committed — to raft's configuration and to the transport's table of peer addresses
//! (an added member's peer address travels in the entry's context). A restart re-applies the
//! committed changes of its log over the voters of `--peers`, so members learn changes made while
//! they were down. Adding or removing a member that is already (or no longer) there changes
//! nothing, which is what lets a joining member start from the current members without the history.
//!
//! Owns the wire shape of the admin actions, the entry's context and the admin key file. Does not
//! own raft (`replica`) nor sockets (`transport`).

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, Entry, EntryType};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The file in the data directory holding the admin key (mode 0600).
pub const ADMIN_KEY_FILE: &str = "admin.key";

/// A change of the cluster's members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `id` joins as a voter; `peer` is its peer address, `client` its client address (for
    /// `not_leader` answers) when given.
    Add {
        id: u64,
        peer: SocketAddr,
        client: Option<String>,
    },
    Remove {
        id: u64,
    },
}

/// A committed change, as every member applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub change: Change,
    /// The raft index it was committed at.
    pub index: u64,
}

/// What an `Add` entry carries beside the conf change itself.
#[derive(Debug, Serialize, Deserialize)]
struct Context {
    peer: SocketAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client: Option<String>,
}

impl Change {
    pub fn id(&self) -> u64 {
        match self {
            Change::Add { id, .. } | Change::Remove { id } => *id,
        }
    }

    /// The conf change and the entry context raft-rs proposes for it.
    pub fn to_raft(&self) -> (Vec<u8>, ConfChange) {
        let mut cc = ConfChange { node_id: self.id(), ..ConfChange::default() };
        match self {
            Change::Add { peer, client, .. } => {
                cc.set_change_type(ConfChangeType::AddNode);
                let context = Context { peer: *peer, client: client.clone() };
                (serde_json::to_vec(&context).unwrap_or_default(), cc)
            }
            Change::Remove { .. } => {
                cc.set_change_type(ConfChangeType::RemoveNode);
                (Vec::new(), cc)
            }
        }
    }
}

/// The conf change a committed entry holds, with the change it makes; `None` for a normal entry.
/// Only simple (v1) adds and removes are proposed here; anything else is refused as corruption.
pub fn decode(entry: &Entry) -> Result<Option<(ConfChange, Change)>, String> {
    match entry.get_entry_type() {
        EntryType::EntryNormal => return Ok(None),
        EntryType::EntryConfChange => {}
        EntryType::EntryConfChangeV2 => return Err(format!("entry {}: a joint conf change", entry.index)),
    }
    let cc = ConfChange::parse_from_bytes(&entry.data).map_err(|e| format!("entry {}: {e}", entry.index))?;
    let id = cc.node_id;
    let change = match cc.get_change_type() {
        ConfChangeType::AddNode => {
            let context: Context =
                serde_json::from_slice(&entry.context).map_err(|e| format!("entry {}: {e}", entry.index))?;
            Change::Add { id, peer: context.peer, client: context.client }
        }
        ConfChangeType::RemoveNode => Change::Remove { id },
        ConfChangeType::AddLearnerNode => return Err(format!("entry {}: a learner", entry.index)),
    };
    Ok(Some((cc, change)))
}

/// An admin request: `cluster_add {node, peer, client?}` or `cluster_remove {node}`, each with
/// `admin_key`. Parsed only when the frame names one of the two actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminRequest {
    pub key: String,
    pub change: Change,
}

/// Whether `frame` asks for a membership change, and if so the request or why it is malformed.
pub fn parse_admin(frame: &[u8]) -> Option<Result<AdminRequest, String>> {
    if !frame.windows(8).any(|w| w == b"cluster_") {
        return None;
    }
    let value = serde_json::from_slice::<Value>(frame).ok()?;
    let action = value.get("action").and_then(Value::as_str)?;
    let add = match action {
        "cluster_add" => true,
        "cluster_remove" => false,
        _ => return None,
    };
    Some(admin_fields(value.get("data"), add))
}

fn admin_fields(data: Option<&Value>, add: bool) -> Result<AdminRequest, String> {
    let data = data.and_then(Value::as_object).ok_or("Field 'data' must be an object")?;
    let key = data.get("admin_key").and_then(Value::as_str).ok_or("Field 'admin_key' must be a string")?;
    let id = data.get("node").and_then(Value::as_u64).filter(|&id| id > 0).ok_or("Field 'node' must be a node id")?;
    let change = if add {
        let peer = data.get("peer").and_then(Value::as_str).ok_or("Field 'peer' must be HOST:PORT")?;
        let peer = peer.parse().map_err(|_| "Field 'peer' must be HOST:PORT")?;
        let client = match data.get("client") {
            None | Some(Value::Null) => None,
            Some(Value::String(client)) => Some(client.clone()),
            Some(_) => return Err("Field 'client' must be HOST:PORT".to_string()),
        };
        Change::Add { id, peer, client }
    } else {
        Change::Remove { id }
    };
    Ok(AdminRequest { key: key.to_string(), change })
}

/// The admin key of the data directory `dir`, created (64 hex digits from the OS RNG, mode 0600)
/// when there is none. Whoever can read it may change the cluster's members.
pub fn admin_key(dir: &Path) -> Result<String, String> {
    let path = dir.join(ADMIN_KEY_FILE);
    if let Ok(text) = fs::read_to_string(&path) {
        let key = text.trim().to_string();
        if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(key);
        }
        return Err(format!("{} does not hold an admin key (64 hex digits)", path.display()));
    }
    let key = crate::auth::random_secret().ok_or("the OS gave no random bytes for the admin key")?.to_text();
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(format!("{key}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(key)
}

/// Compares two keys in time independent of where they differ.
pub fn same_key(given: &str, expected: &str) -> bool {
    given.len() == expected.len() && given.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_of(change: &Change) -> Entry {
        let (context, cc) = change.to_raft();
        let mut entry = Entry { index: 7, context: context.into(), ..Entry::default() };
        entry.set_entry_type(EntryType::EntryConfChange);
        entry.data = cc.write_to_bytes().expect("encode").into();
        entry
    }

    #[test]
    fn a_change_round_trips_through_its_entry() {
        let add = Change::Add { id: 4, peer: "127.0.0.1:7004".parse().unwrap(), client: Some("127.0.0.1:5008".into()) };
        for change in [add, Change::Remove { id: 3 }] {
            let (_, decoded) = decode(&entry_of(&change)).expect("decodes").expect("a conf change");
            assert_eq!(decoded, change);
        }
        assert_eq!(decode(&Entry::default()), Ok(None));
        let mut broken = entry_of(&Change::Remove { id: 3 });
        broken.data = b"\xff\xff".to_vec().into();
        assert!(decode(&broken).is_err());
    }

    #[test]
    fn admin_requests_parse_or_say_what_is_wrong() {
        let frame = br#"{"action":"cluster_add","data":{"admin_key":"k","node":4,"peer":"127.0.0.1:7004"}}"#;
        let request = parse_admin(frame).expect("an admin action").expect("well formed");
        assert_eq!(request.change, Change::Add { id: 4, peer: "127.0.0.1:7004".parse().unwrap(), client: None });
        let frame = br#"{"action":"cluster_remove","data":{"admin_key":"k","node":0}}"#;
        assert_eq!(parse_admin(frame), Some(Err("Field 'node' must be a node id".to_string())));
        let frame = br#"{"action":"cluster_add","data":{"admin_key":"k","node":4,"peer":"nowhere"}}"#;
        assert_eq!(parse_admin(frame), Some(Err("Field 'peer' must be HOST:PORT".to_string())));
        assert_eq!(parse_admin(br#"{"action":"cluster_status"}"#), None);
        assert_eq!(parse_admin(br#"{"action":"list_groups"}"#), None);
    }

    #[test]
    fn the_admin_key_is_made_once_private_and_compared_whole() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("splitd-admin-key-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let key = admin_key(&dir).expect("made");
        assert_eq!(admin_key(&dir).expect("read"), key);
        let mode = fs::metadata(dir.join(ADMIN_KEY_FILE)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(same_key(&key, &key.clone()));
        assert!(!same_key(&key, &key[1..]));
        let mut other = key.clone().into_bytes();
        other[63] = if other[63] == b'0' { b'1' } else { b'0' };
        assert!(!same_key(&key, std::str::from_utf8(&other).unwrap()));
        fs::write(dir.join(ADMIN_KEY_FILE), "short\n").unwrap();
        assert!(admin_key(&dir).is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
