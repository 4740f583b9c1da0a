//! Storage rules on real files: group commit, torn tails, corruption, loss, snapshots, format versions.

use std::fs;
use std::path::PathBuf;

use super::*;
use crate::machine::{Session, Step};
use crate::proto::decode;
use snapshot::{read_image, write_image, write_json_image};

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let path = std::env::temp_dir().join(format!("splitd-store-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        Dir(path)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn open(dir: &Path) -> Opened {
    Store::open(dir, FsyncPolicy::Always, u64::MAX).unwrap_or_else(|e| panic!("open failed: {e}"))
}

/// The state as JSON text: what tests compare (the binary image says the same, less legibly).
fn image(machine: &Machine) -> String {
    let mut out = Vec::new();
    write_json_image(machine, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn binary_image(machine: &Machine) -> Vec<u8> {
    let mut out = Vec::new();
    write_image(machine, &mut out).unwrap();
    out
}

/// Executes frames as `user` (no password work: these tests build users from records).
fn execute(machine: &mut Machine, store: &mut Store, user: u32, frame: &str) {
    let mut session = Session { user: Some(user), ..Session::default() };
    let command = decode(frame.as_bytes()).command.unwrap();
    let Step::Done(outcome) = machine.execute(&mut session, command, 7) else { panic!("no hashing expected") };
    assert!(outcome.answer.is_ok(), "{frame}: {:?}", outcome.answer);
    store.append(&outcome.records);
}

/// A store with two users, one group and `count` transactions, committed.
fn populated(dir: &Path, count: usize) -> Machine {
    let Opened { mut store, mut machine, .. } = open(dir);
    for (id, name) in ["ann", "bob"].iter().enumerate() {
        let record =
            Record::UserCreated { user: id as u32, name: name.to_string(), password_hash: "$argon2id$x".into() };
        machine.apply(&record).unwrap();
        store.append(&[record]);
    }
    execute(&mut machine, &mut store, 0, r#"{"action":"create_group","data":{"group":"g"}}"#);
    execute(&mut machine, &mut store, 1, r#"{"action":"join_group","data":{"group":"g"}}"#);
    for i in 0..count {
        let frame = format!(
            r#"{{"action":"add_transaction","data":{{"group":"g","amount":"{}.{:02}","split_between":["bob"],"include_payer":true}}}}"#,
            i + 1,
            i % 100
        );
        execute(&mut machine, &mut store, (i % 2) as u32, &frame);
        if i % 7 == 0 {
            store.commit().unwrap();
        }
    }
    store.commit().unwrap();
    machine
}

fn last_segment(dir: &Path) -> PathBuf {
    recover::segments(dir).unwrap().last().unwrap().1.clone()
}

#[test]
fn reopen_replays_exactly_what_was_committed() {
    let dir = Dir::new("reopen");
    let machine = populated(&dir.0, 50);
    let reopened = open(&dir.0);
    assert_eq!(image(&reopened.machine), image(&machine));
    assert_eq!(reopened.records_replayed, 2 + 2 + 50);
    assert!(reopened.warnings.is_empty());
}

#[test]
fn uncommitted_records_are_not_on_disk() {
    let dir = Dir::new("uncommitted");
    let machine = populated(&dir.0, 3);
    let Opened { mut store, machine: mut reopened, .. } = open(&dir.0);
    execute(
        &mut reopened,
        &mut store,
        0,
        r#"{"action":"add_transaction","data":{"group":"g","amount":1,"split_between":["bob"]}}"#,
    );
    assert!(store.has_pending());
    drop(store); // a crash before commit
    assert_eq!(image(&open(&dir.0).machine), image(&machine));
}

#[test]
fn torn_tail_is_cut_with_a_warning() {
    let dir = Dir::new("torn");
    let _ = populated(&dir.0, 10);
    let segment = last_segment(&dir.0);
    let whole = fs::read(&segment).unwrap();
    // Half a record at the end (no newline), as a crash mid-write leaves it.
    let last_line_start = whole[..whole.len() - 1].iter().rposition(|&b| b == b'\n').unwrap() + 1;
    let last_line = &whole[last_line_start..];
    let mut torn = whole.clone();
    torn.extend_from_slice(&last_line[..last_line.len() / 2]);
    fs::write(&segment, &torn).unwrap();
    let reopened = open(&dir.0);
    assert_eq!(reopened.warnings.len(), 1, "{:?}", reopened.warnings);
    assert!(reopened.warnings[0].contains("torn"));
    assert_eq!(reopened.records_replayed, 14);
    drop(reopened);
    assert_eq!(fs::read(&segment).unwrap(), whole, "the torn bytes are cut off");
    // A whole record but for its newline was not finished either: its fsync never returned.
    fs::write(&segment, &whole[..whole.len() - 1]).unwrap();
    let reopened = open(&dir.0);
    assert_eq!((reopened.warnings.len(), reopened.records_replayed), (1, 13), "{:?}", reopened.warnings);
    drop(reopened);
    assert_eq!(fs::read(&segment).unwrap(), &whole[..last_line_start]);
}

/// Only the last segment can end in a torn write: an earlier one was synced before the next began.
#[test]
fn an_incomplete_line_ending_an_earlier_segment_is_refused() {
    let dir = Dir::new("tornmid");
    let _ = populated(&dir.0, 3);
    let segment = last_segment(&dir.0);
    let mut bytes = fs::read(&segment).unwrap();
    let offset = bytes.len();
    bytes.extend_from_slice(b"0123abcd 8 {\"Mem");
    fs::write(&segment, &bytes).unwrap();
    fs::write(wal::segment_path(&dir.0, 8), b"").unwrap();
    let err = Store::open(&dir.0, FsyncPolicy::Always, u64::MAX).err().expect("must refuse");
    assert!(err.contains(&format!("byte {offset}")) && err.contains(&segment.display().to_string()), "{err}");
    assert_eq!(fs::read(&segment).unwrap(), bytes, "files left untouched");
}

/// A complete (newline-terminated) last record was written whole, so its fsync may have returned and
/// it may have been acknowledged: a bad checksum there is corruption, not a torn write.
#[test]
fn a_complete_last_record_with_a_bad_checksum_is_refused_and_untouched() {
    let dir = Dir::new("badlast");
    let _ = populated(&dir.0, 10);
    let segment = last_segment(&dir.0);
    let mut bytes = fs::read(&segment).unwrap();
    let last_line_start = line_starts(&bytes).last().copied().unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x01;
    fs::write(&segment, &bytes).unwrap();
    let err = Store::open(&dir.0, FsyncPolicy::Always, u64::MAX).err().expect("must refuse");
    assert!(err.contains(&format!("byte {last_line_start}")), "{err}");
    assert!(err.contains(&segment.display().to_string()), "{err}");
    assert!(err.contains("checksum"), "{err}");
    assert_eq!(fs::read(&segment).unwrap(), bytes, "files left untouched");
}

/// A complete last line whose checksum is right but whose record does not parse is corruption too.
#[test]
fn a_complete_last_line_that_does_not_parse_is_refused() {
    let dir = Dir::new("unparsed");
    let _ = populated(&dir.0, 3);
    let segment = last_segment(&dir.0);
    let mut bytes = fs::read(&segment).unwrap();
    let offset = bytes.len();
    let body = b"8 {\"NoSuchRecord\":1}";
    bytes.extend_from_slice(format!("{:08x} ", crc32c::crc32c(body)).as_bytes());
    bytes.extend_from_slice(body);
    bytes.push(b'\n');
    fs::write(&segment, &bytes).unwrap();
    let err = Store::open(&dir.0, FsyncPolicy::Always, u64::MAX).err().expect("must refuse");
    assert!(err.contains(&format!("byte {offset}")) && err.contains("does not parse"), "{err}");
    assert_eq!(fs::read(&segment).unwrap(), bytes, "files left untouched");
}

/// Where each line of a segment starts.
fn line_starts(bytes: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(bytes.iter().enumerate().filter(|(_, &b)| b == b'\n').map(|(i, _)| i + 1));
    starts.retain(|&s| s < bytes.len());
    starts
}

/// A clean stop leaves `snapshot.json` and an empty segment named after the next sequence number.
/// Returns the state and that segment.
fn cleanly_stopped(dir: &Path, count: usize) -> (Machine, PathBuf) {
    let machine = populated(dir, count);
    let Opened { mut store, .. } = open(dir);
    store.snapshot(&machine).unwrap();
    drop(store);
    let segments = recover::segments(dir).unwrap();
    assert_eq!(segments.len(), 1, "{segments:?}");
    assert_eq!(fs::metadata(&segments[0].1).unwrap().len(), 0, "the segment after a snapshot is empty");
    (machine, segments[0].1.clone())
}

/// Names of the files in `dir`, sorted, with their contents: to check a refusal touched nothing.
fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != LOCK_FILE)
        .map(|e| (e.file_name().to_string_lossy().into_owned(), fs::read(e.path()).unwrap()))
        .collect();
    files.sort();
    files
}

#[test]
fn a_log_that_starts_after_1_without_a_snapshot_is_refused() {
    let dir = Dir::new("nosnap");
    let (_, segment) = cleanly_stopped(&dir.0, 3);
    assert_eq!(segment, wal::segment_path(&dir.0, 8));
    fs::remove_file(snapshot::snapshot_path(&dir.0)).unwrap();
    let before = listing(&dir.0);
    let err = Store::open(&dir.0, FsyncPolicy::Always, u64::MAX).err().expect("must refuse, not start empty");
    assert!(err.contains(&segment.display().to_string()), "{err}");
    assert!(err.contains("snapshot.json") && err.contains("1..7"), "{err}");
    assert_eq!(listing(&dir.0), before, "files left untouched");
    // The same with records in that segment.
    let mut line = Vec::new();
    wal::encode_line(8, &Record::MemberJoined { group: 0, user: 0, at: 1, seq: None }, &mut Vec::new(), &mut line);
    fs::write(&segment, &line).unwrap();
    let err = Store::open(&dir.0, FsyncPolicy::Always, u64::MAX).err().expect("must refuse");
    assert!(err.contains(&segment.display().to_string()) && err.contains("snapshot.json"), "{err}");
}

#[test]
fn a_gap_between_the_snapshot_and_the_log_is_refused() {
    let dir = Dir::new("snapgap");
    let (machine, _) = cleanly_stopped(&dir.0, 3);
    let old_snapshot = fs::read(snapshot::snapshot_path(&dir.0)).unwrap();
    // Three more records, then a snapshot: the log now starts at 11.
    let Opened { mut store, machine: mut later, .. } = open(&dir.0);
    for _ in 0..3 {
        execute(
            &mut later,
            &mut store,
            1,
            r#"{"action":"add_transaction","data":{"group":"g","amount":1,"split_between":["ann"]}}"#,
        );
    }
    store.snapshot(&later).unwrap();
    drop(store);
    let segment = wal::segment_path(&dir.0, 11);
    assert_eq!(recover::segments(&dir.0).unwrap(), vec![(11, segment.clone())]);
    // An older snapshot (at 7) put back: records 8..10 are in neither.
    fs::write(snapshot::snapshot_path(&dir.0), &old_snapshot).unwrap();
    let before = listing(&dir.0);
    let err = Store::open(&dir.0, FsyncPolicy::Always, u64::MAX).err().expect("must refuse");
    assert!(err.contains(&segment.display().to_string()) && err.contains("8..10"), "{err}");
    assert_eq!(listing(&dir.0), before, "files left untouched");
    assert_ne!(image(&machine), image(&later));
}

#[test]
fn a_gap_between_log_segments_is_refused() {
    let dir = Dir::new("seggap");
    let _ = populated(&dir.0, 3);
    let stray = wal::segment_path(&dir.0, 20);
    fs::write(&stray, b"").unwrap();
    let err = Store::open(&dir.0, FsyncPolicy::Always, u64::MAX).err().expect("must refuse");
    assert!(err.contains(&stray.display().to_string()) && err.contains("8..19"), "{err}");
}

#[test]
fn a_segment_whose_name_disagrees_with_its_records_is_refused() {
    let dir = Dir::new("misnamed");
    let _ = populated(&dir.0, 3);
    let segment = last_segment(&dir.0);
    let renamed = wal::segment_path(&dir.0, 0);
    fs::rename(&segment, &renamed).unwrap();
    let err = Store::open(&dir.0, FsyncPolicy::Always, u64::MAX).err().expect("must refuse");
    assert!(err.contains(&renamed.display().to_string()) && err.contains("byte 0"), "{err}");
}

/// A snapshot ahead of the end of the log (its last records were covered, then lost with
/// `--fsync never`): new records go to a new segment named after them, and the log stays consistent.
#[test]
fn a_log_that_ends_before_the_snapshot_continues_in_a_new_segment() {
    let dir = Dir::new("behind");
    let _ = populated(&dir.0, 5);
    let segment = last_segment(&dir.0);
    let whole = fs::read(&segment).unwrap();
    let Opened { mut store, machine, .. } = open(&dir.0);
    store.snapshot(&machine).unwrap();
    drop(store);
    for (_, path) in recover::segments(&dir.0).unwrap() {
        fs::remove_file(path).unwrap();
    }
    fs::write(&segment, &whole[..line_starts(&whole)[7]]).unwrap();
    let Opened { mut store, machine: mut reopened, .. } = open(&dir.0);
    execute(
        &mut reopened,
        &mut store,
        0,
        r#"{"action":"add_transaction","data":{"group":"g","amount":1,"split_between":["bob"]}}"#,
    );
    store.commit().unwrap();
    drop(store);
    let again = open(&dir.0);
    assert_eq!(image(&again.machine), image(&reopened));
    assert_eq!(again.records_replayed, 1);
}

#[test]
fn corruption_followed_by_good_records_is_refused_and_untouched() {
    let dir = Dir::new("corrupt");
    let _ = populated(&dir.0, 10);
    let segment = last_segment(&dir.0);
    let mut bytes = fs::read(&segment).unwrap();
    // Damage the third record's body.
    let third = bytes.iter().enumerate().filter(|(_, &b)| b == b'\n').nth(1).unwrap().0 + 1;
    bytes[third + 20] ^= 0x20;
    fs::write(&segment, &bytes).unwrap();
    let err = Store::open(&dir.0, FsyncPolicy::Always, u64::MAX).err().expect("must refuse");
    assert!(err.contains(&format!("byte {third}")), "{err}");
    assert!(err.contains(&segment.display().to_string()), "{err}");
    assert_eq!(fs::read(&segment).unwrap(), bytes, "files left untouched");
}

#[test]
fn a_gap_in_sequence_numbers_is_refused() {
    let dir = Dir::new("gap");
    let _ = populated(&dir.0, 5);
    let segment = last_segment(&dir.0);
    let text = fs::read_to_string(&segment).unwrap();
    let without_second: Vec<&str> = text.lines().enumerate().filter(|(i, _)| *i != 1).map(|(_, l)| l).collect();
    fs::write(&segment, without_second.join("\n") + "\n").unwrap();
    let err = Store::open(&dir.0, FsyncPolicy::Always, u64::MAX).err().expect("must refuse");
    assert!(err.contains("expected 2"), "{err}");
}

#[test]
fn snapshot_then_log_equals_straight_log_replay() {
    let straight = Dir::new("straight");
    let snapped = Dir::new("snapped");
    let expected = populated(&straight.0, 30);
    {
        let _ = populated(&snapped.0, 30);
    }
    // Snapshot in the middle, then more records on both.
    let Opened { mut store, mut machine, .. } = open(&snapped.0);
    let took = store.snapshot(&machine).unwrap();
    assert!(took.as_secs() < 10);
    assert_eq!(recover::segments(&snapped.0).unwrap().len(), 1, "covered segments removed");
    execute(&mut machine, &mut store, 1, r#"{"action":"delete_transaction","data":{"group":"g","index":3}}"#);
    store.commit().unwrap();
    drop(store);
    let Opened { mut store, machine: mut other, .. } = open(&straight.0);
    execute(&mut other, &mut store, 1, r#"{"action":"delete_transaction","data":{"group":"g","index":3}}"#);
    store.commit().unwrap();
    drop(store);
    let from_snapshot = open(&snapped.0);
    assert_eq!(from_snapshot.records_replayed, 1);
    assert_eq!(image(&from_snapshot.machine), image(&open(&straight.0).machine));
    assert_ne!(image(&from_snapshot.machine), image(&expected), "the delete is there");
}

/// Groups of very different sizes parsed on any number of threads load the same state as the
/// one-thread `read_image`; a damaged group is refused whichever thread parses it.
#[test]
fn snapshot_groups_parse_the_same_on_any_number_of_threads() {
    let dir = Dir::new("threads");
    let Opened { mut store, mut machine, .. } = open(&dir.0);
    for (id, name) in ["ann", "bob"].iter().enumerate() {
        let record =
            Record::UserCreated { user: id as u32, name: name.to_string(), password_hash: "$argon2id$x".into() };
        machine.apply(&record).unwrap();
    }
    for (g, transactions) in [0, 40, 1, 7, 0, 25].into_iter().enumerate() {
        execute(&mut machine, &mut store, 0, &format!(r#"{{"action":"create_group","data":{{"group":"g{g}"}}}}"#));
        execute(&mut machine, &mut store, 1, &format!(r#"{{"action":"join_group","data":{{"group":"g{g}"}}}}"#));
        for i in 0..transactions {
            let frame = format!(
                r#"{{"action":"add_transaction","data":{{"group":"g{g}","amount":"{}.25","split_between":["bob"],"include_payer":true}}}}"#,
                i + 1
            );
            execute(&mut machine, &mut store, (i % 2) as u32, &frame);
        }
    }
    let expected = image(&machine);
    assert_eq!(image(&read_image(expected.as_bytes()).unwrap()), expected);
    let binary = binary_image(&machine);
    for threads in 1..=8 {
        let loaded = snapshot::read_image_on(expected.as_bytes(), threads).unwrap();
        assert_eq!(image(&loaded), expected, "{threads} threads");
        let loaded = snapshot::read_image_on(&binary, threads).unwrap();
        assert_eq!(image(&loaded), expected, "binary, {threads} threads");
    }
    let damaged = expected.replacen(r#""name":"g3""#, r#""name":3"#, 1);
    assert_ne!(damaged, expected);
    for threads in 1..=8 {
        assert!(snapshot::read_image_on(damaged.as_bytes(), threads).is_err(), "{threads} threads");
    }
}

#[test]
fn damaged_snapshot_and_newer_formats_are_refused() {
    let dir = Dir::new("formats");
    let machine = populated(&dir.0, 3);
    let Opened { mut store, .. } = open(&dir.0);
    store.snapshot(&machine).unwrap();
    drop(store);
    let path = snapshot::snapshot_path(&dir.0);
    let good = fs::read(&path).unwrap();
    let mut damaged = good.clone();
    let n = damaged.len();
    damaged[n - 5] ^= 1;
    fs::write(&path, &damaged).unwrap();
    let err = Store::open(&dir.0, FsyncPolicy::Always, u64::MAX).err().expect("must refuse");
    assert!(err.contains("damaged"), "{err}");
    let newer = String::from_utf8_lossy(&good).replacen("splitd-snapshot 2 ", "splitd-snapshot 9 ", 1);
    fs::write(&path, newer.as_bytes()).unwrap();
    let err = Store::open(&dir.0, FsyncPolicy::Always, u64::MAX).err().expect("must refuse");
    assert!(err.contains("newer"), "{err}");
    fs::write(&path, &good).unwrap();
    fs::write(dir.0.join("FORMAT"), "splitd-data 2\n").unwrap();
    let err = Store::open(&dir.0, FsyncPolicy::Always, u64::MAX).err().expect("must refuse");
    assert!(err.contains("newer"), "{err}");
}

#[test]
fn a_second_server_on_the_same_directory_is_refused() {
    let dir = Dir::new("lock");
    let first = open(&dir.0);
    let err = Store::open(&dir.0, FsyncPolicy::Always, u64::MAX).err().expect("must refuse");
    assert!(err.contains("in use"), "{err}");
    drop(first);
}

/// The figures for docs/benchmarks.md: snapshot stall and restart time at 1M transactions.
/// `cargo test --release -p splitd --lib -- --ignored --nocapture million`
#[test]
#[ignore = "measurement: builds a 1M-transaction state (release build recommended)"]
fn million_transactions_snapshot_and_recovery() {
    use std::time::Instant;
    let transactions: usize =
        std::env::var("SPLITD_MEASURE_TRANSACTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let dir = Dir::new("million");
    let Opened { mut store, mut machine, .. } = open(&dir.0);
    for (id, name) in ["ann", "bob", "cat", "dan"].iter().enumerate() {
        let record =
            Record::UserCreated { user: id as u32, name: name.to_string(), password_hash: "$argon2id$x".into() };
        machine.apply(&record).unwrap();
        store.append(&[record]);
    }
    execute(&mut machine, &mut store, 0, r#"{"action":"create_group","data":{"group":"g"}}"#);
    for user in 1..4 {
        execute(&mut machine, &mut store, user, r#"{"action":"join_group","data":{"group":"g"}}"#);
    }
    let started = Instant::now();
    for i in 0..transactions {
        let frame = format!(
            r#"{{"action":"add_transaction","data":{{"group":"g","amount":"{}.{:02}","description":"expense {i}","split_between":["bob","cat","dan"],"include_payer":true}}}}"#,
            1 + i % 500,
            i % 100
        );
        execute(&mut machine, &mut store, (i % 4) as u32, &frame);
        if i % 10_000 == 0 {
            store.commit().unwrap();
        }
    }
    store.commit().unwrap();
    eprintln!("filled {transactions} transactions through execute + log in {:?}", started.elapsed());
    let log_bytes: u64 = recover::segments(&dir.0).unwrap().iter().map(|(_, p)| fs::metadata(p).unwrap().len()).sum();
    drop(store);

    let started = Instant::now();
    let reopened = open(&dir.0);
    eprintln!("recovery from the log alone ({log_bytes} bytes): {:?}", started.elapsed());
    assert_eq!(reopened.records_replayed as usize, transactions + 8);
    let Opened { mut store, machine, .. } = reopened;

    // What the running server does: fork, and let the child write.
    let stall = store.start_background_snapshot(&machine).unwrap();
    let started = Instant::now();
    store.wait_background();
    eprintln!("background snapshot: loop stall (fork) {stall:?}; child finished {:?} later", started.elapsed());
    assert!(snapshot::snapshot_path(&dir.0).exists());

    let started = Instant::now();
    let bytes = snapshot::encode(&machine, 0).unwrap();
    let encode = started.elapsed();
    let took = store.snapshot(&machine).unwrap();
    eprintln!(
        "snapshot: encode {encode:?} ({} bytes); whole snapshot (encode + write + fsync + rename + log removal) {took:?}",
        bytes.len()
    );
    drop(store);

    let started = Instant::now();
    let reopened = open(&dir.0);
    eprintln!("recovery from the snapshot: {:?}", started.elapsed());
    assert_eq!(image(&reopened.machine), image(&machine));
}

/// A snapshot in the JSON format (1) of the build before loads to the state it was written from, and
/// the next snapshot is binary (format 2) and loads to the same state again.
#[test]
fn a_json_snapshot_loads_and_the_next_one_is_binary() {
    let dir = Dir::new("json-snapshot");
    let machine = {
        let Opened { mut store, mut machine, .. } = open(&dir.0);
        for (id, name) in ["ann", "bob", "cy"].iter().enumerate() {
            let record =
                Record::UserCreated { user: id as u32, name: name.to_string(), password_hash: "$argon2id$x".into() };
            machine.apply(&record).unwrap();
            store.append(&[record]);
        }
        execute(&mut machine, &mut store, 0, r#"{"action":"create_group","data":{"group":"g","currency":"EUR"}}"#);
        for user in [1, 2] {
            execute(&mut machine, &mut store, user, r#"{"action":"join_group","data":{"group":"g"}}"#);
        }
        let frames = [
            r#"{"action":"add_transaction","data":{"group":"g","amount":"10.01","description":"dîner","split_between":["bob","cy"],"include_payer":true,"key":"k1"}}"#,
            r#"{"action":"add_transaction","data":{"group":"g","amount":7,"split":{"mode":"percent","percents":{"bob":40,"cy":60}},"date":"2026-11-30"}}"#,
            r#"{"action":"add_transaction","data":{"group":"g","amount":9,"split":{"mode":"shares","shares":{"ann":1,"cy":2}},"paid_by":{"bob":4,"cy":5}}}"#,
            r#"{"action":"add_transaction","data":{"group":"g","amount":5,"split":{"mode":"exact","amounts":{"ann":2,"bob":3}}}}"#,
            r#"{"action":"edit_transaction","data":{"group":"g","id":2,"amount":8,"description":"taxi"}}"#,
            r#"{"action":"delete_transaction","data":{"group":"g","id":4}}"#,
            r#"{"action":"record_payment","data":{"group":"g","to":"bob","amount":"1.50","key":"p1"}}"#,
            r#"{"action":"record_payment","data":{"group":"g","to":"cy","amount":"2.00"}}"#,
            r#"{"action":"delete_payment","data":{"group":"g","id":2}}"#,
            r#"{"action":"settle","data":{"group":"g","record":true}}"#,
        ];
        for frame in frames {
            execute(&mut machine, &mut store, 0, frame);
        }
        store.commit().unwrap();
        machine
    };
    // The directory as the build before left it after a clean stop: a format-1 snapshot (its header,
    // its JSON body) and no log before it.
    let mut body = Vec::new();
    write_json_image(&machine, &mut body).unwrap();
    let header = format!("splitd-snapshot 1 {} {:08x} {}\n", 0, crc32c::crc32c(&body), body.len());
    let mut old = header.into_bytes();
    old.extend_from_slice(&body);
    for (_, segment) in recover::segments(&dir.0).unwrap() {
        fs::remove_file(segment).unwrap();
    }
    fs::write(snapshot::snapshot_path(&dir.0), &old).unwrap();

    let Opened { mut store, machine: loaded, records_replayed, .. } = open(&dir.0);
    assert_eq!(records_replayed, 0);
    assert_eq!(image(&loaded), image(&machine), "the JSON snapshot loads to the state it was written from");
    store.snapshot(&loaded).unwrap();
    drop(store);
    let written = fs::read(snapshot::snapshot_path(&dir.0)).unwrap();
    assert!(written.starts_with(b"splitd-snapshot 2 "), "the next snapshot is binary");
    let body_at = written.iter().position(|&b| b == b'\n').unwrap() + 1;
    assert_eq!(&written[body_at..], &binary_image(&machine)[..], "its body is the binary image");
    assert!(written.len() < old.len(), "and smaller ({} vs {} bytes)", written.len(), old.len());
    let again = open(&dir.0).machine;
    assert_eq!(image(&again), image(&machine), "the binary snapshot loads to the same state");
    assert_eq!(binary_image(&again), binary_image(&machine));
}

/// Any damaged byte of a binary image is refused (a section's checksum, its head, the header), never
/// loaded as some other state, on any number of threads.
#[test]
fn a_damaged_binary_image_is_refused() {
    let dir = Dir::new("binary-damage");
    let machine = populated(&dir.0, 5);
    let good = binary_image(&machine);
    assert_eq!(binary_image(&read_image(&good).unwrap()), good);
    for at in 0..good.len() {
        let mut damaged = good.clone();
        damaged[at] ^= 0x10;
        for threads in [1, 3] {
            assert!(snapshot::read_image_on(&damaged, threads).is_err(), "byte {at}, {threads} threads");
        }
    }
    assert!(read_image(&good[..good.len() - 1]).is_err(), "cut short");
}

/// A rule's template as logs before the category and currency wrote it still reads (without
/// them), and the new fields are written only when set.
#[test]
fn a_template_without_category_or_currency_reads_and_writes_as_before() {
    use crate::machine::recurring::{RuleCurrency, Template};
    use crate::machine::Rate;
    let old = r#"{"amount":1000,"description":"rent","sharing":{"equal":{"members":null,"include_payer":true}}}"#;
    let template: Template = serde_json::from_str(old).expect("an old template");
    assert_eq!((template.category.as_deref(), template.currency.as_ref()), (None, None));
    assert_eq!(serde_json::to_string(&template).expect("json"), old);
    let yen = Template {
        category: Some("travel".into()),
        currency: Some(RuleCurrency { currency: "JPY".into(), rate: Some(Rate { digits: 61, scale: 4 }) }),
        ..template
    };
    let text = serde_json::to_string(&yen).expect("json");
    assert_eq!(serde_json::from_str::<Template>(&text).expect("reads back"), yen);
}
