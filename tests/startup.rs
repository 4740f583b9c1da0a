//! How `splitd` starts and refuses to: exit 2 for a command line that is wrong, exit 1 when it cannot
//! start, and a taken address fails before the data directory is created or read.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

/// A path under the temp dir that does not exist yet; removed (if made) on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        Scratch(std::env::temp_dir().join(format!("splitd-startup-{tag}-{}-{nanos}", std::process::id())))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs splitd to its exit (each case here exits at once).
fn splitd(args: &[&str], data: &Scratch) -> Output {
    Command::new(env!("CARGO_BIN_EXE_splitd")).args(args).arg("--data-dir").arg(&data.0).output().expect("run splitd")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_taken_address_fails_with_exit_1_before_the_data_directory_is_touched() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let data = Scratch::new("taken");
    let output = splitd(&["--listen", &addr], &data);
    let said = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(said.contains(&format!("cannot listen on {addr}")), "{said}");
    assert!(!said.contains("recovered"), "nothing was recovered: {said}");
    assert!(!data.0.exists(), "the data directory was not created");
    assert!(output.stdout.is_empty(), "nothing listened");
}

#[test]
fn usage_errors_exit_2_and_start_failures_exit_1() {
    let data = Scratch::new("usage");
    let output = splitd(&["--no-such-flag"], &data);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--no-such-flag"), "{}", stderr(&output));
    let output = splitd(&["--listen", "127.0.0.1:0", "--tls-cert", "cert.pem"], &data);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--tls-cert and --tls-key go together"), "{}", stderr(&output));
    assert!(!data.0.exists(), "a usage error touches nothing");
    // A data directory that cannot be one: a plain file in its place.
    std::fs::write(&data.0, b"not a directory").expect("file");
    let output = splitd(&["--listen", "127.0.0.1:0"], &data);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("cannot start"), "{}", stderr(&output));
    let help = Command::new(env!("CARGO_BIN_EXE_splitd")).arg("--help").output().expect("run splitd");
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--data-dir"));
}
