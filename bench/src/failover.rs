//! The `failover` scenario: three members of a cluster on loopback, started here from
//! `--server-bin`; one writer adds transactions without pause while the leader is killed with
//! SIGKILL, over and over. One sample: from the SIGKILL to the first write acknowledged by another
//! member.
//!
//! The writer is the client a user would run, minus the login cost: it keeps one logged-in
//! connection, and when it is refused (`not_leader`) or cut off it goes to the member named, else
//! to the next member, retrying every 20 ms. So a sample is the cluster's failover (the dead
//! leader's silence noticed, an election, the new leader's first entry committed) plus one
//! reconnect and login. Before each kill the restarted member must have caught up (the leader's
//! `match_index` for every member at its commit), so every kill finds a whole cluster.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vocab::Cents;

use crate::leader::{Answer, Session};
use crate::proto;
use crate::report::Report;
use crate::scenarios::Ctx;
use crate::server::{self, Spawned};

const MEMBERS: usize = 3;
/// The writer's pause after a refusal or a failed connection.
const RETRY: Duration = Duration::from_millis(20);
/// Connect and reply timeout of the writer's sessions: a member that is alive answers in far less.
const SESSION_TIMEOUT: Duration = Duration::from_secs(2);
/// A kill not followed by a write on another member within this fails the run.
const FAILOVER_MAX: Duration = Duration::from_secs(10);

type Result<T> = std::result::Result<T, String>;

/// The members: their processes, data directories and the `--peers` they share.
struct Cluster {
    bin: PathBuf,
    args: Vec<String>,
    dirs: Vec<PathBuf>,
    peers: String,
    members: Vec<Option<Spawned>>,
}

