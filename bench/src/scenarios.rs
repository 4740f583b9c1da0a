//! The scenarios. Each does its own set-up (users and groups under a run-unique prefix), then measures,
//! and returns a `Report`. Set-up time is always reported apart from the measurement.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use memchr::memmem;
use serde_json::{json, Value};
use vocab::Cents;

use crate::hist::Histogram;
use crate::load::{self, LoadConn, Spec, Stop};
use crate::net::{Kind, Pool, Script, Tls};
use crate::proto;
use crate::report::{latency_json, latency_line, ms, round1, thousands, Report};
use crate::server::{self, Spawned};

mod memory;
mod reconnect;
pub use memory::memory;
pub use reconnect::reconnect;

/// Everything a scenario needs from the command line.
pub struct Ctx {
    pub addr: SocketAddr,
    /// `--tls`: every connection speaks TLS.
    pub tls: Option<Tls>,
    pub pid: Option<u32>,
    pub prefix: String,
    pub connections: usize,
    pub pipeline: usize,
    pub duration: Option<f64>,
    pub requests: Option<u64>,
    pub warmup: f64,
    pub threads: usize,
    pub group_size: usize,
    pub sizes: Vec<usize>,
    pub transactions: u64,
    pub server_bin: Option<PathBuf>,
    pub server_args: Vec<String>,
    pub data_dir: Option<PathBuf>,
    pub raw: bool,
    pub raw_line: String,
    pub setup_window: usize,
    pub setup_timeout: Duration,
    pub report_every: Option<u64>,
    pub quiet: bool,
}

type Result<T> = std::result::Result<T, String>;

/// Below this growth of the server's RSS the idle scenario's bytes per connection is mostly page
/// rounding and allocator noise (RSS moves in 4 KiB pages; a few arenas grow at once).
const IDLE_RSS_MEANINGFUL_KIB: u64 = 256;

impl Ctx {
    /// A progress line on stderr (unless --quiet): what the scenario is doing now.
    fn progress(&self, text: &str) {
        if !self.quiet {
            eprintln!("splitbench: {text}");
        }
    }

    fn user(&self, i: usize) -> String {
        format!("{}_u{i}", self.prefix)
    }

    fn group(&self, i: usize) -> String {
        format!("{}_g{i}", self.prefix)
    }

    fn stop(&self) -> Stop {
        match (self.requests, self.duration) {
            (Some(count), cap) => Stop::Requests { count, cap: Duration::from_secs_f64(cap.unwrap_or(600.0)) },
            (None, duration) => Stop::Duration {
                warmup: Duration::from_secs_f64(self.warmup),
                measure: Duration::from_secs_f64(duration.unwrap_or(10.0)),
            },
        }
    }

    fn spec(&self, label: &str, write_percent: u32) -> Spec {
        Spec {
            pipeline: self.pipeline.max(1),
            write_percent,
            stop: self.stop(),
            report_every: self.report_every,
            label: label.to_string(),
            quiet: self.quiet,
            raw: self.raw,
        }
    }

    fn pool(&self) -> Result<Pool> {
        Pool::new(self.addr, self.raw, self.tls.clone()).map_err(|err| format!("poll: {err}"))
    }

    fn scripts(&self, pool: &mut Pool, scripts: Vec<Script>, label: &str) -> Result<Vec<usize>> {
        pool.run_scripts(scripts, self.setup_window, self.setup_timeout, label, self.quiet)
    }
}

fn concat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

/// One member of a load group: its connection, name, group, and the member it splits with.
struct Member {
    key: usize,
    user: String,
    group: String,
    peer: String,
}

/// `n` connections, each a distinct signed-up, logged-in user; consecutive runs of `group_size` users
/// share a group (the first creates it, the rest join).
fn setup_groups(ctx: &Ctx, pool: &mut Pool, n: usize, group_size: usize) -> Result<Vec<Member>> {
    let group_size = group_size.max(1);
    let scripts = (0..n)
        .map(|i| {
            let user = ctx.user(i);
            let mut parts = vec![proto::signup(&user), proto::login(&user)];
            if i % group_size == 0 {
                parts.push(proto::create_group(&ctx.group(i / group_size)));
            }
            Script { conn: None, replies: parts.len(), bytes: concat(&parts) }
        })
        .collect();
    let keys = ctx.scripts(pool, scripts, "set-up: sign up and log in")?;
    let joins = (0..n)
        .filter(|i| i % group_size != 0)
        .map(|i| Script { conn: Some(keys[i]), bytes: proto::join_group(&ctx.group(i / group_size)), replies: 1 })
        .collect();
    ctx.scripts(pool, joins, "set-up: join groups")?;
    pool.drain_quiet(Duration::from_millis(100), Duration::from_secs(30)).map_err(|e| e.to_string())?;
    Ok((0..n)
        .map(|i| {
            let first = i - i % group_size;
            let members = group_size.min(n - first);
            let peer = first + (i - first + 1) % members;
            Member { key: keys[i], user: ctx.user(i), group: ctx.group(i / group_size), peer: ctx.user(peer) }
        })
        .collect())
}

