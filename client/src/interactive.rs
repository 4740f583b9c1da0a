//! The interactive menus: the original client's flow (welcome → main menu → group menu), fixed.
//!
//! Why it is built this way:
//! - Notifications print the moment they arrive, even at a prompt: the connection's reader thread hands
//!   them to the [`Console`], which clears the prompt line, prints them and re-prints the prompt.
//! - Transactions are deleted by their `id`, never by a list position (the original showed 1-based
//!   numbers and sent them as a 0-based index, deleting the wrong row).
//! - A lost connection is reported and re-made with bounded backoff; the session logs in again. A request
//!   that was cut off is repeated only when repeating it cannot do anything twice: reads, and the
//!   changes sent with an idempotency key (adding an expense, recording a payment), which the server
//!   applies once however often they arrive. Against a cluster, `crate::follow` first follows
//!   `not_leader` and tries the other members of `--server a,b,c` (the same rules, within 10 s).
//! - The group on screen is followed as `splitc watch` follows one (the same code, `watch::run`, on a
//!   second connection and a thread of its own): each change printed once and in order, a reconnect
//!   with backoff after a disconnect or restart, `subscribe {after}` from the last `seq` shown, a line
//!   when it had to reload after a `gap`. The main connection's notifications print only for the
//!   other groups.
//! - An edit or delete names the version shown; on `conflict` the transaction is shown as it is now
//!   and the question asked again.
//! - Answers are plain lines, so a script can drive it through stdin; end of input exits cleanly.

use crate::conn::{Conn, Error, Handler, Notice, Object, Target};
use crate::follow::{repeatable, Client};
use crate::spec::{self, parse_split, parse_user_amount};
use crate::term::{out, sanitize, say, warn, Console, Input};
use crate::watch::{self, Screen, Watch};
use crate::{bycurrency, rules, view};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vocab::Action;

/// What the command line gave the interactive mode.
pub struct Options {
    /// The servers to try, in order (a cluster's members).
    pub servers: Vec<Target>,
    /// Log in as this user without asking for the name.
    pub user: Option<String>,
    /// Log in with this password without asking (SPLITC_PASSWORD).
    pub password: Option<String>,
}

/// Why the menus stop before the user chose Exit.
enum Quit {
    /// End of input: leave quietly with status 0.
    Eof,
    /// The server is gone for good (or refused the login on reconnect).
    Fatal(Error),
}

type Step<T> = Result<T, Quit>;

/// Pauses before each reconnect attempt: bounded, about 15 s in all, then give up.
const BACKOFF_MS: [u64; 6] = [0, 500, 1000, 2000, 4000, 8000];

/// Runs the menus until Exit or end of input; returns the process exit code.
pub fn run(options: Options) -> i32 {
    let console = Console::new();
    let mut session = Session {
        options,
        console,
        input: Input::stdin(),
        conn: None,
        credentials: None,
        token: Arc::default(),
        on_screen: Arc::default(),
    };
    match Client::connect(session.options.servers.clone(), session.handler()) {
        Ok(conn) => {
            say(&format!("Connected to {}", conn.target()));
            session.conn = Some(conn);
        }
        Err(e) => {
            warn(&format!("splitc: {e}"));
            return e.exit_code();
        }
    }
    match welcome(&mut session) {
        Ok(()) => 0,
        Err(Quit::Eof) => {
            say("Goodbye");
            0
        }
        Err(Quit::Fatal(e)) => {
            warn(&format!("splitc: {e}"));
            e.exit_code()
        }
    }
}

struct Session {
    options: Options,
    console: Arc<Console>,
    input: Input,
    conn: Option<Client>,
    /// Who is logged in, kept so that a reconnect can log in again.
    credentials: Option<(String, String)>,
    /// The session token of the last login: the group screen's follower resumes with it rather
    /// than logging in again (a login would make another session each time).
    token: Arc<Mutex<Option<String>>>,
    /// The group whose menu is open: its changes are printed by its follower, not by this handler.
    on_screen: Arc<Mutex<Option<String>>>,
}

