//! Managing the users: passwords, roles, and making the users file what the
//! configuration says.

use std::fmt;

use super::password::{check_strength, checked_hash, hash_password, verify_password};
use super::users_file::{User, Users, random_stamp, save_users};
use super::{ADMIN_USER, Auth, AuthError, Role};

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

impl Auth {
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
        change: impl FnOnce(&mut Users) -> Result<(), AuthError>,
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
}
