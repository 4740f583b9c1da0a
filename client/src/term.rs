//! Terminal input and output: answers read line by line, passwords read without echo, notifications
//! printed while a prompt is waiting without mangling it, and the one sanitiser every byte splitc
//! writes to the screen goes through.
//!
//! Why a console: the interactive client has two writers to the screen — the menus (main thread) and
//! the socket reader (pushed notifications). The reader must print *now*, even while the main thread
//! blocks in a prompt, so the console remembers the pending prompt: a notification clears the prompt's
//! line, prints itself on its own line, and prints the prompt again. When stdin is not a terminal (a
//! script), answers are plain lines, the password is one more line, and each answer is echoed so the
//! transcript reads like a terminal session.
//!
//! Why a sanitiser: names, descriptions and messages come from the server, which got them from other
//! people (or from data older than the server's own character rules). Printed as they are, an ESC
//! would run a terminal command (retitle the window, clear the screen), a bidi override would reorder
//! the line, a zero-width space would make two different names look the same. [`sanitize`] shows each
//! such character (the set `vocab::text::unsafe_in_text` defines, the one the server refuses in new
//! text) as a visible escape, `\u{1b}`. Server text is sanitised where it is shown (table cells,
//! messages, notification lines), which also escapes its newlines, so it cannot fake a line of ours;
//! and [`out`], [`say`], [`warn`] and [`Console`] pass everything they write through it once more
//! (keeping our own newlines), so nothing unsafe reaches the terminal by a path that forgot. The
//! print macros are refused by clippy in this crate (`clippy.toml`) to keep it that way.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use vocab::text::unsafe_in_text;

/// `text` with every character that is not shown as itself written as a visible `\u{…}` escape
/// (its code point in hex), newlines included: for one value from the server (a name, a description,
/// a message). Borrowed when there is nothing to escape.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    escape(text, |_| false, visible_escape)
}

/// Like [`sanitize`], keeping newlines: for text splitc laid out itself, lines and all.
fn sanitize_lines(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\n', visible_escape)
}

fn visible_escape(out: &mut String, c: char) {
    let _ = write!(out, "\\u{{{:x}}}", c as u32);
}

/// JSON text with each character [`sanitize`] would escape written as a JSON `\uXXXX` escape (a
/// surrogate pair above U+FFFF): the same JSON value, in bytes safe for a terminal. Newlines are
/// kept: in JSON text a raw one can only be layout (pretty printing); inside strings serde_json
/// already writes `\n`.
pub fn json_safe(json: &str) -> Cow<'_, str> {
    escape(
        json,
        |c| c == '\n',
        |out, c| {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        },
    )
}

/// `text` with each unsafe character not `kept` replaced by what `write` writes for it.
fn escape<'a>(text: &'a str, kept: fn(char) -> bool, write: fn(&mut String, char)) -> Cow<'a, str> {
    let hidden = |c: char| unsafe_in_text(c).is_some() && !kept(c);
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if hidden(c) {
            write(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Writes `text` to standard output now (a watch line must not sit in a buffer), sanitised. A
/// closed pipe (`| head`) ends the program quietly, as other command-line tools do.
pub fn out(text: &str) {
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout.write_all(sanitize_lines(text).as_bytes()).and_then(|_| stdout.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        warn(&format!("splitc: cannot write output: {e}"));
        std::process::exit(1);
    }
}

/// One line to standard output (what `println!` would do, through [`out`]).
pub fn say(line: &str) {
    out(&format!("{line}\n"));
}

/// One line to standard error, sanitised.
pub fn warn(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{}", sanitize_lines(line));
}

/// Lines from standard input; `None` at end of input.
pub struct Input {
    reader: Box<dyn BufRead>,
    /// Whether stdin is a terminal: only then is echo switched off for secrets.
    pub tty: bool,
}

impl Input {
    pub fn stdin() -> Input {
        let stdin = io::stdin();
        Input { tty: stdin.is_terminal(), reader: Box::new(stdin.lock()) }
    }

    /// The next line without its line ending, or `None` at end of input (or on a read error).
    pub fn line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        match self.reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                while matches!(buf.last(), Some(b'\n' | b'\r')) {
                    buf.pop();
                }
                Some(String::from_utf8_lossy(&buf).into_owned())
            }
        }
    }

    /// Like [`Input::line`], with terminal echo off while it is typed (when stdin is a terminal).
    pub fn secret_line(&mut self) -> Option<String> {
        let _guard = if self.tty { EchoOff::new() } else { None };
        self.line()
    }
}

/// Reads a password for a one-shot command: prompt on stderr, no echo, from the terminal only.
/// Returns `None` when stdin is not a terminal (scripts must use --password-stdin or SPLITC_PASSWORD).
pub fn prompt_password(prompt: &str) -> Option<String> {
    let mut input = Input::stdin();
    if !input.tty {
        return None;
    }
    let mut stderr = io::stderr().lock();
    let _ = stderr.write_all(sanitize_lines(prompt).as_bytes()).and_then(|_| stderr.flush());
    drop(stderr);
    input.secret_line()
}

/// The shared screen of an interactive session.
pub struct Console {
    /// The prompt the main thread is waiting at, if any.
    pending: Mutex<Option<String>>,
    /// Whether stdout is a terminal: only then are ANSI line-clearing codes used.
    tty_out: bool,
}

