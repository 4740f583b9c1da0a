//! splitc: the command-line client of splitd.
//!
//! This file holds only the flags and the dispatch: without a subcommand splitc runs the interactive
//! menus ([`interactive`]); with one it logs in, does that one thing, prints it and exits ([`oneshot`]).
//! Exit codes: 0 ok, 1 the server answered with an error, 2 usage, 3 the server could not be reached
//! (or the connection broke).

mod actions;
mod args;
mod bycurrency;
mod catundo;
mod conn;
mod currency;
mod follow;
mod import;
mod interactive;
mod oneshot;
mod rules;
mod spec;
mod splitwise;
mod table;
mod term;
mod tokens;
mod view;
mod watch;

use argh::FromArgs;

/// Exit code for a command line that does not parse or does not make sense.
pub const EXIT_USAGE: i32 = 2;

#[derive(FromArgs, Debug)]
/// splitc: the client of splitd, the expense-splitting server. Without a subcommand it runs the
/// interactive menus. One-shot subcommands log in as --user first — with the session token kept from
/// the last login (in $XDG_CONFIG_HOME/splitc, else ~/.config/splitc), else with the password (from a
/// no-echo prompt, --password-stdin or SPLITC_PASSWORD) — and print a table, or JSON with --json.
/// Global options may come before or after the subcommand. Exit codes: 0 ok, 1 the server said
/// error, 2 usage, 3 cannot connect.
pub struct Cli {
    /// server address as host:port, or tls://host:port for TLS (default $SPLITC_SERVER, else
    /// 127.0.0.1:5005); a cluster's members as a comma-separated list (the first that answers is
    /// used; not_leader is followed)
    #[argh(option, default = "default_server()")]
    pub server: String,
    /// speak TLS to --server host:port (same as tls://host:port); the certificate must be valid for
    /// the host, by Mozilla's root CAs or --ca-file
    #[argh(switch)]
    pub tls: bool,
    /// trust only the CA certificates in this PEM file (a private CA or a self-signed server)
    #[argh(option)]
    pub ca_file: Option<std::path::PathBuf>,
    /// FOR TESTS ONLY: accept any TLS certificate. Traffic is encrypted but the server is not
    /// verified, so anyone on the path can pretend to be it and read your password
    #[argh(switch)]
    pub insecure: bool,
    /// user name to log in as (default $SPLITC_USER; needed by the one-shot subcommands;
    /// interactive mode asks otherwise, and uses SPLITC_PASSWORD if set)
    #[argh(option)]
    pub user: Option<String>,
    /// read the password from the first line of standard input (one-shot subcommands)
    #[argh(switch)]
    pub password_stdin: bool,
    #[argh(subcommand)]
    pub command: Option<Command>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    Signup(Signup),
    Login(Login),
    ChangePassword(ChangePassword),
    DeleteAccount(DeleteAccount),
    GroupInfo(GroupInfo),
    SetGroupPassword(SetGroupPassword),
    SetGroupCurrency(SetGroupCurrency),
    SetGroupConvert(SetGroupConvert),
    Groups(Groups),
    CreateGroup(CreateGroup),
    Join(Join),
    Members(Members),
    Add(Add),
    Edit(Edit),
    ImportSplitwise(ImportSplitwise),
    Transactions(Transactions),
    Delete(Delete),
    Balances(Balances),
    Debts(Debts),
    Settle(Settle),
    Pay(Pay),
    Payments(Payments),
    DeletePayment(DeletePayment),
    History(History),
    Leave(Leave),
    Export(Export),
    Watch(Watch),
    Logout(Logout),
    Sessions(Sessions),
    Categories(catundo::Categories),
    AddCategory(catundo::AddCategory),
    Stats(catundo::Stats),
    Restore(catundo::Restore),
    RestorePayment(catundo::RestorePayment),
    Recurring(Recurring),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "login", example = "splitc --user alice login")]
/// log in and keep the session token, so the next commands need no password
pub struct Login {
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "change-password",
    example = "SPLITC_NEW_PASSWORD=new-secret splitc --user alice change-password"
)]
/// change your password (the new one from SPLITC_NEW_PASSWORD or a prompt); other devices must log in again
pub struct ChangePassword {
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "delete-account", example = "splitc --user alice delete-account --yes")]
/// delete your account (your balance must be zero in every group); asks for --yes
pub struct DeleteAccount {
    /// yes, delete it: the name stays reserved and cannot log in again
    #[argh(switch)]
    pub yes: bool,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "group-info", example = "splitc --user alice group-info dinner")]
