//! An in-memory [`ObjectStore`] for tests (this crate's and the host's), with
//! hooks to damage objects and counters to check the writer's bounds.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::archive::{EntryKind, EntryMeta};
use crate::store::{ObjectInfo, ObjectStore, StoreError};

/// Objects in a `BTreeMap`. Checks object names like a real adapter would.
#[derive(Default)]
pub struct MemoryStore {
    objects: Mutex<BTreeMap<String, Bytes>>,
    append_only: bool,
    put_delay: Option<Duration>,
    puts: AtomicU64,
    /// `get` calls received, failed ones included.
    gets: AtomicU64,
    /// `get_into` calls given a buffer that already had memory.
    gets_into_reused_buffers: AtomicU64,
    bytes_put: AtomicU64,
    puts_in_flight: AtomicUsize,
    max_puts_in_flight: AtomicUsize,
    /// `delete` calls received (refused ones included).
    deletes: AtomicU64,
    /// `put` calls refused because the name existed (append-only stores).
    overwrites_refused: AtomicU64,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').all(|seg| {
            !seg.is_empty()
                && seg.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
        })
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A write-once store, like one with object lock or append-only
    /// credentials: it refuses deletes and any `put` to an existing name.
    pub fn new_append_only() -> Self {
        MemoryStore {
            append_only: true,
            ..Self::default()
        }
    }

    /// Every `put` waits this long (to let uploads pile up in tests).
    pub fn with_put_delay(mut self, delay: Duration) -> Self {
        self.put_delay = Some(delay);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Bytes>> {
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Names of all objects, sorted.
    pub fn names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Names of objects starting with `prefix`.
    pub fn names_with_prefix(&self, prefix: &str) -> Vec<String> {
        self.lock()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    pub fn object(&self, name: &str) -> Option<Bytes> {
        self.lock().get(name).cloned()
    }

    /// Replaces an object's bytes directly (bypasses `put`'s counters).
    pub fn set_object(&self, name: &str, data: impl Into<Bytes>) {
        self.lock().insert(name.to_string(), data.into());
    }

    pub fn remove_object(&self, name: &str) -> bool {
        self.lock().remove(name).is_some()
    }

    /// XORs one byte of an object with `0x01`; false if it has no such byte.
    pub fn flip_byte(&self, name: &str, index: usize) -> bool {
        let mut objects = self.lock();
        let Some(data) = objects.get(name) else {
            return false;
        };
        if index >= data.len() {
            return false;
        }
        let mut v = data.to_vec();
        v[index] ^= 0x01;
        objects.insert(name.to_string(), Bytes::from(v));
        true
    }

    /// Sum of object sizes under `prefix`.
    pub fn bytes_under(&self, prefix: &str) -> u64 {
        self.lock()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.len() as u64)
            .sum()
    }

    /// `get` calls received, failed ones included.
    pub fn gets(&self) -> u64 {
        self.gets.load(Ordering::SeqCst)
    }

    /// `get_into` calls given a buffer that already had memory (a reader
    /// reusing the buffer of a pack it was done with).
    pub fn gets_into_reused_buffers(&self) -> u64 {
        self.gets_into_reused_buffers.load(Ordering::SeqCst)
    }

    /// `delete` calls received, refused ones included.
    pub fn deletes(&self) -> u64 {
        self.deletes.load(Ordering::SeqCst)
    }

    /// `put` calls an append-only store refused because the name existed.
    pub fn overwrites_refused(&self) -> u64 {
        self.overwrites_refused.load(Ordering::SeqCst)
    }

    pub fn puts(&self) -> u64 {
        self.puts.load(Ordering::SeqCst)
    }

    pub fn bytes_put(&self) -> u64 {
        self.bytes_put.load(Ordering::SeqCst)
    }

    /// Most `put` calls that were running at the same time.
    pub fn max_puts_in_flight(&self) -> usize {
        self.max_puts_in_flight.load(Ordering::SeqCst)
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    async fn put(&self, name: &str, data: Bytes) -> Result<(), StoreError> {
        if !valid_name(name) {
            return Err(StoreError::Denied(format!("invalid object name {name:?}")));
        }
        let now = self.puts_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let _guard = InFlight(&self.puts_in_flight);
        self.max_puts_in_flight.fetch_max(now, Ordering::SeqCst);
        match self.put_delay {
            Some(d) => tokio::time::sleep(d).await,
            None => tokio::task::yield_now().await,
        }
        let mut objects = self.lock();
        if self.append_only && objects.contains_key(name) {
            self.overwrites_refused.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Denied(format!(
                "append-only store: {name} exists"
            )));
        }
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.bytes_put
            .fetch_add(data.len() as u64, Ordering::SeqCst);
        objects.insert(name.to_string(), data);
        Ok(())
    }

    async fn get(&self, name: &str, offset: u64, length: Option<u64>) -> Result<Bytes, StoreError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        let data = self
            .object(name)
            .ok_or_else(|| StoreError::NotFound(name.to_string()))?;
        let len = data.len() as u64;
        if offset > len {
            return Err(StoreError::Io(format!(
                "offset {offset} beyond the end of {name}"
            )));
        }
        // Like the filesystem adapter: a range past the end is refused.
        let end = match length {
            Some(l) if offset.saturating_add(l) > len => {
                return Err(StoreError::Adapter(format!(
                    "{name}: range at offset {offset}, length {l}, exceeds its {len} bytes"
                )));
            }
            Some(l) => offset + l,
            None => len,
        };
        Ok(data.slice(offset as usize..end as usize))
    }

    async fn get_into(
        &self,
        name: &str,
        offset: u64,
        length: u64,
        mut buffer: Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        if buffer.capacity() > 0 {
            self.gets_into_reused_buffers.fetch_add(1, Ordering::SeqCst);
        }
        let data = self.get(name, offset, Some(length)).await?;
        buffer.clear();
        buffer.extend_from_slice(&data);
        Ok(buffer)
    }

    async fn stat(&self, name: &str) -> Result<Option<ObjectInfo>, StoreError> {
        Ok(self.object(name).map(|d| ObjectInfo {
            name: name.to_string(),
            size: d.len() as u64,
        }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        Ok(self
            .lock()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| ObjectInfo {
                name: k.clone(),
                size: v.len() as u64,
            })
            .collect())
    }

    async fn delete(&self, name: &str) -> Result<(), StoreError> {
        self.deletes.fetch_add(1, Ordering::SeqCst);
        if self.append_only {
            return Err(StoreError::Denied("append-only store".into()));
        }
        self.lock().remove(name);
        Ok(())
    }

    fn append_only(&self) -> bool {
        self.append_only
    }
}

/// A catalog anchor kept in memory (the host keeps it in a file).
#[derive(Default, Debug)]
pub struct MemoryAnchor {
    anchor: Mutex<Option<crate::CatalogAnchor>>,
}

impl MemoryAnchor {
    pub fn get(&self) -> Option<crate::CatalogAnchor> {
        self.anchor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl crate::AnchorStore for MemoryAnchor {
    fn load(&self) -> std::io::Result<Option<crate::CatalogAnchor>> {
        Ok(self.get())
    }

    fn save(&self, anchor: &crate::CatalogAnchor) -> std::io::Result<()> {
        *self.anchor.lock().unwrap_or_else(|e| e.into_inner()) = Some(anchor.clone());
        Ok(())
    }
}

/// Metadata of a regular file at `path` (mode 0644, mtime 0).
pub fn file_meta(path: &str) -> EntryMeta {
    EntryMeta {
        path: path.into(),
        kind: EntryKind::File,
        mode: 0o644,
        mtime_seconds: 0,
        mtime_nanoseconds: 0,
        link_target: None,
        owner: None,
        attributes: vec![],
    }
}

/// Metadata of a directory at `path` (mode 0755, mtime 0).
pub fn dir_meta(path: &str) -> EntryMeta {
    EntryMeta {
        kind: EntryKind::Directory,
        mode: 0o755,
        ..file_meta(path)
    }
}
