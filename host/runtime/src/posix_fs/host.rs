//! The `posix-fs` interface and its `file` resource: each call goes to the
//! plugin's [`PosixFs`], and what a call could not apply is noted for the
//! stage's report.

use wasmtime::component::{HasData, Resource, ResourceTable};

use super::{MAX_IO, PosixFile, PosixFs, error, show};
use crate::bindings::stage::drhost::plugin::posix_fs::{
    self, Applied, FileStat, HostFile, MetadataUpdate,
};
use crate::bindings::stage::drhost::plugin::types::PluginError;
use crate::report::{Omission, ReportState};

/// The part of a call's data `posix-fs` works on.
pub(crate) struct PosixHost<'a> {
    pub(crate) fs: &'a mut PosixFs,
    pub(crate) table: &'a mut ResourceTable,
    /// Where what a call could not apply is reported (stage calls for a job).
    pub(crate) report: Option<&'a mut ReportState>,
}

/// Links `posix-fs` to a [`PosixHost`] view of the call's data.
pub(crate) struct PosixData;

impl HasData for PosixData {
    type Data<'a> = PosixHost<'a>;
}

impl PosixHost<'_> {
    fn note_omissions(&mut self, path: &[u8], omissions: Vec<Omission>) {
        if let Some(report) = &mut self.report {
            for omission in omissions {
                report.omitted(omission, path);
            }
        }
    }
}

/// A `posix-fs` call that cannot trap: its refusals are the guest's errors.
macro_rules! fs_call {
    ($self:ident, $($call:tt)*) => {
        Ok($self.fs.$($call)*)
    };
}

impl posix_fs::Host for PosixHost<'_> {
    // Plugin calls have a thread of their own (`call_thread`): blocking it
    // costs less than a hand-off to the blocking pool.
    async fn stat(&mut self, path: Vec<u8>) -> wasmtime::Result<Result<FileStat, PluginError>> {
        fs_call!(self, stat(&path))
    }

    async fn read_dir(
        &mut self,
        path: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<Vec<u8>>, PluginError>> {
        fs_call!(self, read_dir(&path))
    }

    async fn read_link(&mut self, path: Vec<u8>) -> wasmtime::Result<Result<Vec<u8>, PluginError>> {
        fs_call!(self, read_link(&path))
    }

    async fn open_read(
        &mut self,
        path: Vec<u8>,
    ) -> wasmtime::Result<Result<Resource<PosixFile>, PluginError>> {
        Ok(match self.fs.open_read(&path) {
            Ok(file) => Ok(self.table.push(file)?),
            Err(e) => Err(e),
        })
    }

    async fn create_file(
        &mut self,
        path: Vec<u8>,
    ) -> wasmtime::Result<Result<Resource<PosixFile>, PluginError>> {
        Ok(match self.fs.create_file(&path) {
            Ok(file) => Ok(self.table.push(file)?),
            Err(e) => Err(e),
        })
    }

    async fn create_dir(&mut self, path: Vec<u8>) -> wasmtime::Result<Result<(), PluginError>> {
        fs_call!(self, create_dir(&path))
    }

    async fn symlink(
        &mut self,
        target: Vec<u8>,
        path: Vec<u8>,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        fs_call!(self, symlink(&target, &path))
    }

    async fn hard_link(
        &mut self,
        existing: Vec<u8>,
        path: Vec<u8>,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        fs_call!(self, hard_link(&existing, &path))
    }

    async fn rename(
        &mut self,
        source: Vec<u8>,
        destination: Vec<u8>,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        fs_call!(self, rename(&source, &destination))
    }

    async fn remove_file(&mut self, path: Vec<u8>) -> wasmtime::Result<Result<(), PluginError>> {
        fs_call!(self, remove_file(&path))
    }

    async fn set_metadata(
        &mut self,
        path: Vec<u8>,
        update: MetadataUpdate,
    ) -> wasmtime::Result<Result<Applied, PluginError>> {
        Ok(match self.fs.set_metadata(&path, update) {
            Ok((applied, omissions)) => {
                self.note_omissions(&path, omissions);
                Ok(applied)
            }
            Err(e) => Err(e),
        })
    }

    async fn mode(&mut self, path: String) -> wasmtime::Result<Result<u32, PluginError>> {
        fs_call!(self, mode(&path))
    }

    async fn set_mode(
        &mut self,
        path: String,
        mode: u32,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        Ok(match self.fs.set_mode(&path, mode) {
            Ok(omissions) => {
                self.note_omissions(path.as_bytes(), omissions);
                Ok(())
            }
            Err(e) => Err(e),
        })
    }
}

impl HostFile for PosixHost<'_> {
    async fn read(
        &mut self,
        file: Resource<PosixFile>,
        max: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, PluginError>> {
        // Lifted into the guest at once: room for all `max` costs nothing.
        Ok(self
            .table
            .get_mut(&file)?
            .read_up_to(max as usize, u64::from(max)))
    }

    async fn write_at(
        &mut self,
        file: Resource<PosixFile>,
        offset: u64,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        let file = self.table.get_mut(&file)?;
        if data.len() > MAX_IO {
            return Ok(Err(PluginError::Denied(format!(
                "{}: at most {MAX_IO} bytes per write-at call",
                show(&file.path)
            ))));
        }
        Ok(file.write_all_at(offset, &data))
    }

    async fn set_size(
        &mut self,
        file: Resource<PosixFile>,
        size: u64,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        Ok(self.table.get(&file)?.set_size(size))
    }

    async fn sync(
        &mut self,
        file: Resource<PosixFile>,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        let file = self.table.get_mut(&file)?;
        Ok(file.file.sync_data().map_err(|e| error(&file.path, e)))
    }

    async fn drop(&mut self, file: Resource<PosixFile>) -> wasmtime::Result<()> {
        self.table.delete(file)?;
        Ok(())
    }
}
