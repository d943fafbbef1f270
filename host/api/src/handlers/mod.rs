//! The request pipeline: parameters → format → route → method → token →
//! privilege → names → handler → rendering. Every failure is rendered in the
//! API's error format, in the requested `f` where it is known.

mod backups;
mod dr;
mod legacy;
mod oauth;
mod op_error;
mod plugins;
mod portal;
mod stores;
mod tasks;
mod token;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::App;
use crate::auth::{Identity, Role, allowed};
use crate::error::ApiError;
use crate::extract;
use crate::format::{self, Format};
use crate::ops::JobRef;
use crate::params::{self, Params};
use crate::routes::{self, PortalRoute, Route};
use crate::{login, page};

/// Everything a handler may need about its request.
pub(crate) struct Ctx<'a> {
    pub(crate) app: &'a App,
    pub(crate) parts: &'a Parts,
    pub(crate) params: &'a Params,
    pub(crate) identity: Identity,
}

impl Ctx<'_> {
    /// Path of the request, recorded as a job's `operationURI`.
    pub(crate) fn operation_uri(&self) -> String {
        self.parts.uri.path().to_owned()
    }

    /// `{"jobsUrl": ..., "jobid": ..., "status": "SUBMITTED"}`.
    pub(crate) fn job_envelope(&self, job: &JobRef) -> Value {
        json!({"jobsUrl": self.jobs_url(job), "jobid": job.jobid, "status": "SUBMITTED"})
    }

    /// `{"status": "success", "jobid": ..., "jobsUrl": ...}`: the answer of an
    /// operation whose reference answer is plain success but which runs as a
    /// job here.
    pub(crate) fn started_job(&self, job: &JobRef) -> Value {
        json!({"status": "success", "jobid": job.jobid, "jobsUrl": self.jobs_url(job)})
    }

    /// The job's absolute URL, under the configured public URL.
    pub(crate) fn jobs_url(&self, job: &JobRef) -> String {
        self.app.absolute_url(&format!(
            "{}/jobs/{}",
            self.app.admin_prefix(),
            crate::pct::encode_segment(&job.jobid)
        ))
    }
}

/// `{"status":"success"}`.
pub(crate) fn success() -> Value {
    json!({"status": "success"})
}

/// The router's only handler.
pub(crate) async fn dispatch(State(app): State<Arc<App>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let title = parts.uri.path().to_owned();
    let params = match params::collect(&parts, body, app.config.max_body_bytes).await {
        Ok(params) => params,
        Err(error) => {
            let format = query_format(&parts).unwrap_or(Format::Json);
            return ApiError::from(error).into_response_as(format, &title);
        }
    };
    let format = match Format::parse(params.text("f")) {
        Ok(format) => format,
        Err(error) => return error.into_response_as(Format::Json, &title),
    };
    let route = match routes::match_path(&app.context, parts.uri.path()) {
        // The sign-in page: the one GET of an operation, for browsers.
        Ok(Route::GenerateToken) if parts.method == Method::GET && format == Format::Html => {
            return login::login_page(&app.login_path());
        }
        Ok(route) => route,
        Err(error) => return error.into_response_as(format, &title),
    };
    if let Err(error) = route.check_method(&parts.method) {
        return error.into_response_as(format, &title);
    }
    if let Route::Portal(portal) = &route {
        return portal_answer(&app, portal, &parts, &params, format, &title).await;
    }
    match handle(&app, &route, &parts, &params).await {
        Ok((value, role)) => match format {
            Format::Html => html_answer(&app, &route, &title, &params, role, &value),
            other => format::json(other, StatusCode::OK, &value),
        },
        Err(error) if format == Format::Html => html_error(&app, &route, &title, error),
        Err(error) => error.into_response_as(format, &title),
    }
}

/// The portal resources (JSON, as `pjson` when asked; they have no HTML
/// view) and the OAuth2 sign-in (HTML pages, then JSON from `token`).
async fn portal_answer(
    app: &App,
    route: &PortalRoute,
    parts: &Parts,
    params: &Params,
    format: Format,
    title: &str,
) -> Response {
    let format = match format {
        Format::Html => Format::Json,
        other => other,
    };
    let value = match route {
        PortalRoute::Authorize => return oauth::authorize(app, params),
        PortalRoute::Signin => return oauth::signin(app, parts, params).await,
        PortalRoute::Token => oauth::token(app, params),
        PortalRoute::Root => Ok(portal::root(app)),
        PortalRoute::Info => Ok(portal::info(app)),
        PortalRoute::PortalSelf => portal::optional_identity(app, parts, params)
            .map(|identity| portal::portal_self(app, identity.as_ref())),
        PortalRoute::CommunitySelf => portal::optional_identity(app, parts, params)
            .and_then(|identity| identity.ok_or(ApiError::TokenRequired))
            .map(|identity| portal::user(&identity)),
        PortalRoute::CommunityUser { name } => portal::optional_identity(app, parts, params)
            .and_then(|identity| identity.ok_or(ApiError::TokenRequired))
            .and_then(|identity| portal::community_user(&identity, name)),
    };
    match value {
        Ok(value) => format::json(format, StatusCode::OK, &value),
        Err(error) => error.into_response_as(format, title),
    }
}

