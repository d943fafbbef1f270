//! Path matching: which resource or operation a request addresses, which HTTP
//! methods and privilege it needs, and its children for the HTML view.
//!
//! Paths are matched segment by segment after percent-decoding each segment,
//! so an encoded `%2F` stays inside its segment (and is then refused by
//! [`crate::names`]). One trailing slash is ignored.

use axum::http::Method;
use serde_json::Value;

use crate::auth::Privilege;
use crate::error::ApiError;
use crate::names::{self, NameKind};
use crate::pct;

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

/// Message of 404s for unknown paths; it does not echo the path.
pub(crate) const NOT_FOUND: &str = "Could not find the requested resource or operation.";

/// Matches a request path (still percent-encoded) under `context`.
pub(crate) fn match_path(context: &[String], path: &str) -> Result<Route, ApiError> {
    let not_found = || ApiError::NotFound(NOT_FOUND.to_owned());
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let mut segments = Vec::new();
    if !trimmed.is_empty() {
        for raw in trimmed.split('/') {
            let decoded = String::from_utf8(pct::decode(raw.as_bytes(), false)).map_err(|_| {
                ApiError::BadRequest("The request path is not valid UTF-8.".to_owned())
            })?;
            segments.push(decoded);
        }
    }
    let rest = segments.strip_prefix(context).ok_or_else(not_found)?;
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    match rest.as_slice() {
        ["sharing", "rest", "generateToken"] => Ok(Route::GenerateToken),
        ["sharing", portal @ ..] => match_portal(portal)
            .map(Route::Portal)
            .ok_or_else(not_found),
        ["admin", admin @ ..] => match_admin(admin).ok_or_else(not_found),
        _ => Err(not_found()),
    }
}

fn match_portal(path: &[&str]) -> Option<PortalRoute> {
    Some(match path {
        ["rest"] => PortalRoute::Root,
        ["rest", "info"] => PortalRoute::Info,
        ["rest", "portals", "self"] => PortalRoute::PortalSelf,
        ["rest", "community", "self"] => PortalRoute::CommunitySelf,
        ["rest", "community", "users", name] => PortalRoute::CommunityUser {
            name: (*name).to_owned(),
        },
        ["rest", "oauth2", "authorize"] => PortalRoute::Authorize,
        ["oauth2", "signin"] => PortalRoute::Signin,
        ["rest", "oauth2", "token"] => PortalRoute::Token,
        _ => return None,
    })
}

fn match_admin(path: &[&str]) -> Option<Route> {
    let route = match path {
        [] => Route::AdminRoot,
        ["system"] => Route::System,
        ["system", "plugins"] => Route::Plugins,
        ["system", "plugins", name] => Route::Plugin {
            name: (*name).to_owned(),
        },
        ["jobs"] => Route::Jobs,
        ["jobs", jobid] => Route::Job {
            jobid: (*jobid).to_owned(),
        },
        ["system", "disasterrecovery", dr @ ..] => return match_dr(dr),
        ["system", "tasks", rest @ ..] => Route::Task(match_tasks(rest)?),
        _ => return None,
    };
    Some(route)
}

fn match_tasks(path: &[&str]) -> Option<TaskRoute> {
    let id = |id: &str| id.to_owned();
    Some(match path {
        [] => TaskRoute::List,
        ["createTask"] => TaskRoute::Create,
        [task] => TaskRoute::One { id: id(task) },
        [
            task,
            op @ ("update" | "delete" | "enable" | "disable" | "run"),
        ] => TaskRoute::Op {
            id: id(task),
            op: (*op).to_owned(),
        },
        [task, "runs"] => TaskRoute::Runs { id: id(task) },
        [task, "runs", run] => TaskRoute::Run {
            id: id(task),
            run: id(run),
        },
        [task, "runs", run, op @ ("update" | "delete")] => TaskRoute::RunOp {
            id: id(task),
            run: id(run),
            op: (*op).to_owned(),
        },
        _ => return None,
    })
}

fn match_dr(path: &[&str]) -> Option<Route> {
    let route = match path {
        [] => Route::DisasterRecovery,
        ["status"] => Route::Status,
        ["settings"] => Route::Settings,
        ["settings", "update"] => Route::UpdateSettings,
        ["stores"] => Route::Stores,
        ["stores", "register"] => Route::RegisterStore,
        ["stores", store, rest @ ..] => return match_store(store, rest),
        ["backuprestore", legacy @ ..] => return match_legacy(legacy),
        _ => return None,
    };
    Some(route)
}