fn common_rows(report: &mut Report, ctx: &Ctx) {
    report.row("server", ctx.addr.to_string());
    report.set("addr", ctx.addr.to_string());
    report.set("prefix", ctx.prefix.clone());
}

/// `read`, `write`, `mixed` (80 % reads) and `raw` (one raw line, e.g. Redis PING).
pub fn throughput(ctx: &Ctx, scenario: &str) -> Result<Report> {
    let write_percent = match scenario {
        "write" => 100,
        "mixed" => 20,
        _ => 0,
    };
    let mut pool = ctx.pool()?;
    let setup_started = Instant::now();
    let conns: Vec<LoadConn> = if ctx.raw {
        let line: Arc<[u8]> = proto::raw(&ctx.raw_line).into();
        for _ in 0..ctx.connections {
            pool.open().map_err(|err| format!("connect to {}: {err}", ctx.addr))?;
        }
        pool.take_conns()
            .into_iter()
            .enumerate()
            .map(|(i, c)| LoadConn::new(c, Arc::clone(&line), Arc::clone(&line), true, i as u64))
            .collect()
    } else {
        let members = setup_groups(ctx, &mut pool, ctx.connections, ctx.group_size)?;
        let mut taken: Vec<Option<crate::net::Conn>> = pool.take_conns().into_iter().map(Some).collect();
        members
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let read: Arc<[u8]> = proto::view_balances(&m.group).into();
                let write: Arc<[u8]> =
                    proto::add_transaction(&m.group, Cents(1234), "splitbench", &[m.peer.as_str()], true).into();
                let mut conn = taken[m.key].take().expect("one member per connection");
                conn.carry.clear();
                LoadConn::new(conn, read, write, true, i as u64 + 1)
            })
            .collect()
    };
    let setup = setup_started.elapsed();
    drop(pool);
    let spec = ctx.spec(scenario, write_percent);
    let (stats, _conns) = load::run(conns, ctx.threads, &spec).map_err(|err| format!("load: {err}"))?;

    let mut report = Report::new(scenario);
    common_rows(&mut report, ctx);
    report.row(
        "load",
        format!(
            "{} connections, pipeline {}, {} thread(s){}",
            ctx.connections,
            ctx.pipeline,
            ctx.threads,
            if ctx.raw { String::new() } else { format!(", group size {}", ctx.group_size.max(1)) }
        ),
    );
    report.set("connections", ctx.connections);
    report.set("pipeline", ctx.pipeline);
    report.set("threads", ctx.threads);
    report.set("group_size", ctx.group_size);
    report.row("set-up", format!("{:.2} s", setup.as_secs_f64()));
    report.set("setup_secs", setup.as_secs_f64());
    report.row("measured", format!("{:.2} s, {} replies", stats.window.as_secs_f64(), thousands(stats.measured)));
    report.set("measured_secs", stats.window.as_secs_f64());
    report.set("replies", stats.measured);
    report.row("throughput", format!("{} req/s", thousands(stats.throughput().round() as u64)));
    report.set("throughput", round1(stats.throughput()));
    report.latency("latency", "latency", &stats.hist);
    report.row("errors", format!("{} error replies, {} connections closed", stats.errors, stats.closed));
    report.set("errors", stats.errors);
    report.set("closed", stats.closed);
    if let Some(first) = &stats.first_error {
        report.row("first error", first.clone());
        report.set("first_error", first.clone());
    }
    report.row("pushed", thousands(stats.pushes));
    report.set("pushed", stats.pushes);
    if !stats.marks.is_empty() {
        let mut previous = (0u64, 0.0f64);
        let mut segments = Vec::new();
        for &(count, secs) in &stats.marks {
            let rate = (count - previous.0) as f64 / (secs - previous.1).max(1e-9);
            report.row(&format!("  up to {}", thousands(count)), format!("{} req/s", thousands(rate.round() as u64)));
            segments.push(json!({ "replies": count, "at_secs": secs, "rate": round1(rate) }));
            previous = (count, secs);
        }
        report.set("segments", segments);
    }
    Ok(report)
}

