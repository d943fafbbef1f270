//! `put`: a small object in one Put Blob, a larger one as blocks (Put Block,
//! then Put Block List). Either way Azure commits the blob whole or not at
//! all, and every request carries a body held in memory, so a dropped
//! connection or a busy answer is retried like any other request instead of
//! failing a backup over one 16 MiB pack. At most one block is in memory.

use base64::Engine as _;
use guest_sdk::PluginError;
use http_client::transport::{Clock, Method, Transport};
use plugin_util::CHUNK;

use crate::client::{Call, Target};
use crate::store::{HostSource, Store, checked};

/// Objects up to this size go in one Put Blob; larger ones in blocks of
/// this size.
pub const BLOCK: u64 = 4 << 20;
/// Azure's limit of blocks in one blob.
const MAX_BLOCKS: u64 = 50_000;
/// The largest object `put` stores.
pub const MAX_PUT: u64 = BLOCK * MAX_BLOCKS;

impl<T: Transport, C: Clock> Store<'_, T, C> {
    pub fn put(&self, name: &str, size: u64, source: &impl HostSource) -> Result<(), PluginError> {
        checked(name)?;
        if size > MAX_PUT {
            return Err(PluginError::InvalidData(format!(
                "{name}: {size} bytes is more than the {MAX_PUT} bytes a blob of \
                 {MAX_BLOCKS} blocks of {BLOCK} bytes holds"
            )));
        }
        let mut sized = Sized {
            source,
            name,
            size,
            delivered: 0,
        };
        if size <= BLOCK {
            let body = sized.take(size)?;
            sized.finish()?;
            let call = self.call(name, Vec::new(), "BlockBlob");
            return self.send(&call, &body);
        }
        // Block ids of one upload share a random stem, so blocks an
        // interrupted or concurrent upload of the same name left uncommitted
        // are never taken for this one's.
        let stem = upload_stem();
        let mut ids = Vec::new();
        while sized.delivered < size {
            let block = sized.take(BLOCK.min(size - sized.delivered))?;
            let id = block_id(stem, ids.len());
            let query = vec![
                ("comp".to_owned(), "block".to_owned()),
                ("blockid".to_owned(), id.clone()),
            ];
            self.send(&self.call(name, query, ""), &block)?;
            ids.push(id);
        }
        sized.finish()?;
        let query = vec![("comp".to_owned(), "blocklist".to_owned())];
        self.send(&self.call(name, query, ""), block_list(&ids).as_bytes())
    }

    fn call<'n>(&self, name: &'n str, query: Vec<(String, String)>, blob_type: &str) -> Call<'n> {
        let mut headers = Vec::new();
        if !blob_type.is_empty() {
            headers.push(("x-ms-blob-type".into(), blob_type.into()));
        }
        Call {
            op: "store",
            method: Method::Put,
            target: Target::Object(name),
            query,
            headers,
        }
    }

    fn send(&self, call: &Call<'_>, body: &[u8]) -> Result<(), PluginError> {
        self.client
            .execute(call, body)
            .map(drop)
            .map_err(|f| self.client.error(call, f))
    }
}

/// A fresh stem per upload: random in the component; fixed natively, where
/// only the unit tests run.
#[cfg(target_os = "wasi")]
fn upload_stem() -> u64 {
    guest_sdk::wasi::random::random::get_random_u64()
}

#[cfg(not(target_os = "wasi"))]
fn upload_stem() -> u64 {
    0x0123_4567_89ab_cdef
}

/// Azure wants the ids of one blob base64-encoded and of equal length.
pub fn block_id(stem: u64, index: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{stem:016x}-{index:05}"))
}

/// The Put Block List document committing `ids` in order.
fn block_list(ids: &[String]) -> String {
    let mut doc = String::from(r#"<?xml version="1.0" encoding="utf-8"?><BlockList>"#);
    for id in ids {
        doc.push_str("<Latest>");
        doc.push_str(id);
        doc.push_str("</Latest>");
    }
    doc.push_str("</BlockList>");
    doc
}

/// The host's source held to its declared size: one byte too many or too
/// few fails the upload before Azure commits anything.
struct Sized<'a, S> {
    source: &'a S,
    name: &'a str,
    size: u64,
    delivered: u64,
}

impl<S: HostSource> Sized<'_, S> {
    /// The next `n` bytes (`n` no more than what is left to deliver).
    fn take(&mut self, n: u64) -> Result<Vec<u8>, PluginError> {
        let mut out = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        while (out.len() as u64) < n {
            let want = (n - out.len() as u64).min(CHUNK as u64);
            let piece = self.source.read(u32::try_from(want).unwrap_or(u32::MAX))?;
            if piece.is_empty() {
                return Err(PluginError::InvalidData(format!(
                    "{}: the source delivered {} bytes, but {} were declared",
                    self.name,
                    self.delivered + out.len() as u64,
                    self.size
                )));
            }
            if piece.len() as u64 > want {
                return Err(PluginError::InvalidData(format!(
                    "{}: the source returned {} bytes when asked for at most {want}",
                    self.name,
                    piece.len()
                )));
            }
            out.extend_from_slice(&piece);
        }
        self.delivered += n;
        Ok(out)
    }

    /// Fails if the source has more than the declared size.
    fn finish(&self) -> Result<(), PluginError> {
        if self.source.read(1)?.is_empty() {
            return Ok(());
        }
        Err(PluginError::InvalidData(format!(
            "{}: the source delivered more than the {} bytes declared",
            self.name, self.size
        )))
    }
}
