//! `drhost:plugin/posix-fs`: permission bits, which WASI 0.2 does not carry.
//!
//! A guest path is mapped to the granted directory whose guest path is its
//! longest prefix; the rest is resolved by cap-primitives relative to that
//! directory's handle, so `..` and symlinks cannot lead outside it (the same
//! confinement wasmtime-wasi's own preopens use).

use std::fs::File;
use std::io;
use std::path::PathBuf;

use cap_primitives::fs::{FollowSymlinks, MetadataExt, Permissions, PermissionsExt};

use crate::bindings::stage::drhost::plugin::posix_fs;
use crate::bindings::stage::drhost::plugin::types::PluginError;
use crate::grants::{DirGrant, normalize_guest};
use crate::state::PluginState;

/// Permission bits the interface deals in.
const MODE_MASK: u32 = 0o7777;

/// The granted directories of one call, opened on first use.
pub(crate) struct PosixFs {
    dirs: Vec<GrantedDir>,
}

struct GrantedDir {
    grant: DirGrant,
    /// `grant.guest` without leading, trailing or doubled `/`.
    guest: String,
    handle: Option<File>,
}

/// A guest path resolved against one granted directory.
struct Resolved<'a> {
    dir: &'a File,
    rest: PathBuf,
    writable: bool,
}

impl PosixFs {
    pub(crate) fn new(grants: &[DirGrant]) -> Self {
        Self {
            dirs: grants
                .iter()
                .map(|grant| GrantedDir {
                    guest: normalize_guest(&grant.guest),
                    grant: grant.clone(),
                    handle: None,
                })
                .collect(),
        }
    }

    fn resolve(&mut self, path: &str) -> Result<Resolved<'_>, PluginError> {
        let (index, rest) = match_grant(self.dirs.iter().map(|d| d.guest.as_str()), path)
            .ok_or_else(|| {
                PluginError::Denied(format!("{path}: not inside a granted directory"))
            })?;
        let dir = &mut self.dirs[index];
        if dir.handle.is_none() {
            let handle = cap_primitives::fs::open_ambient_dir(
                &dir.grant.host,
                cap_primitives::ambient_authority(),
            )
            .map_err(|e| {
                PluginError::Io(format!(
                    "{}: cannot open granted directory: {e}",
                    dir.grant.guest
                ))
            })?;
            dir.handle = Some(handle);
        }
        let handle = dir
            .handle
            .as_ref()
            .ok_or_else(|| PluginError::Other("granted directory not open".into()))?;
        Ok(Resolved {
            dir: handle,
            rest,
            writable: dir.grant.writable,
        })
    }
}

/// Index of the grant whose guest path is the longest prefix (by whole
/// components) of `path`, and the remaining relative path (`.` for the
/// granted directory itself).
fn match_grant<'a>(grants: impl Iterator<Item = &'a str>, path: &str) -> Option<(usize, PathBuf)> {
    let wanted = normalize_guest(path);
    let mut best: Option<(usize, usize)> = None;
    for (i, guest) in grants.enumerate() {
        let matches = guest.is_empty()
            || wanted == guest
            || (wanted.starts_with(guest) && wanted.as_bytes().get(guest.len()) == Some(&b'/'));
        if matches && best.is_none_or(|(_, len)| guest.len() > len) {
            best = Some((i, guest.len()));
        }
    }
    let (index, len) = best?;
    let rest = wanted[len..].trim_start_matches('/');
    Some((
        index,
        PathBuf::from(if rest.is_empty() { "." } else { rest }),
    ))
}

fn io_error(path: &str, e: io::Error) -> PluginError {
    match e.kind() {
        io::ErrorKind::NotFound => PluginError::NotFound(path.to_string()),
        io::ErrorKind::PermissionDenied => PluginError::Denied(format!("{path}: {e}")),
        _ => PluginError::Io(format!("{path}: {e}")),
    }
}

/// Permission bits of the resolved path, not following a final symlink.
fn mode_of(resolved: &Resolved, path: &str) -> Result<u32, PluginError> {
    cap_primitives::fs::stat(resolved.dir, &resolved.rest, FollowSymlinks::No)
        .map(|meta| meta.mode() & MODE_MASK)
        .map_err(|e| io_error(path, e))
}

/// Sets permission bits, refusing read-only grants and symlinks.
fn set_mode_of(resolved: &Resolved, path: &str, mode: u32) -> Result<(), PluginError> {
    if !resolved.writable {
        return Err(PluginError::Denied(format!(
            "{path}: the granted directory is read-only"
        )));
    }
    let meta = cap_primitives::fs::stat(resolved.dir, &resolved.rest, FollowSymlinks::No)
        .map_err(|e| io_error(path, e))?;
    // chmod follows a final symlink (Linux cannot chmod a link). The target
    // would still be confined, but the contract refuses it. A swap between
    // this check and the chmod can only retarget the chmod to another file
    // inside the grant, which the guest could chmod directly anyway.
    if meta.file_type().is_symlink() {
        return Err(PluginError::Denied(format!("{path}: is a symbolic link")));
    }
    cap_primitives::fs::set_permissions(
        resolved.dir,
        &resolved.rest,
        Permissions::from_mode(mode & MODE_MASK),
    )
    .map_err(|e| io_error(path, e))
}

