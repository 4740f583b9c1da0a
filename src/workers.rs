//! Slow work, off the event loop: password hashing (argon2id takes tens of milliseconds on purpose;
//! a login's check also draws its session token's secret from the OS RNG here) and the exact
//! settlement search (up to ~25 ms at 20 balances).
//!
//! The machine asks for such work as a `Job` instead of doing it; the loop hands its `Work` to these
//! threads and is woken by a `mio::Waker` when a result is ready. The requesting connection waits,
//! parked; everyone else is served meanwhile.
//!
//! Jobs wait in lanes (the loop uses one lane per source address) and the lanes take turns, one job
//! each, so a lane with hundreds of jobs queued delays another lane's next job by at most one job per
//! busy lane. A job can be cancelled while it waits (its connection is gone); a worker then hands it
//! back undone instead of running it. Every submitted job comes back exactly once, done or not.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use crate::auth;
use crate::machine::{Work, WorkDone};
use crate::settle;

/// Runs one piece of work, here and now (workers and tests call this).
pub fn run(work: Work) -> WorkDone {
    match work {
        Work::Hash { password } => auth::hash_password(&password).map_or(WorkDone::Failed, WorkDone::Hashed),
        Work::Verify { password, phc } => WorkDone::Verified(auth::verify_password(&password, &phc)),
        Work::Login { password, phc } => match auth::verify_password(&password, &phc) {
            false => WorkDone::LoginChecked(None),
            true => auth::random_secret().map_or(WorkDone::Failed, |s| WorkDone::LoginChecked(Some(s))),
        },
        Work::Rehash { old, phc, new } => match auth::verify_password(&old, &phc) {
            false => WorkDone::Rehashed(None),
            true => auth::hash_password(&new).map_or(WorkDone::Failed, |phc| WorkDone::Rehashed(Some(phc))),
        },
        Work::Plan { net, method } => WorkDone::Planned(settle::plan(&net, method)),
    }
}

/// The loop's handle on one submitted job: `cancel` before a worker starts it and it is never run.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// One waiting job.
struct Queued<T> {
    tag: T,
    work: Work,
    cancel: Cancel,
}

/// The jobs waiting, by lane, and the order the lanes take turns in.
struct Queue<T> {
    lanes: HashMap<u128, VecDeque<Queued<T>>>,
    /// Each lane with waiting jobs, once, in the order it is served next.
    turns: VecDeque<u128>,
    /// The pool is stopping: workers end after their current job.
    closed: bool,
}

impl<T> Queue<T> {
    fn push(&mut self, lane: u128, job: Queued<T>) {
        let waiting = self.lanes.entry(lane).or_default();
        if waiting.is_empty() {
            self.turns.push_back(lane);
        }
        waiting.push_back(job);
    }

    /// The first job of the lane whose turn it is; that lane goes to the back of the turns.
    fn pop(&mut self) -> Option<Queued<T>> {
        let lane = self.turns.pop_front()?;
        let waiting = self.lanes.get_mut(&lane)?;
        let job = waiting.pop_front();
        if waiting.is_empty() {
            self.lanes.remove(&lane);
        } else {
            self.turns.push_back(lane);
        }
        job
    }
}

struct Shared<T> {
    queue: Mutex<Queue<T>>,
    /// Signalled when a job is queued or the pool closes.
    changed: Condvar,
}

impl<T> Shared<T> {
    /// Waits for the next job; `None` once the pool is closed (or its lock poisoned).
    fn next(&self) -> Option<Queued<T>> {
        let mut queue = self.queue.lock().ok()?;
        loop {
            if queue.closed {
                return None;
            }
            if let Some(job) = queue.pop() {
                return Some(job);
            }
            queue = self.changed.wait(queue).ok()?;
        }
    }
}

/// A pool of worker threads. `T` is the caller's tag (which connection asked), returned untouched.
pub struct Workers<T> {
    shared: Arc<Shared<T>>,
    finished: Receiver<(T, Option<WorkDone>)>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl<T: Send + 'static> Workers<T> {
    /// Starts `count` threads (at least one); `wake` is called after each result is queued.
    pub fn start(count: usize, wake: impl Fn() + Send + Sync + 'static) -> std::io::Result<Workers<T>> {
        let queue = Queue { lanes: HashMap::new(), turns: VecDeque::new(), closed: false };
        let shared = Arc::new(Shared { queue: Mutex::new(queue), changed: Condvar::new() });
        let (done_tx, done_rx) = mpsc::channel();
        let wake = Arc::new(wake);
        let mut threads = Vec::new();
        for n in 0..count.max(1) {
            let shared = Arc::clone(&shared);
            let done_tx = done_tx.clone();
            let wake = Arc::clone(&wake);
            let name = format!("splitd-work-{n}");
            threads
                .push(thread::Builder::new().name(name).spawn(move || work_until_closed(&shared, &done_tx, &*wake))?);
        }
        Ok(Workers { shared, finished: done_rx, threads })
    }

