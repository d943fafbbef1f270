//! What an observer of the store can see of a backup's layout: chunk
//! boundaries and ids under two passcodes, pack padding and blob order.
//! These tests read manifests, so they live inside the crate.

use std::collections::HashSet;
use std::sync::Arc;

use rand::{RngCore, SeedableRng};

use crate::chunker::{MAX_CHUNK, MIN_CHUNK};
use crate::keys::ChunkId;
use crate::pack::{PACK_MAX, padme_len};
use crate::testing::{MemoryStore, file_meta as file};
use crate::{BackupInfo, BackupReader, Repository};

const MIB: usize = 1024 * 1024;

fn info(name: &str) -> BackupInfo {
    BackupInfo::new(name, "", "manual", 0, 0, "")
}

async fn back_up(repo: &Repository, name: &str, passcode: &str, data: &[u8]) -> BackupInfo {
    let mut w = repo.begin_backup(passcode, info(name)).await.unwrap();
    let mut s = w.begin_stage("files", "test").await.unwrap();
    s.begin_entry(file("big.bin")).await.unwrap();
    // Uneven writes: boundaries must not depend on them.
    for piece in data.chunks(MIB + 12_345) {
        s.write(piece).await.unwrap();
    }
    s.end_entry().await.unwrap();
    s.finish(vec![], 0, 0).await.unwrap();
    w.commit(0).await.unwrap()
}

async fn restore(reader: &BackupReader) -> Vec<u8> {
    let mut r = reader.stage_reader("files").unwrap();
    r.next_entry().await.unwrap().unwrap();
    let mut out = Vec::new();
    loop {
        let piece = r.read(MIB).await.unwrap();
        if piece.is_empty() {
            return out;
        }
        out.extend_from_slice(&piece);
    }
}

/// The file's chunks in content order: (id, plaintext size).
fn file_chunks(reader: &BackupReader) -> Vec<(ChunkId, usize)> {
    let m = reader.manifest();
    m.stages[0].entries[0]
        .chunks
        .iter()
        .map(|&i| {
            let c = &m.chunks[i as usize];
            (c.id, c.size as usize)
        })
        .collect()
}

/// Where each chunk ends, counted from the start of the file (the last end,
/// the file's length, is left out: every chunking has it).
fn cut_points(chunks: &[(ChunkId, usize)]) -> HashSet<usize> {
    let mut end = 0;
    let mut cuts: HashSet<usize> = chunks
        .iter()
        .map(|(_, size)| {
            end += size;
            end
        })
        .collect();
    cuts.remove(&end);
    cuts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_files_under_two_passcodes_share_no_boundaries_or_ids() {
    let store = Arc::new(MemoryStore::new());
    let repo = Repository::open(store.clone()).await.unwrap();
    let mut data = vec![0u8; 40 * MIB];
    rand::rngs::StdRng::seed_from_u64(40).fill_bytes(&mut data);

    back_up(&repo, "a1", "passcode-a", &data).await;
    back_up(&repo, "b1", "passcode-b", &data).await;
    let again = back_up(&repo, "a2", "passcode-a", &data).await;

    let a1 = repo.open_backup("a1", "passcode-a").await.unwrap();
    let b1 = repo.open_backup("b1", "passcode-b").await.unwrap();
    let a2 = repo.open_backup("a2", "passcode-a").await.unwrap();
    let (ca, cb, ca2) = (file_chunks(&a1), file_chunks(&b1), file_chunks(&a2));

    let sizes = |c: &[(ChunkId, usize)]| c.iter().map(|&(_, s)| s).collect::<Vec<_>>();
    for chunks in [&ca, &cb] {
        let (_, body) = chunks.split_last().unwrap();
        assert!(body.len() >= 20, "{} chunks for 40 MiB", chunks.len());
        assert!(
            body.iter()
                .all(|&(_, s)| (MIN_CHUNK..=MAX_CHUNK).contains(&s))
        );
    }
    let shared_cuts = cut_points(&ca).intersection(&cut_points(&cb)).count();
    // ≈ 35 cuts each over 40 MiB: a shared cut is a 1-in-a-million event.
    assert!(
        shared_cuts <= 1,
        "{shared_cuts} shared cut points: {:?} vs {:?}",
        sizes(&ca),
        sizes(&cb)
    );
    let ids_a: HashSet<ChunkId> = ca.iter().map(|&(id, _)| id).collect();
    assert!(
        cb.iter().all(|(id, _)| !ids_a.contains(id)),
        "a chunk id is shared"
    );

    // The same passcode chunks identically, so the second backup is all dedup.
    assert_eq!(ca, ca2);
    assert_eq!(again.stored_bytes, a2.info().stored_bytes);
    assert!(again.stored_bytes < 100_000, "{}", again.stored_bytes);

    for reader in [&a1, &b1, &a2] {
        assert!(restore(reader).await == data, "restored bytes differ");
        reader.verify().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packs_are_padded_and_blobs_shuffled() {
    let store = Arc::new(MemoryStore::new());
    let repo = Repository::open(store.clone()).await.unwrap();
    let mut data = vec![0u8; 40 * MIB];
    rand::rngs::StdRng::seed_from_u64(41).fill_bytes(&mut data);
    let info = back_up(&repo, "one", "pw", &data).await;
    let reader = repo.open_backup("one", "pw").await.unwrap();
    let m = reader.manifest();

    let mut pack_bytes = 0u64;
    for (p, name) in m.packs.iter().enumerate() {
        let size = store.object(name).unwrap().len();
        pack_bytes += size as u64;
        assert_eq!(size, padme_len(size), "{name} is not padded");
        assert!(size <= PACK_MAX);
        // Offsets in chunk-table order, which is write order here.
        let offsets: Vec<u32> = m
            .chunks
            .iter()
            .filter(|c| c.pack as usize == p)
            .map(|c| c.offset)
            .collect();
        // The manifest's segments are blobs too (in their own pack).
        let blobs: u64 = m
            .chunks
            .iter()
            .chain(&m.segments)
            .filter(|c| c.pack as usize == p)
            .map(|c| c.length as u64)
            .sum();
        assert!(blobs <= size as u64 && size as u64 - blobs < size as u64 / 8);
        if offsets.len() >= 8 {
            assert!(
                offsets.windows(2).any(|w| w[0] > w[1]),
                "{name}: blobs in write order {offsets:?}"
            );
        }
    }
    assert!(m.packs.len() >= 2, "40 MiB fills more than one 16 MiB pack");
    assert_eq!(
        info.stored_bytes,
        pack_bytes + store.bytes_under("manifests/"),
        "stored_bytes counts what was written, padding included"
    );
    assert!(restore(&reader).await == data);
    reader.verify().await.unwrap();
}
