//! Users, passwords and tokens.
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

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::ApiError;

/// File of users and password hashes in the state directory.
pub const USERS_FILE: &str = "users.json";
/// File of the token-signing key in the state directory.
pub const KEY_FILE: &str = "token.key";
/// The user created when there is none.
pub const ADMIN_USER: &str = "admin";
/// Shortest accepted password.
pub const MIN_PASSWORD_CHARS: usize = 8;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const STAMP_LEN: usize = 12;
const GENERATED_PASSWORD_BYTES: usize = 18;
/// Longer tokens are rejected before decoding.
const MAX_TOKEN_LEN: usize = 2048;

type HmacSha256 = Hmac<Sha256>;

/// A user's role; [`allowed`] grants each its privileges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Role {
    /// May do everything.
    Administrator,
    /// Runs backups: may create, update, verify and delete backups and read
    /// everything, but not restore (which replaces the deployment's state),
    /// change settings or register and unregister stores.
    Operator,
    /// Reads status, settings, stores, backups and jobs; changes nothing.
    Viewer,
}

/// What an endpoint requires of the caller's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Privilege {
    /// Read DR resources: root, status, settings, stores, backups.
    ReadStatus,
    /// Read jobs (the reference API lets more roles do this).
    ReadJobs,
    /// Change DR settings.
    ManageSettings,
    /// Register, update, unregister and validate backup stores.
    ManageStores,
    /// Create, update and delete backups.
    ManageBackups,
    /// Restore a backup, replacing the current state.
    RestoreBackups,
}

/// Whether `role` has `privilege`.
pub fn allowed(role: Role, privilege: Privilege) -> bool {
    let reads = matches!(privilege, Privilege::ReadStatus | Privilege::ReadJobs);
    match role {
        Role::Administrator => true,
        Role::Operator => reads || privilege == Privilege::ManageBackups,
        Role::Viewer => reads,
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub username: String,
    pub role: Role,
}

/// A freshly signed token.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    /// Expiry in epoch milliseconds.
    pub expires: i64,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"<redacted>")
            .field("expires", &self.expires)
            .finish()
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("bad token signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    /// The user is gone, or has another role or password now.
    #[error("token no longer valid for its user")]
    Revoked,
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

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct User {
    username: String,
    role: Role,
    password_hash: String,
    /// Tokens name it; a new one revokes them. Empty in files written before
    /// stamps existed, and then replaced when loaded.
    #[serde(default)]
    stamp: String,
}

impl User {
    fn new(username: &str, role: Role, password_hash: String) -> Self {
        User {
            username: username.to_owned(),
            role,
            password_hash,
            stamp: random_stamp(),
        }
    }
}

/// A user the configuration defines, as [`Auth::sync_users`] takes it.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfiguredUser {
    pub username: String,
    pub role: Role,
    pub password: String,
}

impl fmt::Debug for ConfiguredUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfiguredUser")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// What [`Auth::sync_users`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChanges {
    /// Users created.
    pub added: Vec<String>,
    /// Users whose password or role changed; their tokens are revoked.
    pub changed: Vec<String>,
    /// Users removed, with their tokens.
    pub removed: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct UsersFile {
    users: Vec<User>,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    user: String,
    role: Role,
    /// Absent from tokens issued before stamps existed, which therefore
    /// match no user.
    #[serde(default)]
    stamp: String,
    expires: i64,
    nonce: String,
}

