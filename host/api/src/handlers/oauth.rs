//! OAuth2 authorization-code sign-in against drhost's own users, the
//! default login of the ArcGIS API for Python (client id `pythonapi`):
//!
//! 1. `GET sharing/rest/oauth2/authorize?client_id=pythonapi&response_type=code
//!    &redirect_uri=urn:ietf:wg:oauth:2.0:oob&expiration=<minutes>` answers a
//!    sign-in page; its `oauth_state` is in the form and in the page's
//!    `var oAuthInfo = {...}` data, which is where the client reads it.
//! 2. `POST sharing/oauth2/signin` with `oauth_state`, `username`,
//!    `password` answers a page titled `SUCCESS code=<code>`.
//! 3. `POST sharing/rest/oauth2/token` with `grant_type=authorization_code`,
//!    `code`, `client_id`, `redirect_uri` answers
//!    `{"access_token", "expires_in", "username", ...}`.
//!
//! Only that client and the out-of-band redirect URI are accepted (so a code
//! never travels to another site), only `response_type=code` (no implicit
//! grant: tokens stay out of URLs), codes live a minute and work once, and
//! failed passwords are slowed down like `generateToken`'s. No refresh
//! tokens: the client signs in again when its token expires.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::{Value, json};

use super::token::{self, INVALID_CREDENTIALS};
use crate::App;
use crate::error::ApiError;
use crate::format::{self, Format, escape};
use crate::oauth::{CLIENT_ID, OOB_REDIRECT_URI, PendingSignin};
use crate::origin;
use crate::params::Params;

/// What the client looks for when its client id is refused.
const INVALID_CLIENT: &str = "Error: Invalid client_id";
/// What the ArcGIS API for Python recognises as throttling (a wrong password
/// reads as `generateToken`'s `INVALID_CREDENTIALS`, which it recognises too).
const TOO_MANY_ATTEMPTS: &str = "Too many invalid attempts. Please try again later.";

/// `GET sharing/rest/oauth2/authorize`: the sign-in page.
pub(crate) fn authorize(app: &App, params: &Params) -> Response {
    let client_id = params.text("client_id").unwrap_or_default();
    if client_id != CLIENT_ID {
        tracing::warn!("oauth2/authorize refused: unknown client_id");
        return error_page(StatusCode::BAD_REQUEST, INVALID_CLIENT);
    }
    let redirect_uri = params.text("redirect_uri").unwrap_or(OOB_REDIRECT_URI);
    if redirect_uri != OOB_REDIRECT_URI {
        return error_page(
            StatusCode::BAD_REQUEST,
            &format!("Error: Invalid redirect_uri. Only {OOB_REDIRECT_URI} is accepted."),
        );
    }
    if params.text("response_type") != Some("code") {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Error: unsupported_response_type. Only the authorization code flow \
             (response_type=code) is supported.",
        );
    }
    let expiration_minutes = params
        .text("expiration")
        .and_then(|minutes| minutes.trim().parse::<u64>().ok());
    let oauth_state = app.oauth.begin(
        PendingSignin {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            expiration_minutes,
        },
        Instant::now(),
    );
    signin_page(app, &oauth_state, None)
}

/// `POST sharing/oauth2/signin`: checks the password and answers the code.
pub(crate) async fn signin(app: &App, parts: &Parts, params: &Params) -> Response {
    // A forged sign-in would hand the victim a code for the attacker's account.
    if origin::cross_site(&parts.headers) {
        tracing::warn!("oauth2 sign-in refused: posted from another site");
        return error_page(
            StatusCode::FORBIDDEN,
            "Error: sign-ins posted from another site are refused.",
        );
    }
    if params.in_query("password") {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Error: the password must be sent in the request body, not in the URL.",
        );
    }
    let Some(oauth_state) = params.text("oauth_state") else {
        return error_page(StatusCode::BAD_REQUEST, "Error: oauth_state is missing.");
    };
    let now = Instant::now();
    if app.oauth.signin(oauth_state, now).is_none() {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Error: the sign-in expired or is unknown; open the authorize page again.",
        );
    }
    let (Some(username), Some(password)) = (params.text("username"), params.text("password"))
    else {
        return signin_page(app, oauth_state, Some(INVALID_CREDENTIALS));
    };
    let identity = match token::check_password(app, parts, params, username, password).await {
        Ok(identity) => identity,
        Err(ApiError::TooManyLogins { .. }) => {
            return signin_page(app, oauth_state, Some(TOO_MANY_ATTEMPTS));
        }
        Err(ApiError::TokenGeneration(_)) => {
            return signin_page(app, oauth_state, Some(INVALID_CREDENTIALS));
        }
        Err(error) => return error.into_response_as(Format::Html, "Sign in"),
    };
    let Some(code) = app.oauth.issue_code(oauth_state, &identity.username, now) else {
        return error_page(StatusCode::BAD_REQUEST, "Error: the sign-in expired.");
    };
    tracing::info!(user = %identity.username, "oauth2 sign-in: code issued");
    success_page(&code)
}

