//! Arbitrary bytes through framing, decoding and the state machine, as the event loop drives them.
//! After every frame: no panic, the state's invariants hold (every group's balances sum to zero),
//! a request that was refused changed nothing, and every reply and notification is valid JSON.
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
        Work::Login { password, .. } => {
            WorkDone::LoginChecked((password == "password1").then(|| Secret::from_bytes([password.len() as u8; 32])))
        }
        Work::Rehash { old, .. } => WorkDone::Rehashed((old == "password1").then(|| "$argon2id$fuzz".into())),
        Work::Plan { net, method } => WorkDone::Planned(splitd::settle::plan(&net, method)),
    }
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
            let session = &mut sessions[who];
            let outcome = match machine.execute(session, command, 1_000) {
                Step::Done(outcome) => outcome,
                Step::Offload(job) => machine.resume(session, job.resume, fake_hash(job.work), 1_001),
            };
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
        }
    }
});