/// Why the server did not do what was asked: its words, and on `conflict` the reply holding the
/// object as it is now.
struct Refused {
    message: String,
    current: Option<Object>,
}

impl Session {
    /// Prints pushed messages (and an unexpected disconnect) as they arrive.
    fn handler(&self) -> Handler {
        let console = self.console.clone();
        let on_screen = Arc::clone(&self.on_screen);
        Box::new(move |notice| match notice {
            Notice::Pushed(message) => {
                let followed = on_screen.lock().map(|g| g.as_deref() == view::pushed_group(&message)).unwrap_or(false);
                if !followed {
                    console.print_async(&view::notification_line(&message));
                }
            }
            Notice::Lost(reason) => console
                .print_async(&format!("⚠ connection to the server lost ({reason}); reconnecting at your next action")),
        })
    }

    fn ask(&mut self, prompt: &str) -> Step<String> {
        self.console.ask(&mut self.input, prompt, false).ok_or(Quit::Eof)
    }

    fn ask_secret(&mut self, prompt: &str) -> Step<String> {
        self.console.ask(&mut self.input, prompt, true).ok_or(Quit::Eof)
    }

    /// Connects again with backoff and logs in again if we were logged in.
    fn reconnect(&mut self) -> Result<(), Error> {
        self.conn = None;
        let mut last = Error::Lost("gave up reconnecting".into());
        for (attempt, pause) in BACKOFF_MS.iter().enumerate() {
            std::thread::sleep(Duration::from_millis(*pause));
            say(&format!(
                "Reconnecting to {} (attempt {} of {})...",
                servers_text(&self.options.servers),
                attempt + 1,
                BACKOFF_MS.len()
            ));
            let mut conn = match Client::connect(self.options.servers.clone(), self.handler()) {
                Ok(conn) => conn,
                Err(e) => {
                    say(&format!("  {e}"));
                    last = e;
                    continue;
                }
            };
            if let Some((user, password)) = &self.credentials {
                match conn.request(Action::Login, Some(json!({ "username": user, "password": password }))) {
                    Ok(reply) => *lock(&self.token) = token_of(&reply),
                    Err(Error::Server { message, code }) => {
                        self.credentials = None;
                        let message = format!("logging in again after reconnecting failed: {message}");
                        return Err(Error::Server { message, code });
                    }
                    Err(e) => {
                        last = e;
                        continue;
                    }
                }
            }
            say(&format!("Reconnected{}.", if self.credentials.is_some() { " and logged in again" } else { "" }));
            self.conn = Some(conn);
            return Ok(());
        }
        Err(last)
    }

    /// The menus' request helper. Outer `Err`: stop the session. Inner `Err`: what to show.
    fn call(&mut self, action: Action, data: Option<Value>) -> Step<Result<Object, Refused>> {
        if !self.conn.as_ref().is_some_and(Client::is_alive) {
            self.reconnect().map_err(Quit::Fatal)?;
        }
        let first = self.send(action, data.clone());
        let refused = |message: String| Ok(Err(Refused { message, current: None }));
        match first {
            Ok(reply) => Ok(Ok(reply)),
            Err(Error::Server { message, .. }) => refused(message),
            Err(Error::Conflict { message, current }) => Ok(Err(Refused { message, current: Some(current) })),
            // Not run anywhere, and the cluster has no leader now: say so; the user may try again.
            Err(e @ Error::NotLeader { .. }) => refused(e.to_string()),
            Err(e) => {
                say(&format!("⚠ {e}"));
                self.reconnect().map_err(Quit::Fatal)?;
                if !repeatable(action, data.as_ref()) {
                    return refused(format!(
                        "the connection broke during {action}; it may or may not have happened — check before retrying"
                    ));
                }
                match self.send(action, data) {
                    Ok(reply) => Ok(Ok(reply)),
                    Err(Error::Server { message, .. }) => refused(message),
                    Err(e) => Err(Quit::Fatal(e)),
                }
            }
        }
    }

