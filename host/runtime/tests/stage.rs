//! Stage plugins through the runtime: a real backup and restore of a
//! directory tree, grants, and the host-side error path.

mod common;

use std::fs::{self, File};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use drhost_runtime::{
    ArchiveEvent, DirGrant, Grants, PluginContext, PluginErrorKind, PluginFailure, PluginLimits,
};
use tokio::sync::mpsc;

use common::{collect_events, plugin_wasm, recorder, runtime, snapshot};

fn set_mtime(path: &Path, seconds: u64, nanos: u32) {
    let time = UNIX_EPOCH + Duration::new(seconds, nanos);
    File::open(path).unwrap().set_modified(time).unwrap();
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A tree with the cases that matter: nested directories, modes, exact
/// mtimes, an empty file, a file spanning many chunks, symlinks.
fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("a/b/c")).unwrap();
    fs::create_dir(root.join("locked")).unwrap();
    fs::write(root.join("a/hello.txt"), b"hello world\n").unwrap();
    fs::write(root.join("a/b/empty"), b"").unwrap();
    fs::write(root.join("a/b/c/script.sh"), b"#!/bin/sh\necho hi\n").unwrap();
    fs::write(root.join("locked/secret"), b"top secret").unwrap();
    // 5 MiB + 3 of non-repeating bytes: several chunks, one partial.
    let big: Vec<u8> = (0..(5 << 20) + 3u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(root.join("a/big.bin"), &big).unwrap();
    symlink("hello.txt", root.join("a/link-to-hello")).unwrap();
    symlink("../../hello.txt", root.join("a/b/c/up-link")).unwrap();

    set_mode(&root.join("a/hello.txt"), 0o640);
    set_mode(&root.join("a/b/empty"), 0o600);
    set_mode(&root.join("a/b/c/script.sh"), 0o755);
    set_mode(&root.join("locked/secret"), 0o400);
    set_mode(&root.join("a/big.bin"), 0o644);
    set_mode(&root.join("a/b"), 0o750);
    for (i, file) in [
        "a/hello.txt",
        "a/b/empty",
        "a/b/c/script.sh",
        "locked/secret",
        "a/big.bin",
    ]
    .iter()
    .enumerate()
    {
        set_mtime(&root.join(file), 1_600_000_000 + i as u64, 123_456_789);
    }
    // Directories last: creating children changed their mtimes.
    for (i, dir) in ["a/b/c", "a/b", "a", "locked"].iter().enumerate() {
        set_mtime(&root.join(dir), 1_500_000_000 + i as u64, 987_654_321);
    }
    set_mode(&root.join("locked"), 0o555);
}

fn grant(host: &Path, writable: bool) -> Grants {
    Grants {
        dirs: vec![DirGrant {
            host: host.to_path_buf(),
            guest: "/data".into(),
            writable,
        }],
        tcp_connect: vec![],
        http_connect: Vec::new(),
        fs_policy: Default::default(),
        http_addresses: None,
    }
}

fn context(grants: Grants) -> PluginContext {
    PluginContext {
        config_json: r#"{"root": "/data"}"#.into(),
        grants,
        limits: PluginLimits::default(),
        secrets: Vec::new(),
    }
}

async fn restore_events(
    plugin: &drhost_runtime::StagePlugin,
    ctx: &PluginContext,
    events: Vec<Result<ArchiveEvent, String>>,
) -> Result<drhost_runtime::StageSummary, PluginFailure> {
    restore_with_metadata(plugin, ctx, events, Vec::new()).await
}

