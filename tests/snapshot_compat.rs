//! A data directory as the build before the binary snapshot (main at `3736b7e`) left it after a clean
//! stop — a format-1 (JSON) snapshot and an empty log segment — loads in this build, which answers
//! every read exactly as that build did; its next snapshot is binary (format 2) and answers the same
//! again; `splitd inspect` shows it.
//!
//! `tests/data/main-3736b7e/`: `snapshot.json` and the segment, and `replies.txt`: per request, who
//! sent it, the request line and the old server's reply line, recorded by `make.py` against that
//! build (groups with every split mode, an edit, a deletion, payments, keys, a recorded settlement).
//!
//! Likewise `tests/data/main-bf7e21f/`, from the build before binary log records: a version-1 binary
//! image (transactions without extras) and, after it, a log of JSON record lines left by a SIGKILL.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use common::{Client, Server, TempDir};
use serde_json::Value;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/main-3736b7e");
const FIXTURE_V1_IMAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/main-bf7e21f");

/// `(who, request line, the old server's reply)`, in order.
fn recorded(fixture: &str) -> Vec<(String, String, Value)> {
    let text = std::fs::read_to_string(Path::new(fixture).join("replies.txt")).expect("replies.txt");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 30 && lines.len().is_multiple_of(3), "three lines a request");
    lines
        .chunks(3)
        .map(|c| (c[0].to_string(), c[1].to_string(), serde_json::from_str(c[2]).expect("a reply line")))
        .collect()
}

/// Sends every recorded request as its user and checks the reply is the old server's.
fn answers_as_before(fixture: &str, server: &Server, when: &str) {
    let mut clients: HashMap<String, Client> = HashMap::new();
    for (who, request, expected) in recorded(fixture) {
        let client = clients.entry(who.clone()).or_insert_with(|| {
            let mut client = server.connect();
            client.login_as(&who);
            client
        });
        client.send_raw(format!("{request}\n").as_bytes());
        assert_eq!(client.reply(), expected, "{when}: {who} {request}");
    }
}

fn snapshot_format(dir: &Path) -> String {
    let bytes = std::fs::read(dir.join("snapshot.json")).expect("a snapshot");
    let header = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(header).split(' ').nth(1).unwrap_or_default().to_string()
}

#[test]
fn a_json_snapshot_of_the_build_before_loads_answers_alike_and_the_next_one_is_binary() {
    let dir = TempDir::new("snapshot-compat");
    for file in ["snapshot.json", "wal-00000000000000000024.log"] {
        std::fs::copy(Path::new(FIXTURE).join(file), dir.path().join(file)).expect("copy the fixture");
    }
    assert_eq!(snapshot_format(dir.path()), "1");

    let server = Server::start(dir.path(), &[]);
    answers_as_before(FIXTURE, &server, "from the JSON snapshot");
    assert_eq!(server.terminate(), Some(0));
    assert_eq!(snapshot_format(dir.path()), "2", "the next snapshot is binary");

    let server = Server::start(dir.path(), &[]);
    answers_as_before(FIXTURE, &server, "from the binary snapshot");
    assert_eq!(server.terminate(), Some(0));

    let inspect = Command::new(env!("CARGO_BIN_EXE_splitd")).arg("inspect").arg(dir.path()).output().expect("inspect");
    assert!(inspect.status.success(), "{}", String::from_utf8_lossy(&inspect.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&inspect.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .collect();
    assert_eq!(lines[0]["snapshot"]["seq"].as_u64().map(|s| s > 23), Some(true), "{:?}", lines[0]);
    let groups: Vec<&str> = lines.iter().filter_map(|l| l["group"]["name"].as_str()).collect();
    assert_eq!(groups, ["trip", "flat"]);
    let trip = lines.iter().find(|l| l["group"]["name"] == "trip").expect("trip");
    let descriptions: Vec<&str> = trip["group"]["transactions"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|t| t["description"].as_str())
        .collect();
    assert_eq!(descriptions, ["dinner", "the taxi", "tea", "museum"]);
}

/// The binary image version inside the snapshot (the 4 bytes after `SPLITIMG`).
fn image_version(dir: &Path) -> Option<u32> {
    let bytes = std::fs::read(dir.join("snapshot.json")).ok()?;
    let at = bytes.windows(8).position(|w| w == b"SPLITIMG")? + 8;
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// The data files of a fixture (its snapshot and log segments) copied into `dir`.
fn copy_data_files(fixture: &str, dir: &Path) {
    for entry in std::fs::read_dir(fixture).expect("the fixture") {
        let name = entry.expect("an entry").file_name();
        let name = name.to_string_lossy();
        if name == "snapshot.json" || name.starts_with("wal-") {
            std::fs::copy(Path::new(fixture).join(&*name), dir.join(&*name)).expect("copy the fixture");
        }
    }
}

#[test]
fn a_version_one_binary_image_and_a_json_log_after_it_load_and_answer_alike() {
    let dir = TempDir::new("image-v1-compat");
    copy_data_files(FIXTURE_V1_IMAGE, dir.path());
    assert_eq!(snapshot_format(dir.path()), "2", "a binary snapshot");
    assert_eq!(image_version(dir.path()), Some(1));

    let server = Server::start(dir.path(), &[]);
    answers_as_before(FIXTURE_V1_IMAGE, &server, "from the version-1 image and the JSON log");
    assert_eq!(server.terminate(), Some(0));
    assert!(image_version(dir.path()).is_some_and(|v| v > 1), "the next image is this build's");
    let server = Server::start(dir.path(), &[]);
    answers_as_before(FIXTURE_V1_IMAGE, &server, "from this build's image");
    assert_eq!(server.terminate(), Some(0));
}