/// `fanout`: M members online in one group plus a writer (a second connection of the first member).
/// Each write waits for its reply and for every member's `transaction_added`; the time to the last one
/// is one sample.
pub fn fanout(ctx: &Ctx) -> Result<Report> {
    let m = ctx.connections.max(1);
    let mut pool = ctx.pool()?;
    let setup_started = Instant::now();
    let members = setup_groups(ctx, &mut pool, m, m)?;
    let leader = ctx.user(0);
    let group = ctx.group(0);
    let writer = ctx.scripts(
        &mut pool,
        vec![Script { conn: None, bytes: proto::login(&leader), replies: 1 }],
        "set-up: writer login",
    )?[0];
    // Let every member_joined notification arrive before measuring.
    pool.drain_quiet(Duration::from_millis(300), Duration::from_secs(120)).map_err(|e| e.to_string())?;
    let setup = setup_started.elapsed();

    let mut is_listener = vec![false; pool.conns.len()];
    for member in &members {
        is_listener[member.key] = true;
    }
    let request = proto::add_transaction(&group, Cents(100), "fanout", &[leader.as_str()], false);
    let notification = memmem::Finder::new(b"transaction_added");
    let (mut to_last, mut to_first, mut ack, mut every) =
        (Histogram::new(), Histogram::new(), Histogram::new(), Histogram::new());
    let mut errors = 0u64;
    let mut first_error = None;
    let started = Instant::now();
    let (max_rounds, until) = match ctx.stop() {
        Stop::Requests { count, cap } => (count, started + cap),
        Stop::Duration { measure, .. } => (u64::MAX, started + measure),
    };
    let mut rounds = 0u64;
    let mut next_progress = started + Duration::from_secs(1);
    let Pool { poll, events, conns, buf, classifier, .. } = &mut pool;
    while rounds < max_rounds && Instant::now() < until {
        let t0 = Instant::now();
        conns[writer].out.extend_from_slice(&request);
        conns[writer].flush().map_err(|err| format!("write: {err}"))?;
        let mut remaining = members.len();
        let mut acked = false;
        let mut first = None;
        let mut last = t0;
        while remaining > 0 || !acked {
            if t0.elapsed() > Duration::from_secs(30) {
                return Err(format!(
                    "fanout: after 30 s, {remaining} of {} members had no notification (acknowledged: {acked})",
                    members.len()
                ));
            }
            poll.poll(events, Some(Duration::from_millis(100))).map_err(|err| format!("poll: {err}"))?;
            for event in events.iter() {
                let key = event.token().0;
                let conn = &mut conns[key];
                if conn.closed {
                    continue;
                }
                if event.is_writable() && conn.pending() {
                    conn.flush().map_err(|err| format!("write: {err}"))?;
                }
                let mut delivered = 0usize;
                let mut replied = None;
                let eof = conn
                    .read_lines(buf, |line| {
                        if key == writer {
                            match classifier.classify(line) {
                                Kind::Push => {}
                                Kind::Ok => replied = Some(true),
                                Kind::Error => {
                                    replied = Some(false);
                                    if first_error.is_none() {
                                        first_error = Some(String::from_utf8_lossy(line).into_owned());
                                    }
                                }
                            }
                        } else if notification.find(line).is_some() {
                            delivered += 1;
                        }
                    })
                    .map_err(|err| format!("read: {err}"))?;
                let now = Instant::now();
                if eof {
                    return Err("fanout: the server closed a connection".into());
                }
                if let Some(ok) = replied {
                    acked = true;
                    ack.record(now.duration_since(t0).as_nanos() as u64);
                    if !ok {
                        errors += 1;
                    }
                }
                if delivered > 0 && is_listener[key] {
                    let took = now.duration_since(t0).as_nanos() as u64;
                    for _ in 0..delivered {
                        every.record(took);
                    }
                    remaining = remaining.saturating_sub(delivered);
                    first.get_or_insert(now);
                    last = now;
                }
            }
        }
        if let Some(first) = first {
            to_first.record(first.duration_since(t0).as_nanos() as u64);
        }
        to_last.record(last.duration_since(t0).as_nanos() as u64);
        rounds += 1;
        if !ctx.quiet && Instant::now() >= next_progress {
            eprintln!(
                "splitbench: fanout {:>6.1} s {rounds} writes, to last member p50 {} p99 {}",
                started.elapsed().as_secs_f64(),
                ms(to_last.quantile(0.5)),
                ms(to_last.quantile(0.99))
            );
            next_progress = Instant::now() + Duration::from_secs(1);
        }
    }
    let elapsed = started.elapsed();

    let mut report = Report::new("fanout");
    common_rows(&mut report, ctx);
    report.row("members online", format!("{m} (plus the writer, a second connection of {leader})"));
    report.set("members", m);
    report.row("set-up", format!("{:.2} s", setup.as_secs_f64()));
    report.set("setup_secs", setup.as_secs_f64());
    report.row(
        "writes",
        format!(
            "{rounds} in {:.2} s ({:.1}/s), {} deliveries",
            elapsed.as_secs_f64(),
            rounds as f64 / elapsed.as_secs_f64(),
            thousands(every.count())
        ),
    );
    report.set("writes", rounds);
    report.set("measured_secs", elapsed.as_secs_f64());
    report.set("deliveries", every.count());
    report.latency("to last member", "to_last", &to_last);
    report.latency("to first member", "to_first", &to_first);
    report.latency("every delivery", "every_delivery", &every);
    report.latency("writer's reply", "ack", &ack);
    report.row("errors", errors.to_string());
    report.set("errors", errors);
    if let Some(first) = first_error {
        report.row("first error", first.clone());
        report.set("first_error", first);
    }
    Ok(report)
}

