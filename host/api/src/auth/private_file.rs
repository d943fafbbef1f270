//! Secret files of the state directory (`users.json`, `token.key`): the one
//! place that writes them, atomically and readable by their owner only.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use super::AuthError;

/// Maps an I/O failure on `path` to [`AuthError::Io`].
pub(super) fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> AuthError {
    let path = path.to_owned();
    move |source| AuthError::Io {
        action,
        path,
        source,
    }
}

/// Reads `path`; `None` when it does not exist.
pub(super) fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, AuthError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(io_error("read", path)(error)),
    }
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename) with
/// mode 0600, so a crash leaves either the old file or the new one, never a
/// torn secret.
pub(super) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AuthError> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(io_error("create", &tmp))?;
    restrict_permissions(&tmp)?;
    file.write_all(bytes).map_err(io_error("write", &tmp))?;
    file.sync_all().map_err(io_error("sync", &tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io_error("replace", path))?;
    if let Some(dir) = path.parent()
        && let Ok(dir) = fs::File::open(dir)
    {
        // Best effort: makes the rename durable.
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Makes a secret file readable by its owner only.
pub(super) fn restrict_permissions(path: &Path) -> Result<(), AuthError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let metadata = fs::metadata(path).map_err(io_error("inspect", path))?;
        if metadata.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "secret file was accessible to others; restricting to 0600");
            fs::set_permissions(path, fs::Permissions::from_mode(0o600))
                .map_err(io_error("restrict permissions of", path))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
