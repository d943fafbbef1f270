//! Compiled-component cache: in memory (a plugin is compiled or loaded once per
//! process) and on disk (a restart does not pay Cranelift again).
//!
//! Deserializing a `.cwasm` runs the machine code in it, so the disk cache only
//! reads files this host wrote, in a directory only this host may write.

use std::collections::HashMap;
use std::fs::{self, File};
use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::PluginFailure;

/// Where a loaded component came from, for logs and measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadSource {
    /// Already loaded by this process.
    Memory,
    /// Deserialized from the disk cache.
    Disk,
    /// Compiled by Cranelift (and written to the disk cache).
    Compiled,
}

/// How a component was obtained and how long that took.
#[derive(Debug, Clone, Copy)]
pub struct LoadStats {
    pub source: LoadSource,
    pub elapsed: Duration,
}

pub(crate) struct ComponentCache {
    engine: Engine,
    /// `None`: memory-only (no directory configured, or one we must not trust).
    dir: Option<PathBuf>,
    /// Hex digest of the engine's compatibility hash: compiled code is only
    /// valid for the wasmtime version and configuration that produced it.
    engine_key: String,
    memory: Mutex<HashMap<[u8; 32], Component>>,
}

impl ComponentCache {
    /// A cache writing under `dir` (created with mode 0700 if missing); an
    /// empty path keeps the cache in memory only.
    pub(crate) fn new(engine: Engine, dir: &Path) -> Self {
        let dir = if dir.as_os_str().is_empty() {
            None
        } else {
            match prepare_dir(dir) {
                Ok(()) => Some(dir.to_path_buf()),
                Err(reason) => {
                    tracing::warn!(
                        dir = %dir.display(),
                        "compiled-plugin cache disabled: {reason}; plugins are compiled at every start"
                    );
                    None
                }
            }
        };
        let engine_key = engine_key(&engine);
        Self {
            engine,
            dir,
            engine_key,
            memory: Mutex::new(HashMap::new()),
        }
    }

    /// The compiled form of `wasm`: from memory, from disk, or compiled now.
    /// Blocking (file I/O and Cranelift): call from a blocking thread.
    pub(crate) fn load(
        &self,
        plugin: &str,
        wasm: &[u8],
    ) -> Result<(Component, LoadStats), PluginFailure> {
        let started = Instant::now();
        let digest: [u8; 32] = Sha256::digest(wasm).into();
        let stats = |source| LoadStats {
            source,
            elapsed: started.elapsed(),
        };
        if let Some(component) = self.memory_get(&digest) {
            return Ok((component, stats(LoadSource::Memory)));
        }
        check_is_component(plugin, wasm)?;
        let path = self
            .dir
            .as_ref()
            .map(|dir| dir.join(format!("{}-{}.cwasm", hex::encode(digest), self.engine_key)));
        if let Some(path) = path.as_deref().filter(|p| p.is_file()) {
            // SAFETY: the file was written by `store` below into a directory
            // that only this host's user may write (checked in `prepare_dir`),
            // and it is replaced only by rename, so the mapped file never
            // changes under a loaded component. wasmtime rejects files from
            // other versions or configurations with an error.
            match unsafe { Component::deserialize_file(&self.engine, path) } {
                Ok(component) => {
                    self.memory_put(digest, &component);
                    return Ok((component, stats(LoadSource::Disk)));
                }
                Err(e) => tracing::warn!(
                    plugin,
                    path = %path.display(),
                    "cached compiled plugin is unusable, recompiling: {e}"
                ),
            }
        }
        let component = Component::new(&self.engine, wasm).map_err(|e| PluginFailure::Compile {
            plugin: plugin.to_string(),
            message: format!("{e:#}"),
        })?;
        if let Some(path) = &path {
            // A cache that cannot be written costs a recompile next start,
            // not this load.
            let written = component
                .serialize()
                .map_err(|e| e.to_string())
                .and_then(|bytes| write_atomically(path, &bytes).map_err(|e| e.to_string()));
            if let Err(e) = written {
                tracing::warn!(plugin, path = %path.display(), "cannot cache compiled plugin: {e}");
            }
        }
        self.memory_put(digest, &component);
        Ok((component, stats(LoadSource::Compiled)))
    }