impl posix_fs::Host for PluginState {
    async fn mode(&mut self, path: String) -> wasmtime::Result<Result<u32, PluginError>> {
        let resolved = match self.posix.resolve(&path) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        // Plugin calls have a thread of their own (`call_thread`): blocking it
        // costs less than a hand-off to the blocking pool.
        Ok(mode_of(&resolved, &path))
    }

    async fn set_mode(
        &mut self,
        path: String,
        mode: u32,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        let resolved = match self.posix.resolve(&path) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        Ok(set_mode_of(&resolved, &path, mode))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(host: &std::path::Path, guest: &str, writable: bool) -> DirGrant {
        DirGrant {
            host: host.to_path_buf(),
            guest: guest.into(),
            writable,
        }
    }

    #[test]
    fn longest_whole_component_prefix_wins() {
        let grants = ["data", "data/sub", "database"];
        let m = |p| match_grant(grants.iter().copied(), p);
        assert_eq!(m("/data/x/y"), Some((0, PathBuf::from("x/y"))));
        assert_eq!(m("/data/sub/z"), Some((1, PathBuf::from("z"))));
        assert_eq!(m("/database"), Some((2, PathBuf::from("."))));
        assert_eq!(m("/data//x/"), Some((0, PathBuf::from("x"))));
        assert_eq!(m("/dat"), None);
        assert_eq!(m("/etc/passwd"), None);
    }

    #[cfg(unix)]
    #[test]
    fn escapes_are_refused_and_symlinks_not_followed() {
        use std::os::unix::fs::{PermissionsExt as _, symlink};
        let root = tempfile::tempdir().unwrap();
        let granted = root.path().join("granted");
        std::fs::create_dir(&granted).unwrap();
        std::fs::write(root.path().join("secret"), b"x").unwrap();
        std::fs::write(granted.join("file"), b"x").unwrap();
        std::fs::set_permissions(granted.join("file"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        symlink("../secret", granted.join("escape")).unwrap();
        symlink("file", granted.join("link")).unwrap();

        let mut rw = PosixFs::new(&[grant(&granted, "/data", true)]);
        let r = rw.resolve("/data/file").unwrap();
        let meta = cap_primitives::fs::stat(r.dir, &r.rest, FollowSymlinks::No).unwrap();
        assert_eq!(meta.mode() & MODE_MASK, 0o640);

        // `..` out of the grant fails inside cap-primitives.
        let r = rw.resolve("/data/../secret").unwrap();
        assert!(cap_primitives::fs::stat(r.dir, &r.rest, FollowSymlinks::No).is_err());
        // Following a symlink that leads out fails too.
        let r = rw.resolve("/data/escape").unwrap();
        assert!(cap_primitives::fs::stat(r.dir, &r.rest, FollowSymlinks::Yes).is_err());
        // Without following, the link itself is what we see.
        let r = rw.resolve("/data/link").unwrap();
        let meta = cap_primitives::fs::stat(r.dir, &r.rest, FollowSymlinks::No).unwrap();
        assert!(meta.file_type().is_symlink());
        assert!(matches!(
            rw.resolve("/etc/passwd"),
            Err(PluginError::Denied(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn set_mode_needs_a_writable_grant_and_refuses_symlinks() {
        use std::os::unix::fs::{PermissionsExt as _, symlink};
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("file"), b"x").unwrap();
        symlink("file", root.path().join("link")).unwrap();
        let mut fs = PosixFs::new(&[
            grant(root.path(), "/rw", true),
            grant(root.path(), "/ro", false),
        ]);

        let file = fs.resolve("/rw/file").unwrap();
        set_mode_of(&file, "/rw/file", 0o100604).unwrap();
        assert_eq!(mode_of(&file, "/rw/file").unwrap(), 0o604);
        let on_disk = std::fs::metadata(root.path().join("file")).unwrap();
        assert_eq!(on_disk.permissions().mode() & 0o7777, 0o604);

        let ro = fs.resolve("/ro/file").unwrap();
        assert!(matches!(
            set_mode_of(&ro, "/ro/file", 0o777),
            Err(PluginError::Denied(_))
        ));
        let link = fs.resolve("/rw/link").unwrap();
        assert!(matches!(
            set_mode_of(&link, "/rw/link", 0o777),
            Err(PluginError::Denied(_))
        ));
        let file = fs.resolve("/rw/file").unwrap();
        assert_eq!(
            mode_of(&file, "/rw/file").unwrap(),
            0o604,
            "link target untouched"
        );
        let missing = fs.resolve("/rw/missing").unwrap();
        assert!(matches!(
            mode_of(&missing, "/rw/missing"),
            Err(PluginError::NotFound(_))
        ));
    }
}
