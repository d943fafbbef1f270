//! Property tests of request parsing: arbitrary names, query strings, form
//! bodies and JSON settings never panic the router, never answer 500, always
//! answer the API's error format, and never reach the operations with a name
//! that could escape a directory.

use axum::http::{Method, StatusCode};
use proptest::prelude::*;
use serde_json::Value;

use crate::tests::{DR, Harness, Reply, harness, request};

/// Statuses a client may see for bad input; 500 is not among them.
const CLIENT_ERRORS: [u16; 8] = [400, 401, 403, 404, 405, 409, 413, 415];

fn run<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// A success, or a client error in `{"error":{"code","message","details"}}`.
fn assert_well_formed(reply: &Reply, what: &str) {
    let status = reply.status.as_u16();
    if status == 200 {
        return;
    }
    assert!(
        CLIENT_ERRORS.contains(&status),
        "{what}: HTTP {status}: {}",
        reply.text
    );
    assert!(!reply.text.contains("panicked"), "{what}: {}", reply.text);
    // A body of random bytes may ask for `f=html`: an error page then.
    if reply.text.starts_with("<!DOCTYPE html>") {
        return;
    }
    let body: Value = serde_json::from_str(&reply.text)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", reply.text));
    assert!(body["error"]["code"].is_i64(), "{what}: {}", reply.text);
    assert!(
        body["error"]["message"].is_string(),
        "{what}: {}",
        reply.text
    );
    assert!(!reply.text.contains("panicked"), "{what}: {}", reply.text);
}

/// Names that reached an operation hold no separator, parent step or NUL.
fn assert_names_contained(h: &Harness) {
    for call in h.ops.calls() {
        for key in ["store", "backup", "name"] {
            if let Some(name) = call.get(key).and_then(Value::as_str) {
                assert!(
                    !name.contains('/') && !name.contains('\0') && name != ".." && name != ".",
                    "an operation got the name {name:?}: {call}"
                );
            }
        }
    }
}

/// Percent-encoding of arbitrary bytes, so any byte reaches the parser.
fn encode_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// Strings rich in what breaks parsers: separators, dots, NUL, `%`, `&`, `=`,
/// `+`, unicode, and length.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("..".to_string()),
        Just("../../etc/passwd".to_string()),
        Just("a/b".to_string()),
        Just("a\0b".to_string()),
        Just("x".repeat(5000)),
        "[a-z0-9._-]{1,20}",
        "\\PC{0,40}",
        prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        nasty().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("type".to_string()),
                    Just("default".to_string()),
                    Just("rootDir".to_string()),
                    Just("storageConfig".to_string()),
                    nasty()
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_names_in_paths(store in nasty(), backup in nasty(), op in prop_oneof![
        Just(""), Just("/restore"), Just("/verify"), Just("/delete"), Just("/update"), Just("/x/y")
    ], post in any::<bool>()) {
        let h = harness();
        let uri = format!(
            "{DR}/stores/{}/backups/{}{op}",
            encode_bytes(store.as_bytes()),
            encode_bytes(backup.as_bytes())
        );
        let reply = run(async {
            if post {
                let body = format!("passcode=a-long-passcode&retentionDate=-1&f=json&token={}", h.token);
                h.send(request(Method::POST, &uri, Some(&body), &[])).await
            } else {
                h.send(request(Method::GET, &format!("{uri}?f=json&token={}", h.token), None, &[])).await
            }
        });
        assert_well_formed(&reply, &uri);
        assert_names_contained(&h);
    }

    #[test]
    fn arbitrary_query_strings(query in prop::collection::vec(any::<u8>(), 0..300)) {
        let h = harness();
        // Raw bytes that are legal in a URI; the rest percent-encoded.
        let query: String = query
            .iter()
            .map(|&b| if b.is_ascii_alphanumeric() || b"&=+%._-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            })
            .collect();
        let uri = format!("{DR}/status?{query}&token={}", h.token);
        let reply = run(h.send(request(Method::GET, &uri, None, &[])));
        assert_well_formed(&reply, &uri);
    }

    #[test]
    fn arbitrary_form_bodies(body in prop::collection::vec(any::<u8>(), 0..2000), to in prop_oneof![
        Just("/arcgis/sharing/rest/generateToken".to_string()),
        Just(format!("{DR}/stores/default/backups/create")),
        Just(format!("{DR}/stores/register")),
        Just(format!("{DR}/settings/update")),
    ]) {
        let h = harness();
        let text = String::from_utf8_lossy(&body).into_owned();
        let with_token = format!("{text}&f=json&token={}", h.token);
        let reply = run(h.send(request(Method::POST, &to, Some(&with_token), &[])));
        assert_well_formed(&reply, &to);
        assert_names_contained(&h);
    }

    #[test]
    fn arbitrary_json_settings(settings in json_value(), name in nasty(), to in prop_oneof![
        Just("register"), Just("update")
    ]) {
        let h = harness();
        let settings = settings.to_string();
        let (uri, body) = if to == "register" {
            (
                format!("{DR}/stores/register"),
                format!("storeName={}&settings={}", encode_bytes(name.as_bytes()), encode_bytes(settings.as_bytes())),
            )
        } else {
            (format!("{DR}/settings/update"), format!("settings={}", encode_bytes(settings.as_bytes())))
        };
        let body = format!("{body}&f=json&token={}", h.token);
        let reply = run(h.send(request(Method::POST, &uri, Some(&body), &[])));
        assert_well_formed(&reply, &uri);
        assert_names_contained(&h);
    }
}

#[test]
fn bodies_over_the_limit_are_refused_unread() {
    let h = harness();
    let body = format!("name={}&token={}", "x".repeat(2 << 20), h.token);
    let reply = run(h.send(request(
        Method::POST,
        &format!("{DR}/stores/default/backups/create"),
        Some(&body),
        &[],
    )));
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.text
    );
    assert_well_formed(&reply, "2 MiB body");
}