    fn memory_get(&self, digest: &[u8; 32]) -> Option<Component> {
        self.memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
            .cloned()
    }

    fn memory_put(&self, digest: [u8; 32], component: &Component) {
        self.memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest, component.clone());
    }
}

/// Creates the cache directory private to this user, or explains why an
/// existing one must not be trusted.
fn prepare_dir(dir: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create it: {e}"))?;
        let meta = fs::metadata(dir).map_err(|e| format!("cannot inspect it: {e}"))?;
        if meta.mode() & 0o022 != 0 {
            return Err(format!(
                "it is writable by other users (mode {:o}); compiled code found there could run in this process",
                meta.mode() & 0o7777
            ));
        }
        // Whoever owns the directory can swap files in it.
        if meta.uid() != current_uid(dir)? {
            return Err("it is owned by another user".into());
        }
    }
    #[cfg(not(unix))]
    fs::create_dir_all(dir).map_err(|e| format!("cannot create it: {e}"))?;
    Ok(())
}

/// The uid this process creates files with, learned from a probe file (std
/// has no `getuid`, and this is not worth a libc dependency).
#[cfg(unix)]
fn current_uid(dir: &Path) -> Result<u32, String> {
    use std::os::unix::fs::MetadataExt;
    let probe = tmp_path(&dir.join("uid-probe"));
    let file = File::create(&probe).map_err(|e| format!("cannot write to it: {e}"))?;
    let uid = file.metadata().map(|m| m.uid());
    drop(file);
    let _ = fs::remove_file(&probe);
    uid.map_err(|e| format!("cannot inspect a file in it: {e}"))
}

/// Rejects core modules with an error that says what to do, instead of
/// wasmtime's generic one. Everything else is left to the compiler.
fn check_is_component(plugin: &str, wasm: &[u8]) -> Result<(), PluginFailure> {
    const CORE_MODULE: [u8; 8] = *b"\0asm\x01\0\0\0";
    if wasm.starts_with(&CORE_MODULE) {
        return Err(PluginFailure::Instantiate {
            plugin: plugin.to_string(),
            message: "this is a core WebAssembly module (e.g. built for wasm32-wasip1), \
                      not a component; build the plugin for wasm32-wasip2"
                .into(),
        });
    }
    Ok(())
}

fn engine_key(engine: &Engine) -> String {
    use std::hash::Hash;
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(&hasher.0.finalize()[..8])
}

/// Feeds `Hash` input into SHA-256, which (unlike `DefaultHasher`) is stable
/// across Rust releases, so a toolchain update does not invalidate the cache.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}-{n}", std::process::id()));
    path.with_file_name(name)
}

/// Writes `bytes` to `path` so that readers see the old file or the whole new
/// one, and the new one survives a crash once this returns.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = tmp_path(path);
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            // Persist the rename; not all platforms can open a directory.
            if let Ok(dir) = File::open(dir) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_modules_are_refused_with_advice() {
        let err = check_is_component("old", b"\0asm\x01\0\0\0rest").unwrap_err();
        assert!(err.to_string().contains("wasm32-wasip2"), "{err}");
        assert!(check_is_component("new", b"\0asm\x0d\0\x01\0").is_ok());
    }

    #[test]
    fn atomic_write_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.cwasm");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file left behind"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_others_can_write_is_not_trusted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        assert!(prepare_dir(&cache).is_ok());
        assert_eq!(
            fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
            0o700
        );
        fs::set_permissions(&cache, fs::Permissions::from_mode(0o777)).unwrap();
        let err = prepare_dir(&cache).unwrap_err();
        assert!(err.contains("writable by other users"), "{err}");
    }
}
