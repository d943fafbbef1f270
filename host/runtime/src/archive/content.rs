//! `drhost:plugin/content`: file content the host handles itself because it
//! holds the bytes anyway: the SHA-256 of what a stage writes, and a
//! restore's copy from the archive into a file, sparse, without the bytes
//! crossing into the sandbox and back.

use sha2::{Digest, Sha256};
use wasmtime::component::Resource;

use super::{ArchiveReader, ArchiveWriter};
use crate::bindings::stage::drhost::plugin::content::{self, ContentDigest};
use crate::bindings::stage::drhost::plugin::types::PluginError;
use crate::posix_fs::PosixFile;
use crate::resources::ResourceHost;

/// Bytes read per step of `copy-from-file`: the size a stage's own `write`s
/// are most efficient at.
const COPY_PIECE: usize = 1 << 20;

impl content::Host for ResourceHost<'_> {
    async fn hash_entry(
        &mut self,
        writer: Resource<ArchiveWriter>,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        let result = self.table.get_mut(&writer)?.hash_entry();
        Ok(result.map_err(|r| r.record(self.notes)))
    }

    async fn entry_digest(
        &mut self,
        writer: Resource<ArchiveWriter>,
    ) -> wasmtime::Result<Result<ContentDigest, PluginError>> {
        let result = self.table.get(&writer)?.entry_digest();
        Ok(result
            .map(|(size, sha256)| ContentDigest {
                size,
                sha256: sha256.to_vec(),
            })
            .map_err(|r| r.record(self.notes)))
    }

    async fn copy_from_file(
        &mut self,
        writer: Resource<ArchiveWriter>,
        source: Resource<PosixFile>,
    ) -> wasmtime::Result<Result<u64, PluginError>> {
        // Buffers sized to what is left of the file (one look per file): the
        // pieces may be queued for a while, and the many small files of a
        // tree must not each hold (and fragment) a whole piece meanwhile.
        let mut left = match self.table.get_mut(&source)?.remaining() {
            Ok(left) => left,
            Err(e) => return Ok(Err(e)),
        };
        let mut copied = 0u64;
        loop {
            let data = match self.table.get_mut(&source)?.read_up_to(COPY_PIECE, left) {
                Ok(data) if data.is_empty() => break,
                Ok(data) => data,
                Err(e) => return Ok(Err(e)),
            };
            copied += data.len() as u64;
            left = left.saturating_sub(data.len() as u64);
            if let Err(refusal) = self.table.get_mut(&writer)?.write(data).await {
                return Ok(Err(refusal.record(self.notes)));
            }
        }
        Ok(Ok(copied))
    }

    async fn copy_to_file(
        &mut self,
        reader: Resource<ArchiveReader>,
        destination: Resource<PosixFile>,
        sha256: bool,
    ) -> wasmtime::Result<Result<ContentDigest, PluginError>> {
        if let Err(failure) = self.table.get(&reader)?.check_unread() {
            return Ok(Err(self.read_failed(&reader, failure)));
        }
        let mut hash = sha256.then(Sha256::new);
        let mut size = 0u64;
        loop {
            // Reader and file live in one table: one borrow at a time. The
            // content is reference-counted, so taking it out copies nothing.
            let data = match self.table.get_mut(&reader)?.next_content().await {
                Ok(data) if data.is_empty() => break,
                Ok(data) => data,
                Err(failure) => return Ok(Err(self.read_failed(&reader, failure))),
            };
            if let Err(e) = self.table.get(&destination)?.write_sparse_at(size, &data) {
                return Ok(Err(e));
            }
            if let Some(hash) = &mut hash {
                hash.update(&data);
            }
            size += data.len() as u64;
        }
        if let Err(e) = self.table.get(&destination)?.ensure_size(size) {
            return Ok(Err(e));
        }
        Ok(Ok(ContentDigest {
            size,
            sha256: hash.map(|h| h.finalize().to_vec()).unwrap_or_default(),
        }))
    }
}
