//! Work done in a forked child process, so the loop is stalled only by the fork (the page-table
//! copy), not by the work: the child sees the parent's memory frozen at that instant through
//! copy-on-write. Used for snapshots (the single node's, `Store::start_background_snapshot`, and a
//! cluster member's raft snapshots), which serialise and write the whole state.
//!
//! Owns `fork`, the child's exit and reaping it; not what the child does.

use std::io;

pub type Pid = libc::pid_t;

/// Runs `work` in a child process; the child exits 0 when `work` returns true. Returns its pid.
/// The child must only compute and write files: it never returns into the caller's code.
pub fn spawn(work: impl FnOnce() -> bool) -> io::Result<Pid> {
    // SAFETY: fork() in a multi-threaded process leaves the child with only this thread; locks
    // other threads held stay locked in the child. The child therefore touches nothing guarded by
    // such a lock: it never prints (std's stdout/stderr locks), never returns into the event loop,
    // and leaves with `_exit` (no atexit handlers, no destructors touching shared state). What it
    // does use is fork-safe: glibc's malloc re-initialises its arena locks in the child (its own
    // atfork handlers), and file I/O here is plain system calls. The slow-work threads (hashes,
    // settlement searches) and the log's sync thread hold no lock the child needs. The parent's
    // memory is not changed by the child.
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // The child's work is useless without its parent (which removes the covered log), and it
        // holds the data directory's lock and the listening socket: die with the parent.
        // SAFETY: prctl and getppid are async-signal-safe system calls.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != parent {
                libc::_exit(1);
            }
        }
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        let code = if matches!(done, Ok(true)) { 0 } else { 1 };
        // SAFETY: `_exit` ends the child at once, without unwinding or running exit handlers.
        unsafe { libc::_exit(code) }
    }
    Ok(pid)
}

/// Checks on a child without waiting: `None` while it runs; `Some(Ok(()))` when it exited 0;
/// `Some(Err(status))` when it failed or could not be reaped.
pub fn reap(pid: Pid) -> Option<Result<(), i32>> {
    let mut status = 0;
    // SAFETY: waitpid on our own child's pid with a valid pointer to a local.
    let reaped = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    if reaped == 0 {
        return None;
    }
    if reaped < 0 || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Some(Err(status));
    }
    Some(Ok(()))
}
