//! Round trips, merge = rebuild, pack liveness and damage handling of the
//! index, with limits small enough that every build spills several runs and
//! merges intermediates.

use std::collections::BTreeSet;
use std::path::Path;

use rand::{Rng, RngCore, SeedableRng};

use super::*;

const KEY: [u8; 16] = [42; 16];

/// Small enough to spill a run every 50 records and merge every 7 packs.
const TINY: BuildLimits = BuildLimits {
    run_bytes: 50 * 48,
    max_new_packs: 7,
};

struct FakeManifest {
    name: [u8; 32],
    packs: Vec<[u8; 32]>,
    chunks: Vec<IndexEntry>,
}

fn bytes32(rng: &mut impl RngCore) -> [u8; 32] {
    let mut b = [0u8; 32];
    rng.fill_bytes(&mut b);
    b
}

/// `count` chunks over packs of 16; `shared` earlier chunks are listed again
/// (as a backup lists the chunks it reuses).
fn manifest(
    seed: u64,
    count: usize,
    shared: &[IndexEntry],
    shared_packs: &[[u8; 32]],
) -> FakeManifest {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut packs = shared_packs.to_vec();
    let mut chunks = shared.to_vec();
    for i in 0..count {
        if i % 16 == 0 {
            packs.push(bytes32(&mut rng));
        }
        chunks.push(IndexEntry {
            id: bytes32(&mut rng),
            pack: (packs.len() - 1) as u32,
            offset: (i % 16) as u32 * 1000,
            length: rng.gen_range(29..1000),
            size: rng.gen_range(1..1000),
        });
    }
    FakeManifest {
        name: bytes32(&mut rng),
        packs,
        chunks,
    }
}

fn all_alive(ms: &[&FakeManifest]) -> PackSizes {
    PackSizes::new(
        ms.iter()
            .flat_map(|m| m.packs.iter().map(|p| (*p, 32 * 1024 * 1024)))
            .collect(),
    )
}

fn build(dir: &Path, name: &str, ms: &[&FakeManifest], limits: BuildLimits) -> std::path::PathBuf {
    let mut b = IndexBuilder::new(KEY, dir, limits);
    for m in ms {
        b.add_manifest(m.name, &m.packs, m.chunks.iter().copied())
            .unwrap();
    }
    let path = dir.join(name);
    b.finish(&path).unwrap();
    path
}

#[test]
fn a_build_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let m1 = manifest(1, 300, &[], &[]);
    let m2 = manifest(2, 200, &m1.chunks[..40], &m1.packs);
    let path = build(dir.path(), "a.idx", &[&m1, &m2], TINY);
    let index = ChunkIndex::open(&path, &KEY, &all_alive(&[&m1, &m2])).unwrap();
    assert_eq!(index.len(), 500);
    let covered: BTreeSet<_> = index.covered_manifests().iter().copied().collect();
    assert_eq!(covered, BTreeSet::from([m1.name, m2.name]));
    for m in [&m1, &m2] {
        for c in &m.chunks {
            let hit = index
                .lookup(&c.id)
                .unwrap()
                .expect("indexed chunk is found");
            assert_eq!(
                (hit.pack, hit.offset, hit.length, hit.size),
                (m.packs[c.pack as usize], c.offset, c.length, c.size)
            );
        }
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    for _ in 0..1000 {
        assert_eq!(index.lookup(&bytes32(&mut rng)).unwrap(), None);
    }
    assert!(index.memory_bytes() < 4096);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn extending_an_index_equals_rebuilding_it() {
    let dir = tempfile::tempdir().unwrap();
    let m1 = manifest(1, 250, &[], &[]);
    let m2 = manifest(2, 100, &m1.chunks[100..180], &m1.packs);
    // A chunk stored twice (in m1 and again in m3's own pack) keeps one
    // location whichever way the index is built.
    let mut m3 = manifest(3, 120, &m1.chunks[..10], &m1.packs);
    let own_pack = (m3.packs.len() - 1) as u32;
    m3.chunks.push(IndexEntry {
        pack: own_pack,
        offset: 5000,
        ..m1.chunks[200]
    });

    let base = build(dir.path(), "base.idx", &[&m1], TINY);
    let base = ChunkIndex::open(&base, &KEY, &PackSizes::default()).unwrap();
    let mut b = IndexBuilder::extend(KEY, vec![base], dir.path(), TINY).unwrap();
    b.add_manifest(m3.name, &m3.packs, m3.chunks.iter().copied())
        .unwrap();
    b.add_manifest(m2.name, &m2.packs, m2.chunks.iter().copied())
        .unwrap();
    // Adding a covered manifest again changes nothing.
    b.add_manifest(m1.name, &m1.packs, m1.chunks.iter().copied())
        .unwrap();
    b.finish(&dir.path().join("extended.idx")).unwrap();

    let rebuilt = build(
        dir.path(),
        "rebuilt.idx",
        &[&m2, &m3, &m1],
        BuildLimits::default(),
    );
    let extended = std::fs::read(dir.path().join("extended.idx")).unwrap();
    assert_eq!(extended, std::fs::read(rebuilt).unwrap());
}

#[test]
fn chunks_of_missing_or_short_packs_are_not_returned() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(7, 64, &[], &[]);
    let path = build(dir.path(), "a.idx", &[&m], TINY);
    // Pack 0 is gone, pack 1 is shorter than its last blob, 2 and 3 are fine.
    let short_end = m.chunks[16..32]
        .iter()
        .map(|c| c.offset + c.length)
        .max()
        .unwrap();
    let packs = PackSizes::new(vec![
        (m.packs[1], u64::from(short_end) - 1),
        (m.packs[2], 32 << 20),
        (m.packs[3], 32 << 20),
    ]);
    let index = ChunkIndex::open(&path, &KEY, &packs).unwrap();
    for (i, c) in m.chunks.iter().enumerate() {
        let found = index.lookup(&c.id).unwrap().is_some();
        let expected = match i / 16 {
            0 => false,
            1 => c.offset + c.length < short_end,
            _ => true,
        };
        assert_eq!(found, expected, "chunk {i}");
    }
}

