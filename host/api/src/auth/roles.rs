//! Roles and the privileges each grants: the authorisation policy, apart
//! from who the users are and how they prove it.

use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;

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
