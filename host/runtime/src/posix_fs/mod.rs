//! `drhost:plugin/posix-fs`: exact filesystem access by raw byte paths, which
//! WASI 0.2 does not offer (names that are not UTF-8, owners, hard links,
//! special files, absolute symlink targets, times of symlinks).
//!
//! A guest path is mapped to the granted directory whose guest path is its
//! longest prefix. The parent directory of the final component is opened by
//! cap-primitives relative to that directory's handle, so `..` and symlinks
//! cannot lead outside it (the same confinement wasmtime-wasi's own preopens
//! use), and kept for the calls that follow (see [`parents`]); the final
//! component is then handled with the `*at` system calls and never followed.

use std::cell::Cell;
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::bindings::stage::drhost::plugin::archive::Owner;
use crate::bindings::stage::drhost::plugin::posix_fs::{
    Applied, FileStat, FileType, MetadataUpdate, Timestamp,
};
use crate::bindings::stage::drhost::plugin::types::PluginError;
use crate::grants::{DirGrant, FsPolicy, OwnerPolicy};
use crate::report::Omission;
use names::NameCache;
use parents::OpenParents;
use sys::{check, file_type, fstatat, openat, read_names, set_mtime};

mod host;
pub(crate) use host::{PosixData, PosixHost};
mod names;
mod parents;
mod sys;

/// Permission bits the interface deals in.
const MODE_MASK: u32 = 0o7777;
/// Setuid and setgid: only on a file whose owner was restored.
const SET_ID_BITS: u32 = 0o6000;
/// Setuid, setgid and sticky: only where the operator granted them.
const SPECIAL_BITS: u32 = 0o7000;
/// Most bytes one `read` or `write-at` moves.
const MAX_IO: usize = 4 << 20;

/// The granted directories of one call, opened on first use.
pub(crate) struct PosixFs {
    dirs: Vec<GrantedDir>,
    policy: FsPolicy,
    names: NameCache,
    parents: OpenParents,
}

struct GrantedDir {
    grant: DirGrant,
    /// `grant.guest` without leading, trailing or doubled `/`.
    guest: Vec<u8>,
    handle: Option<Arc<File>>,
}

/// A guest path resolved to its parent directory and final component.
struct Located {
    parent: Arc<File>,
    /// The final component (`.` for a granted directory itself).
    name: CString,
    writable: bool,
    grant: usize,
}

/// An open regular file handed to the guest.
pub struct PosixFile {
    file: File,
    /// The guest path it was opened by, for messages (shown only on errors:
    /// formatting every path cost a restore of many small files 1.5% of
    /// its time).
    path: Vec<u8>,
    /// The file's size, while only this handle has changed it (a file it
    /// created): lets `copy-to-file` skip setting a size the file already
    /// has (an `ftruncate` per restored file).
    known_size: Cell<Option<u64>>,
}

/// The granularity of holes: the usual filesystem block.
const HOLE_BLOCK: u64 = 4096;

impl PosixFile {
    /// Up to `max` bytes (at most 4 MiB) from the current position, into a
    /// buffer with room for `expected` of them; short only at the end of
    /// the file. The buffer is not zeroed first.
    pub(crate) fn read_up_to(&mut self, max: usize, expected: u64) -> Result<Vec<u8>, PluginError> {
        let max = max.min(MAX_IO);
        let mut buf = Vec::with_capacity(usize::try_from(expected).unwrap_or(max).min(max));
        // `read_to_end` retries short and interrupted reads (and grows the
        // buffer if the file grew meanwhile).
        io::Read::read_to_end(&mut io::Read::take(&mut self.file, max as u64), &mut buf)
            .map_err(|e| error(&self.path, e))?;
        Ok(buf)
    }

    /// Bytes from the current position to the end of the file, as of now.
    pub(crate) fn remaining(&mut self) -> Result<u64, PluginError> {
        io::Seek::stream_position(&mut self.file)
            .and_then(|at| Ok(self.file.metadata()?.len().saturating_sub(at)))
            .map_err(|e| error(&self.path, e))
    }

