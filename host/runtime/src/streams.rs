//! `drhost:plugin/streams`: how object contents move through a store adapter.

use bytes::Bytes;
use wasmtime::component::Resource;

use crate::bindings::adapter::drhost::plugin::streams::{self, HostByteSink, HostByteSource};
use crate::bindings::stage::drhost::plugin::types::PluginError;
use crate::limits::MAX_CHUNK_BYTES;
use crate::resources::ResourceHost;

/// Largest piece a `byte-source.read` returns, whatever the adapter asks for.
pub(crate) const MAX_SOURCE_READ: usize = 1 << 20;

/// Smallest piece a [`ByteSink`] keeps on its own.
const MIN_PIECE: usize = 64 << 10;

/// The content of an object being stored.
pub struct ByteSource {
    data: Bytes,
}

impl ByteSource {
    pub(crate) fn new(data: Bytes) -> Self {
        Self { data }
    }

    fn read(&mut self, max: u32) -> Bytes {
        let n = (max as usize).min(MAX_SOURCE_READ).min(self.data.len());
        self.data.split_to(n)
    }
}

/// Collects the content of an object being fetched, up to a bound.
///
/// When the caller asked for a known length, the sink reserves exactly that
/// and every write lands in it: the object is held once while it arrives.
/// Otherwise the pieces the adapter writes are kept as they are and joined
/// once, into a buffer of exactly the object's size: growing one buffer by
/// doubling would copy a 16–32 MiB pack several times and leave up to twice
/// its size allocated for as long as the restore keeps the pack.
pub struct ByteSink {
    pieces: Vec<Vec<u8>>,
    len: usize,
    limit: usize,
    /// Whether `pieces` is one buffer reserved at `limit` bytes.
    reserved: bool,
}

impl ByteSink {
    /// A sink refusing more than `limit` bytes in total.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            pieces: Vec::new(),
            len: 0,
            limit,
            reserved: false,
        }
    }

    /// A sink for `length` bytes asked for, filling `buffer` (cleared, and
    /// grown if it is smaller): the pages of a reused buffer are already
    /// mapped, those of a new one are touched only as the bytes arrive.
    pub(crate) fn reserved(mut buffer: Vec<u8>, length: usize) -> Self {
        buffer.clear();
        buffer.reserve_exact(length);
        Self {
            pieces: vec![buffer],
            len: 0,
            limit: length,
            reserved: true,
        }
    }

    pub(crate) fn into_vec(mut self) -> Vec<u8> {
        if self.pieces.len() == 1 {
            return self.pieces.swap_remove(0);
        }
        let mut out = Vec::with_capacity(self.len);
        for piece in self.pieces {
            out.extend_from_slice(&piece);
        }
        out
    }

    fn write(&mut self, data: Vec<u8>) -> Result<(), String> {
        if data.len() > MAX_CHUNK_BYTES {
            return Err(format!(
                "wrote {} bytes in one call; the limit is {MAX_CHUNK_BYTES}",
                data.len()
            ));
        }
        if self.len + data.len() > self.limit {
            return Err(format!(
                "returned more than the {} bytes requested",
                self.limit
            ));
        }
        self.len += data.len();
        if self.reserved {
            if let Some(buffer) = self.pieces.first_mut() {
                buffer.extend_from_slice(&data);
            }
            return Ok(());
        }
        // Small writes join the last piece, so an adapter writing a byte at a
        // time cannot make the host keep millions of tiny allocations: every
        // piece but the last holds at least MIN_PIECE bytes.
        match self.pieces.last_mut() {
            Some(last) if last.len() < MIN_PIECE || data.len() < MIN_PIECE => {
                last.extend_from_slice(&data);
            }
            _ if data.is_empty() => {}
            _ => self.pieces.push(data),
        }
        Ok(())
    }
}