    fn send(&mut self, action: Action, data: Option<Value>) -> Result<Object, Error> {
        match self.conn.as_mut() {
            Some(conn) => conn.request(action, data),
            None => Err(Error::Lost("not connected".into())),
        }
    }

    /// [`Session::call`], printing a failure; `None` when it failed.
    fn act(&mut self, action: Action, data: Option<Value>) -> Step<Option<Object>> {
        Ok(self.act_versioned(action, data)?.ok())
    }

    /// [`Session::act`] for a change that names a version: `Err(Some(reply))` on `conflict` (the
    /// reply holds the object as it is now), `Err(None)` on any other refusal; failures printed.
    fn act_versioned(&mut self, action: Action, data: Option<Value>) -> Step<Result<Object, Option<Object>>> {
        match self.call(action, data)? {
            Ok(reply) => Ok(Ok(reply)),
            Err(refused) => {
                say(&format!("✘ {}", refused.message));
                Ok(Err(refused.current))
            }
        }
    }

    /// Asks until the answer is yes or no.
    fn confirm(&mut self, prompt: &str) -> Step<bool> {
        loop {
            match self.ask(prompt)?.trim().to_lowercase().as_str() {
                "y" | "yes" => return Ok(true),
                "n" | "no" => return Ok(false),
                _ => say("Please answer y or n."),
            }
        }
    }

    /// Asks for an amount until one parses (up to 3 decimals: the server checks the group's
    /// currency); the JSON number to send, `None` for an empty answer.
    fn ask_amount(&mut self, prompt: &str) -> Step<Option<Value>> {
        loop {
            let text = self.ask(prompt)?;
            if text.trim().is_empty() {
                return Ok(None);
            }
            match parse_user_amount(&text) {
                Ok(amount) => return Ok(Some(amount)),
                Err(e) => say(&format!("✘ {e}; try again (empty to cancel)")),
            }
        }
    }

    /// Reads something out of a reply, printing what was wrong with it if it cannot.
    fn read<T>(&self, parsed: Result<T, String>) -> Option<T> {
        parsed.map_err(|e| say(&format!("✘ unexpected reply from the server: {}", sanitize(&e)))).ok()
    }
}

/// The reply's message, sanitised for the screen.
fn message(reply: &Object) -> Cow<'_, str> {
    sanitize(reply.get("message").and_then(Value::as_str).unwrap_or("Done"))
}

fn welcome(s: &mut Session) -> Step<()> {
    loop {
        say("\n--- WELCOME ---\n1. Login\n2. Signup\n0. Exit");
        match s.ask("Enter choice: ")?.trim() {
            "1" => {
                if let Some(user) = login(s)? {
                    main_menu(s, &user)?;
                }
            }
            "2" => signup(s)?,
            "0" => {
                say("Goodbye");
                return Ok(());
            }
            _ => say("Invalid choice"),
        }
    }
}

fn login(s: &mut Session) -> Step<Option<String>> {
    say("\n--- LOGIN ---");
    let user = match s.options.user.clone() {
        Some(user) => {
            say(&format!("Username: {user}"));
            user
        }
        None => s.ask("Username: ")?.trim().to_string(),
    };
    let password = match s.options.password.clone() {
        Some(password) => password,
        None => s.ask_secret("Password: ")?,
    };
    match s.call(Action::Login, Some(json!({ "username": user, "password": password })))? {
        Ok(reply) => {
            say(&format!("✔ {}", message(&reply)));
            s.credentials = Some((user.clone(), password));
            *lock(&s.token) = token_of(&reply);
            Ok(Some(user))
        }
        Err(refused) => {
            say(&format!("✘ {}", refused.message));
            Ok(None)
        }
    }
}

