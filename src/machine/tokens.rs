//! Session tokens: the table of the tokens a user may log in again with, without a password.
//!
//! A token is 256 random bits drawn outside the machine (the worker thread that checks the login's
//! password draws them from the OS RNG) and handed to the client once, as 64 hex characters. Only its
//! SHA-256 is kept — here, in the log and in snapshots — so nothing stored logs anyone in. A hash is
//! enough (no salt, no slow hash): the secret is random and as long as the hash, so there is nothing to
//! guess or to look up in a table.
//!
//! Each entry says whose it is, when it was made, when it was last used (to a day: see
//! `TOKEN_TOUCH_MS`) and from which address. A token unused for `TOKEN_IDLE_MAX_MS` is refused, and
//! dropped by the next token record applied (`prune`), so expiry is decided by record times alone and
//! replay drops exactly what the live server dropped.
//!
//! Owns the table and its indexes; not what a login is (`exec/sessions.rs`) nor where secrets come from.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::{Millis, UserId};

pub const SECRET_BYTES: usize = 32;
const DAY_MS: Millis = 24 * 60 * 60 * 1000;
/// A token unused for longer than this is refused and pruned.
pub const TOKEN_IDLE_MAX_MS: Millis = 30 * DAY_MS;
/// A use is recorded (`TokenUsed`, one log write) only when the recorded last use is older than this:
/// resuming costs no write most of the time, and a token in daily use never comes near expiry.
pub const TOKEN_TOUCH_MS: Millis = DAY_MS;
/// Tokens one user may hold; a login beyond it drops that user's least recently used one. Bounds the
/// table: logins cost a password hash each, but they add up over months.
pub const TOKENS_PER_USER_MAX: usize = 64;

/// The secret a client holds. Never stored, never logged; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret([u8; SECRET_BYTES]);

impl Secret {
    pub fn from_bytes(bytes: [u8; SECRET_BYTES]) -> Secret {
        Secret(bytes)
    }

    /// The wire form: 64 hex digits (either case).
    pub fn parse(text: &str) -> Option<Secret> {
        parse_hex(text).map(Secret)
    }

    /// The wire form: 64 lowercase hex digits.
    pub fn to_text(&self) -> String {
        hex(&self.0)
    }

    /// What the table keeps.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0).into())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// SHA-256 of a secret: the key of the table, written as 64 hex digits in records and snapshots.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenHash([u8; SECRET_BYTES]);

impl TokenHash {
    pub const MIN: TokenHash = TokenHash([0; SECRET_BYTES]);
    pub const MAX: TokenHash = TokenHash([0xff; SECRET_BYTES]);

    /// The hash as stored in a binary snapshot.
    pub fn from_bytes(bytes: [u8; SECRET_BYTES]) -> TokenHash {
        TokenHash(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; SECRET_BYTES] {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({})", &hex(&self.0)[..12])
    }
}

impl Serialize for TokenHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex(&self.0))
    }
}

impl<'de> Deserialize<'de> for TokenHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<TokenHash, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        parse_hex(&text).map(TokenHash).ok_or_else(|| serde::de::Error::custom("a token hash is 64 hex digits"))
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        text.push(DIGITS[usize::from(b >> 4)] as char);
        text.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    text
}

fn parse_hex(text: &str) -> Option<[u8; SECRET_BYTES]> {
    let digits = text.as_bytes();
    if digits.len() != SECRET_BYTES * 2 {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut bytes = [0u8; SECRET_BYTES];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(bytes)
}

/// One token's entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub user: UserId,
    pub created: Millis,
    /// The last recorded use (login, or a resume recorded by `TokenUsed`).
    pub last_used: Millis,
    /// The peer address of that use, when the server knew it.
    pub address: Option<IpAddr>,
}

impl Token {
    /// Unused for longer than `TOKEN_IDLE_MAX_MS` at `now`.
    pub fn expired(&self, now: Millis) -> bool {
        now.saturating_sub(self.last_used) > TOKEN_IDLE_MAX_MS
    }

    /// Its last use should be recorded again.
    pub fn stale(&self, now: Millis) -> bool {
        now.saturating_sub(self.last_used) >= TOKEN_TOUCH_MS
    }
}

/// The table, with an index per user (listing, revoking all) and one by last use (pruning). Both
/// indexes are ordered sets, so iteration — and so a snapshot — is in a fixed order.
#[derive(Debug, Default)]
pub struct Tokens {
    table: HashMap<TokenHash, Token>,
    by_user: BTreeSet<(UserId, TokenHash)>,
    by_last_used: BTreeSet<(Millis, TokenHash)>,
    /// How many removals the table has seen (revoked, expired, over the cap): a login that checked
    /// its token at one count need not look it up again until the count moves. Not state: a count of
    /// this process's table, never persisted or compared.
    removals: u64,
}

impl Tokens {
    pub fn removals(&self) -> u64 {
        self.removals
    }

