//! The one-shot subcommands: check the command line, log in (or sign up), send one request, print
//! the answer as a table (or the reply as JSON with --json), exit with a code a script can test.
//!
//! Why this shape: every subcommand is "build `data`, call [`Client::request`](crate::follow::Client::request), render the reply", so a
//! server action is one more arm in [`run`] and one more small argh struct in main.rs.
//!
//! Logging in: with the token stored for this server and user (`tokens`) if there is one, else — or
//! when the server refuses it — with the password, storing the token that login returns. So the
//! password is asked for only when no stored token works.
//!
//! `add` and `pay` send an idempotency key (`--key`, else a fresh one): a script that retries after a
//! lost connection can pass the same `--key` and the change happens once.

use crate::conn::{Error, Handler, Object};
use crate::follow::Client;
use crate::spec::{self, check_date, parse_paid_by, parse_split, parse_user_amount};
use crate::table::Table;
use crate::term::{self, json_safe, sanitize, warn};
use crate::tokens::Stored;
use crate::{view, Cli, Command, EXIT_USAGE};
use serde_json::{json, Value};
use vocab::Action;

/// One request on a connection: `Conn::request` or `follow::Client::request`.
type Requester<'a> = dyn FnMut(Action, Option<Value>) -> Result<Object, Error> + 'a;

/// Why a one-shot command stopped.
enum Failure {
    Usage(String),
    Net(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Net(e)
    }
}

impl Failure {
    /// As a connection error, for the watch loop: a usage failure (no password for a new login)
    /// ends it like a refusal.
    fn into_error(self) -> Error {
        match self {
            Failure::Net(e) => e,
            Failure::Usage(message) => Error::Server { message, code: None },
        }
    }
}

/// A reply that does not have the expected shape breaks the protocol.
fn shape(what: String) -> Failure {
    Failure::Net(Error::Protocol(what))
}

/// Runs one subcommand; returns the process exit code (messages already printed).
pub fn run(cli: &Cli, command: &Command) -> i32 {
    match run_command(cli, command) {
        Ok(code) => code,
        Err(Failure::Usage(text)) => {
            warn(&format!("splitc: {text}"));
            EXIT_USAGE
        }
        Err(Failure::Net(e)) => {
            warn(&format!("splitc: {e}"));
            e.exit_code()
        }
    }
}

