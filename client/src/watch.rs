//! `splitc watch GROUP`: one line per change to the group, never missing one. It remembers the last
//! `seq` printed; after a disconnect or a server restart it reconnects with backoff, logs in again
//! and resumes with `subscribe {after}`; when the server no longer keeps what it missed (`gap`) it
//! says so on stderr, reloads the group's current `seq` and goes on from there. It gives up (exit 3,
//! with the reason) only after `--give-up SECS` without a server.
//!
//! Owns the reconnect loop and the printing order. Does not own how to dial or log in (`conn`,
//! `oneshot::log_in`) nor how a notification reads (`view`).

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vocab::{Action, Code};

use crate::conn::{self, Conn, Error, Handler, Notice, Object};
use crate::term::{json_safe, sanitize, warn};
use crate::view;

/// The first wait before reconnecting; doubled after each failure up to `BACKOFF_MAX`.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How often the watcher looks whether its connection ended or needs a resubscribe.
const CHECK_EVERY: Duration = Duration::from_millis(50);

/// What has been printed, shared by the reader thread (live notifications) and the loop (catch-ups),
/// so each change is printed once and in order.
struct Seen {
    group: String,
    json: bool,
    /// The `seq` of the last change printed; `None` until the first subscribe.
    last: Option<u64>,
    /// A live notification skipped past a change: subscribe again from `last`.
    resync: bool,
}

impl Seen {
    /// Prints `message` if it is the next change of the group (or not a change: a plan asked for);
    /// skips one already printed; a later one flags a resubscribe.
    fn offer(&mut self, message: Object, live: bool) {
        if view::pushed_group(&message) != Some(self.group.as_str()) {
            return;
        }
        let seq = message.get("seq").and_then(Value::as_u64);
        let change = message.get("event").and_then(Value::as_str) != Some("settle_requested");
        match (change, seq, self.last) {
            (true, Some(seq), Some(last)) if seq <= last => return,
            (true, Some(seq), Some(last)) if seq > last + 1 => {
                // Before the catch-up's reply this is covered by it; after, something was missed.
                self.resync |= live;
                return;
            }
            (true, Some(seq), _) => self.last = Some(seq),
            // Not subscribed yet: the catch-up will hold it. An older server (no seq): print.
            (true, None, Some(_)) | (false, ..) | (true, None, None) => {}
        }
        let line = if self.json {
            json_safe(&Value::Object(message).to_string()).into_owned()
        } else {
            view::notification_line(&message)
        };
        crate::term::out(&format!("{line}\n"));
    }
}

/// The options of one `watch`.
pub struct Watch<'a> {
    pub target: &'a conn::Target,
    pub group: &'a str,
    pub json: bool,
    pub give_up: Duration,
}

/// Runs until interrupted; `Ok(3)` after `give_up` without a server. `log_in` logs a fresh
/// connection in (a refusal ends the watch: exit 1).
pub fn run(watch: &Watch, mut log_in: impl FnMut(&mut Conn) -> Result<(), Error>) -> Result<i32, Error> {
    let seen = Arc::new(Mutex::new(Seen { group: watch.group.into(), json: watch.json, last: None, resync: false }));
    let mut first = true;
    loop {
        let mut conn = match connect(watch, &seen) {
            Ok(conn) => conn,
            Err(reason) => {
                warn(&format!("splitc: no server for {}s: {reason}", watch.give_up.as_secs()));
                return Ok(3);
            }
        };
        let resumed = log_in(&mut conn).and_then(|()| catch_up(&mut conn, watch.group, &seen));
        match resumed {
            Ok(()) if first => {
                warn(&format!("splitc: watching {}; Ctrl-C to stop", sanitize(watch.group)));
                first = false;
            }
            Ok(()) => warn(&format!("splitc: reconnected; watching {} again", sanitize(watch.group))),
            Err(e @ Error::Server { .. }) => return Err(e),
            Err(e) => {
                warn(&format!("splitc: {e}; reconnecting"));
                continue;
            }
        }
        let reason = follow(&mut conn, watch.group, &seen);
        warn(&format!("splitc: {}; reconnecting", sanitize(&reason)));
    }
}

/// Dials until a connection is made, waiting longer after each failure; `Err(last reason)` after
/// `give_up` of failures.
fn connect(watch: &Watch, seen: &Arc<Mutex<Seen>>) -> Result<Conn, String> {
    let started = Instant::now();
    let mut wait = BACKOFF_FIRST;
    loop {
        let shared = Arc::clone(seen);
        let handler: Handler = Box::new(move |notice| {
            if let (Notice::Pushed(message), Ok(mut seen)) = (notice, shared.lock()) {
                seen.offer(message, true);
            }
        });
        match Conn::connect(watch.target, handler) {
            Ok(conn) => return Ok(conn),
            Err(e) if started.elapsed() >= watch.give_up => return Err(e.to_string()),
            Err(_) => {
                thread::sleep(wait.min(watch.give_up.saturating_sub(started.elapsed())));
                wait = (wait * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Subscribes from the last change printed (from now, the first time), printing what was missed,
/// page after page; after a `gap`, says so and goes on from the group's current `seq`.
fn catch_up(conn: &mut Conn, group: &str, seen: &Arc<Mutex<Seen>>) -> Result<(), Error> {
    loop {
        let last = lock(seen).last;
        let after = match last {
            Some(last) => last,
            None => current_seq(conn, group)?,
        };
        let reply = match conn.request(Action::Subscribe, Some(json!({ "group": group, "after": after, "limit": 500 })))
        {
            Err(Error::Server { code: Some(Code::Gap), message }) => {
                let now = current_seq(conn, group)?;
                warn(&format!("splitc: missed changes after {after} are no longer kept ({message}); reloaded, continuing after {now}"));
                let mut seen = lock(seen);
                seen.last = Some(now);
                seen.resync = false;
                continue;
            }
            other => other?,
        };
        let mut seen = lock(seen);
        seen.last = Some(seen.last.unwrap_or(after).max(after));
        seen.resync = false;
        for event in reply.get("events").and_then(Value::as_array).into_iter().flatten() {
            if let Value::Object(event) = event {
                seen.offer(event.clone(), false);
            }
        }
        if reply.get("more").and_then(Value::as_bool) != Some(true) {
            return Ok(());
        }
    }
}

/// The group's current `seq` (a read carries it); 0 from an older server that does not say.
fn current_seq(conn: &mut Conn, group: &str) -> Result<u64, Error> {
    let reply = conn.request(Action::GetGroupMembers, Some(json!({ "group": group })))?;
    Ok(reply.get("seq").and_then(Value::as_u64).unwrap_or(0))
}

/// Waits while the connection lives, subscribing again when a live notification skipped a change;
/// returns why it ended.
fn follow(conn: &mut Conn, group: &str, seen: &Arc<Mutex<Seen>>) -> String {
    while conn.is_alive() {
        if lock(seen).resync {
            if let Err(e) = catch_up(conn, group, seen) {
                return e.to_string();
            }
        }
        thread::sleep(CHECK_EVERY);
    }
    conn.wait_closed()
}

fn lock(seen: &Arc<Mutex<Seen>>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