/// a group's currency, creator, members and former members
pub struct GroupInfo {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "set-group-password",
    example = "splitc --user alice set-group-password dinner --group-password s3cret"
)]
/// change the password others need to join (the group's creator only; "" removes it)
pub struct SetGroupPassword {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// the new password (or SPLITC_GROUP_PASSWORD; "" or neither: no password)
    #[argh(option)]
    pub group_password: Option<String>,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "set-group-currency", example = "splitc --user alice set-group-currency dinner EUR")]
/// change the group's currency label, an ISO 4217 code (the creator only; amounts are not converted)
pub struct SetGroupCurrency {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// the currency code, e.g. EUR
    #[argh(positional)]
    pub currency: String,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "set-group-convert", example = "splitc --user alice set-group-convert trip at-settlement")]
/// when expenses in other currencies are converted: at-entry (at the rate given) or at-settlement
/// (kept in their currency, settled in it); the creator only, before the first transaction
pub struct SetGroupConvert {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// at-entry or at-settlement (at_entry, at_settlement too)
    #[argh(positional)]
    pub mode: String,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "logout", example = "splitc --user alice logout --all")]
/// revoke the stored session token (with --all: every session of --user) and forget it
pub struct Logout {
    /// every session of the user, on every device
    #[argh(switch)]
    pub all: bool,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "sessions", example = "splitc --user alice sessions")]
/// list your sessions: when each was created and last used, and from where
pub struct Sessions {
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "signup", example = "SPLITC_PASSWORD=alice-secret splitc --user alice signup")]
/// create the account --user with the given password
pub struct Signup {
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "groups", example = "splitc --user alice groups --json")]
/// list the groups you belong to
pub struct Groups {
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "create-group", example = "splitc --user alice create-group dinner --currency EUR")]
/// create a group (and join it)
pub struct CreateGroup {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// password others need to join (or SPLITC_GROUP_PASSWORD; default none)
    #[argh(option)]
    pub group_password: Option<String>,
    /// the group's currency, an ISO 4217 code such as EUR (default: the server's, INR)
    #[argh(option)]
    pub currency: Option<String>,
    /// expenses in other currencies: at-entry (converted at the --rate given; the default) or
    /// at-settlement (kept and settled in their own currency)
    #[argh(option)]
    pub convert: Option<String>,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "join", example = "splitc --user bob join dinner --group-password s3cret")]
/// join an existing group
pub struct Join {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// the group's password, if it has one (or SPLITC_GROUP_PASSWORD)
    #[argh(option)]
    pub group_password: Option<String>,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "members", example = "splitc --user alice members dinner")]
