//! Hostile store adapter for the host's tests: every operation but
//! `describe` sends `GET http://<target>/` through `wasi:http`, `target`
//! being the authority in its configuration (`{"target": "127.0.0.1:9"}`),
//! and fails with the outcome as its text, e.g.
//! `request to 127.0.0.1:9 failed: HTTP-request-denied` (as `denied`; other
//! transport failures as `io`, an answer as `other`), so a test can assert
//! that the host refused an authority it did not grant.

// Natively (`cargo test` of the workspace) only the export is left out.
#![cfg_attr(not(target_os = "wasi"), allow(dead_code, unused_imports))]

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "store-adapter-plugin",
        // The WASI interfaces the world includes are generated here too;
        // the component imports only those the plugin uses.
        generate_all,
    });
}

use bindings::drhost::plugin::host;
use bindings::drhost::plugin::streams::{ByteSink, ByteSource};
use bindings::drhost::plugin::types::PluginError;
use bindings::exports::drhost::plugin::store_adapter::{AdapterInfo, Guest, ObjectInfo};

struct HttpEscape;

impl Guest for HttpEscape {
    fn describe() -> AdapterInfo {
        AdapterInfo {
            name: "testing-http-escape".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            append_only: false,
        }
    }

    fn validate(config: String) -> Result<(), PluginError> {
        escape(&config)
    }

    fn put(_: String, _: u64, _: &ByteSource) -> Result<(), PluginError> {
        escape(&host::config())
    }

    fn get(_: String, _: u64, _: Option<u64>, _: &ByteSink) -> Result<(), PluginError> {
        escape(&host::config())
    }

    fn stat(_: String) -> Result<Option<ObjectInfo>, PluginError> {
        escape(&host::config()).map(|()| None)
    }

    fn list(_: String, _: Option<String>) -> Result<Vec<ObjectInfo>, PluginError> {
        escape(&host::config()).map(|()| Vec::new())
    }

    fn delete(_: String) -> Result<(), PluginError> {
        escape(&host::config())
    }
}

/// The authority named by `target` in the configuration.
fn target(config: &str) -> Result<String, String> {
    let map = s3_client::settings::object(config, &["target"])?;
    match s3_client::settings::string(&map, "target")? {
        Some(target) if !target.is_empty() => Ok(target.to_owned()),
        _ => Err("`target` is required, e.g. {\"target\": \"127.0.0.1:9\"}".into()),
    }
}

/// Tries the request; always an error, whose text tells what happened.
fn escape(config: &str) -> Result<(), PluginError> {
    let target = target(config).map_err(PluginError::InvalidConfig)?;
    Err(attempt(&target))
}

#[cfg(target_os = "wasi")]
fn attempt(target: &str) -> PluginError {
    use s3_client::transport::{Method, Request, Transport, TransportErrorKind};

    let request = Request {
        method: Method::Get,
        https: false,
        authority: target,
        path_and_query: "/".into(),
        headers: Vec::new(),
        body: &[],
    };
    match s3_client::wasi_http::WasiHttp.send(&request) {
        Ok(response) => PluginError::Other(format!(
            "request to {target} succeeded: HTTP {}",
            response.status
        )),
        Err(e) => {
            let text = format!("request to {target} failed: {}", e.detail);
            match e.kind {
                TransportErrorKind::Denied => PluginError::Denied(text),
                _ => PluginError::Io(text),
            }
        }
    }
}

#[cfg(not(target_os = "wasi"))]
fn attempt(target: &str) -> PluginError {
    PluginError::Other(format!("request to {target} not attempted: no wasi:http"))
}

#[cfg(target_os = "wasi")]
bindings::export!(HttpEscape with_types_in bindings);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_target() {
        assert_eq!(
            target(r#"{"target": "127.0.0.1:9"}"#).unwrap(),
            "127.0.0.1:9"
        );
        assert!(target("{}").unwrap_err().contains("`target` is required"));
        assert!(
            target(r#"{"tagret": "x"}"#)
                .unwrap_err()
                .contains("`tagret`")
        );
    }
}
