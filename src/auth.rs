//! Password hashing, off the event loop.
//!
//! argon2id is slow on purpose (tens of milliseconds), so the loop never runs it: it hands `HashWork`
//! to worker threads through a channel and is woken by a `mio::Waker` when a result is ready. The
//! requesting connection waits, parked; everyone else is served meanwhile.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::machine::{HashDone, HashWork};

/// OWASP's minimum recommendation for argon2id (2024): 19 MiB memory, 2 passes, 1 lane.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const PASSES: u32 = 2;
pub const LANES: u32 = 1;

fn hasher() -> Option<Argon2<'static>> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).ok()?;
    Some(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), salted from the OS RNG.
pub fn hash_password(password: &str) -> Option<String> {
    let salt = SaltString::generate(&mut OsRng);
    Some(hasher()?.hash_password(password.as_bytes(), &salt).ok()?.to_string())
}

/// Whether `password` matches `phc`. A malformed hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let (Some(hasher), Ok(parsed)) = (hasher(), PasswordHash::new(phc)) else {
        return false;
    };
    hasher.verify_password(password.as_bytes(), &parsed).is_ok()
}

/// Runs one piece of work, here and now (workers, tests and the importer call this).
pub fn run(work: HashWork) -> HashDone {
    match work {
        HashWork::Hash { password } => hash_password(&password).map_or(HashDone::Failed, HashDone::Hashed),
        HashWork::Verify { password, phc } => HashDone::Verified(verify_password(&password, &phc)),
    }
}

/// A pool of hashing threads. `T` is the caller's tag (which connection asked), returned untouched.
pub struct HashWorkers<T> {
    jobs: Option<Sender<(T, HashWork)>>,
    finished: Receiver<(T, HashDone)>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl<T: Send + 'static> HashWorkers<T> {
    /// Starts `count` threads (at least one); `wake` is called after each result is queued.
    pub fn start(count: usize, wake: impl Fn() + Send + Sync + 'static) -> std::io::Result<HashWorkers<T>> {
        let (job_tx, job_rx) = mpsc::channel::<(T, HashWork)>();
        let (done_tx, done_rx) = mpsc::channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let wake = Arc::new(wake);
        let mut threads = Vec::new();
        for n in 0..count.max(1) {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            let wake = Arc::clone(&wake);
            threads.push(thread::Builder::new().name(format!("splitd-hash-{n}")).spawn(move || loop {
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
        Ok(HashWorkers { jobs: Some(job_tx), finished: done_rx, threads })
    }

    /// Queues work; `false` if the workers are gone.
    pub fn submit(&self, tag: T, work: HashWork) -> bool {
        self.jobs.as_ref().is_some_and(|jobs| jobs.send((tag, work)).is_ok())
    }

    /// A finished result, if any (never blocks).
    pub fn try_finished(&self) -> Option<(T, HashDone)> {
        self.finished.try_recv().ok()
    }
}

impl<T> Drop for HashWorkers<T> {
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
    use crate::machine::DUMMY_PASSWORD_HASH;

    #[test]
    fn hashes_verify_and_never_contain_the_password() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!phc.contains("correct horse"));
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("wrong horse", &phc));
        assert!(!verify_password("x", "not a hash"));
        // Two hashes of one password differ: salted.
        assert_ne!(phc, hash_password("correct horse").unwrap());
    }

    #[test]
    fn dummy_hash_is_a_real_hash_with_the_same_cost() {
        let parsed = PasswordHash::new(DUMMY_PASSWORD_HASH).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        let real = hash_password("whatever1").unwrap();
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(parsed.params, real.params);
        assert!(!verify_password("", DUMMY_PASSWORD_HASH));
    }

    #[test]
    fn workers_return_tagged_results_and_wake() {
        let woken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&woken);
        let workers = HashWorkers::start(2, move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })
        .unwrap();
        assert!(workers.submit(7u32, HashWork::Hash { password: "password1".into() }));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let (tag, done) = loop {
            if let Some(result) = workers.try_finished() {
                break result;
            }
            assert!(std::time::Instant::now() < deadline, "worker never answered");
            thread::sleep(std::time::Duration::from_millis(5));
        };
        assert_eq!(tag, 7);
        assert!(matches!(done, HashDone::Hashed(ref phc) if verify_password("password1", phc)));
        assert!(woken.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    }
}
