//! Slow work, off the event loop: password hashing (argon2id takes tens of milliseconds on purpose;
//! a login's check also draws its session token's secret from the OS RNG here) and the exact
//! settlement search (up to ~25 ms at 20 balances).
//!
//! The machine asks for such work as a `Job` instead of doing it; the loop hands its `Work` to these
//! threads through a channel and is woken by a `mio::Waker` when a result is ready. The requesting
//! connection waits, parked; everyone else is served meanwhile.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
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

/// A pool of worker threads. `T` is the caller's tag (which connection asked), returned untouched.
pub struct Workers<T> {
    jobs: Option<Sender<(T, Work)>>,
    finished: Receiver<(T, WorkDone)>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl<T: Send + 'static> Workers<T> {
    /// Starts `count` threads (at least one); `wake` is called after each result is queued.
    pub fn start(count: usize, wake: impl Fn() + Send + Sync + 'static) -> std::io::Result<Workers<T>> {
        let (job_tx, job_rx) = mpsc::channel::<(T, Work)>();
        let (done_tx, done_rx) = mpsc::channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let wake = Arc::new(wake);
        let mut threads = Vec::new();
        for n in 0..count.max(1) {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            let wake = Arc::clone(&wake);
            threads.push(thread::Builder::new().name(format!("splitd-work-{n}")).spawn(move || loop {
                let next = match job_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok((tag, work)) = next else { return };
                if done_tx.send((tag, run(work))).is_err() {
                    return;
                }
                wake();
            })?);
        }
        Ok(Workers { jobs: Some(job_tx), finished: done_rx, threads })
    }

    /// Queues work; `false` if the workers are gone.
    pub fn submit(&self, tag: T, work: Work) -> bool {
        self.jobs.as_ref().is_some_and(|jobs| jobs.send((tag, work)).is_ok())
    }

    /// A finished result, if any (never blocks).
    pub fn try_finished(&self) -> Option<(T, WorkDone)> {
        self.finished.try_recv().ok()
    }
}

impl<T> Drop for Workers<T> {
    fn drop(&mut self) {
        // Closing the job channel ends each worker after its current job.
        self.jobs.take();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_return_tagged_results_and_wake() {
        let woken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&woken);
        let workers = Workers::start(2, move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })
        .unwrap();
        assert!(workers.submit(7u32, Work::Hash { password: "password1".into() }));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let (tag, done) = loop {
            if let Some(result) = workers.try_finished() {
                break result;
            }
            assert!(std::time::Instant::now() < deadline, "worker never answered");
            thread::sleep(std::time::Duration::from_millis(5));
        };
        assert_eq!(tag, 7);
        assert!(matches!(done, WorkDone::Hashed(ref phc) if auth::verify_password("password1", phc)));
        assert!(woken.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    }
}