/// list a group's members
pub struct Members {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "add",
    example = "splitc --user alice add dinner 84.50 --split bob --include-me --desc \"thai dinner\""
)]
/// add an expense (you paid it, unless --paid-by says who did), shared by --split
pub struct Add {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// the amount, e.g. 90 or 12.50 (in the group's decimals: 1000 yen, 1.255 dinar)
    #[argh(positional)]
    pub amount: String,
    /// who shares it: bob,carol (equally; add --include-me for you too), all,
    /// exact:bob=10,carol=5, percent:bob=60,carol=40 or shares:bob=2,carol=1
    #[argh(option)]
    pub split: Option<String>,
    /// you share it too (with a plain list of names)
    #[argh(switch)]
    pub include_me: bool,
    /// who paid what, e.g. alice=5,bob=10 (default: you paid it all)
    #[argh(option)]
    pub paid_by: Option<String>,
    /// what it was for
    #[argh(option)]
    pub desc: Option<String>,
    /// the date it happened, YYYY-MM-DD
    #[argh(option)]
    pub date: Option<String>,
    /// the currency the amount is in, if not the group's (ISO 4217, e.g. JPY)
    #[argh(option)]
    pub currency: Option<String>,
    /// with --currency: how many of the group's units one of it is worth
    #[argh(option)]
    pub rate: Option<String>,
    /// idempotency key: a repeat with the same key adds nothing (default: a fresh one)
    #[argh(option)]
    pub key: Option<String>,
    /// one of the group's categories (`splitc categories GROUP`), e.g. food
    #[argh(option)]
    pub category: Option<String>,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "edit",
    example = "splitc --user alice edit dinner 1 --amount 90 --desc \"thai dinner + tip\""
)]
/// change a transaction: only the options given change
pub struct Edit {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// the transaction's id
    #[argh(positional)]
    pub id: u64,
    /// the new amount
    #[argh(option)]
    pub amount: Option<String>,
    /// the new description
    #[argh(option)]
    pub desc: Option<String>,
    /// the new split (same forms as `add --split`)
    #[argh(option)]
    pub split: Option<String>,
    /// with a plain list of names in --split: you share it too
    #[argh(switch)]
    pub include_me: bool,
    /// who paid what, e.g. alice=5,bob=10
    #[argh(option)]
    pub paid_by: Option<String>,
    /// the new date, YYYY-MM-DD ("" removes it)
    #[argh(option)]
    pub date: Option<String>,
    /// the new category ("" removes it)
    #[argh(option)]
    pub category: Option<String>,
    /// the currency --amount is in (default: the one the expense was entered in)
    #[argh(option)]
    pub currency: Option<String>,
    /// a new rate: how many of the group's units one of --currency is worth
    #[argh(option)]
    pub rate: Option<String>,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "import-splitwise",
    example = "splitc --user alice import-splitwise trip trip-export.csv --map \"Alice Smith=alice\""
)]
/// import a Splitwise group export (CSV): each row one exact-split expense (payments as payments);
/// a second run adds nothing; then checks every balance against the file's Total balance row
pub struct ImportSplitwise {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// the CSV file Splitwise exported for the group
    #[argh(positional)]
    pub file: std::path::PathBuf,
    /// "Name in file=user": the splitd user of a member column (repeat it for each; default: the
    /// column's name as the user name)
    #[argh(option)]
    pub map: Vec<String>,
    /// print the outcome as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "transactions", example = "splitc --user alice transactions dinner")]
/// list a group's transactions, oldest first
pub struct Transactions {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "delete", example = "splitc --user alice delete dinner 1")]
/// delete a transaction by its id (the ID column of `transactions`)
pub struct Delete {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// the transaction's id
    #[argh(positional)]
    pub id: u64,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "balances", example = "splitc --user alice balances dinner --details")]
/// show each member's balance (positive: is owed)
pub struct Balances {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// where each balance comes from: paid, share, payments sent and received, net
    #[argh(switch)]
    pub details: bool,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "debts", example = "splitc --user alice debts dinner")]
/// who owes whom, straight from the expenses and payments (netted per pair, not simplified)
pub struct Debts {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "settle", example = "splitc --user bob settle dinner --record")]
/// suggest the transfers that settle a group
pub struct Settle {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// minimal (fewest transfers) or greedy (the original's); the server's default when absent
    #[argh(option)]
    pub method: Option<String>,
    /// record the plan shown as payments, all at once
    #[argh(switch)]
    pub record: bool,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "pay", example = "splitc --user bob pay dinner alice 30.25")]
/// record a payment ("settle up"): you (or --from) paid TO the amount
pub struct Pay {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// who received the money
    #[argh(positional)]
    pub to: String,
    /// the amount, e.g. 25 or 12.50
    #[argh(positional)]
    pub amount: String,
    /// who paid (default: you)
    #[argh(option)]
    pub from: Option<String>,
    /// the date it happened, YYYY-MM-DD
    #[argh(option)]
    pub date: Option<String>,
    /// the currency the amount is in, if not the group's (groups that convert at settlement)
    #[argh(option)]
    pub currency: Option<String>,
    /// idempotency key: a repeat with the same key records nothing (default: a fresh one)
    #[argh(option)]
    pub key: Option<String>,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "payments", example = "splitc --user alice payments dinner")]
/// list a group's payments, oldest first
pub struct Payments {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "delete-payment", example = "splitc --user alice delete-payment dinner 2")]
/// delete a payment by its id (the ID column of `payments`)
pub struct DeletePayment {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// the payment's id
    #[argh(positional)]
    pub id: u64,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "history", example = "splitc --user alice history dinner --limit 10")]
/// who did what and when in a group, newest first
pub struct History {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// how many entries (1-500, default 50)
    #[argh(option)]
    pub limit: Option<u64>,
    /// only entries older than this entry id (for paging)
    #[argh(option)]
    pub before: Option<u64>,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "leave", example = "splitc --user bob leave dinner")]