/// Users and token signing. Share it as `Arc<Auth>`.
pub struct Auth {
    users_path: PathBuf,
    users: RwLock<HashMap<String, User>>,
    /// HMAC keyed with the contents of `token.key`, cloned per use.
    mac: HmacSha256,
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
        let key = load_or_create_key(&state_dir.join(KEY_FILE))?;
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
        let mac = <HmacSha256 as Mac>::new_from_slice(&key).map_err(|_| AuthError::BadKey {
            path: state_dir.join(KEY_FILE),
        })?;
        let auth = Auth {
            users_path,
            users: RwLock::new(users),
            mac,
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
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            user: username.to_owned(),
            role,
            stamp,
            expires,
            nonce: URL_SAFE_NO_PAD.encode(nonce),
        };
        let payload = serde_json::to_vec(&payload).map_err(|e| AuthError::Hash(e.to_string()))?;
        let mac = self.mac(&payload).finalize().into_bytes();
        let token = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(mac)
        );
        Ok(IssuedToken { token, expires })
    }

    /// Checks a token's signature (in constant time), expiry and user.
    pub fn verify_token(&self, token: &str) -> Result<Identity, TokenError> {
        self.verify_token_at(token, now_ms())
    }

    fn verify_token_at(&self, token: &str, now: i64) -> Result<Identity, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let (payload, mac) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| TokenError::Malformed)?;
        self.mac(&payload)
            .verify_slice(&mac)
            .map_err(|_| TokenError::BadSignature)?;
        let payload: Payload =
            serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        if payload.expires <= now {
            return Err(TokenError::Expired);
        }
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

    /// Sets a user's password and saves the users file. Every token issued
    /// for the user before is revoked.
    pub fn set_password(&self, username: &str, password: &str) -> Result<(), AuthError> {
        let hash = checked_hash(password)?;
        self.change_users(|users| {
            let user = users
                .get_mut(username)
                .ok_or_else(|| AuthError::UnknownUser(username.to_owned()))?;
            user.password_hash = hash;
            user.stamp = random_stamp();
            Ok(())
        })
    }

    /// Creates `username` with `role` and `password`, or gives an existing
    /// user that role and password; saves the users file. A user that
    /// already had both is left alone, tokens and all; any change revokes
    /// the tokens issued before it.
    pub fn ensure_user(&self, username: &str, role: Role, password: &str) -> Result<(), AuthError> {
        self.sync_some_users(
            &[ConfiguredUser {
                username: username.to_owned(),
                role,
                password: password.to_owned(),
            }],
            false,
        )
        .map(drop)
    }

    /// Makes the users those of the configuration: `admin` (unless
    /// `configured` defines it, as it was created) and `configured`, with
    /// their roles and passwords. Users no longer configured are removed and
    /// their tokens with them; a changed password or role revokes the
    /// user's tokens; unchanged users keep theirs. Slow (one Argon2 check
    /// per configured user): call it at start-up.
    pub fn sync_users(&self, configured: &[ConfiguredUser]) -> Result<UserChanges, AuthError> {
        self.sync_some_users(configured, true)
    }

    fn sync_some_users(
        &self,
        configured: &[ConfiguredUser],
        remove_others: bool,
    ) -> Result<UserChanges, AuthError> {
        for user in configured {
            check_strength(&user.password)?;
        }
        // Hashing and checking outside the lock: Argon2 is slow.
        let current = self.read_users().clone();
        let mut wanted = Vec::with_capacity(configured.len());
        let mut changes = UserChanges::default();
        for user in configured {
            let kept = current.get(&user.username).filter(|existing| {
                existing.role == user.role
                    && verify_password(&existing.password_hash, &user.password)
            });
            match kept {
                Some(existing) => wanted.push(existing.clone()),
                None => {
                    if current.contains_key(&user.username) {
                        changes.changed.push(user.username.clone());
                    } else {
                        changes.added.push(user.username.clone());
                    }
                    let hash = hash_password(&user.password)?;
                    wanted.push(User::new(&user.username, user.role, hash));
                }
            }
        }
        if remove_others {
            changes.removed = current
                .keys()
                .filter(|name| {
                    name.as_str() != ADMIN_USER && !configured.iter().any(|u| &u.username == *name)
                })
                .cloned()
                .collect();
            changes.removed.sort();
        }
        if changes == UserChanges::default() {
            return Ok(changes);
        }
        self.change_users(|users| {
            for name in &changes.removed {
                users.remove(name);
            }
            for user in wanted {
                users.insert(user.username.clone(), user);
            }
            Ok(())
        })?;
        Ok(changes)
    }

    /// Applies `change` to a copy of the users, saves it, then makes it current.
    fn change_users(
        &self,
        change: impl FnOnce(&mut HashMap<String, User>) -> Result<(), AuthError>,
    ) -> Result<(), AuthError> {
        let mut users = self
            .users
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        let mut updated = users.clone();
        change(&mut updated)?;
        save_users(&self.users_path, &updated)?;
        *users = updated;
        Ok(())
    }

    /// Names of all users, sorted.
    pub fn usernames(&self) -> Vec<String> {
        let mut names: Vec<String> = self.read_users().keys().cloned().collect();
        names.sort();
        names
    }

    fn read_users(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, User>> {
        self.users
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(payload);
        mac
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn check_strength(password: &str) -> Result<(), AuthError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        Err(AuthError::WeakPassword)
    } else {
        Ok(())
    }
}