    pub fn get(&self, hash: &TokenHash) -> Option<&Token> {
        self.table.get(hash)
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Every token, least recently used first.
    pub fn iter(&self) -> impl Iterator<Item = (TokenHash, &Token)> {
        self.by_last_used.iter().filter_map(|(_, hash)| self.table.get(hash).map(|t| (*hash, t)))
    }

    /// The tokens of `user`, in hash order.
    pub fn of_user(&self, user: UserId) -> impl Iterator<Item = (TokenHash, &Token)> {
        self.by_user
            .range((user, TokenHash::MIN)..=(user, TokenHash::MAX))
            .filter_map(|(_, hash)| self.table.get(hash).map(|t| (*hash, t)))
    }

    /// Adds a token; `false` (nothing changed) if the hash is taken.
    pub fn insert(&mut self, hash: TokenHash, token: Token) -> bool {
        if self.table.contains_key(&hash) {
            return false;
        }
        self.by_user.insert((token.user, hash));
        self.by_last_used.insert((token.last_used, hash));
        self.table.insert(hash, token);
        true
    }

    pub fn remove(&mut self, hash: &TokenHash) -> Option<Token> {
        let token = self.table.remove(hash)?;
        self.removals += 1;
        self.by_user.remove(&(token.user, *hash));
        self.by_last_used.remove(&(token.last_used, *hash));
        Some(token)
    }

    /// Records a use; `false` if there is no such token.
    pub fn touch(&mut self, hash: &TokenHash, at: Millis, address: Option<IpAddr>) -> bool {
        let Some(token) = self.table.get_mut(hash) else { return false };
        self.by_last_used.remove(&(token.last_used, *hash));
        token.last_used = at;
        token.address = address;
        self.by_last_used.insert((at, *hash));
        true
    }

    /// Removes every token of `user` but `keep`; how many went.
    pub fn revoke_user(&mut self, user: UserId, keep: Option<TokenHash>) -> usize {
        let going: Vec<TokenHash> = self.of_user(user).map(|(h, _)| h).filter(|h| Some(*h) != keep).collect();
        for hash in &going {
            self.remove(hash);
        }
        going.len()
    }

    /// The least recently used token of `user` once they hold `TOKENS_PER_USER_MAX`.
    pub fn over_cap(&self, user: UserId) -> Option<TokenHash> {
        let held: Vec<(TokenHash, &Token)> = self.of_user(user).collect();
        if held.len() < TOKENS_PER_USER_MAX {
            return None;
        }
        held.into_iter().min_by_key(|(hash, t)| (t.last_used, *hash)).map(|(hash, _)| hash)
    }

    /// Drops every token expired at `now`, oldest first.
    pub fn prune(&mut self, now: Millis) {
        while let Some(&(last_used, hash)) = self.by_last_used.first() {
            if now.saturating_sub(last_used) <= TOKEN_IDLE_MAX_MS {
                return;
            }
            self.remove(&hash);
        }
    }

    /// The indexes agree with the table.
    pub fn consistent(&self) -> bool {
        self.by_user.len() == self.table.len()
            && self.by_last_used.len() == self.table.len()
            && self.by_user.iter().all(|(u, h)| self.table.get(h).is_some_and(|t| t.user == *u))
            && self.by_last_used.iter().all(|(at, h)| self.table.get(h).is_some_and(|t| t.last_used == *at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(user: UserId, at: Millis) -> Token {
        Token { user, created: at, last_used: at, address: None }
    }

    fn hash(n: u8) -> TokenHash {
        Secret::from_bytes([n; SECRET_BYTES]).hash()
    }

    #[test]
    fn secrets_round_trip_as_hex_and_hash_to_sha256() {
        let secret = Secret::from_bytes([0xab; SECRET_BYTES]);
        let text = secret.to_text();
        assert_eq!(text, "ab".repeat(32));
        assert_eq!(Secret::parse(&text), Some(secret.clone()));
        assert_eq!(Secret::parse(&text.to_uppercase()), Some(secret.clone()));
        for bad in ["", "ab", &"ab".repeat(33), &format!("{}zz", "ab".repeat(31)), &"é".repeat(32)] {
            assert_eq!(Secret::parse(bad), None, "{bad}");
        }
        // SHA-256 of 32 zero bytes, as published.
        let zero = serde_json::to_string(&Secret::from_bytes([0; SECRET_BYTES]).hash()).unwrap();
        assert_eq!(zero, "\"66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925\"");
        let back: TokenHash = serde_json::from_str(&zero).unwrap();
        assert_eq!(back, Secret::from_bytes([0; SECRET_BYTES]).hash());
        assert!(!format!("{secret:?}").contains("ab"), "Debug hides the secret");
    }

    #[test]
    fn pruning_drops_only_what_is_expired() {
        let mut tokens = Tokens::default();
        assert!(tokens.insert(hash(1), token(0, 0)));
        assert!(tokens.insert(hash(2), token(0, 10)));
        assert!(!tokens.insert(hash(2), token(1, 10)), "a hash is taken once");
        tokens.prune(TOKEN_IDLE_MAX_MS);
        assert_eq!(tokens.len(), 2, "exactly the limit is not expired yet");
        tokens.prune(TOKEN_IDLE_MAX_MS + 1);
        assert_eq!(tokens.len(), 1);
        assert!(tokens.touch(&hash(2), TOKEN_IDLE_MAX_MS, None));
        tokens.prune(TOKEN_IDLE_MAX_MS + 11);
        assert_eq!(tokens.len(), 1, "a touch moves the expiry");
        assert!(tokens.consistent());
    }

    #[test]
    fn revoking_a_user_keeps_only_the_kept_one_and_the_cap_names_the_oldest() {
        let mut tokens = Tokens::default();
        for n in 0..TOKENS_PER_USER_MAX as u8 {
            assert!(tokens.insert(hash(n), token(7, 100 - Millis::from(n))));
        }
        tokens.insert(hash(200), token(8, 0));
        assert_eq!(tokens.over_cap(7), Some(hash(TOKENS_PER_USER_MAX as u8 - 1)));
        assert_eq!(tokens.over_cap(8), None);
        assert_eq!(tokens.revoke_user(7, Some(hash(3))), TOKENS_PER_USER_MAX - 1);
        assert_eq!(tokens.of_user(7).map(|(h, _)| h).collect::<Vec<_>>(), vec![hash(3)]);
        assert_eq!(tokens.len(), 2);
        assert!(tokens.consistent());
    }
}