#[test]
fn damaged_files_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(5, 40, &[], &[]);
    let path = build(dir.path(), "a.idx", &[&m], TINY);
    let good = std::fs::read(&path).unwrap();
    let packs = all_alive(&[&m]);
    let corrupt = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        match ChunkIndex::open(&path, &KEY, &packs) {
            Err(IndexError::Corrupt(_)) => {}
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("damage not detected"),
        }
    };
    corrupt(&good[..good.len() - 1]);
    corrupt(&good[..good.len() / 2]);
    corrupt(&[]);
    // One flipped bit anywhere: header, manifest list, pack table, records, trailer.
    for at in (0..good.len()).step_by(7) {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        corrupt(&bad);
    }
    std::fs::write(&path, &good).unwrap();
    assert!(matches!(
        ChunkIndex::open(&path, &[0; 16], &packs),
        Err(IndexError::Corrupt(_))
    ));
    assert!(ChunkIndex::open(&path, &KEY, &packs).is_ok());
}

fn refresh_with(
    cache: &IndexCache,
    committed: &[&FakeManifest],
    packs: &PackSizes,
) -> (IndexSet, usize) {
    let set: BTreeSet<_> = committed.iter().map(|m| m.name).collect();
    let mut r = cache.start(KEY, &set, packs, TINY).unwrap();
    let mut added = 0;
    for m in committed {
        if r.needs(&m.name) {
            r.add_entries(m.name, &m.packs, m.chunks.iter().copied())
                .unwrap();
            added += 1;
        }
    }
    (r.finish(packs).unwrap(), added)
}

/// Every chunk of `ms` is found, and the first chunk of `gone` is not.
fn assert_finds(index: &IndexSet, ms: &[&FakeManifest], gone: &[&FakeManifest]) {
    for m in ms {
        for c in &m.chunks {
            assert!(index.lookup(&c.id).unwrap().is_some());
        }
    }
    for m in gone {
        assert!(
            index
                .lookup(&m.chunks.last().unwrap().id)
                .unwrap()
                .is_none()
        );
    }
}

fn index_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

