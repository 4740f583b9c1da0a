//! The command line as people type it, made into what argh reads: `-h` and `--version`; the global
//! options (`--server`, `--user`, ...) wherever they are, before or after the subcommand, and a
//! subcommand's `--json` before it too; a mistyped subcommand (or `recurring` action) answered with
//! the nearest one; a
//! negative amount refused in splitc's words rather than as an unknown option; and the `--help` page
//! with the subcommands grouped by what they are about.
//!
//! Owns only the shape of the argument list. Does not own what the options mean (main.rs, argh) nor
//! checking their values (`oneshot`, `spec`).

/// Global options that take a value (the next argument, or `=value`).
const GLOBAL_VALUED: [&str; 3] = ["--server", "--user", "--ca-file"];
/// Global switches.
const GLOBAL_SWITCHES: [&str; 3] = ["--tls", "--insecure", "--password-stdin"];

/// The subcommands by what they are about, for `--help` (each listed name must exist; a test checks
/// that every subcommand is listed once).
pub const GROUPS: [(&str, &[&str]); 6] = [
    ("Account", &["signup", "login", "logout", "sessions", "change-password", "delete-account"]),
    (
        "Groups",
        &[
            "groups",
            "create-group",
            "join",
            "members",
            "group-info",
            "set-group-password",
            "set-group-currency",
            "set-group-convert",
            "leave",
            "categories",
            "add-category",
        ],
    ),
    ("Expenses", &["add", "edit", "delete", "restore", "transactions", "recurring", "import-splitwise"]),
    ("Payments", &["pay", "payments", "delete-payment", "restore-payment", "settle"]),
    ("Reading", &["balances", "debts", "history", "export", "stats"]),
    ("Live", &["watch"]),
];

/// The subcommands that have subcommands of their own (`splitc recurring add`), with their names (a
/// test checks them against argh's).
pub const NESTED: [(&str, &[&str]); 1] = [("recurring", &["add", "list", "edit", "stop"])];

/// What to do instead of parsing, or the arguments to parse.
#[derive(Debug, PartialEq)]
pub enum Prepared {
    /// Hand these to argh.
    Parse(Vec<String>),
    /// Print this to stdout and exit 0 (`--version`).
    Print(String),
    /// Print the grouped help page and exit 0.
    Help,
    /// A usage error in splitc's words: print it to stderr and exit 2.
    Usage(String),
}

/// Reorders and checks `args` (without the program name); `commands` are the subcommands' names.
pub fn prepare(args: &[String], commands: &[&str]) -> Prepared {
    let args: Vec<String> = args.iter().map(|a| if a == "-h" { "--help".to_string() } else { a.clone() }).collect();
    let end = args.iter().position(|a| a == "--").unwrap_or(args.len());
    if args[..end].iter().any(|a| a == "--version" || a == "-V") {
        return Prepared::Print(format!("splitc {}\n", env!("CARGO_PKG_VERSION")));
    }
    let mut globals = Vec::new();
    let mut rest = Vec::new();
    let mut command: Option<String> = None;
    // The action of a nested subcommand (`add` of `recurring`), and the names it may be while missing.
    let mut action: Option<String> = None;
    let mut i = 0;
    while i < end {
        let awaiting: Option<&[&str]> = match (&command, &action) {
            (Some(c), None) => NESTED.iter().find(|(n, _)| n == c).map(|(_, actions)| *actions),
            _ => None,
        };
        let arg = &args[i];
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value)),
            _ => (arg.as_str(), None),
        };
        if GLOBAL_VALUED.contains(&name) {
            globals.push(arg.clone());
            if inline.is_none() && i + 1 < end {
                globals.push(args[i + 1].clone());
                i += 1;
            }
        } else if GLOBAL_SWITCHES.contains(&name) {
            globals.push(arg.clone());
        } else if command.is_none() && !arg.starts_with('-') {
            if arg == "help" && args[i + 1..end].first().is_none_or(|next| next.starts_with('-')) {
                return Prepared::Help;
            }
            if let Some(refusal) = unknown_command(arg, &args[i + 1..end], commands) {
                return refusal;
            }
            command = Some(arg.clone());
        } else if let Some(actions) = awaiting.filter(|_| !arg.starts_with('-')) {
            if arg != "help" && !actions.contains(&arg.as_str()) {
                return unknown_action(command.as_deref().unwrap_or(""), arg, actions);
            }
            action = Some(arg.clone());
        } else if command.is_some() && is_negative_number(arg) {
            return Prepared::Usage(format!(
                "{arg}: amounts are positive (money paid back is a payment: `splitc pay GROUP TO AMOUNT`)"
            ));
        } else {
            // `--json`, `--help` or `--date D` before the subcommand belongs to it: an option
            // before it takes the next argument along unless that is the subcommand or an option.
            rest.push(arg.clone());
            let takes_next = (command.is_none() || awaiting.is_some()) && arg.starts_with("--") && inline.is_none();
            let names = |n: &str| commands.contains(&n) || awaiting.is_some_and(|a| a.contains(&n));
            if takes_next && args[..end].get(i + 1).is_some_and(|n| !n.starts_with('-') && !names(n)) {
                rest.push(args[i + 1].clone());
                i += 1;
            }
        }
        i += 1;
    }
    if command.is_none() && rest.iter().any(|a| a == "--help") {
        return Prepared::Help;
    }
    let mut out = globals;
    out.extend(command);
    out.extend(action);
    out.extend(rest);
    out.extend(args[end..].iter().cloned());
    Prepared::Parse(out)
}

