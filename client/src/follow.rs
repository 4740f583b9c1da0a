//! Reaching the member that serves: a connection to one of the servers given (`--server a,b,c`) that
//! follows `not_leader` answers and finds a live member when one is down. `conn` owns one
//! connection; this module owns which one, and when to try again.
//!
//! Why a layer of its own: a cluster member never forwards a request, it names the leader
//! (docs/protocol.md, "Cluster mode"); going there is a new connection (a new reader thread, the
//! login again), which is more than one connection's business.
//!
//! The rules, for one request (docs/operations.md, "What a client sees during failover"):
//! - `not_leader` naming another member: connect there, log in again as before, send the request
//!   again. It was not run where it was refused, so sending it again is always safe. [`MAX_HOPS`]
//!   such moves at once, then each further one after a 200 ms pause (members that name each other
//!   are in an election), at most [`MAX_HOPS`] × [`REDIRECT_ROUNDS`] in all.
//! - `not_leader` naming no leader (an election) or this very member (a leader just elected, still
//!   applying earlier terms' entries): wait and ask again, backing off from 50 ms to 200 ms.
//! - A member that cannot be reached or a connection that breaks: the next server of the list
//!   (after a pause once the whole list failed). A request cut off by a broken connection is sent
//!   again only if sending it twice cannot do anything twice ([`repeatable`]); otherwise the caller
//!   hears of the loss.
//! - All of it for at most [`FOLLOW_FOR`], then a clear error.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use vocab::Action;

use crate::conn::{Conn, Error, Handler, Object, Target};

/// Redirects followed for one request: a leader is reached in one; more means members disagree
/// (an election under way), and the waits below are the better answer to that.
pub const MAX_HOPS: usize = 5;
/// How many times `MAX_HOPS` redirects may be followed (pausing after the first round) in all.
pub const REDIRECT_ROUNDS: usize = 3;
/// How long one request keeps looking for the leader: several elections (0.5-1 s each).
pub const FOLLOW_FOR: Duration = Duration::from_secs(10);
/// Pauses between asks while no leader serves (then 200 ms each): an election takes 0.5-0.8 s,
/// and a longer pause would mostly add to the client's wait after it.
const BACKOFF_MS: [u64; 3] = [50, 100, 200];

/// Requests that can be sent again after a broken connection without doing anything twice: reads,
/// logging in, and changes that carry an idempotency key (the server applies those once).
pub fn repeatable(action: Action, data: Option<&Value>) -> bool {
    let field = |name: &str| data.and_then(|d| d.get(name));
    let keyed = field("key").is_some();
    let settle_read = action == Action::Settle && field("record") != Some(&Value::Bool(true));
    keyed
        || settle_read
        || matches!(
            action,
            Action::Login
                | Action::ListGroups
                | Action::GetGroupMembers
                | Action::ViewTransactions
                | Action::ViewBalances
                | Action::ViewPayments
                | Action::BalanceDetails
                | Action::PairwiseDebts
                | Action::Export
                | Action::History
                | Action::GroupInfo
                | Action::ListCategories
                | Action::Stats
                | Action::ListRecurring
        )
}

/// A connection to whichever member serves. Pushed messages of every connection it makes go to the
/// one handler it was given.
pub struct Client {
    servers: Vec<Target>,
    /// The server of the list last connected to (a member a redirect named need not be in it).
    index: usize,
    target: Target,
    conn: Option<Conn>,
    handler: Arc<Mutex<Handler>>,
    /// The last `login` or `resume` that succeeded: sent first on every new connection.
    login: Option<(Action, Value)>,
}

/// Where to go after a request was not answered.
enum Next {
    /// The leader, as a `not_leader` named it.
    To(String),
    /// Nowhere: ask the same member again after a pause.
    Wait,
    /// The next server of the list.
    Rotate,
}

impl Client {
    /// Connects to the first server of the list that answers.
    pub fn connect(servers: Vec<Target>, handler: Handler) -> Result<Client, Error> {
        let Some(first) = servers.first().cloned() else {
            return Err(Error::Connect { addr: String::new(), reason: "no server given".into() });
        };
        let handler = Arc::new(Mutex::new(handler));
        let mut client = Client { servers, index: 0, target: first, conn: None, handler, login: None };
        let mut last = None;
        for index in 0..client.servers.len() {
            client.index = index;
            match client.open(client.servers[index].clone()) {
                Ok(()) => return Ok(client),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Lost("no server answered".into())))
    }

    /// The member connected to (or last tried).
    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn is_alive(&self) -> bool {
        self.conn.as_ref().is_some_and(Conn::is_alive)
    }

