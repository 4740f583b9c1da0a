//! Arbitrary bytes through framing, decoding and the state machine, as the event loop drives them.
//! After every frame: no panic, the state's invariants hold (every group's balances sum to zero),
//! a request that was refused changed nothing, every reply and notification is valid JSON, and each
//! group's changes are numbered without a gap (`seq`: records, history and notifications agree).
#![no_main]

use libfuzzer_sys::fuzz_target;
use splitd::machine::{Machine, Record, Secret, Session, Step, Work, WorkDone};
use splitd::net::frame::{FrameBuf, Next};
use splitd::proto::{decode, write_answer, write_event};
use splitd::store::snapshot::{read_image, write_image};

/// Password work stands in for argon2 (far too slow for fuzzing): hashing is a fixed string,
/// verifying succeeds only for one password. Settlement plans are made for real.
fn fake_hash(work: Work) -> WorkDone {
    match work {
        Work::Hash { .. } => WorkDone::Hashed("$argon2id$fuzz".into()),
        Work::Verify { password, .. } => WorkDone::Verified(password == "password1"),
        Work::Login { password, .. } => WorkDone::LoginChecked((password == "password1").then(fresh_secret)),
        Work::Rehash { old, .. } => WorkDone::Rehashed((old == "password1").then(|| "$argon2id$fuzz".into())),
        Work::Plan { net, method } => WorkDone::Planned(splitd::settle::plan(&net, method)),
    }
}

/// A new token secret for every login, as the OS RNG gives (the same secret twice would be a token
/// issued twice, which the machine refuses).
fn fresh_secret() -> Secret {
    static LOGINS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&LOGINS.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_le_bytes());
    Secret::from_bytes(bytes)
}

fn image(machine: &Machine) -> Vec<u8> {
    let mut out = Vec::new();
    write_image(&machine, &mut out).expect("image");
    out
}

fuzz_target!(|data: &[u8]| {
    let mut machine = Machine::new();
    for (id, name) in ["ann", "bob", "cat"].iter().enumerate() {
        let record = Record::UserCreated { user: id as u32, name: name.to_string(), password_hash: "h".into() };
        machine.apply(&record).expect("seed user");
    }
    // Three connections: two logged in, one not.
    let mut sessions = [Session { user: Some(0), ..Session::default() }, Session { user: Some(1), ..Session::default() }, Session::default()];
    let mut frames = FrameBuf::default();
    let mut clock: i64 = 1_000;
    // The first bytes choose how the input is cut into reads.
    let chunk = 1 + data.first().copied().unwrap_or(0) as usize;
    for piece in data.chunks(chunk) {
        frames.extend(piece);
        loop {
            let bytes = match frames.next_frame(64 * 1024) {
                Next::Frame(bytes) => bytes.to_vec(),
                Next::TooLong => {
                    frames.clear();
                    break;
                }
                Next::Incomplete => break,
            };
            let who = bytes.len() % sessions.len();
            let Ok(command) = decode(&bytes).command else { continue };
            let before = image(&machine);
            let seqs_before: Vec<u64> = machine.groups().iter().map(|(_, g)| g.history.seq()).collect();
            let session = &mut sessions[who];
            let mut outcome = match machine.execute(session, command, 1_000) {
                Step::Done(outcome) => outcome,
                Step::Offload(job) => machine.resume(session, job.resume, fake_hash(job.work), 1_001),
            };
            // The loop's timer after each frame, the clock a frame's length of days on: recurring
            // rules (add_recurring, ...) make their occurrences, checked and replayed like the rest.
            clock += bytes.len() as i64 * 86_400_000;
            if outcome.answer.is_ok() {
                let due = machine.run_due(clock);
                outcome.records.extend(due.records);
                outcome.events.extend(due.events);
            }
            machine.check_invariants().expect("invariants");
            // What goes on the wire is valid JSON: the reply and every notification.
            let mut wire = Vec::new();
            write_answer(&machine, &outcome.answer, None, &mut wire);
            serde_json::from_slice::<serde_json::Value>(&wire).expect("a reply is valid JSON");
            for event in &outcome.events {
                wire.clear();
                assert!(write_event(&machine, event, &mut wire), "an event names nothing that exists");
                serde_json::from_slice::<serde_json::Value>(&wire).expect("a notification is valid JSON");
            }
            if outcome.answer.is_err() {
                assert!(outcome.records.is_empty(), "a refused request produced records");
                assert_eq!(before, image(&machine), "a refused request changed the state");
            }
            // Replaying what was produced on a copy must succeed too.
            let mut replay = read_image(&before).expect("image reloads");
            for record in &outcome.records {
                replay.apply(record).expect("own record replays");
            }
            assert_eq!(image(&replay), image(&machine), "replay equals execution");
            check_seq_gap_free(&machine, &seqs_before, &outcome.records);
        }
    }
});

/// Each record of a group says the number after the group's previous one; every group's history is
/// numbered consecutively up to its `seq`.
fn check_seq_gap_free(machine: &Machine, seqs_before: &[u64], records: &[Record]) {
    let mut next: Vec<u64> = seqs_before.iter().map(|s| s + 1).collect();
    for record in records {
        let Some((group, seq)) = record.group_seq() else { continue };
        let group = group as usize;
        if group >= next.len() {
            next.resize(group + 1, 1);
        }
        assert_eq!(seq, next[group], "group {group}: seq {seq} where {} was next", next[group]);
        next[group] += 1;
    }
    for (id, group) in machine.groups().iter() {
        let ids: Vec<u64> = group.history.entries().iter().map(|e| e.id).collect();
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "group {id}: history numbered with a gap: {ids:?}");
        assert_eq!(ids.last().copied().unwrap_or(0), group.history.seq(), "group {id}: seq is the newest entry");
        if let Some(&expected) = next.get(id as usize) {
            assert!(group.history.seq() + 1 >= expected, "group {id}: seq went back");
        }
    }
}
