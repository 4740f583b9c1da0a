//! Session tokens kept between runs: one file per server and user under
//! `$XDG_CONFIG_HOME/splitc/tokens/` (else `~/.config/splitc/tokens/`), readable by the owner only.
//!
//! Why: a one-shot subcommand used to log in with the password every time, which costs the server a
//! deliberately slow password hash and the user a prompt. `login` returns a token; the next run
//! `resume`s with it and needs the password only when the server refuses the token (revoked, expired,
//! another server on that address), and then stores the new one.
//!
//! Owns where the files are and their contents (the token's 64 hex digits and a newline); not when to
//! use them (`oneshot`). Nothing here is fatal: without a place to keep tokens, splitc asks for the
//! password as before.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The token file of one server and user.
pub struct Stored {
    path: PathBuf,
}

impl Stored {
    /// Where the token for `user` at `server` lives; `None` when neither `XDG_CONFIG_HOME` nor `HOME`
    /// says where configuration goes.
    pub fn for_user(server: &str, user: &str) -> Option<Stored> {
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".config")))?;
        let name = format!("{}@{}", file_part(server), file_part(user));
        Some(Stored { path: config.join("splitc").join("tokens").join(name) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored token, if there is a well-formed one.
    pub fn load(&self) -> Option<String> {
        let text = fs::read_to_string(&self.path).ok()?;
        let token = text.trim();
        (token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())).then(|| token.to_string())
    }

    /// Replaces the stored token: written to a temporary file created with mode 0600 (in a directory
    /// of mode 0700), then renamed over the old one, so a reader sees the old token or the new one.
    pub fn save(&self, token: &str) -> io::Result<()> {
        let dir = self.path.parent().ok_or_else(|| io::Error::other("no directory"))?;
        create_private_dir(dir)?;
        let mut tmp_name = self.path.file_name().ok_or_else(|| io::Error::other("no file name"))?.to_owned();
        tmp_name.push(format!(".tmp{}", std::process::id()));
        let tmp = self.path.with_file_name(tmp_name);
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options.open(&tmp).and_then(|mut file| {
            file.write_all(format!("{token}\n").as_bytes())?;
            file.sync_all()
        });
        match written.and_then(|()| fs::rename(&tmp, &self.path)) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Removes the stored token (refused by the server, or logged out).
    pub fn forget(&self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

/// A name made safe for a file name, and one-to-one: letters, digits, `.` and `-` stay; every other
/// byte (`_` too) becomes `_XX` in hex. So `127.0.0.1:5005` is `127.0.0.1_3a5005`.
fn file_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    // "." and ".." are not file names to write.
    if out.bytes().all(|b| b == b'.') {
        out = out.replace('.', "_2e");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_token_loads_back_and_a_malformed_one_does_not() {
        let dir = std::env::temp_dir().join(format!("splitc-tokens-unit-{}", std::process::id()));
        let stored = Stored { path: dir.join("tokens").join("127.0.0.1_3a5005@dana") };
        let token = "ab".repeat(32);
        stored.save(&token).unwrap();
        assert_eq!(stored.load(), Some(token));
        let names: Vec<_> = std::fs::read_dir(dir.join("tokens")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("127.0.0.1_3a5005@dana")], "no temporary file left");
        std::fs::write(stored.path(), "not a token\n").unwrap();
        assert_eq!(stored.load(), None);
        stored.forget();
        assert_eq!(stored.load(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn file_names_are_safe_and_one_to_one() {
        assert_eq!(file_part("127.0.0.1:5005"), "127.0.0.1_3a5005");
        assert_eq!(file_part("a_b"), "a_5fb");
        assert_ne!(file_part("a/b"), file_part("a_2fb"));
        assert_eq!(file_part(".."), "_2e_2e");
        for name in ["../../etc/passwd", "[::1]:5005", "x y", "ü"] {
            let part = file_part(name);
            assert!(part.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)), "{part}");
            assert!(!part.contains('/'));
        }
    }
}
