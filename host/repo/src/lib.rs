//! drhost's backup repository: an encrypted, content-addressed, deduplicating
//! format kept in any [`ObjectStore`]. The format is documented in
//! `docs/repository.md`.

pub mod archive;
pub mod store;

pub use archive::{EntryKind, EntryMeta};
pub use store::{ObjectInfo, ObjectStore, StoreError};
