//! [`PosixFs`] on the machine running the tests, through std and libc:
//! guest paths are native paths, one to one, without the host's sandbox, so
//! plugin logic is tested natively against real temporary directories.
//!
//! It mirrors what the contract asks of the host, with the simplest owner
//! policy: a `user`/`group` name that exists here wins over the numeric id
//! (as tar does), an owner that cannot be set (not running as root) is
//! reported as not applied, and setuid/setgid bits are then dropped.

use std::ffi::{CStr, CString, OsStr};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::raw::{c_char, c_int};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{
    DirBuilderExt, FileExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt,
};
use std::path::Path;

use plugin_util::entry_path::show;

use crate::PluginError;
use crate::bindings::drhost::plugin::archive::Owner;
use crate::bindings::drhost::plugin::posix_fs::{
    Applied, FileStat, FileType, MetadataUpdate, Timestamp,
};
use crate::posix::{PosixFile, PosixFs};

/// Setuid and setgid: left out when the owner they belong to is not set.
const SET_ID_BITS: u32 = 0o6000;

/// The native filesystem as the host's `posix-fs`.
pub struct NativeFs;

/// An open native file.
pub struct NativeFile {
    file: File,
    path: Vec<u8>,
}

fn native(path: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(path))
}

/// The variant the host uses for `error`: `not-found`, `denied` for
/// permissions, `io` for the rest.
fn error(path: &[u8], error: io::Error) -> PluginError {
    let text = format!("{}: {error}", show(path));
    match error.kind() {
        io::ErrorKind::NotFound => PluginError::NotFound(text),
        io::ErrorKind::PermissionDenied => PluginError::Denied(text),
        _ => PluginError::Io(text),
    }
}

impl PosixFile for NativeFile {
    fn read(&self, max: u32) -> Result<Vec<u8>, PluginError> {
        let mut buf = Vec::new();
        (&self.file)
            .take(u64::from(max))
            .read_to_end(&mut buf)
            .map_err(|e| error(&self.path, e))?;
        Ok(buf)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), PluginError> {
        self.file
            .write_all_at(data, offset)
            .map_err(|e| error(&self.path, e))
    }
    fn set_size(&self, size: u64) -> Result<(), PluginError> {
        self.file.set_len(size).map_err(|e| error(&self.path, e))
    }
    fn sync(&self) -> Result<(), PluginError> {
        self.file.sync_all().map_err(|e| error(&self.path, e))
    }
}

impl PosixFs for NativeFs {
    type File = NativeFile;

    fn stat(&self, path: &[u8]) -> Result<FileStat, PluginError> {
        let meta = fs::symlink_metadata(native(path)).map_err(|e| error(path, e))?;
        let kind = meta.file_type();
        let type_ = if kind.is_file() {
            FileType::File
        } else if kind.is_dir() {
            FileType::Directory
        } else if kind.is_symlink() {
            FileType::Symlink
        } else if kind.is_fifo() {
            FileType::Fifo
        } else if kind.is_socket() {
            FileType::Socket
        } else if kind.is_char_device() {
            FileType::CharDevice
        } else if kind.is_block_device() {
            FileType::BlockDevice
        } else {
            FileType::Unknown
        };
        Ok(FileStat {
            type_,
            mode: meta.mode() & 0o7777,
            owner: Owner {
                uid: meta.uid(),
                gid: meta.gid(),
                user: ids::user_name(meta.uid()),
                group: ids::group_name(meta.gid()),
            },
            size: meta.size(),
            link_count: meta.nlink(),
            device: meta.dev(),
            inode: meta.ino(),
            mtime: Timestamp {
                seconds: meta.mtime(),
                nanoseconds: u32::try_from(meta.mtime_nsec()).unwrap_or(0),
            },
        })
    }

    fn read_dir(&self, path: &[u8]) -> Result<Vec<Vec<u8>>, PluginError> {
        let mut names = Vec::new();
        for entry in fs::read_dir(native(path)).map_err(|e| error(path, e))? {
            let entry = entry.map_err(|e| error(path, e))?;
            names.push(entry.file_name().into_vec());
        }
        Ok(names)
    }

    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>, PluginError> {
        let target = fs::read_link(native(path)).map_err(|e| error(path, e))?;
        Ok(target.into_os_string().into_vec())
    }

