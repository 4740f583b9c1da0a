//! The closed-loop load generator: every active connection keeps `pipeline` requests in flight. Requests
//! are pre-built bytes copied into a reused buffer; replies are found by scanning for `\n` and told from
//! pushed messages by one substring search; nothing in the loop allocates once buffers have grown.

use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use crate::hist::Histogram;
use crate::net::{Classifier, Conn, Kind};

/// A connection under load, with its pre-built requests.
pub struct LoadConn {
    pub conn: Conn,
    /// `reqs[0]` is the read request, `reqs[1]` the write (each one line, newline included).
    pub reqs: [Arc<[u8]>; 2],
    /// Whether this connection sends (others are only read: they may receive pushed messages).
    pub active: bool,
    sent_at: VecDeque<Instant>,
    inflight: usize,
    rng: u64,
}

impl LoadConn {
    pub fn new(conn: Conn, read: Arc<[u8]>, write: Arc<[u8]>, active: bool, seed: u64) -> LoadConn {
        LoadConn {
            conn,
            reqs: [read, write],
            active,
            sent_at: VecDeque::new(),
            inflight: 0,
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// Run `warmup`, then measure for `measure`.
    Duration { warmup: Duration, measure: Duration },
    /// Until this many replies arrived (or `cap` passed).
    Requests { count: u64, cap: Duration },
}

#[derive(Clone)]
pub struct Spec {
    pub pipeline: usize,
    /// Percent of requests that are the write request (0: all reads, 100: all writes).
    pub write_percent: u32,
    pub stop: Stop,
    /// Record the elapsed time at every multiple of this many replies.
    pub report_every: Option<u64>,
    pub label: String,
    pub quiet: bool,
    pub raw: bool,
}

#[derive(Default)]
pub struct Stats {
    /// Latency of the replies received inside the measured window.
    pub hist: Histogram,
    /// Replies received inside the measured window.
    pub measured: u64,
    pub window: Duration,
    pub replies: u64,
    pub errors: u64,
    pub pushes: u64,
    pub sent: u64,
    pub closed: u64,
    pub first_error: Option<String>,
    /// (replies so far, seconds since start), every `report_every` replies.
    pub marks: Vec<(u64, f64)>,
}

impl Stats {
    pub fn throughput(&self) -> f64 {
        let secs = self.window.as_secs_f64();
        if secs > 0.0 {
            self.measured as f64 / secs
        } else {
            0.0
        }
    }

    fn merge(&mut self, other: Stats) {
        self.hist.merge(&other.hist);
        self.measured += other.measured;
        self.window = self.window.max(other.window);
        self.replies += other.replies;
        self.errors += other.errors;
        self.pushes += other.pushes;
        self.sent += other.sent;
        self.closed += other.closed;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        if self.marks.is_empty() {
            self.marks = other.marks;
        }
    }
}

/// Progress shared by the load threads; thread 0 prints it.
#[derive(Default)]
struct Shared {
    replies: AtomicU64,
    errors: AtomicU64,
    /// Set once the measured window of every duration-limited thread ends, so all stop together.
    stop: AtomicBool,
}

/// Runs the load over `conns`, split over `threads` threads (each its own poll). Returns the merged
/// statistics and the connections (for further phases).
pub fn run(conns: Vec<LoadConn>, threads: usize, spec: &Spec) -> io::Result<(Stats, Vec<LoadConn>)> {
    let threads = threads.clamp(1, conns.len().max(1));
    let shared = Arc::new(Shared::default());
    let start = Instant::now();
    if threads == 1 {
        return run_thread(0, conns, spec, start, &shared, 1);
    }
    let mut chunks: Vec<Vec<LoadConn>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, conn) in conns.into_iter().enumerate() {
        chunks[i % threads].push(conn);
    }
    let handles: Vec<_> = chunks
        .into_iter()
        .enumerate()
        .map(|(index, chunk)| {
            let spec = spec.clone();
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || run_thread(index, chunk, &spec, start, &shared, threads))
        })
        .collect();
    let mut stats = Stats::default();
    let mut all = Vec::new();
    for handle in handles {
        let (part, conns) = handle.join().map_err(|_| io::Error::other("load thread panicked"))??;
        stats.merge(part);
        all.extend(conns);
    }
    Ok((stats, all))
}

