//! `splitc watch GROUP`: one line per change to the group, never missing one. It remembers the last
//! `seq` printed; after a disconnect or a server restart it reconnects with backoff, logs in again
//! and resumes with `subscribe {after}`; when the server no longer keeps what it missed (`gap`) it
//! says so on stderr, reloads the group's current `seq` and goes on from there. It gives up (exit 3,
//! with the reason) only after `--give-up SECS` without a server.
//!
//! The one follower of a group, for both `splitc watch` and the interactive mode's group screen (which
//! runs it on a thread of its own, on a second connection, printing through its console: [`Screen`]),
//! until `Watch::stop` is set.
//!
//! Owns the reconnect loop and the printing order. Does not own how to dial or log in (`conn`,
//! `oneshot::log_in`) nor how a notification reads (`view`), nor where the lines go ([`Screen`]).

use std::sync::atomic::{AtomicBool, Ordering};
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

/// Where a follower's output goes: `watch` writes changes to stdout and notes to stderr; the
/// interactive mode prints both at its prompt.
pub trait Screen: Send + Sync {
    /// One change of the group (or a plan asked for), in order, once; `line` is how it reads.
    fn change(&self, message: &Object, line: &str);
    /// What the follower itself has to say: reconnecting, reconnected, reloaded after a gap.
    fn note(&self, text: &str);
}

/// `splitc watch`'s screen: one line per change on stdout (sanitised there), notes on stderr.
pub struct Terminal;

impl Screen for Terminal {
    fn change(&self, _message: &Object, line: &str) {
        crate::term::out(&format!("{line}\n"));
    }

    fn note(&self, text: &str) {
        warn(&format!("splitc: {text}"));
    }
}

/// What has been printed, shared by the reader thread (live notifications) and the loop (catch-ups),
/// so each change is printed once and in order.
struct Seen {
    group: String,
    json: bool,
    screen: Arc<dyn Screen>,
    /// Set when the follower is told to stop: nothing more is printed.
    stop: Arc<AtomicBool>,
    /// The `seq` of the last change printed; `None` until the first subscribe.
    last: Option<u64>,
    /// A live notification skipped past a change: subscribe again from `last`.
    resync: bool,
    /// The group's currency, to write a plan's amounts as the other lines do.
    currency: Option<String>,
}

impl Seen {
    /// Prints `message` if it is the next change of the group (or not a change: a plan asked for);
    /// skips one already printed; a later one flags a resubscribe.
    fn offer(&mut self, message: Object, live: bool) {
        if view::pushed_group(&message) != Some(self.group.as_str()) || self.stop.load(Ordering::SeqCst) {
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
            json_safe(&Value::Object(message.clone()).to_string()).into_owned()
        } else {
            view::notification_line_in(&message, self.currency.as_deref())
        };
        self.screen.change(&message, &line);
    }
}

/// The options of one `watch`.
pub struct Watch<'a> {
    pub target: &'a conn::Target,
    pub group: &'a str,
    pub json: bool,
    pub give_up: Duration,
    pub screen: Arc<dyn Screen>,
    /// Said after "watching GROUP" once it follows (`; Ctrl-C to stop`).
    pub hint: &'a str,
    /// Set by the owner to end the follower (`run` then returns `Ok(0)`); never set for `watch`.
    pub stop: Arc<AtomicBool>,
}

