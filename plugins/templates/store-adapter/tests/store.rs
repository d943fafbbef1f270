//! The adapter's logic natively, on a temporary directory: what the host
//! relies on (atomic put, exact ranges, sorted pages, idempotent delete).

use std::cell::RefCell;

use guest_sdk::PluginError;
use store_dir_template::{Config, DirStore, HostSink, HostSource};

struct Bytes(RefCell<Vec<u8>>);

impl HostSource for Bytes {
    fn read(&self, max: u32) -> Result<Vec<u8>, PluginError> {
        let mut data = self.0.borrow_mut();
        let n = data.len().min(max as usize);
        Ok(data.drain(..n).collect())
    }
}

#[derive(Default)]
struct Collect(RefCell<Vec<u8>>);

impl HostSink for Collect {
    fn write(&self, data: &[u8]) -> Result<(), PluginError> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(())
    }
}

fn store(root: &std::path::Path, append_only: bool) -> DirStore {
    let config = serde_json::json!({
        "root": root.to_str().expect("a UTF-8 temporary path"),
        "appendOnly": append_only,
        "config": {},
        "secret": {},
    });
    DirStore::new(Config::parse(&config.to_string()).unwrap())
}

fn put(store: &DirStore, name: &str, data: &[u8]) -> Result<(), PluginError> {
    store.put(name, data.len() as u64, &Bytes(RefCell::new(data.to_vec())))
}

fn get(
    store: &DirStore,
    name: &str,
    offset: u64,
    length: Option<u64>,
) -> Result<Vec<u8>, PluginError> {
    let sink = Collect::default();
    store.get(name, offset, length, &sink)?;
    Ok(sink.0.into_inner())
}

#[test]
fn objects_round_trip_with_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), false);
    store.probe().unwrap();
    let data: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
    put(&store, "packs/ab/abc", &data).unwrap();
    assert_eq!(get(&store, "packs/ab/abc", 0, None).unwrap(), data);
    assert_eq!(
        get(&store, "packs/ab/abc", 10, Some(5)).unwrap(),
        &data[10..15]
    );
    assert_eq!(
        get(&store, "packs/ab/abc", data.len() as u64, None).unwrap(),
        b""
    );
    // A range past the end is an error, never a short answer.
    let past = get(&store, "packs/ab/abc", data.len() as u64 - 1, Some(2));
    assert!(matches!(past, Err(PluginError::InvalidData(_))), "{past:?}");
    assert!(matches!(
        get(&store, "packs/ab/none", 0, None),
        Err(PluginError::NotFound(_))
    ));
    assert_eq!(
        store.stat("packs/ab/abc").unwrap().unwrap().size,
        data.len() as u64
    );
    assert!(
        store.stat("packs/ab").unwrap().is_none(),
        "a directory is no object"
    );
    // Replacing is whole: the new content, nothing of the old.
    put(&store, "packs/ab/abc", b"new").unwrap();
    assert_eq!(get(&store, "packs/ab/abc", 0, None).unwrap(), b"new");
}

#[test]
fn a_short_or_long_source_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), false);
    let short = store.put("x", 10, &Bytes(RefCell::new(b"12345".to_vec())));
    assert!(
        matches!(short, Err(PluginError::InvalidData(_))),
        "{short:?}"
    );
    let long = store.put("x", 2, &Bytes(RefCell::new(b"12345".to_vec())));
    assert!(matches!(long, Err(PluginError::InvalidData(_))), "{long:?}");
    assert!(store.stat("x").unwrap().is_none());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no temporary file left"
    );
}

#[test]
fn lists_in_pages_sorted_after_a_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), false);
    for i in (0..1203).rev() {
        put(&store, &format!("index/{i:05}"), b"x").unwrap();
    }
    put(&store, "index.x", b"y").unwrap();
    put(&store, "keys/a", b"z").unwrap();
    let first = store.list("index/", None).unwrap();
    assert_eq!(first.len(), 1000);
    assert_eq!(first[0].name, "index/00000");
    assert!(first.windows(2).all(|w| w[0].name < w[1].name));
    let rest = store.list("index/", Some(&first[999].name)).unwrap();
    assert_eq!(rest.len(), 203);
    assert_eq!(rest[0].name, "index/01000");
    assert!(
        store
            .list("index/", Some("index/01202"))
            .unwrap()
            .is_empty()
    );
    // Byte order across directories: `index.x` sorts before `index/...`.
    let all = store.list("", None).unwrap();
    assert_eq!(all[0].name, "index.x");
    assert_eq!(store.list("index/0120", None).unwrap().len(), 3);
    assert_eq!(store.list("k", None).unwrap()[0].size, 1);
    assert!(store.list("nothing/", None).unwrap().is_empty());
}

#[test]
fn delete_is_idempotent_and_append_only_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), false);
    put(&store, "a/b", b"1").unwrap();
    store.delete("a/b").unwrap();
    store.delete("a/b").unwrap();
    assert!(store.stat("a/b").unwrap().is_none());

    let locked = crate::store(dir.path(), true);
    put(&locked, "c", b"1").unwrap();
    assert!(matches!(
        put(&locked, "c", b"2"),
        Err(PluginError::Denied(_))
    ));
    assert!(matches!(locked.delete("c"), Err(PluginError::Denied(_))));
    assert_eq!(get(&locked, "c", 0, None).unwrap(), b"1");
}

#[test]
fn names_outside_the_contract_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), false);
    for name in ["../escape", "/abs", "a//b", "UPPER", ""] {
        assert!(put(&store, name, b"1").is_err(), "{name}");
    }
}
