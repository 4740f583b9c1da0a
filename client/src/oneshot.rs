//! The one-shot subcommands: check the command line, log in (or sign up), send one request, print
//! the answer as a table (or the reply as JSON with --json), exit with a code a script can test.
//!
//! Why this shape: every subcommand is "build `data`, call [`Client::request`](crate::follow::Client::request), render the reply", so a
//! server action is one more small function in `actions` and one more small argh struct in main.rs;
//! this file owns what comes before (local checks, connecting, logging in) and the exit codes.
//!
//! Logging in: with the token stored for this server and user (`tokens`) if there is one, else — or
//! when the server refuses it — with the password, storing the token that login returns. So the
//! password is asked for only when no stored token works.
//!
//! `add` and `pay` send an idempotency key (`--key`, else a fresh one): a script that retries after a
//! lost connection can pass the same `--key` and the change happens once.

use crate::actions::{self, Ctx};
use crate::conn::{Error, Handler, Object};
use crate::follow::Client;
use crate::spec::{check_date, check_date_of, parse_paid_by, parse_split};
use crate::table::Table;
use crate::term::{self, json_safe, sanitize, warn};
use crate::tokens::Stored;
use crate::{Cli, Command, RecurringCommand, EXIT_USAGE};
use serde_json::{json, Value};
use vocab::Action;

/// One request on a connection: `Conn::request` or `follow::Client::request`.
type Requester<'a> = dyn FnMut(Action, Option<Value>) -> Result<Object, Error> + 'a;

