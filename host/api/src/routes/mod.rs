//! Path matching: which resource or operation a request addresses, which HTTP
//! methods and privilege it needs, and its children for the HTML view.
//!
//! Paths are matched segment by segment after percent-decoding each segment,
//! so an encoded `%2F` stays inside its segment (and is then refused by
//! [`crate::names`]). One trailing slash is ignored.
//!
//! `matching` turns paths into [`Route`]s; `endpoint` declares once per
//! route its method kind, privilege and name checks; `children` lists what
//! the HTML view links to.

mod children;
mod endpoint;
mod matching;
#[cfg(test)]
pub(crate) mod tests;

pub(crate) use matching::{NOT_FOUND, match_path};

/// A path under `/admin/system/tasks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TaskRoute {
    List,
    Create,
    One {
        id: String,
    },
    /// `update`, `delete`, `enable`, `disable` or `run`.
    Op {
        id: String,
        op: String,
    },
    Runs {
        id: String,
    },
    Run {
        id: String,
        run: String,
    },
    /// `runs/<run>/update` or `runs/<run>/delete`.
    RunOp {
        id: String,
        run: String,
        op: String,
    },
}

/// The few portal (`/<context>/sharing/...`) resources a portal client such
/// as the ArcGIS API for Python reads before it turns to the admin API, and
/// its OAuth2 sign-in. Every other portal path stays 404.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PortalRoute {
    /// `sharing/rest`: `currentVersion`.
    Root,
    /// `sharing/rest/info`: where tokens come from.
    Info,
    /// `sharing/rest/portals/self`: what kind of portal this is, and the
    /// signed-in user.
    PortalSelf,
    /// `sharing/rest/community/self`: the signed-in user and its role.
    CommunitySelf,
    /// `sharing/rest/community/users/<name>` (the signed-in user only).
    CommunityUser { name: String },
    /// `sharing/rest/oauth2/authorize`: the sign-in page of the
    /// authorization-code flow.
    Authorize,
    /// `sharing/oauth2/signin`: the sign-in form's target; answers the code.
    Signin,
    /// `sharing/rest/oauth2/token`: a code for an access token.
    Token,
}

/// What a request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/<context>/sharing/...` (see [`PortalRoute`]).
    Portal(PortalRoute),
    /// `/admin/system/tasks/...` (spec §8).
    Task(TaskRoute),
    /// `/<context>/sharing/rest/generateToken`
    GenerateToken,
    /// `/admin`
    AdminRoot,
    /// `/admin/system`
    System,
    /// `/admin/system/disasterrecovery`
    DisasterRecovery,
    Status,
    Settings,
    UpdateSettings,
    Stores,
    RegisterStore,
    Store {
        store: String,
    },
    UpdateStore {
        store: String,
    },
    UnregisterStore {
        store: String,
    },
    ValidateStore {
        store: String,
    },
    Backups {
        store: String,
    },
    CreateBackup {
        store: String,
    },
    Backup {
        store: String,
        backup: String,
    },
    UpdateBackup {
        store: String,
        backup: String,
    },
    VerifyBackup {
        store: String,
        backup: String,
    },
    /// `backups/<backup>/validate`: undocumented in the reference, posted by
    /// the ArcGIS API for Python's `Backup.validate()`; drhost's verify.
    ValidateBackup {
        store: String,
        backup: String,
    },
    RestoreBackup {
        store: String,
        backup: String,
    },
    DeleteBackup {
        store: String,
        backup: String,
    },
    /// The 10.9 layout under `/admin/system/disasterrecovery/backuprestore`
    /// (deprecated at 10.9.1, still used by the ArcGIS API for Python): the
    /// store is the `storeName` parameter, or the default store, not a path
    /// segment. Each maps onto the same operation as its 10.9.1 twin.
    LegacyRoot,
    LegacyCreateBackup,
    LegacyBackups,
    LegacyBackup {
        backup: String,
    },
    LegacyRestoreBackup {
        backup: String,
    },
    LegacyDeleteBackup {
        backup: String,
    },
    LegacyValidateBackup {
        backup: String,
    },
    LegacyStatus,
    /// `/admin/system/plugins` (a drhost addition): installed plugins.
    Plugins,
    Plugin {
        name: String,
    },
    /// `/admin/jobs`
    Jobs,
    Job {
        jobid: String,
    },
}

/// GET resources vs POST operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Resource,
    Operation,
}
