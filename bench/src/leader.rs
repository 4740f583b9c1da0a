//! Talking to a cluster (docs/operations.md, "Running three nodes"): which member leads, and a
//! blocking, plain-TCP session for the `failover` scenario's set-up and writer.
//!
//! A member that does not lead answers writes with `not_leader` and the leader's client address
//! (`null` during an election); it never forwards. So before a scenario loads `--addr`, [`locate`]
//! sends a probe write there (`create_group`, not logged in: the leader refuses it with
//! `not_authenticated` and changes nothing; a single node does the same) and follows the answer.

use std::io::{self, BufRead, BufReader, ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::net::{Pool, Tls};
use crate::proto;

/// Redirects followed: one reaches the leader; more means an election is under way.
const HOPS_MAX: usize = 5;
/// How long [`locate`] waits for an election to end.
const LOCATE_FOR: Duration = Duration::from_secs(20);

/// What a reply says, as far as finding the leader goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Ok,
    /// `not_leader`, with the leader's client address when the member knows it.
    NotLeader(Option<SocketAddr>),
    /// Any other error: its code and message.
    Error(String),
}

impl Answer {
    pub fn of(reply: &Value) -> Answer {
        match (reply["status"].as_str(), reply["code"].as_str()) {
            (Some("ok"), _) => Answer::Ok,
            (_, Some("not_leader")) => Answer::NotLeader(reply["leader"].as_str().and_then(|a| a.parse().ok())),
            (_, code) => Answer::Error(format!("{}: {}", code.unwrap_or("?"), reply["message"].as_str().unwrap_or(""))),
        }
    }
}

/// The member that serves writes, starting from `addr` (which it is, on a single node). Only
/// loopback addresses are followed: this harness never loads another machine.
pub fn locate(addr: SocketAddr, tls: Option<Tls>, quiet: bool) -> Result<SocketAddr, String> {
    let until = Instant::now() + LOCATE_FOR;
    let (mut at, mut hops) = (addr, 0);
    loop {
        let mut pool = Pool::new(at, false, tls.clone()).map_err(|err| format!("poll: {err}"))?;
        let key = pool.open().map_err(|err| format!("connect to {at}: {err}"))?;
        let reply = crate::scenarios::call(&mut pool, key, &proto::create_group("splitbench_probe"), LOCATE_FOR)?;
        let reply: Value = serde_json::from_slice(&reply).unwrap_or(Value::Null);
        match Answer::of(&reply) {
            Answer::NotLeader(Some(leader)) if leader != at => {
                if !leader.ip().is_loopback() {
                    return Err(format!("{at} names the leader {leader}, which is not on loopback"));
                }
                hops += 1;
                if hops > HOPS_MAX {
                    return Err(format!("followed {HOPS_MAX} not_leader redirects without reaching the leader"));
                }
                if !quiet {
                    eprintln!("splitbench: {at} is not the leader; using {leader}");
                }
                at = leader;
            }
            Answer::NotLeader(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(100)),
            Answer::NotLeader(_) => return Err(format!("no leader within {LOCATE_FOR:?} (asked {at})")),
            Answer::Ok | Answer::Error(_) => return Ok(at),
        }
    }
}

/// One logged-in connection to one member, a request at a time.
pub struct Session {
    pub addr: SocketAddr,
    reader: BufReader<TcpStream>,
    out: TcpStream,
}

impl Session {
    /// Connects (within `timeout`, also the reply timeout) and, with `user`, logs in.
    pub fn open(addr: SocketAddr, user: Option<&str>, timeout: Duration) -> io::Result<Session> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        let mut session = Session { addr, reader: BufReader::new(stream.try_clone()?), out: stream };
        if let Some(user) = user {
            let reply = session.request(&proto::login(user))?;
            if Answer::of(&reply) != Answer::Ok {
                return Err(io::Error::other(format!("login on {addr}: {reply}")));
            }
        }
        Ok(session)
    }

    /// Sends one request line, returns its reply (pushed messages skipped). An error when the
    /// connection closed or timed out: the request may or may not have been done.
    pub fn request(&mut self, line: &[u8]) -> io::Result<Value> {
        self.out.write_all(line)?;
        let mut text = String::new();
        loop {
            text.clear();
            if self.reader.read_line(&mut text)? == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            let message: Value = serde_json::from_str(&text).map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
            if message.get("status").is_some() {
                return Ok(message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_tell_the_leader_apart() {
        assert_eq!(Answer::of(&json!({"status": "ok"})), Answer::Ok);
        let named = json!({"status": "error", "code": "not_leader", "leader": "127.0.0.1:7001", "message": "m"});
        assert_eq!(Answer::of(&named), Answer::NotLeader(Some("127.0.0.1:7001".parse().unwrap())));
        let electing = json!({"status": "error", "code": "not_leader", "leader": null, "message": "m"});
        assert_eq!(Answer::of(&electing), Answer::NotLeader(None));
        let other = json!({"status": "error", "code": "not_authenticated", "message": "Not logged in"});
        assert_eq!(Answer::of(&other), Answer::Error("not_authenticated: Not logged in".into()));
    }
}