/// `idle`: N logged-in connections (all as one user: one signup, N logins), held open; the server's
/// RSS before and after. With `--raw`, each connection sends one raw line (e.g. Redis PING) instead.
pub fn idle(ctx: &Ctx) -> Result<Report> {
    let n = ctx.connections;
    server::raise_fd_limit(n as u64 + 100);
    let mut pool = ctx.pool()?;
    let user = ctx.user(0);
    let setup_started = Instant::now();
    if !ctx.raw {
        ctx.scripts(&mut pool, vec![Script { conn: None, bytes: proto::signup(&user), replies: 1 }], "signup")?;
        // Warm the server's hashing threads before the baseline: the allocator keeps argon2's working
        // memory (19 MiB a hash) after the first few hashes of each thread, and that is not memory
        // per connection. Rounds of 16 logins until the server's RSS stops growing.
        let mut previous = ctx.pid.and_then(server::rss_kib);
        for _round in 0..10 {
            let warm: Vec<Script> =
                (0..16).map(|_| Script { conn: None, bytes: proto::login(&user), replies: 1 }).collect();
            let keys = ctx.scripts(&mut pool, warm, "warm-up logins")?;
            for key in keys {
                pool.close(key);
            }
            std::thread::sleep(Duration::from_millis(200));
            let now = ctx.pid.and_then(server::rss_kib);
            let stable = match (previous, now) {
                (Some(a), Some(b)) => b <= a + a / 100,
                _ => true,
            };
            previous = now;
            if stable {
                break;
            }
        }
        pool.close(0);
        std::thread::sleep(Duration::from_millis(300));
    }
    let rss_before = ctx.pid.and_then(server::rss_kib);
    let opened_at = Instant::now();
    let request = if ctx.raw { proto::raw(&ctx.raw_line) } else { proto::login(&user) };
    let scripts = (0..n).map(|_| Script { conn: None, bytes: request.clone(), replies: 1 }).collect();
    ctx.scripts(&mut pool, scripts, "open and log in")?;
    let login_phase = opened_at.elapsed();
    let setup = setup_started.elapsed();
    // Hold the connections idle, then measure.
    let hold = Duration::from_secs_f64(ctx.duration.unwrap_or(2.0));
    ctx.progress(&format!("idle: {n} connections open; holding them {:.1} s", hold.as_secs_f64()));
    pool.drain_quiet(hold, hold).map_err(|e| e.to_string())?;
    let rss_after = ctx.pid.and_then(server::rss_kib);
    let open = pool.conns.iter().filter(|c| !c.closed).count();

    let mut report = Report::new("idle");
    common_rows(&mut report, ctx);
    report.row(
        "connections",
        format!(
            "{n} {} ({open} still open after {:.1} s idle)",
            if ctx.raw { "raw" } else { "logged in" },
            hold.as_secs_f64()
        ),
    );
    report.set("connections", n);
    report.set("open_after_idle", open);
    report.set("errors", n - open);
    report.row(
        "set-up",
        format!(
            "{:.2} s ({:.2} s to open and log in {n}: {:.0}/s)",
            setup.as_secs_f64(),
            login_phase.as_secs_f64(),
            n as f64 / login_phase.as_secs_f64()
        ),
    );
    report.set("setup_secs", setup.as_secs_f64());
    report.set("login_secs", login_phase.as_secs_f64());
    match (rss_before, rss_after) {
        (Some(before), Some(after)) => {
            let per = (after as f64 - before as f64) * 1024.0 / n.max(1) as f64;
            report.row("server RSS", format!("{before} KiB before, {after} KiB after"));
            let note = if after.saturating_sub(before) < IDLE_RSS_MEANINGFUL_KIB {
                report.set("sample_too_small", true);
                " — too few connections to measure (RSS grew by under 256 KiB): use --connections 1000 or more"
            } else {
                ""
            };
            report.row("per connection", format!("{:.0} bytes ({:.2} KiB){note}", per, per / 1024.0));
            report.set("rss_before_kib", before);
            report.set("rss_after_kib", after);
            report.set("bytes_per_connection", per.round());
        }
        _ => report.row("server RSS", "unknown: pass --pid (or --server-bin)".to_string()),
    }
    Ok(report)
}

