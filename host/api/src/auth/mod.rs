//! Users, passwords and tokens: [`Auth`] ties them together.
//!
//! The state directory holds `users.json` (users with Argon2id password
//! hashes) and `token.key` (a random 32-byte HMAC key, mode 0600). Tokens are
//! stateless: `base64url(payload).base64url(HMAC-SHA-256(key, payload))` with a
//! JSON payload `{user, role, stamp, expires (epoch ms), nonce}`, so they
//! survive a host restart. A token is honoured while it has not expired, its
//! user still exists and still has the role and the credential stamp the
//! token names. Each user's stamp is random and replaced whenever its
//! password or role changes, so such a change revokes every token issued
//! before it, and a user removed and created again does not get its old
//! tokens back.

//!
//! One job per module: `roles` (the authorisation policy), `password`
//! (rules and Argon2id), `tokens` (signing and opening tokens),
//! `users_file` (`users.json`), `users` (changing the users) and
//! `private_file` (writing secret files atomically, mode 0600).

mod password;
mod private_file;
mod roles;
mod tokens;
mod users;
mod users_file;

#[cfg(test)]
mod tests;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

pub use password::MIN_PASSWORD_CHARS;
pub use roles::{Privilege, Role, allowed};
pub(crate) use tokens::now_ms;
pub use tokens::{IssuedToken, KEY_FILE, TokenError};
pub use users::{ConfiguredUser, UserChanges};
pub use users_file::USERS_FILE;

use password::{check_strength, hash_password, random_password, verify_password};
use private_file::io_error;
use tokens::{KEY_LEN, TokenKey};
use users_file::{User, Users, load_users, random_stamp, save_users};

/// The user created when there is none.
pub const ADMIN_USER: &str = "admin";

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub username: String,
    pub role: Role,
}

/// Why the user store could not be loaded or changed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a valid users file: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path} must hold exactly {KEY_LEN} bytes")]
    BadKey { path: PathBuf },
    #[error("the password must be at least {MIN_PASSWORD_CHARS} characters long")]
    WeakPassword,
    #[error("no such user '{0}'")]
    UnknownUser(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Users and token signing. Share it as `Arc<Auth>`.
pub struct Auth {
    users_path: PathBuf,
    users: RwLock<Users>,
    key: TokenKey,
    /// Verified against when the user does not exist, so that unknown users
    /// take as long to refuse as wrong passwords.
    dummy_hash: String,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("users_path", &self.users_path)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Loads users and the signing key from `state_dir` (created if missing),
    /// creating what is missing. With no users, creates `admin` with
    /// `initial_admin_password`, or a random password which is returned so
    /// the host can print it once.
    pub fn load_or_init(
        state_dir: &Path,
        initial_admin_password: Option<String>,
    ) -> Result<(Auth, Option<String>), AuthError> {
        fs::create_dir_all(state_dir).map_err(io_error("create", state_dir))?;
        let key = TokenKey::load_or_create(&state_dir.join(KEY_FILE))?;
        let users_path = state_dir.join(USERS_FILE);
        let mut users = load_users(&users_path)?;
        let mut generated = None;
        if users.is_empty() {
            let password = match initial_admin_password {
                Some(password) => password,
                None => generated.insert(random_password()).clone(),
            };
            check_strength(&password)?;
            let user = User::new(ADMIN_USER, Role::Administrator, hash_password(&password)?);
            users.insert(user.username.clone(), user);
            save_users(&users_path, &users)?;
        } else if users.values().any(|user| user.stamp.is_empty()) {
            for user in users.values_mut().filter(|user| user.stamp.is_empty()) {
                user.stamp = random_stamp();
            }
            save_users(&users_path, &users)?;
        }
        let dummy_hash = hash_password("drhost timing equaliser")?;
        let auth = Auth {
            users_path,
            users: RwLock::new(users),
            key,
            dummy_hash,
        };
        Ok((auth, generated))
    }

    /// Checks a username and password; `None` when either is wrong. Slow on
    /// purpose (Argon2): call it from a blocking thread.
    pub fn authenticate(&self, username: &str, password: &str) -> Option<Identity> {
        let (hash, role) = match self.read_users().get(username) {
            Some(user) => (user.password_hash.clone(), Some(user.role)),
            None => (self.dummy_hash.clone(), None),
        };
        match (verify_password(&hash, password), role) {
            (true, Some(role)) => Some(Identity {
                username: username.to_owned(),
                role,
            }),
            _ => None,
        }
    }

    /// Signs a token for `username` valid for `lifetime`.
    pub fn issue_token(
        &self,
        username: &str,
        lifetime: Duration,
    ) -> Result<IssuedToken, AuthError> {
        let lifetime_ms = i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX);
        self.issue_token_expiring_at(username, now_ms().saturating_add(lifetime_ms))
    }

    /// Signs a token for `username` expiring at `expires` (epoch ms).
    pub(crate) fn issue_token_expiring_at(
        &self,
        username: &str,
        expires: i64,
    ) -> Result<IssuedToken, AuthError> {
        let (role, stamp) = self
            .read_users()
            .get(username)
            .map(|user| (user.role, user.stamp.clone()))
            .ok_or_else(|| AuthError::UnknownUser(username.to_owned()))?;
        self.key.sign(username, role, stamp, expires)
    }

    /// Checks a token's signature (in constant time), expiry and user.
    pub fn verify_token(&self, token: &str) -> Result<Identity, TokenError> {
        self.verify_token_at(token, now_ms())
    }

    fn verify_token_at(&self, token: &str, now: i64) -> Result<Identity, TokenError> {
        let payload = self.key.open(token, now)?;
        // A valid signature is not enough: the user must still exist with
        // the role and credential stamp the token names.
        match self.read_users().get(&payload.user) {
            Some(user) if user.role == payload.role && user.stamp == payload.stamp => {
                Ok(Identity {
                    username: payload.user,
                    role: payload.role,
                })
            }
            _ => Err(TokenError::Revoked),
        }
    }

    fn read_users(&self) -> std::sync::RwLockReadGuard<'_, Users> {
        self.users
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}
