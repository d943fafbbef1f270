//! Tests of the HTML admin pages through the router: forms per operation,
//! the token in links and forms, escaping, self-reloading job pages, the
//! sign-in pages, and the plugins resource.

use axum::http::{Method, StatusCode, header};
use serde_json::json;

use crate::auth::Role;
use crate::tests::{DR, Harness, Reply, encode, harness, request};

/// An expected input: (parameter name, input type).
type Input = (&'static str, &'static str);

/// GET `path` as a browser does: HTML, token in the query string.
async fn page(h: &Harness, path: &str) -> Reply {
    let uri = format!("{path}?token={}", encode(&h.token));
    let reply = h.send(request(Method::GET, &uri, None, &[])).await;
    assert!(
        reply.headers[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/html"),
        "{}",
        reply.text
    );
    reply
}

/// The `<form>` element posting to `action`, or a panic.
fn form<'a>(html: &'a str, action: &str) -> &'a str {
    let at = html
        .find(&format!("action=\"{action}\""))
        .unwrap_or_else(|| panic!("no form posting to {action}:\n{html}"));
    let start = html[..at].rfind("<form").expect("form start");
    let end = html[start..].find("</form>").expect("form end") + start;
    &html[start..end]
}

fn assert_input(form: &str, name: &str, kind: &str) {
    let needle = format!("type=\"{kind}\" id=");
    let found = form.split('<').any(|tag| {
        tag.contains(&format!("name=\"{name}\""))
            && (tag.starts_with(&format!("input {needle}"))
                || (kind == "textarea" && tag.starts_with("textarea ")))
    });
    assert!(found, "no {kind} input '{name}' in:\n{form}");
}

