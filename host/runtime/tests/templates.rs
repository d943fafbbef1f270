//! The plugin templates (`plugins/templates/`) as a third party uses them:
//! copied out of the repository, built with cargo against this checkout's
//! `guest-sdk`, loaded by the runtime and exercised through its APIs, and
//! their own native tests run in the same copy.

mod common;
#[path = "common/template.rs"]
mod template;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use bytes::Bytes;
use drhost_repo::{ObjectStore, StoreError};
use drhost_runtime::{AdapterStore, DirGrant, Grants, PluginContext, PluginLimits};
use tokio::sync::mpsc;

use common::{collect_events, recorder, runtime, snapshot};
use template::build_template;

fn context(config: &str, host: &Path, guest: &str, writable: bool) -> PluginContext {
    PluginContext {
        config_json: config.into(),
        grants: Grants {
            dirs: vec![DirGrant {
                host: host.to_path_buf(),
                guest: guest.into(),
                writable,
            }],
            ..Grants::default()
        },
        limits: PluginLimits::default(),
        secrets: Vec::new(),
    }
}

/// The `host.config()` the host sends a directory adapter (adapter-contract).
fn adapter_config(append_only: bool) -> String {
    format!(r#"{{"root":"/store","appendOnly":{append_only},"config":{{}},"secret":{{}}}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_adapter_template_serves_a_store() {
    let build = build_template("store-adapter");
    let adapter = runtime()
        .load_adapter("store-dir-template", &build.wasm_bytes())
        .await
        .unwrap();
    assert_eq!(adapter.info().name, "store-dir-template");
    let dir = tempfile::tempdir().unwrap();
    let store = AdapterStore::new(
        adapter.clone(),
        context(&adapter_config(false), dir.path(), "/store", true),
    );
    store.validate().await.unwrap();

    // 3 MiB: several 1 MiB source reads and sink writes.
    let big: Bytes = (0..3u32 << 20)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    store.put("packs/ab/big", big.clone()).await.unwrap();
    assert_eq!(store.get("packs/ab/big", 0, None).await.unwrap(), big);
    assert_eq!(
        store.get("packs/ab/big", 1000, Some(5000)).await.unwrap(),
        big.slice(1000..6000)
    );
    assert!(
        store
            .get("packs/ab/big", (3 << 20) - 1, Some(2))
            .await
            .is_err()
    );
    assert_eq!(
        store.stat("packs/ab/big").await.unwrap().unwrap().size,
        big.len() as u64
    );
    assert!(store.stat("packs/ab/none").await.unwrap().is_none());
    assert!(matches!(
        store.get("packs/ab/none", 0, None).await,
        Err(StoreError::NotFound(_))
    ));
    // The object is a file below the granted directory.
    assert_eq!(fs::read(dir.path().join("packs/ab/big")).unwrap(), big);

    // More than one page (1000).
    for i in 0..1100 {
        store
            .put(&format!("index/{i:05}"), Bytes::from(i.to_string()))
            .await
            .unwrap();
    }
    let listed = store.list("index/").await.unwrap();
    assert_eq!(listed.len(), 1100);
    assert!(listed.windows(2).all(|w| w[0].name < w[1].name));
    assert_eq!(
        (listed[10].name.as_str(), listed[10].size),
        ("index/00010", 2)
    );
    assert_eq!(store.list("").await.unwrap().len(), 1101);

    store.delete("packs/ab/big").await.unwrap();
    store.delete("packs/ab/big").await.unwrap();
    assert!(store.stat("packs/ab/big").await.unwrap().is_none());

    // Registered append-only, the same directory is write-once.
    let locked = AdapterStore::new(
        adapter,
        context(&adapter_config(true), dir.path(), "/store", true),
    );
    assert!(locked.put("index/00000", Bytes::from("x")).await.is_err());
    // A new name is published by a hard link, which never replaces.
    locked.put("index/99999", Bytes::from("new")).await.unwrap();
    assert_eq!(
        locked.get("index/99999", 0, None).await.unwrap(),
        Bytes::from("new")
    );
    assert_eq!(
        locked.get("index/00000", 0, None).await.unwrap(),
        Bytes::from("0")
    );
    build.run_own_tests();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stage_template_backs_up_and_restores_a_tree() {
    let build = build_template("stage");
    let plugin = runtime()
        .load_stage("stage-dir-template", &build.wasm_bytes())
        .await
        .unwrap();
    assert_eq!(plugin.info().name, "stage-dir-template");
    round_trip(&plugin).await;

    // The same component as a third party built it against contract 0.2.0
    // (the template uses nothing 0.2.1 added): it still loads and works, as
    // the contract's stability promise says.
    let old = as_built_against_0_2_0(&build.wasm_bytes());
    let plugin = runtime()
        .load_stage("stage-dir-template-0-2-0", &old)
        .await
        .unwrap();
    round_trip(&plugin).await;
    build.run_own_tests();
}

/// `wasm` with every `drhost:plugin/<interface>@0.2.1` name it imports or
/// exports renamed to `@0.2.0` (same length, so the binary stays valid):
/// the component a build against the 0.2.0 WIT makes, for a plugin that
/// uses no interface 0.2.1 added.
fn as_built_against_0_2_0(wasm: &[u8]) -> Vec<u8> {
    const PREFIX: &[u8] = b"drhost:plugin/";
    const VERSION: &[u8] = b"@0.2.1";
    let mut out = wasm.to_vec();
    let mut renamed = 0;
    let mut at = 0;
    while let Some(found) = out[at..].windows(PREFIX.len()).position(|w| w == PREFIX) {
        let name_start = at + found + PREFIX.len();
        let name_len = out[name_start..]
            .iter()
            .take_while(|b| b.is_ascii_lowercase() || **b == b'-')
            .count();
        let version = name_start + name_len;
        let next = out.get(version + VERSION.len()).copied();
        if out[version..].starts_with(VERSION) && !next.is_some_and(|b| b.is_ascii_digit()) {
            out[version + VERSION.len() - 1] = b'0';
            renamed += 1;
        }
        at = name_start;
    }
    assert!(
        renamed >= 3,
        "only {renamed} contract names found to rename"
    );
    assert!(
        out.windows(b"drhost:plugin/stage@0.2.0".len())
            .any(|w| w == b"drhost:plugin/stage@0.2.0"),
        "the export was not renamed"
    );
    out
}

/// Backs up a small tree with the stage template's component and restores
/// it into an empty directory, checking every entry.
async fn round_trip(plugin: &drhost_runtime::StagePlugin) {
    let source = tempfile::tempdir().unwrap();
    fs::create_dir_all(source.path().join("etc/app")).unwrap();
    fs::write(source.path().join("etc/app/app.conf"), b"port = 1\n").unwrap();
    fs::write(source.path().join("etc/empty"), b"").unwrap();
    let big: Vec<u8> = (0..(2u32 << 20) + 5).map(|i| (i % 249) as u8).collect();
    fs::write(source.path().join("data.bin"), &big).unwrap();
    fs::set_permissions(
        source.path().join("etc/app/app.conf"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    symlink("app/app.conf", source.path().join("etc/link")).unwrap();
    let before = snapshot(source.path());

    let config = r#"{"root": "/data"}"#;
    let ctx = context(config, source.path(), "/data", false);
    plugin.validate(&ctx).await.unwrap();
    let (tx, mut rx) = mpsc::channel(4);
    let reporter = recorder();
    let (summary, events) = tokio::join!(
        plugin.backup(&ctx, tx, None, reporter.clone()),
        collect_events(&mut rx)
    );
    let summary = summary.unwrap();
    // The root, two directories, three files and a symlink.
    assert_eq!(summary.items, 7);
    assert_eq!(summary.bytes, big.len() as u64 + 9);
    let codes: Vec<u32> = reporter
        .messages
        .lock()
        .unwrap()
        .iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(codes, [9001, 9002], "third-party message codes");

    let target = tempfile::tempdir().unwrap();
    let ctx = context(config, target.path(), "/data", true);
    let (feed, input) = mpsc::channel(4);
    let send = async move {
        for event in events {
            if feed.send(Ok(vec![event])).await.is_err() {
                break;
            }
        }
    };
    let (_, restored) = tokio::join!(
        send,
        plugin.restore(&ctx, input, summary.metadata.clone(), recorder())
    );
    let restored = restored.unwrap();
    assert_eq!(
        (restored.items, restored.bytes),
        (summary.items, summary.bytes)
    );
    assert_eq!(snapshot(target.path()), before);
}
