//! `POST /<context>/sharing/rest/generateToken`.
//!
//! Parameters: `username`, `password` (body only), `client`
//! (`referer`|`ip`|`requestip`, default `requestip`), `referer`, `ip`,
//! `expiration` (minutes), `f`. Tokens are not bound to the client: Esri's
//! own CLI asks for `client=referer` and then sends no `Referer`.
//! Answers `{"token": ..., "expires": <epoch ms>, "ssl": <served over
//! HTTPS>}` (the reference's `ssl` says the API is HTTPS-only); refusals
//! answer code 400 "Unable to generate token." and never tell whether the
//! user exists. Repeated failures for a username are slowed down (HTTP 429,
//! see [`crate::throttle`]).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::App;
use crate::error::ApiError;
use crate::params::Params;

const INVALID_CREDENTIALS: &str = "Invalid username or password.";

pub(crate) async fn generate(app: &App, params: &Params) -> Result<Value, ApiError> {
    let refuse = |detail: &str| ApiError::TokenGeneration(vec![detail.to_owned()]);
    if params.in_query("password") {
        return Err(refuse(
            "The password must be sent in the request body, not in the URL.",
        ));
    }
    let mut problems = Vec::new();
    let username = params.text("username");
    let password = params.text("password");
    if username.is_none() {
        problems.push("'username' must be specified.".to_owned());
    }
    if password.is_none() {
        problems.push("'password' must be specified.".to_owned());
    }
    let client = params.text("client").unwrap_or("requestip");
    if client.eq_ignore_ascii_case("referer") {
        if params.text("referer").is_none() {
            problems.push("'referer' must be specified.".to_owned());
        }
    } else if client.eq_ignore_ascii_case("ip") {
        if params.text("ip").is_none() {
            problems.push("'ip' must be specified.".to_owned());
        }
    } else if !client.eq_ignore_ascii_case("requestip") {
        problems.push("'client' must be referer, ip or requestip.".to_owned());
    }
    let minutes = match params.positive_integer("expiration") {
        Ok(minutes) => minutes.unwrap_or(app.config.default_token_minutes),
        Err(error) => {
            problems.push(error.to_string());
            0
        }
    };
    let (Some(username), Some(password), true) = (username, password, problems.is_empty()) else {
        return Err(ApiError::TokenGeneration(problems));
    };
    let minutes = minutes.min(app.config.max_token_minutes).max(1);

    if let Err(wait) = app.logins.check(username, Instant::now()) {
        tracing::warn!("generateToken refused: too many failed logins for the user");
        return Err(ApiError::TooManyLogins {
            retry_after: wait.as_secs_f64().ceil() as u64,
        });
    }
    // Argon2 is slow and memory-hungry: run it off the async threads, a few
    // at a time.
    let _permit = app
        .login_slots
        .acquire()
        .await
        .map_err(|_| ApiError::internal())?;
    let auth = app.auth.clone();
    let (name, password) = (username.to_owned(), password.to_owned());
    let identity = tokio::task::spawn_blocking(move || auth.authenticate(&name, &password))
        .await
        .map_err(|_| ApiError::internal())?;
    let Some(identity) = identity else {
        app.logins.failed(username, Instant::now());
        tracing::warn!("generateToken refused: invalid username or password");
        return Err(refuse(INVALID_CREDENTIALS));
    };
    app.logins.succeeded(username);
    let issued = app
        .auth
        .issue_token(
            &identity.username,
            Duration::from_secs(minutes.saturating_mul(60)),
        )
        .map_err(|error| {
            tracing::error!(%error, "cannot issue token");
            ApiError::internal()
        })?;
    tracing::info!(user = %identity.username, minutes, "token issued");
    Ok(json!({"token": issued.token, "expires": issued.expires, "ssl": app.served_over_https()}))
}
