//! WASI 0.2 implementation through raw `wasi:filesystem` descriptors.

use std::io;

use wasi::filesystem::preopens::get_directories;
use wasi::filesystem::types::{
    Datetime, Descriptor, DescriptorFlags, ErrorCode, NewTimestamp, OpenFlags, PathFlags,
};

/// The restore root as a directory descriptor.
pub struct Target {
    dir: Descriptor,
}

impl Target {
    /// Opens the guest directory `root` (absolute, normalized) through the
    /// preopen that contains it, choosing the longest match like wasi-libc
    /// does for std's own path resolution.
    pub fn open(root: &str) -> io::Result<Self> {
        let (preopen, rest) = get_directories()
            .into_iter()
            .filter_map(|(dir, guest)| {
                let rest = plugin_util::guest_path::relative_to(root, &guest)?.to_owned();
                Some((guest.len(), dir, rest))
            })
            .max_by_key(|(len, _, _)| *len)
            .map(|(_, dir, rest)| (dir, rest))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "no directory granted to this plugin contains it",
                )
            })?;
        if rest.is_empty() {
            return Ok(Self { dir: preopen });
        }
        let dir = preopen
            .open_at(
                PathFlags::SYMLINK_FOLLOW,
                &rest,
                OpenFlags::DIRECTORY,
                DescriptorFlags::READ | DescriptorFlags::MUTATE_DIRECTORY,
            )
            .map_err(to_io)?;
        Ok(Self { dir })
    }

    /// Creates the file `rel` (relative to the root), which must not exist,
    /// for writing. Its writes go to the host whole: std's `File` would
    /// split each into 64 KiB stream writes, each a host call and syscall.
    pub fn create_file(&self, rel: &str) -> io::Result<NewFile> {
        let file = self
            .dir
            .open_at(
                PathFlags::empty(),
                rel,
                OpenFlags::CREATE | OpenFlags::EXCLUSIVE,
                DescriptorFlags::WRITE,
            )
            .map_err(to_io)?;
        Ok(NewFile { file, offset: 0 })
    }

    /// Creates the symlink `rel` (relative to the root) pointing at `target`.
    pub fn symlink(&self, rel: &str, target: &str) -> io::Result<()> {
        self.dir.symlink_at(target, rel).map_err(to_io)
    }

    /// Sets the modification time of `rel` itself, never a symlink's target;
    /// the access time is left alone.
    pub fn set_mtime(
        &self,
        rel: &str,
        _is_symlink: bool,
        seconds: i64,
        nanos: u32,
    ) -> io::Result<()> {
        // WASI's datetime is unsigned: a pre-epoch time cannot be expressed.
        let seconds = u64::try_from(seconds).map_err(|_| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "WASI cannot set a modification time before 1970",
            )
        })?;
        let mtime = NewTimestamp::Timestamp(Datetime {
            seconds,
            nanoseconds: nanos,
        });
        self.dir
            .set_times_at(PathFlags::empty(), rel, NewTimestamp::NoChange, mtime)
            .map_err(to_io)
    }
}

/// A file [`Target::create_file`] created; closed when dropped.
pub struct NewFile {
    file: Descriptor,
    offset: u64,
}

impl NewFile {
    /// Appends all of `data`.
    pub fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let written = self.file.write(data, self.offset).map_err(to_io)?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            let n = usize::try_from(written)
                .unwrap_or(usize::MAX)
                .min(data.len());
            data = &data[n..];
            self.offset += n as u64;
        }
        Ok(())
    }
}

fn to_io(code: ErrorCode) -> io::Error {
    use io::ErrorKind as K;
    let kind = match code {
        ErrorCode::NoEntry => K::NotFound,
        ErrorCode::Exist => K::AlreadyExists,
        ErrorCode::Access | ErrorCode::NotPermitted => K::PermissionDenied,
        ErrorCode::Unsupported => K::Unsupported,
        ErrorCode::NotDirectory => K::NotADirectory,
        ErrorCode::IsDirectory => K::IsADirectory,
        ErrorCode::ReadOnly => K::ReadOnlyFilesystem,
        _ => K::Other,
    };
    io::Error::new(kind, code.message())
}
