//! Backup and restore against the in-memory S3 of `s3-client`, through an
//! in-memory archive: odd keys, metadata, multipart restores, vanished objects.

use std::cell::{Cell, RefCell};

use guest_sdk::{EntryKind, EntryMeta, EntrySink, EntrySource, Host, LogLevel};
use s3_client::Client;
use s3_client::fake::{ACCESS_KEY, BUCKET, FakeClock, FakeS3, REGION, SECRET};

use crate::{PluginError, backup, config, restore};

const MIB: usize = 1 << 20;

#[derive(Default)]
struct Archive {
    entries: RefCell<Vec<(EntryMeta, Vec<u8>)>>,
    open: Cell<bool>,
    /// Called after each entry ends (to change the bucket mid-backup).
    after_entry: Option<Box<dyn Fn(usize)>>,
}

impl EntrySink for Archive {
    fn begin_entry(&self, meta: &EntryMeta) -> Result<(), PluginError> {
        assert!(!self.open.get());
        plugin_util::entry_path::validate(&meta.path).unwrap();
        assert!(!meta.path.contains(&b'\\'));
        self.open.set(true);
        self.entries.borrow_mut().push((meta.clone(), Vec::new()));
        Ok(())
    }
    fn write(&self, data: &[u8]) -> Result<(), PluginError> {
        assert!(self.open.get() && data.len() <= MIB);
        let mut entries = self.entries.borrow_mut();
        entries.last_mut().unwrap().1.extend_from_slice(data);
        Ok(())
    }
    fn end_entry(&self) -> Result<(), PluginError> {
        assert!(self.open.get());
        self.open.set(false);
        if let Some(f) = &self.after_entry {
            f(self.entries.borrow().len());
        }
        Ok(())
    }
}

/// Reads back what an [`Archive`] holds; reading fails past `fail_at`
/// bytes of an entry, as when a pack turns out damaged.
struct Reader {
    entries: Vec<(EntryMeta, Vec<u8>)>,
    next: Cell<usize>,
    at: Cell<usize>,
    fail_at: Option<usize>,
}

impl Reader {
    fn new(entries: Vec<(EntryMeta, Vec<u8>)>) -> Self {
        Self {
            entries,
            next: Cell::new(0),
            at: Cell::new(0),
            fail_at: None,
        }
    }
}

impl EntrySource for Reader {
    fn next_entry(&self) -> Result<Option<EntryMeta>, PluginError> {
        let i = self.next.get();
        self.next.set(i + 1);
        self.at.set(0);
        Ok(self.entries.get(i).map(|(meta, _)| meta.clone()))
    }
    fn read(&self, max: u32) -> Result<Vec<u8>, PluginError> {
        let data = &self.entries[self.next.get() - 1].1;
        let start = self.at.get();
        let end = data.len().min(start + (max as usize).min(200_000));
        if self.fail_at.is_some_and(|at| end > at) {
            return Err(PluginError::InvalidData(
                "pack 3fa9: authentication failed".into(),
            ));
        }
        self.at.set(end);
        Ok(data[start..end].to_vec())
    }
}

#[derive(Default)]
struct FakeHost {
    warnings: RefCell<Vec<String>>,
    progress: Cell<(u64, u64)>,
}

impl Host for FakeHost {
    fn log(&self, level: LogLevel, message: &str) {
        if matches!(level, LogLevel::Warn) {
            self.warnings.borrow_mut().push(message.to_owned());
        }
    }
    fn message(&self, _: u32, _: &str) {}
    fn skipped(&self, _: &[u8], _: &str) {
        unreachable!("the plugin leaves no object out unreported")
    }
    fn progress(&self, bytes: u64, items: u64) {
        let (b, i) = self.progress.get();
        assert!(bytes >= b && items >= i, "progress is monotonic");
        self.progress.set((bytes, items));
    }
}

fn config(prefix: &str, restore_bucket: Option<&str>) -> config::Config {
    let restore = restore_bucket.map_or(String::new(), |b| format!(r#", "restore_bucket": "{b}""#));
    config::parse(&format!(
        r#"{{"endpoint": "http://127.0.0.1:3900", "region": "{REGION}", "bucket": "{BUCKET}",
            "prefix": "{prefix}", "access_key": "{ACCESS_KEY}", "password": "{SECRET}",
            "part_size_mib": 5{restore}}}"#
    ))
    .unwrap()
}