/// `settle`: for each group size, a group whose members all paid something (so most balances are
/// non-zero); then one member, alone online, asks for settlements, pipelined.
pub fn settle(ctx: &Ctx) -> Result<Report> {
    let sizes: Vec<usize> = ctx.sizes.iter().copied().filter(|&s| s >= 1).collect();
    let k = sizes.iter().copied().max().ok_or("--sizes is empty")?;
    let group_of = |s: usize| format!("{}_s{s}", ctx.prefix);
    let mut pool = ctx.pool()?;
    let setup_started = Instant::now();
    let scripts = (0..k)
        .map(|i| {
            let user = ctx.user(i);
            let mut parts = vec![proto::signup(&user), proto::login(&user)];
            if i == 0 {
                parts.extend(sizes.iter().map(|&s| proto::create_group(&group_of(s))));
            }
            Script { conn: None, replies: parts.len(), bytes: concat(&parts) }
        })
        .collect();
    let keys = ctx.scripts(&mut pool, scripts, "set-up: users")?;
    let joins = (1..k)
        .map(|i| {
            let parts: Vec<Vec<u8>> =
                sizes.iter().filter(|&&s| i < s).map(|&s| proto::join_group(&group_of(s))).collect();
            Script { conn: Some(keys[i]), replies: parts.len(), bytes: concat(&parts) }
        })
        .collect();
    ctx.scripts(&mut pool, joins, "set-up: join")?;
    let payments = (0..k)
        .map(|i| {
            let parts: Vec<Vec<u8>> = sizes
                .iter()
                .filter(|&&s| i < s)
                .map(|&s| {
                    let cents = Cents(((i as i64 * 7919 + s as i64 * 104_729) % 20_000) + 100);
                    let a = ctx.user((i + 1) % s);
                    let b = ctx.user((i + 2) % s);
                    proto::add_transaction(&group_of(s), cents, "settle bench", &[a.as_str(), b.as_str()], true)
                })
                .collect();
            Script { conn: Some(keys[i]), replies: parts.len(), bytes: concat(&parts) }
        })
        .collect();
    ctx.scripts(&mut pool, payments, "set-up: payments")?;
    for &key in &keys[1..] {
        pool.close(key);
    }
    pool.drain_quiet(Duration::from_millis(300), Duration::from_secs(30)).map_err(|e| e.to_string())?;
    let setup = setup_started.elapsed();

    // One plain call per size first, to show what the plan looks like.
    let mut shapes = Vec::new();
    for &s in &sizes {
        let line = call(&mut pool, keys[0], &proto::settle(&group_of(s)), Duration::from_secs(120))?;
        let value: Value = serde_json::from_slice(&line).unwrap_or(Value::Null);
        shapes.push(value);
    }

    let per_size = match ctx.stop() {
        Stop::Duration { measure, .. } => Stop::Duration {
            warmup: Duration::ZERO,
            measure: (measure / sizes.len() as u32).max(Duration::from_millis(300)),
        },
        stop => stop,
    };
    let mut pool_conns = pool.take_conns();
    let leader = pool_conns.swap_remove(keys[0]);
    drop(pool_conns);
    let placeholder: Arc<[u8]> = Arc::from(&b""[..]);
    let mut lc = vec![LoadConn::new(leader, Arc::clone(&placeholder), placeholder, true, 1)];

    let mut report = Report::new("settle");
    common_rows(&mut report, ctx);
    report.row("set-up", format!("{:.2} s ({k} users, groups of {sizes:?})", setup.as_secs_f64()));
    report.set("setup_secs", setup.as_secs_f64());
    report.row("load", format!("one connection, pipeline {}", ctx.pipeline));
    let mut rows = Vec::new();
    let mut total_errors = 0;
    for (&s, shape) in sizes.iter().zip(&shapes) {
        ctx.progress(&format!("settle: group of {s}"));
        let request: Arc<[u8]> = proto::settle(&group_of(s)).into();
        lc[0].reqs = [Arc::clone(&request), request];
        let mut spec = ctx.spec(&format!("settle/{s}"), 0);
        spec.stop = per_size;
        spec.report_every = None;
        let (stats, back) = load::run(lc, 1, &spec).map_err(|err| format!("load: {err}"))?;
        lc = back;
        total_errors += stats.errors;
        let transfers = shape
            .get("transfers")
            .and_then(Value::as_u64)
            .or_else(|| shape.get("settlements").and_then(Value::as_array).map(|a| a.len() as u64));
        let proven = shape.get("proven_minimal").and_then(Value::as_bool);
        report.row(
            &format!("size {s}"),
            format!(
                "{} settles/s, {} transfers{}; {}{}",
                thousands(stats.throughput().round() as u64),
                transfers.map_or("?".into(), |t| t.to_string()),
                match proven {
                    Some(true) => " (proven minimal)",
                    Some(false) => " (not proven minimal)",
                    None => "",
                },
                latency_line(&stats.hist),
                if stats.errors > 0 { format!(", {} ERRORS", stats.errors) } else { String::new() }
            ),
        );
        rows.push(json!({
            "size": s,
            "throughput": round1(stats.throughput()),
            "transfers": transfers,
            "proven_minimal": proven,
            "latency": latency_json(&stats.hist),
            "errors": stats.errors,
            "first_error": stats.first_error,
        }));
    }
    report.set("sizes", rows);
    report.set("errors", total_errors);
    report.row("errors", total_errors.to_string());
    Ok(report)
}