impl HostByteSource for ResourceHost<'_> {
    async fn read(
        &mut self,
        source: Resource<ByteSource>,
        max: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, PluginError>> {
        Ok(Ok(Vec::from(self.table.get_mut(&source)?.read(max))))
    }

    async fn drop(&mut self, source: Resource<ByteSource>) -> wasmtime::Result<()> {
        self.table.delete(source)?;
        Ok(())
    }
}

impl HostByteSink for ResourceHost<'_> {
    async fn write(
        &mut self,
        sink: Resource<ByteSink>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        let result = self.table.get_mut(&sink)?.write(data);
        Ok(result.map_err(|message| {
            self.notes.protocol(message.clone());
            PluginError::Denied(message)
        }))
    }

    async fn drop(&mut self, sink: Resource<ByteSink>) -> wasmtime::Result<()> {
        self.table.delete(sink)?;
        Ok(())
    }
}

impl streams::Host for ResourceHost<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_reads_are_capped() {
        let mut source = ByteSource::new(Bytes::from(vec![7u8; MAX_SOURCE_READ + 10]));
        assert_eq!(source.read(u32::MAX).len(), MAX_SOURCE_READ);
        assert_eq!(source.read(4).len(), 4);
        assert_eq!(source.read(100).len(), 6);
        assert!(source.read(100).is_empty());
    }

    #[test]
    fn sink_refuses_oversized_chunks_and_totals() {
        let mut sink = ByteSink::new(10);
        assert!(sink.write(vec![1; 6]).is_ok());
        assert!(sink.write(vec![2; 5]).is_err());
        assert!(sink.write(vec![3; 4]).is_ok());
        assert_eq!(&sink.into_vec()[..], &[1, 1, 1, 1, 1, 1, 3, 3, 3, 3]);
        let mut big = ByteSink::new(usize::MAX);
        assert!(big.write(vec![0; MAX_CHUNK_BYTES + 1]).is_err());
        let mut bytewise = ByteSink::new(usize::MAX);
        for i in 0..(3 * MIN_PIECE) {
            assert!(bytewise.write(vec![i as u8]).is_ok());
        }
        assert!(bytewise.write(vec![9; MIN_PIECE]).is_ok());
        assert_eq!(bytewise.pieces.len(), 2, "tiny writes are merged");
        let joined = bytewise.into_vec();
        assert_eq!(joined.len(), 4 * MIN_PIECE);
        assert_eq!(joined[MIN_PIECE + 1], (MIN_PIECE + 1) as u8);
    }

    #[test]
    fn a_sink_of_known_length_fills_one_buffer_and_keeps_its_bound() {
        let length = 3 * MIN_PIECE + 5;
        let mut sink = ByteSink::reserved(Vec::new(), length);
        let reserved_at = sink.pieces[0].as_ptr();
        for i in 0..3u8 {
            assert!(sink.write(vec![i; MIN_PIECE]).is_ok());
        }
        assert!(sink.write(vec![7; 6]).is_err(), "one byte over the length");
        assert!(sink.write(vec![7; 5]).is_ok());
        assert_eq!(sink.pieces.len(), 1);
        let bytes = sink.into_vec();
        assert_eq!(bytes.as_ptr(), reserved_at, "never copied");
        assert_eq!(bytes.len(), length);
        assert_eq!(bytes[2 * MIN_PIECE], 2);
        assert_eq!(bytes[length - 1], 7);
    }

    #[test]
    fn a_sink_given_a_larger_buffer_fills_it_and_keeps_the_asked_bound() {
        let mut buffer = vec![9u8; 4 * MIN_PIECE];
        let given_at = buffer.as_ptr();
        buffer.truncate(1);
        let mut sink = ByteSink::reserved(buffer, MIN_PIECE);
        assert!(
            sink.write(vec![1; MIN_PIECE + 1]).is_err(),
            "over the length"
        );
        assert!(sink.write(vec![1; MIN_PIECE]).is_ok());
        let filled = sink.into_vec();
        assert_eq!(filled.as_ptr(), given_at, "the given buffer is filled");
        assert_eq!(filled, vec![1; MIN_PIECE], "its old bytes are gone");
    }
}