    /// [`Conn::request`] on the member that serves: follows `not_leader`, waits out elections,
    /// moves past dead members, within the bounds above.
    pub fn request(&mut self, action: Action, data: Option<Value>) -> Result<Object, Error> {
        let mut tries = Tries { until: Instant::now() + FOLLOW_FOR, hops: 0, waits: 0, rotations: 0 };
        // A failure to reach a member, judged as if the request had failed there unsent.
        let mut unreached: Option<Error> = None;
        loop {
            let (error, sent) = match (unreached.take(), self.conn.as_mut()) {
                (Some(error), _) => (error, false),
                (None, Some(conn)) if conn.is_alive() => match conn.request(action, data.clone()) {
                    Ok(reply) => {
                        if matches!(action, Action::Login | Action::Resume) {
                            self.login = data.map(|data| (action, data));
                        }
                        return Ok(reply);
                    }
                    Err(error) => (error, true),
                },
                (None, _) => (Error::Lost("not connected".into()), false),
            };
            let next = match &error {
                Error::NotLeader { leader: Some(leader), .. } if *leader != self.target.endpoint.addr => {
                    Next::To(leader.clone())
                }
                Error::NotLeader { .. } => Next::Wait,
                Error::Lost(_) | Error::Connect { .. } if !sent || repeatable(action, data.as_ref()) => Next::Rotate,
                _ => return Err(error),
            };
            tries.allow(&next, error, self.servers.len())?;
            if let Err(error) = self.go(next) {
                unreached = Some(error);
            }
        }
    }

    fn go(&mut self, next: Next) -> Result<(), Error> {
        match next {
            Next::To(addr) => {
                let target = self.target.with_addr(&addr).map_err(|reason| Error::Connect { addr, reason })?;
                self.open(target)
            }
            Next::Wait if self.is_alive() => Ok(()),
            Next::Wait => self.open(self.target.clone()),
            Next::Rotate => {
                self.index = (self.index + 1) % self.servers.len();
                self.open(self.servers[self.index].clone())
            }
        }
    }

    /// A new connection to `target` (the old one closed first), logged in again if we were.
    fn open(&mut self, target: Target) -> Result<(), Error> {
        self.conn = None;
        self.target = target;
        let shared = Arc::clone(&self.handler);
        let handler: Handler = Box::new(move |notice| {
            if let Ok(mut handler) = shared.lock() {
                handler(notice);
            }
        });
        let mut conn = Conn::connect(&self.target, handler)?;
        if let Some((action, login)) = &self.login {
            conn.request(*action, Some(login.clone()))?;
        }
        self.conn = Some(conn);
        Ok(())
    }
}

/// What one request has used of its bounds.
struct Tries {
    until: Instant,
    hops: usize,
    waits: usize,
    rotations: usize,
}

