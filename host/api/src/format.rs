//! Response formats: `f=json` (compact), `pjson` (pretty) and `html` (the
//! default when `f` is absent, as in the reference API).
//!
//! The HTML view is minimal: the resource path as title, the JSON
//! pretty-printed (and HTML-escaped) in a `<pre>`, and links to child
//! resources and operations.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use crate::error::ApiError;

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
    /// Operations (POST).
    pub operations: Vec<String>,
}

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

/// The HTML view of a resource.
pub fn html(status: StatusCode, page: &Page, value: &Value) -> Response {
    let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
    let mut body = head(&page.title);
    body.push_str("<pre>");
    body.push_str(&escape(&pretty));
    body.push_str("</pre>\n");
    link_list(
        &mut body,
        "Child resources",
        &page.base_path,
        &page.resources,
    );
    link_list(
        &mut body,
        "Operations (POST)",
        &page.base_path,
        &page.operations,
    );
    body.push_str(
        "<p>Formats: <a href=\"?f=json\">json</a> | <a href=\"?f=pjson\">pjson</a></p>\n",
    );
    body.push_str("</body>\n</html>\n");
    respond(status, "text/html; charset=utf-8", body)
}

/// The HTML view of an error.
pub fn html_error(status: StatusCode, title: &str, error: &ApiError) -> Response {
    let mut body = head(title);
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
    body.push_str("</body>\n</html>\n");
    respond(status, "text/html; charset=utf-8", body)
}

fn head(title: &str) -> String {
    let title = escape(title);
    format!(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n</head>\n\
         <body>\n<h1>{title}</h1>\n"
    )
}

fn link_list(body: &mut String, heading: &str, base_path: &str, names: &[String]) {
    if names.is_empty() {
        return;
    }
    body.push_str(&format!("<h2>{}</h2>\n<ul>\n", escape(heading)));
    let base = base_path.trim_end_matches('/');
    for name in names {
        let href = format!("{base}/{}?f=html", crate::pct::encode_segment(name));
        body.push_str(&format!(
            "<li><a href=\"{}\">{}</a></li>\n",
            escape(&href),
            escape(name)
        ));
    }
    body.push_str("</ul>\n");
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape(r#"<script>alert("x&'y")</script>"#),
            "&lt;script&gt;alert(&quot;x&amp;&#39;y&quot;)&lt;/script&gt;"
        );
    }
}