    /// Writes `data` at `offset` of a new file, leaving out the 4 KiB blocks
    /// (aligned in the file) that are all zeros: they read back as zeros
    /// from the hole, once the size is set, and cost no write.
    pub(crate) fn write_sparse_at(&self, offset: u64, data: &[u8]) -> Result<(), PluginError> {
        let mut run: Option<usize> = None;
        let mut start = 0usize;
        while start < data.len() {
            let block_end = (offset + start as u64) / HOLE_BLOCK * HOLE_BLOCK + HOLE_BLOCK;
            let end = data.len().min((block_end - offset) as usize);
            match (is_zero(&data[start..end]), run) {
                (false, None) => run = Some(start),
                (true, Some(from)) => {
                    self.write_all_at(offset + from as u64, &data[from..start])?;
                    run = None;
                }
                _ => {}
            }
            start = end;
        }
        if let Some(from) = run {
            self.write_all_at(offset + from as u64, &data[from..])?;
        }
        Ok(())
    }

    pub(crate) fn write_all_at(&self, offset: u64, data: &[u8]) -> Result<(), PluginError> {
        let written = self.file.write_all_at(data, offset);
        let end = offset.checked_add(data.len() as u64);
        self.known_size
            .set(match (&written, self.known_size.get(), end) {
                (Ok(()), Some(size), Some(end)) => Some(size.max(end)),
                _ => None,
            });
        written.map_err(|e| error(&self.path, e))
    }

    /// Truncates or extends (with a hole) to `size` bytes.
    pub(crate) fn set_size(&self, size: u64) -> Result<(), PluginError> {
        let set = self.file.set_len(size);
        self.known_size.set(set.is_ok().then_some(size));
        set.map_err(|e| error(&self.path, e))
    }

    /// [`Self::set_size`], unless the file is known to have that size.
    pub(crate) fn ensure_size(&self, size: u64) -> Result<(), PluginError> {
        if self.known_size.get() == Some(size) {
            return Ok(());
        }
        self.set_size(size)
    }
}

fn is_zero(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(16);
    words.all(|w| w == [0u8; 16]) && words.remainder().iter().all(|&b| b == 0)
}

impl PosixFs {
    pub(crate) fn new(grants: &[DirGrant], policy: FsPolicy) -> Self {
        Self {
            dirs: grants
                .iter()
                .map(|grant| GrantedDir {
                    guest: normalize(grant.guest.as_bytes()),
                    grant: grant.clone(),
                    handle: None,
                })
                .collect(),
            policy,
            names: NameCache::default(),
            parents: OpenParents::default(),
        }
    }