/// `help ACTION` and a known subcommand pass; anything else is answered with the nearest name.
fn unknown_command(arg: &str, after: &[String], commands: &[&str]) -> Option<Prepared> {
    let name = if arg == "help" {
        match after.first() {
            Some(next) if !next.starts_with('-') => next.as_str(),
            _ => return None,
        }
    } else {
        arg
    };
    if commands.contains(&name) {
        return None;
    }
    let hint = match nearest(name, commands) {
        Some(near) => format!("; did you mean `{near}`?"),
        None => String::new(),
    };
    Some(Prepared::Usage(format!("no subcommand {name:?}{hint} (`splitc --help` lists them)")))
}

/// A nested subcommand's action that is not one of its `actions`, answered with the nearest.
fn unknown_action(command: &str, typed: &str, actions: &[&str]) -> Prepared {
    let hint = match nearest(typed, actions) {
        Some(near) => format!("; did you mean `{command} {near}`?"),
        None => format!("; it is one of {}", actions.join(", ")),
    };
    Prepared::Usage(format!("no subcommand {typed:?} of {command}{hint} (`splitc help {command}` lists them)"))
}

fn is_negative_number(arg: &str) -> bool {
    arg.strip_prefix('-')
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ','))
}

/// The known name closest to `typed` by edit distance (or that it begins), when close enough to
/// be what was meant.
fn nearest<'a>(typed: &str, known: &[&'a str]) -> Option<&'a str> {
    let scored = known.iter().map(|k| (distance(typed, k), *k));
    let (score, best) = scored.min()?;
    let prefix = known.iter().find(|k| typed.len() >= 2 && k.starts_with(typed)).copied();
    if score <= 2.max(typed.chars().count() / 3) {
        Some(best)
    } else {
        prefix
    }
}

/// Levenshtein distance, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// argh's help page with its flat `Commands:` list replaced by the subcommands in [`GROUPS`], each
/// with the description argh has for it.
pub fn grouped_help(argh_help: &str, described: &[(&str, &str)]) -> String {
    let (head, _) = argh_help.split_once("\nCommands:").unwrap_or((argh_help, ""));
    let mut text = head.trim_end().to_string();
    text.push_str("\n\nCommands (`splitc help COMMAND` for its options and an example):\n");
    let width = described.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let indent = " ".repeat(4 + width + 2);
    for (group, names) in GROUPS {
        text.push_str(&format!("\n  {group}:\n"));
        for name in names {
            let description = described.iter().find(|(n, _)| n == name).map(|(_, d)| *d).unwrap_or("");
            let lines = wrap(description, HELP_WIDTH.saturating_sub(indent.len()).max(20));
            text.push_str(&format!("    {name:<width$}  {}\n", lines.join(&format!("\n{indent}"))));
        }
    }
    text.push_str("\n  Without a command: the interactive menus.\n");
    text
}

/// The width the help page's descriptions are wrapped to.
const HELP_WIDTH: usize = 100;