/// Runs until interrupted (or `stop`: `Ok(0)`); `Ok(3)` after `give_up` without a server. `log_in`
/// logs a fresh connection in (a refusal ends the watch: exit 1).
pub fn run(watch: &Watch, mut log_in: impl FnMut(&mut Conn) -> Result<(), Error>) -> Result<i32, Error> {
    let seen = Arc::new(Mutex::new(Seen {
        group: watch.group.into(),
        json: watch.json,
        screen: Arc::clone(&watch.screen),
        stop: Arc::clone(&watch.stop),
        last: None,
        resync: false,
        currency: None,
    }));
    let group = sanitize(watch.group);
    let mut first = true;
    loop {
        let mut conn = match connect(watch, &seen) {
            Ok(Some(conn)) => conn,
            Ok(None) => return Ok(0),
            Err(reason) => {
                watch.screen.note(&format!("no server for {}s: {reason}", watch.give_up.as_secs()));
                return Ok(3);
            }
        };
        let resumed = log_in(&mut conn).and_then(|()| catch_up(&mut conn, watch.group, &seen));
        match resumed {
            Ok(()) if first => {
                watch.screen.note(&format!("watching {group}{}", watch.hint));
                first = false;
            }
            Ok(()) => watch.screen.note(&format!("reconnected; watching {group} again")),
            Err(e @ Error::Server { .. }) => return Err(e),
            Err(e) => {
                watch.screen.note(&format!("{e}; reconnecting"));
                continue;
            }
        }
        let reason = follow(&mut conn, watch, &seen);
        if watch.stop.load(Ordering::SeqCst) {
            return Ok(0);
        }
        watch.screen.note(&format!("{}; reconnecting", sanitize(&reason)));
    }
}

/// Dials until a connection is made, waiting longer after each failure; `Err(last reason)` after
/// `give_up` of failures, `Ok(None)` once told to stop.
fn connect(watch: &Watch, seen: &Arc<Mutex<Seen>>) -> Result<Option<Conn>, String> {
    let started = Instant::now();
    let mut wait = BACKOFF_FIRST;
    loop {
        if watch.stop.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let shared = Arc::clone(seen);
        let handler: Handler = Box::new(move |notice| {
            if let (Notice::Pushed(message), Ok(mut seen)) = (notice, shared.lock()) {
                seen.offer(message, true);
            }
        });
        match Conn::connect(watch.target, handler) {
            Ok(conn) => return Ok(Some(conn)),
            Err(e) if started.elapsed() >= watch.give_up => return Err(e.to_string()),
            Err(_) => {
                pause(wait.min(watch.give_up.saturating_sub(started.elapsed())), &watch.stop);
                wait = (wait * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Sleeps for `length`, in steps of `CHECK_EVERY` so that a stop is noticed soon.
fn pause(length: Duration, stop: &AtomicBool) {
    let until = Instant::now() + length;
    while !stop.load(Ordering::SeqCst) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        thread::sleep(left.min(CHECK_EVERY));
    }
}

/// Subscribes from the last change printed (from now, the first time), printing what was missed,
/// page after page; after a `gap`, says so and goes on from the group's current `seq`.
fn catch_up(conn: &mut Conn, group: &str, seen: &Arc<Mutex<Seen>>) -> Result<(), Error> {
    loop {
        let last = lock(seen).last;
        let after = match last {
            Some(last) => last,
            None => {
                let (seq, currency) = group_state(conn, group)?;
                lock(seen).currency = currency;
                seq
            }
        };
        let reply = match conn.request(Action::Subscribe, Some(json!({ "group": group, "after": after, "limit": 500 })))
        {
            Err(Error::Server { code: Some(Code::Gap), message }) => {
                let (now, _) = group_state(conn, group)?;
                let mut seen = lock(seen);
                seen.screen.note(&format!(
                    "missed changes after {after} are no longer kept ({message}); reloaded, continuing after {now}"
                ));
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

/// The group's current `seq` (a read carries it; 0 from an older server that does not say) and
/// its currency.
fn group_state(conn: &mut Conn, group: &str) -> Result<(u64, Option<String>), Error> {
    let reply = conn.request(Action::GroupInfo, Some(json!({ "group": group })))?;
    let currency = reply.get("currency").and_then(Value::as_str).map(str::to_string);
    Ok((reply.get("seq").and_then(Value::as_u64).unwrap_or(0), currency))
}

/// Waits while the connection lives, subscribing again when a live notification skipped a change;
/// returns why it ended.
fn follow(conn: &mut Conn, watch: &Watch, seen: &Arc<Mutex<Seen>>) -> String {
    while conn.is_alive() {
        if watch.stop.load(Ordering::SeqCst) {
            return "stopped".into();
        }
        if lock(seen).resync {
            if let Err(e) = catch_up(conn, watch.group, seen) {
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
