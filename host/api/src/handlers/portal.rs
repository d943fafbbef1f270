//! The portal resources a portal client reads before it turns to the admin
//! API (the ArcGIS API for Python's `GIS(...)`): `sharing/rest`, its `info`
//! (where tokens come from), `portals/self` (an Enterprise on Kubernetes
//! deployment, which sends the client to `/<context>/admin`), and the
//! signed-in user (`community/self`, `community/users/<self>`). Nothing else
//! of a portal: no content, groups or other users.

use axum::http::request::Parts;
use serde_json::{Value, json};

use crate::App;
use crate::auth::{Identity, Role};
use crate::error::ApiError;
use crate::extract;
use crate::params::Params;

/// `portalDeploymentType` of ArcGIS Enterprise on Kubernetes; the ArcGIS API
/// for Python takes it to mean "the admin API is at `/<context>/admin`".
const DEPLOYMENT_TYPE: &str = "ArcGISEnterpriseOnKubernetes";
/// The organisation id every user belongs to (there is one organisation).
const ORG_ID: &str = "0123456789ABCDEF";

/// `sharing/rest`.
pub(crate) fn root(app: &App) -> Value {
    json!({"currentVersion": version(app)})
}

/// `sharing/rest/info`: token-based security, tokens from `generateToken`.
pub(crate) fn info(app: &App) -> Value {
    json!({
        "owningSystemUrl": app.absolute_url(&app.context_prefix()),
        "authInfo": {
            "isTokenBasedSecurity": true,
            "tokenServicesUrl": app.absolute_url(&app.login_path()),
        },
        "currentVersion": version(app),
        "fullVersion": version(app),
    })
}

/// `sharing/rest/portals/self`, with the signed-in user when the request
/// carries a valid token (a bad token is an error, as everywhere).
pub(crate) fn portal_self(app: &App, identity: Option<&Identity>) -> Value {
    let mut value = json!({
        "id": ORG_ID,
        "name": "drhost",
        "portalName": "drhost",
        "portalMode": "singletenant",
        "isPortal": true,
        "portalDeploymentType": DEPLOYMENT_TYPE,
        "currentVersion": version(app),
        "allSSL": app.served_over_https(),
        "supportsOAuth": true,
        "access": "private",
    });
    if let Some(identity) = identity {
        value["user"] = user(identity);
    }
    value
}

/// `community/self` and `community/users/<self>`: the signed-in user.
pub(crate) fn user(identity: &Identity) -> Value {
    // Only administrators get the portal's administrator role and privileges,
    // which is what sends the client on to the admin API.
    let (role, privileges): (&str, &[&str]) = match identity.role {
        Role::Administrator => (
            "org_admin",
            &[
                "portal:admin:viewUsers",
                "portal:admin:updateUsers",
                "portal:admin:manageSecurity",
                "portal:admin:manageEnterprise",
            ],
        ),
        _ => ("org_user", &["portal:user:viewOrgUsers"]),
    };
    json!({
        "username": identity.username,
        "fullName": identity.username,
        "role": role,
        "roleId": role,
        "drhostRole": identity.role,
        "privileges": privileges,
        "orgId": ORG_ID,
        "access": "org",
        "disabled": false,
        "provider": "arcgis",
        "userLicenseTypeId": "creatorUT",
    })
}

/// The request's identity when it carries a token; `None` without one.
pub(crate) fn optional_identity(
    app: &App,
    parts: &Parts,
    params: &Params,
) -> Result<Option<Identity>, ApiError> {
    match extract::request_token(params, &parts.headers) {
        Some(token) => Ok(Some(app.auth.verify_token(token)?)),
        None => Ok(None),
    }
}

/// `community/users/<name>`: only the caller's own entry is served.
pub(crate) fn community_user(identity: &Identity, name: &str) -> Result<Value, ApiError> {
    if identity.username == name {
        Ok(user(identity))
    } else {
        Err(ApiError::NotFound(format!(
            "User '{}' was not found.",
            name.chars().take(64).collect::<String>()
        )))
    }
}

/// The version string of the portal resources (the admin API's).
fn version(app: &App) -> String {
    app.config.current_version.to_string()
}
