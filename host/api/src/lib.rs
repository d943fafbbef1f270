//! drhost's admin REST API, compatible with the disaster-recovery resources of
//! the Enterprise Administrator API (`docs/reference/`).
//!
//! [`router`] serves everything under `/<context>/admin/...` plus
//! `POST /<context>/sharing/rest/generateToken`, and the few portal
//! resources and the OAuth2 sign-in a portal client such as the ArcGIS API
//! for Python needs before it reaches the admin API (`handlers/portal.rs`,
//! `handlers/oauth.rs`, `oauth`). Handlers parse and authorise
//! requests, call the host through [`DrOps`], and render the result as JSON,
//! pretty JSON or a minimal HTML page (`f=json|pjson|html`).
//!
//! Modules, one job each:
//! - [`error`]: the API's error type, its codes and HTTP statuses;
//! - [`params`]: request parameters from the query string and form body;
//! - [`auth`]: users, password hashes, signed tokens, roles and privileges;
//! - `extract`: the token from request parameters and headers;
//! - `names`, `routes`: name validation and path matching;
//! - [`format`]: `f=json|pjson|html` rendering of results and errors;
//!   `escape`, `html_value`, `forms`, `page` and `login` make up the HTML
//!   admin pages;
//! - `handlers`: the request pipeline and one module per resource family;
//! - `middleware`: request tracing, panic catching, security headers;
//! - `throttle`: login and passcode guessing limits, the password-check gate;
//! - `origin`: refusing cross-site sign-in posts.
//!
//! Dependencies point one way, from the pipeline down to leaves (a module
//! uses only modules listed before it):
//! `error`, `pct`, `escape`, `time` (leaves) → `params`, `auth`, `names` →
//! `routes` → `forms`, `html_value` → `format` → `page`, `login` →
//! `handlers`. In particular `error` renders nothing: turning an error
//! into a response is `format`'s job, so no path leads back to `error`.

pub mod auth;
pub mod error;
pub mod format;
pub mod model;
pub mod ops;
pub mod params;
pub mod time;

mod escape;
mod extract;
mod forms;
mod handlers;
mod html_value;
mod login;
mod middleware;
mod names;
mod oauth;
mod origin;
mod page;
mod pct;
mod routes;
mod throttle;

#[cfg(test)]
mod access_tests;
#[cfg(test)]
mod html_tests;
#[cfg(test)]
mod portal_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

pub use auth::{
    Auth, AuthError, ConfiguredUser, Identity, IssuedToken, Privilege, Role, TokenError,
    UserChanges, allowed,
};
pub use error::ApiError;
pub use format::Format;
pub use ops::{
    CreateBackup, DeleteBackup, DrOps, JobRef, OpError, RegisterStore, RestoreBackup, TaskCall,
    TaskParams, ValidateBackup,
};
pub use params::{ParamError, Params};

/// Settings of the admin API.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiConfig {
    /// First path segment(s) of every URL, e.g. `arcgis` for
    /// `/arcgis/admin/...`. Leading and trailing slashes are ignored; it may
    /// hold several segments (`a/b`) or be empty (`/admin/...`).
    pub context: String,
    /// Largest accepted request body in bytes; larger bodies answer 413.
    pub max_body_bytes: usize,
    /// Token lifetime when `generateToken` gets no `expiration`, in minutes.
    pub default_token_minutes: u64,
    /// Longest token lifetime `generateToken` grants, in minutes; longer
    /// requests are capped.
    pub max_token_minutes: u64,
    /// `currentVersion` reported by `GET /admin`. Clients such as Esri's
    /// enterprise-admin-cli pick their request formats from it (≤ 11.1 means
    /// the old cloud-store JSON), so it should stay ≥ 11.2.
    pub current_version: f64,
    /// How many `generateToken` password checks (Argon2, ~20 MiB each) may run
    /// at once; further requests wait in a short queue, callers from
    /// addresses with a recent successful sign-in first.
    pub max_concurrent_logins: usize,
    /// `<scheme>://<host>[:<port>][/<prefix>]` under which clients reach this
    /// API, without a trailing slash: every absolute URL the API answers
    /// (`jobsUrl`, `tokenServicesUrl`, OAuth redirects) starts with it. It is
    /// configured, never taken from the request's `Host` header, which a
    /// client chooses.
    pub public_url: String,
    /// The API is served over HTTPS: answers carry `Strict-Transport-Security`
    /// so browsers never use plain HTTP for this host again.
    pub https: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            context: "arcgis".to_owned(),
            max_body_bytes: params::DEFAULT_MAX_BODY_BYTES,
            default_token_minutes: 60,
            max_token_minutes: 24 * 60,
            current_version: 11.4,
            max_concurrent_logins: 4,
            public_url: "https://127.0.0.1:6443".to_owned(),
            https: false,
        }
    }
}

