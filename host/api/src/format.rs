//! Response formats: `f=json` (compact), `pjson` (pretty) and `html` (the
//! default when `f` is absent, as in the reference API).
//!
//! The HTML view is a plain server-rendered page (no scripts): the resource
//! path as title, its JSON as readable tables ([`crate::html_value`]), links
//! to child resources, a form per operation ([`crate::forms`]), and the JSON
//! itself pretty-printed. Every link and form carries the caller's token, as
//! the reference API's HTML pages do, since there are no cookies. Pages of
//! running jobs reload themselves.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::ApiError;
use crate::forms::{self, Form};

/// Kept here so that `format::escape` stays where callers found it.
pub use crate::escape::escape;

/// The `f` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Html,
    Json,
    Pjson,
}

impl Format {
    /// Parses `f` (case-insensitive); absent or empty means HTML.
    pub fn parse(value: Option<&str>) -> Result<Format, ApiError> {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return Ok(Format::Html);
        };
        match value.to_ascii_lowercase().as_str() {
            "html" => Ok(Format::Html),
            "json" => Ok(Format::Json),
            "pjson" => Ok(Format::Pjson),
            _ => Err(ApiError::BadRequest(
                "Invalid value for parameter 'f': use html, json or pjson.".to_owned(),
            )),
        }
    }
}

/// What the HTML view shows besides the JSON.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Heading and `<title>`, usually the request path.
    pub title: String,
    /// Path the links are relative to (the resource's own path).
    pub base_path: String,
    /// Child resources (GET).
    pub resources: Vec<String>,
    /// Operations (POST), each shown as a form.
    pub operations: Vec<String>,
    /// The operations' forms; an operation without one gets a form without
    /// parameters.
    pub(crate) forms: Vec<Form>,
    /// The caller's token, carried by every link and form; `None` when it
    /// came in a header (then the client adds it itself).
    pub token: Option<String>,
    /// Reload the page every [`REFRESH_SECONDS`] (a job is running).
    pub refresh: bool,
    /// Other pages worth a link, e.g. a job's: (label, path).
    pub links: Vec<(String, String)>,
    /// The navigation bar's targets; `None` for no bar.
    pub nav: Option<Nav>,
}

/// Targets of the navigation bar on top of every page.
#[derive(Debug, Clone, Default)]
pub struct Nav {
    /// `/<context>/admin`.
    pub admin: String,
    /// `/<context>/sharing/rest/generateToken`.
    pub login: String,
}

/// How often pages of running jobs reload themselves, in seconds.
pub const REFRESH_SECONDS: u32 = 2;

/// The pages' only stylesheet, inline. The security headers allow exactly
/// this text by its hash (`style-src 'sha256-...'`), so the pages need no
/// second request and still allow no other style and no script at all.
pub(crate) const STYLE: &str = "body{font-family:sans-serif;margin:1em 2em;color:#222}\
nav{background:#234;padding:.5em 2em;margin:-1em -2em 1em}nav a{color:#fff;margin-right:1.2em}\
h1{font-size:1.3em;word-break:break-all}h2{font-size:1.1em;margin-top:1.4em}\
table{border-collapse:collapse;margin:.2em 0}\
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}\
th{background:#eef2f6}.null{color:#888}.refresh{color:#a60}small{white-space:nowrap}\
form.operation fieldset{border:1px solid #bbb;margin:.6em 0;max-width:52em}legend{font-weight:bold}\
label{display:inline-block;min-width:9em}pre{background:#f6f6f6;padding:.5em;overflow:auto}";

/// Renders a successful result.
pub fn render(format: Format, status: StatusCode, value: &Value, page: &Page) -> Response {
    match format {
        Format::Html => html(status, page, value),
        other => json(other, status, value),
    }
}

/// JSON (`Format::Json`) or pretty JSON (anything else).
pub fn json(format: Format, status: StatusCode, value: &Value) -> Response {
    let text = if format == Format::Json {
        serde_json::to_string(value)
    } else {
        serde_json::to_string_pretty(value)
    };
    // Serialising a `Value` cannot fail: its map keys are strings.
    let text = text.unwrap_or_else(|_| "{}".to_owned());
    respond(status, "application/json; charset=utf-8", text)
}

/// The HTML view of a resource or of an operation's answer.
pub fn html(status: StatusCode, page: &Page, value: &Value) -> Response {
    let token = page.token.as_deref();
    let mut body = head(&page.title, page.refresh);
    nav(&mut body, page.nav.as_ref(), token);
    body.push_str(&format!("<h1>{}</h1>\n", escape(&page.title)));
    if page.refresh {
        body.push_str(&format!(
            "<p class=\"refresh\">Running: this page reloads every {REFRESH_SECONDS} s.</p>\n"
        ));
    }
    body.push_str("<section class=\"value\">\n");
    body.push_str(&crate::html_value::render(value));
    body.push_str("\n</section>\n");
    if !page.links.is_empty() {
        body.push_str("<h2>See also</h2>\n<ul>\n");
        for (label, path) in &page.links {
            body.push_str(&format!(
                "<li><a href=\"{}\">{}</a></li>\n",
                escape(&link(path, token)),
                escape(label)
            ));
        }
        body.push_str("</ul>\n");
    }
    link_list(
        &mut body,
        "Child resources",
        &page.base_path,
        &page.resources,
        token,
    );
    if !page.operations.is_empty() {
        body.push_str("<h2>Operations (POST)</h2>\n");
        for operation in &page.operations {
            let form = page
                .forms
                .iter()
                .find(|form| &form.operation == operation)
                .cloned()
                .unwrap_or_else(|| Form {
                    operation: operation.clone(),
                    fields: vec![],
                });
            body.push_str(&forms::render(&form, &page.base_path, token));
        }
    }
    let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
    body.push_str("<details>\n<summary>JSON</summary>\n<pre>");
    body.push_str(&escape(&pretty));
    body.push_str("</pre>\n</details>\n");
    body.push_str(&format!(
        "<p>Formats: <a href=\"{}\">json</a> | <a href=\"{}\">pjson</a></p>\n",
        escape(&format_link("json", token)),
        escape(&format_link("pjson", token)),
    ));
    body.push_str("</body>\n</html>\n");
    respond(status, "text/html; charset=utf-8", body)
}

