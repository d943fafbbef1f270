//! Hostile store adapter for the host's tests: keeps objects as files under
//! `/store` (no atomicity, no fsync: a test double), and lies as `attack` in
//! its configuration says:
//!
//! - `flip-on-get`: every `get` of a pack (`packs/...`) returns its bytes with
//!   the first one flipped;
//! - `drop-puts`: every `put` of a pack reports success without storing
//!   anything (or reading the data);
//! - `none`: an honest store.

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

use std::fs;
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};

use bindings::drhost::plugin::host;
use bindings::drhost::plugin::streams::{ByteSink, ByteSource};
use bindings::drhost::plugin::types::PluginError;
use bindings::exports::drhost::plugin::store_adapter::{AdapterInfo, Guest, ObjectInfo};

const ROOT: &str = "/store";
const PACKS: &str = "packs/";

struct HostileAdapter;

fn attack() -> String {
    serde_json::from_str::<serde_json::Value>(&host::config())
        .ok()
        .and_then(|c| c.get("attack")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| "none".into())
}

fn io(name: &str, e: std::io::Error) -> PluginError {
    if e.kind() == ErrorKind::NotFound {
        PluginError::NotFound(name.into())
    } else {
        PluginError::Io(format!("{name}: {e}"))
    }
}

fn path(name: &str) -> String {
    format!("{ROOT}/{name}")
}

impl Guest for HostileAdapter {
    fn describe() -> AdapterInfo {
        AdapterInfo {
            name: "testing-hostile-adapter".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            append_only: false,
        }
    }

    fn validate(_config: String) -> Result<(), PluginError> {
        fs::metadata(ROOT).map(|_| ()).map_err(|e| io(ROOT, e))
    }

    fn put(name: String, _size: u64, data: &ByteSource) -> Result<(), PluginError> {
        if name.starts_with(PACKS) && attack() == "drop-puts" {
            return Ok(());
        }
        // A medium that stops answering: only the host's wall-time limit ends it.
        if name.starts_with(PACKS) && attack() == "hang-on-put" {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        }
        let target = path(&name);
        if let Some((dir, _)) = target.rsplit_once('/') {
            fs::create_dir_all(dir).map_err(|e| io(&name, e))?;
        }
        let mut file = fs::File::create(&target).map_err(|e| io(&name, e))?;
        loop {
            let chunk = data.read(1 << 20)?;
            if chunk.is_empty() {
                return Ok(());
            }
            file.write_all(&chunk).map_err(|e| io(&name, e))?;
        }
    }

    fn get(
        name: String,
        offset: u64,
        length: Option<u64>,
        out: &ByteSink,
    ) -> Result<(), PluginError> {
        let mut file = fs::File::open(path(&name)).map_err(|e| io(&name, e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| io(&name, e))?;
        let mut bytes = Vec::new();
        match length {
            Some(n) => file.take(n).read_to_end(&mut bytes),
            None => file.read_to_end(&mut bytes),
        }
        .map_err(|e| io(&name, e))?;
        if name.starts_with(PACKS)
            && attack() == "flip-on-get"
            && let Some(first) = bytes.first_mut()
        {
            *first ^= 0x01;
        }
        for chunk in bytes.chunks(1 << 20) {
            out.write(chunk)?;
        }
        Ok(())
    }

    fn stat(name: String) -> Result<Option<ObjectInfo>, PluginError> {
        match fs::metadata(path(&name)) {
            Ok(meta) => Ok(Some(ObjectInfo {
                name,
                size: meta.len(),
            })),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&name, e)),
        }
    }

    fn list(prefix: String, start_after: Option<String>) -> Result<Vec<ObjectInfo>, PluginError> {
        let mut all = Vec::new();
        walk(ROOT, "", &mut all)?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all
            .into_iter()
            .filter(|o| o.name.starts_with(&prefix))
            .filter(|o| start_after.as_ref().is_none_or(|s| o.name > *s))
            .take(1000)
            .collect())
    }

    fn delete(name: String) -> Result<(), PluginError> {
        match fs::remove_file(path(&name)) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(io(&name, e)),
            _ => Ok(()),
        }
    }
}

/// Every file under `dir` as an object named by its path below `ROOT`.
fn walk(dir: &str, rel: &str, out: &mut Vec<ObjectInfo>) -> Result<(), PluginError> {
    for entry in fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let file = entry.file_name().to_string_lossy().into_owned();
        let name = if rel.is_empty() {
            file.clone()
        } else {
            format!("{rel}/{file}")
        };
        let meta = entry.metadata().map_err(|e| io(&name, e))?;
        if meta.is_dir() {
            walk(&format!("{dir}/{file}"), &name, out)?;
        } else {
            out.push(ObjectInfo {
                name,
                size: meta.len(),
            });
        }
    }
    Ok(())
}

#[cfg(target_os = "wasi")]
bindings::export!(HostileAdapter with_types_in bindings);