fn run_command(cli: &Cli, command: &Command) -> Result<i32, Failure> {
    // Check everything that can be checked locally before asking for a password or connecting.
    match command {
        Command::Add(a) => {
            parse_user_amount(&a.amount).map_err(Failure::Usage)?;
            let split = parse_split(a.split.as_deref().unwrap_or("")).map_err(Failure::Usage)?;
            split.add_to(&mut json!({}), a.include_me).map_err(Failure::Usage)?;
            a.paid_by.as_deref().map(parse_paid_by).transpose().map_err(Failure::Usage)?;
            a.date.as_deref().map(check_date).transpose().map_err(Failure::Usage)?;
        }
        Command::Edit(e) => {
            e.amount.as_deref().map(parse_user_amount).transpose().map_err(Failure::Usage)?;
            match e.split.as_deref().map(parse_split).transpose().map_err(Failure::Usage)? {
                Some(split) => split.add_to(&mut json!({}), e.include_me).map_err(Failure::Usage)?,
                None if e.include_me => return Err(Failure::Usage("--include-me needs --split".into())),
                None => {}
            }
            e.paid_by.as_deref().map(parse_paid_by).transpose().map_err(Failure::Usage)?;
            e.date.as_deref().filter(|d| !d.is_empty()).map(check_date).transpose().map_err(Failure::Usage)?;
            if e.amount.is_none() && e.desc.is_none() && e.split.is_none() && e.paid_by.is_none() && e.date.is_none() {
                return Err(Failure::Usage(
                    "nothing to change: give --amount, --desc, --split, --paid-by or --date".into(),
                ));
            }
        }
        Command::Pay(p) => {
            parse_user_amount(&p.amount).map_err(Failure::Usage)?;
            p.date.as_deref().map(check_date).transpose().map_err(Failure::Usage)?;
        }
        Command::History(h) if h.limit.is_some_and(|n| !(1..=500).contains(&n)) => {
            return Err(Failure::Usage("--limit must be 1-500".into()));
        }
        Command::Export(e) if e.format != "csv" && e.format != "json" => {
            return Err(Failure::Usage(format!("--format must be csv or json, not {:?}", e.format)));
        }
        Command::Settle(c) if c.method.as_deref().is_some_and(|m| m != "minimal" && m != "greedy") => {
            return Err(Failure::Usage(format!(
                "--method must be minimal or greedy, not {:?}",
                c.method.as_deref().unwrap_or("")
            )));
        }
        _ => {}
    }
    let user = cli.user.clone().ok_or_else(|| Failure::Usage("this subcommand needs --user NAME".into()))?;
    // A signup needs the password before connecting; anything else only if no stored token works.
    let signup_password = match command {
        Command::Signup(_) => Some(password(cli, &user)?),
        _ => None,
    };

    // `watch` makes its own connections (watch.rs); the others ignore pushed messages.
    let handler: Handler = Box::new(|_| {});
    let servers = cli.targets().map_err(Failure::Usage)?;
    let mut conn = Client::connect(servers, handler)?;
    let stored = Stored::for_user(&cli.server, &user);
    if signup_password.is_none() {
        log_in(cli, &mut |action, data| conn.request(action, data), &user, stored.as_ref())?;
    }

    match command {
        Command::Signup(s) => {
            let credentials = json!({ "username": user, "password": signup_password });
            print_message(&conn.request(Action::Signup, Some(credentials))?, s.json)
        }
        Command::Logout(c) => {
            let reply = conn.request(Action::Logout, c.all.then(|| json!({ "all": true })))?;
            if let Some(stored) = &stored {
                stored.forget();
            }
            print_message(&reply, c.json);
        }
        Command::Sessions(c) => {
            let reply = conn.request(Action::Sessions, None)?;
            let table = view::sessions_table(&reply).map_err(shape)?;
            print_table(&reply, c.json, table);
        }
        Command::Groups(c) => {
            let reply = conn.request(Action::ListGroups, None)?;
            let groups = view::names(&reply, "groups").map_err(shape)?;
            print_table(&reply, c.json, view::names_table("GROUP", &groups));
        }
        Command::CreateGroup(c) => {
            let data = json!({ "group": c.group, "password": group_password(&c.group_password) });
            print_message(&conn.request(Action::CreateGroup, Some(data))?, c.json);
        }
        Command::Join(c) => {
            let data = json!({ "group": c.group, "password": group_password(&c.group_password) });
            print_message(&conn.request(Action::JoinGroup, Some(data))?, c.json);
        }
        Command::Members(c) => {
            let reply = conn.request(Action::GetGroupMembers, Some(json!({ "group": c.group })))?;
            let members = view::names(&reply, "members").map_err(shape)?;
            print_table(&reply, c.json, view::names_table("MEMBER", &members));
        }
        Command::Add(c) => {
            let amount = parse_user_amount(&c.amount).map_err(Failure::Usage)?;
            let mut data = json!({ "group": c.group, "amount": amount.to_json() });
            parse_split(c.split.as_deref().unwrap_or(""))
                .and_then(|split| split.add_to(&mut data, c.include_me))
                .map_err(Failure::Usage)?;
            if let Some(paid_by) = &c.paid_by {
                data["paid_by"] = parse_paid_by(paid_by).map_err(Failure::Usage)?;
            }
            if let Some(desc) = &c.desc {
                data["description"] = json!(desc);
            }
            if let Some(date) = &c.date {
                data["date"] = json!(date);
            }
            data["key"] = json!(c.key.clone().unwrap_or_else(spec::fresh_key));
            let reply = conn.request(Action::AddTransaction, Some(data))?;
            if c.json {
                print_json(&reply);
                return Ok(0);
            }
            print_message(&reply, false);
            if let Some(txn) = reply.get("transaction") {
                let txn = view::Txn::from_value(txn).map_err(shape)?;
                emit(&view::transactions_table(&[txn]).render());
            }
        }
        Command::Edit(c) => {
            let mut data = json!({ "group": c.group, "id": c.id });
            if let Some(amount) = &c.amount {
                data["amount"] = parse_user_amount(amount).map_err(Failure::Usage)?.to_json();
            }
            if let Some(split) = &c.split {
                parse_split(split).and_then(|s| s.add_to(&mut data, c.include_me)).map_err(Failure::Usage)?;
            }
            if let Some(paid_by) = &c.paid_by {
                data["paid_by"] = parse_paid_by(paid_by).map_err(Failure::Usage)?;
            }
            if let Some(desc) = &c.desc {
                data["description"] = json!(desc);
            }
            if let Some(date) = &c.date {
                data["date"] = json!(date);
            }
            let reply = conn.request(Action::EditTransaction, Some(data))?;
            if c.json {
                print_json(&reply);
                return Ok(0);
            }
            print_message(&reply, false);
            if let Some(txn) = reply.get("transaction") {
                let txn = view::Txn::from_value(txn).map_err(shape)?;
                emit(&view::transactions_table(&[txn]).render());
            }
        }
        Command::Pay(c) => {
            let amount = parse_user_amount(&c.amount).map_err(Failure::Usage)?;
            let mut data = json!({ "group": c.group, "to": c.to, "amount": amount.to_json() });
            if let Some(from) = &c.from {
                data["from"] = json!(from);
            }
            if let Some(date) = &c.date {
                data["date"] = json!(date);
            }
            data["key"] = json!(c.key.clone().unwrap_or_else(spec::fresh_key));
            let reply = conn.request(Action::RecordPayment, Some(data))?;
            if c.json {
                print_json(&reply);
                return Ok(0);
            }
            print_message(&reply, false);
            if let Some(payment) = reply.get("payment") {
                let payment = view::Payment::from_value(payment).map_err(shape)?;
                emit(&view::payments_table(&[payment]).render());
            }
        }
        Command::Payments(c) => {
            let reply = conn.request(Action::ViewPayments, Some(json!({ "group": c.group })))?;
            let list = view::payments(&reply).map_err(shape)?;
            print_table(&reply, c.json, view::payments_table(&list));
        }
        Command::DeletePayment(c) => {
            let reply = conn.request(Action::DeletePayment, Some(json!({ "group": c.group, "id": c.id })))?;
            print_message(&reply, c.json);
        }
        Command::History(c) => {
            let mut data = json!({ "group": c.group });
            if let Some(limit) = c.limit {
                data["limit"] = json!(limit);
            }
            if let Some(before) = c.before {
                data["before"] = json!(before);
            }
            let reply = conn.request(Action::History, Some(data))?;
            let (entries, next) = view::history(&reply).map_err(shape)?;
            if c.json {
                print_json(&reply);
                return Ok(0);
            }
            emit(&view::history_table(&entries).render());
            if let Some(next) = next {
                emit(&format!("(older entries: --before {next})\n"));
            }
        }
        Command::Leave(c) => {
            let reply = conn.request(Action::LeaveGroup, Some(json!({ "group": c.group })))?;
            print_message(&reply, c.json);
        }
        Command::Transactions(c) => {
            let reply = conn.request(Action::ViewTransactions, Some(json!({ "group": c.group })))?;
            let txns = view::transactions(&reply).map_err(shape)?;
            print_table(&reply, c.json, view::transactions_table(&txns));
        }
        Command::Delete(c) => {
            let reply = conn.request(Action::DeleteTransaction, Some(json!({ "group": c.group, "id": c.id })))?;
            print_message(&reply, c.json);
        }
        Command::Balances(c) if c.details => {
            let reply = conn.request(Action::BalanceDetails, Some(json!({ "group": c.group })))?;
            let rows = view::balance_details(&reply).map_err(shape)?;
            print_table(&reply, c.json, view::balance_details_table(&rows));
        }
        Command::Balances(c) => {
            let reply = conn.request(Action::ViewBalances, Some(json!({ "group": c.group })))?;
            let rows = view::balances(&reply).map_err(shape)?;
            print_table(&reply, c.json, view::balances_table(&rows));
        }
        Command::Debts(c) => {
            let reply = conn.request(Action::PairwiseDebts, Some(json!({ "group": c.group })))?;
            let debts = view::transfers(reply.get("debts").unwrap_or(&Value::Null)).map_err(shape)?;
            if c.json {
                print_json(&reply);
            } else if debts.is_empty() {
                emit("Nobody owes anybody.\n");
            } else {
                emit(&view::transfers_table(&debts).render());
            }
        }
        Command::Settle(c) => {
            let mut data = json!({ "group": c.group });
            if let Some(method) = &c.method {
                data["method"] = json!(method);
            }
            if c.record {
                data["record"] = json!(true);
            }
            let reply = conn.request(Action::Settle, Some(data))?;
            let transfers = view::transfers(reply.get("settlements").unwrap_or(&Value::Null)).map_err(shape)?;
            if c.json {
                print_json(&reply);
                return Ok(0);
            }
            if transfers.is_empty() {
                emit("Nothing to settle: everyone is even.\n");
            } else {
                emit(&view::transfers_table(&transfers).render());
            }
            if let Some(summary) = view::settle_summary(&reply) {
                emit(&format!("{summary}\n"));
            }
            if let Some(ids) = reply.get("payment_ids").and_then(Value::as_array) {
                let ids: Vec<String> = ids.iter().map(|id| sanitize(&id.to_string()).into_owned()).collect();
                match ids.len() {
                    0 => emit("Nothing recorded.\n"),
                    n => emit(&format!(
                        "Recorded {n} payment{}: ids {}\n",
                        if n == 1 { "" } else { "s" },
                        ids.join(", ")
                    )),
                }
            }
        }
        Command::Export(c) => {
            let mut reply = conn.request(Action::Export, Some(json!({ "group": c.group })))?;
            let txns = view::transactions(&reply).map_err(shape)?;
            let payments = view::payments(&reply).map_err(shape)?;
            if c.format == "json" {
                reply.remove("status");
                reply.remove("id");
                let all = Value::Object(reply);
                let text = serde_json::to_string_pretty(&all).unwrap_or_else(|_| all.to_string());
                emit(&format!("{}\n", json_safe(&text)));
            } else if c.payments {
                emit(&view::payments_csv(&payments));
            } else {
                emit(&view::transactions_csv(&txns));
            }
        }
        Command::Watch(c) => {
            // Fails early (exit 1) for a group that does not exist or that we are not in.
            conn.request(Action::GetGroupMembers, Some(json!({ "group": c.group })))?;
            let target = conn.target().clone();
            drop(conn);
            let watch = crate::watch::Watch {
                target: &target,
                group: &c.group,
                json: c.json,
                give_up: std::time::Duration::from_secs(c.give_up),
                screen: std::sync::Arc::new(crate::watch::Terminal),
                hint: "; Ctrl-C to stop",
                stop: std::sync::Arc::default(),
            };
            let stored = stored.as_ref();
            return Ok(crate::watch::run(&watch, |conn| {
                log_in(cli, &mut |action, data| conn.request(action, data), &user, stored).map_err(Failure::into_error)
            })?);
        }
    }
    Ok(0)
}