/// Why a one-shot command stopped.
pub(crate) enum Failure {
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
pub(crate) fn shape(what: String) -> Failure {
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
    check(command)?;
    let user =
        cli.user.clone().ok_or_else(|| Failure::Usage("this subcommand needs --user NAME (or SPLITC_USER)".into()))?;
    check_as(command, &user)?;
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
    if let Command::Watch(c) = command {
        return watch(cli, conn, c, &user, stored.as_ref());
    }
    let mut ctx = Ctx { cli, conn, user, stored, signup_password };
    actions::execute(&mut ctx, command)
}

/// The checks of the command line alone: amounts, splits, dates, choices.
fn check(command: &Command) -> Result<(), Failure> {
    let usage = Failure::Usage;
    match command {
        Command::Add(a) => {
            crate::currency::check(Some(&a.amount), a.currency.as_deref(), a.rate.as_deref()).map_err(usage)?;
            if a.split.is_none() && !a.include_me {
                return Err(usage(
                    "add needs --split: who shares it, e.g. --split bob,carol (equally; --include-me adds you), \
                     --split all, or --split exact:bob=10,carol=5"
                        .into(),
                ));
            }
            let split = parse_split(a.split.as_deref().unwrap_or("")).map_err(usage)?;
            split.add_to(&mut json!({}), a.include_me).map_err(usage)?;
            a.paid_by.as_deref().map(parse_paid_by).transpose().map_err(usage)?;
            a.date.as_deref().map(check_date).transpose().map_err(usage)?;
        }
        Command::Edit(e) => check_edit(e)?,
        // The whole file, before a password is asked for (read again once logged in).
        Command::ImportSplitwise(c) => {
            crate::import::prepare(c)?;
        }
        Command::Recurring(r) => check_recurring(&r.command)?,
        Command::Pay(p) => {
            crate::currency::check(Some(&p.amount), p.currency.as_deref(), None).map_err(usage)?;
            p.date.as_deref().map(check_date).transpose().map_err(usage)?;
        }
        Command::CreateGroup(c) => {
            c.convert.as_deref().map(crate::currency::convert_mode).transpose().map_err(usage)?;
        }
        Command::SetGroupConvert(c) => {
            crate::currency::convert_mode(&c.mode).map_err(usage)?;
        }
        Command::History(h) if h.limit.is_some_and(|n| !(1..=500).contains(&n)) => {
            return Err(usage("--limit must be 1-500".into()));
        }
        Command::Export(e) if e.format != "csv" && e.format != "json" => {
            return Err(usage(format!("--format must be csv or json, not {:?}", e.format)));
        }
        Command::Settle(c) if c.method.as_deref().is_some_and(|m| m != "minimal" && m != "greedy") => {
            let method = c.method.as_deref().unwrap_or("");
            return Err(usage(format!("--method must be minimal or greedy, not {method:?}")));
        }
        Command::DeleteAccount(d) if !d.yes => {
            return Err(usage("delete-account cannot be undone: add --yes to go ahead".into()));
        }
        _ => {}
    }
    Ok(())
}

/// The checks `edit` and `recurring edit` share: the amount in its currency and the rate, the
/// split (`--include-me` only with one), the payers.
fn check_edited_entry(
    (amount, currency, rate): (Option<&str>, Option<&str>, Option<&str>),
    (split, include_me): (&Option<String>, bool),
    paid_by: &Option<String>,
) -> Result<(), Failure> {
    let usage = Failure::Usage;
    crate::currency::check(amount, currency, rate).map_err(usage)?;
    match split.as_deref().map(parse_split).transpose().map_err(usage)? {
        Some(split) => split.add_to(&mut json!({}), include_me).map_err(usage)?,
        None if include_me => return Err(usage("--include-me needs --split".into())),
        None => {}
    }
    paid_by.as_deref().map(parse_paid_by).transpose().map_err(usage)?;
    Ok(())
}

fn check_edit(e: &crate::Edit) -> Result<(), Failure> {
    let usage = Failure::Usage;
    check_edited_entry(
        (e.amount.as_deref(), e.currency.as_deref(), e.rate.as_deref()),
        (&e.split, e.include_me),
        &e.paid_by,
    )?;
    e.date.as_deref().filter(|d| !d.is_empty()).map(check_date).transpose().map_err(usage)?;
    let foreign = e.currency.is_some() || e.rate.is_some();
    let nothing = [e.amount.is_none(), e.desc.is_none(), e.split.is_none(), e.paid_by.is_none(), e.date.is_none()];
    if nothing.iter().all(|&n| n) && e.category.is_none() && !foreign {
        return Err(usage(
            "nothing to change: give --amount, --desc, --split, --paid-by, --date, --category, --currency or --rate"
                .into(),
        ));
    }
    Ok(())
}

/// The day names `recurring add --every` takes (the server's words).
const EVERY: [&str; 4] = ["day", "week", "month", "year"];

fn check_recurring(command: &RecurringCommand) -> Result<(), Failure> {
    let usage = Failure::Usage;
    match command {
        RecurringCommand::Add(a) => {
            crate::currency::check(Some(&a.amount), a.currency.as_deref(), a.rate.as_deref()).map_err(usage)?;
            if !EVERY.contains(&a.every.as_str()) {
                return Err(usage(format!("--every must be day, week, month or year, not {:?}", a.every)));
            }
            if a.split.is_none() && !a.include_me {
                return Err(usage(
                    "recurring add needs --split: who shares it, e.g. --split bob,carol (equally; --include-me \
                     adds you), --split all, or --split exact:bob=10,carol=5"
                        .into(),
                ));
            }
            let split = parse_split(a.split.as_deref().unwrap_or("")).map_err(usage)?;
            split.add_to(&mut json!({}), a.include_me).map_err(usage)?;
            a.paid_by.as_deref().map(parse_paid_by).transpose().map_err(usage)?;
            a.start.as_deref().map(|d| check_date_of("--start", d)).transpose().map_err(usage)?;
            a.until.as_deref().map(|d| check_date_of("--until", d)).transpose().map_err(usage)?;
        }
        RecurringCommand::Edit(e) => {
            let entry = (e.amount.as_deref(), e.currency.as_deref(), e.rate.as_deref());
            check_edited_entry(entry, (&e.split, e.include_me), &e.paid_by)?;
            e.until
                .as_deref()
                .filter(|d| !d.is_empty())
                .map(|d| check_date_of("--until", d))
                .transpose()
                .map_err(usage)?;
            let given = [e.amount.is_some(), e.desc.is_some(), e.split.is_some(), e.paid_by.is_some()];
            let entry = [e.category.is_some(), e.currency.is_some(), e.rate.is_some()];
            if !given.contains(&true) && !entry.contains(&true) && e.until.is_none() && e.count.is_none() {
                return Err(usage(
                    "nothing to change: give --amount, --desc, --split, --paid-by, --until, --count, --category, \
                     --currency or --rate"
                        .into(),
                ));
            }
        }
        RecurringCommand::List(_) | RecurringCommand::Stop(_) => {}
    }
    Ok(())
}

/// The checks that need to know who runs the command.
fn check_as(command: &Command, user: &str) -> Result<(), Failure> {
    if let Command::Pay(p) = command {
        let from = p.from.as_deref().unwrap_or(user);
        if p.to == from {
            return Err(Failure::Usage(format!(
                "pay GROUP TO AMOUNT: TO is who received the money, and {from} cannot pay {from} \
                 (--from NAME records a payment someone else made)"
            )));
        }
    }
    Ok(())
}

/// `watch`: fails early (exit 1) for a group that does not exist or that we are not in, then
/// follows it on connections of its own.
fn watch(cli: &Cli, mut conn: Client, c: &crate::Watch, user: &str, stored: Option<&Stored>) -> Result<i32, Failure> {
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
    Ok(crate::watch::run(&watch, |conn| {
        log_in(cli, &mut |action, data| conn.request(action, data), user, stored).map_err(Failure::into_error)
    })?)
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

/// The new password of `change-password`: SPLITC_NEW_PASSWORD, else a no-echo prompt (twice).
pub(crate) fn new_password() -> Result<String, Failure> {
    if let Ok(p) = std::env::var("SPLITC_NEW_PASSWORD") {
        return Ok(p);
    }
    let no_terminal = || Failure::Usage("no new password: stdin is not a terminal; set SPLITC_NEW_PASSWORD".into());
    let first = term::prompt_password("New password: ").ok_or_else(no_terminal)?;
    if term::prompt_password("New password again: ").ok_or_else(no_terminal)? != first {
        return Err(Failure::Usage("the two new passwords differ".into()));
    }
    Ok(first)
}

/// The password: --password-stdin, else SPLITC_PASSWORD, else a no-echo prompt on the terminal.
pub(crate) fn password(cli: &Cli, user: &str) -> Result<String, Failure> {
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
pub(crate) fn group_password(flag: &Option<String>) -> String {
    flag.clone().or_else(|| std::env::var("SPLITC_GROUP_PASSWORD").ok()).unwrap_or_default()
}

/// Writes to stdout now, through the sanitiser ([`term::out`]).
pub(crate) fn emit(text: &str) {
    term::out(text);
}

/// The reply as one line of JSON, without the request id splitc added.
pub(crate) fn print_json(reply: &Object) {
    let mut reply = reply.clone();
    reply.remove("id");
    emit(&format!("{}\n", json_safe(&Value::Object(reply).to_string())));
}

pub(crate) fn print_message(reply: &Object, json: bool) {
    if json {
        print_json(reply);
    } else {
        let text = reply.get("message").and_then(Value::as_str).unwrap_or("ok");
        emit(&format!("{}\n", sanitize(text)));
    }
}

pub(crate) fn print_table(reply: &Object, json: bool, table: Table) {
    if json {
        print_json(reply);
    } else {
        emit(&table.render());
    }
}