#[test]
fn the_cache_adds_deltas_keeps_merges_or_rebuilds() {
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().join("cache");
    let cache = IndexCache::Dir(cache_dir.clone());
    let m1 = manifest(1, 100, &[], &[]);
    let m2 = manifest(2, 50, &m1.chunks[..5], &m1.packs);
    let packs = all_alive(&[&m1, &m2]);

    let (_, added) = refresh_with(&cache, &[&m1], &packs);
    assert_eq!((added, index_files(&cache_dir)), (1, 1));
    // A new backup: only its manifest is added, as a delta file.
    let (index, added) = refresh_with(&cache, &[&m1, &m2], &packs);
    assert_eq!((added, index.files(), index_files(&cache_dir)), (1, 2, 2));
    assert_finds(&index, &[&m1, &m2], &[]);
    // Nothing new: the cached files are used as they are.
    let (_, added) = refresh_with(&cache, &[&m1, &m2], &packs);
    assert_eq!(added, 0);
    // A covered backup was deleted: rebuilt from what remains, in one file.
    let (index, added) = refresh_with(&cache, &[&m2], &packs);
    assert_eq!((added, index.files(), index_files(&cache_dir)), (1, 1, 1));
    assert_finds(&index, &[&m2], &[&m1]);

    // More deltas than allowed are merged into the base.
    let more: Vec<FakeManifest> = (10..10 + cache::MAX_DELTAS as u64 + 2)
        .map(|seed| manifest(seed, 20, &[], &[]))
        .collect();
    let mut committed = vec![&m2];
    let mut all_packs = vec![&m2];
    all_packs.extend(more.iter());
    let packs = all_alive(&all_packs);
    for m in &more {
        committed.push(m);
        let (index, added) = refresh_with(&cache, &committed, &packs);
        assert_eq!(added, 1);
        assert!(index.files() <= 1 + cache::MAX_DELTAS);
        assert_eq!(index.files(), index_files(&cache_dir));
        assert_finds(&index, &committed, &[&m1]);
    }
    assert!(index_files(&cache_dir) < 1 + cache::MAX_DELTAS);

    // A damaged file (here the newest delta, else the base) makes the whole
    // set be rebuilt, not fail.
    let mut files: Vec<_> = std::fs::read_dir(&cache_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let victim = files.last().unwrap();
    let len = std::fs::metadata(victim).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(victim)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let (index, added) = refresh_with(&cache, &committed, &packs);
    assert_eq!((added, index.files()), (committed.len(), 1));
    assert_finds(&index, &committed, &[&m1]);
    std::fs::write(
        cache_dir.join(format!("{}.idx", hex::encode(KEY))),
        b"not an index",
    )
    .unwrap();
    let (index, added) = refresh_with(&cache, &committed, &packs);
    assert_eq!((added, index.files()), (committed.len(), 1));
    assert_finds(&index, &committed, &[&m1]);
}

#[test]
fn a_temporary_cache_leaves_nothing_behind() {
    let m = manifest(1, 20, &[], &[]);
    let packs = all_alive(&[&m]);
    let (index, added) = refresh_with(&IndexCache::Temporary, &[&m], &packs);
    assert_eq!(added, 1);
    assert_finds(&index, &[&m], &[]);
}

#[test]
fn cached_file_names_are_parsed_strictly() {
    let key = "ab12";
    assert_eq!(cache::parse_file_name("ab12.idx", key), Some(None));
    assert_eq!(cache::parse_file_name("ab12-7.idx", key), Some(Some(7)));
    for other in [
        "ab12-.idx",
        "ab12-x.idx",
        "ab12.idx.tmp",
        "cd34.idx",
        "ab12-1-2.idx",
        "ab12--1.idx",
    ] {
        assert_eq!(cache::parse_file_name(other, key), None, "{other}");
    }
}

#[test]
fn random_lookups_agree_with_a_hash_map() {
    let dir = tempfile::tempdir().unwrap();
    let m1 = manifest(11, 2000, &[], &[]);
    let path = build(dir.path(), "a.idx", &[&m1], BuildLimits::default());
    let index = ChunkIndex::open(&path, &KEY, &all_alive(&[&m1])).unwrap();
    let expected: std::collections::HashMap<_, _> = m1.chunks.iter().map(|c| (c.id, *c)).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    for _ in 0..2000 {
        let id = if rng.gen_bool(0.5) {
            m1.chunks[rng.gen_range(0..m1.chunks.len())].id
        } else {
            bytes32(&mut rng)
        };
        let hit = index.lookup(&id).unwrap();
        assert_eq!(hit.map(|h| h.offset), expected.get(&id).map(|c| c.offset));
    }
}
