//! Terminal input and output: answers read line by line, passwords read without echo, and
//! notifications printed while a prompt is waiting without mangling it.
//!
//! Why: the interactive client has two writers to the screen — the menus (main thread) and the socket
//! reader (pushed notifications). The reader must print *now*, even while the main thread blocks in a
//! prompt, so the console remembers the pending prompt: a notification clears the prompt's line, prints
//! itself on its own line, and prints the prompt again. When stdin is not a terminal (a script), answers
//! are plain lines, the password is one more line, and each answer is echoed so the transcript reads
//! like a terminal session.

use std::io::{self, BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};

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
    eprint!("{prompt}");
    let _ = io::stderr().flush();
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
            buf.push_str(if self.tty_out { "\r\x1b[K" } else { "\n" });
        }
        buf.push_str(text);
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
            let _ = writeln!(out, "{shown}");
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