/// leave a group (your balance must be zero)
pub struct Leave {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "export", example = "splitc --user alice export dinner --format csv > dinner.csv")]
/// write a group's transactions (or, with --payments, its payments) as CSV with a header row, or
/// everything (currency, transactions, payments) as one JSON object
pub struct Export {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// csv or json (default csv)
    #[argh(option, default = "String::from(\"csv\")")]
    pub format: String,
    /// CSV of the payments instead of the transactions
    #[argh(switch)]
    pub payments: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "watch", example = "splitc --user bob watch dinner")]
/// print each change to a group as one line, none missed: after a disconnect or a server restart
/// it reconnects and resumes where it stopped (a line on stderr when it had to skip ahead)
pub struct Watch {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// print each notification as the JSON object received
    #[argh(switch)]
    pub json: bool,
    /// seconds without a server after which to give up (exit 3, with the reason; default 300)
    #[argh(option, default = "300")]
    pub give_up: u64,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "recurring", example = "splitc --user alice recurring list flat")]
/// expenses the server adds itself on a schedule (rent, subscriptions): recurring add, list, edit or
/// stop
pub struct Recurring {
    #[argh(subcommand)]
    pub command: RecurringCommand,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum RecurringCommand {
    Add(RecurringAdd),
    List(RecurringList),
    Edit(RecurringEdit),
    Stop(RecurringStop),
}

#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "add",
    example = "splitc --user alice recurring add flat 1200 --every month --start 2026-12-01 --split bob --include-me --desc rent"
)]
/// add a recurring expense: from --start on, every --every (day, week, month or year), the server
/// adds it as you paid it (at 00:00 UTC of each date; a start in the past adds the past ones at once)
pub struct RecurringAdd {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// the amount of each occurrence, e.g. 1200 or 12.50
    #[argh(positional)]
    pub amount: String,
    /// day, week, month or year
    #[argh(option)]
    pub every: String,
    /// every N days, weeks, months or years (default 1)
    #[argh(option)]
    pub interval: Option<u64>,
    /// the date of the first occurrence, YYYY-MM-DD (default: today, UTC)
    #[argh(option)]
    pub start: Option<String>,
    /// the last date it may fall on, YYYY-MM-DD (default: until stopped)
    #[argh(option)]
    pub until: Option<String>,
    /// how many occurrences in all (default: until stopped)
    #[argh(option)]
    pub count: Option<u64>,
    /// who shares it (same forms as `add --split`)
    #[argh(option)]
    pub split: Option<String>,
    /// you share it too (with a plain list of names)
    #[argh(switch)]
    pub include_me: bool,
    /// who pays what, e.g. alice=5,bob=10 (default: you pay it all)
    #[argh(option)]
    pub paid_by: Option<String>,
    /// what it is for
    #[argh(option)]
    pub desc: Option<String>,
    /// the currency the amount is in, if not the group's (ISO 4217, e.g. JPY)
    #[argh(option)]
    pub currency: Option<String>,
    /// with --currency: how many of the group's units one of it is worth (each occurrence is
    /// converted at it)
    #[argh(option)]
    pub rate: Option<String>,
    /// one of the group's categories (`splitc categories GROUP`), e.g. housing
    #[argh(option)]
    pub category: Option<String>,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list", example = "splitc --user alice recurring list flat")]
/// list a group's recurring expenses: how often, the next date, how many are left
pub struct RecurringList {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "edit", example = "splitc --user alice recurring edit flat 1 --amount 1250 --count 12")]
/// change the occurrences still to come of a recurring expense (only the options given change;
/// the schedule stays: stop it and add another)
pub struct RecurringEdit {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// the rule's id (the ID column of `recurring list`)
    #[argh(positional)]
    pub id: u64,
    /// the new amount
    #[argh(option)]
    pub amount: Option<String>,
    /// the new description
    #[argh(option)]
    pub desc: Option<String>,
    /// the new split (same forms as `add --split`)
    #[argh(option)]
    pub split: Option<String>,
    /// with a plain list of names in --split: you share it too
    #[argh(switch)]
    pub include_me: bool,
    /// who pays what, e.g. alice=5,bob=10
    #[argh(option)]
    pub paid_by: Option<String>,
    /// the new last date, YYYY-MM-DD ("" removes it)
    #[argh(option)]
    pub until: Option<String>,
    /// the new number of occurrences in all (0 removes it)
    #[argh(option)]
    pub count: Option<u64>,
    /// the new category ("" removes it)
    #[argh(option)]
    pub category: Option<String>,
    /// a new currency (give --amount in it), or the currency --amount is in (default: the rule's)
    #[argh(option)]
    pub currency: Option<String>,
    /// a new rate: how many of the group's units one of the rule's currency is worth
    #[argh(option)]
    pub rate: Option<String>,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "stop", example = "splitc --user alice recurring stop flat 1")]
