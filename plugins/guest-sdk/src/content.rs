//! File content copied between files and the archive through the guest:
//! what the host's `content.copy-to-file` and `copy-from-file` do, done here
//! where the bytes must be seen on their way (a stage deriving facts from
//! them) or no host is there (in-memory test archives).

use plugin_util::CHUNK;
use sha2::{Digest, Sha256};

use crate::bindings::drhost::plugin::content::ContentDigest;
use crate::{EntrySink, EntrySource, PluginError, PosixFile};

/// The granularity of holes: the usual filesystem block.
const BLOCK: usize = 4096;

/// Copies the current entry's content into `file` from offset 0, leaving
/// all-zero 4 KiB blocks as holes, and sets its size; `observe` sees every
/// byte in order, and its failure stops the copy. Returns the size.
pub fn copy_observed(
    source: &(impl EntrySource + ?Sized),
    file: &impl PosixFile,
    mut observe: impl FnMut(&[u8]) -> Result<(), PluginError>,
) -> Result<u64, PluginError> {
    // Whole chunks keep every buffer at a block-aligned offset, however the
    // archive splits the content.
    let mut buf = Vec::with_capacity(CHUNK);
    let mut offset = 0u64;
    loop {
        let want = u32::try_from(CHUNK - buf.len()).unwrap_or(u32::MAX);
        let data = source.read(want)?;
        if data.is_empty() {
            break;
        }
        observe(&data)?;
        if buf.is_empty() && data.len() == CHUNK {
            write_blocks(file, offset, &data)?;
            offset += data.len() as u64;
            continue;
        }
        buf.extend_from_slice(&data);
        if buf.len() >= CHUNK {
            write_blocks(file, offset, &buf)?;
            offset += buf.len() as u64;
            buf.clear();
        }
    }
    write_blocks(file, offset, &buf)?;
    offset += buf.len() as u64;
    // Holes at the end are not written at all: the size makes them.
    file.set_size(offset)?;
    Ok(offset)
}

/// The size and SHA-256 of `digest`, refusing a digest that is not 32
/// bytes (one not asked for, or a host that broke the contract).
pub fn sized_sha256(digest: &ContentDigest) -> Result<(u64, [u8; 32]), PluginError> {
    let sha256 = digest.sha256.as_slice().try_into().map_err(|_| {
        PluginError::Other(format!(
            "the host returned a SHA-256 of {} bytes",
            digest.sha256.len()
        ))
    })?;
    Ok((digest.size, sha256))
}

/// Appends the rest of `file` to the sink's current entry through the
/// guest; `observe` sees every byte in order. Returns its length.
pub fn append_file(
    sink: &(impl EntrySink + ?Sized),
    file: &impl PosixFile,
    mut observe: impl FnMut(&[u8]),
) -> Result<u64, PluginError> {
    let mut copied = 0u64;
    loop {
        let data = file.read(CHUNK as u32)?;
        if data.is_empty() {
            return Ok(copied);
        }
        sink.write(&data)?;
        observe(&data);
        copied += data.len() as u64;
    }
}

/// [`copy_observed`] with the SHA-256 computed in the guest when asked.
pub fn copy_hashed(
    source: &(impl EntrySource + ?Sized),
    file: &impl PosixFile,
    sha256: bool,
) -> Result<ContentDigest, PluginError> {
    let mut hash = sha256.then(Sha256::new);
    let size = copy_observed(source, file, |data| {
        if let Some(hash) = &mut hash {
            hash.update(data);
        }
        Ok(())
    })?;
    Ok(ContentDigest {
        size,
        sha256: hash.map(|h| h.finalize().to_vec()).unwrap_or_default(),
    })
}

/// Writes `data` at `offset` (block-aligned) in runs of blocks that are not
/// all zero.
fn write_blocks(file: &impl PosixFile, offset: u64, data: &[u8]) -> Result<(), PluginError> {
    let mut run_start = None;
    for (i, block) in data.chunks(BLOCK).enumerate() {
        let start = i * BLOCK;
        match (is_zero(block), run_start) {
            (false, None) => run_start = Some(start),
            (true, Some(run)) => {
                file.write_at(offset + run as u64, &data[run..start])?;
                run_start = None;
            }
            _ => {}
        }
    }
    if let Some(run) = run_start {
        file.write_at(offset + run as u64, &data[run..])?;
    }
    Ok(())
}

fn is_zero(block: &[u8]) -> bool {
    block.iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    #[derive(Default)]
    struct Writes(RefCell<Vec<(u64, usize)>>);

    impl PosixFile for Writes {
        fn read(&self, _: u32) -> Result<Vec<u8>, PluginError> {
            unreachable!()
        }
        fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), PluginError> {
            self.0.borrow_mut().push((offset, data.len()));
            Ok(())
        }
        fn set_size(&self, _: u64) -> Result<(), PluginError> {
            Ok(())
        }
        fn sync(&self) -> Result<(), PluginError> {
            Ok(())
        }
    }

    #[test]
    fn writes_runs_of_non_zero_blocks() {
        let mut data = vec![0u8; 5 * BLOCK + 100];
        data[10] = 1; // block 0
        data[BLOCK + 5] = 1; // block 1
        data[4 * BLOCK] = 1; // block 4; the tail is zero
        let writes = Writes::default();
        write_blocks(&writes, 1 << 20, &data).unwrap();
        assert_eq!(
            *writes.0.borrow(),
            [(1 << 20, 2 * BLOCK), ((1 << 20) + 4 * BLOCK as u64, BLOCK)]
        );

        let writes = Writes::default();
        let mut tail = vec![0u8; BLOCK + 3];
        tail[BLOCK + 2] = 7;
        write_blocks(&writes, 0, &tail).unwrap();
        assert_eq!(*writes.0.borrow(), [(BLOCK as u64, 3)]);
    }
}