/// Logs `conn` in as `user`: with the stored token if there is one; with the password when there is
/// none or the server refused it (an error reply: revoked, expired, or an older server), storing the
/// token the login returns. A broken connection is not a refusal: it fails the command.
/// `request` sends one request on the connection being logged in (a `Conn` or a `follow::Client`).
fn log_in(cli: &Cli, request: &mut Requester<'_>, user: &str, stored: Option<&Stored>) -> Result<(), Failure> {
    if let Some((stored, token)) = stored.and_then(|s| s.load().map(|t| (s, t))) {
        match request(Action::Resume, Some(json!({ "token": token }))) {
            Ok(reply) if reply.get("username").and_then(Value::as_str) == Some(user) => return Ok(()),
            Ok(_) | Err(Error::Server { .. }) => stored.forget(),
            Err(e) => return Err(e.into()),
        }
    }
    let password = password(cli, user)?;
    let reply = request(Action::Login, Some(json!({ "username": user, "password": password })))?;
    if let (Some(stored), Some(token)) = (stored, reply.get("token").and_then(Value::as_str)) {
        if let Err(e) = stored.save(token) {
            warn(&format!("splitc: warning: cannot keep the session token in {}: {e}", stored.path().display()));
        }
    }
    Ok(())
}

/// The password: --password-stdin, else SPLITC_PASSWORD, else a no-echo prompt on the terminal.
fn password(cli: &Cli, user: &str) -> Result<String, Failure> {
    if cli.password_stdin {
        return term::Input::stdin()
            .line()
            .ok_or_else(|| Failure::Usage("--password-stdin: standard input is empty".into()));
    }
    if let Ok(p) = std::env::var("SPLITC_PASSWORD") {
        return Ok(p);
    }
    term::prompt_password(&format!("Password for {user}: ")).ok_or_else(|| {
        Failure::Usage("no password: stdin is not a terminal; use --password-stdin or SPLITC_PASSWORD".into())
    })
}

/// A group password from the flag, else SPLITC_GROUP_PASSWORD, else none (`""`).
fn group_password(flag: &Option<String>) -> String {
    flag.clone().or_else(|| std::env::var("SPLITC_GROUP_PASSWORD").ok()).unwrap_or_default()
}

/// Writes to stdout now, through the sanitiser ([`term::out`]).
fn emit(text: &str) {
    term::out(text);
}

/// The reply as one line of JSON, without the request id splitc added.
fn print_json(reply: &Object) {
    let mut reply = reply.clone();
    reply.remove("id");
    emit(&format!("{}\n", json_safe(&Value::Object(reply).to_string())));
}

fn print_message(reply: &Object, json: bool) {
    if json {
        print_json(reply);
    } else {
        let text = reply.get("message").and_then(Value::as_str).unwrap_or("ok");
        emit(&format!("{}\n", sanitize(text)));
    }
}

fn print_table(reply: &Object, json: bool, table: Table) {
    if json {
        print_json(reply);
    } else {
        emit(&table.render());
    }
}