fn signup(s: &mut Session) -> Step<()> {
    say("\n--- SIGNUP ---");
    let user = s.ask("Choose username: ")?.trim().to_string();
    if user.is_empty() {
        say("✘ Username cannot be empty");
        return Ok(());
    }
    let password = s.ask_secret("Choose password: ")?;
    if s.ask_secret("Confirm password: ")? != password {
        say("✘ Passwords do not match");
        return Ok(());
    }
    if let Some(reply) = s.act(Action::Signup, Some(json!({ "username": user, "password": password })))? {
        say(&format!("✔ {}. Now log in.", message(&reply)));
    }
    Ok(())
}

fn main_menu(s: &mut Session, user: &str) -> Step<()> {
    loop {
        say(&format!(
            "\n--- MAIN MENU ({user}) ---\n1. View groups\n2. Create group\n3. Join group\n4. Open group\n0. Logout"
        ));
        match s.ask("Enter choice: ")?.trim() {
            "1" => match my_groups(s)? {
                Some(groups) if groups.is_empty() => say("No groups yet: create or join one."),
                Some(groups) => say(&format!(
                    "Your groups:\n{}",
                    groups.iter().map(|g| format!("- {}\n", sanitize(g))).collect::<String>().trim_end()
                )),
                None => {}
            },
            choice @ ("2" | "3") => {
                let name = s.ask("Group name (empty to cancel): ")?.trim().to_string();
                if name.is_empty() {
                    continue;
                }
                let (action, prompt) = match choice {
                    "2" => (Action::CreateGroup, "Group password (empty for none): "),
                    _ => (Action::JoinGroup, "Group password (empty if none): "),
                };
                let password = s.ask_secret(prompt)?;
                if let Some(reply) = s.act(action, Some(json!({ "group": name, "password": password })))? {
                    say(&format!("✔ {}", message(&reply)));
                }
            }
            "4" => {
                let Some(groups) = my_groups(s)? else { continue };
                if groups.is_empty() {
                    say("No groups yet: create or join one.");
                    continue;
                }
                for (n, g) in groups.iter().enumerate() {
                    say(&format!("{}. {}", n + 1, sanitize(g)));
                }
                let pick = s.ask("Group number or name (empty to cancel): ")?.trim().to_string();
                if pick.is_empty() {
                    continue;
                }
                let chosen = match pick.parse::<usize>() {
                    Ok(n) if (1..=groups.len()).contains(&n) => Some(groups[n - 1].clone()),
                    _ => groups.iter().find(|g| **g == pick).cloned(),
                };
                match chosen {
                    Some(group) => group_menu(s, user, &group)?,
                    None => say(&format!("✘ No such group: {}", sanitize(&pick))),
                }
            }
            "0" => {
                let _ = s.call(Action::Logout, None)?;
                s.credentials = None;
                *lock(&s.token) = None;
                say("Logged out");
                return Ok(());
            }
            _ => say("Invalid choice"),
        }
    }
}

fn my_groups(s: &mut Session) -> Step<Option<Vec<String>>> {
    Ok(s.act(Action::ListGroups, None)?.and_then(|reply| s.read(view::names(&reply, "groups"))))
}

fn group_menu(s: &mut Session, user: &str, group: &str) -> Step<()> {
    let shown = sanitize(group).into_owned();
    let _follower = Follower::start(s, group);
    loop {
        say(&format!(
            "\n--- GROUP: {shown} ---\n1. Add expense\n2. View transactions\n3. Delete transaction\n4. View balances\n5. Settle up\n6. Record a payment\n7. History\n8. Edit transaction\n9. Leave group\n10. Recurring expenses\n0. Back"
        ));
        match s.ask("Enter choice: ")?.trim() {
            "1" => add_expense(s, user, group)?,
            "2" => match transactions(s, group)? {
                Some(txns) if txns.is_empty() => say("No transactions yet."),
                Some(txns) => out(&view::transactions_table(&txns).render()),
                None => {}
            },
            "3" => delete_transaction(s, group)?,
            "4" => show_balances(s, group)?,
            "5" => show_plan(s, group)?,
            "6" => record_payment(s, user, group)?,
            "7" => {
                let reply = s.act(Action::History, Some(json!({ "group": group, "limit": 20 })))?;
                if let Some((entries, next)) = reply.and_then(|r| s.read(view::history(&r))) {
                    out(&view::history_table(&entries).render());
                    if next.is_some() {
                        say(&format!("(showing the newest 20; `splitc history {shown} --before ID` pages further)"));
                    }
                }
            }
            "8" => edit_transaction(s, group)?,
            "9" => {
                if s.confirm(&format!("Leave {shown}? (y/n): "))? {
                    if let Some(reply) = s.act(Action::LeaveGroup, Some(json!({ "group": group })))? {
                        say(&format!("✔ {}", message(&reply)));
                        return Ok(());
                    }
                }
            }
            "10" => recurring(s, &shown, group)?,
            "0" => return Ok(()),
            _ => say("Invalid choice"),
        }
    }
}