/// `POST sharing/rest/oauth2/token`: exchanges a code for an access token.
pub(crate) fn token(app: &App, params: &Params) -> Result<Value, ApiError> {
    let refuse = |message: &str| ApiError::BadRequest(message.to_owned());
    if params.in_query("code") {
        return Err(refuse(
            "The code must be sent in the request body, not in the URL.",
        ));
    }
    match params.text("grant_type") {
        Some("authorization_code") => {}
        _ => {
            return Err(refuse(
                "unsupported_grant_type: only grant_type=authorization_code is supported.",
            ));
        }
    }
    let code = params
        .text("code")
        .ok_or_else(|| refuse("code is missing."))?;
    // Redeemed before anything else is checked: a code works once, even
    // when the exchange then fails.
    let grant = app
        .oauth
        .redeem(code, Instant::now())
        .ok_or_else(|| refuse("invalid_grant: the code is invalid, used or expired."))?;
    if params.text("client_id") != Some(grant.client_id.as_str())
        || params.text("redirect_uri").unwrap_or(OOB_REDIRECT_URI) != grant.redirect_uri
    {
        tracing::warn!("oauth2/token refused: client_id or redirect_uri differ from the sign-in's");
        return Err(refuse(
            "invalid_grant: client_id or redirect_uri differ from the sign-in's.",
        ));
    }
    let minutes = params
        .text("expiration")
        .and_then(|minutes| minutes.trim().parse::<u64>().ok())
        .or(grant.expiration_minutes)
        .unwrap_or(app.config.default_token_minutes)
        .clamp(1, app.config.max_token_minutes.max(1));
    let issued = app
        .auth
        .issue_token(
            &grant.username,
            Duration::from_secs(minutes.saturating_mul(60)),
        )
        .map_err(|error| {
            // The user was removed between sign-in and exchange.
            tracing::warn!(%error, "oauth2/token: cannot issue a token");
            refuse("invalid_grant: the user can no longer sign in.")
        })?;
    tracing::info!(user = %grant.username, minutes, "oauth2 token issued");
    Ok(json!({
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": minutes.saturating_mul(60),
        "username": grant.username,
        "ssl": app.served_over_https(),
    }))
}

/// The sign-in form; `message` says why a previous attempt failed.
fn signin_page(app: &App, oauth_state: &str, message: Option<&str>) -> Response {
    let mut info = json!({"oauth_state": oauth_state, "client_id": CLIENT_ID});
    if let Some(message) = message {
        info["messages"] = json!([message]);
    }
    let mut body = format::head("Sign in to drhost", false);
    body.push_str(&oauth_info_script(&info));
    body.push_str("<h1>Sign in to drhost</h1>\n");
    if let Some(message) = message {
        body.push_str(&format!("<p class=\"error\">{}</p>\n", escape(message)));
    }
    let action = signin_path(app);
    body.push_str(&format!(
        "<form method=\"post\" action=\"{}\" id=\"signin\" class=\"operation\">\n<fieldset>\n\
         <legend>ArcGIS API for Python</legend>\n\
         <input type=\"hidden\" name=\"oauth_state\" value=\"{}\">\n\
         <p><label for=\"username\">username</label> \
         <input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required></p>\n\
         <p><label for=\"password\">password</label> \
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required></p>\n\
         <button type=\"submit\">Sign in</button>\n</fieldset>\n</form>\n</body>\n</html>\n",
        escape(&action),
        escape(oauth_state),
    ));
    format::respond(StatusCode::OK, "text/html; charset=utf-8", body)
}

/// The out-of-band answer: the code in the title, where the client reads it.
fn success_page(code: &str) -> Response {
    let code = escape(code);
    let mut body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>SUCCESS code={code}</title>\n</head>\n<body>\n"
    );
    body.push_str(&oauth_info_script(&json!({"success": true})));
    body.push_str(&format!(
        "<h1>Signed in</h1>\n<p>Authorization code: <code id=\"code\">{code}</code></p>\n\
         <p><small>It is valid for one minute and can be used once.</small></p>\n</body>\n</html>\n"
    ));
    format::respond(StatusCode::OK, "text/html; charset=utf-8", body)
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let mut body = format::head("Sign in to drhost", false);
    body.push_str(&format!(
        "<h1>Sign in to drhost</h1>\n<p class=\"error\">{}</p>\n</body>\n</html>\n",
        escape(message)
    ));
    format::respond(status, "text/html; charset=utf-8", body)
}

/// `var oAuthInfo = {...};` in a data block: the page's content security
/// policy runs no script, and `text/plain` is not one anyway; clients read
/// the text. `<`, `>` and `&` are escaped so the data cannot end the element.
fn oauth_info_script(info: &Value) -> String {
    let json = info
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    format!("<script type=\"text/plain\" id=\"oauth-info\">var oAuthInfo = {json};</script>\n")
}

/// `/<context>/sharing/oauth2/signin`.
fn signin_path(app: &App) -> String {
    format!("{}/sharing/oauth2/signin", app.context_prefix())
}