impl Cluster {
    fn start(ctx: &Ctx, bin: &Path) -> Result<Cluster> {
        let ports: Vec<u16> = {
            let held: Vec<std::net::TcpListener> = (0..MEMBERS)
                .map(|_| std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}")))
                .collect::<Result<_>>()?;
            held.iter().filter_map(|l| l.local_addr().ok()).map(|a| a.port()).collect()
        };
        let peers: Vec<String> = ports.iter().enumerate().map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1)).collect();
        let dirs = (0..MEMBERS)
            .map(|i| server::fresh_dir(ctx.data_dir.as_deref(), &format!("splitbench-{}-m{}", ctx.prefix, i + 1)))
            .collect::<Result<Vec<_>>>()?;
        let members = (0..MEMBERS).map(|_| None).collect();
        let mut cluster =
            Cluster { bin: bin.to_path_buf(), args: ctx.server_args.clone(), dirs, peers: peers.join(","), members };
        for i in 0..MEMBERS {
            cluster.spawn(i)?;
        }
        Ok(cluster)
    }

    fn spawn(&mut self, i: usize) -> Result<()> {
        let mut args = vec!["--node-id".to_string(), (i + 1).to_string(), "--peers".to_string(), self.peers.clone()];
        args.extend(self.args.iter().cloned());
        self.members[i] = Some(server::spawn(&self.bin, &self.dirs[i], &args, Duration::from_secs(60))?);
        Ok(())
    }

    fn clients(&self) -> Vec<Option<SocketAddr>> {
        self.members.iter().map(|m| m.as_ref().map(|s| s.addr)).collect()
    }

    fn member_at(&self, addr: SocketAddr) -> Option<usize> {
        self.clients().iter().position(|&a| a == Some(addr))
    }

    fn remove_dirs(&self) {
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// What the writer and the main thread share.
struct Shared {
    /// The members' client addresses (`None` while one is dead).
    clients: Mutex<Vec<Option<SocketAddr>>>,
    /// Every acknowledged write: when, and which member acknowledged it.
    acks: Mutex<Vec<(Instant, SocketAddr)>>,
    /// When a member first named a leader (`not_leader` with an address), or acknowledged: when
    /// the election was over, as far as a client can tell.
    named: Mutex<Vec<(Instant, SocketAddr)>>,
    /// How long each new session took to connect and log in.
    logins: Mutex<Vec<Duration>>,
    errors: Mutex<(u64, Option<String>)>,
    stop: AtomicBool,
}

pub fn failover(ctx: &Ctx) -> Result<Report> {
    let bin = ctx.server_bin.as_ref().ok_or("failover needs --server-bin (the harness starts three members)")?;
    let kills = ctx.requests.unwrap_or(20).max(1) as usize;
    let mut cluster = Cluster::start(ctx, bin)?;
    let result = measure(ctx, &mut cluster, kills);
    for member in cluster.members.iter_mut().flatten() {
        member.kill9();
    }
    cluster.remove_dirs();
    Ok(report(ctx, kills, result?))
}

/// What the kills gave: per kill, the time to the first acknowledged write and to the first
/// member naming the new leader; every session's connect + login time; the writer's counts.
struct Measured {
    samples: Vec<Duration>,
    elections: Vec<Duration>,
    logins: Vec<Duration>,
    counts: Counts,
}

struct Counts {
    acks: usize,
    errors: (u64, Option<String>),
    /// Changes of the acknowledging member beyond one a kill: elections nobody caused.
    spurious: usize,
}

fn measure(ctx: &Ctx, cluster: &mut Cluster, kills: usize) -> Result<Measured> {
    let user = format!("{}_u0", ctx.prefix);
    let group = format!("{}_g0", ctx.prefix);
    set_up(cluster, &user, &group)?;
    let shared = Arc::new(Shared {
        clients: Mutex::new(cluster.clients()),
        acks: Mutex::new(Vec::new()),
        named: Mutex::new(Vec::new()),
        logins: Mutex::new(Vec::new()),
        errors: Mutex::new((0, None)),
        stop: AtomicBool::new(false),
    });
    let writer = {
        let (shared, user, group) = (Arc::clone(&shared), user.clone(), group.clone());
        std::thread::spawn(move || writer(&shared, &user, &group))
    };
    let mut elections = Vec::with_capacity(kills);
    let outcome = (|| -> Result<Vec<Duration>> {
        let mut samples = Vec::with_capacity(kills);
        for cycle in 0..kills {
            let leader = wait_healthy(cluster, &shared, &user)?;
            // Writes are mid-flight at some moment or other: the kill lands at a varying point.
            std::thread::sleep(Duration::from_millis(50 + (cycle as u64 * 37) % 150));
            let Some(addr) = cluster.clients()[leader] else { return Err("the leader is gone".into()) };
            let killed_at = Instant::now();
            if let Some(mut member) = cluster.members[leader].take() {
                member.kill9();
            }
            lock(&shared.clients)[leader] = None;
            let took = first_after(&shared.acks, killed_at, addr)
                .ok_or_else(|| format!("kill {}: no write acknowledged within {FAILOVER_MAX:?}", cycle + 1))?;
            let named = first_after(&shared.named, killed_at, addr).unwrap_or(took).min(took);
            elections.push(named);
            if !ctx.quiet {
                eprintln!(
                    "splitbench: kill {} of {kills}: member {} down, {:.3} s",
                    cycle + 1,
                    leader + 1,
                    took.as_secs_f64()
                );
            }
            samples.push(took);
            cluster.spawn(leader)?;
            *lock(&shared.clients) = cluster.clients();
        }
        Ok(samples)
    })();
    shared.stop.store(true, Ordering::Relaxed);
    let _ = writer.join();
    let samples = outcome?;
    let acks = lock(&shared.acks).clone();
    let changes = acks.windows(2).filter(|w| w[0].1 != w[1].1).count();
    let errors = lock(&shared.errors).clone();
    let logins = lock(&shared.logins).clone();
    let counts = Counts { acks: acks.len(), errors, spurious: changes.saturating_sub(kills) };
    Ok(Measured { samples, elections, logins, counts })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Signs the user up and creates the group, on whichever member leads once one does.
fn set_up(cluster: &Cluster, user: &str, group: &str) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(30);
    for (line, logged_in) in [(proto::signup(user), false), (proto::create_group(group), true)] {
        loop {
            let done = cluster.clients().into_iter().flatten().any(|addr| {
                let session = Session::open(addr, logged_in.then_some(user), SESSION_TIMEOUT);
                let reply = session.and_then(|mut s| s.request(&line)).unwrap_or(Value::Null);
                let code = reply["code"].as_str();
                Answer::of(&reply) == Answer::Ok || matches!(code, Some("user_exists" | "group_exists"))
            });
            if done {
                break;
            }
            if Instant::now() > until {
                return Err("set-up: no leader within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

/// The writer: one add_transaction at a time, following the leader (see the module comment).
fn writer(shared: &Shared, user: &str, group: &str) {
    let mut session: Option<Session> = None;
    let mut hint: Option<SocketAddr> = None;
    let (mut turn, mut n) = (0usize, 0u64);
    while !shared.stop.load(Ordering::Relaxed) {
        let Some(current) = session.as_mut() else {
            let target = hint.take().or_else(|| {
                let clients: Vec<SocketAddr> = lock(&shared.clients).iter().flatten().copied().collect();
                turn += 1;
                clients.get(turn % clients.len().max(1)).copied()
            });
            let started = Instant::now();
            session = target.and_then(|addr| Session::open(addr, Some(user), SESSION_TIMEOUT).ok());
            if session.is_some() {
                lock(&shared.logins).push(started.elapsed());
            } else {
                std::thread::sleep(RETRY);
            }
            continue;
        };
        n += 1;
        let line = proto::add_transaction(group, Cents(100), &format!("failover {n}"), &[user], true);
        match current.request(&line).map(|reply| Answer::of(&reply)) {
            Ok(Answer::Ok) => {
                let now = Instant::now();
                lock(&shared.acks).push((now, current.addr));
                lock(&shared.named).push((now, current.addr));
            }
            Ok(Answer::NotLeader(Some(leader))) if leader != current.addr => {
                lock(&shared.named).push((Instant::now(), leader));
                hint = Some(leader);
                session = None;
            }
            Ok(Answer::NotLeader(_)) => std::thread::sleep(RETRY),
            Ok(Answer::Error(error)) => {
                let mut errors = lock(&shared.errors);
                errors.0 += 1;
                errors.1.get_or_insert(error);
                drop(errors);
                std::thread::sleep(RETRY);
            }
            Err(_) => session = None,
        }
    }
}

/// Waits until every member is up, writes are being acknowledged, and the leader sees every member
/// at its commit index. Returns the leader.
fn wait_healthy(cluster: &Cluster, shared: &Shared, user: &str) -> Result<usize> {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let since = Instant::now();
        std::thread::sleep(Duration::from_millis(50));
        let last = lock(&shared.acks).last().copied();
        if let Some((_, addr)) = last.filter(|&(at, _)| at >= since) {
            if let Some(leader) = cluster.member_at(addr) {
                if caught_up(addr, user) {
                    return Ok(leader);
                }
            }
        }
        if Instant::now() > until {
            return Err("the cluster did not become whole (all members caught up) within 60 s".into());
        }
    }
}

/// Whether the leader at `addr` sees every member within two entries of its commit index (the
/// writer keeps one entry in flight).
fn caught_up(addr: SocketAddr, user: &str) -> bool {
    let status = Session::open(addr, Some(user), SESSION_TIMEOUT)
        .and_then(|mut s| s.request(format!("{}\n", json!({"action": "cluster_status"})).as_bytes()))
        .unwrap_or(Value::Null);
    let commit = status["commit_index"].as_u64().unwrap_or(u64::MAX);
    let matched = status["match_index"].as_object().map(|m| m.values().filter_map(Value::as_u64).collect::<Vec<_>>());
    matched.is_some_and(|m| m.len() == MEMBERS && m.iter().all(|&i| i + 2 >= commit))
}

/// The time from `killed_at` to the first event of `events` about a member other than `dead`.
fn first_after(events: &Mutex<Vec<(Instant, SocketAddr)>>, killed_at: Instant, dead: SocketAddr) -> Option<Duration> {
    let until = killed_at + FAILOVER_MAX;
    loop {
        let acks = lock(events);
        let after = acks.iter().rev().take_while(|(at, _)| *at > killed_at).collect::<Vec<_>>();
        if let Some((at, _)) = after.into_iter().rev().find(|(_, addr)| *addr != dead) {
            return Some(*at - killed_at);
        }
        drop(acks);
        if Instant::now() > until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Quantiles of a set of durations, in seconds rounded to the millisecond.
struct Spread {
    sorted: Vec<f64>,
}

impl Spread {
    fn of(samples: &[Duration]) -> Spread {
        let mut sorted: Vec<f64> = samples.iter().map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0).collect();
        sorted.sort_by(f64::total_cmp);
        Spread { sorted }
    }

    fn quantile(&self, q: f64) -> f64 {
        let rank = ((self.sorted.len() as f64 * q).ceil() as usize).saturating_sub(1);
        self.sorted.get(rank).copied().unwrap_or(0.0)
    }

    fn line(&self) -> String {
        let (p50, p90, max) = (self.quantile(0.5), self.quantile(0.9), self.quantile(1.0));
        format!("p50 {p50:.3} s  p90 {p90:.3} s  max {max:.3} s")
    }
}

fn report(ctx: &Ctx, kills: usize, measured: Measured) -> Report {
    let Measured { samples, elections, logins, counts } = measured;
    let (failover, named, logins) = (Spread::of(&samples), Spread::of(&elections), Spread::of(&logins));
    let mut report = Report::new("failover");
    let bin = ctx.server_bin.as_ref().map_or(String::new(), |b| b.display().to_string());
    report.row("cluster", format!("{MEMBERS} members on loopback, {bin} {}", ctx.server_args.join(" ")));
    report.row("kills", format!("{kills} (SIGKILL of the leader; restarted and caught up before the next)"));
    report.set("kills", kills);
    report.row("failover", format!("{}  (kill to the first write another member acknowledged)", failover.line()));
    report.set("failover_p50_secs", failover.quantile(0.5));
    report.set("failover_p90_secs", failover.quantile(0.9));
    report.set("failover_max_secs", failover.quantile(1.0));
    report.set("failover_secs", failover.sorted.clone());
    report.row(
        "  leader named",
        format!("{}  (kill to the first not_leader naming the new leader, or its ok)", named.line()),
    );
    report.set("leader_named_p50_secs", named.quantile(0.5));
    report.set("leader_named_max_secs", named.quantile(1.0));
    report.row("  connect + login", format!("{}  (each of the writer's new sessions)", logins.line()));
    report.set("login_p50_secs", logins.quantile(0.5));
    report.row("writes", format!("{} acknowledged, {} error replies", counts.acks, counts.errors.0));
    report.set("acknowledged", counts.acks);
    report.set("errors", counts.errors.0);
    if let Some(first) = counts.errors.1 {
        report.row("first error", first.clone());
        report.set("first_error", first);
    }
    report.row("leader changes without a kill", counts.spurious.to_string());
    report.set("spurious_leader_changes", counts.spurious);
    report
}
