//! Router tests of the portal resources and the OAuth2 authorization-code
//! sign-in (what the ArcGIS API for Python needs to connect).

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::ApiConfig;
use crate::tests::{PASSWORD, Reply, encode, harness, harness_with, request};

const AUTHORIZE: &str = "/arcgis/sharing/rest/oauth2/authorize";
const SIGNIN: &str = "/arcgis/sharing/oauth2/signin";
const TOKEN: &str = "/arcgis/sharing/rest/oauth2/token";
const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";

/// The JSON of the page's `var oAuthInfo = {...};`, as the client reads it.
fn oauth_info(page: &str) -> Value {
    let start = page
        .find("var oAuthInfo = ")
        .expect("oAuthInfo in the page")
        + 16;
    let end = page[start..].find("};").expect("end of oAuthInfo") + start + 1;
    serde_json::from_str(&page[start..end]).expect("oAuthInfo is JSON")
}

fn authorize_uri(client_id: &str, response_type: &str, redirect_uri: &str) -> String {
    format!(
        "{AUTHORIZE}?response_type={response_type}&client_id={client_id}&redirect_uri={}\
         &state=xyz&expiration=20160&allow_verification=false&style=dark&locale=en-US",
        encode(redirect_uri)
    )
}

async fn sign_in(h: &crate::tests::Harness, password: &str) -> (String, Reply) {
    let page = h
        .send(request(
            Method::GET,
            &authorize_uri("pythonapi", "code", OOB),
            None,
            &[],
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let state = oauth_info(&page.text)["oauth_state"]
        .as_str()
        .expect("oauth_state")
        .to_owned();
    let body = format!(
        "oauth_state={state}&authorize=True&username=admin&password={}",
        encode(password)
    );
    let reply = h
        .send(request(Method::POST, SIGNIN, Some(&body), &[]))
        .await;
    (state, reply)
}

fn code_of(page: &str) -> String {
    let start = page.find("<title>SUCCESS code=").expect("success title") + 20;
    let end = page[start..].find("</title>").expect("end of title") + start;
    page[start..end].to_owned()
}

async fn exchange(h: &crate::tests::Harness, code: &str) -> Reply {
    let body = format!(
        "grant_type=authorization_code&code={code}&client_id=pythonapi&redirect_uri={}&expiration=20160",
        encode(OOB)
    );
    h.send(request(Method::POST, TOKEN, Some(&body), &[])).await
}

#[tokio::test]
async fn info_and_portal_self_name_a_kubernetes_portal_under_the_public_url() {
    let h = harness_with(ApiConfig {
        public_url: "https://dr.example.org:7000".to_owned(),
        ..ApiConfig::default()
    });
    let info = h
        .send(request(
            Method::GET,
            "/arcgis/sharing/rest/info?f=json",
            None,
            &[("Host", "evil.example.org")],
        ))
        .await;
    assert_eq!(info.status, StatusCode::OK, "{}", info.text);
    assert_eq!(
        info.json()["authInfo"],
        json!({"isTokenBasedSecurity": true,
               "tokenServicesUrl": "https://dr.example.org:7000/arcgis/sharing/rest/generateToken"})
    );
    let root = h
        .send(request(
            Method::GET,
            "/arcgis/sharing/rest?f=json",
            None,
            &[],
        ))
        .await;
    assert_eq!(root.json()["currentVersion"], "11.4");

    // Anonymous: the portal's kind, no user.
    let anonymous = h
        .send(request(
            Method::POST,
            "/arcgis/sharing/rest/portals/self",
            Some("f=json"),
            &[],
        ))
        .await;
    let portal = anonymous.json();
    assert_eq!(portal["isPortal"], true);
    assert_eq!(
        portal["portalDeploymentType"],
        "ArcGISEnterpriseOnKubernetes"
    );
    assert_eq!(portal["allSSL"], true);
    assert!(portal.get("user").is_none(), "{portal}");
    // Signed in: the user, an administrator.
    let bearer = format!("Bearer {}", h.token);
    let signed_in = h
        .send(request(
            Method::POST,
            "/arcgis/sharing/rest/portals/self",
            Some("f=json"),
            &[("X-Esri-Authorization", &bearer)],
        ))
        .await;
    assert_eq!(signed_in.json()["user"]["username"], "admin");
    assert_eq!(signed_in.json()["user"]["role"], "org_admin");
    // A bad token is an error, not anonymous access.
    let bad = h
        .send(request(
            Method::GET,
            "/arcgis/sharing/rest/portals/self?f=json&token=forged",
            None,
            &[],
        ))
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn community_self_needs_a_token_and_shows_only_the_caller() {
    let h = harness();
    let me = h.get("/arcgis/sharing/rest/community/self").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    let me = me.json();
    assert_eq!(me["username"], "admin");
    assert_eq!(me["role"], "org_admin");
    assert!(
        me["privileges"]
            .as_array()
            .expect("privileges")
            .iter()
            .any(|p| p.as_str().is_some_and(|p| p.contains(":admin:")))
    );
    assert_eq!(
        h.get("/arcgis/sharing/rest/community/users/admin")
            .await
            .json()["username"],
        "admin"
    );
    assert_eq!(
        h.get("/arcgis/sharing/rest/community/users/someone")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let anonymous = h
        .send(request(
            Method::GET,
            "/arcgis/sharing/rest/community/self?f=json",
            None,
            &[],
        ))
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.json()["error"]["code"], 499);
}

#[tokio::test]
async fn other_portal_paths_stay_404() {
    let h = harness();
    for path in [
        "/arcgis/sharing/rest/search",
        "/arcgis/sharing/rest/content/items/abc",
        "/arcgis/sharing/rest/portals/self/users",
        "/arcgis/sharing/oauth2/approval",
    ] {
        assert_eq!(h.get(path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn the_authorization_code_flow_signs_in_a_user_once() {
    let h = harness();
    let (_, reply) = sign_in(&h, PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let code = code_of(&reply.text);
    assert_eq!(oauth_info(&reply.text), json!({"success": true}));

    let token = exchange(&h, &code).await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.text);
    let token = token.json();
    assert_eq!(token["username"], "admin");
    // 20160 minutes asked for, capped at the longest token lifetime (a day).
    assert_eq!(token["expires_in"], 24 * 60 * 60);
    let access = token["access_token"].as_str().expect("access_token");
    let bearer = format!("Bearer {access}");
    let status = h
        .send(request(
            Method::GET,
            "/arcgis/admin/system/disasterrecovery/status?f=json",
            None,
            &[("X-Esri-Authorization", &bearer)],
        ))
        .await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text);

    // A code works once.
    let again = exchange(&h, &code).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.text);
    assert!(again.text.contains("invalid_grant"), "{}", again.text);
}

#[tokio::test]
async fn a_wrong_password_gets_the_form_again_with_the_message() {
    let h = harness();
    let (state, reply) = sign_in(&h, "not-the-password").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(!reply.text.contains("SUCCESS"), "{}", reply.text);
    let info = oauth_info(&reply.text);
    assert_eq!(info["oauth_state"], state.as_str());
    assert_eq!(info["messages"], json!(["Invalid username or password."]));
    // The same sign-in may be completed with the right password.
    let body = format!(
        "oauth_state={state}&username=admin&password={}",
        encode(PASSWORD)
    );
    let reply = h
        .send(request(Method::POST, SIGNIN, Some(&body), &[]))
        .await;
    assert!(
        reply.text.contains("<title>SUCCESS code="),
        "{}",
        reply.text
    );
    // Then the sign-in is used up.
    let reply = h
        .send(request(Method::POST, SIGNIN, Some(&body), &[]))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn only_the_python_client_the_code_flow_and_out_of_band_redirects_are_accepted() {
    let h = harness();
    let cases = [
        (
            authorize_uri("someapp", "code", OOB),
            "Error: Invalid client_id",
        ),
        (
            authorize_uri("pythonapi", "code", "https://evil.example.org/cb"),
            "Invalid redirect_uri",
        ),
        (
            authorize_uri("pythonapi", "token", OOB),
            "unsupported_response_type",
        ),
    ];
    for (uri, message) in cases {
        let reply = h.send(request(Method::GET, &uri, None, &[])).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(reply.text.contains(message), "{uri}: {}", reply.text);
        assert!(!reply.text.contains("oAuthInfo"), "{uri}");
    }
    // Unknown codes, other grant types and codes in the URL are refused.
    assert_eq!(exchange(&h, "0123").await.status, StatusCode::BAD_REQUEST);
    let refresh = h
        .send(request(
            Method::POST,
            TOKEN,
            Some("grant_type=refresh_token&refresh_token=x&client_id=pythonapi"),
            &[],
        ))
        .await;
    assert!(
        refresh.text.contains("unsupported_grant_type"),
        "{}",
        refresh.text
    );
    let (_, reply) = sign_in(&h, PASSWORD).await;
    let code = code_of(&reply.text);
    let in_url = h
        .send(request(
            Method::POST,
            &format!("{TOKEN}?code={code}"),
            Some("grant_type=authorization_code&client_id=pythonapi"),
            &[],
        ))
        .await;
    assert_eq!(in_url.status, StatusCode::BAD_REQUEST);
    // A code is bound to its client.
    let body = format!("grant_type=authorization_code&code={code}&client_id=other");
    let other = h.send(request(Method::POST, TOKEN, Some(&body), &[])).await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST);
    // ... and was spent by that attempt.
    assert_eq!(exchange(&h, &code).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn signin_pages_keep_their_data_inert() {
    let h = harness();
    let page = h
        .send(request(
            Method::GET,
            &authorize_uri("pythonapi", "code", OOB),
            None,
            &[],
        ))
        .await;
    assert!(
        page.text
            .contains("<script type=\"text/plain\" id=\"oauth-info\">var oAuthInfo = {"),
        "{}",
        page.text
    );
    assert!(
        page.text
            .contains("action=\"/arcgis/sharing/oauth2/signin\"")
    );
    let csp = page
        .headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(csp.contains("default-src 'none'"), "{csp}");
}
