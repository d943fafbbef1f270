//! Hostile plugins at the runtime level: a benign stage restoring a malicious
//! archive (one the host's writer would refuse, fed to it directly), and
//! store adapters that lie about the bytes they keep.

mod common;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use drhost_repo::{BackupInfo, EntryKind, EntryMeta, RepoError, Repository};
use drhost_runtime::{
    AdapterStore, ArchiveEvent, DirGrant, Grants, PluginContext, PluginLimits, StageSummary,
};
use tokio::sync::mpsc;

use common::{plugin_wasm, recorder, runtime};

fn grant(guest: &str, host: &Path) -> Grants {
    Grants {
        dirs: vec![DirGrant {
            host: host.to_path_buf(),
            guest: guest.into(),
            writable: true,
        }],
        tcp_connect: vec![],
        http_connect: Vec::new(),
        fs_policy: Default::default(),
        http_addresses: None,
    }
}

fn context(config_json: &str, grants: Grants) -> PluginContext {
    PluginContext {
        config_json: config_json.into(),
        grants,
        limits: PluginLimits::default(),
        secrets: Vec::new(),
    }
}

fn entry(path: &str, kind: EntryKind, link_target: Option<&str>) -> EntryMeta {
    EntryMeta {
        path: path.into(),
        kind,
        mode: 0o644,
        mtime_seconds: 1_700_000_000,
        mtime_nanoseconds: 0,
        link_target: link_target.map(Into::into),
        owner: None,
        attributes: Vec::new(),
    }
}

fn file_events(path: &str) -> Vec<Result<ArchiveEvent, String>> {
    vec![
        Ok(ArchiveEvent::Begin(entry(path, EntryKind::File, None))),
        Ok(ArchiveEvent::Data(Bytes::from_static(b"pwned"))),
        Ok(ArchiveEvent::End),
    ]
}

async fn restore(
    ctx: &PluginContext,
    events: Vec<Result<ArchiveEvent, String>>,
) -> Result<StageSummary, drhost_runtime::PluginFailure> {
    let plugin = runtime()
        .load_stage("object-store-fs", &plugin_wasm("object_store_fs.wasm"))
        .await
        .expect("loads");
    let (tx, rx) = mpsc::channel(4);
    let feed = async move {
        for event in events {
            if tx.send(event.map(|e| vec![e])).await.is_err() {
                break;
            }
        }
    };
    let (_, restored) = tokio::join!(feed, plugin.restore(ctx, rx, Vec::new(), recorder()));
    restored
}

/// Every file below `dir`, as relative paths.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in walk(dir) {
        out.push(entry.strip_prefix(dir).unwrap().display().to_string());
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malicious_archive_cannot_make_a_restore_write_outside_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let ctx = context(r#"{"root": "/data"}"#, grant("/data", &target));
    let outside_text = outside.display().to_string();

    let mut attacks: Vec<(String, Vec<Result<ArchiveEvent, String>>)> = ["../x", "/x", "a/../../x"]
        .into_iter()
        .map(|path| (path.to_string(), file_events(path)))
        .collect();
    for link_target in [outside_text.as_str(), "../outside"] {
        let mut events = vec![
            Ok(ArchiveEvent::Begin(entry(
                "link",
                EntryKind::Symlink,
                Some(link_target),
            ))),
            Ok(ArchiveEvent::End),
        ];
        events.extend(file_events("link/x"));
        attacks.push((format!("link -> {link_target}"), events));
    }
    for (attack, events) in attacks {
        let result = restore(&ctx, events).await;
        let error = match result {
            Ok(summary) => panic!("{attack}: restore succeeded: {summary:?}"),
            Err(e) => e.to_string(),
        };
        assert!(error.contains("object-store-fs"), "{attack}: {error}");
        assert!(
            files(&outside).is_empty(),
            "{attack}: {:?}",
            files(&outside)
        );
        assert!(!dir.path().join("x").exists(), "{attack}");
        println!("{attack}: {error}");
        // The next attack starts from an empty target.
        std::fs::remove_dir_all(&target).unwrap();
        std::fs::create_dir_all(&target).unwrap();
    }
}

