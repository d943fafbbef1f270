//! What the HTML view of an answer shows besides its JSON: child links,
//! operation forms, the links onwards (a job's page, the parent resource),
//! whether it reloads itself, and the token its links carry.

use serde_json::Value;

use crate::App;
use crate::auth::{Role, allowed};
use crate::format::{Nav, Page};
use crate::forms;
use crate::routes::{self, Kind, Route};

/// The page of `value`, the answer to `route` at `path`. `token` is the
/// token the request carried as a parameter (not in a header).
pub(crate) fn build(
    app: &App,
    route: &Route,
    path: &str,
    token: Option<&str>,
    value: &Value,
) -> Page {
    let (resources, operations) = route.children(value);
    let forms = operations
        .iter()
        .map(|op| {
            let operation = operation_route(app, path, op);
            forms::form_for(operation.as_ref(), op, value)
        })
        .collect();
    let admin = app.admin_prefix();
    let mut links = Vec::new();
    if let Some(jobid) = job_of(route, value) {
        links.push((
            format!("Job {jobid}"),
            format!("{admin}/jobs/{}", crate::pct::encode_segment(jobid)),
        ));
    }
    if route.kind() == Kind::Operation
        && let Some((parent, _)) = path.trim_end_matches('/').rsplit_once('/')
    {
        links.push(("Back".to_owned(), parent.to_owned()));
    }
    Page {
        title: path.to_owned(),
        base_path: path.to_owned(),
        resources,
        operations,
        forms,
        token: token.map(str::to_owned),
        refresh: running(route, value),
        links,
        nav: Some(Nav {
            admin,
            login: app.login_path(),
        }),
    }
}

/// The route operation `op` of the resource at `path` leads to: matched
/// like the form's post will be, so the form, the method check and the
/// privilege all come from the same route.
fn operation_route(app: &App, path: &str, op: &str) -> Option<Route> {
    let path = format!(
        "{}/{}",
        path.trim_end_matches('/'),
        crate::pct::encode_segment(op)
    );
    routes::match_path(&app.context, &path).ok()
}

/// Drops the operations (and their forms) `role` may not call: a viewer
/// gets no forms that could only answer 403.
pub(crate) fn keep_allowed_operations(app: &App, page: &mut Page, role: Role) {
    let base = page.base_path.clone();
    let may_call = |op: &String| {
        operation_route(app, &base, op)
            .and_then(|route| route.privilege())
            .is_some_and(|privilege| allowed(role, privilege))
    };
    page.operations.retain(|op| may_call(op));
    page.forms.retain(|form| may_call(&form.operation));
}

/// The job an answer is about: the job an operation started, or the last
/// DR job of the status.
fn job_of<'a>(route: &Route, value: &'a Value) -> Option<&'a str> {
    match route {
        Route::Status => value.get("status")?.get("jobid")?.as_str(),
        Route::Job { .. } => None,
        _ if route.kind() == Kind::Operation => value.get("jobid")?.as_str(),
        _ => None,
    }
}

/// Whether the page shows a job that is still running, and should reload.
pub(crate) fn running(route: &Route, value: &Value) -> bool {
    match route {
        Route::Job { .. } => matches!(
            value.get("status").and_then(Value::as_str),
            Some("SUBMITTED" | "EXECUTING")
        ),
        Route::Status => {
            value
                .get("status")
                .and_then(|status| status.get("state"))
                .and_then(Value::as_str)
                == Some("in_progress")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_running_jobs_reload() {
        let job = Route::Job {
            jobid: "j1".to_owned(),
        };
        assert!(running(&job, &json!({"status": "EXECUTING"})));
        assert!(running(&job, &json!({"status": "SUBMITTED"})));
        assert!(!running(&job, &json!({"status": "COMPLETED"})));
        assert!(!running(&job, &json!({"status": "FAILED"})));
        assert!(running(
            &Route::Status,
            &json!({"status": {"state": "in_progress"}})
        ));
        assert!(!running(
            &Route::Status,
            &json!({"status": {"state": "success"}})
        ));
        assert!(!running(&Route::Stores, &json!({"status": "EXECUTING"})));
    }
}
