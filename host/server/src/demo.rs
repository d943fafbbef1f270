//! A small demo deployment to back up on a fresh machine: an object store
//! directory and a system-configuration directory, with the kinds of entries a
//! real one holds (nested dirs, an empty dir, a symlink, a binary file, modes).

use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

/// Creates `<state>/demo` unless it exists.
pub fn ensure_demo_deployment(state_dir: &Path) -> std::io::Result<bool> {
    let root = state_dir.join("demo");
    if root.exists() {
        return Ok(false);
    }
    let staging = state_dir.join(".demo.partial");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    write_object_store(&staging.join("objectstore"))?;
    write_config(&staging.join("config"))?;
    std::fs::rename(&staging, &root)?;
    Ok(true)
}

fn file(path: &Path, content: &[u8], mode: u32) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::File::create(path)?.write_all(content)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

fn write_object_store(root: &Path) -> std::io::Result<()> {
    file(
        &root.join("content/items/readme.txt"),
        b"Portal item content.\n",
        0o644,
    )?;
    file(
        &root.join("content/items/map.json"),
        br#"{"layers":["roads","rivers"]}"#,
        0o640,
    )?;
    // Binary, 3 MiB: spans several content-defined chunks.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let blob: Vec<u8> = (0..3 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    file(&root.join("arcgis/tiles/level0.bin"), &blob, 0o600)?;
    std::fs::create_dir_all(root.join("arcgis/uploads"))?;
    symlink("../content/items/readme.txt", root.join("arcgis/README"))?;
    std::fs::set_permissions(root.join("arcgis"), std::fs::Permissions::from_mode(0o750))
}

fn write_config(root: &Path) -> std::io::Result<()> {
    file(
        &root.join("portal/portal.properties"),
        b"portal.url=https://org.example.com/arcgis\nportal.webcontext=arcgis\n",
        0o644,
    )?;
    file(
        &root.join("server/server.json"),
        br#"{"machines":["m1"],"logLevel":"WARNING"}"#,
        0o644,
    )?;
    file(
        &root.join("secrets/ingress.key"),
        b"-----DEMO KEY, NOT A REAL SECRET-----\n",
        0o600,
    )?;
    symlink("server/server.json", root.join("current.json"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_is_created_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(super::ensure_demo_deployment(dir.path()).expect("create"));
        assert!(!super::ensure_demo_deployment(dir.path()).expect("again"));
        let blob = dir.path().join("demo/objectstore/arcgis/tiles/level0.bin");
        assert_eq!(std::fs::metadata(blob).expect("blob").len(), 3 << 20);
        assert!(dir.path().join("demo/config/current.json").is_symlink());
    }
}