fn checked_hash(password: &str) -> Result<String, AuthError> {
    check_strength(password)?;
    hash_password(password)
}

fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| AuthError::Hash(error.to_string()))
}

fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

fn random_stamp() -> String {
    let mut bytes = [0u8; STAMP_LEN];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn random_password() -> String {
    let mut bytes = [0u8; GENERATED_PASSWORD_BYTES];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> AuthError {
    let path = path.to_owned();
    move |source| AuthError::Io {
        action,
        path,
        source,
    }
}

fn load_or_create_key(path: &Path) -> Result<[u8; KEY_LEN], AuthError> {
    match fs::read(path) {
        Ok(bytes) => {
            let key: [u8; KEY_LEN] = bytes.try_into().map_err(|_| AuthError::BadKey {
                path: path.to_owned(),
            })?;
            restrict_permissions(path)?;
            Ok(key)
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let mut key = [0u8; KEY_LEN];
            OsRng.fill_bytes(&mut key);
            write_private(path, &key)?;
            Ok(key)
        }
        Err(error) => Err(io_error("read", path)(error)),
    }
}

fn load_users(path: &Path) -> Result<HashMap<String, User>, AuthError> {
    let text = match fs::read(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(error) => return Err(io_error("read", path)(error)),
    };
    let file: UsersFile = serde_json::from_slice(&text).map_err(|error| AuthError::Corrupt {
        path: path.to_owned(),
        reason: error.to_string(),
    })?;
    let mut users = HashMap::new();
    for user in file.users {
        if PasswordHash::new(&user.password_hash).is_err() {
            return Err(AuthError::Corrupt {
                path: path.to_owned(),
                reason: format!("user '{}' has an invalid password hash", user.username),
            });
        }
        if let Some(previous) = users.insert(user.username.clone(), user) {
            return Err(AuthError::Corrupt {
                path: path.to_owned(),
                reason: format!("user '{}' appears twice", previous.username),
            });
        }
    }
    Ok(users)
}

fn save_users(path: &Path, users: &HashMap<String, User>) -> Result<(), AuthError> {
    let mut list: Vec<User> = users.values().cloned().collect();
    list.sort_by(|a, b| a.username.cmp(&b.username));
    let mut text = serde_json::to_vec_pretty(&UsersFile { users: list })
        .map_err(|error| AuthError::Hash(error.to_string()))?;
    text.push(b'\n');
    write_private(path, &text)
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename) with
/// mode 0600.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AuthError> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(io_error("create", &tmp))?;
    restrict_permissions(&tmp)?;
    file.write_all(bytes).map_err(io_error("write", &tmp))?;
    file.sync_all().map_err(io_error("sync", &tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io_error("replace", path))?;
    if let Some(dir) = path.parent()
        && let Ok(dir) = fs::File::open(dir)
    {
        // Best effort: makes the rename durable.
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Makes a secret file readable by its owner only.
fn restrict_permissions(path: &Path) -> Result<(), AuthError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let metadata = fs::metadata(path).map_err(io_error("inspect", path))?;
        if metadata.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "secret file was accessible to others; restricting to 0600");
            fs::set_permissions(path, fs::Permissions::from_mode(0o600))
                .map_err(io_error("restrict permissions of", path))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Token errors keep ArcGIS's codes: expired and invalid tokens both answer 498.
impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Expired => ApiError::TokenExpired,
            TokenError::Malformed | TokenError::BadSignature | TokenError::Revoked => {
                ApiError::InvalidToken
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init(password: Option<&str>) -> (tempfile::TempDir, Auth, Option<String>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (auth, generated) =
            Auth::load_or_init(dir.path(), password.map(str::to_owned)).expect("init");
        (dir, auth, generated)
    }

    #[test]
    fn creates_admin_with_given_password() {
        let (dir, auth, generated) = init(Some("correct horse"));
        assert_eq!(generated, None);
        assert_eq!(auth.usernames(), vec!["admin".to_owned()]);
        let identity = auth.authenticate("admin", "correct horse").expect("login");
        assert_eq!(identity.role, Role::Administrator);
        assert_eq!(auth.authenticate("admin", "wrong horse"), None);
        assert_eq!(auth.authenticate("nobody", "correct horse"), None);
        let text = fs::read_to_string(dir.path().join(USERS_FILE)).expect("users file");
        assert!(text.contains("$argon2id$") && text.contains("\"administrator\""));
        assert!(!text.contains("correct horse"));
    }

    #[test]
    fn generates_password_once() {
        let (dir, auth, generated) = init(None);
        let password = generated.expect("generated password");
        assert!(password.len() >= 20);
        assert!(auth.authenticate("admin", &password).is_some());
        let (again, generated) = Auth::load_or_init(dir.path(), None).expect("reload");
        assert_eq!(generated, None);
        assert!(again.authenticate("admin", &password).is_some());
    }

    #[test]
    fn rejects_weak_initial_password() {
        let dir = tempfile::tempdir().expect("tempdir");
        let result = Auth::load_or_init(dir.path(), Some("short".into()));
        assert!(matches!(result, Err(AuthError::WeakPassword)));
    }

    #[cfg(unix)]
    #[test]
    fn secret_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, _auth, _) = init(Some("password1"));
        for name in [KEY_FILE, USERS_FILE] {
            let mode = fs::metadata(dir.path().join(name))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        assert_eq!(
            fs::read(dir.path().join(KEY_FILE)).expect("key").len(),
            KEY_LEN
        );
    }

    #[test]
    fn tokens_survive_restart() {
        let (dir, auth, _) = init(Some("password1"));
        let issued = auth
            .issue_token("admin", Duration::from_secs(60))
            .expect("token");
        assert!(issued.expires > now_ms());
        let (restarted, _) = Auth::load_or_init(dir.path(), None).expect("reload");
        let identity = restarted.verify_token(&issued.token).expect("valid");
        assert_eq!(identity.username, "admin");
    }

    #[test]
    fn tokens_are_checked() {
        let (_dir, auth, _) = init(Some("password1"));
        let (_other_dir, other, _) = init(Some("password1"));
        let issued = auth
            .issue_token("admin", Duration::from_secs(60))
            .expect("token");
        assert_eq!(
            other.verify_token(&issued.token),
            Err(TokenError::BadSignature)
        );
        assert_eq!(auth.verify_token("garbage"), Err(TokenError::Malformed));
        assert_eq!(auth.verify_token(""), Err(TokenError::Malformed));
        assert_eq!(
            auth.verify_token(&"a.b".repeat(2000)),
            Err(TokenError::Malformed)
        );
        let (payload, mac) = issued.token.split_once('.').expect("dot");
        let forged = URL_SAFE_NO_PAD.encode(
            br#"{"user":"admin","role":"administrator","expires":99999999999999,"nonce":"x"}"#,
        );
        assert_eq!(
            auth.verify_token(&format!("{forged}.{mac}")),
            Err(TokenError::BadSignature)
        );
        assert!(auth.verify_token(&format!("{payload}.{mac}")).is_ok());
        let expired = auth
            .issue_token_expiring_at("admin", now_ms() - 1)
            .expect("token");
        assert_eq!(auth.verify_token(&expired.token), Err(TokenError::Expired));
        assert_eq!(
            auth.verify_token_at(&issued.token, issued.expires),
            Err(TokenError::Expired)
        );
        assert!(matches!(
            auth.issue_token("ghost", Duration::from_secs(1)),
            Err(AuthError::UnknownUser(_))
        ));
    }

    #[test]
    fn password_change_persists() {
        let (dir, auth, _) = init(Some("password1"));
        assert!(matches!(
            auth.set_password("admin", "short"),
            Err(AuthError::WeakPassword)
        ));
        auth.set_password("admin", "password2").expect("set");
        let (reloaded, _) = Auth::load_or_init(dir.path(), None).expect("reload");
        assert!(reloaded.authenticate("admin", "password2").is_some());
        assert!(reloaded.authenticate("admin", "password1").is_none());
    }

    #[test]
    fn corrupt_files_are_errors_not_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join(USERS_FILE), b"{not json").expect("write");
        assert!(matches!(
            Auth::load_or_init(dir.path(), None),
            Err(AuthError::Corrupt { .. })
        ));
        assert_eq!(
            fs::read(dir.path().join(USERS_FILE)).expect("read"),
            b"{not json"
        );
        fs::write(dir.path().join(KEY_FILE), b"short").expect("write");
        assert!(matches!(
            Auth::load_or_init(dir.path(), None),
            Err(AuthError::BadKey { .. })
        ));
    }

    #[test]
    fn operators_back_up_and_viewers_only_read() {
        use Privilege::*;
        let all = [
            ReadStatus,
            ReadJobs,
            ManageSettings,
            ManageStores,
            ManageBackups,
            RestoreBackups,
        ];
        let granted = |role| {
            all.into_iter()
                .filter(|p| allowed(role, *p))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            granted(Role::Operator),
            [ReadStatus, ReadJobs, ManageBackups]
        );
        assert_eq!(granted(Role::Viewer), [ReadStatus, ReadJobs]);
    }

    #[test]
    fn ensured_users_get_their_role_and_password() {
        let (dir, auth, _) = init(Some("password1"));
        auth.ensure_user("ops", Role::Operator, "ops-password")
            .expect("ensure");
        let (reloaded, _) = Auth::load_or_init(dir.path(), None).expect("reload");
        let identity = reloaded.authenticate("ops", "ops-password").expect("login");
        assert_eq!(identity.role, Role::Operator);
        let token = reloaded
            .issue_token("ops", Duration::from_secs(60))
            .expect("token");
        // A role change revokes tokens issued for the old role.
        reloaded
            .ensure_user("ops", Role::Viewer, "ops-password")
            .expect("ensure");
        assert_eq!(
            reloaded.verify_token(&token.token),
            Err(TokenError::Revoked)
        );
        assert!(matches!(
            reloaded.ensure_user("weak", Role::Viewer, "short"),
            Err(AuthError::WeakPassword)
        ));
    }

    fn configured(users: &[(&str, Role, &str)]) -> Vec<ConfiguredUser> {
        users
            .iter()
            .map(|(name, role, password)| ConfiguredUser {
                username: (*name).to_owned(),
                role: *role,
                password: (*password).to_owned(),
            })
            .collect()
    }

    #[test]
    fn a_password_change_revokes_the_users_tokens() {
        let (_dir, auth, _) = init(Some("password1"));
        let before = auth
            .issue_token("admin", Duration::from_secs(60))
            .expect("token");
        auth.set_password("admin", "password2").expect("set");
        assert_eq!(auth.verify_token(&before.token), Err(TokenError::Revoked));
        let after = auth
            .issue_token("admin", Duration::from_secs(60))
            .expect("token");
        assert!(auth.verify_token(&after.token).is_ok());
        // Setting the same password again is a change too.
        auth.set_password("admin", "password2").expect("set");
        assert_eq!(auth.verify_token(&after.token), Err(TokenError::Revoked));
    }

    #[test]
    fn users_are_what_the_configuration_says() {
        let (dir, auth, _) = init(Some("password1"));
        let first = configured(&[
            ("ops", Role::Operator, "ops-password-1"),
            ("gone", Role::Viewer, "gone-password-1"),
            ("same", Role::Viewer, "same-password-1"),
        ]);
        let changes = auth.sync_users(&first).expect("sync");
        assert_eq!(changes.added, ["ops", "gone", "same"]);
        let token = |auth: &Auth, name: &str| {
            auth.issue_token(name, Duration::from_secs(600))
                .expect("token")
                .token
        };
        let (admin, ops, gone, same) = (
            token(&auth, "admin"),
            token(&auth, "ops"),
            token(&auth, "gone"),
            token(&auth, "same"),
        );
        // A restart with `gone` removed and `ops`'s password changed.
        let (restarted, _) = Auth::load_or_init(dir.path(), None).expect("reload");
        let second = configured(&[
            ("ops", Role::Operator, "ops-password-2"),
            ("same", Role::Viewer, "same-password-1"),
        ]);
        let changes = restarted.sync_users(&second).expect("sync");
        assert_eq!(
            changes,
            UserChanges {
                added: vec![],
                changed: vec!["ops".into()],
                removed: vec!["gone".into()],
            }
        );
        assert_eq!(restarted.usernames(), ["admin", "ops", "same"]);
        let text = fs::read_to_string(dir.path().join(USERS_FILE)).expect("users file");
        assert!(!text.contains("gone"), "{text}");
        assert_eq!(restarted.verify_token(&gone), Err(TokenError::Revoked));
        assert!(restarted.authenticate("gone", "gone-password-1").is_none());
        assert_eq!(restarted.verify_token(&ops), Err(TokenError::Revoked));
        assert!(restarted.authenticate("ops", "ops-password-2").is_some());
        assert!(restarted.authenticate("ops", "ops-password-1").is_none());
        // Unchanged users, and `admin`, keep their tokens.
        assert!(restarted.verify_token(&same).is_ok());
        assert!(restarted.verify_token(&admin).is_ok());
        assert_eq!(
            restarted.sync_users(&second).expect("sync"),
            UserChanges::default()
        );
        // A removed user created again does not get its old tokens back.
        restarted
            .sync_users(&configured(&[("gone", Role::Viewer, "gone-password-1")]))
            .expect("sync");
        assert_eq!(restarted.verify_token(&gone), Err(TokenError::Revoked));
        assert!(matches!(
            restarted.sync_users(&configured(&[("weak", Role::Viewer, "short")])),
            Err(AuthError::WeakPassword)
        ));
    }

    #[test]
    fn users_files_without_stamps_get_them_and_stampless_tokens_are_refused() {
        let (dir, auth, _) = init(Some("password1"));
        let path = dir.path().join(USERS_FILE);
        let mut file: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).expect("read")).expect("json");
        for user in file["users"].as_array_mut().expect("users") {
            user.as_object_mut().expect("user").remove("stamp");
        }
        fs::write(&path, file.to_string()).expect("write");
        let old_style = {
            let payload = serde_json::to_vec(&serde_json::json!({
                "user": "admin", "role": "administrator",
                "expires": now_ms() + 60_000, "nonce": "n",
            }))
            .expect("payload");
            let mac = auth.mac(&payload).finalize().into_bytes();
            format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(&payload),
                URL_SAFE_NO_PAD.encode(mac)
            )
        };
        let (reloaded, _) = Auth::load_or_init(dir.path(), None).expect("reload");
        assert_eq!(reloaded.verify_token(&old_style), Err(TokenError::Revoked));
        let text = fs::read_to_string(&path).expect("read");
        assert!(text.contains("\"stamp\""), "{text}");
        let token = reloaded
            .issue_token("admin", Duration::from_secs(60))
            .expect("token");
        let (again, _) = Auth::load_or_init(dir.path(), None).expect("reload");
        assert!(again.verify_token(&token.token).is_ok(), "stamps are kept");
    }

    #[test]
    fn administrator_has_every_privilege() {
        for privilege in [
            Privilege::ReadStatus,
            Privilege::ReadJobs,
            Privilege::ManageSettings,
            Privilege::ManageStores,
            Privilege::ManageBackups,
            Privilege::RestoreBackups,
        ] {
            assert!(allowed(Role::Administrator, privilege));
        }
    }
}
