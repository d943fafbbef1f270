//! The endpoint table: per route, the method kind and privilege, and the
//! checks of the names in its path.

use axum::http::Method;

use super::{Kind, PortalRoute, Route, TaskRoute};
use crate::auth::Privilege;
use crate::error::ApiError;
use crate::names::{self, NameKind};

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