/// The balances screen: the group currency's table, then one per other currency (`In JPY:`).
fn show_balances(s: &mut Session, group: &str) -> Step<()> {
    let reply = s.act(Action::ViewBalances, Some(json!({ "group": group })))?;
    let read = |r: &Object| Ok((view::balances(r)?, view::decimals(r)?, bycurrency::balances_text(r)?));
    if let Some((rows, decimals, others)) = reply.and_then(|r| s.read(read(&r))) {
        out(&(view::balances_table(&rows, decimals).render() + &others));
    }
    Ok(())
}

/// The settle screen: the group currency's plan and its summary, then each other currency's.
fn show_plan(s: &mut Session, group: &str) -> Step<()> {
    let Some(reply) = s.act(Action::Settle, Some(json!({ "group": group })))? else { return Ok(()) };
    let list = reply.get("settlements").unwrap_or(&Value::Null);
    let read = view::decimals(&reply).and_then(|d| Ok((view::transfers(list, d)?, d, bycurrency::plans_text(&reply)?)));
    let Some((transfers, decimals, others)) = s.read(read) else { return Ok(()) };
    if transfers.is_empty() && others.is_empty() {
        say("Nothing to settle: everyone is even.");
    } else if transfers.is_empty() {
        say("Nothing to settle in the group's currency.");
    } else {
        out(&view::transfers_table(&transfers, decimals).render());
    }
    if let Some(summary) = view::settle_summary(&reply) {
        say(&summary);
    }
    out(&others);
    Ok(())
}

/// The group's recurring expenses as a table; adding, editing and stopping them is `splitc
/// recurring add|edit|stop` (their options do not fit a menu's questions).
fn recurring(s: &mut Session, shown: &str, group: &str) -> Step<()> {
    let reply = s.act(Action::ListRecurring, Some(json!({ "group": group })))?;
    match reply.and_then(|r| s.read(rules::rules(&r))) {
        Some(list) if list.is_empty() => say("No recurring expenses."),
        Some(list) => out(&rules::rules_table(&list).render()),
        None => return Ok(()),
    }
    say(&format!("(`splitc recurring add|edit|stop {shown} ...` adds, changes or stops one)"));
    Ok(())
}

fn record_payment(s: &mut Session, user: &str, group: &str) -> Step<()> {
    let to = s.ask("Paid to (empty to cancel): ")?.trim().to_string();
    if to.is_empty() {
        return Ok(());
    }
    let Some(amount) = s.ask_amount("Amount (empty to cancel): ")? else { return Ok(()) };
    let from = s.ask(&format!("Paid by (empty = you, {user}): "))?.trim().to_string();
    let mut data = json!({ "group": group, "to": to, "amount": amount, "key": spec::fresh_key() });
    if !from.is_empty() {
        data["from"] = json!(from);
    }
    if let Some(reply) = s.act(Action::RecordPayment, Some(data))? {
        let payment = view::payment(&reply).ok().flatten();
        let id = payment.as_ref().and_then(|p| p.id).map(|i| format!(" (id {i})")).unwrap_or_default();
        // As the group writes it (`1000` yen), from the reply; as typed from a server that does not say.
        let amount = payment.map_or_else(|| amount.to_string(), |p| p.amount_text());
        let from = if from.is_empty() { "you" } else { from.as_str() };
        let (from, to) = (sanitize(from), sanitize(&to));
        say(&format!("✔ {}{id}: {from} paid {to} {}", message(&reply), sanitize(&amount)));
    }
    Ok(())
}