    /// Queues work in `lane`; the handle cancels it. `None` if the workers are gone.
    pub fn submit(&self, lane: u128, tag: T, work: Work) -> Option<Cancel> {
        if self.threads.iter().all(|t| t.is_finished()) {
            return None;
        }
        let cancel = Cancel::default();
        let mut queue = self.shared.queue.lock().ok()?;
        if queue.closed {
            return None;
        }
        queue.push(lane, Queued { tag, work, cancel: cancel.clone() });
        drop(queue);
        self.shared.changed.notify_one();
        Some(cancel)
    }

    /// A job handed back, if any (never blocks): its result, or `None` if it was cancelled unrun.
    pub fn try_finished(&self) -> Option<(T, Option<WorkDone>)> {
        self.finished.try_recv().ok()
    }
}

/// One worker thread: take the next job, run it unless it was cancelled, hand it back, wake the loop.
fn work_until_closed<T>(shared: &Shared<T>, done: &Sender<(T, Option<WorkDone>)>, wake: &dyn Fn()) {
    while let Some(Queued { tag, work, cancel }) = shared.next() {
        let result = if cancel.is_cancelled() { None } else { Some(run(work)) };
        if done.send((tag, result)).is_err() {
            return;
        }
        wake();
    }
}

impl<T> Drop for Workers<T> {
    fn drop(&mut self) {
        // Each worker ends after its current job; jobs still waiting are dropped.
        if let Ok(mut queue) = self.shared.queue.lock() {
            queue.closed = true;
        }
        self.shared.changed.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::{Duration, Instant};

    /// The next handed-back job, waiting up to 30 s.
    fn next_finished<T: Send + 'static>(workers: &Workers<T>) -> (T, Option<WorkDone>) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(result) = workers.try_finished() {
                return result;
            }
            assert!(Instant::now() < deadline, "worker never answered");
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn workers_return_tagged_results_and_wake() {
        let woken = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&woken);
        let workers = Workers::start(2, move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        assert!(workers.submit(1, 7u32, Work::Hash { password: "password1".into() }).is_some());
        let (tag, done) = next_finished(&workers);
        assert_eq!(tag, 7);
        assert!(matches!(done, Some(WorkDone::Hashed(ref phc)) if auth::verify_password("password1", phc)));
        assert!(woken.load(Ordering::SeqCst) >= 1);
    }

    /// A job that takes a while (one argon2id verification).
    fn slow() -> Work {
        Work::Verify { password: "password1".into(), phc: crate::machine::DUMMY_PASSWORD_HASH.into() }
    }

    #[test]
    fn a_cancelled_job_comes_back_unrun() {
        let workers = Workers::start(1, || {}).unwrap();
        workers.submit(1, 0u32, slow()).unwrap();
        let cancels: Vec<Cancel> = (1..=20u32).map(|n| workers.submit(1, n, slow()).unwrap()).collect();
        cancels.iter().for_each(Cancel::cancel);
        let started = Instant::now();
        let mut back = Vec::new();
        while back.len() < 21 {
            back.push(next_finished(&workers));
        }
        assert!(back[0].1.is_some(), "the first job was running already");
        assert!(back[1..].iter().all(|(_, done)| done.is_none()), "cancelled jobs are not run");
        // Twenty verifications would take far longer than the one already running.
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn lanes_take_turns() {
        let workers = Workers::start(1, || {}).unwrap();
        // The worker is busy with lane 1's first job while lane 1 queues more and lane 2 queues one.
        for n in 0..5u32 {
            workers.submit(1, (1, n), slow()).unwrap();
        }
        workers.submit(2, (2, 0), slow()).unwrap();
        let order: Vec<(u32, u32)> = (0..6).map(|_| next_finished(&workers).0).collect();
        let lane_two_at = order.iter().position(|&(lane, _)| lane == 2).unwrap();
        assert!(lane_two_at <= 2, "lane 2 waited behind lane 1's whole queue: {order:?}");
        let lane_one: Vec<u32> = order.iter().filter(|&&(lane, _)| lane == 1).map(|&(_, n)| n).collect();
        assert_eq!(lane_one, vec![0, 1, 2, 3, 4], "one lane's jobs stay in order");
    }
}