/// `text` in lines of at most `width` characters, broken at spaces (a longer word stays whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("a line");
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMANDS: [&str; 5] = ["add", "groups", "pay", "payments", "watch"];

    fn prepare_str(args: &[&str]) -> Prepared {
        prepare(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>(), &COMMANDS)
    }

    fn parsed(args: &[&str]) -> Vec<String> {
        match prepare_str(args) {
            Prepared::Parse(args) => args,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn global_options_may_follow_the_subcommand() {
        assert_eq!(parsed(&["groups", "--user", "alice", "--json"]), ["--user", "alice", "groups", "--json"]);
        assert_eq!(
            parsed(&["--json", "groups", "--server=h:1", "--tls"]),
            ["--server=h:1", "--tls", "groups", "--json"]
        );
        assert_eq!(
            parsed(&["add", "trip", "5", "--user", "bob", "--", "--user"]),
            ["--user", "bob", "add", "trip", "5", "--", "--user"]
        );
        assert_eq!(prepare_str(&["-h"]), Prepared::Help);
        assert_eq!(prepare_str(&["help"]), Prepared::Help);
        assert_eq!(wrap("a bb ccc dddd", 6), ["a bb", "ccc", "dddd"]);
        assert_eq!(parsed(&["--date", "2025-01-02", "add", "trip", "5"]), ["add", "--date", "2025-01-02", "trip", "5"]);
        assert_eq!(prepare_str(&["--user", "a", "--help"]), Prepared::Help);
        assert_eq!(parsed(&["add", "-h"]), ["add", "--help"]);
    }

    #[test]
    fn typos_get_the_nearest_subcommand() {
        let said = |args: &[&str]| match prepare_str(args) {
            Prepared::Usage(text) => text,
            other => panic!("{other:?}"),
        };
        assert!(said(&["ad"]).contains("did you mean `add`?"), "{}", said(&["ad"]));
        assert!(said(&["--user", "a", "paymnets"]).contains("`payments`"));
        assert!(said(&["help", "wach"]).contains("`watch`"));
        assert!(!said(&["frobnicate"]).contains("did you mean"));
        assert!(said(&["add", "trip", "-4"]).contains("amounts are positive"));
        assert_eq!(parsed(&["help", "add"]), ["help", "add"]);
        assert!(matches!(prepare_str(&["groups", "--version"]), Prepared::Print(v) if v.starts_with("splitc ")));
    }

    #[test]
    fn a_nested_subcommand_takes_its_action_next_and_suggests_the_nearest() {
        let commands = ["add", "recurring"];
        let prepare_nested =
            |args: &[&str]| prepare(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>(), &commands);
        let parsed = |args: &[&str]| match prepare_nested(args) {
            Prepared::Parse(args) => args,
            other => panic!("{args:?}: {other:?}"),
        };
        assert_eq!(
            parsed(&["--json", "recurring", "list", "flat", "--user", "a"]),
            ["--user", "a", "recurring", "list", "--json", "flat"]
        );
        assert_eq!(parsed(&["recurring", "--json", "list", "flat"]), ["recurring", "list", "--json", "flat"]);
        assert_eq!(
            parsed(&["recurring", "--every", "month", "add", "flat", "5"]),
            ["recurring", "add", "--every", "month", "flat", "5"]
        );
        assert_eq!(parsed(&["recurring", "help", "add"]), ["recurring", "help", "add"]);
        let said = |args: &[&str]| match prepare_nested(args) {
            Prepared::Usage(text) => text,
            other => panic!("{other:?}"),
        };
        assert!(said(&["recurring", "ad", "flat"]).contains("did you mean `recurring add`?"));
        assert!(said(&["recuring", "list"]).contains("did you mean `recurring`?"));
        assert!(said(&["recurring", "frobnicate"]).contains("it is one of add, list, edit, stop"));
        assert!(said(&["recurring", "add", "flat", "-5"]).contains("amounts are positive"));
    }

    #[test]
    fn the_nested_actions_are_argh_s() {
        let argh: Vec<&str> = <crate::RecurringCommand as argh::SubCommands>::COMMANDS.iter().map(|c| c.name).collect();
        assert_eq!(NESTED, [("recurring", argh.as_slice())]);
    }

    #[test]
    fn distances() {
        assert_eq!(distance("ad", "add"), 1);
        assert_eq!(distance("paymnets", "payments"), 2);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(nearest("tx", &["transactions", "add"]), None);
        assert_eq!(nearest("trans", &["transactions", "add"]), Some("transactions"));
    }
}