/// Edits one transaction, naming the version shown: when someone changed it meanwhile the server
/// refuses (`conflict`); the transaction is shown as it is now and the questions asked again.
fn edit_transaction(s: &mut Session, group: &str) -> Step<()> {
    let Some(mut shown) = pick_transaction(s, group, "edit")? else { return Ok(()) };
    while let Some(data) = edit_answers(s, group, &shown)? {
        match versioned_change(s, Action::EditTransaction, data, &shown)? {
            Some(txn) => shown = txn,
            None => return Ok(()),
        }
    }
    Ok(())
}

/// Sends an edit or a delete naming a version: `Some(current)` when it was refused as a
/// `conflict` (the transaction as it is now, shown), to be asked again; `None` when it is done.
fn versioned_change(s: &mut Session, action: Action, data: Value, shown: &view::Txn) -> Step<Option<view::Txn>> {
    match s.act_versioned(action, Some(data))? {
        Ok(reply) => {
            say(&format!("✔ {}", message(&reply)));
            Ok(None)
        }
        Err(Some(current)) => Ok(conflict_shown(s, &current, shown)),
        Err(None) => Ok(None),
    }
}

/// Shows the transactions, asks which one; `None` when cancelled or not there.
fn pick_transaction(s: &mut Session, group: &str, verb: &str) -> Step<Option<view::Txn>> {
    let Some(txns) = transactions(s, group)? else { return Ok(None) };
    if txns.is_empty() {
        say(&format!("No transactions to {verb}."));
        return Ok(None);
    }
    out(&view::transactions_table(&txns).render());
    let answer = s.ask(&format!("Id of the transaction to {verb} (empty to cancel): "))?;
    let answer = answer.trim();
    if answer.is_empty() {
        return Ok(None);
    }
    let Ok(id) = answer.parse::<u64>() else {
        say(&format!("✘ Not a transaction id: {}", sanitize(answer)));
        return Ok(None);
    };
    let found = txns.into_iter().find(|t| t.id == Some(id));
    if found.is_none() {
        say(&format!("✘ No transaction with id {id} in {}", sanitize(group)));
    }
    Ok(found)
}

/// After a `conflict`: the transaction as it is now (from the refusal), shown; `None` if the reply
/// does not hold one.
fn conflict_shown(s: &Session, current: &Object, shown: &view::Txn) -> Option<view::Txn> {
    let txn = s.read(view::transaction_or(current, shown.decimals).and_then(|t| t.ok_or("no transaction".into())))?;
    say("Someone changed it since it was shown; it is now:");
    out(&view::transactions_table(std::slice::from_ref(&txn)).render());
    Some(txn)
}

/// The edit's questions for `shown`; the request's `data` (naming `shown`'s version), or `None`
/// when nothing is to change.
fn edit_answers(s: &mut Session, group: &str, shown: &view::Txn) -> Step<Option<Value>> {
    let mut data = json!({ "group": group, "id": shown.id });
    if let Some(version) = shown.version {
        data["version"] = json!(version);
    }
    if let Some(amount) = s.ask_amount("New amount (empty = keep): ")? {
        data["amount"] = amount;
    }
    let description = s.ask("New description (empty = keep): ")?;
    if !description.trim().is_empty() {
        data["description"] = json!(description.trim());
    }
    loop {
        let split = s.ask("New split, e.g. bob,carol or percent:bob=60,carol=40 (empty = keep): ")?;
        if split.trim().is_empty() {
            break;
        }
        match parse_split(&split).and_then(|sp| sp.add_to(&mut data, false)) {
            Ok(()) => break,
            Err(e) => say(&format!("✘ {e}; try again (empty = keep)")),
        }
    }
    if data.as_object().is_some_and(|d| d.keys().all(|k| ["group", "id", "version"].contains(&k.as_str()))) {
        say("Nothing changed.");
        return Ok(None);
    }
    Ok(Some(data))
}

