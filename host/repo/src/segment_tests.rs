//! Manifest segments (version 3): what an unchanged or slightly changed
//! tree adds to the store, how segments are indexed and verified, and that
//! older manifest versions still read. They look at manifests and sign
//! records, so they live inside the crate.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use rand::{Rng, SeedableRng};

use crate::commit::CommitRecord;
use crate::index::{ChunkIndex, PackSizes};
use crate::keys::ChunkId;
use crate::manifest::Manifest;
use crate::testing::{MemoryStore, dir_meta, file_meta};
use crate::{BackupInfo, BackupReader, EntryMeta, RepoError, Repository, RepositoryOptions};
use crate::{blob, names, pack};

type Entries = Vec<(EntryMeta, Vec<u8>)>;

const PASSCODE: &str = "segments";

/// A tree of `files` small files (20–300 random bytes, distinct mtimes) in
/// directories of 500.
fn tree(files: usize, seed: u64) -> Entries {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut entries = Vec::with_capacity(files + files / 500 + 1);
    for i in 0..files {
        if i % 500 == 0 {
            entries.push((dir_meta(&format!("dir{:03}", i / 500)), vec![]));
        }
        let mut meta = file_meta(&format!("dir{:03}/file{i:06}.txt", i / 500));
        meta.mtime_seconds = 1_700_000_000 + i as i64;
        meta.mtime_nanoseconds = rng.gen_range(0..1_000_000_000);
        let len = rng.gen_range(20..300);
        let data = (0..len).map(|_| rng.r#gen()).collect();
        entries.push((meta, data));
    }
    entries
}

async fn back_up(repo: &Repository, name: &str, start: i64, entries: &Entries) -> BackupInfo {
    let info = BackupInfo::new(name, "", "manual", start, 0, "");
    let mut w = repo.begin_backup(PASSCODE, info).await.unwrap();
    let mut s = w.begin_stage("files", "test").await.unwrap();
    for (meta, data) in entries {
        s.begin_entry(meta.clone()).await.unwrap();
        if !data.is_empty() {
            s.write(data).await.unwrap();
        }
        s.end_entry().await.unwrap();
    }
    s.finish(vec![("run".into(), name.into())], start, start)
        .await
        .unwrap();
    w.commit(start + 1).await.unwrap()
}

async fn read_all(reader: &BackupReader) -> Entries {
    let mut r = reader.stage_reader("files").unwrap();
    let mut out = Vec::new();
    while let Some(meta) = r.next_entry().await.unwrap() {
        let mut data = Vec::new();
        loop {
            let piece = r.read(1 << 20).await.unwrap();
            if piece.is_empty() {
                break;
            }
            data.extend_from_slice(&piece);
        }
        out.push((meta, data));
    }
    out
}

/// Objects of the store by name, with their sizes.
fn objects(store: &MemoryStore) -> BTreeMap<String, u64> {
    store
        .names()
        .into_iter()
        .map(|n| {
            let size = store.object(&n).map_or(0, |o| o.len() as u64);
            (n, size)
        })
        .collect()
}

/// The objects in `after` that are not in `before`.
fn added(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter(|(n, _)| !before.contains_key(*n))
        .map(|(n, s)| (n.clone(), *s))
        .collect()
}

fn segment_ids(m: &Manifest) -> HashSet<ChunkId> {
    m.segments.iter().map(|c| c.id).collect()
}

/// Stored bytes of a manifest: its root object and its segment blobs.
fn manifest_bytes(store: &MemoryStore, name: &str, m: &Manifest) -> u64 {
    let record = CommitRecord::parse(
        &names::record_object(name),
        &store.object(&names::record_object(name)).unwrap(),
    )
    .unwrap();
    record.manifest_size + m.segments.iter().map(|c| u64::from(c.length)).sum::<u64>()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_tree_adds_no_pack_and_only_a_small_root() {
    let store = Arc::new(MemoryStore::new());
    let repo = Repository::open(store.clone()).await.unwrap();
    let entries = tree(20_000, 1);
    back_up(&repo, "one", 1, &entries).await;
    let before = objects(&store);
    let two = back_up(&repo, "two", 2, &entries).await;
    let new = added(&before, &objects(&store));

    let one_m = repo.open_backup("one", PASSCODE).await.unwrap();
    let two_m = repo.open_backup("two", PASSCODE).await.unwrap();
    let (m1, m2) = (one_m.manifest(), two_m.manifest());
    let first_manifest = manifest_bytes(&store, "one", m1);
    let total: u64 = new.values().sum();
    let mut whole = m1.clone();
    whole.segments.clear();
    let as_v2 = blob::seal_manifest(one_m.keys(), &serde_json::to_vec(&whole).unwrap())
        .unwrap()
        .len();
    println!("the same manifest as one version 2 object: {as_v2} bytes");
    println!(
        "unchanged backup of {} entries added {total} bytes in {:?}; first manifest \
         {first_manifest} bytes in {} segments",
        entries.len(),
        new,
        m1.segments.len()
    );
    assert!(
        new.keys().all(|n| !n.starts_with("packs/")),
        "a pack was written: {new:?}"
    );
    assert!(total <= 64 * 1024, "{total} bytes added");
    assert!(m1.segments.len() > 10, "{} segments", m1.segments.len());
    assert_eq!(segment_ids(m1), segment_ids(m2), "segments are shared");
    // Segments are packed after the data packs are sealed: their packs,
    // fetched whole when a manifest is read, hold nothing else.
    let data_packs: HashSet<u32> = m1.chunks.iter().map(|c| c.pack).collect();
    assert!(m1.segments.iter().all(|c| !data_packs.contains(&c.pack)));
    let root = new.keys().find(|n| n.starts_with("manifests/")).unwrap();
    assert_eq!(two.stored_bytes, new[root], "stored_bytes: the root only");

    // Both read back as written, with the same chunk table.
    assert_eq!(m1.chunks, m2.chunks);
    assert!(read_all(&one_m).await == entries);
    assert!(read_all(&two_m).await == entries);
    assert_eq!(
        two_m.stage_metadata("files").unwrap(),
        [("run".into(), "two".into())]
    );
    two_m.verify().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_or_added_file_rewrites_only_a_few_segments() {
    let store = Arc::new(MemoryStore::new());
    let repo = Repository::open(store.clone()).await.unwrap();
    let mut entries = tree(20_000, 2);
    back_up(&repo, "one", 1, &entries).await;
    let m1 = repo.open_backup("one", PASSCODE).await.unwrap();
    let first_manifest = manifest_bytes(&store, "one", m1.manifest());

    // One file in the middle changes (content and mtime).
    let middle = (entries.len() / 2..)
        .find(|&i| !entries[i].1.is_empty())
        .unwrap();
    entries[middle].0.mtime_seconds += 60;
    entries[middle].1 = b"changed content".to_vec();
    let before = objects(&store);
    let two = back_up(&repo, "two", 2, &entries).await;
    let changed: u64 = added(&before, &objects(&store)).values().sum();

    // One file is added near the start: nothing after it moves.
    let changed_entries = entries.clone();
    entries.insert(10, (file_meta("dir000/added.txt"), b"new file".to_vec()));
    let before = objects(&store);
    back_up(&repo, "three", 3, &entries).await;
    let grown: u64 = added(&before, &objects(&store)).values().sum();

    let m2 = repo.open_backup("two", PASSCODE).await.unwrap();
    let m3 = repo.open_backup("three", PASSCODE).await.unwrap();
    let fresh = |old: &BackupReader, new: &BackupReader| {
        let old = segment_ids(old.manifest());
        new.manifest()
            .segments
            .iter()
            .filter(|c| !old.contains(&c.id))
            .count()
    };
    let (new2, new3) = (fresh(&m1, &m2), fresh(&m2, &m3));
    println!(
        "first manifest {first_manifest} bytes in {} segments; one changed file: \
         {changed} bytes added ({new2} new segments); one added file: {grown} bytes \
         added ({new3} new segments)",
        m1.manifest().segments.len()
    );
    assert!(new2 <= 3 && new3 <= 3, "{new2} and {new3} new segments");
    assert!(
        changed * 5 < first_manifest,
        "{changed} of {first_manifest}"
    );
    assert!(grown * 5 < first_manifest, "{grown} of {first_manifest}");
    assert!(two.stored_bytes <= changed);
    assert!(read_all(&m2).await == changed_entries);
    assert!(read_all(&m3).await == entries);
}

/// A backup's manifest rewritten as version 2 (one object, no segments),
/// and its record re-signed for it: what an older drhost wrote.
async fn rewrite_as_version_2(store: &MemoryStore, reader: &BackupReader, name: &str) {
    let mut m = reader.manifest().clone();
    m.version = 2;
    m.segments.clear();
    let sealed = blob::seal_manifest(reader.keys(), &serde_json::to_vec(&m).unwrap()).unwrap();
    let manifest = names::manifest_object(&pack::pack_hash(&sealed));
    let object = names::record_object(name);
    let mut record = CommitRecord::parse(&object, &store.object(&object).unwrap()).unwrap();
    record.manifest = manifest.clone();
    record.manifest_size = sealed.len() as u64;
    record.sign(reader.keys());
    store.set_object(&manifest, sealed);
    store.set_object(&object, record.to_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_2_manifest_still_reads_and_deduplicates() {
    let store = Arc::new(MemoryStore::new());
    let repo = Repository::open(store.clone()).await.unwrap();
    let entries = tree(300, 3);
    back_up(&repo, "old", 1, &entries).await;
    let reader = repo.open_backup("old", PASSCODE).await.unwrap();
    rewrite_as_version_2(&store, &reader, "old").await;

    let old = repo.open_backup("old", PASSCODE).await.unwrap();
    assert_eq!(old.manifest().version, 2);
    assert!(old.manifest().segments.is_empty());
    assert!(read_all(&old).await == entries);
    old.verify().await.unwrap();

    // The file chunks are found through a version 2 chunk table; the new
    // manifest's segments are new (the old backup had none).
    let before = objects(&store);
    let new = back_up(&repo, "new", 2, &entries).await;
    let packs = added(&before, &objects(&store))
        .into_keys()
        .filter(|n| n.starts_with("packs/"))
        .count();
    assert_eq!(packs, 1, "only the segments' pack is new");
    assert!(new.stored_bytes < 64 * 1024, "{}", new.stored_bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_or_missing_segment_fails_the_load_naming_its_pack() {
    let store = Arc::new(MemoryStore::new());
    let repo = Repository::open(store.clone()).await.unwrap();
    let entries = tree(2_000, 4);
    back_up(&repo, "victim", 1, &entries).await;
    let reader = repo.open_backup("victim", PASSCODE).await.unwrap();
    let m = reader.manifest();
    let segment = m.segments[m.segments.len() / 2];
    let pack = m.packs[segment.pack as usize].clone();

    let damaged = |r: Result<BackupReader, RepoError>| match r {
        Err(RepoError::Damaged { object, reason }) => (object, reason),
        other => panic!("expected damage, got {other:?}"),
    };
    let at = (segment.offset + segment.length / 2) as usize;
    assert!(store.flip_byte(&pack, at));
    let (object, reason) = damaged(repo.open_backup("victim", PASSCODE).await);
    assert_eq!(object, pack);
    assert!(
        reason.contains(&hex::encode(segment.id.0)) && reason.contains("manifests/"),
        "{reason}"
    );
    assert!(store.flip_byte(&pack, at));

    let saved = store.object(&pack).unwrap();
    store.remove_object(&pack);
    let (object, reason) = damaged(repo.open_backup("victim", PASSCODE).await);
    assert_eq!(object, pack);
    assert!(reason.contains("missing"), "{reason}");
    // A pack cut short, too.
    store.set_object(&pack, saved.slice(..segment.offset as usize));
    let (object, _) = damaged(repo.open_backup("victim", PASSCODE).await);
    assert_eq!(object, pack);
    store.set_object(&pack, saved);
    assert!(read_all(&repo.open_backup("victim", PASSCODE).await.unwrap()).await == entries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dedup_index_holds_segments_so_a_cold_start_shares_them() {
    let store = Arc::new(MemoryStore::new());
    let cache = tempfile::tempdir().unwrap();
    let options = RepositoryOptions {
        index_cache: Some(cache.path().join("store")),
        ..RepositoryOptions::default()
    };
    let open = || Repository::open_with(store.clone(), options.clone());
    let entries = tree(5_000, 5);
    back_up(&open().await.unwrap(), "one", 1, &entries).await;
    // A second backup from a new Repository (a restarted host): the index is
    // built from the first manifest and is all it knows.
    let before = objects(&store);
    back_up(&open().await.unwrap(), "two", 2, &entries).await;
    let new = added(&before, &objects(&store));
    assert!(
        new.keys().all(|n| !n.starts_with("packs/")),
        "a pack was written: {new:?}"
    );

    let repo = open().await.unwrap();
    let reader = repo.open_backup("one", PASSCODE).await.unwrap();
    let listed = store
        .names_with_prefix("packs/")
        .into_iter()
        .filter_map(|n| {
            Some((
                names::parse_pack_object(&n)?,
                store.object(&n)?.len() as u64,
            ))
        })
        .collect();
    let index_file = cache
        .path()
        .join("store")
        .join(format!("{}.idx", reader.keys().key_id_hex()));
    let index = ChunkIndex::open(
        &index_file,
        &reader.keys().key_id(),
        &PackSizes::new(listed),
    )
    .unwrap();
    for s in &reader.manifest().segments {
        let hit = index.lookup(&s.id.0).unwrap().expect("segment indexed");
        assert_eq!(
            (hit.offset, hit.length, hit.size),
            (s.offset, s.length, s.size)
        );
    }
}