#[tokio::test]
async fn every_operation_has_a_form_with_its_parameters() {
    let h = harness();
    let cases: [(String, &str, &[Input]); 9] = [
        (
            format!("{DR}/settings"),
            "update",
            &[("settings", "textarea")],
        ),
        (
            format!("{DR}/stores"),
            "register",
            &[
                ("storeName", "text"),
                ("settings", "textarea"),
                ("isDefault", "checkbox"),
            ],
        ),
        (
            format!("{DR}/stores/s1"),
            "update",
            &[("settings", "textarea")],
        ),
        (format!("{DR}/stores/s1"), "unregister", &[]),
        (format!("{DR}/stores/s1"), "validate", &[]),
        (
            format!("{DR}/stores/s1/backups"),
            "create",
            &[
                ("name", "text"),
                ("passcode", "password"),
                ("description", "text"),
                ("retentionDate", "text"),
            ],
        ),
        (
            format!("{DR}/stores/s1/backups/b1"),
            "update",
            &[("retentionDate", "text")],
        ),
        (
            format!("{DR}/stores/s1/backups/b1"),
            "restore",
            &[("passcode", "password")],
        ),
        (
            format!("{DR}/stores/s1/backups/b1"),
            "delete",
            &[("async", "checkbox")],
        ),
    ];
    for (path, operation, inputs) in cases {
        let reply = page(&h, &path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        let form = form(&reply.text, &format!("{path}/{operation}"));
        assert!(form.contains("method=\"post\""), "{form}");
        for (name, kind) in inputs {
            assert_input(form, name, kind);
        }
        assert!(
            form.contains("<input type=\"hidden\" name=\"f\" value=\"html\">"),
            "{form}"
        );
        assert!(
            form.contains(&format!(
                "<input type=\"hidden\" name=\"token\" value=\"{}\">",
                h.token
            )),
            "the token must travel with the form: {form}"
        );
    }
    // `verify` is on the backup page too; the settings form starts from the
    // current settings.
    let backup = page(&h, &format!("{DR}/stores/s1/backups/b1")).await;
    form(&backup.text, &format!("{DR}/stores/s1/backups/b1/verify"));
    let settings = page(&h, &format!("{DR}/settings")).await;
    assert!(
        settings.text.contains("&quot;64Gi&quot;"),
        "{}",
        settings.text
    );
}

#[tokio::test]
async fn links_carry_the_token_and_no_password_is_prefilled() {
    let h = harness();
    let reply = page(&h, "/arcgis/admin").await;
    let token_query = format!("token={}", encode(&h.token));
    let hrefs: Vec<&str> = reply
        .text
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(hrefs.len() >= 6, "{hrefs:?}");
    for href in hrefs {
        if href.contains("generateToken") {
            assert!(!href.contains("token="), "sign-in link: {href}");
        } else {
            assert!(href.contains(&token_query), "{href}");
        }
    }
    assert!(
        reply
            .text
            .contains("/arcgis/admin/system?f=html&amp;token=")
    );
    // The token given in a header is not copied into the page.
    let bearer = format!("Bearer {}", h.token);
    let reply = h
        .send(request(
            Method::GET,
            "/arcgis/admin",
            None,
            &[("authorization", &bearer)],
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(!reply.text.contains(&h.token));
    let backups = page(&h, &format!("{DR}/stores/s1/backups")).await;
    let passwords: Vec<&str> = backups
        .text
        .split('<')
        .filter(|tag| tag.starts_with("input type=\"password\""))
        .collect();
    assert_eq!(passwords.len(), 1, "{}", backups.text);
    assert!(!passwords[0].contains("value="), "{}", passwords[0]);
}

#[tokio::test]
async fn hostile_values_are_escaped() {
    let h = harness();
    let path = format!(
        "{DR}/stores/s1/backups/{}",
        encode("<img src=x onerror=alert(1)>")
    );
    let reply = page(&h, &path).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(!reply.text.contains("<script"), "{}", reply.text);
    assert!(
        reply
            .text
            .contains("&lt;script&gt;alert(&#39;d&#39;)&lt;/script&gt; &amp; co")
    );
    assert!(!reply.text.contains("<img"));
    assert!(reply.text.contains("&lt;img src=x onerror=alert(1)&gt;"));
    let stores = page(&h, &format!("{DR}/stores")).await;
    assert!(!stores.text.contains("<script"), "{}", stores.text);
}

#[tokio::test]
async fn job_pages_reload_only_while_the_job_runs() {
    let h = harness();
    let refresh = "<meta http-equiv=\"refresh\" content=\"2\">";
    let running = page(&h, "/arcgis/admin/jobs/j2").await;
    assert!(running.text.contains(refresh), "{}", running.text);
    let done = page(&h, "/arcgis/admin/jobs/j1").await;
    assert!(
        !done.text.contains("http-equiv=\"refresh\""),
        "{}",
        done.text
    );
    let status = page(&h, &format!("{DR}/status")).await;
    assert!(!status.text.contains("http-equiv=\"refresh\""));
}

#[tokio::test]
async fn operation_answers_link_to_their_job() {
    let h = harness();
    let body = format!(
        "name=b2&passcode=long-enough&description=&retentionDate=-1&f=html&token={}",
        encode(&h.token)
    );
    let path = format!("{DR}/stores/s1/backups/create");
    let reply = h.send(request(Method::POST, &path, Some(&body), &[])).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(reply.text.starts_with("<!DOCTYPE html>"));
    assert!(reply.text.contains("SUBMITTED"));
    assert!(
        reply.text.contains(&format!(
            "href=\"/arcgis/admin/jobs/j123?f=html&amp;token={}\"",
            encode(&h.token)
        )),
        "{}",
        reply.text
    );
    assert!(
        reply
            .text
            .contains(&format!("{DR}/stores/s1/backups?f=html"))
    );
    // A refused operation answers an error page.
    let body = format!("name=b3&passcode=short&f=html&token={}", encode(&h.token));
    let reply = h.send(request(Method::POST, &path, Some(&body), &[])).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.text.contains("Error 400"), "{}", reply.text);
}

#[tokio::test]
async fn sign_in_pages() {
    let h = harness();
    let login = "/arcgis/sharing/rest/generateToken";
    let reply = h.send(request(Method::GET, login, None, &[])).await;
    assert_eq!(reply.status, StatusCode::OK);
    let form = form(&reply.text, login);
    assert_input(form, "username", "text");
    assert_input(form, "password", "password");
    assert!(form.contains("name=\"f\" value=\"html\""), "{form}");
    // JSON clients still get the operation's 405 on GET.
    let json = h
        .send(request(Method::GET, &format!("{login}?f=json"), None, &[]))
        .await;
    assert_eq!(json.status, StatusCode::METHOD_NOT_ALLOWED);

    let body = "username=admin&password=admin-password&f=html";
    let reply = h.send(request(Method::POST, login, Some(body), &[])).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let target = "/arcgis/admin?f=html&amp;token=";
    assert!(
        reply.text.contains(&format!(
            "<meta http-equiv=\"refresh\" content=\"0; url={target}"
        )),
        "{}",
        reply.text
    );
    let token = reply
        .text
        .split(target)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("token in the link");
    let admin = h
        .send(request(
            Method::GET,
            &format!("/arcgis/admin?f=json&token={token}"),
            None,
            &[],
        ))
        .await;
    assert_eq!(admin.status, StatusCode::OK, "{}", admin.text);

    let body = "username=admin&password=wrong&f=html";
    let reply = h.send(request(Method::POST, login, Some(body), &[])).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.text.contains("Invalid username or password."));
    assert!(reply.text.contains(&format!("href=\"{login}?f=html\"")));
}

#[tokio::test]
async fn token_errors_link_to_the_sign_in_page() {
    let h = harness();
    let reply = h
        .send(request(Method::GET, "/arcgis/admin", None, &[]))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.text.contains("Error 499"));
    assert!(
        reply
            .text
            .contains("href=\"/arcgis/sharing/rest/generateToken?f=html\""),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn plugins_resource_for_every_role() {
    let h = harness();
    h.auth
        .ensure_user("viewer", Role::Viewer, "viewer-password")
        .expect("viewer");
    let viewer = h
        .auth
        .issue_token("viewer", std::time::Duration::from_secs(600))
        .expect("token")
        .token;
    // A viewer sees the backup page without forms it could not use.
    let uri = format!("{DR}/stores/s1/backups/b1?token={viewer}");
    let reply = h.send(request(Method::GET, &uri, None, &[])).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(!reply.text.contains("<form"), "{}", reply.text);
    let admin_page = page(&h, &format!("{DR}/stores/s1/backups/b1")).await;
    assert_eq!(admin_page.text.matches("<form").count(), 4);

    let uri = format!("/arcgis/admin/system/plugins?f=json&token={viewer}");
    let reply = h.send(request(Method::GET, &uri, None, &[])).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let plugins = reply.json();
    assert_eq!(plugins["plugins"][0]["name"], "Stage Object store");
    assert_eq!(plugins["plugins"][1]["kind"], "store-adapter");

    let one = h.get("/arcgis/admin/system/plugins/store-fs").await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json()["witPackage"], "drhost:plugin@0.2.1");
    let spaced = h
        .get(&format!(
            "/arcgis/admin/system/plugins/{}",
            encode("Stage Object store")
        ))
        .await;
    assert_eq!(spaced.json()["plugin"], "object-store-fs");
    let missing = h.get("/arcgis/admin/system/plugins/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let html = page(&h, "/arcgis/admin/system/plugins").await;
    assert!(html.text.contains(&format!(
        "href=\"/arcgis/admin/system/plugins/Stage%20Object%20store?f=html&amp;token={}\"",
        encode(&h.token)
    )));
    assert!(html.text.contains("<th>digest</th>"), "{}", html.text);
    let system = h.get("/arcgis/admin/system").await.json();
    assert_eq!(
        system,
        json!({"resources": ["disasterrecovery", "tasks", "plugins"]})
    );
}