fn transactions(s: &mut Session, group: &str) -> Step<Option<Vec<view::Txn>>> {
    let reply = s.act(Action::ViewTransactions, Some(json!({ "group": group })))?;
    Ok(reply.and_then(|r| s.read(view::transactions(&r))))
}

fn add_expense(s: &mut Session, user: &str, group: &str) -> Step<()> {
    let Some(amount) = s.ask_amount("Amount (empty to cancel): ")? else { return Ok(()) };
    let description = s.ask("Description: ")?.trim().to_string();
    let reply = s.act(Action::GetGroupMembers, Some(json!({ "group": group })))?;
    let members = reply.and_then(|r| s.read(view::names(&r, "members"))).unwrap_or_default();
    let others: Vec<String> = members.into_iter().filter(|m| m != user).collect();
    if !others.is_empty() {
        say(&format!("Members besides you: {}", sanitize(&others.join(", "))));
    }
    let mut data = json!({ "group": group, "amount": amount, "description": description, "key": spec::fresh_key() });
    loop {
        let names =
            s.ask("Split between (comma-separated; empty = all of them; or exact:/percent:/shares:name=value,...): ")?;
        if names.contains(':') {
            // A split mode: the shares are given, so there is no include-yourself question.
            match parse_split(&names).and_then(|split| split.add_to(&mut data, false)) {
                Ok(()) => return add_with_mode(s, data),
                Err(e) => say(&format!("✘ {e}; try again")),
            }
            continue;
        }
        let mut split: Vec<String> =
            names.split(',').map(str::trim).filter(|n| !n.is_empty() && *n != user).map(str::to_string).collect();
        if names.trim().is_empty() {
            split = others.clone();
        }
        if split.is_empty() {
            say("✘ Name at least one other member to split with");
            return Ok(());
        }
        let include = s.confirm("Include yourself in the split? (y/n): ")?;
        data["split_between"] = json!(split);
        data["include_payer"] = json!(include);
        if let Some(reply) = s.act(Action::AddTransaction, Some(data))? {
            let txn = view::transaction(&reply).ok().flatten();
            let id = txn.as_ref().and_then(|t| t.id).map(|i| format!(" (id {i})")).unwrap_or_default();
            // As the group writes it (`1000` yen), from the reply; as typed from a server that does not say.
            let amount = sanitize(&txn.map_or_else(|| amount.to_string(), |t| t.amount_text())).into_owned();
            let you = if include { " + you" } else { "" };
            let shared = sanitize(&split.join(", ")).into_owned();
            say(&format!("✔ {}{id}: you paid {amount} shared by {shared}{you}", message(&reply)));
        }
        return Ok(());
    }
}

/// Sends an expense split by a mode (exact, percent, shares) and says each share.
fn add_with_mode(s: &mut Session, data: Value) -> Step<()> {
    if let Some(reply) = s.act(Action::AddTransaction, Some(data))? {
        let shares = match view::transaction(&reply) {
            Ok(Some(t)) => format!(": {}", sanitize(&t.sharers())),
            _ => String::new(),
        };
        say(&format!("✔ {}{shares}", message(&reply)));
    }
    Ok(())
}

/// Deletes one transaction by id and the version shown (the safe form: an index, or an id alone,
/// may name something else, or a changed thing, by the time it arrives), after asking; on a
/// `conflict` shows it as it is now and asks again.
fn delete_transaction(s: &mut Session, group: &str) -> Step<()> {
    let Some(mut shown) = pick_transaction(s, group, "delete")? else { return Ok(()) };
    loop {
        let id = shown.id.unwrap_or_default();
        let what = format!("{} {}", shown.amount_text(), sanitize(&shown.description));
        if !s.confirm(&format!("Delete #{id} ({})? (y/n): ", what.trim_end()))? {
            say("Nothing deleted.");
            return Ok(());
        }
        let mut data = json!({ "group": group, "id": id });
        if let Some(version) = shown.version {
            data["version"] = json!(version);
        }
        match s.act_versioned(Action::DeleteTransaction, Some(data))? {
            Ok(reply) => {
                say(&format!("✔ {}", message(&reply)));
                return offer_undo(s, group, id);
            }
            Err(Some(current)) => match conflict_shown(s, &current, &shown) {
                Some(txn) => shown = txn,
                None => return Ok(()),
            },
            Err(None) => return Ok(()),
        }
    }
}

