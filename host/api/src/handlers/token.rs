//! `POST /<context>/sharing/rest/generateToken`.
//!
//! Parameters: `username`, `password` (body only), `client`
//! (`referer`|`ip`|`requestip`, default `requestip`), `referer`, `ip`,
//! `expiration` (minutes), `f`. Tokens are not bound to the client: Esri's
//! own CLI asks for `client=referer` and then sends no `Referer`.
//! Answers `{"token": ..., "expires": <epoch ms>, "ssl": <served over
//! HTTPS>}` (the reference's `ssl` says the API is HTTPS-only); refusals
//! answer code 400 "Unable to generate token." and never tell whether the
//! user exists. Guessing is slowed down per username and client address
//! (HTTP 429, see [`crate::throttle`]); browsers posting on behalf of another
//! site are refused (HTTP 403, see [`crate::origin`]).

use std::time::{Duration, Instant};

use axum::http::request::Parts;
use serde_json::{Value, json};

use crate::App;
use crate::auth::Identity;
use crate::error::ApiError;
use crate::extract;
use crate::origin;
use crate::params::Params;
use crate::throttle::client::ClientKey;
use crate::throttle::logins::Attempt;
use crate::throttle::retry_after_secs;

pub(crate) const INVALID_CREDENTIALS: &str = "Invalid username or password.";

pub(crate) async fn generate(app: &App, parts: &Parts, params: &Params) -> Result<Value, ApiError> {
    let refuse = |detail: &str| ApiError::TokenGeneration(vec![detail.to_owned()]);
    if origin::cross_site(&parts.headers) {
        tracing::warn!("generateToken refused: posted from another site");
        return Err(ApiError::CrossSiteLogin);
    }
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

    let identity = check_password(app, parts, params, username, password).await?;
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

/// Checks a password as every sign-in does (`generateToken`, the OAuth2
/// sign-in page): the attempt is reserved against the throttle's budgets
/// before Argon2 runs, in one of the gate's bounded slots.
pub(crate) async fn check_password(
    app: &App,
    parts: &Parts,
    params: &Params,
    username: &str,
    password: &str,
) -> Result<Identity, ApiError> {
    let peer = ClientKey::of(&parts.extensions);
    // A valid token marks a client that already signed in: it keeps its way
    // in while others are throttled.
    let token_user = extract::request_token(params, &parts.headers)
        .and_then(|token| app.auth.verify_token(token).ok())
        .map(|identity| identity.username);
    let attempt = Attempt {
        username,
        client: peer,
        token_user: token_user.as_deref(),
    };
    let reservation = app
        .logins
        .reserve(&attempt, Instant::now())
        .map_err(|throttled| {
            tracing::warn!(budget = %throttled.by, "sign-in refused: too many failed logins");
            ApiError::TooManyLogins {
                retry_after: retry_after_secs(throttled.wait),
            }
        })?;
    let favoured = app
        .logins
        .favoured(peer, token_user.is_some(), Instant::now());
    let pass = match app.login_gate.enter(peer, favoured).await {
        Ok(pass) => pass,
        Err(busy) => {
            reservation.cancel(Instant::now());
            tracing::warn!(%busy, "sign-in refused");
            return Err(ApiError::LoginsBusy { retry_after: 1 });
        }
    };
    let auth = app.auth.clone();
    let (name, password) = (username.to_owned(), password.to_owned());
    // The pass goes with the check, so its slot stays taken until Argon2 is
    // done even if the client hangs up and this future is dropped.
    let identity = tokio::task::spawn_blocking(move || {
        let identity = auth.authenticate(&name, &password);
        drop(pass);
        identity
    })
    .await
    .map_err(|_| ApiError::internal())?;
    let Some(identity) = identity else {
        reservation.failed();
        tracing::warn!("sign-in refused: invalid username or password");
        return Err(ApiError::TokenGeneration(vec![
            INVALID_CREDENTIALS.to_owned(),
        ]));
    };
    reservation.succeeded(Instant::now());
    Ok(identity)
}
