//! Native tests of the store operations with in-memory streams.

use std::cell::{Cell, RefCell};
use std::fs;

use crate::bindings::drhost::plugin::types::PluginError;
use crate::store::{Sink, Source, Store};

struct Bytes {
    data: Vec<u8>,
    at: Cell<usize>,
}

impl Bytes {
    fn new(data: &[u8]) -> Self {
        Self {
            data: data.to_vec(),
            at: Cell::new(0),
        }
    }
}

impl Source for Bytes {
    fn read(&self, max: u32) -> Result<Vec<u8>, PluginError> {
        // Short reads, to show `put` does not rely on full chunks.
        let start = self.at.get();
        let end = self.data.len().min(start + (max as usize).min(100_000));
        self.at.set(end);
        Ok(self.data[start..end].to_vec())
    }
}

#[derive(Default)]
struct Collect {
    data: RefCell<Vec<u8>>,
    calls: Cell<usize>,
}

impl Sink for Collect {
    fn write(&self, data: &[u8]) -> Result<(), PluginError> {
        assert!(data.len() <= 1 << 20);
        self.calls.set(self.calls.get() + 1);
        self.data.borrow_mut().extend_from_slice(data);
        Ok(())
    }
}

fn with_store(test: impl FnOnce(&Store, &std::path::Path)) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_owned();
    test(
        &Store {
            root: &root,
            append_only: false,
        },
        dir.path(),
    );
}

fn get(
    store: &Store,
    name: &str,
    offset: u64,
    length: Option<u64>,
) -> Result<Vec<u8>, PluginError> {
    let sink = Collect::default();
    store.get(name, offset, length, &sink)?;
    Ok(sink.data.into_inner())
}

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn put_get_stat_round_trip() {
    with_store(|store, dir| {
        let data = content((2 << 20) + 7);
        store
            .put("packs/3f/3fa9", data.len() as u64, &Bytes::new(&data))
            .unwrap();
        assert_eq!(get(store, "packs/3f/3fa9", 0, None).unwrap(), data);
        assert_eq!(
            get(store, "packs/3f/3fa9", 5, Some(10)).unwrap(),
            &data[5..15]
        );
        assert_eq!(
            get(store, "packs/3f/3fa9", data.len() as u64, None).unwrap(),
            b""
        );
        let info = store.stat("packs/3f/3fa9").unwrap().unwrap();
        assert_eq!(
            (info.name.as_str(), info.size),
            ("packs/3f/3fa9", data.len() as u64)
        );
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.join("packs/3f")).unwrap().count(), 1);
    });
}

#[test]
fn get_streams_in_full_chunks() {
    with_store(|store, _| {
        let data = content((3 << 20) + 1);
        store
            .put("big", data.len() as u64, &Bytes::new(&data))
            .unwrap();
        let sink = Collect::default();
        store.get("big", 0, None, &sink).unwrap();
        assert_eq!(sink.calls.get(), 4);
    });
}

#[test]
fn put_replaces_atomically_and_checks_size() {
    with_store(|store, dir| {
        store.put("catalog", 3, &Bytes::new(b"old")).unwrap();
        store.put("catalog", 5, &Bytes::new(b"newer")).unwrap();
        assert_eq!(get(store, "catalog", 0, None).unwrap(), b"newer");
        for (declared, data) in [(4, &b"abc"[..]), (2, b"abc"), (0, b"a")] {
            let err = store
                .put("catalog", declared, &Bytes::new(data))
                .unwrap_err();
            assert!(matches!(err, PluginError::InvalidData(_)), "{err:?}");
        }
        assert_eq!(get(store, "catalog", 0, None).unwrap(), b"newer");
        assert_eq!(
            fs::read_dir(dir).unwrap().count(),
            1,
            "temporary files removed"
        );
    });
}

#[test]
fn missing_objects() {
    with_store(|store, _| {
        assert!(matches!(
            get(store, "nope", 0, None),
            Err(PluginError::NotFound(_))
        ));
        assert!(store.stat("nope").unwrap().is_none());
        store.put("file", 1, &Bytes::new(b"x")).unwrap();
        // A name below a file, and a directory, are no objects either.
        assert!(store.stat("file/below").unwrap().is_none());
        assert!(matches!(
            get(store, "file/below", 0, None),
            Err(PluginError::NotFound(_))
        ));
        store.put("d/x", 1, &Bytes::new(b"x")).unwrap();
        assert!(store.stat("d").unwrap().is_none());
        assert!(matches!(
            get(store, "d", 0, None),
            Err(PluginError::NotFound(_))
        ));
        store.delete("nope").unwrap();
        store.delete("file/below").unwrap();
    });
}

#[test]
fn ranges_beyond_the_end_are_refused() {
    with_store(|store, _| {
        store.put("o", 4, &Bytes::new(b"abcd")).unwrap();
        for (offset, length) in [(5, None), (2, Some(3)), (1, Some(u64::MAX))] {
            assert!(matches!(
                get(store, "o", offset, length),
                Err(PluginError::InvalidData(_))
            ));
        }
    });
}

#[test]
fn delete_prunes_empty_directories() {
    with_store(|store, dir| {
        store.put("a/b/c", 1, &Bytes::new(b"1")).unwrap();
        store.put("a/d", 1, &Bytes::new(b"2")).unwrap();
        store.delete("a/b/c").unwrap();
        assert!(!dir.join("a/b").exists());
        assert!(dir.join("a/d").exists());
        store.delete("a/d").unwrap();
        assert!(!dir.join("a").exists());
        assert!(dir.exists());
        let listed = store.list("", None).unwrap();
        assert!(listed.is_empty());
    });
}

#[test]
fn bad_names_are_invalid_data() {
    with_store(|store, _| {
        for bad in ["../x", "/x", "a//b", "A", ".tmp-1"] {
            let err = store.put(bad, 1, &Bytes::new(b"x")).unwrap_err();
            assert!(matches!(err, PluginError::InvalidData(_)), "{bad}: {err:?}");
            assert!(matches!(store.stat(bad), Err(PluginError::InvalidData(_))));
            assert!(matches!(
                store.delete(bad),
                Err(PluginError::InvalidData(_))
            ));
        }
    });
}

#[test]
fn probe_checks_the_root() {
    with_store(|store, dir| {
        store.probe().unwrap();
        assert_eq!(fs::read_dir(dir).unwrap().count(), 0, "probe file removed");
    });
    let missing = Store {
        root: "/definitely/not/here",
        append_only: false,
    };
    assert!(matches!(
        missing.probe(),
        Err(PluginError::InvalidConfig(_))
    ));
}

#[test]
fn an_append_only_store_never_replaces_or_deletes_and_records_delete_requests() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_owned();
    let store = Store {
        root: &root,
        append_only: true,
    };
    store
        .put("backups/61.json", 3, &Bytes::new(b"one"))
        .unwrap();
    assert!(matches!(
        store.put("backups/61.json", 3, &Bytes::new(b"two")),
        Err(PluginError::Denied(_))
    ));
    assert!(matches!(
        store.delete("backups/61.json"),
        Err(PluginError::Denied(_))
    ));
    assert_eq!(
        fs::read(dir.path().join("backups/61.json")).unwrap(),
        b"one"
    );
    let log = fs::read_to_string(dir.path().join(crate::store::DELETE_LOG)).unwrap();
    assert_eq!(log, "backups/61.json\n");
    // The log is not an object: never listed, never addressable.
    let all: Vec<String> = store
        .list("", None)
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(all, ["backups/61.json"]);
    assert!(store.stat(crate::store::DELETE_LOG).is_err());
}
