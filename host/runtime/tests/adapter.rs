//! The store-fs adapter behind the repository's `ObjectStore` trait.

mod common;

use bytes::Bytes;
use drhost_repo::{ObjectStore, StoreError};
use std::sync::Arc;

use drhost_runtime::{
    AdapterStore, CallCredentials, DirGrant, Grants, PluginContext, PluginFailure, PluginLimits,
};

use common::{plugin_wasm, runtime};

fn store_context(root: &std::path::Path) -> PluginContext {
    PluginContext {
        config_json: r#"{"root": "/store"}"#.into(),
        grants: Grants {
            dirs: vec![DirGrant {
                host: root.to_path_buf(),
                guest: "/store".into(),
                writable: true,
            }],
            tcp_connect: vec![],
            http_connect: Vec::new(),
            fs_policy: Default::default(),
            http_addresses: None,
        },
        limits: PluginLimits::default(),
        secrets: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_fs_round_trip_through_object_store() {
    let wasm = plugin_wasm("store_fs.wasm");
    let runtime = runtime();
    let adapter = runtime.load_adapter("store-fs", &wasm).await.unwrap();
    assert_eq!(adapter.info().name, "store-fs");
    let dir = tempfile::tempdir().unwrap();
    let store = AdapterStore::new(adapter.clone(), store_context(dir.path()));
    store.validate().await.unwrap();
    assert!(!store.append_only());
    // A store registered append-only is, whatever the adapter declares.
    let registered = AdapterStore::new(adapter.clone(), store_context(dir.path()));
    assert!(registered.with_append_only(true).append_only());

    // A 3 MiB object crosses the 1 MiB source reads and sink writes.
    let big: Bytes = (0..3 << 20)
        .map(|i: u32| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    store.put("packs/ab/big", big.clone()).await.unwrap();
    assert_eq!(store.get("packs/ab/big", 0, None).await.unwrap(), big);
    assert_eq!(
        store.get("packs/ab/big", 1000, Some(5000)).await.unwrap(),
        big.slice(1000..6000)
    );
    let info = store.stat("packs/ab/big").await.unwrap().unwrap();
    assert_eq!(info.size, big.len() as u64);
    assert!(store.stat("packs/ab/missing").await.unwrap().is_none());
    assert!(matches!(
        store.get("packs/ab/missing", 0, None).await,
        Err(StoreError::NotFound(n)) if n == "packs/ab/missing"
    ));

    // More than one page (1000) of objects.
    for i in 0..1234 {
        store
            .put(&format!("index/{i:05}"), Bytes::from(i.to_string()))
            .await
            .unwrap();
    }
    let listed = store.list("index/").await.unwrap();
    assert_eq!(listed.len(), 1234);
    assert!(listed.windows(2).all(|w| w[0].name < w[1].name));
    assert_eq!(listed[7].name, "index/00007");
    assert_eq!(listed[7].size, 1);
    assert_eq!(store.list("").await.unwrap().len(), 1235);
    assert!(store.list("nothing/").await.unwrap().is_empty());

    store.delete("packs/ab/big").await.unwrap();
    assert!(store.stat("packs/ab/big").await.unwrap().is_none());
    // Deleting a missing object succeeds.
    store.delete("packs/ab/big").await.unwrap();
}

#[tokio::test]
async fn an_unreachable_store_fails_validation() {
    let wasm = plugin_wasm("store_fs.wasm");
    let adapter = runtime().load_adapter("store-fs", &wasm).await.unwrap();
    let store = AdapterStore::new(
        adapter,
        PluginContext {
            config_json: r#"{"root": "/store"}"#.into(),
            ..PluginContext::default()
        },
    );
    assert!(store.validate().await.is_err());
    assert!(store.put("x", Bytes::from_static(b"1")).await.is_err());
}

/// Hands out the store's directory as its "credential", one per call, and
/// counts the calls; fails once `fail` is set.
struct CountingCredentials {
    calls: std::sync::atomic::AtomicUsize,
    fail: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl CallCredentials for CountingCredentials {
    async fn context_for_call(&self, ctx: &PluginContext) -> Result<PluginContext, String> {
        use std::sync::atomic::Ordering;
        if self.fail.load(Ordering::SeqCst) {
            return Err("the token file is unreadable".into());
        }
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(PluginContext {
            config_json: r#"{"root": "/store"}"#.into(),
            secrets: vec![format!("key-{n}")],
            ..ctx.clone()
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_credentials_complete_every_call_and_their_failure_is_named() {
    use std::sync::atomic::Ordering;
    let wasm = plugin_wasm("store_fs.wasm");
    let adapter = runtime().load_adapter("store-fs", &wasm).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Without the credentials the configuration names no granted directory.
    let base = PluginContext {
        config_json: r#"{"root": "/elsewhere"}"#.into(),
        ..store_context(dir.path())
    };
    assert!(
        AdapterStore::new(adapter.clone(), base.clone())
            .validate()
            .await
            .is_err()
    );
    let credentials = Arc::new(CountingCredentials {
        calls: Default::default(),
        fail: Default::default(),
    });
    let store = AdapterStore::new(adapter, base).with_call_credentials(credentials.clone());
    store.validate().await.unwrap();
    store.put("a", Bytes::from_static(b"1")).await.unwrap();
    assert_eq!(
        store.get("a", 0, None).await.unwrap(),
        Bytes::from_static(b"1")
    );
    // validate, put and the stat that checks it, get.
    assert_eq!(credentials.calls.load(Ordering::SeqCst), 4);

    credentials.fail.store(true, Ordering::SeqCst);
    match store.validate().await {
        Err(failure @ PluginFailure::Credentials { .. }) => {
            let text = failure.to_string();
            assert!(text.contains("store-fs"), "{text}");
            assert!(text.contains("the token file is unreadable"), "{text}");
        }
        other => panic!("expected a credentials failure, got {other:?}"),
    }
    match store.get("a", 0, None).await {
        Err(StoreError::Adapter(message)) => {
            assert!(
                message.contains("credentials could not be obtained"),
                "{message}"
            )
        }
        other => panic!("expected an adapter error, got {other:?}"),
    }
    assert_eq!(credentials.calls.load(Ordering::SeqCst), 4);
}

/// `http-escape` tries a `wasi:http` request to the authority in its
/// configuration. Refused unless granted, and then no connection is made;
/// granted, the request reaches the listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_reach_only_granted_authorities() {
    let wasm = plugin_wasm("http_escape.wasm");
    let adapter = runtime().load_adapter("http-escape", &wasm).await.unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let target = listener.local_addr().unwrap().to_string();
    let call = |granted: Vec<String>| {
        AdapterStore::new(
            adapter.clone(),
            PluginContext {
                config_json: serde_json::json!({ "target": target }).to_string(),
                grants: Grants {
                    http_connect: granted,
                    ..Grants::default()
                },
                ..PluginContext::default()
            },
        )
    };

    for granted in [
        vec![],
        vec!["127.0.0.1:1".to_string()],
        vec![format!("localhost:{}", &target[10..])],
    ] {
        let error = call(granted.clone())
            .validate()
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("HTTP-request-denied"),
            "{granted:?}: {error}"
        );
        // The operator is told which grant is missing.
        // The plugin always asks for `target` (127.0.0.1:port).
        assert!(
            error.contains(&format!("the sandbox refused an HTTP request to {target}")),
            "{granted:?}: {error}"
        );
        assert!(
            error.contains("no `http_connect` grant"),
            "{granted:?}: {error}"
        );
        assert!(
            listener.accept().is_err(),
            "{granted:?}: a connection was made"
        );
    }

    // Granted: the request leaves the host (the listener answers nothing, so
    // the plugin's call fails, but only after the connection was made).
    let store = call(vec![format!("http://{target}")]);
    let accept = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            match listener.accept() {
                Ok((stream, _)) => return Some(stream),
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                Err(_) => return None,
            }
        }
    });
    let validate = tokio::spawn(async move { store.validate().await });
    let stream = accept.await.unwrap();
    assert!(stream.is_some(), "the granted request never arrived");
    drop(stream);
    let error = validate.await.unwrap().unwrap_err().to_string();
    assert!(!error.contains("HTTP-request-denied"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_of_the_other_world_is_named_as_such() {
    let runtime = runtime();
    let stage_as_adapter = runtime
        .load_adapter("object-store-fs", &plugin_wasm("object_store_fs.wasm"))
        .await
        .err()
        .expect("a stage is not an adapter")
        .to_string();
    assert!(
        stage_as_adapter.contains("is a stage plugin (world drhost:plugin/stage-plugin@0.2.1)")
            && stage_as_adapter
                .contains("must target world drhost:plugin/store-adapter-plugin@0.2.1"),
        "{stage_as_adapter}"
    );
    let adapter_as_stage = runtime
        .load_stage("store-fs", &plugin_wasm("store_fs.wasm"))
        .await
        .err()
        .expect("an adapter is not a stage")
        .to_string();
    assert!(
        adapter_as_stage
            .contains("is a store adapter (world drhost:plugin/store-adapter-plugin@0.2.1)"),
        "{adapter_as_stage}"
    );
}

/// Grants for an authority an API client chose carry an address policy: a
/// granted authority that resolves to a loopback address (or outside the
/// configured networks) is refused before any connection, by address and by
/// name alike; allowed, the request arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_reach_only_allowed_addresses() {
    use std::sync::Arc;

    use drhost_runtime::EndpointPolicy;

    let wasm = plugin_wasm("http_escape.wasm");
    let adapter = runtime().load_adapter("http-escape", &wasm).await.unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let call = |target: String, policy: EndpointPolicy| {
        AdapterStore::new(
            adapter.clone(),
            PluginContext {
                config_json: serde_json::json!({ "target": target }).to_string(),
                grants: Grants {
                    http_connect: vec![target],
                    http_addresses: Some(Arc::new(policy)),
                    ..Grants::default()
                },
                ..PluginContext::default()
            },
        )
    };

    let elsewhere = EndpointPolicy::allow_only(&["10.0.0.0/8", "127.0.0.1:1"]).unwrap();
    for (target, policy) in [
        (format!("127.0.0.1:{port}"), EndpointPolicy::default()),
        (format!("localhost:{port}"), EndpointPolicy::default()),
        (
            format!("[::ffff:127.0.0.1]:{port}"),
            EndpointPolicy::default(),
        ),
        (format!("127.0.0.1:{port}"), elsewhere),
    ] {
        let error = call(target.clone(), policy)
            .validate()
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("HTTP-request-denied"), "{target}: {error}");
        assert!(
            listener.accept().is_err(),
            "{target}: a connection was made"
        );
    }

    let allowed = EndpointPolicy::allow_only(&[format!("127.0.0.1:{port}")]).unwrap();
    let store = call(format!("127.0.0.1:{port}"), allowed);
    let accept = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            match listener.accept() {
                Ok((stream, _)) => return Some(stream),
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                Err(_) => return None,
            }
        }
    });
    let validate = tokio::spawn(async move { store.validate().await });
    let stream = accept.await.unwrap();
    assert!(stream.is_some(), "the allowed request never arrived");
    drop(stream);
    let error = validate.await.unwrap().unwrap_err().to_string();
    assert!(!error.contains("HTTP-request-denied"), "{error}");
}