fn put(s3: &FakeS3, key: &str, data: Vec<u8>, meta: &[(&str, &str)]) {
    let meta = meta
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    s3.objects.borrow_mut().insert(key.to_owned(), (data, meta));
}

const KEYS: &[&str] = &[
    "photos/2024/a.jpg",
    "a//b",
    "dir/",
    "./x/../y",
    "with space/ünïcode/日本語 & co.txt",
    "100%\\back",
    "",
];

#[test]
fn backs_up_and_restores_every_object_exactly() {
    let (s3, clock) = (FakeS3::new(), FakeClock::default());
    for (i, key) in KEYS.iter().enumerate() {
        put(
            &s3,
            &format!("media/{key}"),
            vec![i as u8; i * 1000],
            &[
                ("content-type", "image/jpeg"),
                ("x-amz-meta-owner", "team a"),
            ],
        );
    }
    put(&s3, "elsewhere", vec![1], &[]);
    let big: Vec<u8> = (0..11 * MIB + 5).map(|i| (i % 251) as u8).collect();
    put(
        &s3,
        "media/big.bin",
        big.clone(),
        &[("cache-control", "no-cache")],
    );

    let c = config("media", None);
    let client = Client::new(c.source, &s3, &clock);
    let archive = Archive::default();
    let host = FakeHost::default();
    let totals = backup::backup(&client, &archive, &host).unwrap();
    assert_eq!(totals.progress.items, KEYS.len() as u64 + 1);
    assert_eq!(totals.vanished, 0);
    assert_eq!(
        host.progress.get(),
        (totals.progress.bytes, totals.progress.items)
    );

    let entries = archive.entries.into_inner();
    let by_key = |key: &str| {
        entries
            .iter()
            .find(|(m, _)| m.attributes.iter().any(|(k, v)| k == "s3-key" && v == key))
            .unwrap()
    };
    let (meta, data) = by_key("big.bin");
    assert_eq!(data, &big);
    assert_eq!(meta.kind, EntryKind::File);
    assert_eq!(meta.mtime_seconds, 1_704_164_645);
    assert!(
        meta.attributes
            .contains(&("cache-control".into(), "no-cache".into()))
    );
    assert_eq!(by_key("a//b").0.path, b"a/%/b");
    assert_eq!(by_key("").0.path, b"%");

    // Restore into an empty bucket, below another prefix.
    let target = FakeS3::new();
    let c = config("restored", None);
    let client = Client::new(c.target, &target, &clock);
    let reader = Reader::new(entries);
    let totals = restore::restore(&client, &reader, &FakeHost::default()).unwrap();
    assert_eq!(totals.items, KEYS.len() as u64 + 1);
    let restored = target.objects.borrow();
    assert_eq!(restored.len(), KEYS.len() + 1);
    for (source_key, (data, meta)) in s3.objects.borrow().iter() {
        let Some(key) = source_key.strip_prefix("media/") else {
            continue;
        };
        let (restored_data, restored_meta) = &restored[&format!("restored/{key}")];
        assert_eq!(restored_data, data, "{key:?}");
        assert_eq!(restored_meta, meta, "{key:?}");
    }
    // The large object went up in parts, none larger than the part size.
    assert!(target.largest_body.get() <= 5 * MIB);
    assert!(
        target
            .log
            .borrow()
            .iter()
            .any(|l| l.contains("partNumber=3"))
    );
}

#[test]
fn many_objects_are_listed_page_by_page() {
    let (s3, clock) = (FakeS3::new(), FakeClock::default());
    for i in 0..2500 {
        put(&s3, &format!("k/{i:05}"), vec![1, 2, 3], &[]);
    }
    let client = Client::new(config("", None).source, &s3, &clock);
    let archive = Archive::default();
    let totals = backup::backup(&client, &archive, &FakeHost::default()).unwrap();
    assert_eq!(totals.progress.items, 2500);
    assert_eq!(totals.progress.bytes, 7500);
    let lists = s3
        .log
        .borrow()
        .iter()
        .filter(|l| l.starts_with("GET /drhost?"))
        .count();
    assert_eq!(lists, 3);
}

