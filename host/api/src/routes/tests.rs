//! Path matching, the endpoint table and the HTML children.

use axum::http::Method;

use super::*;
use crate::error::ApiError;
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