/// `path?f=html`, plus the token if there is one.
pub(crate) fn link(path: &str, token: Option<&str>) -> String {
    match token {
        Some(token) => format!("{path}?f=html&token={}", crate::pct::encode_segment(token)),
        None => format!("{path}?f=html"),
    }
}

fn format_link(format: &str, token: Option<&str>) -> String {
    match token {
        Some(token) => format!("?f={format}&token={}", crate::pct::encode_segment(token)),
        None => format!("?f={format}"),
    }
}

fn nav(body: &mut String, nav: Option<&Nav>, token: Option<&str>) {
    let Some(nav) = nav else {
        return;
    };
    let admin = nav.admin.trim_end_matches('/');
    let targets = [
        ("Admin", admin.to_owned()),
        (
            "DR status",
            format!("{admin}/system/disasterrecovery/status"),
        ),
        ("Stores", format!("{admin}/system/disasterrecovery/stores")),
        ("Jobs", format!("{admin}/jobs")),
        ("Plugins", format!("{admin}/system/plugins")),
    ];
    body.push_str("<nav>");
    for (label, path) in targets {
        body.push_str(&format!(
            "<a href=\"{}\">{label}</a>",
            escape(&link(&path, token))
        ));
    }
    body.push_str(&format!(
        "<a href=\"{}\">Sign in</a>",
        escape(&link(&nav.login, None))
    ));
    body.push_str("</nav>\n");
}

/// Errors render like results: JSON or the HTML error page, plus the headers
/// the error calls for. This lives on the rendering side so that
/// [`crate::error`] stays a leaf that knows nothing of formats.
impl ApiError {
    /// The response in the requested format; `title` heads the HTML page.
    pub fn into_response_as(self, format: Format, title: &str) -> Response {
        let response = match format {
            Format::Html => html_error(self.status(), title, &self),
            other => json(other, self.status(), &self.to_json()),
        };
        self.with_headers(response)
    }

    /// Adds the headers the error calls for (`Allow`, `Retry-After`).
    pub(crate) fn with_headers(&self, mut response: Response) -> Response {
        if let ApiError::MethodNotAllowed { allow, .. } = self {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if let ApiError::TooManyLogins { retry_after }
        | ApiError::LoginsBusy { retry_after }
        | ApiError::TooManyPasscodes { retry_after } = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_response_as(Format::Json, "Error")
    }
}

/// The HTML view of an error.
pub fn html_error(status: StatusCode, title: &str, error: &ApiError) -> Response {
    html_error_with_links(status, title, error, &[])
}

/// The HTML view of an error with links onwards, e.g. to the login page
/// after a token error: (label, href).
pub fn html_error_with_links(
    status: StatusCode,
    title: &str,
    error: &ApiError,
    links: &[(String, String)],
) -> Response {
    let mut body = head(title, false);
    body.push_str(&format!("<h1>{}</h1>\n", escape(title)));
    body.push_str(&format!(
        "<h2>Error {}</h2>\n<p>{}</p>\n",
        error.code(),
        escape(&error.to_string())
    ));
    if !error.details().is_empty() {
        body.push_str("<ul>\n");
        for detail in error.details() {
            body.push_str(&format!("<li>{}</li>\n", escape(detail)));
        }
        body.push_str("</ul>\n");
    }
    for (label, href) in links {
        body.push_str(&format!(
            "<p><a href=\"{}\">{}</a></p>\n",
            escape(href),
            escape(label)
        ));
    }
    body.push_str("</body>\n</html>\n");
    respond(status, "text/html; charset=utf-8", body)
}

/// The document up to and including `<body>`; it reloads itself every
/// [`REFRESH_SECONDS`] when `refresh`.
pub(crate) fn head(title: &str, refresh: bool) -> String {
    let title = escape(title);
    let refresh = if refresh {
        format!("<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\n")
    } else {
        String::new()
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n{refresh}\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
    )
}

fn link_list(
    body: &mut String,
    heading: &str,
    base_path: &str,
    names: &[String],
    token: Option<&str>,
) {
    if names.is_empty() {
        return;
    }
    body.push_str(&format!("<h2>{}</h2>\n<ul>\n", escape(heading)));
    let base = base_path.trim_end_matches('/');
    for name in names {
        let path = format!("{base}/{}", crate::pct::encode_segment(name));
        body.push_str(&format!(
            "<li><a href=\"{}\">{}</a></li>\n",
            escape(&link(&path, token)),
            escape(name)
        ));
    }
    body.push_str("</ul>\n");
}

pub(crate) fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_f() {
        assert_eq!(Format::parse(None), Ok(Format::Html));
        assert_eq!(Format::parse(Some("")), Ok(Format::Html));
        assert_eq!(Format::parse(Some("json")), Ok(Format::Json));
        assert_eq!(Format::parse(Some("PJSON")), Ok(Format::Pjson));
        assert!(Format::parse(Some("xml")).is_err());
    }
}
