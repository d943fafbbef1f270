//! `users.json`: the users, their roles, Argon2id password hashes and
//! credential stamps, as stored in the state directory.

use std::collections::HashMap;
use std::path::Path;

use argon2::password_hash::rand_core::OsRng;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::password::is_valid_hash;
use super::private_file::{read_if_exists, write_private};
use super::{AuthError, Role};

/// File of users and password hashes in the state directory.
pub const USERS_FILE: &str = "users.json";
const STAMP_LEN: usize = 12;

/// The users by name.
pub(super) type Users = HashMap<String, User>;

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct User {
    pub(super) username: String,
    pub(super) role: Role,
    pub(super) password_hash: String,
    /// Tokens name it; a new one revokes them. Empty in files written before
    /// stamps existed, and then replaced when loaded.
    #[serde(default)]
    pub(super) stamp: String,
}

impl User {
    pub(super) fn new(username: &str, role: Role, password_hash: String) -> Self {
        User {
            username: username.to_owned(),
            role,
            password_hash,
            stamp: random_stamp(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct UsersFile {
    users: Vec<User>,
}

/// A new credential stamp: replacing a user's stamp revokes its tokens.
pub(super) fn random_stamp() -> String {
    let mut bytes = [0u8; STAMP_LEN];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The users in `path`; none when the file does not exist.
pub(super) fn load_users(path: &Path) -> Result<Users, AuthError> {
    let Some(text) = read_if_exists(path)? else {
        return Ok(HashMap::new());
    };
    let file: UsersFile = serde_json::from_slice(&text).map_err(|error| AuthError::Corrupt {
        path: path.to_owned(),
        reason: error.to_string(),
    })?;
    let mut users = HashMap::new();
    for user in file.users {
        if !is_valid_hash(&user.password_hash) {
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

/// Replaces `path` with `users`, sorted by name.
pub(super) fn save_users(path: &Path, users: &Users) -> Result<(), AuthError> {
    let mut list: Vec<User> = users.values().cloned().collect();
    list.sort_by(|a, b| a.username.cmp(&b.username));
    let mut text = serde_json::to_vec_pretty(&UsersFile { users: list })
        .map_err(|error| AuthError::Hash(error.to_string()))?;
    text.push(b'\n');
    write_private(path, &text)
}