fn match_legacy(path: &[&str]) -> Option<Route> {
    let route = match path {
        [] => Route::LegacyRoot,
        ["backup"] => Route::LegacyCreateBackup,
        ["backups"] => Route::LegacyBackups,
        ["status"] => Route::LegacyStatus,
        ["backups", backup, rest @ ..] => {
            let backup = (*backup).to_owned();
            match rest {
                [] => Route::LegacyBackup { backup },
                ["restore"] => Route::LegacyRestoreBackup { backup },
                ["delete"] => Route::LegacyDeleteBackup { backup },
                ["validate"] => Route::LegacyValidateBackup { backup },
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(route)
}

fn match_store(store: &str, path: &[&str]) -> Option<Route> {
    let store = store.to_owned();
    let route = match path {
        [] => Route::Store { store },
        ["update"] => Route::UpdateStore { store },
        ["unregister"] => Route::UnregisterStore { store },
        ["validate"] => Route::ValidateStore { store },
        ["backups"] => Route::Backups { store },
        ["backups", "create"] => Route::CreateBackup { store },
        ["backups", backup, rest @ ..] => {
            let backup = (*backup).to_owned();
            match rest {
                [] => Route::Backup { store, backup },
                ["update"] => Route::UpdateBackup { store, backup },
                ["restore"] => Route::RestoreBackup { store, backup },
                ["verify"] => Route::VerifyBackup { store, backup },
                ["validate"] => Route::ValidateBackup { store, backup },
                ["delete"] => Route::DeleteBackup { store, backup },
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(route)
}

/// What one route is, declared in one place ([`Route::endpoint`]): the
/// method kind, from which the accepted methods follow, and the privilege the
/// caller needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) kind: Kind,
    /// `None` for `generateToken` and the portal resources, which check
    /// tokens themselves (or need none).
    pub(crate) privilege: Option<Privilege>,
}

impl Route {
    /// The kind and privilege of every route. The match names every route
    /// and has no wildcard, so a new route does not compile until it says
    /// whether it is an operation (POST only) and who may call it.
    pub(crate) fn endpoint(&self) -> Endpoint {
        use Kind::{Operation, Resource};
        let needs = |kind, privilege| Endpoint {
            kind,
            privilege: Some(privilege),
        };
        let checks_itself = |kind| Endpoint {
            kind,
            privilege: None,
        };
        match self {
            Route::GenerateToken => checks_itself(Operation),
            Route::Portal(portal) => match portal {
                PortalRoute::Signin | PortalRoute::Token => checks_itself(Operation),
                PortalRoute::Root
                | PortalRoute::Info
                | PortalRoute::PortalSelf
                | PortalRoute::CommunitySelf
                | PortalRoute::CommunityUser { .. }
                | PortalRoute::Authorize => checks_itself(Resource),
            },
            Route::AdminRoot
            | Route::System
            | Route::Plugins
            | Route::Plugin { .. }
            | Route::DisasterRecovery
            | Route::Status
            | Route::Settings
            | Route::Stores
            | Route::Store { .. }
            | Route::Backups { .. }
            | Route::Backup { .. }
            | Route::LegacyRoot
            | Route::LegacyBackups
            | Route::LegacyBackup { .. }
            | Route::LegacyStatus => needs(Resource, Privilege::ReadStatus),
            Route::Jobs | Route::Job { .. } => needs(Resource, Privilege::ReadJobs),
            Route::UpdateSettings => needs(Operation, Privilege::ManageSettings),
            // Schedules hold passcodes: administrators only (spec §3).
            Route::Task(task) => match task {
                TaskRoute::List
                | TaskRoute::One { .. }
                | TaskRoute::Runs { .. }
                | TaskRoute::Run { .. } => needs(Resource, Privilege::ManageSettings),
                TaskRoute::Create | TaskRoute::Op { .. } | TaskRoute::RunOp { .. } => {
                    needs(Operation, Privilege::ManageSettings)
                }
            },
            Route::RegisterStore
            | Route::UpdateStore { .. }
            | Route::UnregisterStore { .. }
            | Route::ValidateStore { .. } => needs(Operation, Privilege::ManageStores),
            Route::CreateBackup { .. }
            | Route::UpdateBackup { .. }
            | Route::VerifyBackup { .. }
            | Route::ValidateBackup { .. }
            | Route::DeleteBackup { .. }
            | Route::LegacyCreateBackup
            | Route::LegacyDeleteBackup { .. }
            | Route::LegacyValidateBackup { .. } => needs(Operation, Privilege::ManageBackups),
            Route::RestoreBackup { .. } | Route::LegacyRestoreBackup { .. } => {
                needs(Operation, Privilege::RestoreBackups)
            }
        }
    }

    pub(crate) fn kind(&self) -> Kind {
        self.endpoint().kind
    }

    /// Resources answer GET and POST (clients may POST to keep tokens out of
    /// URLs); operations answer POST only.
    pub(crate) fn check_method(&self, method: &Method) -> Result<(), ApiError> {
        let (ok, allow) = match self.kind() {
            Kind::Resource => (method == Method::GET || method == Method::POST, "GET, POST"),
            Kind::Operation => (method == Method::POST, "POST"),
        };
        if ok {
            Ok(())
        } else {
            Err(ApiError::MethodNotAllowed {
                method: method.as_str().chars().take(16).collect(),
                allow,
            })
        }
    }

    /// The privilege the caller needs; `None` for `generateToken` and the
    /// portal resources, which check tokens themselves (or need none).
    pub(crate) fn privilege(&self) -> Option<Privilege> {
        self.endpoint().privilege
    }

    /// Checks the names in the path.
    pub(crate) fn check_names(&self) -> Result<(), ApiError> {
        match self {
            Route::Store { store }
            | Route::UpdateStore { store }
            | Route::UnregisterStore { store }
            | Route::ValidateStore { store }
            | Route::Backups { store }
            | Route::CreateBackup { store } => names::check(NameKind::Store, store),
            Route::Backup { store, backup }
            | Route::UpdateBackup { store, backup }
            | Route::RestoreBackup { store, backup }
            | Route::VerifyBackup { store, backup }
            | Route::ValidateBackup { store, backup }
            | Route::DeleteBackup { store, backup } => {
                names::check(NameKind::Store, store)?;
                names::check(NameKind::Backup, backup)
            }
            Route::Job { jobid } => names::check(NameKind::Job, jobid),
            Route::Task(
                TaskRoute::One { id } | TaskRoute::Op { id, .. } | TaskRoute::Runs { id },
            ) => check_task_id(id),
            Route::Task(TaskRoute::Run { id, run } | TaskRoute::RunOp { id, run, .. }) => {
                check_task_id(id)?;
                check_task_id(run)
            }
            Route::LegacyBackup { backup }
            | Route::LegacyRestoreBackup { backup }
            | Route::LegacyDeleteBackup { backup }
            | Route::LegacyValidateBackup { backup } => names::check(NameKind::Backup, backup),
            Route::Plugin { name } => names::check(NameKind::Plugin, name),
            // The portal user's name is compared with the signed-in user's
            // by its handler; the other routes name nothing.
            Route::Portal(_)
            | Route::Task(TaskRoute::List | TaskRoute::Create)
            | Route::GenerateToken
            | Route::AdminRoot
            | Route::System
            | Route::DisasterRecovery
            | Route::Status
            | Route::Settings
            | Route::UpdateSettings
            | Route::Stores
            | Route::RegisterStore
            | Route::LegacyRoot
            | Route::LegacyCreateBackup
            | Route::LegacyBackups
            | Route::LegacyStatus
            | Route::Plugins
            | Route::Jobs => Ok(()),
        }
    }

    /// Child resources and operations, for links in the HTML view.
    pub(crate) fn children(&self, value: &Value) -> (Vec<String>, Vec<String>) {
        let owned = |names: &[&str]| names.iter().map(|name| (*name).to_owned()).collect();
        match self {
            Route::AdminRoot => (owned(&["system", "jobs"]), vec![]),
            Route::System => (owned(&["disasterrecovery", "tasks", "plugins"]), vec![]),
            Route::Task(TaskRoute::List) => (
                names_in(value, "result", Some("id")),
                owned(&["createTask"]),
            ),
            Route::Task(TaskRoute::One { .. }) => (
                owned(&["runs"]),
                owned(&["update", "enable", "disable", "run", "delete"]),
            ),
            Route::Task(TaskRoute::Runs { .. }) => (names_in(value, "runs", Some("runId")), vec![]),
            Route::Plugins => (names_in(value, "plugins", Some("name")), vec![]),
            Route::DisasterRecovery => (owned(&["status", "settings", "stores"]), vec![]),
            Route::Settings => (vec![], owned(&["update"])),
            Route::Stores => (
                names_in(value, "backupStores", Some("name")),
                owned(&["register"]),
            ),
            Route::Store { .. } => (
                owned(&["backups"]),
                owned(&["update", "unregister", "validate"]),
            ),
            Route::Backups { .. } => (
                names_in(value, "backups", Some("backupName")),
                owned(&["create"]),
            ),
            Route::Backup { .. } => (vec![], owned(&["update", "restore", "verify", "delete"])),
            Route::LegacyRoot => (owned(&["backups", "status"]), owned(&["backup"])),
            Route::LegacyBackups => (names_in(value, "backups", Some("backupName")), vec![]),
            Route::LegacyBackup { .. } => (vec![], owned(&["restore", "delete"])),
            Route::Jobs => (names_in(value, "jobs", None), vec![]),
            _ => (vec![], vec![]),
        }
    }
}

/// Task and run ids are 32 lowercase hex digits.
fn check_task_id(id: &str) -> Result<(), ApiError> {
    if id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "Task '{}' was not found.",
            id.chars().take(64).collect::<String>()
        )))
    }
}

/// Strings at `value[list][*]` or `value[list][*][field]`.
fn names_in(value: &Value, list: &str, field: Option<&str>) -> Vec<String> {
    let Some(items) = value.get(list).and_then(Value::as_array) else {
        return vec![];
    };
    items
        .iter()
        .filter_map(|item| match field {
            Some(field) => item.get(field),
            None => Some(item),
        })
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    fn arcgis() -> Vec<String> {
        vec!["arcgis".to_owned()]
    }

    fn route(path: &str) -> Result<Route, ApiError> {
        match_path(&arcgis(), path)
    }

    #[test]
    fn matches_every_endpoint() {
        let dr = "/arcgis/admin/system/disasterrecovery";
        let store = || "s".to_owned();
        let backup = || "b".to_owned();
        let cases = [
            (
                "/arcgis/sharing/rest/generateToken".to_owned(),
                Route::GenerateToken,
            ),
            ("/arcgis/admin".to_owned(), Route::AdminRoot),
            ("/arcgis/admin/".to_owned(), Route::AdminRoot),
            ("/arcgis/admin/system".to_owned(), Route::System),
            ("/arcgis/admin/system/plugins".to_owned(), Route::Plugins),
            (
                "/arcgis/admin/system/plugins/store-fs".to_owned(),
                Route::Plugin {
                    name: "store-fs".to_owned(),
                },
            ),
            (dr.to_owned(), Route::DisasterRecovery),
            (format!("{dr}/status"), Route::Status),
            (format!("{dr}/settings"), Route::Settings),
            (format!("{dr}/settings/update"), Route::UpdateSettings),
            (format!("{dr}/stores"), Route::Stores),
            (format!("{dr}/stores/register"), Route::RegisterStore),
            (format!("{dr}/stores/s"), Route::Store { store: store() }),
            (
                format!("{dr}/stores/s/update"),
                Route::UpdateStore { store: store() },
            ),
            (
                format!("{dr}/stores/s/unregister"),
                Route::UnregisterStore { store: store() },
            ),
            (
                format!("{dr}/stores/s/validate"),
                Route::ValidateStore { store: store() },
            ),
            (
                format!("{dr}/stores/s/backups"),
                Route::Backups { store: store() },
            ),
            (
                format!("{dr}/stores/s/backups/create"),
                Route::CreateBackup { store: store() },
            ),
            (
                format!("{dr}/stores/s/backups/b"),
                Route::Backup {
                    store: store(),
                    backup: backup(),
                },
            ),
            (
                format!("{dr}/stores/s/backups/b/update"),
                Route::UpdateBackup {
                    store: store(),
                    backup: backup(),
                },
            ),
            (
                format!("{dr}/stores/s/backups/b/restore"),
                Route::RestoreBackup {
                    store: store(),
                    backup: backup(),
                },
            ),
            (
                format!("{dr}/stores/s/backups/b/delete"),
                Route::DeleteBackup {
                    store: store(),
                    backup: backup(),
                },
            ),
            ("/arcgis/admin/jobs".to_owned(), Route::Jobs),
            (
                "/arcgis/admin/jobs/j1".to_owned(),
                Route::Job {
                    jobid: "j1".to_owned(),
                },
            ),
        ];
        for (path, expected) in cases {
            assert_eq!(route(&path), Ok(expected), "{path}");
        }
    }

    #[test]
    fn legacy_paths_map_to_the_privileges_of_their_twins() {
        let legacy = "/arcgis/admin/system/disasterrecovery/backuprestore";
        let b = || "b".to_owned();
        let s = || "s".to_owned();
        let cases = [
            (
                legacy.to_owned(),
                Route::LegacyRoot,
                Route::DisasterRecovery,
            ),
            (
                format!("{legacy}/backup"),
                Route::LegacyCreateBackup,
                Route::CreateBackup { store: s() },
            ),
            (
                format!("{legacy}/backups"),
                Route::LegacyBackups,
                Route::Backups { store: s() },
            ),
            (
                format!("{legacy}/backups/b"),
                Route::LegacyBackup { backup: b() },
                Route::Backup {
                    store: s(),
                    backup: b(),
                },
            ),
            (
                format!("{legacy}/backups/b/restore"),
                Route::LegacyRestoreBackup { backup: b() },
                Route::RestoreBackup {
                    store: s(),
                    backup: b(),
                },
            ),
            (
                format!("{legacy}/backups/b/delete"),
                Route::LegacyDeleteBackup { backup: b() },
                Route::DeleteBackup {
                    store: s(),
                    backup: b(),
                },
            ),
            (
                format!("{legacy}/backups/b/validate"),
                Route::LegacyValidateBackup { backup: b() },
                Route::ValidateBackup {
                    store: s(),
                    backup: b(),
                },
            ),
            (
                format!("{legacy}/status"),
                Route::LegacyStatus,
                Route::Status,
            ),
        ];
        for (path, expected, twin) in cases {
            let matched = route(&path).expect(&path);
            assert_eq!(matched, expected, "{path}");
            assert_eq!(matched.privilege(), twin.privilege(), "{path}");
            assert_eq!(matched.kind(), twin.kind(), "{path}");
        }
        for path in [
            format!("{legacy}/backups/b/update"),
            format!("{legacy}/nope"),
        ] {
            assert!(matches!(route(&path), Err(ApiError::NotFound(_))), "{path}");
        }
    }

    #[test]
    fn portal_paths() {
        let cases = [
            ("/arcgis/sharing/rest", PortalRoute::Root),
            ("/arcgis/sharing/rest/", PortalRoute::Root),
            ("/arcgis/sharing/rest/info", PortalRoute::Info),
            ("/arcgis/sharing/rest/portals/self", PortalRoute::PortalSelf),
            (
                "/arcgis/sharing/rest/community/self",
                PortalRoute::CommunitySelf,
            ),
            (
                "/arcgis/sharing/rest/community/users/admin",
                PortalRoute::CommunityUser {
                    name: "admin".to_owned(),
                },
            ),
            (
                "/arcgis/sharing/rest/oauth2/authorize",
                PortalRoute::Authorize,
            ),
            ("/arcgis/sharing/oauth2/signin", PortalRoute::Signin),
            ("/arcgis/sharing/rest/oauth2/token", PortalRoute::Token),
        ];
        for (path, expected) in cases {
            assert_eq!(route(path), Ok(Route::Portal(expected)), "{path}");
        }
        // Nothing else of a portal is served.
        for path in [
            "/arcgis/sharing",
            "/arcgis/sharing/rest/search",
            "/arcgis/sharing/rest/content/items/x",
            "/arcgis/sharing/rest/portals/0123456789ABCDEF",
            "/arcgis/sharing/rest/community/users/a/b",
            "/arcgis/sharing/oauth2/approval",
            "/arcgis/sharing/rest/oauth2/signin",
        ] {
            assert!(matches!(route(path), Err(ApiError::NotFound(_))), "{path}");
        }
        let signin = Route::Portal(PortalRoute::Signin);
        assert!(signin.check_method(&Method::GET).is_err());
        let authorize = Route::Portal(PortalRoute::Authorize);
        assert!(authorize.check_method(&Method::GET).is_ok());
    }

    #[test]
    fn unknown_paths_are_404() {
        for path in [
            "/",
            "",
            "/arcgis",
            "/other/admin",
            "/arcgis/admin/nope",
            "/arcgis/admin/system/disasterrecovery/stores/s/backups/b/x",
            "/arcgis/admin//system",
            "/arcgis/sharing/rest/generatetoken",
        ] {
            assert!(matches!(route(path), Err(ApiError::NotFound(_))), "{path}");
        }
    }

    #[test]
    fn decodes_segments_without_splitting() {
        assert_eq!(
            route("/arcgis/admin/system/disasterrecovery/stores/a%2Fb"),
            Ok(Route::Store {
                store: "a/b".to_owned()
            })
        );
        assert_eq!(
            route("/arcgis/admin/system/disasterrecovery/stores/a+b%20c"),
            Ok(Route::Store {
                store: "a+b c".to_owned()
            })
        );
        assert!(matches!(
            route("/arcgis/admin/system/disasterrecovery/stores/%FF"),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn other_contexts() {
        assert_eq!(match_path(&[], "/admin/jobs"), Ok(Route::Jobs));
        let nested = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(match_path(&nested, "/a/b/admin"), Ok(Route::AdminRoot));
        assert!(match_path(&nested, "/a/admin").is_err());
    }

    #[test]
    fn methods() {
        assert!(Route::Stores.check_method(&Method::GET).is_ok());
        assert!(Route::Stores.check_method(&Method::POST).is_ok());
        assert!(Route::Stores.check_method(&Method::DELETE).is_err());
        assert!(Route::RegisterStore.check_method(&Method::GET).is_err());
        assert!(Route::GenerateToken.check_method(&Method::GET).is_err());
    }

    #[test]
    fn children_from_values() {
        let (resources, operations) =
            Route::Stores.children(&json!({"backupStores": [{"name": "a"}, {"name": "b"}, {}]}));
        assert_eq!(
            (resources, operations),
            (vec!["a".into(), "b".into()], vec!["register".into()])
        );
        let (resources, _) = Route::Jobs.children(&json!({"jobs": ["j1", 2]}));
        assert_eq!(resources, vec!["j1".to_owned()]);
    }

    /// One path of every route, and the route it must match. `variant`
    /// below names every route without a wildcard, so a new route fails to
    /// compile here until it is added to this list.
    pub(crate) fn every_route() -> Vec<(String, Route)> {
        let dr = "/arcgis/admin/system/disasterrecovery";
        let legacy = format!("{dr}/backuprestore");
        let tasks = "/arcgis/admin/system/tasks";
        let id = "0123456789abcdef0123456789abcdef";
        let s = || "s".to_owned();
        let b = || "b".to_owned();
        let t = || id.to_owned();
        let portal = |path: &str, route| (format!("/arcgis/sharing/{path}"), Route::Portal(route));
        vec![
            (
                "/arcgis/sharing/rest/generateToken".to_owned(),
                Route::GenerateToken,
            ),
            portal("rest", PortalRoute::Root),
            portal("rest/info", PortalRoute::Info),
            portal("rest/portals/self", PortalRoute::PortalSelf),
            portal("rest/community/self", PortalRoute::CommunitySelf),
            portal(
                "rest/community/users/admin",
                PortalRoute::CommunityUser {
                    name: "admin".to_owned(),
                },
            ),
            portal("rest/oauth2/authorize", PortalRoute::Authorize),
            portal("oauth2/signin", PortalRoute::Signin),
            portal("rest/oauth2/token", PortalRoute::Token),
            ("/arcgis/admin".to_owned(), Route::AdminRoot),
            ("/arcgis/admin/system".to_owned(), Route::System),
            ("/arcgis/admin/system/plugins".to_owned(), Route::Plugins),
            (
                "/arcgis/admin/system/plugins/p".to_owned(),
                Route::Plugin {
                    name: "p".to_owned(),
                },
            ),
            (tasks.to_owned(), Route::Task(TaskRoute::List)),
            (
                format!("{tasks}/createTask"),
                Route::Task(TaskRoute::Create),
            ),
            (
                format!("{tasks}/{id}"),
                Route::Task(TaskRoute::One { id: t() }),
            ),
            (
                format!("{tasks}/{id}/run"),
                Route::Task(TaskRoute::Op {
                    id: t(),
                    op: "run".to_owned(),
                }),
            ),
            (
                format!("{tasks}/{id}/runs"),
                Route::Task(TaskRoute::Runs { id: t() }),
            ),
            (
                format!("{tasks}/{id}/runs/{id}"),
                Route::Task(TaskRoute::Run { id: t(), run: t() }),
            ),
            (
                format!("{tasks}/{id}/runs/{id}/delete"),
                Route::Task(TaskRoute::RunOp {
                    id: t(),
                    run: t(),
                    op: "delete".to_owned(),
                }),
            ),
            (dr.to_owned(), Route::DisasterRecovery),
            (format!("{dr}/status"), Route::Status),
            (format!("{dr}/settings"), Route::Settings),
            (format!("{dr}/settings/update"), Route::UpdateSettings),
            (format!("{dr}/stores"), Route::Stores),
            (format!("{dr}/stores/register"), Route::RegisterStore),
            (format!("{dr}/stores/s"), Route::Store { store: s() }),
            (
                format!("{dr}/stores/s/update"),
                Route::UpdateStore { store: s() },
            ),
            (
                format!("{dr}/stores/s/unregister"),
                Route::UnregisterStore { store: s() },
            ),
            (
                format!("{dr}/stores/s/validate"),
                Route::ValidateStore { store: s() },
            ),
            (
                format!("{dr}/stores/s/backups"),
                Route::Backups { store: s() },
            ),
            (
                format!("{dr}/stores/s/backups/create"),
                Route::CreateBackup { store: s() },
            ),
            (
                format!("{dr}/stores/s/backups/b"),
                Route::Backup {
                    store: s(),
                    backup: b(),
                },
            ),
            (
                format!("{dr}/stores/s/backups/b/update"),
                Route::UpdateBackup {
                    store: s(),
                    backup: b(),
                },
            ),
            (
                format!("{dr}/stores/s/backups/b/verify"),
                Route::VerifyBackup {
                    store: s(),
                    backup: b(),
                },
            ),
            (
                format!("{dr}/stores/s/backups/b/validate"),
                Route::ValidateBackup {
                    store: s(),
                    backup: b(),
                },
            ),
            (
                format!("{dr}/stores/s/backups/b/restore"),
                Route::RestoreBackup {
                    store: s(),
                    backup: b(),
                },
            ),
            (
                format!("{dr}/stores/s/backups/b/delete"),
                Route::DeleteBackup {
                    store: s(),
                    backup: b(),
                },
            ),
            (legacy.clone(), Route::LegacyRoot),
            (format!("{legacy}/backup"), Route::LegacyCreateBackup),
            (format!("{legacy}/backups"), Route::LegacyBackups),
            (
                format!("{legacy}/backups/b"),
                Route::LegacyBackup { backup: b() },
            ),
            (
                format!("{legacy}/backups/b/restore"),
                Route::LegacyRestoreBackup { backup: b() },
            ),
            (
                format!("{legacy}/backups/b/delete"),
                Route::LegacyDeleteBackup { backup: b() },
            ),
            (
                format!("{legacy}/backups/b/validate"),
                Route::LegacyValidateBackup { backup: b() },
            ),
            (format!("{legacy}/status"), Route::LegacyStatus),
            ("/arcgis/admin/jobs".to_owned(), Route::Jobs),
            (
                "/arcgis/admin/jobs/j".to_owned(),
                Route::Job {
                    jobid: "j".to_owned(),
                },
            ),
        ]
    }

    /// A name per route (and portal and task sub-route), with no wildcard.
    fn variant(route: &Route) -> &'static str {
        match route {
            Route::Portal(PortalRoute::Root) => "Portal::Root",
            Route::Portal(PortalRoute::Info) => "Portal::Info",
            Route::Portal(PortalRoute::PortalSelf) => "Portal::PortalSelf",
            Route::Portal(PortalRoute::CommunitySelf) => "Portal::CommunitySelf",
            Route::Portal(PortalRoute::CommunityUser { .. }) => "Portal::CommunityUser",
            Route::Portal(PortalRoute::Authorize) => "Portal::Authorize",
            Route::Portal(PortalRoute::Signin) => "Portal::Signin",
            Route::Portal(PortalRoute::Token) => "Portal::Token",
            Route::Task(TaskRoute::List) => "Task::List",
            Route::Task(TaskRoute::Create) => "Task::Create",
            Route::Task(TaskRoute::One { .. }) => "Task::One",
            Route::Task(TaskRoute::Op { .. }) => "Task::Op",
            Route::Task(TaskRoute::Runs { .. }) => "Task::Runs",
            Route::Task(TaskRoute::Run { .. }) => "Task::Run",
            Route::Task(TaskRoute::RunOp { .. }) => "Task::RunOp",
            Route::GenerateToken => "GenerateToken",
            Route::AdminRoot => "AdminRoot",
            Route::System => "System",
            Route::DisasterRecovery => "DisasterRecovery",
            Route::Status => "Status",
            Route::Settings => "Settings",
            Route::UpdateSettings => "UpdateSettings",
            Route::Stores => "Stores",
            Route::RegisterStore => "RegisterStore",
            Route::Store { .. } => "Store",
            Route::UpdateStore { .. } => "UpdateStore",
            Route::UnregisterStore { .. } => "UnregisterStore",
            Route::ValidateStore { .. } => "ValidateStore",
            Route::Backups { .. } => "Backups",
            Route::CreateBackup { .. } => "CreateBackup",
            Route::Backup { .. } => "Backup",
            Route::UpdateBackup { .. } => "UpdateBackup",
            Route::VerifyBackup { .. } => "VerifyBackup",
            Route::ValidateBackup { .. } => "ValidateBackup",
            Route::RestoreBackup { .. } => "RestoreBackup",
            Route::DeleteBackup { .. } => "DeleteBackup",
            Route::LegacyRoot => "LegacyRoot",
            Route::LegacyCreateBackup => "LegacyCreateBackup",
            Route::LegacyBackups => "LegacyBackups",
            Route::LegacyBackup { .. } => "LegacyBackup",
            Route::LegacyRestoreBackup { .. } => "LegacyRestoreBackup",
            Route::LegacyDeleteBackup { .. } => "LegacyDeleteBackup",
            Route::LegacyValidateBackup { .. } => "LegacyValidateBackup",
            Route::LegacyStatus => "LegacyStatus",
            Route::Plugins => "Plugins",
            Route::Plugin { .. } => "Plugin",
            Route::Jobs => "Jobs",
            Route::Job { .. } => "Job",
        }
    }

    /// The routes that check tokens themselves (or need none) instead of a
    /// privilege: the sign-in and the portal resources a client reads first.
    fn checks_tokens_itself(route: &Route) -> bool {
        matches!(route, Route::GenerateToken | Route::Portal(_))
    }

    #[test]
    fn every_route_is_listed_once_and_matches_its_path() {
        let routes = every_route();
        let mut seen = std::collections::BTreeSet::new();
        for (path, expected) in &routes {
            assert_eq!(route(path).as_ref(), Ok(expected), "{path}");
            assert!(seen.insert(variant(expected)), "listed twice: {path}");
        }
        // The number of arms of `variant`: 8 portal and 7 task sub-routes
        // and 33 other routes.
        assert_eq!(seen.len(), 48, "a route is missing from every_route");
    }

    #[test]
    fn every_operation_refuses_get_and_every_resource_takes_get_and_post() {
        for (path, route) in every_route() {
            match route.kind() {
                Kind::Operation => {
                    assert_eq!(
                        route.check_method(&Method::GET),
                        Err(ApiError::MethodNotAllowed {
                            method: "GET".to_owned(),
                            allow: "POST",
                        }),
                        "{path}"
                    );
                    assert!(route.check_method(&Method::POST).is_ok(), "{path}");
                }
                Kind::Resource => {
                    assert!(route.check_method(&Method::GET).is_ok(), "{path}");
                    assert!(route.check_method(&Method::POST).is_ok(), "{path}");
                }
            }
            assert!(route.check_method(&Method::DELETE).is_err(), "{path}");
        }
    }

    #[test]
    fn every_route_has_a_privilege_decision() {
        for (path, route) in every_route() {
            assert_eq!(
                route.privilege().is_none(),
                checks_tokens_itself(&route),
                "{path}"
            );
        }
    }

    /// Through the router: GET of an operation answers 405 with `Allow:
    /// POST` in the API's error JSON, before any handler runs.
    #[tokio::test]
    async fn the_router_refuses_get_of_every_operation() {
        let harness = crate::tests::harness();
        for (path, route) in every_route() {
            if route.kind() != Kind::Operation {
                continue;
            }
            let reply = harness.get(&path).await;
            assert_eq!(reply.status.as_u16(), 405, "{path}: {}", reply.text);
            assert_eq!(
                reply.headers.get("allow").and_then(|v| v.to_str().ok()),
                Some("POST"),
                "{path}"
            );
            assert_eq!(reply.json()["error"]["code"], 405, "{path}");
        }
    }
}
