//! Restores through the batched read-ahead: order, content, pack fetches, and
//! a damaged chunk in the middle of a batch. They look at the manifest, so
//! they live inside the crate.

use std::sync::Arc;

use rand::{RngCore, SeedableRng};

use crate::testing::{MemoryStore, dir_meta as dir, file_meta as file};
use crate::{BackupInfo, BackupReader, EntryMeta, RepoError, Repository, names, pack};

const MIB: usize = 1024 * 1024;

type Entries = Vec<(EntryMeta, Vec<u8>)>;

fn random(rng: &mut impl RngCore, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

async fn back_up(repo: &Repository, name: &str, entries: &Entries) {
    let info = BackupInfo::new(name, "", "manual", 0, 0, "");
    let mut w = repo.begin_backup("pw", info).await.unwrap();
    let mut s = w.begin_stage("s", "test").await.unwrap();
    for (meta, data) in entries {
        s.begin_entry(meta.clone()).await.unwrap();
        s.write(data).await.unwrap();
        s.end_entry().await.unwrap();
    }
    s.finish(vec![], 0, 0).await.unwrap();
    w.commit(0).await.unwrap();
}

/// `count` files of `size` random bytes (from `seed`), backed up and opened.
async fn files_backed_up(
    seed: u64,
    count: usize,
    size: usize,
) -> (Arc<MemoryStore>, BackupReader, Entries) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let entries: Entries = (0..count)
        .map(|i| (file(&format!("f{i}")), random(&mut rng, size)))
        .collect();
    let store = Arc::new(MemoryStore::new());
    let repo = Repository::open(store.clone()).await.unwrap();
    back_up(&repo, "files", &entries).await;
    let reader = repo.open_backup("files", "pw").await.unwrap();
    (store, reader, entries)
}

