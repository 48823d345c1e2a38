//! Password hashing with argon2id: [`hash_password`] for new accounts (the API and
//! `spotbot user add`), [`verify_password`] at login, and [`PasswordCost`], the memory and time
//! each hash takes. Both are CPU-heavy by design; async callers run them on the blocking pool.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// How much work one hash takes: argon2's memory (KiB), passes and lanes. Verification uses the
/// cost written in the stored hash, so raising it later only affects new hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCost {
    /// Memory per hash, in KiB (at least 8 × `parallelism`).
    pub memory_kib: u32,
    /// Passes over the memory (at least 1).
    pub iterations: u32,
    /// Lanes (at least 1).
    pub parallelism: u32,
}

impl Default for PasswordCost {
    /// OWASP's argon2id recommendation (19 MiB, 2 passes, 1 lane), which is also argon2's default.
    fn default() -> Self {
        PasswordCost {
            memory_kib: Params::DEFAULT_M_COST,
            iterations: Params::DEFAULT_T_COST,
            parallelism: Params::DEFAULT_P_COST,
        }
    }
}

/// Why a password could not be hashed or checked. The message never holds the password.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The [`PasswordCost`] is outside argon2's limits.
    #[error("invalid password hashing cost: {0}")]
    Cost(argon2::Error),
    /// The operating system gave no random bytes for the salt.
    #[error("no randomness for the salt: {0}")]
    Random(getrandom::Error),
    /// Hashing failed, or the stored hash does not parse.
    #[error("password hash: {0}")]
    Hash(argon2::password_hash::Error),
}

/// The argon2id PHC string (`$argon2id$v=19$m=...`) of `password` with a fresh random salt.
pub fn hash_password(password: &str, cost: PasswordCost) -> Result<String, PasswordError> {
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
        .map_err(PasswordError::Cost)?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(PasswordError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(PasswordError::Hash)?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(PasswordError::Hash)
}

/// Whether `password` matches `hash` (a PHC string made by [`hash_password`], whose own
/// parameters are used). An unparsable hash is an error, not a mismatch.
pub fn verify_password(password: &str, hash: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(hash).map_err(PasswordError::Hash)?;
    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(error) => Err(PasswordError::Hash(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: PasswordCost = PasswordCost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn a_hash_is_argon2id_salted_and_verifies_only_its_password() {
        let first = hash_password("correct horse", CHEAP).unwrap();
        let second = hash_password("correct horse", CHEAP).unwrap();
        assert!(first.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{first}");
        assert_ne!(first, second, "a fresh salt each time");
        assert!(verify_password("correct horse", &first).unwrap());
        assert!(!verify_password("correct horsE", &first).unwrap());
        assert!(verify_password("x", "not a hash").is_err());
    }

    #[test]
    fn an_impossible_cost_is_an_error() {
        let cost = PasswordCost {
            memory_kib: 1,
            ..CHEAP
        };
        assert!(matches!(
            hash_password("pw", cost),
            Err(PasswordError::Cost(_))
        ));
    }
}