#[test]
fn an_object_deleted_mid_backup_is_left_out_with_a_warning() {
    let (s3, clock) = (FakeS3::new(), FakeClock::default());
    for key in ["a", "b", "c"] {
        put(&s3, key, key.as_bytes().to_vec(), &[]);
    }
    let s3 = std::rc::Rc::new(s3);
    let watcher = s3.clone();
    let archive = Archive {
        after_entry: Some(Box::new(move |n| {
            if n == 1 {
                watcher.objects.borrow_mut().remove("b");
            }
        })),
        ..Archive::default()
    };
    let client = Client::new(config("", None).source, &*s3, &clock);
    let host = FakeHost::default();
    let totals = backup::backup(&client, &archive, &host).unwrap();
    assert_eq!(totals.progress.items, 2);
    assert_eq!(totals.vanished, 1);
    assert_eq!(host.warnings.borrow().len(), 1);
    assert!(host.warnings.borrow()[0].contains("\"b\""));
}

#[test]
fn restore_refuses_entries_it_cannot_trust() {
    let clock = FakeClock::default();
    let s3 = FakeS3::new();
    let client = Client::new(config("", None).target, &s3, &clock);
    let entry = |path: &[u8], attributes: &[(&str, &str)], kind| EntryMeta {
        path: path.to_vec(),
        kind,
        mode: 0o644,
        mtime_seconds: 0,
        mtime_nanoseconds: 0,
        link_target: None,
        owner: None,
        attributes: attributes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    for meta in [
        entry(b"a", &[("s3-key", "b"), ("s3-size", "0")], EntryKind::File),
        entry(b"a", &[("s3-key", "a")], EntryKind::File),
        entry(b"a", &[("s3-key", "a"), ("s3-size", "x")], EntryKind::File),
        entry(b"a%zz", &[("s3-size", "0")], EntryKind::File),
        entry(b"\xff", &[("s3-size", "0")], EntryKind::File),
        entry(b"l", &[], EntryKind::Symlink),
        entry(b"h", &[], EntryKind::HardLink),
    ] {
        let reader = Reader::new(vec![(meta, Vec::new())]);
        let err = restore::restore(&client, &reader, &FakeHost::default()).unwrap_err();
        assert!(matches!(err, PluginError::InvalidData(_)), "{err:?}");
    }
    // An entry shorter than its recorded size is refused, and nothing stored.
    let reader = Reader::new(vec![(
        entry(b"a", &[("s3-key", "a"), ("s3-size", "10")], EntryKind::File),
        vec![1; 5],
    )]);
    let err = restore::restore(&client, &reader, &FakeHost::default()).unwrap_err();
    assert!(matches!(err, PluginError::InvalidData(_)), "{err:?}");
    assert!(s3.objects.borrow().is_empty());
}

/// A restore that fails midway leaves no partial object: a multipart
/// upload whose source fails is aborted, a single PUT is never sent.
#[test]
fn a_failing_restore_leaves_no_partial_object() {
    let clock = FakeClock::default();
    let s3 = FakeS3::new();
    let client = Client::new(config("", None).target, &s3, &clock);
    for size in [3 * MIB, 12 * MIB] {
        let key = format!("obj-{size}");
        let meta = EntryMeta {
            path: key.clone().into_bytes(),
            kind: EntryKind::File,
            mode: 0o644,
            mtime_seconds: 0,
            mtime_nanoseconds: 0,
            link_target: None,
            owner: None,
            attributes: vec![
                ("s3-key".into(), key.clone()),
                ("s3-size".into(), size.to_string()),
            ],
        };
        let mut reader = Reader::new(vec![(meta, vec![7; size])]);
        reader.fail_at = Some(size - MIB);
        let err = restore::restore(&client, &reader, &FakeHost::default()).unwrap_err();
        assert!(matches!(err, PluginError::InvalidData(_)), "{err:?}");
        assert!(s3.objects.borrow().is_empty(), "{size}: nothing stored");
        assert!(s3.uploads.borrow().is_empty(), "{size}: upload aborted");
    }
    let log = s3.log.borrow();
    assert!(
        log.iter()
            .all(|l| !l.starts_with("PUT /drhost/obj-3145728")),
        "{log:?}"
    );
    assert!(
        log.last()
            .unwrap()
            .starts_with("DELETE /drhost/obj-12582912?uploadId="),
        "{log:?}"
    );
}
