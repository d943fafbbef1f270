//! Password rules and Argon2id hashing.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

use super::AuthError;

/// Shortest accepted password.
pub const MIN_PASSWORD_CHARS: usize = 8;
const GENERATED_PASSWORD_BYTES: usize = 18;

pub(super) fn check_strength(password: &str) -> Result<(), AuthError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        Err(AuthError::WeakPassword)
    } else {
        Ok(())
    }
}

/// Hashes a password that passes [`check_strength`].
pub(super) fn checked_hash(password: &str) -> Result<String, AuthError> {
    check_strength(password)?;
    hash_password(password)
}

pub(super) fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| AuthError::Hash(error.to_string()))
}

/// Whether `password` matches `hash`; a malformed hash matches nothing.
pub(super) fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Whether `hash` is a hash [`verify_password`] can check.
pub(super) fn is_valid_hash(hash: &str) -> bool {
    PasswordHash::new(hash).is_ok()
}

/// The initial administrator password when none is configured.
pub(super) fn random_password() -> String {
    let mut bytes = [0u8; GENERATED_PASSWORD_BYTES];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