/// A successful answer as an HTML page; a new token sends the browser on to
/// the admin root.
fn html_answer(
    app: &App,
    route: &Route,
    path: &str,
    params: &Params,
    role: Option<Role>,
    value: &Value,
) -> Response {
    if *route == Route::GenerateToken
        && let Some(token) = value.get("token").and_then(Value::as_str)
    {
        return login::signed_in_page(&app.admin_prefix(), token);
    }
    let mut page = page::build(app, route, path, params.text("token"), value);
    if let Some(role) = role {
        page::keep_allowed_operations(app, &mut page, role);
    }
    format::html(StatusCode::OK, &page, value)
}

/// An error as an HTML page, with a way back to the sign-in page when the
/// token was the problem.
fn html_error(app: &App, route: &Route, path: &str, error: ApiError) -> Response {
    let token_problem = matches!(
        error,
        ApiError::TokenRequired | ApiError::InvalidToken | ApiError::TokenExpired
    ) || *route == Route::GenerateToken;
    if !token_problem {
        return error.into_response_as(Format::Html, path);
    }
    let login = format::link(&app.login_path(), None);
    let response = format::html_error_with_links(
        error.status(),
        path,
        &error,
        &[("Sign in".to_owned(), login)],
    );
    error.with_headers(response)
}

/// `f` from the query string alone, for errors before the body is read.
fn query_format(parts: &Parts) -> Option<Format> {
    let pairs = params::parse_urlencoded(parts.uri.query()?.as_bytes()).ok()?;
    let f = pairs.into_iter().rev().find(|(key, _)| key == "f")?.1;
    Format::parse(Some(&f)).ok()
}

/// The answer, and the caller's role (`None` for `generateToken`).
async fn handle(
    app: &App,
    route: &Route,
    parts: &Parts,
    params: &Params,
) -> Result<(Value, Option<Role>), ApiError> {
    let Some(privilege) = route.privilege() else {
        return match route {
            Route::GenerateToken => Ok((token::generate(app, parts, params).await?, None)),
            // Answered by `portal_answer` before the admin pipeline.
            _ => Err(ApiError::NotFound(routes::NOT_FOUND.to_owned())),
        };
    };
    let token = extract::request_token(params, &parts.headers).ok_or(ApiError::TokenRequired)?;
    let identity = app.auth.verify_token(token)?;
    if !allowed(identity.role, privilege) {
        return Err(ApiError::Forbidden);
    }
    route.check_names()?;
    let role = identity.role;
    let ctx = Ctx {
        app,
        parts,
        params,
        identity,
    };
    let value = match route {
        Route::GenerateToken => token::generate(app, parts, params).await,
        Route::Portal(_) => Err(ApiError::NotFound(routes::NOT_FOUND.to_owned())),
        Route::AdminRoot => Ok(dr::admin_root(&ctx)),
        Route::System => Ok(json!({"resources": ["disasterrecovery", "tasks", "plugins"]})),
        Route::Task(task) => tasks::handle(&ctx, task).await,
        Route::Plugins => plugins::list(&ctx).await,
        Route::Plugin { name } => plugins::get(&ctx, name).await,
        Route::DisasterRecovery => {
            Ok(json!({"operations": ["status"], "resources": ["stores", "settings"]}))
        }
        Route::Status => dr::status(&ctx).await,
        Route::Settings => dr::settings(&ctx).await,
        Route::UpdateSettings => dr::update_settings(&ctx).await,
        Route::Jobs => dr::jobs(&ctx).await,
        Route::Job { jobid } => dr::job(&ctx, jobid).await,
        Route::Stores => stores::list(&ctx).await,
        Route::RegisterStore => stores::register(&ctx).await,
        Route::Store { store } => stores::get(&ctx, store).await,
        Route::UpdateStore { store } => stores::update(&ctx, store).await,
        Route::UnregisterStore { store } => stores::unregister(&ctx, store).await,
        Route::ValidateStore { store } => stores::validate(&ctx, store).await,
        Route::Backups { store } => backups::list(&ctx, store).await,
        Route::CreateBackup { store } => backups::create(&ctx, store).await,
        Route::Backup { store, backup } => backups::get(&ctx, store, backup).await,
        Route::UpdateBackup { store, backup } => backups::update(&ctx, store, backup).await,
        Route::RestoreBackup { store, backup } => backups::restore(&ctx, store, backup).await,
        Route::VerifyBackup { store, backup } => backups::verify(&ctx, store, backup).await,
        Route::ValidateBackup { store, backup } => backups::validate(&ctx, store, backup).await,
        Route::DeleteBackup { store, backup } => backups::delete(&ctx, store, backup).await,
        Route::LegacyRoot => Ok(legacy::root()),
        Route::LegacyCreateBackup => legacy::create(&ctx).await,
        Route::LegacyBackups => legacy::list(&ctx).await,
        Route::LegacyBackup { backup } => legacy::get(&ctx, backup).await,
        Route::LegacyRestoreBackup { backup } => legacy::restore(&ctx, backup).await,
        Route::LegacyDeleteBackup { backup } => legacy::delete(&ctx, backup).await,
        Route::LegacyValidateBackup { backup } => legacy::validate(&ctx, backup).await,
        Route::LegacyStatus => dr::status(&ctx).await,
    }?;
    Ok((value, Some(role)))
}