/// The stage's entries; the content of every `skip_every`-th entry is left
/// unread (and comes back empty).
async fn read_stage(reader: &BackupReader, skip_every: usize) -> Result<Entries, RepoError> {
    let mut r = reader.stage_reader("s")?;
    let mut out = Vec::new();
    while let Some(meta) = r.next_entry().await? {
        let mut data = Vec::new();
        if out.len() % skip_every != skip_every - 1 {
            loop {
                // Smaller than some files, so chunks are also handed out in pieces.
                let piece = r.read(7_000).await?;
                if piece.is_empty() {
                    break;
                }
                data.extend_from_slice(&piece);
            }
        }
        out.push((meta, data));
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_small_files_and_a_few_large_ones_come_back_in_order_with_one_fetch_per_pack() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    let mut entries: Entries = Vec::new();
    for i in 0..3_000usize {
        if i % 250 == 0 {
            entries.push((dir(&format!("d{i}")), vec![]));
        }
        if i % 1_000 == 500 {
            let big = random(&mut rng, 3 * MIB + i);
            entries.push((file(&format!("big{i}.bin")), big));
        }
        let len = if i % 97 == 0 {
            0
        } else {
            1 + rng.next_u32() as usize % 20_000
        };
        let small = random(&mut rng, len);
        entries.push((file(&format!("d{}/f{i}", i / 250 * 250)), small));
    }
    let store = Arc::new(MemoryStore::new());
    let repo = Repository::open(store.clone()).await.unwrap();
    back_up(&repo, "many", &entries).await;
    let reader = repo.open_backup("many", "pw").await.unwrap();
    // The packs of the entries' chunks (the manifest's segments have one of
    // their own, which reading a stage does not fetch again).
    let m = reader.manifest();
    let packs = m
        .chunks
        .iter()
        .map(|c| c.pack)
        .collect::<std::collections::HashSet<_>>()
        .len() as u64;
    assert!(
        packs >= 3,
        "the stage should span several packs, not {packs}"
    );
    let chunks = m.chunks.len();
    assert!(chunks > entries.len() - 50, "{chunks} chunks");

    let gets = store.gets();
    assert!(read_stage(&reader, usize::MAX).await.unwrap() == entries);
    assert_eq!(store.gets() - gets, packs, "each pack is fetched once");

    // Skipped content is still loaded in order (and verified).
    let partly: Entries = entries
        .iter()
        .enumerate()
        .map(|(i, (meta, data))| {
            let data = if i % 3 == 2 { vec![] } else { data.clone() };
            (meta.clone(), data)
        })
        .collect();
    let reused = store.gets_into_reused_buffers();
    assert!(read_stage(&reader, 3).await.unwrap() == partly);
    // The second pass fetches its packs into the buffers of the first's.
    assert!(store.gets_into_reused_buffers() > reused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_chunk_inside_a_batch_is_reported_after_every_chunk_before_it() {
    let (store, reader, entries) = files_backed_up(22, 200, 5_000).await;

    // Damage the chunk of file 100, in the middle of the second batch, in a
    // copy of its pack stored under the copy's own hash: the pack verifies,
    // the chunk does not.
    let victim = 100;
    let mut manifest = reader.manifest().clone();
    let chunk = manifest.chunks[manifest.stages[0].entries[victim].chunks[0] as usize];
    let original = &manifest.packs[chunk.pack as usize];
    let mut data = store.object(original).unwrap().to_vec();
    data[chunk.offset as usize + chunk.length as usize / 2] ^= 0x01;
    let forged = names::pack_object(&pack::pack_hash(&data));
    store.set_object(&forged, data);
    manifest.packs[chunk.pack as usize] = forged.clone();
    let damaged = BackupReader::new(
        store.clone(),
        reader.keys().clone(),
        reader.info().clone(),
        manifest,
    );

    let mut r = damaged.stage_reader("s").unwrap();
    for (meta, data) in &entries[..victim] {
        assert_eq!(r.next_entry().await.unwrap().as_ref(), Some(meta));
        assert_eq!(&r.read(MIB).await.unwrap()[..], &data[..]);
        assert!(r.read(MIB).await.unwrap().is_empty());
    }
    assert_eq!(
        r.next_entry().await.unwrap().as_ref(),
        Some(&entries[victim].0)
    );
    match r.read(MIB).await {
        Err(RepoError::Damaged { object, reason }) => {
            assert_eq!(object, forged);
            assert!(
                reason.contains(&hex::encode(chunk.id.0)),
                "the chunk is not named: {reason}"
            );
        }
        other => panic!("expected the chunk to be damaged, got {other:?}"),
    }
    // Nothing after the damaged chunk is handed out.
    assert!(matches!(
        r.next_entry().await,
        Err(RepoError::Damaged { object, .. }) if object == forged
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pack_cut_short_is_reported_as_damaged_not_as_a_store_failure() {
    let (store, reader, _) = files_backed_up(23, 20, 50_000).await;
    let m = reader.manifest();
    let last = *m.chunks.iter().max_by_key(|c| c.offset).unwrap();
    let pack = m.packs[last.pack as usize].clone();
    let whole = store.object(&pack).unwrap();
    // The restore asks for the pack up to (the Padmé length of) its last
    // blob's end, which the store now refuses: the pack is read whole and
    // the blob found cut.
    store.set_object(
        &pack,
        whole.slice(..(last.offset + last.length / 2) as usize),
    );
    match read_stage(&reader, usize::MAX).await {
        Err(RepoError::Damaged { object, reason }) => {
            assert_eq!(object, pack);
            assert!(reason.contains("beyond the end"), "{reason}");
        }
        other => panic!(
            "expected the pack to be damaged, got {:?}",
            other.map(|e| e.len())
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_build_of_each_stage_comes_back_and_is_unknown_where_none_was_given() {
    let store = Arc::new(MemoryStore::new());
    let repo = Repository::open(store.clone()).await.unwrap();
    let build = crate::PluginBuild {
        digest: format!("sha256:{}", "ab".repeat(32)),
        version: "1.2.3".into(),
    };
    let info = BackupInfo::new("builds", "", "manual", 0, 0, "");
    let mut w = repo.begin_backup("pw", info).await.unwrap();
    let s = w.begin_stage_of("new", "p", build.clone()).await.unwrap();
    s.finish(vec![], 0, 0).await.unwrap();
    // As hosts wrote stages before they recorded the build.
    let s = w.begin_stage("old", "p").await.unwrap();
    s.finish(vec![], 0, 0).await.unwrap();
    w.commit(0).await.unwrap();

    let reader = repo.open_backup("builds", "pw").await.unwrap();
    assert_eq!(reader.stage_plugin_build("new"), Some(build));
    assert!(reader.stage_plugin_build("old").unwrap().is_unknown());
    assert_eq!(reader.stage_plugin_build("missing"), None);
    reader.verify().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_plugin_digest_is_refused_at_write() {
    let repo = Repository::open(Arc::new(MemoryStore::new()))
        .await
        .unwrap();
    let info = BackupInfo::new("bad", "", "manual", 0, 0, "");
    let mut w = repo.begin_backup("pw", info).await.unwrap();
    let build = crate::PluginBuild {
        digest: "sha256:not-hex".into(),
        version: "1".into(),
    };
    assert!(matches!(
        w.begin_stage_of("s", "p", build).await,
        Err(RepoError::Misuse(_))
    ));
}
