//! The sync thread: a storage's slow work (write, fdatasync, rename) done in order on its own
//! thread while the loop goes on executing requests (pipelined group commit).
//!
//! The loop sends numbered jobs; the thread takes every job queued by the time it is free as one
//! batch (so one fdatasync covers everything that arrived during the last one), runs it, reports
//! the batch's last number with its result and wakes the loop. After a failed batch it stops: a
//! write or fsync is never retried (the kernel may have dropped the dirty pages), the loop stops
//! the server without acknowledging what it held. Dropping the syncer finishes the queued jobs
//! and joins the thread.
//!
//! Serves the single node's write-ahead log (`wal`) and a cluster member's raft log
//! (`cluster::durable`); owns neither's files or formats.

use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;

pub struct Syncer<J> {
    jobs: Option<Sender<(u64, J)>>,
    done: Receiver<(u64, io::Result<()>)>,
    thread: Option<thread::JoinHandle<()>>,
}

impl<J: Send + 'static> Syncer<J> {
    /// Starts thread `name`, which runs each batch with `work` and calls `wake` after it.
    pub fn start<W>(name: &str, mut work: W, wake: impl Fn() + Send + 'static) -> io::Result<Syncer<J>>
    where
        W: FnMut(Vec<J>) -> io::Result<()> + Send + 'static,
    {
        let (job_tx, job_rx) = mpsc::channel::<(u64, J)>();
        let (done_tx, done_rx) = mpsc::channel();
        let thread = thread::Builder::new().name(name.into()).spawn(move || {
            while let Ok((mut last, job)) = job_rx.recv() {
                let mut batch = vec![job];
                while let Ok((number, job)) = job_rx.try_recv() {
                    last = number;
                    batch.push(job);
                }
                let result = work(batch);
                let failed = result.is_err();
                if done_tx.send((last, result)).is_err() {
                    return;
                }
                wake();
                if failed {
                    return;
                }
            }
        })?;
        Ok(Syncer { jobs: Some(job_tx), done: done_rx, thread: Some(thread) })
    }

    /// Queues job `number` (numbers never decrease).
    pub fn send(&self, number: u64, job: J) -> io::Result<()> {
        let stopped = || io::Error::other("the log sync thread has stopped");
        self.jobs.as_ref().ok_or_else(stopped)?.send((number, job)).map_err(|_| stopped())
    }

    /// A finished batch, if one is: the last job number in it and its result.
    pub fn poll(&self) -> Option<(u64, io::Result<()>)> {
        self.done.try_recv().ok()
    }

    /// Waits for the next finished batch; `None` if the thread stopped.
    pub fn wait(&self) -> Option<(u64, io::Result<()>)> {
        self.done.recv().ok()
    }
}

impl<J> Drop for Syncer<J> {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn jobs_run_in_order_in_batches_and_a_failure_stops_the_thread() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let syncer = Syncer::start(
            "test-sync",
            move |batch: Vec<u32>| {
                let mut seen = record.lock().map_err(|_| io::Error::other("poisoned"))?;
                seen.extend(batch.iter().copied());
                if batch.contains(&99) {
                    return Err(io::Error::other("disk full"));
                }
                Ok(())
            },
            || {},
        )
        .expect("starts");
        for n in 1..=5 {
            syncer.send(n, n as u32).expect("queued");
        }
        let mut last = 0;
        while last < 5 {
            let (number, result) = syncer.wait().expect("a batch");
            assert!(result.is_ok() && number > last, "batches end at increasing numbers");
            last = number;
        }
        syncer.send(6, 99).expect("queued");
        let (number, result) = syncer.wait().expect("the failed batch");
        assert!(number == 6 && result.is_err());
        assert!(syncer.wait().is_none(), "nothing runs after a failure");
        assert_eq!(*seen.lock().expect("lock"), vec![1, 2, 3, 4, 5, 99]);
    }
}