/// Right after a delete: offers to take it back (`restore_transaction`, same id).
fn offer_undo(s: &mut Session, group: &str, id: u64) -> Step<()> {
    if s.confirm(&format!("Undo? Restore #{id} (y/n): "))? {
        if let Some(reply) = s.act(Action::RestoreTransaction, Some(json!({ "group": group, "id": id })))? {
            say(&format!("✔ {}", message(&reply)));
        }
    }
    Ok(())
}

/// How long the group screen's follower keeps trying without a server before it says so and stops.
const FOLLOW_GIVE_UP: Duration = Duration::from_secs(300);

/// The follower of the group on screen: `watch::run` on a thread and a connection of its own,
/// printing at the prompt. Dropping it stops it, and the main connection prints that group again.
struct Follower {
    stop: Arc<AtomicBool>,
    on_screen: Arc<Mutex<Option<String>>>,
}

impl Follower {
    /// Starts following `group` as the logged-in user; `None` when not logged in or not connected.
    fn start(s: &Session, group: &str) -> Option<Follower> {
        let (user, password) = s.credentials.clone()?;
        let target = s.conn.as_ref()?.target().clone();
        let stop = Arc::new(AtomicBool::new(false));
        let screen: Arc<dyn Screen> = Arc::new(Prompted { console: s.console.clone(), user: user.clone() });
        let (name, stopped, token) = (group.to_string(), Arc::clone(&stop), Arc::clone(&s.token));
        let spawned = std::thread::Builder::new().name("splitc-follow".into()).spawn(move || {
            let watch = Watch {
                target: &target,
                group: &name,
                json: false,
                give_up: FOLLOW_GIVE_UP,
                screen: Arc::clone(&screen),
                hint: "",
                stop: stopped,
            };
            let login = json!({ "username": user, "password": password });
            let log_in = |conn: &mut Conn| {
                let resumed = lock(&token).clone().map(|t| conn.request(Action::Resume, Some(json!({ "token": t }))));
                match resumed {
                    Some(Ok(_)) => Ok(()),
                    // No token, or one the server no longer takes: the password.
                    Some(Err(Error::Server { .. })) | None => {
                        conn.request(Action::Login, Some(login.clone())).map(drop)
                    }
                    Some(Err(e)) => Err(e),
                }
            };
            if let Err(e) = watch::run(&watch, log_in) {
                screen.note(&format!("stopped following {}: {e}", sanitize(&name)));
            }
        });
        spawned.ok()?;
        *lock(&s.on_screen) = Some(group.to_string());
        Some(Follower { stop, on_screen: Arc::clone(&s.on_screen) })
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        *lock(&self.on_screen) = None;
    }
}

/// The follower's screen: changes by others and its notes, printed at the prompt (one's own
/// changes were answered already).
struct Prompted {
    console: Arc<Console>,
    user: String,
}

impl Screen for Prompted {
    fn change(&self, message: &Object, line: &str) {
        if message.get("by").and_then(Value::as_str) != Some(self.user.as_str()) {
            self.console.print_async(line);
        }
    }

    fn note(&self, text: &str) {
        self.console.print_async(&format!("· {text}"));
    }
}

/// The session token a login reply carries.
fn token_of(reply: &Object) -> Option<String> {
    reply.get("token").and_then(Value::as_str).map(str::to_string)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The servers as the user gave them, for messages.
fn servers_text(servers: &[Target]) -> String {
    servers.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}