/// stop a recurring expense: no more occurrences (those made stay)
pub struct RecurringStop {
    /// the group's name
    #[argh(positional)]
    pub group: String,
    /// the rule's id
    #[argh(positional)]
    pub id: u64,
    /// print the server's reply as JSON
    #[argh(switch)]
    pub json: bool,
}

fn main() {
    // Lossy, so a stray non-UTF-8 argument is a usage error rather than a panic.
    let args: Vec<String> = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    let mut cli = parse(&args);
    if cli.user.is_none() {
        cli.user = std::env::var("SPLITC_USER").ok().filter(|u| !u.is_empty());
    }
    let code = match cli.command {
        None if cli.password_stdin => {
            term::warn("splitc: --password-stdin is for the one-shot subcommands; interactive mode asks for it");
            EXIT_USAGE
        }
        None => match cli.targets() {
            Ok(servers) => interactive::run(interactive::Options {
                servers,
                user: cli.user.clone(),
                password: std::env::var("SPLITC_PASSWORD").ok(),
            }),
            Err(text) => {
                term::warn(&format!("splitc: {text}"));
                EXIT_USAGE
            }
        },
        Some(ref command) => oneshot::run(&cli, command),
    };
    std::process::exit(code);
}

/// The command line as argh reads it after `args::prepare`; exits for help, version and usage
/// errors (2, in splitc's words, pointing at the help).
fn parse(args: &[String]) -> Cli {
    let commands: Vec<&str> = <Command as argh::SubCommands>::COMMANDS.iter().map(|c| c.name).collect();
    let args = match args::prepare(args, &commands) {
        args::Prepared::Parse(args) => args,
        args::Prepared::Print(text) => {
            term::out(&text);
            std::process::exit(0);
        }
        args::Prepared::Help => {
            let page = Cli::from_args(&["splitc"], &["--help"]).err().map(|e| e.output).unwrap_or_default();
            let described: Vec<(&str, &str)> =
                <Command as argh::SubCommands>::COMMANDS.iter().map(|c| (c.name, c.description)).collect();
            term::out(&args::grouped_help(&page, &described));
            std::process::exit(0);
        }
        args::Prepared::Usage(text) => {
            term::warn(&format!("splitc: {text}"));
            std::process::exit(EXIT_USAGE);
        }
    };
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    match Cli::from_args(&["splitc"], &refs) {
        Ok(cli) => cli,
        Err(early) if early.status.is_ok() => {
            term::say(early.output.trim_end());
            std::process::exit(0);
        }
        Err(early) => {
            let at = refs.iter().position(|a| commands.contains(a));
            let mut command = at.map(|i| format!(" {}", refs[i])).unwrap_or_default();
            // A nested subcommand's action comes right after it (`args::prepare` put it there).
            let nested = at.and_then(|i| args::NESTED.iter().find(|(n, _)| *n == refs[i]).map(|(_, a)| (i, a)));
            if let Some(action) = nested.and_then(|(i, actions)| refs.get(i + 1).filter(|a| actions.contains(a))) {
                command.push_str(&format!(" {action}"));
            }
            let said = early.output.trim_end();
            term::warn(&format!("splitc: {said}\nRun `splitc help{command}` for usage."));
            std::process::exit(EXIT_USAGE);
        }
    }
}

/// `--server`'s default: $SPLITC_SERVER, else the server's own default address.
fn default_server() -> String {
    std::env::var("SPLITC_SERVER").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "127.0.0.1:5005".into())
}

impl Cli {
    /// The servers to try, in order, from --server (comma-separated), --tls, --ca-file and --insecure.
    pub fn targets(&self) -> Result<Vec<conn::Target>, String> {
        self.server
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|server| conn::Target::parse(server, self.tls, self.ca_file.as_deref(), self.insecure))
            .collect::<Result<Vec<_>, _>>()
            .and_then(|targets| if targets.is_empty() { Err("--server: no address".into()) } else { Ok(targets) })
    }
}
