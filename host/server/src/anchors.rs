//! The host's memory of each store's catalog (`<state>/catalog-anchors/
//! <store identity>.json`): the newest catalog entry it has seen. A store
//! rolled back to an older, self-consistent copy can only be recognised
//! against something kept outside the store. Keyed by the store's identity,
//! so a store registered again under the same name starts afresh. Deleting
//! the file makes the host accept the store's current catalog.

use std::path::{Path, PathBuf};

use drhost_repo::{AnchorStore, CatalogAnchor};

use crate::fsutil::write_atomic;

#[derive(Debug)]
pub struct FileAnchor {
    path: PathBuf,
}

impl FileAnchor {
    pub fn new(state_dir: &Path, store_identity: &str) -> Self {
        FileAnchor {
            path: state_dir
                .join("catalog-anchors")
                .join(format!("{store_identity}.json")),
        }
    }
}

impl AnchorStore for FileAnchor {
    fn load(&self) -> std::io::Result<Option<CatalogAnchor>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(std::io::Error::other)
    }

    fn save(&self, anchor: &CatalogAnchor) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let bytes = serde_json::to_vec_pretty(anchor).map_err(std::io::Error::other)?;
        write_atomic(&self.path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let anchor = FileAnchor::new(dir.path(), "abc");
        assert_eq!(anchor.load().expect("load"), None);
        let mut a = CatalogAnchor::default();
        a.backups.insert(1, "nightly".into());
        anchor.save(&a).expect("save");
        assert_eq!(anchor.load().expect("load"), Some(a));
    }
}