impl Console {
    pub fn new() -> Arc<Console> {
        Arc::new(Console { pending: Mutex::new(None), tty_out: io::stdout().is_terminal() })
    }

    /// Prints text that arrived asynchronously on its own line(s) and re-prints the waiting prompt.
    /// Safe to call from any thread; the stdout lock keeps it from interleaving with other output.
    /// Text typed at the prompt but not yet entered is hidden by the clear but not lost: it is still in
    /// the terminal's line buffer (Enter sends it; Ctrl-R redisplays it).
    pub fn print_async(&self, text: &str) {
        let mut out = io::stdout().lock();
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut buf = String::new();
        if pending.is_some() {
            // On a terminal: go to the start of the prompt's line and clear it. In a transcript: end it.
            // (Our own escape, added after the sanitiser, is the only one that reaches the screen.)
            buf.push_str(if self.tty_out { "\r\x1b[K" } else { "\n" });
        }
        buf.push_str(&sanitize_lines(text));
        buf.push('\n');
        if let Some(prompt) = pending {
            buf.push_str(&prompt);
        }
        let _ = out.write_all(buf.as_bytes());
        let _ = out.flush();
    }

    /// Shows `prompt` and reads one answer; `None` at end of input. `secret` answers are not echoed.
    pub fn ask(&self, input: &mut Input, prompt: &str, secret: bool) -> Option<String> {
        {
            let mut out = io::stdout().lock();
            let prompt = sanitize_lines(prompt);
            *self.pending.lock().unwrap_or_else(|e| e.into_inner()) = Some(prompt.to_string());
            let _ = out.write_all(prompt.as_bytes());
            let _ = out.flush();
        }
        let answer = if secret { input.secret_line() } else { input.line() };
        let mut out = io::stdout().lock();
        *self.pending.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if !input.tty {
            // The terminal would have echoed the answer and the newline; a script's input does not.
            let shown = match &answer {
                Some(a) if !secret => a.as_str(),
                _ => "",
            };
            let _ = writeln!(out, "{}", sanitize_lines(shown));
            let _ = out.flush();
        }
        answer
    }
}

/// Terminal echo switched off on stdin until dropped (newlines still echo, so the cursor moves on).
struct EchoOff {
    #[cfg(unix)]
    saved: libc::termios,
}

impl EchoOff {
    #[cfg(unix)]
    fn new() -> Option<EchoOff> {
        // SAFETY: termios is plain data; tcgetattr fills it and we only pass pointers to our locals.
        unsafe {
            let mut attrs: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut attrs) != 0 {
                return None;
            }
            let saved = attrs;
            attrs.c_lflag &= !libc::ECHO;
            attrs.c_lflag |= libc::ECHONL;
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &attrs) != 0 {
                return None;
            }
            Some(EchoOff { saved })
        }
    }

    /// Elsewhere the password is read with echo on; splitc targets Unix terminals.
    #[cfg(not(unix))]
    fn new() -> Option<EchoOff> {
        None
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        #[cfg(unix)]
        // SAFETY: restores the attributes read in `new` on the same descriptor.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_shows_what_would_act_on_the_terminal_or_hide_as_an_escape() {
        assert!(matches!(sanitize("dinner at Café ☕ 👨\u{200d}👩\u{200d}👧"), Cow::Borrowed(_)));
        assert_eq!(sanitize("\x1b]0;pwned\x07\x1b[2Jtrip"), "\\u{1b}]0;pwned\\u{7}\\u{1b}[2Jtrip");
        assert_eq!(sanitize("invoice\u{202e}gpj.exe"), "invoice\\u{202e}gpj.exe");
        assert_eq!(sanitize("tr\u{200b}ip"), "tr\\u{200b}ip");
        assert_eq!(sanitize("x\u{9b}2J\r\u{7f}"), "x\\u{9b}2J\\u{d}\\u{7f}");
        assert_eq!(sanitize("fake\n✔ line"), "fake\\u{a}✔ line", "a value cannot start a line of ours");
        assert_eq!(sanitize_lines("ours\nand \x1b[2J"), "ours\nand \\u{1b}[2J");
        assert!(!sanitize("\x1b\u{9b}\u{202e}\u{2066}\u{feff}\u{2028}").chars().any(|c| unsafe_in_text(c).is_some()));
    }

    #[test]
    fn json_safe_is_the_same_json_in_safe_bytes() {
        let value = serde_json::json!({"description": "\u{1b}[2J\u{9b}\u{202e}\u{e0041}\u{2028} ok ☕", "n": [1, 2]});
        for text in [value.to_string(), serde_json::to_string_pretty(&value).unwrap()] {
            let safe = json_safe(&text);
            assert!(!safe.chars().any(|c| unsafe_in_text(c).is_some() && c != '\n'), "{safe}");
            assert!(safe.contains("\\u202e") && safe.contains("\\udb40\\udc41"), "{safe}");
            assert_eq!(serde_json::from_str::<serde_json::Value>(&safe).unwrap(), value);
        }
        assert!(matches!(json_safe(r#"{"a":"café"}"#), Cow::Borrowed(_)));
    }
}