    fn locate(&mut self, path: &[u8]) -> Result<Located, PluginError> {
        // `..` as the final component would be resolved by the kernel from
        // the parent's handle, outside cap-primitives' confinement; guests
        // have no need for `.` or `..` at all.
        if path.split(|&b| b == b'/').any(|c| c == b"." || c == b"..") {
            return Err(PluginError::Denied(format!(
                "{}: `.` and `..` components are not allowed in posix-fs paths",
                show(path)
            )));
        }
        let (index, rest) = match_grant(self.dirs.iter().map(|d| d.guest.as_slice()), path)
            .ok_or_else(|| {
                PluginError::Denied(format!(
                    "{}: not inside a directory granted to this plugin",
                    show(path)
                ))
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
            dir.handle = Some(Arc::new(handle));
        }
        let handle = dir
            .handle
            .clone()
            .ok_or_else(|| PluginError::Other("granted directory not open".into()))?;
        let writable = dir.grant.writable;
        let (parent, name) = match (rest.parent(), rest.file_name()) {
            (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => {
                let parent = self
                    .parents
                    .get_or_open(index, parent, || {
                        cap_primitives::fs::open_dir(&handle, parent)
                    })
                    .map_err(|e| error(path, e))?;
                (parent, name.as_bytes())
            }
            (Some(_), Some(name)) => (handle, name.as_bytes()),
            _ => (handle, &b"."[..]),
        };
        let name = CString::new(name)
            .map_err(|_| PluginError::InvalidData(format!("{}: contains NUL", show(path))))?;
        Ok(Located {
            parent,
            name,
            writable,
            grant: index,
        })
    }

    /// Like [`locate`](Self::locate), for a change: the grant must be writable.
    fn locate_writable(&mut self, path: &[u8]) -> Result<Located, PluginError> {
        let located = self.locate(path)?;
        if !located.writable {
            let grant = &self.dirs[located.grant].grant.guest;
            return Err(PluginError::Denied(format!(
                "{}: the grant {grant} is read-only for this plugin (backup sources are)",
                show(path)
            )));
        }
        Ok(located)
    }

    fn stat(&mut self, path: &[u8]) -> Result<FileStat, PluginError> {
        let at = self.locate(path)?;
        let st = fstatat(&at).map_err(|e| error(path, e))?;
        Ok(FileStat {
            type_: file_type(st.st_mode),
            mode: st.st_mode & MODE_MASK,
            owner: Owner {
                uid: st.st_uid,
                gid: st.st_gid,
                user: self.names.user(st.st_uid),
                group: self.names.group(st.st_gid),
            },
            size: st.st_size as u64,
            link_count: st.st_nlink,
            device: st.st_dev,
            inode: st.st_ino,
            mtime: Timestamp {
                seconds: st.st_mtime,
                nanoseconds: st.st_mtime_nsec as u32,
            },
        })
    }

    fn read_dir(&mut self, path: &[u8]) -> Result<Vec<Vec<u8>>, PluginError> {
        let at = self.locate(path)?;
        let fd = openat(&at, libc::O_RDONLY | libc::O_DIRECTORY, 0).map_err(|e| error(path, e))?;
        read_names(fd).map_err(|e| error(path, e))
    }

    fn read_link(&mut self, path: &[u8]) -> Result<Vec<u8>, PluginError> {
        let at = self.locate(path)?;
        let mut buf = vec![0u8; 4096 + 1];
        // SAFETY: `buf` is valid for `buf.len()` bytes and both fds are open.
        let n = unsafe {
            libc::readlinkat(
                at.parent.as_raw_fd(),
                at.name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(error(path, io::Error::last_os_error()));
        }
        buf.truncate(n as usize);
        Ok(buf)
    }

    fn open_read(&mut self, path: &[u8]) -> Result<PosixFile, PluginError> {
        let at = self.locate(path)?;
        // Non-blocking, so opening a FIFO cannot hang the call; it is
        // refused below as not a regular file.
        let fd = openat(&at, libc::O_RDONLY | libc::O_NONBLOCK, 0).map_err(|e| error(path, e))?;
        let file = File::from(fd);
        let meta = file.metadata().map_err(|e| error(path, e))?;
        if !meta.is_file() {
            return Err(PluginError::InvalidData(format!(
                "{}: not a regular file",
                show(path)
            )));
        }
        Ok(PosixFile {
            file,
            path: path.to_vec(),
            known_size: Cell::new(None),
        })
    }

    fn create_file(&mut self, path: &[u8]) -> Result<PosixFile, PluginError> {
        let at = self.locate_writable(path)?;
        let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;
        let fd = openat(&at, flags, 0o600).map_err(|e| error(path, e))?;
        Ok(PosixFile {
            file: File::from(fd),
            path: path.to_vec(),
            // Created by this handle (`O_EXCL`), and only writable through it.
            known_size: Cell::new(Some(0)),
        })
    }

    fn create_dir(&mut self, path: &[u8]) -> Result<(), PluginError> {
        let at = self.locate_writable(path)?;
        // SAFETY: valid fd and NUL-terminated name.
        check(unsafe { libc::mkdirat(at.parent.as_raw_fd(), at.name.as_ptr(), 0o700) })
            .map_err(|e| error(path, e))
    }

    fn symlink(&mut self, target: &[u8], path: &[u8]) -> Result<(), PluginError> {
        let at = self.locate_writable(path)?;
        let target = CString::new(target).map_err(|_| {
            PluginError::InvalidData(format!("{}: link target contains NUL", show(path)))
        })?;
        // SAFETY: valid fd and NUL-terminated strings.
        check(unsafe { libc::symlinkat(target.as_ptr(), at.parent.as_raw_fd(), at.name.as_ptr()) })
            .map_err(|e| error(path, e))
    }

    fn hard_link(&mut self, existing: &[u8], path: &[u8]) -> Result<(), PluginError> {
        // Both ends writable: a new name of a read-only source would let the
        // plugin write to it.
        let from = self.locate_writable(existing)?;
        let to = self.locate_writable(path)?;
        // SAFETY: valid fds and NUL-terminated names; flags 0 never follows.
        check(unsafe {
            libc::linkat(
                from.parent.as_raw_fd(),
                from.name.as_ptr(),
                to.parent.as_raw_fd(),
                to.name.as_ptr(),
                0,
            )
        })
        .map_err(|e| error(path, e))
    }

    fn rename(&mut self, source: &[u8], destination: &[u8]) -> Result<(), PluginError> {
        let from = self.locate_writable(source)?;
        let to = self.locate_writable(destination)?;
        let type_at = |at: &Located| fstatat(at).ok().map(|st| file_type(st.st_mode));
        let replaced = type_at(&to);
        // A directory is never replaced: restores must not drop a subtree.
        if replaced == Some(FileType::Directory) {
            return Err(PluginError::Io(format!(
                "{}: is a directory",
                show(destination)
            )));
        }
        // Moving a directory or symlink, or replacing a symlink, can change
        // where a kept parent's path leads.
        let moved = type_at(&from);
        if moved != Some(FileType::File) || replaced.is_some_and(|t| t != FileType::File) {
            self.parents.forget_all();
        }
        // SAFETY: valid fds and NUL-terminated names.
        check(unsafe {
            libc::renameat(
                from.parent.as_raw_fd(),
                from.name.as_ptr(),
                to.parent.as_raw_fd(),
                to.name.as_ptr(),
            )
        })
        .map_err(|e| error(destination, e))
    }

    fn remove_file(&mut self, path: &[u8]) -> Result<(), PluginError> {
        let at = self.locate_writable(path)?;
        // It may be a symlink on the way to a kept parent.
        self.parents.forget_all();
        // SAFETY: valid fd and NUL-terminated name; flags 0 refuses directories.
        check(unsafe { libc::unlinkat(at.parent.as_raw_fd(), at.name.as_ptr(), 0) })
            .map_err(|e| error(path, e))
    }

    /// Owner first (`chown` clears setuid bits), then mode, then time, as
    /// far as the operator's policy and the host's privileges allow.
    fn set_metadata(
        &mut self,
        path: &[u8],
        update: MetadataUpdate,
    ) -> Result<(Applied, Vec<Omission>), PluginError> {
        let at = self.locate_writable(path)?;
        let st = fstatat(&at).map_err(|e| error(path, e))?;
        let is_link = st.st_mode & libc::S_IFMT == libc::S_IFLNK;
        let mut omissions = Vec::new();
        let owner_applied = match &update.owner {
            Some(owner) => {
                let applied = self
                    .set_owner(&at, &st, owner)
                    .map_err(|e| error(path, e))?;
                if !applied {
                    omissions.push(Omission::Owner);
                }
                applied
            }
            None => false,
        };
        let mut dropped = 0;
        if let Some(mode) = update.mode.filter(|_| !is_link) {
            let mode = mode & MODE_MASK;
            if !owner_applied {
                dropped |= mode & SET_ID_BITS;
            }
            if !self.policy.special_bits {
                dropped |= mode & SPECIAL_BITS;
            }
            // SAFETY: valid fd and name; not a symlink (checked above), so
            // the final component is the file itself.
            check(unsafe {
                libc::fchmodat(at.parent.as_raw_fd(), at.name.as_ptr(), mode & !dropped, 0)
            })
            .map_err(|e| error(path, e))?;
            if dropped != 0 {
                omissions.push(Omission::ModeBits(dropped));
            }
        }
        if let Some(mtime) = update.mtime {
            set_mtime(&at, mtime).map_err(|e| error(path, e))?;
        }
        Ok((
            Applied {
                owner: owner_applied,
                dropped_mode_bits: dropped,
            },
            omissions,
        ))
    }

    /// Applies `owner` under the operator's policy; `false` if the file does
    /// not end up with it (policy `skip`, or no privilege to change owners).
    fn set_owner(&mut self, at: &Located, st: &libc::stat, owner: &Owner) -> io::Result<bool> {
        let (uid, gid) = match self.policy.owners {
            OwnerPolicy::Skip => return Ok((st.st_uid, st.st_gid) == (owner.uid, owner.gid)),
            OwnerPolicy::Numeric => (owner.uid, owner.gid),
            OwnerPolicy::Names => (
                owner
                    .user
                    .as_deref()
                    .and_then(|n| self.names.uid_of(n))
                    .unwrap_or(owner.uid),
                owner
                    .group
                    .as_deref()
                    .and_then(|n| self.names.gid_of(n))
                    .unwrap_or(owner.gid),
            ),
        };
        if (st.st_uid, st.st_gid) == (uid, gid) {
            return Ok(true);
        }
        // SAFETY: valid fd and NUL-terminated name; never follows a link.
        let result = check(unsafe {
            libc::fchownat(
                at.parent.as_raw_fd(),
                at.name.as_ptr(),
                uid,
                gid,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        });
        match result {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Permission bits of a UTF-8 guest path (the 0.1 function).
    fn mode(&mut self, path: &str) -> Result<u32, PluginError> {
        self.stat(path.as_bytes()).map(|st| st.mode)
    }

    /// Sets permission bits of a UTF-8 guest path (the 0.1 function),
    /// refusing symlinks; special bits only where granted.
    fn set_mode(&mut self, path: &str, mode: u32) -> Result<Vec<Omission>, PluginError> {
        let at = self.locate_writable(path.as_bytes())?;
        let st = fstatat(&at).map_err(|e| error(path.as_bytes(), e))?;
        if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            return Err(PluginError::Denied(format!(
                "{}: is a symbolic link",
                show(path.as_bytes())
            )));
        }
        let mode = mode & MODE_MASK;
        let dropped = if self.policy.special_bits {
            0
        } else {
            mode & SPECIAL_BITS
        };
        // SAFETY: valid fd and name; not a symlink.
        check(unsafe {
            libc::fchmodat(at.parent.as_raw_fd(), at.name.as_ptr(), mode & !dropped, 0)
        })
        .map_err(|e| error(path.as_bytes(), e))?;
        Ok(if dropped == 0 {
            Vec::new()
        } else {
            vec![Omission::ModeBits(dropped)]
        })
    }
}

/// `path` without leading, trailing or doubled `/`.
fn normalize(path: &[u8]) -> Vec<u8> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect::<Vec<_>>()
        .join(&b'/')
}

/// Index of the grant whose guest path is the longest prefix (by whole
/// components) of `path`, and the remaining relative path (`.` for the
/// granted directory itself).
fn match_grant<'a>(
    grants: impl Iterator<Item = &'a [u8]>,
    path: &[u8],
) -> Option<(usize, PathBuf)> {
    let wanted = normalize(path);
    let mut best: Option<(usize, usize)> = None;
    for (i, guest) in grants.enumerate() {
        let matches = guest.is_empty()
            || wanted == guest
            || (wanted.starts_with(guest) && wanted.get(guest.len()) == Some(&b'/'));
        if matches && best.is_none_or(|(_, len)| guest.len() > len) {
            best = Some((i, guest.len()));
        }
    }
    let (index, len) = best?;
    let rest = wanted[len..].strip_prefix(b"/").unwrap_or(&wanted[len..]);
    let rest = if rest.is_empty() { &b"."[..] } else { rest };
    Some((index, Path::new(OsStr::from_bytes(rest)).to_path_buf()))
}

/// A guest path for messages: readable, with bytes that are not UTF-8 escaped.
fn show(path: &[u8]) -> String {
    drhost_repo::RawName(path.to_vec()).to_string()
}

fn error(path: &[u8], e: io::Error) -> PluginError {
    let path = show(path);
    match e.kind() {
        io::ErrorKind::NotFound => PluginError::NotFound(path),
        io::ErrorKind::PermissionDenied => PluginError::Denied(format!("{path}: {e}")),
        _ => PluginError::Io(format!("{path}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    fn grant(host: &Path, guest: &str, writable: bool) -> DirGrant {
        DirGrant {
            host: host.to_path_buf(),
            guest: guest.into(),
            writable,
        }
    }

    fn fs(grants: &[DirGrant], special_bits: bool) -> PosixFs {
        PosixFs::new(
            grants,
            FsPolicy {
                owners: OwnerPolicy::Numeric,
                special_bits,
            },
        )
    }

    #[test]
    fn sparse_writes_leave_zero_blocks_as_holes_wherever_the_pieces_start() {
        let root = tempfile::tempdir().unwrap();
        let mut fs = fs(&[grant(root.path(), "/out", true)], false);
        let file = fs.create_file(b"/out/disk.img").unwrap();
        // 1 MiB of zeros with a few marked bytes, written in pieces whose
        // starts fall inside blocks, as an archive's chunks do.
        let mut content = vec![0u8; 1 << 20];
        for at in [100, 4096 * 7 + 1, (1 << 20) - 1] {
            content[at] = 0x5a;
        }
        let mut offset = 0;
        for piece in content.chunks(65_537) {
            file.write_sparse_at(offset as u64, piece).unwrap();
            offset += piece.len();
        }
        file.set_size(content.len() as u64).unwrap();
        drop(file);
        let path = root.path().join("disk.img");
        assert_eq!(std::fs::read(&path).unwrap(), content);
        let allocated = std::fs::metadata(&path).unwrap().blocks() * 512;
        assert!(
            allocated <= 8 * 4096,
            "{allocated} bytes allocated for 3 non-zero blocks"
        );
    }

    #[test]
    fn a_path_reaches_the_directory_it_names_now_after_renames_and_removals() {
        let root = tempfile::tempdir().unwrap();
        let on_disk = |p: &str| std::fs::read(root.path().join(p)).unwrap();
        let mut fs = fs(&[grant(root.path(), "/data", true)], false);
        let create = |fs: &mut PosixFs, path: &[u8], content: &[u8]| {
            fs.create_file(path)
                .unwrap()
                .write_all_at(0, content)
                .unwrap();
        };
        // A directory moved away and made again under the same name.
        fs.create_dir(b"/data/a").unwrap();
        create(&mut fs, b"/data/a/one", b"1");
        fs.rename(b"/data/a", b"/data/moved").unwrap();
        fs.create_dir(b"/data/a").unwrap();
        create(&mut fs, b"/data/a/two", b"2");
        assert_eq!(on_disk("a/two"), b"2");
        assert_eq!(on_disk("moved/one"), b"1");
        // A symlink on the way, removed and pointed elsewhere.
        fs.create_dir(b"/data/x").unwrap();
        fs.create_dir(b"/data/y").unwrap();
        fs.symlink(b"x", b"/data/via").unwrap();
        create(&mut fs, b"/data/via/three", b"3");
        fs.remove_file(b"/data/via").unwrap();
        fs.symlink(b"y", b"/data/via").unwrap();
        create(&mut fs, b"/data/via/four", b"4");
        assert_eq!(on_disk("y/four"), b"4");
        // A symlink on the way, replaced by a regular file.
        fs.symlink(b"x", b"/data/link").unwrap();
        create(&mut fs, b"/data/link/five", b"5");
        create(&mut fs, b"/data/plain", b"p");
        fs.rename(b"/data/plain", b"/data/link").unwrap();
        assert!(fs.create_file(b"/data/link/six").is_err());
        // Files renamed within a directory keep its handle (and still land).
        create(&mut fs, b"/data/a/.temp", b"t");
        fs.rename(b"/data/a/.temp", b"/data/a/final").unwrap();
        assert_eq!(on_disk("a/final"), b"t");
    }

    #[test]
    fn a_created_file_gets_the_size_of_its_content_even_ending_in_a_hole() {
        let root = tempfile::tempdir().unwrap();
        let mut fs = fs(&[grant(root.path(), "/out", true)], false);
        let mut content = vec![7u8; 10];
        content.resize(3 * 4096 + 5, 0);
        for (name, content) in [("hole-at-end", &content[..]), ("dense", &[1u8; 5000][..])] {
            let file = fs.create_file(format!("/out/{name}").as_bytes()).unwrap();
            file.write_sparse_at(0, content).unwrap();
            file.ensure_size(content.len() as u64).unwrap();
            assert_eq!(file.known_size.get(), Some(content.len() as u64));
            drop(file);
            assert_eq!(std::fs::read(root.path().join(name)).unwrap(), content);
        }
    }

    #[test]
    fn longest_whole_component_prefix_wins() {
        let grants: [&[u8]; 3] = [b"data", b"data/sub", b"database"];
        let m = |p: &[u8]| match_grant(grants.iter().copied(), p);
        assert_eq!(m(b"/data/x/y"), Some((0, PathBuf::from("x/y"))));
        assert_eq!(m(b"/data/sub/z"), Some((1, PathBuf::from("z"))));
        assert_eq!(m(b"/database"), Some((2, PathBuf::from("."))));
        assert_eq!(m(b"/data//x/"), Some((0, PathBuf::from("x"))));
        assert_eq!(m(b"/dat"), None);
        assert_eq!(m(b"/etc/passwd"), None);
    }

    #[test]
    fn escapes_are_refused_and_final_symlinks_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let granted = root.path().join("granted");
        std::fs::create_dir(&granted).unwrap();
        std::fs::write(root.path().join("secret"), b"x").unwrap();
        std::fs::write(granted.join("file"), b"x").unwrap();
        symlink("../secret", granted.join("escape")).unwrap();
        std::fs::create_dir(granted.join("dir")).unwrap();
        symlink("..", granted.join("dir/up")).unwrap();
        symlink("/", granted.join("abs")).unwrap();

        let mut fs = fs(&[grant(&granted, "/data", true)], false);
        assert!(matches!(
            fs.stat(b"/data/../secret"),
            Err(PluginError::Denied(_))
        ));
        assert!(fs.stat(b"/data/escape/x").is_err());
        assert!(fs.stat(b"/data/abs/etc/passwd").is_err());
        assert!(fs.read_dir(b"/data/dir/up/..").is_err());
        assert_eq!(fs.stat(b"/data/escape").unwrap().type_, FileType::Symlink);
        assert_eq!(fs.read_link(b"/data/abs").unwrap(), b"/");
        assert!(
            fs.open_read(b"/data/escape").is_err(),
            "final link followed"
        );
        assert!(matches!(
            fs.stat(b"/etc/passwd"),
            Err(PluginError::Denied(_))
        ));
    }

    #[test]
    fn names_of_any_bytes_are_listed_created_and_read() {
        let root = tempfile::tempdir().unwrap();
        let mut fs = fs(&[grant(root.path(), "/data", true)], false);
        let name = b"/data/back\\slash\nnew-\xff";
        let file = fs.create_file(name).unwrap();
        file.file.write_all_at(b"content", 0).unwrap();
        assert!(
            fs.create_file(name).is_err(),
            "create-file must not replace"
        );
        let names = fs.read_dir(b"/data").unwrap();
        assert_eq!(names, vec![b"back\\slash\nnew-\xff".to_vec()]);
        let mut read = fs.open_read(name).unwrap();
        let mut content = Vec::new();
        io::Read::read_to_end(&mut read.file, &mut content).unwrap();
        assert_eq!(content, b"content");
    }

    #[test]
    fn changes_need_a_writable_grant_and_special_bits_a_grant() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("file"), b"x").unwrap();
        let mut ro = fs(&[grant(root.path(), "/ro", false)], true);
        let denied = ro.create_dir(b"/ro/new").unwrap_err();
        assert!(
            matches!(&denied, PluginError::Denied(m) if m.contains("/ro")),
            "{denied:?}"
        );

        let mut rw = fs(&[grant(root.path(), "/rw", true)], false);
        let me = rw.stat(b"/rw/file").unwrap().owner;
        let update = |mode| MetadataUpdate {
            mode: Some(mode),
            owner: Some(me.clone()),
            mtime: Some(Timestamp {
                seconds: -86_400,
                nanoseconds: 5,
            }),
        };
        let (applied, _) = rw.set_metadata(b"/rw/file", update(0o4755)).unwrap();
        assert!(applied.owner);
        assert_eq!(applied.dropped_mode_bits, 0o4000, "setuid needs the grant");
        let on_disk = std::fs::metadata(root.path().join("file")).unwrap();
        assert_eq!(on_disk.permissions().mode() & 0o7777, 0o755);
        assert_eq!((on_disk.mtime(), on_disk.mtime_nsec()), (-86_400, 5));

        let mut granted = fs(&[grant(root.path(), "/rw", true)], true);
        let (applied, _) = granted.set_metadata(b"/rw/file", update(0o4755)).unwrap();
        assert_eq!(applied.dropped_mode_bits, 0);
        // Without a restored owner, setuid/setgid never stay.
        let (applied, _) = granted
            .set_metadata(
                b"/rw/file",
                MetadataUpdate {
                    owner: None,
                    ..update(0o6755)
                },
            )
            .unwrap();
        assert_eq!(applied.dropped_mode_bits, 0o6000);
    }
}