    fn open_read(&self, path: &[u8]) -> Result<NativeFile, PluginError> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(native(path))
            .map_err(|e| error(path, e))?;
        Ok(NativeFile {
            file,
            path: path.to_vec(),
        })
    }

    fn create_file(&self, path: &[u8]) -> Result<NativeFile, PluginError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(native(path))
            .map_err(|e| error(path, e))?;
        Ok(NativeFile {
            file,
            path: path.to_vec(),
        })
    }

    fn create_dir(&self, path: &[u8]) -> Result<(), PluginError> {
        fs::DirBuilder::new()
            .mode(0o700)
            .create(native(path))
            .map_err(|e| error(path, e))
    }

    fn symlink(&self, target: &[u8], path: &[u8]) -> Result<(), PluginError> {
        std::os::unix::fs::symlink(native(target), native(path)).map_err(|e| error(path, e))
    }

    fn hard_link(&self, existing: &[u8], path: &[u8]) -> Result<(), PluginError> {
        fs::hard_link(native(existing), native(path)).map_err(|e| error(path, e))
    }

    fn rename(&self, source: &[u8], destination: &[u8]) -> Result<(), PluginError> {
        fs::rename(native(source), native(destination)).map_err(|e| error(destination, e))
    }

    fn remove_file(&self, path: &[u8]) -> Result<(), PluginError> {
        fs::remove_file(native(path)).map_err(|e| error(path, e))
    }

    fn set_metadata(&self, path: &[u8], update: &MetadataUpdate) -> Result<Applied, PluginError> {
        let meta = fs::symlink_metadata(native(path)).map_err(|e| error(path, e))?;
        let mut applied = Applied {
            owner: false,
            dropped_mode_bits: 0,
        };
        // The owner before the mode: `chown` clears setuid and setgid bits.
        if let Some(owner) = &update.owner {
            applied.owner = set_owner(path, &meta, owner)?;
        }
        if let Some(mode) = update.mode.filter(|_| !meta.file_type().is_symlink()) {
            let mut mode = mode & 0o7777;
            if update.owner.is_some() && !applied.owner {
                applied.dropped_mode_bits = mode & SET_ID_BITS;
                mode &= !SET_ID_BITS;
            }
            fs::set_permissions(native(path), fs::Permissions::from_mode(mode))
                .map_err(|e| error(path, e))?;
        }
        if let Some(mtime) = &update.mtime {
            set_mtime(path, mtime)?;
        }
        Ok(applied)
    }
}

/// `lchown`s `path` to `owner` unless it has it already; `false` if this
/// process may not.
fn set_owner(path: &[u8], meta: &fs::Metadata, owner: &Owner) -> Result<bool, PluginError> {
    let uid = owner
        .user
        .as_deref()
        .and_then(ids::uid_of)
        .unwrap_or(owner.uid);
    let gid = owner
        .group
        .as_deref()
        .and_then(ids::gid_of)
        .unwrap_or(owner.gid);
    if (meta.uid(), meta.gid()) == (uid, gid) {
        return Ok(true);
    }
    match std::os::unix::fs::lchown(native(path), Some(uid), Some(gid)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Ok(false),
        Err(e) => Err(error(path, e)),
    }
}

/// Sets the modification time of `path` itself (a symlink too), leaving
/// its access time: std can only set times through an open file.
fn set_mtime(path: &[u8], mtime: &Timestamp) -> Result<(), PluginError> {
    let c_path = CString::new(path)
        .map_err(|_| PluginError::InvalidData(format!("{}: path contains NUL", show(path))))?;
    let times = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            tv_sec: mtime.seconds,
            tv_nsec: i64::from(mtime.nanoseconds),
        },
    ];
    // SAFETY: a NUL-terminated path and two timespecs, as utimensat wants.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(error(path, io::Error::last_os_error()));
    }
    Ok(())
}

/// User and group names through the reentrant `getpw*_r`/`getgr*_r`.
mod ids {
    use super::*;

    pub fn user_name(uid: u32) -> Option<String> {
        // SAFETY (all four): each call gets a zeroed record, a buffer of the
        // length it is told and a result pointer, as the functions want.
        lookup(
            |pwd: &mut libc::passwd, buf, out| unsafe {
                libc::getpwuid_r(uid, pwd, buf.as_mut_ptr(), buf.len(), out)
            },
            |pwd| name(pwd.pw_name),
        )
    }

    pub fn group_name(gid: u32) -> Option<String> {
        lookup(
            |grp: &mut libc::group, buf, out| unsafe {
                libc::getgrgid_r(gid, grp, buf.as_mut_ptr(), buf.len(), out)
            },
            |grp| name(grp.gr_name),
        )
    }

    pub fn uid_of(user: &str) -> Option<u32> {
        let user = CString::new(user).ok()?;
        lookup(
            |pwd: &mut libc::passwd, buf, out| unsafe {
                libc::getpwnam_r(user.as_ptr(), pwd, buf.as_mut_ptr(), buf.len(), out)
            },
            |pwd| Some(pwd.pw_uid),
        )
    }

    pub fn gid_of(group: &str) -> Option<u32> {
        let group = CString::new(group).ok()?;
        lookup(
            |grp: &mut libc::group, buf, out| unsafe {
                libc::getgrnam_r(group.as_ptr(), grp, buf.as_mut_ptr(), buf.len(), out)
            },
            |grp| Some(grp.gr_gid),
        )
    }

    /// Runs `call` with a buffer grown until the record fits, and reads the
    /// record with `read` while the buffer it points into is alive.
    fn lookup<T, R>(
        call: impl Fn(&mut T, &mut [c_char], *mut *mut T) -> c_int,
        read: impl Fn(&T) -> Option<R>,
    ) -> Option<R> {
        let mut buf: Vec<c_char> = vec![0; 1024];
        loop {
            // SAFETY: passwd and group are plain C records; all-zero is a
            // valid (empty) value for them.
            let mut record: T = unsafe { std::mem::zeroed() };
            let mut found: *mut T = std::ptr::null_mut();
            match call(&mut record, &mut buf, &mut found) {
                0 if !found.is_null() => return read(&record),
                libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 2, 0),
                _ => return None,
            }
        }
    }

    fn name(ptr: *const c_char) -> Option<String> {
        if ptr.is_null() {
            return None;
        }
        // SAFETY: a non-null name in a record the lookup just filled.
        let name = unsafe { CStr::from_ptr(ptr) };
        name.to_str().ok().map(str::to_owned)
    }
}