/// A repository kept by the hostile adapter under `root`.
async fn hostile_repo(root: &Path, attack: &str) -> Repository {
    hostile_repo_with(root, attack, PluginLimits::default()).await
}

async fn hostile_repo_with(root: &Path, attack: &str, limits: PluginLimits) -> Repository {
    let adapter = runtime()
        .load_adapter(
            "testing-hostile-adapter",
            &plugin_wasm("testing_hostile_adapter.wasm"),
        )
        .await
        .expect("loads");
    let mut ctx = context(
        &format!(r#"{{"attack": "{attack}"}}"#),
        grant("/store", root),
    );
    ctx.limits = limits;
    Repository::open(Arc::new(AdapterStore::new(adapter, ctx)))
        .await
        .expect("opens")
}

fn info(name: &str) -> BackupInfo {
    BackupInfo::new(name, "", "manual", 1000, -1, "test")
}

const PASSCODE: &str = "hostile-passcode";

/// Backs up one 3 MiB file; returns the commit's outcome.
async fn backup(repo: &Repository) -> Result<BackupInfo, RepoError> {
    let mut writer = repo.begin_backup(PASSCODE, info("b1")).await?;
    let mut stage = writer.begin_stage("Stage one", "test").await?;
    stage
        .begin_entry(entry("data.bin", EntryKind::File, None))
        .await?;
    let data: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8).collect();
    stage.write(&data).await?;
    stage.end_entry().await?;
    stage.finish(Vec::new(), 1000, 2000).await?;
    writer.commit(2000).await
}

/// Reads back every entry of the backup.
async fn restore_all(repo: &Repository) -> Result<u64, RepoError> {
    let reader = repo.open_backup("b1", PASSCODE).await?;
    let mut stage = reader.stage_reader("Stage one")?;
    let mut bytes = 0;
    while stage.next_entry().await?.is_some() {
        loop {
            let chunk = stage.read(1 << 20).await?;
            if chunk.is_empty() {
                break;
            }
            bytes += chunk.len() as u64;
        }
    }
    Ok(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_returning_wrong_bytes_fails_the_restore_naming_the_pack() {
    let dir = tempfile::tempdir().unwrap();
    backup(&hostile_repo(dir.path(), "none").await)
        .await
        .expect("an honest store backs up");
    // The same objects, now served with a byte flipped.
    let repo = hostile_repo(dir.path(), "flip-on-get").await;
    let error = match restore_all(&repo).await {
        Ok(bytes) => panic!("restore succeeded with {bytes} bytes"),
        Err(e) => e,
    };
    let message = error.to_string();
    assert!(
        matches!(&error, RepoError::Damaged { object, .. } if object.starts_with("packs/")),
        "{message}"
    );
    assert!(message.contains("packs/"), "{message}");
    println!("flip-on-get: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_that_drops_puts_fails_the_backup() {
    let dir = tempfile::tempdir().unwrap();
    let repo = hostile_repo(dir.path(), "drop-puts").await;
    let error = match backup(&repo).await {
        Ok(info) => {
            let restored = restore_all(&repo).await;
            panic!("backup committed ({info:?}); restore: {restored:?}")
        }
        Err(e) => e.to_string(),
    };
    assert!(error.contains("packs/"), "{error}");
    assert!(error.contains("not stored"), "{error}");
    // Nothing claims to be a restorable backup.
    assert!(repo.list_backups().await.expect("lists").is_empty());
    println!("drop-puts: {error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_that_hangs_fails_the_backup_at_its_wall_time_limit() {
    let dir = tempfile::tempdir().unwrap();
    let limits = PluginLimits {
        wall_time: std::time::Duration::from_secs(2),
        ..PluginLimits::default()
    };
    let repo = hostile_repo_with(dir.path(), "hang-on-put", limits).await;
    let started = std::time::Instant::now();
    let error = backup(&repo)
        .await
        .expect_err("a hung store cannot take a backup")
        .to_string();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(
        error.contains("did not finish within its time limit"),
        "{error}"
    );
    assert!(repo.list_backups().await.expect("lists").is_empty());
    println!("hang-on-put: {error}");
}
