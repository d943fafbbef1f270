//! The object store the repository is kept in. In production this is a store
//! adapter plugin (see `drhost-runtime`); tests use
//! [`MemoryStore`](crate::testing::MemoryStore).

use async_trait::async_trait;
use bytes::Bytes;

/// One stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub name: String,
    pub size: u64,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object {0} not found")]
    NotFound(String),
    #[error("store refused the request: {0}")]
    Denied(String),
    #[error("store I/O failed: {0}")]
    Io(String),
    #[error("store adapter failed: {0}")]
    Adapter(String),
}

/// A flat namespace of immutable objects. Names are `/`-separated segments of
/// `[a-z0-9._-]`. `put` must be atomic: a reader sees the previous object or
/// the whole new one.
///
/// The repository keeps objects bounded (packs of at most a few tens of MiB), so
/// whole-object `Bytes` are fine here; streaming happens below this trait.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Store `data` under `name`, atomically, replacing any previous object.
    async fn put(&self, name: &str, data: Bytes) -> Result<(), StoreError>;
    /// Read `length` bytes (all when `None`) of `name` from `offset`.
    async fn get(&self, name: &str, offset: u64, length: Option<u64>) -> Result<Bytes, StoreError>;
    /// Read `length` bytes of `name` from `offset` into `buffer` (cleared
    /// first), so a reader can reuse memory it already has mapped. A store
    /// that cannot fill a given buffer may return another.
    async fn get_into(
        &self,
        name: &str,
        offset: u64,
        length: u64,
        buffer: Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        drop(buffer);
        Ok(Vec::from(self.get(name, offset, Some(length)).await?))
    }
    /// Size of `name`, or `None` if it does not exist.
    async fn stat(&self, name: &str) -> Result<Option<ObjectInfo>, StoreError>;
    /// Every object whose name starts with `prefix`, sorted by name.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError>;
    /// Remove `name`; removing a missing object succeeds.
    async fn delete(&self, name: &str) -> Result<(), StoreError>;
    /// True if the store refuses deletes (the repository then never deletes).
    fn append_only(&self) -> bool {
        false
    }
}
