//! The child resources and operations of a resource, for the HTML view.

use serde_json::Value;

use super::{Route, TaskRoute};

impl Route {
    /// Child resources and operations, for links in the HTML view. Every
    /// route is named, so a new resource says what it links to.
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
            // Leaves: operations, single items and pages of their own.
            Route::GenerateToken
            | Route::Portal(_)
            | Route::Task(
                TaskRoute::Create
                | TaskRoute::Op { .. }
                | TaskRoute::Run { .. }
                | TaskRoute::RunOp { .. },
            )
            | Route::Status
            | Route::UpdateSettings
            | Route::RegisterStore
            | Route::UpdateStore { .. }
            | Route::UnregisterStore { .. }
            | Route::ValidateStore { .. }
            | Route::CreateBackup { .. }
            | Route::UpdateBackup { .. }
            | Route::VerifyBackup { .. }
            | Route::ValidateBackup { .. }
            | Route::RestoreBackup { .. }
            | Route::DeleteBackup { .. }
            | Route::LegacyCreateBackup
            | Route::LegacyRestoreBackup { .. }
            | Route::LegacyDeleteBackup { .. }
            | Route::LegacyValidateBackup { .. }
            | Route::LegacyStatus
            | Route::Plugin { .. }
            | Route::Job { .. } => (vec![], vec![]),
        }
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
