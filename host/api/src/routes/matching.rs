//! Paths to routes, segment by segment.

use super::{PortalRoute, Route, TaskRoute};
use crate::error::ApiError;
use crate::pct;

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
