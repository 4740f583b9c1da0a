//! Accounts: names, password hashes (never passwords) and the groups each user belongs to.
//!
//! Sessions are not here: login state belongs to a connection (`Session`), so a disconnect logs out;
//! the tokens a login can be resumed with are in `tokens`.
//!
//! A deleted account keeps its id and its name, reserved (nobody can sign up as it, nor log in):
//! history, transactions and payments still name who did what, shown as "NAME (deleted)".

use std::collections::HashMap;

use super::{GroupId, Invalid};

pub type UserId = u32;

/// Username rule: 1–32 characters of ASCII letters, digits, `_`, `.`, `-`. Narrow on purpose: names
/// appear in notifications, CSV exports and terminal tables.
pub const USERNAME_CHARS_MAX: usize = 32;
/// Account password rule, in bytes. The upper bound caps hashing work; it bounds group join
/// passwords too, which have no lower bound (see `validate_group_password`).
pub const PASSWORD_BYTES_MIN: usize = 8;
pub const PASSWORD_BYTES_MAX: usize = 1024;

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub password_hash: String,
    /// Groups in the order joined.
    pub groups: Vec<GroupId>,
    /// The account was deleted (`Record::AccountDeleted`).
    pub deleted: bool,
    /// How views show a deleted account: "NAME (deleted)".
    shown: Option<Box<str>>,
}

impl User {
    /// The name as views show it.
    pub fn shown(&self) -> &str {
        self.shown.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Debug, Default)]
pub struct Users {
    list: Vec<User>,
    by_name: HashMap<String, UserId>,
}

impl Users {
    pub fn find(&self, name: &str) -> Option<UserId> {
        self.by_name.get(name).copied()
    }

    pub fn get(&self, id: UserId) -> Option<&User> {
        self.list.get(id as usize)
    }

    pub fn get_mut(&mut self, id: UserId) -> Option<&mut User> {
        self.list.get_mut(id as usize)
    }

    /// The name as views show it ("NAME (deleted)" for a deleted account).
    pub fn name(&self, id: UserId) -> &str {
        self.get(id).map_or("?", User::shown)
    }

    /// A user that exists and is not deleted.
    pub fn is_active(&self, id: UserId) -> bool {
        self.get(id).is_some_and(|u| !u.deleted)
    }

    /// Marks an account deleted: its password hash goes, its name stays taken; `false` if there is no
    /// such active user.
    pub fn mark_deleted(&mut self, id: UserId) -> bool {
        let Some(user) = self.list.get_mut(id as usize).filter(|u| !u.deleted) else { return false };
        user.deleted = true;
        user.password_hash = String::new();
        user.shown = Some(format!("{} (deleted)", user.name).into_boxed_str());
        true
    }

    pub fn next_id(&self) -> UserId {
        self.list.len() as UserId
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (UserId, &User)> {
        self.list.iter().enumerate().map(|(i, u)| (i as UserId, u))
    }

    /// Adds a user under the next id; `false` (nothing changed) if the id or name does not fit.
    pub fn insert(&mut self, id: UserId, name: String, password_hash: String) -> bool {
        if id != self.next_id() || self.by_name.contains_key(&name) {
            return false;
        }
        self.by_name.insert(name.clone(), id);
        self.list.push(User { name, password_hash, groups: Vec::new(), deleted: false, shown: None });
        true
    }
}

/// The username rule.
pub fn validate_username(name: &str) -> Result<(), Invalid> {
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if name.is_empty() || name.chars().count() > USERNAME_CHARS_MAX || !ok_chars {
        return Err(Invalid::Username);
    }
    Ok(())
}

/// The account password rule.
pub fn validate_password(password: &str) -> Result<(), Invalid> {
    if password.len() < PASSWORD_BYTES_MIN || password.len() > PASSWORD_BYTES_MAX {
        return Err(Invalid::Password);
    }
    Ok(())
}

/// The group join password rule: at most `PASSWORD_BYTES_MAX` bytes, no lower bound, as in the
/// original (its README calls them optional; `""` means none, anyone may join). Each guess costs a
/// full argon2id check on the worker threads and guessing is throttled per address, so a short one is
/// the creator's choice for their group, not a risk to anyone's account; an 8-byte minimum would refuse
/// what the original client lets people type.
pub fn validate_group_password(password: &str) -> Result<(), Invalid> {
    if password.len() > PASSWORD_BYTES_MAX {
        return Err(Invalid::GroupPassword);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_rules() {
        assert!(validate_username("alice_B.2-x").is_ok());
        assert!(validate_username(&"a".repeat(32)).is_ok());
        for bad in ["", "has space", "tab\t", "ünï", "a/b", "x\0"] {
            assert!(validate_username(bad).is_err(), "{bad:?}");
        }
        assert_eq!(validate_username(&"a".repeat(33)), Err(Invalid::Username));
    }

    #[test]
    fn group_passwords_are_any_length_up_to_the_hashing_bound() {
        for ok in ["", "x", "beach", &"p".repeat(PASSWORD_BYTES_MAX)] {
            assert_eq!(validate_group_password(ok), Ok(()), "{ok:?}");
        }
        assert_eq!(validate_group_password(&"p".repeat(PASSWORD_BYTES_MAX + 1)), Err(Invalid::GroupPassword));
        assert_eq!(validate_password("beach"), Err(Invalid::Password), "accounts keep their minimum");
    }

    #[test]
    fn ids_are_dense_and_names_unique() {
        let mut users = Users::default();
        assert!(users.insert(0, "a".into(), "h".into()));
        assert!(!users.insert(1, "a".into(), "h".into()));
        assert!(!users.insert(5, "b".into(), "h".into()));
        assert!(users.insert(1, "b".into(), "h".into()));
        assert_eq!(users.find("b"), Some(1));
        assert_eq!(users.len(), 2);
    }

    #[test]
    fn a_deleted_account_keeps_its_name_taken_and_is_shown_as_deleted() {
        let mut users = Users::default();
        assert!(users.insert(0, "bob".into(), "h".into()));
        assert!(users.mark_deleted(0));
        assert!(!users.mark_deleted(0), "deleted once");
        assert_eq!(users.name(0), "bob (deleted)");
        assert_eq!(users.find("bob"), Some(0));
        assert!(!users.is_active(0));
        assert!(users.get(0).is_some_and(|u| u.password_hash.is_empty()));
        assert!(!users.insert(1, "bob".into(), "h".into()), "the name stays reserved");
    }
}
