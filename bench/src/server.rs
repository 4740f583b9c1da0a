//! Starting and stopping a server binary (splitd or compatible) for the harness, and reading a
//! process's memory from `/proc`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// A server the harness started. Killed on drop if still running.
pub struct Spawned {
    pub child: Child,
    pub addr: SocketAddr,
    pub pid: u32,
    /// From spawn to the `listening on` line: recovery, binding, everything before serving.
    pub ready_after: Duration,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

/// Starts `bin --listen 127.0.0.1:0 --data-dir DIR ARGS...` and waits (up to `timeout`) for its
/// `... listening on ADDR` line on stdout.
pub fn spawn(bin: &Path, data_dir: &Path, args: &[String], timeout: Duration) -> Result<Spawned, String> {
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot start {}: {err}", bin.display()))?;
    let pid = child.id();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut lines) = sink.lock() {
                lines.push(line);
            }
        }
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        let _ = reader.read_line(&mut first);
        let _ = tx.send(first);
        // Keep draining so the server never blocks on a full pipe.
        let mut rest = String::new();
        while matches!(reader.read_line(&mut rest), Ok(n) if n > 0) {
            rest.clear();
        }
    });
    let first = match rx.recv_timeout(timeout) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{} did not report listening within {timeout:?}", bin.display()));
        }
    };
    let ready_after = started.elapsed();
    // `splitd listening on ADDR`, or `... ADDR (tls)` when it was given a certificate.
    let addr = first.trim().trim_end_matches(" (tls)").rsplit(' ').next().and_then(|a| a.parse::<SocketAddr>().ok());
    let Some(addr) = addr else {
        let _ = child.kill();
        let _ = child.wait();
        std::thread::sleep(Duration::from_millis(100));
        let err = lines.lock().map(|l| l.join("\n")).unwrap_or_default();
        return Err(format!("{} did not start: stdout {first:?}, stderr {err}", bin.display()));
    };
    Ok(Spawned { child, addr, pid, ready_after, stderr: lines })
}

impl Spawned {
    /// SIGTERM, then wait for exit (killed after `timeout`). Returns how long the exit took.
    pub fn terminate(&mut self, timeout: Duration) -> Result<Duration, String> {
        let started = Instant::now();
        let status = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status();
        if !matches!(status, Ok(s) if s.success()) {
            return Err("kill -TERM failed".into());
        }
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!("server did not exit within {timeout:?} of SIGTERM"));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// SIGKILL: the server does no shutdown work at all.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The stderr lines seen so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `VmRSS` of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmRSS:")
}

/// A `kB` field of `/proc/PID/status`.
pub fn status_field(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

/// Bytes of all files under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// A fresh, empty directory `parent/name` (removed first if it exists).
pub fn fresh_dir(parent: Option<&Path>, name: &str) -> Result<PathBuf, String> {
    let parent = parent.map(Path::to_path_buf).unwrap_or_else(std::env::temp_dir);
    let dir = parent.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    Ok(dir)
}

/// Raises this process's open-file soft limit to its hard limit when `needed` is above the soft one,
/// with util-linux `prlimit` (best effort: children started later inherit it).
pub fn raise_fd_limit(needed: u64) {
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return;
    };
    let Some(line) = limits.lines().find(|l| l.starts_with("Max open files")) else {
        return;
    };
    let numbers: Vec<u64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    let (Some(&soft), Some(&hard)) = (numbers.first(), numbers.get(1)) else {
        return;
    };
    if soft >= needed {
        return;
    }
    let pid = std::process::id().to_string();
    let ok = Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={hard}:{hard}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok || hard < needed {
        eprintln!(
            "splitbench: warning: open-file limit is {soft} (hard {hard}); {needed} needed: raise it with ulimit -n"
        );
    }
}