/// Shared state of the request handlers.
pub(crate) struct App {
    pub(crate) config: ApiConfig,
    /// `config.context` split into path segments.
    pub(crate) context: Vec<String>,
    pub(crate) ops: Arc<dyn DrOps>,
    pub(crate) auth: Arc<Auth>,
    /// OAuth2 sign-ins in progress and their codes.
    pub(crate) oauth: oauth::OAuthStore,
    pub(crate) login_gate: throttle::gate::LoginGate,
    pub(crate) logins: throttle::logins::LoginThrottle,
    pub(crate) passcodes: throttle::passcodes::PasscodeThrottle,
}

impl App {
    /// `/<context>/admin`, the path prefix of every admin resource.
    pub(crate) fn admin_prefix(&self) -> String {
        let mut prefix = self.context_prefix();
        prefix.push_str("/admin");
        prefix
    }

    /// `/<context>/sharing/rest/generateToken`, the sign-in page.
    pub(crate) fn login_path(&self) -> String {
        let mut path = self.context_prefix();
        path.push_str("/sharing/rest/generateToken");
        path
    }

    /// `path` (starting with `/`) as an absolute URL under the configured
    /// public URL.
    pub(crate) fn absolute_url(&self, path: &str) -> String {
        format!("{}{path}", self.config.public_url.trim_end_matches('/'))
    }

    /// Whether clients reach the API over HTTPS (`generateToken`'s `ssl`).
    pub(crate) fn served_over_https(&self) -> bool {
        self.config
            .public_url
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    }

    /// `/<context>` (empty for an empty context).
    pub(crate) fn context_prefix(&self) -> String {
        let mut prefix = String::new();
        for segment in &self.context {
            prefix.push('/');
            prefix.push_str(&pct::encode_segment(segment));
        }
        prefix
    }
}

/// The admin API as an axum router (no state left to provide). Serve it with
/// `axum::serve` and `into_make_service_with_connect_info::<SocketAddr>()`:
/// the login and passcode throttles count attempts by client address, and
/// without it every client shares one budget. Every path is handled,
/// unknown ones answer 404 in the API's error format, and a panicking handler
/// answers 500 without taking the server down.
pub fn router(config: ApiConfig, ops: Arc<dyn DrOps>, auth: Arc<Auth>) -> Router {
    let context = config
        .context
        .split('/')
        .filter(|segment| !segment.is_empty())
        .map(str::to_owned)
        .collect();
    let login_gate = throttle::gate::LoginGate::new(throttle::gate::GateConfig::with_slots(
        config.max_concurrent_logins,
    ));
    let https = config.https;
    let app = Arc::new(App {
        config,
        context,
        ops,
        auth,
        login_gate,
        logins: throttle::logins::LoginThrottle::default(),
        passcodes: throttle::passcodes::PasscodeThrottle::default(),
        oauth: oauth::OAuthStore::default(),
    });
    let mut router = Router::new()
        .fallback(handlers::dispatch)
        .with_state(app)
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(axum::middleware::map_response(middleware::security_headers));
    if https {
        router = router.layer(axum::middleware::map_response(
            middleware::strict_transport_security,
        ));
    }
    router.layer(axum::middleware::from_fn(middleware::trace))
}
