//! Password hashing: argon2id, slow on purpose (tens of milliseconds), so the loop never runs it;
//! the machine asks for it as `Work` and `workers` runs it on its threads. Also the secrets of session
//! tokens, drawn from the OS RNG on the same threads (the machine has no randomness of its own).

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::machine::tokens::{Secret, SECRET_BYTES};

/// OWASP's minimum recommendation for argon2id (2024): 19 MiB memory, 2 passes, 1 lane.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const PASSES: u32 = 2;
pub const LANES: u32 = 1;

fn hasher() -> Option<Argon2<'static>> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).ok()?;
    Some(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), salted from the OS RNG.
pub fn hash_password(password: &str) -> Option<String> {
    let salt = SaltString::generate(&mut OsRng);
    Some(hasher()?.hash_password(password.as_bytes(), &salt).ok()?.to_string())
}

/// Whether `password` matches `phc`. A malformed hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let (Some(hasher), Ok(parsed)) = (hasher(), PasswordHash::new(phc)) else {
        return false;
    };
    hasher.verify_password(password.as_bytes(), &parsed).is_ok()
}

/// 256 bits from the OS RNG, for a session token; `None` if the OS cannot give them.
pub fn random_secret() -> Option<Secret> {
    let mut bytes = [0u8; SECRET_BYTES];
    OsRng.try_fill_bytes(&mut bytes).ok()?;
    Some(Secret::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::DUMMY_PASSWORD_HASH;

    #[test]
    fn hashes_verify_and_never_contain_the_password() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!phc.contains("correct horse"));
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("wrong horse", &phc));
        assert!(!verify_password("x", "not a hash"));
        // Two hashes of one password differ: salted.
        assert_ne!(phc, hash_password("correct horse").unwrap());
    }

    #[test]
    fn dummy_hash_is_a_real_hash_with_the_same_cost() {
        let parsed = PasswordHash::new(DUMMY_PASSWORD_HASH).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        let real = hash_password("whatever1").unwrap();
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(parsed.params, real.params);
        assert!(!verify_password("", DUMMY_PASSWORD_HASH));
    }

    #[test]
    fn secrets_are_random() {
        let (a, b) = (random_secret().unwrap(), random_secret().unwrap());
        assert_ne!(a, b);
        assert_ne!(a.hash(), b.hash());
    }
}
