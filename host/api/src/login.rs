//! The HTML sign-in: `GET generateToken` (f=html) shows a username and
//! password form that posts to `generateToken` itself; the HTML answer to a
//! successful post sends the browser on to the admin root with the new token
//! in the URL, the way the reference API's HTML pages carry it.

use axum::http::StatusCode;
use axum::response::Response;

use crate::format::{self, escape};

/// The sign-in form. `action` is the `generateToken` path.
pub(crate) fn login_page(action: &str) -> Response {
    let mut body = format::head("Sign in to drhost", false);
    body.push_str(&format!(
        "<h1>Sign in to drhost</h1>\n\
         <form method=\"post\" action=\"{}\" id=\"login\" class=\"operation\">\n<fieldset>\n\
         <legend>generateToken</legend>\n\
         <p><label for=\"username\">username</label> \
         <input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required></p>\n\
         <p><label for=\"password\">password</label> \
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required></p>\n\
         <p><label for=\"expiration\">expiration</label> \
         <input type=\"text\" id=\"expiration\" name=\"expiration\" value=\"60\"> <small>minutes</small></p>\n\
         <input type=\"hidden\" name=\"client\" value=\"requestip\">\n\
         <input type=\"hidden\" name=\"f\" value=\"html\">\n\
         <button type=\"submit\">Sign in</button>\n</fieldset>\n</form>\n\
         <p><small>The token travels in the links and forms of the admin pages; \
         it expires after the chosen number of minutes.</small></p>\n",
        escape(action)
    ));
    body.push_str("</body>\n</html>\n");
    format::respond(StatusCode::OK, "text/html; charset=utf-8", body)
}

/// The answer to a successful HTML sign-in: a link to the admin root with
/// the token, followed at once by the browser (`refresh` with a URL, since
/// scripts are not allowed).
pub(crate) fn signed_in_page(admin: &str, token: &str) -> Response {
    let target = escape(&format::link(admin, Some(token)));
    let mut body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"refresh\" content=\"0; url={target}\">\n<title>Signed in</title>\n</head>\n<body>\n"
    );
    body.push_str(&format!(
        "<h1>Signed in</h1>\n<p><a id=\"continue\" href=\"{target}\">Continue to the admin directory</a></p>\n"
    ));
    body.push_str("</body>\n</html>\n");
    format::respond(StatusCode::OK, "text/html; charset=utf-8", body)
}