fn run_thread(
    index: usize,
    mut conns: Vec<LoadConn>,
    spec: &Spec,
    start: Instant,
    shared: &Shared,
    threads: usize,
) -> io::Result<(Stats, Vec<LoadConn>)> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(4096);
    for (key, lc) in conns.iter_mut().enumerate() {
        poll.registry().register(&mut lc.conn.stream, Token(key), Interest::READABLE | Interest::WRITABLE)?;
        lc.sent_at.clear();
        lc.sent_at.reserve(spec.pipeline);
        lc.inflight = 0;
    }
    let classifier = Classifier::new(spec.raw);
    let mut buf = vec![0u8; 256 * 1024];
    let mut stats = Stats::default();
    let pipeline = spec.pipeline.max(1);

    let (measure_start, measure_end, target, cap_end) = match spec.stop {
        Stop::Duration { warmup, measure } => {
            let from = start + warmup;
            (from, from + measure, u64::MAX, from + measure)
        }
        Stop::Requests { count, cap } => {
            // Each thread takes its share of the count.
            let share = count / threads as u64 + u64::from((index as u64) < count % threads as u64);
            (start, start + cap, share, start + cap)
        }
    };
    let counting = matches!(spec.stop, Stop::Requests { .. });
    let mut sending = true;
    let mut stopped_at: Option<Instant> = None;
    let mut inflight_total = 0usize;
    let mut closed_active = 0u64;
    let active_conns = conns.iter().filter(|c| c.active && !c.conn.closed).count() as u64;
    let mut last_reply = start;
    let mut next_mark = spec.report_every.unwrap_or(u64::MAX);
    let (mut published_replies, mut published_errors) = (0u64, 0u64);
    let mut next_progress = start + Duration::from_secs(1);
    let mut progress_base = (start, 0u64);

    for lc in conns.iter_mut() {
        top_up(lc, pipeline, spec.write_percent, &mut stats.sent, target, &mut inflight_total)?;
    }

    loop {
        match poll.poll(&mut events, Some(Duration::from_millis(20))) {
            Ok(()) => {}
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
        for event in events.iter() {
            let lc = &mut conns[event.token().0];
            if lc.conn.closed {
                continue;
            }
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                let now = Instant::now();
                let in_window = counting || (now >= measure_start && now < measure_end);
                let sent_at = &mut lc.sent_at;
                let mut got = 0usize;
                let mut first_error = None;
                let eof = lc.conn.read_lines(&mut buf, |line| match classifier.classify(line) {
                    Kind::Push => stats.pushes += 1,
                    kind => {
                        got += 1;
                        if let Some(t0) = sent_at.pop_front() {
                            if in_window {
                                stats.measured += 1;
                                stats.hist.record(now.saturating_duration_since(t0).as_nanos() as u64);
                            }
                        }
                        if kind == Kind::Error {
                            stats.errors += 1;
                            if first_error.is_none() && stats.first_error.is_none() {
                                first_error = Some(String::from_utf8_lossy(&line[..line.len().min(300)]).into_owned());
                            }
                        }
                    }
                });
                if first_error.is_some() {
                    stats.first_error = first_error;
                }
                let got = got.min(lc.inflight);
                lc.inflight -= got;
                inflight_total -= got;
                stats.replies += got as u64;
                if got > 0 {
                    last_reply = now;
                }
                match eof {
                    Ok(false) => {}
                    Ok(true) | Err(_) => {
                        lc.conn.closed = true;
                        stats.closed += 1;
                        closed_active += u64::from(lc.active);
                        inflight_total -= lc.inflight;
                        lc.inflight = 0;
                        let _ = poll.registry().deregister(&mut lc.conn.stream);
                        if stats.first_error.is_none() {
                            stats.first_error = Some("the server closed a connection".into());
                        }
                        continue;
                    }
                }
            }
            if sending {
                if let Err(err) = top_up(lc, pipeline, spec.write_percent, &mut stats.sent, target, &mut inflight_total)
                {
                    lc.conn.closed = true;
                    stats.closed += 1;
                    closed_active += u64::from(lc.active);
                    inflight_total -= lc.inflight;
                    lc.inflight = 0;
                    if stats.first_error.is_none() {
                        stats.first_error = Some(format!("write failed: {err}"));
                    }
                }
            } else if lc.conn.pending() {
                let _ = lc.conn.flush();
            }
        }

        let now = Instant::now();
        // Publish progress for the printing thread (one atomic add per turn, not per reply).
        shared.replies.fetch_add(stats.replies - published_replies, Ordering::Relaxed);
        shared.errors.fetch_add(stats.errors - published_errors, Ordering::Relaxed);
        published_replies = stats.replies;
        published_errors = stats.errors;
        if index == 0 {
            let global = shared.replies.load(Ordering::Relaxed);
            while global >= next_mark {
                stats.marks.push((next_mark, now.duration_since(start).as_secs_f64()));
                next_mark = next_mark.saturating_add(spec.report_every.unwrap_or(u64::MAX));
            }
            if !spec.quiet && now >= next_progress {
                let rate = (global - progress_base.1) as f64 / now.duration_since(progress_base.0).as_secs_f64();
                eprintln!(
                    "splitbench: {} {:>6.1} s {:>12} replies {:>10.0}/s {:>8} errors",
                    spec.label,
                    now.duration_since(start).as_secs_f64(),
                    global,
                    rate,
                    shared.errors.load(Ordering::Relaxed)
                );
                progress_base = (now, global);
                next_progress = now + Duration::from_secs(1);
            }
        }

        if sending {
            let over = if counting { stats.sent >= target || now >= cap_end } else { now >= measure_end };
            if over || shared.stop.load(Ordering::Relaxed) {
                sending = false;
                stopped_at = Some(now);
                if !counting {
                    shared.stop.store(true, Ordering::Relaxed);
                }
            }
        }
        if !sending && inflight_total == 0 {
            break;
        }
        if closed_active >= active_conns {
            break;
        }
        if let Some(at) = stopped_at {
            if now.duration_since(at) > Duration::from_secs(10) {
                // Replies that never came: report them as errors rather than wait forever.
                stats.errors += inflight_total as u64;
                if stats.first_error.is_none() {
                    stats.first_error = Some(format!("{inflight_total} replies missing 10 s after the end"));
                }
                break;
            }
        }
    }
    stats.window = if counting { last_reply.duration_since(start) } else { measure_end.duration_since(measure_start) };
    for lc in conns.iter_mut() {
        let _ = poll.registry().deregister(&mut lc.conn.stream);
    }
    Ok((stats, conns))
}

/// Fills the connection's pipeline with pre-built requests and writes them.
#[inline]
fn top_up(
    lc: &mut LoadConn,
    pipeline: usize,
    write_percent: u32,
    sent: &mut u64,
    target: u64,
    inflight_total: &mut usize,
) -> io::Result<()> {
    if !lc.active || lc.conn.closed {
        return Ok(());
    }
    if lc.inflight < pipeline && *sent < target {
        let now = Instant::now();
        while lc.inflight < pipeline && *sent < target {
            let which = match write_percent {
                0 => 0,
                100.. => 1,
                percent => {
                    // xorshift64: a cheap, allocation-free choice per request.
                    lc.rng ^= lc.rng << 13;
                    lc.rng ^= lc.rng >> 7;
                    lc.rng ^= lc.rng << 17;
                    usize::from((lc.rng % 100) < u64::from(percent))
                }
            };
            lc.conn.out.extend_from_slice(&lc.reqs[which]);
            lc.sent_at.push_back(now);
            lc.inflight += 1;
            *inflight_total += 1;
            *sent += 1;
        }
    }
    lc.conn.flush()
}
