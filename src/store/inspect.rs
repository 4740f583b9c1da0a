//! `splitd inspect PATH`: a data directory's snapshot and log as JSON lines, so a binary snapshot is
//! never opaque to an operator.
//!
//! A directory prints its snapshot (if any), then every log segment in order; a file prints itself
//! (a snapshot if it starts with the snapshot header, else a log segment). Lines:
//! `{"snapshot":{"file":..,"seq":N}}`, `{"state":{next ids, users, tokens}}`, one `{"group":{..}}`
//! per group (the JSON image's shape), and per log record `{"seq":N,"record":{..}}`. A snapshot is
//! checked as a restart checks it (it must load); a damaged log line prints `{"error":..}` with its
//! file and byte offset and ends that segment. Reads only: never changes a file.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use serde_json::json;

use super::{recover, snapshot, wal};

/// Prints `path` (a data directory, a snapshot or a log segment) to `out`.
pub fn inspect(path: &Path, out: &mut impl Write) -> Result<(), String> {
    let failed = |e: io::Error| format!("cannot write: {e}");
    if path.is_dir() {
        let snapshot = snapshot::snapshot_path(path);
        if snapshot.exists() {
            print_snapshot(&snapshot, out)?;
        }
        for (_, segment) in recover::segments(path)? {
            print_log(&segment, out).map_err(failed)?;
        }
        return Ok(());
    }
    let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.starts_with(b"splitd-snapshot ") {
        print_snapshot(path, out)
    } else {
        print_log(path, out).map_err(failed)
    }
}

fn print_snapshot(path: &Path, out: &mut impl Write) -> Result<(), String> {
    let Some((seq, machine)) = snapshot::read_file(path)? else { return Ok(()) };
    let image = machine.image();
    let lines = [
        json!({"snapshot": {"file": path.display().to_string(), "seq": seq}}),
        json!({"state": {
            "next_txn_id": image.next_txn_id,
            "next_payment_id": image.next_payment_id,
            "users": image.users,
            "tokens": image.tokens,
        }}),
    ];
    let write = |out: &mut dyn Write, line: &serde_json::Value| writeln!(out, "{line}");
    for line in &lines {
        write(out, line).map_err(|e| format!("cannot write: {e}"))?;
    }
    for group in &image.groups {
        write(out, &json!({ "group": group })).map_err(|e| format!("cannot write: {e}"))?;
    }
    Ok(())
}

fn print_log(path: &Path, out: &mut impl Write) -> io::Result<()> {
    let bytes = fs::read(path)?;
    let mut offset = 0;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let whole = line.strip_suffix(b"\n");
        let decoded = whole.ok_or_else(|| "an incomplete final line (a torn write)".to_string()).and_then(|line| {
            wal::decode_line(line).map_err(|e| match e {
                wal::LineError::Checksum => "the line fails its checksum".to_string(),
                wal::LineError::Malformed(why) => format!("the line does not parse ({why})"),
            })
        });
        match decoded {
            Ok((seq, record)) => writeln!(out, "{}", json!({"seq": seq, "record": record}))?,
            Err(why) => {
                let error = json!({"error": why, "file": path.display().to_string(), "offset": offset});
                return writeln!(out, "{error}");
            }
        }
        offset += line.len();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FsyncPolicy;
    use crate::machine::Record;
    use crate::store::{Opened, Store};

    #[test]
    fn a_directory_prints_its_snapshot_then_its_log_as_json_lines() {
        let dir = std::env::temp_dir().join(format!("splitd-inspect-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let Opened { mut store, mut machine, .. } = Store::open(&dir, FsyncPolicy::Always, u64::MAX).unwrap();
        let ann = Record::UserCreated { user: 0, name: "ann".into(), password_hash: "h".into() };
        machine.apply(&ann).unwrap();
        store.append(std::slice::from_ref(&ann));
        store.snapshot(&machine).unwrap();
        let group =
            Record::GroupCreated { group: 0, name: "g".into(), creator: 0, password_hash: None, at: 5, seq: None };
        machine.apply(&group).unwrap();
        // Written in the log's binary form; printed as the same JSON as any other record.
        let deleted = Record::TransactionDeleted { group: 0, txn: 4, by: 0, at: 6, seq: Some(9) };
        store.append(&[group.clone(), deleted.clone()]);
        store.commit().unwrap();
        drop(store);
        let mut out = Vec::new();
        inspect(&dir, &mut out).unwrap();
        let lines: Vec<serde_json::Value> =
            String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(lines[0]["snapshot"]["seq"], 1);
        assert_eq!(lines[1]["state"]["users"][0]["name"], "ann");
        assert_eq!(lines[2], json!({"seq": 2, "record": group}));
        assert_eq!(lines[3], json!({"seq": 3, "record": deleted}));
        assert_eq!(lines[3]["record"]["transaction_deleted"]["txn"], 4);
        let _ = fs::remove_dir_all(&dir);
    }
}
