//! `reconnect`: N clients log in with their passwords and keep the session tokens; the server restarts
//! (SIGTERM, so it comes back from its snapshot); all N reconnect at once and `resume` with their
//! tokens. Reported: the time until every one is logged in again, beside the time the same N took to
//! log in with passwords (each an argon2id hash on the server's worker threads).
//!
//! Needs --server-bin: the harness starts the server, restarts it, and stops it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use serde_json::Value;

use super::{Ctx, Result, Script};
use crate::hist::Histogram;
use crate::net::{self, read_lines, Classifier, Conn, Kind};
use crate::proto;
use crate::report::{round1, thousands, Report};
use crate::server;

pub fn reconnect(ctx: &Ctx) -> Result<Report> {
    let bin = ctx.server_bin.as_ref().ok_or("reconnect needs --server-bin (the harness restarts the server)")?;
    let dir = server::fresh_dir(ctx.data_dir.as_deref(), &format!("splitbench-reconnect-{}", ctx.prefix))?;
    let mut args: Vec<String> = ["--hash-threads", "2"].iter().map(|s| s.to_string()).collect();
    args.extend(ctx.server_args.iter().cloned());
    let n = ctx.connections;
    let result = (|| -> Result<Report> {
        let mut first = server::spawn(bin, &dir, &args, Duration::from_secs(120))?;
        let setup = Ctx { addr: first.addr, ..ctx.clone_for_fill() };
        // Signed-up connections are closed a chunk at a time: left open without a login they would be
        // closed by the server's login timeout while later signups wait for their hashes.
        let started = Instant::now();
        for chunk in (0..n).collect::<Vec<_>>().chunks(ctx.setup_window) {
            let mut pool = setup.pool()?;
            let signups = chunk.iter().map(|&i| Script { conn: None, bytes: proto::signup(&ctx.user(i)), replies: 1 });
            setup.scripts(&mut pool, signups.collect(), "set-up: sign up")?;
        }
        let signup_secs = started.elapsed().as_secs_f64();

        let logins: Vec<Vec<u8>> = (0..n).map(|i| proto::login(&ctx.user(i))).collect();
        let login = play(first.addr, &logins, ctx.setup_window, ctx.setup_timeout, "password login", ctx.quiet)?;
        let tokens = login.replies.iter().map(|reply| token_of(reply)).collect::<Result<Vec<String>>>()?;

        let shutdown = first.terminate(Duration::from_secs(600))?;
        let mut second = server::spawn(bin, &dir, &args, Duration::from_secs(600))?;
        let resumes: Vec<Vec<u8>> = tokens.iter().map(|t| proto::resume(t)).collect();
        // Every client at once, as after a restart: the window is all of them.
        let resumed = play(second.addr, &resumes, n, ctx.setup_timeout, "resume", ctx.quiet)?;
        if let Some(bad) = resumed.replies.iter().find(|r| !is_ok(r)) {
            return Err(format!("resume refused: {}", String::from_utf8_lossy(bad)));
        }
        second.terminate(Duration::from_secs(600))?;

        let mut report = Report::new("reconnect");
        report.row("server", format!("{} {}", bin.display(), args.join(" ")));
        report.set("prefix", ctx.prefix.clone());
        report.row("clients", thousands(n as u64));
        report.set("clients", n);
        report.row("set-up", format!("{signup_secs:.2} s to sign up"));
        report.set("signup_secs", signup_secs);
        phase_rows(&mut report, "password login", "login", &login, n, ctx.setup_window);
        report.row("restart", format!("{:.3} s to stop, {:.3} s to listening", shutdown.as_secs_f64(), ready(&second)));
        report.set("shutdown_secs", shutdown.as_secs_f64());
        report.set("restart_secs", ready(&second));
        phase_rows(&mut report, "resume with token", "resume", &resumed, n, n);
        report.set("errors", 0);
        Ok(report)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn ready(spawned: &server::Spawned) -> f64 {
    (spawned.ready_after.as_secs_f64() * 1000.0).round() / 1000.0
}

fn phase_rows(report: &mut Report, name: &str, key: &str, phase: &Played, n: usize, window: usize) {
    let secs = phase.took.as_secs_f64();
    let rate = n as f64 / secs.max(1e-9);
    report.row(
        name,
        format!(
            "all {} logged in {secs:.3} s after the first connect ({} /s, {window} at once)",
            thousands(n as u64),
            thousands(rate.round() as u64)
        ),
    );
    report.set(&format!("{key}_secs"), secs);
    report.set(&format!("{key}_rate"), round1(rate));
    report.latency(&format!("  each {key}"), &format!("{key}_latency"), &phase.each);
}

fn is_ok(reply: &[u8]) -> bool {
    Classifier::new(false).classify(reply) == Kind::Ok
}

fn token_of(reply: &[u8]) -> Result<String> {
    let value: Value = serde_json::from_slice(reply).map_err(|e| format!("login reply is not JSON: {e}"))?;
    match value.get("token").and_then(Value::as_str) {
        Some(token) if is_ok(reply) => Ok(token.to_string()),
        _ => Err(format!("login gave no token: {}", String::from_utf8_lossy(reply))),
    }
}

/// What `play` saw: every reply, in request order, the time from the first connect to the last reply,
/// and each connection's time from its connect to its reply.
struct Played {
    replies: Vec<Vec<u8>>,
    took: Duration,
    each: Histogram,
}

/// Sends each request line on a connection of its own, at most `window` unanswered at once, and waits
/// for every reply. Answered connections stay open until all have answered, so the server holds them
/// all logged in at once, as it would after a real reconnect.
fn play(
    addr: SocketAddr,
    lines: &[Vec<u8>],
    window: usize,
    timeout: Duration,
    label: &str,
    quiet: bool,
) -> Result<Played> {
    let poll_err = |e: std::io::Error| format!("{label}: poll: {e}");
    let mut poll = Poll::new().map_err(poll_err)?;
    let mut events = Events::with_capacity(4096);
    let (mut conns, mut opened_at) = (Vec::<Conn>::with_capacity(lines.len()), Vec::with_capacity(lines.len()));
    let mut replies: Vec<Option<Vec<u8>>> = vec![None; lines.len()];
    let (mut buf, classifier) = (vec![0u8; 64 * 1024], Classifier::new(false));
    let (mut done, mut each, mut answered) = (0usize, Histogram::new(), vec![false; lines.len()]);
    let started = Instant::now();
    let mut next_note = started + Duration::from_secs(2);
    while done < lines.len() {
        while conns.len() < lines.len() && conns.len() - done < window.max(1) {
            let key = conns.len();
            let mut stream =
                net::connect(addr, Duration::from_secs(10)).map_err(|e| format!("{label}: connect: {e}"))?;
            poll.registry()
                .register(&mut stream, Token(key), Interest::READABLE | Interest::WRITABLE)
                .map_err(poll_err)?;
            let mut conn = Conn::new(stream, None);
            conn.out.extend_from_slice(&lines[key]);
            conn.flush().map_err(|e| format!("{label}: write: {e}"))?;
            conns.push(conn);
            opened_at.push(Instant::now());
        }
        if started.elapsed() > timeout {
            return Err(format!("{label}: timed out with {done} of {} answered", lines.len()));
        }
        if !quiet && Instant::now() >= next_note {
            eprintln!("splitbench: {label}: {done}/{} answered", lines.len());
            next_note += Duration::from_secs(2);
        }
        match poll.poll(&mut events, Some(Duration::from_millis(100))) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(poll_err(e)),
        }
        for event in events.iter() {
            let key = event.token().0;
            let conn = &mut conns[key];
            if event.is_writable() && conn.pending() {
                conn.flush().map_err(|e| format!("{label}: write: {e}"))?;
            }
            let slot = &mut replies[key];
            let eof = read_lines(&mut conn.stream, &mut conn.carry, &mut buf, |line| {
                if slot.is_none() && classifier.classify(line) != Kind::Push {
                    *slot = Some(line.to_vec());
                }
            })
            .map_err(|e| format!("{label}: read: {e}"))?;
            if slot.is_some() && !answered[key] {
                answered[key] = true;
                done += 1;
                each.record(opened_at[key].elapsed().as_nanos() as u64);
            } else if eof && slot.is_none() {
                return Err(format!("{label}: the server closed a connection before answering"));
            }
        }
    }
    let took = started.elapsed();
    let replies = replies.into_iter().map(Option::unwrap_or_default).collect();
    Ok(Played { replies, took, each })
}
