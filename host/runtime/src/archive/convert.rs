//! WIT entry records to the repository's and back; what comes from a plugin
//! is checked on the way in.

use drhost_repo::{EntryKind, EntryMeta, Owner, OwnerName, RawName};

use crate::bindings::stage::drhost::plugin::archive as wit;

/// Checks an entry from a plugin and converts it to the repository's type.
pub(crate) fn entry_from_wit(meta: wit::EntryMeta) -> Result<EntryMeta, String> {
    let meta = EntryMeta {
        path: RawName(meta.path),
        kind: match meta.kind {
            wit::EntryKind::File => EntryKind::File,
            wit::EntryKind::Directory => EntryKind::Directory,
            wit::EntryKind::Symlink => EntryKind::Symlink,
            wit::EntryKind::HardLink => EntryKind::HardLink,
        },
        // Type bits (S_IFREG...) are redundant with `kind`; keep permissions.
        mode: meta.mode & 0o7777,
        mtime_seconds: meta.mtime_seconds,
        mtime_nanoseconds: meta.mtime_nanoseconds,
        link_target: meta.link_target.map(RawName),
        owner: meta.owner.map(|o| Owner {
            uid: o.uid,
            gid: o.gid,
            user: o.user.map(OwnerName::from),
            group: o.group.map(OwnerName::from),
        }),
        attributes: meta.attributes,
    };
    meta.validate().map_err(|e| e.to_string())?;
    Ok(meta)
}

pub(crate) fn entry_to_wit(meta: EntryMeta) -> wit::EntryMeta {
    wit::EntryMeta {
        path: meta.path.0,
        kind: match meta.kind {
            EntryKind::File => wit::EntryKind::File,
            EntryKind::Directory => wit::EntryKind::Directory,
            EntryKind::Symlink => wit::EntryKind::Symlink,
            EntryKind::HardLink => wit::EntryKind::HardLink,
        },
        mode: meta.mode,
        mtime_seconds: meta.mtime_seconds,
        mtime_nanoseconds: meta.mtime_nanoseconds,
        link_target: meta.link_target.map(|t| t.0),
        owner: meta.owner.map(|o| wit::Owner {
            uid: o.uid,
            gid: o.gid,
            user: o.user.map(String::from),
            group: o.group.map(String::from),
        }),
        attributes: meta.attributes,
    }
}

#[cfg(test)]
pub(super) mod test_meta {
    use super::*;

    pub(crate) fn wit_meta(path: &str, kind: wit::EntryKind) -> wit::EntryMeta {
        wit::EntryMeta {
            path: path.into(),
            kind,
            mode: 0o100644,
            mtime_seconds: 1,
            mtime_nanoseconds: 2,
            link_target: (kind == wit::EntryKind::Symlink).then(|| b"target".to_vec()),
            owner: None,
            attributes: vec![],
        }
    }

    pub(crate) fn repo_meta(path: &str) -> EntryMeta {
        entry_from_wit(wit_meta(path, wit::EntryKind::File)).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_meta::wit_meta;
    use super::*;

    #[test]
    fn entries_are_validated_and_modes_masked() {
        let meta = entry_from_wit(wit_meta("a/b", wit::EntryKind::File)).unwrap();
        assert_eq!(meta.mode, 0o644);
        assert!(entry_from_wit(wit_meta("../x", wit::EntryKind::File)).is_err());
        let mut link = wit_meta("l", wit::EntryKind::Symlink);
        assert!(entry_from_wit(link.clone()).is_ok());
        link.link_target = None;
        assert!(entry_from_wit(link).is_err());
        let mut file = wit_meta("f", wit::EntryKind::File);
        file.link_target = Some("x".into());
        assert!(entry_from_wit(file).is_err());
        let mut nanos = wit_meta("f", wit::EntryKind::File);
        nanos.mtime_nanoseconds = 1_000_000_000;
        assert!(entry_from_wit(nanos).is_err());
        let mut attrs = wit_meta("f", wit::EntryKind::File);
        attrs.attributes = (0..65).map(|i| (i.to_string(), String::new())).collect();
        assert!(entry_from_wit(attrs).is_err());
    }
}