impl Tries {
    /// Whether `next` may be tried after `error` (pausing first when it should); else the error
    /// to report.
    fn allow(&mut self, next: &Next, error: Error, servers: usize) -> Result<(), Error> {
        let now = Instant::now();
        if now >= self.until {
            return Err(match error {
                Error::NotLeader { leader: None, .. } => Error::NotLeader {
                    message: format!(
                        "no member leads the cluster (an election, or no majority alive); gave up after {} s",
                        FOLLOW_FOR.as_secs()
                    ),
                    leader: None,
                },
                other => other,
            });
        }
        let pause = match next {
            Next::To(leader) => {
                self.hops += 1;
                if self.hops <= MAX_HOPS {
                    None
                } else if self.hops <= MAX_HOPS * REDIRECT_ROUNDS {
                    // Members that disagree on the leader (an election under way) agree within one:
                    // past MAX_HOPS redirects in a row, pause before each further one.
                    Some(BACKOFF_MS.len() - 1)
                } else {
                    return Err(Error::NotLeader {
                        message: format!(
                            "followed {} not_leader redirects without reaching the leader",
                            MAX_HOPS * REDIRECT_ROUNDS
                        ),
                        leader: Some(leader.clone()),
                    });
                }
            }
            Next::Wait => Some(self.waits),
            // A pause only once every server of the list has failed in turn.
            Next::Rotate => {
                self.rotations += 1;
                let rounds = self.rotations / servers.max(1);
                self.rotations.is_multiple_of(servers.max(1)).then(|| rounds.saturating_sub(1))
            }
        };
        if let Some(step) = pause {
            self.waits += usize::from(matches!(next, Next::Wait));
            let ms = BACKOFF_MS[step.min(BACKOFF_MS.len() - 1)];
            std::thread::sleep(Duration::from_millis(ms).min(self.until - now));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// What a fake member does with a request: a reply (its `id` added), or `None` to hang up.
    type Answer = Box<dyn FnMut(&str) -> Option<Value> + Send>;

    /// A fake member on a free port: answers every line by `answer`; returns its address and the
    /// actions it was sent, in order.
    fn member(mut answer: Answer) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let Ok(reader) = stream.try_clone() else { return };
                for line in BufReader::new(reader).lines() {
                    let Ok(request) = serde_json::from_str::<Value>(&line.unwrap_or_default()) else { break };
                    let action = request["action"].as_str().unwrap_or("").to_string();
                    log.lock().expect("log").push(action.clone());
                    let Some(mut reply) = answer(&action) else { break };
                    reply["id"] = request["id"].clone();
                    if stream.write_all(format!("{reply}\n").as_bytes()).is_err() {
                        break;
                    }
                }
            }
        });
        (addr, seen)
    }

    fn ok() -> Option<Value> {
        Some(json!({"status": "ok", "groups": []}))
    }

    fn not_leader(leader: Option<&str>) -> Option<Value> {
        Some(json!({"status": "error", "code": "not_leader", "message": "not the leader", "leader": leader}))
    }

    fn connect(servers: &[&str]) -> Client {
        let targets = servers.iter().map(|s| Target::plain(s)).collect();
        Client::connect(targets, Box::new(|_| {})).expect("connect")
    }

    fn login() -> Option<Value> {
        Some(json!({"username": "alice", "password": "pw"}))
    }

    #[test]
    fn a_redirect_is_followed_with_the_login_sent_again() {
        let (leader, on_leader) = member(Box::new(|_| ok()));
        let named = leader.clone();
        let (follower, on_follower) =
            member(Box::new(move |action| if action == "login" { ok() } else { not_leader(Some(&named)) }));
        let mut client = connect(&[&follower]);
        client.request(Action::Login, login()).expect("login on the follower");
        let reply = client.request(Action::CreateGroup, Some(json!({"group": "g"}))).expect("answered by the leader");
        assert_eq!(reply["status"], "ok");
        assert_eq!(client.target().endpoint.addr, leader);
        assert_eq!(*on_follower.lock().expect("log"), ["login", "create_group"]);
        assert_eq!(*on_leader.lock().expect("log"), ["login", "create_group"]);
        // The next request goes straight to the leader.
        client.request(Action::ListGroups, None).expect("a read");
        assert_eq!(on_follower.lock().expect("log").len(), 2);
    }

    #[test]
    fn an_election_is_waited_out() {
        let mut refusals = 0;
        let (addr, seen) = member(Box::new(move |_| {
            refusals += 1;
            if refusals <= 3 {
                not_leader(None)
            } else {
                ok()
            }
        }));
        let mut client = connect(&[&addr]);
        let started = Instant::now();
        client.request(Action::CreateGroup, Some(json!({"group": "g"}))).expect("served after the election");
        assert_eq!(seen.lock().expect("log").len(), 4);
        // 50 + 100 + 200 ms of backing off, not a busy loop.
        assert!(started.elapsed() >= Duration::from_millis(350), "{:?}", started.elapsed());
    }

    #[test]
    fn members_naming_each_other_end_in_a_clear_error() {
        let slot: Arc<Mutex<String>> = Arc::default();
        let named = Arc::clone(&slot);
        let (a, _) = member(Box::new(move |_| not_leader(Some(&named.lock().expect("slot")))));
        let (b, seen_b) = member(Box::new({
            let a = a.clone();
            move |_| not_leader(Some(&a))
        }));
        *slot.lock().expect("slot") = b.clone();
        let mut client = connect(&[&a]);
        match client.request(Action::CreateGroup, Some(json!({"group": "g"}))) {
            Err(e @ Error::NotLeader { .. }) => {
                assert!(e.to_string().contains("redirects"), "{e}");
                assert_eq!(e.exit_code(), 3);
            }
            other => panic!("expected not_leader, got {other:?}"),
        }
        assert!(seen_b.lock().expect("log").len() <= MAX_HOPS * REDIRECT_ROUNDS, "bounded");
    }

    #[test]
    fn a_dead_server_of_the_list_is_skipped() {
        let dead = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr").to_string()
        };
        let (live, seen) = member(Box::new(|_| ok()));
        let mut client = connect(&[&dead, &live]);
        client.request(Action::ListGroups, None).expect("the live one answers");
        assert_eq!(client.target().endpoint.addr, live);
        assert_eq!(*seen.lock().expect("log"), ["list_groups"]);
    }

    #[test]
    fn a_cut_off_change_is_not_sent_twice_but_a_keyed_one_is() {
        let mut requests = 0;
        let (addr, seen) = member(Box::new(move |_| {
            requests += 1;
            (requests > 1).then(|| json!({"status": "ok"}))
        }));
        let mut client = connect(&[&addr]);
        let unkeyed = client.request(Action::CreateGroup, Some(json!({"group": "g"})));
        assert!(matches!(unkeyed, Err(Error::Lost(_))), "{unkeyed:?}");
        assert_eq!(seen.lock().expect("log").len(), 1, "not sent again");
        let mut requests = 0;
        let (addr, seen) = member(Box::new(move |_| {
            requests += 1;
            (requests > 1).then(|| json!({"status": "ok"}))
        }));
        let mut second = connect(&[&addr]);
        second.request(Action::AddTransaction, Some(json!({"group": "g", "key": "k1"}))).expect("sent again");
        assert_eq!(seen.lock().expect("log").len(), 2);
    }
}