async fn restore_with_metadata(
    plugin: &drhost_runtime::StagePlugin,
    ctx: &PluginContext,
    events: Vec<Result<ArchiveEvent, String>>,
    metadata: Vec<(String, String)>,
) -> Result<drhost_runtime::StageSummary, PluginFailure> {
    let (tx, rx) = mpsc::channel(4);
    let feed = async move {
        for event in events {
            if tx.send(event.map(|e| vec![e])).await.is_err() {
                break;
            }
        }
    };
    let (_, restored) = tokio::join!(feed, plugin.restore(ctx, rx, metadata, recorder()));
    restored
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_store_fs_backs_up_and_restores_a_tree_exactly() {
    let wasm = plugin_wasm("object_store_fs.wasm");
    let runtime = runtime();
    let plugin = runtime.load_stage("object-store-fs", &wasm).await.unwrap();
    assert_eq!(plugin.info().name, "object-store-fs");

    let source = tempfile::tempdir().unwrap();
    make_tree(source.path());
    let before = snapshot(source.path());

    // Backup through a small channel: the plugin is suspended while full.
    let (tx, mut rx) = mpsc::channel(2);
    let reporter = recorder();
    let collect = collect_events(&mut rx);
    let ctx = context(grant(source.path(), false));
    let (summary, events) = tokio::join!(plugin.backup(&ctx, tx, None, reporter.clone()), collect);
    let summary = summary.unwrap();
    let entries = events
        .iter()
        .filter(|e| matches!(e, ArchiveEvent::Begin(_)))
        .count();
    assert_eq!(summary.items as usize, entries);
    // Every entry below the root, and the root itself (empty path).
    assert_eq!(entries, before.len() + 1);
    let data_bytes: usize = events
        .iter()
        .map(|e| match e {
            ArchiveEvent::Data(d) => d.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(summary.bytes as usize, data_bytes);
    let messages = reporter.messages.lock().unwrap().clone();
    assert!(
        messages.iter().any(|(code, _)| *code == 4019),
        "{messages:?}"
    );
    assert!(
        reporter
            .progress
            .lock()
            .unwrap()
            .last()
            .is_some_and(|p| p.0 == summary.bytes),
        "final progress delivered"
    );

    // The source is untouched by a read-only backup.
    assert_eq!(snapshot(source.path()), before);

    let target = tempfile::tempdir().unwrap();
    let ctx = context(grant(target.path(), true));
    let restored = restore_events(&plugin, &ctx, events.into_iter().map(Ok).collect())
        .await
        .unwrap();
    assert_eq!(restored.items, summary.items);
    assert_eq!(restored.bytes, summary.bytes);
    let after = snapshot(target.path());
    // Compare entry by entry for a readable failure.
    for (path, node) in &before {
        assert_eq!(after.get(path), Some(node), "{path}");
    }
    assert_eq!(after.len(), before.len());

    // Let the tempdirs be removed.
    set_mode(&source.path().join("locked"), 0o755);
    set_mode(&target.path().join("locked"), 0o755);
}

#[tokio::test]
async fn without_a_grant_the_plugin_cannot_see_the_directory() {
    let wasm = plugin_wasm("object_store_fs.wasm");
    let runtime = runtime();
    let plugin = runtime.load_stage("object-store-fs", &wasm).await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    let granted = plugin.validate(&context(grant(dir.path(), false))).await;
    assert!(granted.is_ok(), "{granted:?}");

    let denied = plugin
        .validate(&context(Grants::default()))
        .await
        .unwrap_err();
    assert_eq!(
        denied.plugin_error_kind(),
        Some(PluginErrorKind::InvalidConfig),
        "{denied}"
    );
    assert!(denied.to_string().contains("object-store-fs"), "{denied}");

    // Nor through a path that climbs out of a granted directory.
    let inner = dir.path().join("inner");
    fs::create_dir(&inner).unwrap();
    let ctx = PluginContext {
        config_json: r#"{"root": "/data/../etc"}"#.into(),
        ..context(grant(&inner, false))
    };
    assert!(plugin.validate(&ctx).await.is_err());
}

#[tokio::test]
async fn restore_into_a_read_only_grant_fails() {
    let wasm = plugin_wasm("object_store_fs.wasm");
    let plugin = runtime()
        .load_stage("object-store-fs", &wasm)
        .await
        .unwrap();
    let target = tempfile::tempdir().unwrap();
    let events = vec![
        Ok(ArchiveEvent::Begin(file_meta("x"))),
        Ok(ArchiveEvent::Data(Bytes::from_static(b"data"))),
        Ok(ArchiveEvent::End),
    ];
    let result = restore_events(&plugin, &context(grant(target.path(), false)), events).await;
    assert!(result.is_err(), "{result:?}");
    assert!(!target.path().join("x").exists());
}

fn file_meta(path: &str) -> drhost_repo::EntryMeta {
    drhost_repo::EntryMeta {
        path: path.into(),
        kind: drhost_repo::EntryKind::File,
        mode: 0o644,
        mtime_seconds: 1_700_000_000,
        mtime_nanoseconds: 0,
        link_target: None,
        owner: None,
        attributes: vec![],
    }
}

#[tokio::test]
async fn damaged_restore_data_is_reported_as_the_cause() {
    let wasm = plugin_wasm("object_store_fs.wasm");
    let plugin = runtime()
        .load_stage("object-store-fs", &wasm)
        .await
        .unwrap();
    let target = tempfile::tempdir().unwrap();
    let events = vec![
        Ok(ArchiveEvent::Begin(file_meta("x"))),
        Ok(ArchiveEvent::Data(Bytes::from_static(b"data"))),
        Err("pack 3fa9 failed authentication".to_string()),
    ];
    let failure = restore_events(&plugin, &context(grant(target.path(), true)), events)
        .await
        .unwrap_err();
    match &failure {
        PluginFailure::Host { plugin, message } => {
            assert_eq!(plugin, "object-store-fs");
            assert_eq!(message, "pack 3fa9 failed authentication");
        }
        other => panic!("expected a host failure, got {other:?}"),
    }
}

#[tokio::test]
async fn archive_limit_stops_a_backup() {
    let wasm = plugin_wasm("object_store_fs.wasm");
    let plugin = runtime()
        .load_stage("object-store-fs", &wasm)
        .await
        .unwrap();
    let source = tempfile::tempdir().unwrap();
    fs::write(source.path().join("f"), vec![1u8; 100_000]).unwrap();
    let ctx = PluginContext {
        limits: PluginLimits {
            max_archive_bytes: Some(10_000),
            ..PluginLimits::default()
        },
        ..context(grant(source.path(), false))
    };
    let (tx, mut rx) = mpsc::channel(8);
    let drain = async { while rx.recv().await.is_some() {} };
    let (result, ()) = tokio::join!(plugin.backup(&ctx, tx, None, recorder()), drain);
    assert!(
        matches!(
            result,
            Err(PluginFailure::ArchiveLimit { limit: 10_000, .. })
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_stopped_consumer_fails_the_backup_as_a_host_failure() {
    let wasm = plugin_wasm("object_store_fs.wasm");
    let plugin = runtime()
        .load_stage("object-store-fs", &wasm)
        .await
        .unwrap();
    let source = tempfile::tempdir().unwrap();
    fs::write(source.path().join("f"), b"x").unwrap();
    let (tx, rx) = mpsc::channel(8);
    drop(rx);
    let result = plugin
        .backup(&context(grant(source.path(), false)), tx, None, recorder())
        .await;
    assert!(
        matches!(result, Err(PluginFailure::Host { .. })),
        "{result:?}"
    );
}

/// A copy of a recorded backup event, to feed a restore.
fn copy_event(event: &ArchiveEvent) -> Result<ArchiveEvent, String> {
    match event {
        ArchiveEvent::Begin(meta) => Ok(ArchiveEvent::Begin(meta.clone())),
        ArchiveEvent::Data(data) => Ok(ArchiveEvent::Data(data.clone())),
        ArchiveEvent::End => Ok(ArchiveEvent::End),
        ArchiveEvent::Unchanged { .. } => Err("unchanged files are not recorded".into()),
    }
}

async fn backup_events(
    plugin: &drhost_runtime::StagePlugin,
    ctx: &PluginContext,
) -> (drhost_runtime::StageSummary, Vec<ArchiveEvent>) {
    let (tx, mut rx) = mpsc::channel(4);
    let collect = collect_events(&mut rx);
    let (summary, events) = tokio::join!(plugin.backup(ctx, tx, None, recorder()), collect);
    (summary.unwrap(), events)
}

#[tokio::test]
async fn config_fs_summary_metadata_reaches_its_restore() {
    let wasm = plugin_wasm("config_fs.wasm");
    let plugin = runtime().load_stage("config-fs", &wasm).await.unwrap();
    assert_eq!(
        plugin.info().kind,
        drhost_runtime::StageKind::SystemConfiguration
    );
    let source = tempfile::tempdir().unwrap();
    fs::create_dir(source.path().join("etc")).unwrap();
    fs::write(source.path().join("etc/app.conf"), b"port = 6443\n").unwrap();
    let (summary, events) = backup_events(&plugin, &context(grant(source.path(), false))).await;
    assert!(!summary.metadata.is_empty());

    let target = tempfile::tempdir().unwrap();
    let ctx = context(grant(target.path(), true));
    let ok = restore_with_metadata(
        &plugin,
        &ctx,
        events.iter().map(copy_event).collect(),
        summary.metadata.clone(),
    )
    .await;
    assert!(ok.is_ok(), "{ok:?}");

    // Altered content no longer matches the recorded keys.
    let tampered = events
        .into_iter()
        .map(|e| match e {
            ArchiveEvent::Data(_) => Ok(ArchiveEvent::Data(Bytes::from_static(b"port = 1\n"))),
            other => Ok(other),
        })
        .collect();
    let target = tempfile::tempdir().unwrap();
    let ctx = context(grant(target.path(), true));
    let failure = restore_with_metadata(&plugin, &ctx, tampered, summary.metadata)
        .await
        .unwrap_err();
    assert_eq!(
        failure.plugin_error_kind(),
        Some(PluginErrorKind::InvalidData),
        "{failure}"
    );
}
