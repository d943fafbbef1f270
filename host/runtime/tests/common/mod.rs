//! Shared helpers of the runtime's integration tests.

#![allow(dead_code)] // each test binary uses a different subset

pub mod azurite;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use drhost_runtime::{ArchiveBatch, ArchiveEvent, Reporter, Runtime, RuntimeConfig};
use tokio::sync::mpsc;

/// Where `cd plugins && cargo build --release --target wasm32-wasip2` puts
/// the plugin components.
pub fn plugin_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/target/wasm32-wasip2/release")
}

/// The bytes of plugin component `file` (e.g. `object_store_fs.wasm`).
///
/// Building the workspace builds the plugins (through the `drhost` crate's
/// build script), so a missing component fails the test rather than skipping it.
pub fn plugin_wasm(file: &str) -> Vec<u8> {
    let path = plugin_dir().join(file);
    match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) => panic!(
            "plugin component {} is missing ({e}); build the workspace (`cargo build`), \
             or the plugins alone with `cd plugins && cargo build --release --target wasm32-wasip2`",
            path.display()
        ),
    }
}

/// A runtime sharing one compiled-plugin cache across test runs, so only the
/// first run pays for Cranelift.
pub fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: Path::new(env!("CARGO_TARGET_TMPDIR")).join("drhost-plugin-cache"),
        ..RuntimeConfig::default()
    })
    .expect("runtime starts")
}

/// Records progress and messages.
#[derive(Default)]
pub struct Recorder {
    pub progress: Mutex<Vec<(u64, u64)>>,
    pub messages: Mutex<Vec<(u32, String)>>,
    pub warnings: Mutex<Vec<(u32, String)>>,
}

impl Reporter for Recorder {
    fn progress(&self, bytes: u64, items: u64) {
        self.progress.lock().unwrap().push((bytes, items));
    }
    fn message(&self, code: u32, text: &str) {
        self.messages.lock().unwrap().push((code, text.to_string()));
    }
    fn warning(&self, code: u32, text: &str) {
        self.warnings.lock().unwrap().push((code, text.to_string()));
    }
}

pub fn recorder() -> Arc<Recorder> {
    Arc::new(Recorder::default())
}

/// What a test compares of a tree: kind, permission bits, mtime, and content
/// or link target, by relative path.
#[derive(Debug, PartialEq, Eq)]
pub enum Node {
    File {
        mode: u32,
        mtime: SystemTime,
        content: Vec<u8>,
    },
    Dir {
        mode: u32,
        mtime: SystemTime,
    },
    Symlink {
        target: PathBuf,
        mtime: SystemTime,
    },
}

pub fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    let mut nodes = BTreeMap::new();
    walk(root, root, &mut nodes);
    nodes
}

fn walk(root: &Path, dir: &Path, nodes: &mut BTreeMap<String, Node>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let mode = meta.permissions().mode() & 0o7777;
        let mtime = meta.modified().unwrap();
        let node = if meta.file_type().is_symlink() {
            Node::Symlink {
                target: fs::read_link(&path).unwrap(),
                mtime,
            }
        } else if meta.is_dir() {
            walk(root, &path, nodes);
            Node::Dir { mode, mtime }
        } else {
            Node::File {
                mode,
                mtime,
                content: fs::read(&path).unwrap(),
            }
        };
        nodes.insert(rel, node);
    }
}

/// Everything a backup sent (without a previous backup, every file's
/// content is in the events).
pub async fn collect_events(rx: &mut mpsc::Receiver<ArchiveBatch>) -> Vec<ArchiveEvent> {
    let mut events = Vec::new();
    while let Some(batch) = rx.recv().await {
        events.extend(batch);
    }
    events
}