/// Sends one request on `key` and returns its reply line (pushed messages skipped).
pub(crate) fn call(pool: &mut Pool, key: usize, request: &[u8], timeout: Duration) -> Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let Pool { poll, events, conns, buf, classifier, .. } = pool;
    conns[key].out.extend_from_slice(request);
    conns[key].flush().map_err(|err| format!("write: {err}"))?;
    loop {
        if Instant::now() > deadline {
            return Err("no reply in time".into());
        }
        poll.poll(events, Some(Duration::from_millis(100))).map_err(|err| format!("poll: {err}"))?;
        let mut reply = None;
        for event in events.iter() {
            let k = event.token().0;
            let conn = &mut conns[k];
            if conn.closed {
                continue;
            }
            if conn.pending() {
                conn.flush().map_err(|err| format!("write: {err}"))?;
            }
            let eof = conn
                .read_lines(buf, |line| {
                    if k == key && reply.is_none() && classifier.classify(line) != Kind::Push {
                        reply = Some(line.to_vec());
                    }
                })
                .map_err(|err| format!("read: {err}"))?;
            if eof && k == key && reply.is_none() {
                return Err("the server closed the connection".into());
            }
        }
        if let Some(reply) = reply {
            return Ok(reply);
        }
    }
}

/// `recovery`: start the server binary over a fresh directory with `--fsync never`, fill it with N
/// transactions, SIGKILL it and time the restart (log replay only); SIGTERM that one (it writes a
/// snapshot) and time the restart again (snapshot).
pub fn recovery(ctx: &Ctx) -> Result<Report> {
    let bin = ctx.server_bin.as_ref().ok_or("recovery needs --server-bin (the harness starts the server)")?;
    let dir = server::fresh_dir(ctx.data_dir.as_deref(), &format!("splitbench-recovery-{}", ctx.prefix))?;
    let mut args: Vec<String> = ["--fsync", "never", "--hash-threads", "2"].iter().map(|s| s.to_string()).collect();
    args.extend(ctx.server_args.iter().cloned());
    let start_timeout = Duration::from_secs(600);
    let result = (|| -> Result<Report> {
        let mut first = server::spawn(bin, &dir, &args, start_timeout)?;
        let fill_ctx = Ctx { addr: first.addr, pid: Some(first.pid), ..ctx.clone_for_fill() };
        let users = ctx.connections.clamp(1, 8);
        let mut pool = fill_ctx.pool()?;
        let members = setup_groups(&fill_ctx, &mut pool, users, 1)?;
        let mut taken: Vec<Option<crate::net::Conn>> = pool.take_conns().into_iter().map(Some).collect();
        let conns: Vec<LoadConn> = members
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let write: Arc<[u8]> =
                    proto::add_transaction(&m.group, Cents(1234), "recovery fill", &[m.user.as_str()], true).into();
                let conn = taken[m.key].take().expect("one member per connection");
                LoadConn::new(conn, Arc::clone(&write), write, true, i as u64 + 1)
            })
            .collect();
        drop(pool);
        let pipeline = if ctx.pipeline > 1 { ctx.pipeline } else { 64 };
        let spec = Spec {
            pipeline,
            write_percent: 100,
            stop: Stop::Requests { count: ctx.transactions, cap: Duration::from_secs(3600) },
            report_every: None,
            label: "recovery fill".into(),
            quiet: ctx.quiet,
            raw: false,
        };
        ctx.progress(&format!("recovery: filling the log with {} transactions", ctx.transactions));
        let (fill, conns) = load::run(conns, 1, &spec).map_err(|err| format!("fill: {err}"))?;
        drop(conns);
        if fill.errors > 0 || fill.replies < ctx.transactions {
            return Err(format!(
                "fill: {} of {} transactions acknowledged, {} errors ({:?})",
                fill.replies, ctx.transactions, fill.errors, fill.first_error
            ));
        }
        let filled_rss = server::rss_kib(first.pid);
        let log_bytes = server::dir_bytes(&dir);
        first.kill9();

        let check = |spawned: &Spawned| -> Result<()> {
            let probe = Ctx { addr: spawned.addr, ..ctx.clone_for_fill() };
            let mut pool = probe.pool()?;
            let user = ctx.user(0);
            let bytes = concat(&[proto::login(&user), proto::view_balances(&ctx.group(0))]);
            probe.scripts(&mut pool, vec![Script { conn: None, bytes, replies: 2 }], "check after restart")?;
            Ok(())
        };
        // splitd prints it on stderr before its listening line; the reader thread may lag a little.
        let recovered_line = |s: &Spawned| {
            let until = Instant::now() + Duration::from_secs(2);
            loop {
                let found = s.stderr_lines().into_iter().find(|l| l.contains("recovered"));
                match found {
                    Some(line) => return line,
                    None if Instant::now() >= until => return String::new(),
                    None => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        };

        ctx.progress("recovery: killed (-9); restarting from the log");
        let mut from_log = server::spawn(bin, &dir, &args, start_timeout)?;
        let log_line = recovered_line(&from_log);
        let log_rss = server::rss_kib(from_log.pid);
        check(&from_log)?;
        let shutdown = from_log.terminate(Duration::from_secs(600))?;
        let snapshot_bytes = server::dir_bytes(&dir);

        ctx.progress("recovery: stopped (SIGTERM, snapshot written); restarting from the snapshot");
        let mut from_snapshot = server::spawn(bin, &dir, &args, start_timeout)?;
        let snapshot_line = recovered_line(&from_snapshot);
        let snapshot_rss = server::rss_kib(from_snapshot.pid);
        check(&from_snapshot)?;
        from_snapshot.terminate(Duration::from_secs(600))?;

        let mut report = Report::new("recovery");
        report.row("server", format!("{} {}", bin.display(), args.join(" ")));
        report.set("prefix", ctx.prefix.clone());
        report.row("transactions", format!("{} over {users} groups", thousands(ctx.transactions)));
        report.set("transactions", ctx.transactions);
        report.row(
            "fill",
            format!(
                "{:.2} s ({} tx/s, pipeline {pipeline}); server RSS {} KiB",
                fill.window.as_secs_f64(),
                thousands(fill.throughput().round() as u64),
                filled_rss.unwrap_or(0)
            ),
        );
        report.set("fill_secs", fill.window.as_secs_f64());
        report.set("fill_rate", round1(fill.throughput()));
        report.set("filled_rss_kib", filled_rss);
        report.set("log_rss_kib", log_rss);
        report.set("snapshot_rss_kib", snapshot_rss);
        report.row("log on disk", format!("{:.1} MiB", log_bytes as f64 / 1048576.0));
        report.set("log_bytes", log_bytes);
        report.row(
            "restart after SIGKILL",
            format!("{:.3} s to listening (log replay): {log_line}", first_ready(&from_log)),
        );
        report.set("restart_log_secs", first_ready(&from_log));
        report.set("restart_log_stderr", log_line);
        report.row("  RSS after replay", format!("{} KiB", log_rss.unwrap_or(0)));
        report.row("SIGTERM shutdown", format!("{:.3} s (writes the snapshot)", shutdown.as_secs_f64()));
        report.set("shutdown_secs", shutdown.as_secs_f64());
        report.row("data after snapshot", format!("{:.1} MiB", snapshot_bytes as f64 / 1048576.0));
        report.set("snapshot_dir_bytes", snapshot_bytes);
        report.row(
            "restart after SIGTERM",
            format!("{:.3} s to listening (snapshot): {snapshot_line}", first_ready(&from_snapshot)),
        );
        report.set("restart_snapshot_secs", first_ready(&from_snapshot));
        report.set("restart_snapshot_stderr", snapshot_line);
        report.row("  RSS after load", format!("{} KiB", snapshot_rss.unwrap_or(0)));
        report.set("errors", 0);
        Ok(report)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn first_ready(s: &Spawned) -> f64 {
    (s.ready_after.as_secs_f64() * 1000.0).round() / 1000.0
}

impl Ctx {
    /// A copy for a sub-phase (same options; the caller overrides the address).
    fn clone_for_fill(&self) -> Ctx {
        Ctx {
            addr: self.addr,
            pid: self.pid,
            tls: self.tls.clone(),
            prefix: self.prefix.clone(),
            connections: self.connections,
            pipeline: self.pipeline,
            duration: self.duration,
            requests: self.requests,
            warmup: self.warmup,
            threads: self.threads,
            group_size: self.group_size,
            sizes: self.sizes.clone(),
            transactions: self.transactions,
            server_bin: self.server_bin.clone(),
            server_args: self.server_args.clone(),
            data_dir: self.data_dir.clone(),
            raw: false,
            raw_line: self.raw_line.clone(),
            setup_window: self.setup_window,
            setup_timeout: self.setup_timeout,
            report_every: self.report_every,
            quiet: self.quiet,
        }
    }
}

/// `fsync-probe`: the disk's single-threaded durable-append rate: append 100 bytes, `fdatasync`, repeat.
pub fn fsync_probe(ctx: &Ctx) -> Result<Report> {
    let dir = ctx.data_dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let path = dir.join(format!(".splitbench-fsync-probe-{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .map_err(|err| format!("cannot create {}: {err}", path.display()))?;
    let record = [b'x'; 100];
    let duration = Duration::from_secs_f64(ctx.duration.unwrap_or(2.0));
    let mut hist = Histogram::new();
    let started = Instant::now();
    let result = (|| -> std::io::Result<()> {
        while started.elapsed() < duration && hist.count() < ctx.requests.unwrap_or(u64::MAX) {
            let t0 = Instant::now();
            file.write_all(&record)?;
            file.sync_data()?;
            hist.record(t0.elapsed().as_nanos() as u64);
        }
        Ok(())
    })();
    let elapsed = started.elapsed();
    let _ = std::fs::remove_file(&path);
    result.map_err(|err| format!("probe: {err}"))?;
    let rate = hist.count() as f64 / elapsed.as_secs_f64();
    let mut report = Report::new("fsync-probe");
    report.row("directory", dir.display().to_string());
    report.set("directory", dir.display().to_string());
    report.row("appends", format!("{} of 100 bytes + fdatasync in {:.2} s", hist.count(), elapsed.as_secs_f64()));
    report.row("rate", format!("{} fsyncs/s", thousands(rate.round() as u64)));
    report.set("throughput", round1(rate));
    report.latency("latency", "latency", &hist);
    report.set("errors", 0);
    Ok(report)
}
