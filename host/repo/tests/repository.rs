//! End-to-end tests of the repository format against the in-memory store.
//! Each `begin_backup`/`open_backup` runs Argon2id (64 MiB, t=3) once, so the
//! tests keep those calls few.

use std::sync::Arc;
use std::time::{Duration, Instant};

use drhost_repo::testing::MemoryStore;
use drhost_repo::{
    BackupInfo, BackupListing, BackupReader, BackupWriter, EntryKind, EntryMeta, RepoError,
    Repository, RepositoryOptions, UploadedPack,
};
use rand::{RngCore, SeedableRng};

const MIB: usize = 1024 * 1024;

fn info(name: &str, start: i64) -> BackupInfo {
    BackupInfo::new(
        name,
        format!("test backup {name}"),
        "manual",
        start,
        start + 86_400,
        "11.4",
    )
}

fn file(path: &str) -> EntryMeta {
    EntryMeta {
        path: path.into(),
        kind: EntryKind::File,
        mode: 0o644,
        mtime_seconds: 1_700_000_000,
        mtime_nanoseconds: 123,
        link_target: None,
        owner: None,
        attributes: vec![],
    }
}

fn dir(path: &str) -> EntryMeta {
    EntryMeta {
        kind: EntryKind::Directory,
        mode: 0o755,
        ..file(path)
    }
}

fn symlink(path: &str, target: &str) -> EntryMeta {
    EntryMeta {
        kind: EntryKind::Symlink,
        mode: 0o777,
        link_target: Some(target.into()),
        owner: None,
        ..file(path)
    }
}

fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

type Entries = Vec<(EntryMeta, Vec<u8>)>;

async fn open_repo() -> (Arc<MemoryStore>, Repository) {
    let store = Arc::new(MemoryStore::new());
    let repo = Repository::open(store.clone()).await.unwrap();
    (store, repo)
}

/// Writes one backup of the given stages and commits it.
async fn backup(
    repo: &Repository,
    name: &str,
    passcode: &str,
    stages: &[(&str, &Entries)],
) -> BackupInfo {
    let mut w = repo.begin_backup(passcode, info(name, 1000)).await.unwrap();
    for (stage, entries) in stages {
        let mut s = w.begin_stage(stage, "test-plugin").await.unwrap();
        for (meta, data) in entries.iter() {
            s.begin_entry(meta.clone()).await.unwrap();
            // Odd write sizes exercise the chunker's buffering.
            for piece in data.chunks(700_001) {
                s.write(piece).await.unwrap();
            }
            s.end_entry().await.unwrap();
        }
        s.finish(vec![("stage".into(), stage.to_string())], 1, 2)
            .await
            .unwrap();
    }
    w.commit(2000).await.unwrap()
}

async fn read_stage(reader: &BackupReader, stage: &str) -> Result<Entries, RepoError> {
    let mut r = reader.stage_reader(stage)?;
    let mut out = Vec::new();
    while let Some(meta) = r.next_entry().await? {
        let mut data = Vec::new();
        loop {
            let b = r.read(300_000).await?;
            if b.is_empty() {
                break;
            }
            data.extend_from_slice(&b);
        }
        out.push((meta, data));
    }
    Ok(out)
}

fn packs_of(store: &MemoryStore) -> Vec<String> {
    store.names_with_prefix("packs/")
}

fn record_json(store: &MemoryStore, name: &str) -> serde_json::Value {
    let object = format!("backups/{}.json", hex::encode(name));
    let v: serde_json::Value = serde_json::from_slice(&store.object(&object).unwrap()).unwrap();
    v["record"].clone()
}

fn assert_damaged<T: std::fmt::Debug>(r: Result<T, RepoError>, object_prefix: &str) -> String {
    match r {
        Err(RepoError::Damaged { object, reason }) => {
            assert!(
                object.starts_with(object_prefix),
                "damaged object {object}, reason {reason}"
            );
            object
        }
        other => panic!("expected Damaged({object_prefix}…), got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_of_every_entry_kind() {
    let (store, repo) = open_repo().await;
    let big = random(5 * MIB, 1);
    let text = b"compressible line of text\n".repeat(120_000);
    let mut with_attrs = file("etc/app.conf");
    with_attrs.attributes = vec![
        ("owner".into(), "postgres".into()),
        ("xattr.user.x".into(), "1".into()),
    ];
    with_attrs.mode = 0o600;
    let stage_a: Entries = vec![
        (dir("etc"), vec![]),
        (with_attrs, b"key = value\n".to_vec()),
        (file("empty"), vec![]),
        (file("one"), vec![42]),
        (file("data/big.bin"), big.clone()),
        (file("data/text.log"), text.clone()),
        (file("data/big-again.bin"), big.clone()),
        (symlink("current", "data/big.bin"), vec![]),
    ];
    let stage_b: Entries = vec![(file("dump.sql"), b"SELECT 1;".to_vec())];
    let committed = backup(
        &repo,
        "Nightly-1",
        "correct horse",
        &[("files", &stage_a), ("db", &stage_b)],
    )
    .await;

    assert_eq!(committed.stages.len(), 2);
    assert_eq!(committed.stages[0].items, stage_a.len() as u64);
    let content: u64 = stage_a.iter().map(|(_, d)| d.len() as u64).sum();
    assert_eq!(committed.stages[0].bytes, content);
    assert_eq!(committed.total_bytes, content + 9);
    // The duplicate 5 MiB file and the compressible text cost (almost) nothing.
    assert!(
        committed.stored_bytes < (5 * MIB + 600_000) as u64,
        "{}",
        committed.stored_bytes
    );

    let listing = repo.list_backups().await.unwrap();
    assert_eq!(listing.len(), 1);
    match &listing[0] {
        BackupListing::Ok(i) => assert_eq!(i, &committed),
        other => panic!("{other:?}"),
    }
    assert_eq!(repo.backup_info("Nightly-1").await.unwrap(), committed);

    let reader = repo
        .open_backup("Nightly-1", "correct horse")
        .await
        .unwrap();
    assert_eq!(reader.info(), &committed);
    assert_eq!(reader.stage_names(), vec!["files", "db"]);
    assert_eq!(
        reader.stage_metadata("db"),
        Some(vec![("stage".to_string(), "db".to_string())])
    );
    assert_eq!(reader.stage_metadata("nope"), None);
    assert!(matches!(
        reader.stage_reader("nope"),
        Err(RepoError::NoSuchStage(_))
    ));
    let got = read_stage(&reader, "files").await.unwrap();
    assert_eq!(got.len(), stage_a.len());
    for ((m1, d1), (m2, d2)) in got.iter().zip(&stage_a) {
        assert_eq!(m1, m2);
        assert!(d1 == d2, "content of {} differs", m1.path);
    }
    assert_eq!(read_stage(&reader, "db").await.unwrap(), stage_b);

    // Skipping unread content moves on to the right entry.
    let mut r = reader.stage_reader("files").unwrap();
    for _ in 0..5 {
        r.next_entry().await.unwrap();
    }
    assert_eq!(r.read(10).await.unwrap().len(), 10); // part of big.bin
    assert_eq!(r.next_entry().await.unwrap().unwrap().path, "data/text.log");
    assert_eq!(&r.read(4).await.unwrap()[..], b"comp");
    assert!(matches!(r.read(0).await, Err(RepoError::Misuse(_))));

    let report = reader.verify().await.unwrap();
    assert!(report.packs >= 1);
    assert_eq!(report.bytes, content + 9 - 5 * MIB as u64);

    // The store holds nothing but ciphertext: no path or content appears in it.
    for name in store.names() {
        let data = store.object(&name).unwrap();
        for needle in [
            &b"data/big.bin"[..],
            b"key = value",
            b"compressible line",
            b"SELECT 1",
        ] {
            assert!(
                !data.windows(needle.len()).any(|w| w == needle),
                "{name} leaks"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedup_within_a_passcode_and_isolation_between_passcodes() {
    let (store, repo) = open_repo().await;
    let entries: Entries = vec![
        (file("a.bin"), random(6 * MIB, 2)),
        (file("b.bin"), random(3 * MIB, 3)),
        (file("small"), b"tiny".to_vec()),
    ];
    let first = backup(&repo, "first", "pass-A", &[("s", &entries)]).await;
    let packs_first = packs_of(&store);

    // Same data, same passcode: almost nothing new.
    let mut changed = entries.clone();
    changed[2].1 = b"tiny, changed".to_vec();
    let second = backup(&repo, "second", "pass-A", &[("s", &changed)]).await;
    assert!(
        second.stored_bytes * 20 < first.stored_bytes,
        "second backup stored {} of {}",
        second.stored_bytes,
        first.stored_bytes
    );
    assert_eq!(
        record_json(&store, "first")["key_id"],
        record_json(&store, "second")["key_id"]
    );

    // Same data, other passcode: nothing shared, different key id.
    let third = backup(&repo, "third", "pass-B", &[("s", &entries)]).await;
    assert!(third.stored_bytes >= first.stored_bytes * 9 / 10);
    let r1 = record_json(&store, "first");
    let r3 = record_json(&store, "third");
    assert_ne!(r1["key_id"], r3["key_id"]);
    let p1: Vec<String> = serde_json::from_value(r1["packs"].clone()).unwrap();
    let p3: Vec<String> = serde_json::from_value(r3["packs"].clone()).unwrap();
    assert!(p1.iter().all(|p| !p3.contains(p)), "passcodes share packs");
    assert_eq!(p1, packs_first);
    assert_ne!(r1["manifest"], r3["manifest"]);

    // Wrong passcode is refused before anything is read.
    assert!(matches!(
        repo.open_backup("first", "pass-B").await,
        Err(RepoError::WrongPasscode)
    ));
    let reader = repo.open_backup("second", "pass-A").await.unwrap();
    assert_eq!(read_stage(&reader, "s").await.unwrap(), changed);
    let reader = repo.open_backup("third", "pass-B").await.unwrap();
    assert_eq!(read_stage(&reader, "s").await.unwrap(), entries);

    let names: Vec<String> = repo
        .list_backups()
        .await
        .unwrap()
        .into_iter()
        .map(|l| match l {
            BackupListing::Ok(i) => i.name,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["first", "second", "third"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_damage_is_named() {
    let (store, repo) = open_repo().await;
    let entries: Entries = vec![
        (file("x.bin"), random(2 * MIB, 4)),
        (file("y"), b"y".to_vec()),
    ];
    backup(&repo, "victim", "pw", &[("s", &entries)]).await;
    let record = format!("backups/{}.json", hex::encode("victim"));
    let original = store.object(&record).unwrap();
    let manifest = store.names_with_prefix("manifests/")[0].clone();
    // The pack of the file data: the largest (the manifest's segments are
    // in a small pack of their own, without which the backup does not open).
    let pack = packs_of(&store)
        .into_iter()
        .max_by_key(|p| store.object(p).map_or(0, |o| o.len()))
        .unwrap();

    // Commit record: a flipped byte anywhere (here in the key id, which would
    // otherwise look like a wrong passcode) is caught by the checksum first.
    let text = String::from_utf8(original.to_vec()).unwrap();
    let key_id_at = text.find("\"key_id\":\"").unwrap() + 12;
    for at in [key_id_at, 5, original.len() / 2, original.len() - 1] {
        assert!(store.flip_byte(&record, at));
        assert_damaged(repo.open_backup("victim", "pw").await, &record);
        assert_damaged(repo.backup_info("victim").await, &record);
        match &repo.list_backups().await.unwrap()[0] {
            BackupListing::Damaged { name, object, .. } => {
                assert_eq!(name, "victim");
                assert_eq!(object, &record);
            }
            other => panic!("{other:?}"),
        }
        store.set_object(&record, original.clone());
    }

    // A record altered with a recomputed checksum fails the MAC (with the passcode).
    let mut v: serde_json::Value = serde_json::from_slice(&original).unwrap();
    v["record"]["info"]["description"] = "forged".into();
    let forged = serde_json::to_vec(&v["record"]).unwrap();
    let sealed = format!(
        "{{\"sha256\":\"{}\",\"record\":{}}}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&forged)),
        String::from_utf8(forged).unwrap()
    );
    store.set_object(&record, sealed.into_bytes());
    assert_eq!(
        repo.backup_info("victim").await.unwrap().description,
        "forged"
    );
    let err = assert_damaged(repo.open_backup("victim", "pw").await, &record);
    assert_eq!(err, record);
    store.set_object(&record, original.clone());

    // Manifest.
    assert!(store.flip_byte(&manifest, 40));
    assert_damaged(repo.open_backup("victim", "pw").await, &manifest);
    assert!(store.flip_byte(&manifest, 40));
    let manifest_bytes = store.object(&manifest).unwrap();
    store.remove_object(&manifest);
    assert_damaged(repo.open_backup("victim", "pw").await, &manifest);
    store.set_object(&manifest, manifest_bytes);

    // Pack: opening works (the passcode and manifest are fine), reading the
    // damaged chunk and verifying fail, naming the pack.
    assert!(store.flip_byte(&pack, 100));
    let reader = repo.open_backup("victim", "pw").await.unwrap();
    assert_damaged(read_stage(&reader, "s").await, &pack);
    assert_damaged(reader.verify().await, &pack);
    assert!(store.flip_byte(&pack, 100));
    assert_eq!(read_stage(&reader, "s").await.unwrap(), entries);

    // Retention can change without a passcode and keeps the MAC valid.
    repo.set_retention("victim", 42).await.unwrap();
    assert_eq!(repo.backup_info("victim").await.unwrap().retention_date, 42);

    // Config: the repository still opens, existing backups restore with the
    // parameters in their own records, and new backups still deduplicate.
    assert!(store.flip_byte("config", 30));
    let repo = Repository::open(store.clone()).await.unwrap();
    assert!(repo.config_damage().is_some());
    let reader = repo.open_backup("victim", "pw").await.unwrap();
    assert_eq!(reader.info().retention_date, 42);
    assert_eq!(read_stage(&reader, "s").await.unwrap(), entries);
    let again = backup(&repo, "after-config-damage", "pw", &[("s", &entries)]).await;
    assert!(
        again.stored_bytes < 100_000,
        "no dedup: {}",
        again.stored_bytes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_frees_unshared_packs_and_keeps_shared_ones() {
    let (store, repo) = open_repo().await;
    let shared = random(20 * MIB, 5);
    let only_old = random(20 * MIB, 6);
    let only_new = random(MIB, 7);
    let old: Entries = vec![(file("shared"), shared.clone()), (file("old"), only_old)];
    let new: Entries = vec![(file("shared"), shared), (file("new"), only_new)];
    backup(&repo, "old", "pw", &[("s", &old)]).await;
    backup(&repo, "new", "pw", &[("s", &new)]).await;
    let r_new: Vec<String> =
        serde_json::from_value(record_json(&store, "new")["packs"].clone()).unwrap();
    let before = packs_of(&store);
    assert!(before.len() > r_new.len());

    assert!(matches!(
        repo.delete_backup("missing").await,
        Err(RepoError::NotFound(_))
    ));
    assert!(matches!(
        repo.delete_backup("../x").await,
        Err(RepoError::InvalidName(_))
    ));
    let report = repo.delete_backup("old").await.unwrap();
    assert_eq!(report.deleted_backup.as_deref(), Some("old"));
    assert!(report.packs_deleted >= 1);
    assert_eq!(report.manifests_deleted, 1);
    assert_eq!(report.blocked_by, None);
    assert_eq!(packs_of(&store), r_new, "exactly the packs of `new` remain");
    assert_eq!(repo.list_backups().await.unwrap().len(), 1);

    let reader = repo.open_backup("new", "pw").await.unwrap();
    assert_eq!(read_stage(&reader, "s").await.unwrap(), new);
    reader.verify().await.unwrap();
    assert_eq!(repo.collect_garbage().await.unwrap().packs_deleted, 0);

    // Foreign objects under backups/ are not backups and block nothing.
    store.set_object("backups/readme.txt", &b"not a record"[..]);
    assert_eq!(repo.list_backups().await.unwrap().len(), 1);
    assert_eq!(repo.collect_garbage().await.unwrap().packs_deleted, 0);

    // A damaged record blocks collection (its references are unknown).
    let record = format!("backups/{}.json", hex::encode("new"));
    store.flip_byte(&record, 3);
    assert_damaged(repo.collect_garbage().await, &record);
    store.flip_byte(&record, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_backup_is_invisible_and_collected() {
    let (store, repo) = open_repo().await;
    let mut w = repo.begin_backup("pw", info("crashy", 1)).await.unwrap();
    {
        let mut s = w.begin_stage("s", "p").await.unwrap();
        s.begin_entry(file("f")).await.unwrap();
        // Enough for a third sealed pack, which waits for the first upload.
        s.write(&random(128 * MIB, 8)).await.unwrap();
    }
    assert!(w.stats().packs_written >= 1);
    drop(w); // crash: no commit
    assert!(repo.list_backups().await.unwrap().is_empty());
    assert!(!packs_of(&store).is_empty());
    let report = repo.collect_garbage().await.unwrap();
    assert!(report.packs_deleted >= 1);
    assert_eq!(store.names(), ["config"]);
    // The name was never taken.
    let w = repo.begin_backup("pw", info("crashy", 1)).await.unwrap();
    w.commit(3).await.unwrap();
    assert_eq!(repo.list_backups().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_and_name_checks() {
    let (_store, repo) = open_repo().await;
    assert!(matches!(
        repo.begin_backup("pw", info(".bad", 1)).await,
        Err(RepoError::InvalidName(_))
    ));
    assert!(matches!(
        repo.open_backup("no/such", "pw").await,
        Err(RepoError::InvalidName(_))
    ));
    assert!(matches!(
        repo.open_backup("nosuch", "pw").await,
        Err(RepoError::NotFound(_))
    ));
    assert!(matches!(
        repo.begin_backup("", info("ok", 1)).await,
        Err(RepoError::Misuse(_))
    ));

    let mut w = repo
        .begin_backup("pw", info("Mixed.Case_Name-1", 1))
        .await
        .unwrap();
    {
        let mut s = w.begin_stage("s", "p").await.unwrap();
        assert!(matches!(s.write(b"x").await, Err(RepoError::Misuse(_))));
        assert!(matches!(s.end_entry().await, Err(RepoError::Misuse(_))));
        assert!(matches!(
            s.begin_entry(file("../escape")).await,
            Err(RepoError::InvalidEntry(_))
        ));
        let mut bad_mode = file("m");
        bad_mode.mode = 0o170000;
        assert!(matches!(
            s.begin_entry(bad_mode).await,
            Err(RepoError::InvalidEntry(_))
        ));
        let mut link_on_file = file("l");
        link_on_file.link_target = Some("x".into());
        assert!(matches!(
            s.begin_entry(link_on_file).await,
            Err(RepoError::InvalidEntry(_))
        ));
        let mut dangling = symlink("l", "x");
        dangling.link_target = None;
        assert!(matches!(
            s.begin_entry(dangling).await,
            Err(RepoError::InvalidEntry(_))
        ));
        s.begin_entry(dir("d")).await.unwrap();
        assert!(matches!(s.write(b"x").await, Err(RepoError::Misuse(_))));
        assert!(matches!(
            s.begin_entry(dir("e")).await,
            Err(RepoError::Misuse(_))
        ));
        s.end_entry().await.unwrap();
        s.begin_entry(file("open")).await.unwrap();
        // Finishing with an entry open is refused; the stage stays open.
    }
    assert!(matches!(
        w.begin_stage("t", "p").await,
        Err(RepoError::Misuse(_))
    ));
    let w2 = repo.begin_backup("pw", info("other", 1)).await.unwrap();
    w2.commit(2).await.unwrap();
    assert!(matches!(
        repo.begin_backup("pw", info("other", 1)).await,
        Err(RepoError::NameTaken(_))
    ));
    drop(w);

    let mut w = repo
        .begin_backup("pw", info("Mixed.Case_Name-1", 1))
        .await
        .unwrap();
    let s = w.begin_stage("s", "p").await.unwrap();
    s.finish(vec![], 0, 0).await.unwrap();
    assert!(matches!(
        w.begin_stage("s", "p").await,
        Err(RepoError::Misuse(_))
    ));
    let info = w.commit(5).await.unwrap();
    assert_eq!(info.name, "Mixed.Case_Name-1");
    assert_eq!(repo.backup_info("Mixed.Case_Name-1").await.unwrap(), info);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_for_large_input() {
    // Slow puts make uploads pile up if nothing held them back.
    let store = Arc::new(MemoryStore::new().with_put_delay(Duration::from_millis(30)));
    let repo = Repository::open(store.clone()).await.unwrap();
    let mut w = repo.begin_backup("pw", info("big", 1)).await.unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut buf = vec![0u8; MIB];
    let total = 200 * MIB;
    let started = Instant::now();
    {
        let mut s = w.begin_stage("s", "p").await.unwrap();
        s.begin_entry(file("huge.bin")).await.unwrap();
        for _ in 0..total / MIB {
            rng.fill_bytes(&mut buf);
            s.write(&buf).await.unwrap();
        }
        s.end_entry().await.unwrap();
        s.finish(vec![], 0, 0).await.unwrap();
    }
    let stats = w.stats();
    let info = w.commit(2).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "wrote {} MiB in {secs:.2} s ({:.0} MiB/s, store put delay 30 ms), {} packs, peak buffered {:.1} MiB",
        total / MIB,
        total as f64 / MIB as f64 / secs,
        stats.packs_written,
        stats.peak_buffered_bytes as f64 / MIB as f64
    );
    assert_eq!(info.total_bytes, total as u64);
    assert!(packs_of(&store).len() >= 12);
    assert!(stats.peak_uploads_in_flight <= drhost_repo::limits::MAX_UPLOADS_IN_FLIGHT as u64);
    assert!(store.max_puts_in_flight() <= drhost_repo::limits::MAX_UPLOADS_IN_FLIGHT);
    // Open pack + uploads in flight + chunk jobs + the entry's segment being
    // filled and the one being cut, independent of `total`.
    assert!(
        stats.peak_buffered_bytes <= 108 * MIB as u64,
        "peak {}",
        stats.peak_buffered_bytes
    );
    for p in packs_of(&store) {
        let size = store.object(&p).unwrap().len();
        assert!(size <= drhost_repo::limits::PACK_MAX, "{p} is {size} bytes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_in_missing_packs_are_written_again() {
    let (store, repo) = open_repo().await;
    let entries: Entries = vec![(file("f"), random(3 * MIB, 10))];
    // Writers and readers run inside spawned tasks (their futures are Send).
    let (r, e) = (repo.clone(), entries.clone());
    tokio::spawn(async move { backup(&r, "one", "pw", &[("s", &e)]).await })
        .await
        .unwrap();
    for p in packs_of(&store) {
        store.remove_object(&p);
    }
    let (r, e) = (repo.clone(), entries.clone());
    let two = tokio::spawn(async move { backup(&r, "two", "pw", &[("s", &e)]).await })
        .await
        .unwrap();
    assert!(
        two.stored_bytes >= 3 * MIB as u64,
        "the lost chunks were not rewritten"
    );
    let r = repo.clone();
    let got = tokio::spawn(async move {
        let reader = r.open_backup("two", "pw").await.unwrap();
        let mut stage = reader.stage_reader("s").unwrap();
        tokio::spawn(async move {
            let meta = stage.next_entry().await.unwrap().unwrap();
            let mut n = 0;
            loop {
                let b = stage.read(1 << 20).await.unwrap();
                if b.is_empty() {
                    break;
                }
                n += b.len();
            }
            (meta, n)
        })
        .await
        .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(got, (file("f"), 3 * MIB));
    // The old backup is damaged and says which pack is missing: its
    // manifest's segments were in one, so it does not even open.
    assert_damaged(repo.open_backup("one", "pw").await, "packs/");
}

/// A backup named "second" under the passcode the first one used.
async fn second_backup(repo: &Repository) -> BackupWriter {
    repo.begin_backup("passcode", info("second", 2000))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_files_are_taken_over_from_the_previous_backup() {
    let (store, repo) = open_repo().await;
    let a = random(3 * MIB, 7);
    let b = random(MIB, 8);
    let first: Entries = vec![(file("a.bin"), a.clone()), (file("b.bin"), b.clone())];
    backup(&repo, "first", "passcode", &[("files", &first)]).await;

    let bytes_before = store.bytes_put();
    let mut w = second_backup(&repo).await;
    let mut s = w.begin_stage("files", "test-plugin").await.unwrap();
    assert!(
        s.reuse_unchanged(file("a.bin"), a.len() as u64)
            .await
            .unwrap()
    );
    let mut touched = file("b.bin");
    touched.mtime_seconds += 1;
    assert!(
        !s.reuse_unchanged(touched.clone(), b.len() as u64)
            .await
            .unwrap()
    );
    assert!(!s.reuse_unchanged(file("b.bin"), 5).await.unwrap());
    assert!(!s.reuse_unchanged(file("c.bin"), 1).await.unwrap());
    assert!(!s.reuse_unchanged(dir("a.bin"), 0).await.unwrap());
    s.begin_entry(touched.clone()).await.unwrap();
    s.write(&b).await.unwrap();
    s.end_entry().await.unwrap();
    s.finish(vec![], 1, 2).await.unwrap();
    let stats = w.stats();
    assert_eq!(
        (stats.files_reused, stats.bytes_reused),
        (1, a.len() as u64)
    );
    let second = w.commit(3000).await.unwrap();
    assert_eq!(second.total_bytes, (a.len() + b.len()) as u64);
    assert!(
        store.bytes_put() - bytes_before < MIB as u64 / 2,
        "unchanged content was stored again"
    );

    // Another passcode shares nothing, so there is nothing to take over.
    let mut other = repo
        .begin_backup("another passcode", info("third", 3000))
        .await
        .unwrap();
    let mut s = other.begin_stage("files", "test-plugin").await.unwrap();
    assert!(
        !s.reuse_unchanged(file("a.bin"), a.len() as u64)
            .await
            .unwrap()
    );
    drop(other);

    // The taken-over content outlives the backup it came from.
    repo.delete_backup("first").await.unwrap();
    let reader = repo.open_backup("second", "passcode").await.unwrap();
    let restored = read_stage(&reader, "files").await.unwrap();
    assert_eq!(restored.len(), 2);
    assert_eq!(restored[0].0, file("a.bin"));
    assert!(restored[0].1 == a, "taken-over content differs");
    assert_eq!(restored[1].0, touched);
    assert!(restored[1].1 == b);
}

/// A large file rewritten in part is cut where its previous version was
/// cut wherever its chunks are unchanged (checked by their ids instead of
/// searched for), and comes back as written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_is_cut_where_its_previous_version_was() {
    let (store, repo) = open_repo().await;
    let old = random(20 * MIB, 9);
    backup(
        &repo,
        "first",
        "passcode",
        &[("files", &vec![(file("big.bin"), old.clone())])],
    )
    .await;

    let mut new = old.clone();
    new[10 * MIB..11 * MIB].copy_from_slice(&random(MIB, 10));
    let mut touched = file("big.bin");
    touched.mtime_seconds += 1;
    let bytes_before = store.bytes_put();
    let mut w = second_backup(&repo).await;
    let mut s = w.begin_stage("files", "test-plugin").await.unwrap();
    assert!(
        !s.reuse_unchanged(touched.clone(), new.len() as u64)
            .await
            .unwrap()
    );
    s.begin_entry(touched.clone()).await.unwrap();
    for piece in new.chunks(700_001) {
        s.write(piece).await.unwrap();
    }
    s.end_entry().await.unwrap();
    s.finish(vec![], 1, 2).await.unwrap();
    let stats = w.stats();
    // The rewritten MiB spoils at most the chunks it touches and the one
    // after (each at most 4 MiB).
    assert!(
        stats.bytes_cut_as_before >= (new.len() - 12 * MIB) as u64,
        "{stats:?}"
    );
    w.commit(3000).await.unwrap();
    assert!(
        store.bytes_put() - bytes_before < 10 * MIB as u64,
        "unchanged chunks were stored again"
    );

    let reader = repo.open_backup("second", "passcode").await.unwrap();
    let restored = read_stage(&reader, "files").await.unwrap();
    assert_eq!(restored.len(), 1);
    assert_eq!(restored[0].0, touched);
    assert!(restored[0].1 == new, "restored content differs");
}

/// The persistent dedup index: kept across `Repository` instances (as across
/// host restarts), extended per backup, rebuilt when damaged or when a covered
/// backup is deleted, and never trusted for packs that are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dedup_index_is_cached_extended_and_rebuilt() {
    use std::os::unix::fs::PermissionsExt;

    let store = Arc::new(MemoryStore::new());
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().join("store-a");
    let options = RepositoryOptions {
        index_cache: Some(dir.clone()),
        ..RepositoryOptions::default()
    };
    let open = || Repository::open_with(store.clone(), options.clone());
    let entries: Entries = vec![
        (file("big"), random(3 * MIB, 21)),
        (file("small"), random(100_000, 22)),
    ];

    let one = backup(&open().await.unwrap(), "one", "pw", &[("s", &entries)]).await;
    assert!(one.stored_bytes > 3 * MIB as u64);
    // A new Repository (a restarted host) reuses every chunk through the cache.
    let two = backup(&open().await.unwrap(), "two", "pw", &[("s", &entries)]).await;
    assert!(
        two.stored_bytes < 64 * 1024,
        "{} bytes stored",
        two.stored_bytes
    );
    // The first backup had nothing to index; the second wrote the base file.
    let index_files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(index_files.len(), 1, "{index_files:?}");
    let index = &index_files[0];
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&dir), mode(index)), (0o700, 0o600));

    // A damaged index is rebuilt from the manifests: still full dedup.
    let bytes = std::fs::read(index).unwrap();
    std::fs::write(index, &bytes[..bytes.len() / 2]).unwrap();
    let three = backup(&open().await.unwrap(), "three", "pw", &[("s", &entries)]).await;
    assert!(
        three.stored_bytes < 64 * 1024,
        "{} bytes stored",
        three.stored_bytes
    );

    // Packs deleted behind the cache's back are not referenced again.
    for p in packs_of(&store) {
        store.remove_object(&p);
    }
    let repo = open().await.unwrap();
    let four = backup(&repo, "four", "pw", &[("s", &entries)]).await;
    assert!(
        four.stored_bytes > 3 * MIB as u64,
        "the lost chunks were not rewritten"
    );
    let reader = repo.open_backup("four", "pw").await.unwrap();
    assert_eq!(read_stage(&reader, "s").await.unwrap(), entries);

    // Deleting covered backups makes the next backup rebuild the index from
    // what remains, and it still deduplicates against it.
    for name in ["one", "two", "three"] {
        repo.delete_backup(name).await.unwrap();
    }
    let five = backup(&repo, "five", "pw", &[("s", &entries)]).await;
    assert!(
        five.stored_bytes < 64 * 1024,
        "{} bytes stored",
        five.stored_bytes
    );
    let reader = repo.open_backup("five", "pw").await.unwrap();
    assert_eq!(read_stage(&reader, "s").await.unwrap(), entries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_backup_does_not_write_the_journaled_packs_again() {
    let (store, repo) = open_repo().await;
    let data = random(120 * MIB, 21);
    let journal: Arc<std::sync::Mutex<Vec<UploadedPack>>> = Arc::default();
    let mut w = repo.begin_backup("pw", info("resumed", 1)).await.unwrap();
    let sink = journal.clone();
    w.on_pack_uploaded(Arc::new(move |pack: &UploadedPack| {
        sink.lock().unwrap().push(pack.clone());
        Ok(())
    }));
    {
        let mut s = w.begin_stage("s", "p").await.unwrap();
        s.begin_entry(file("f")).await.unwrap();
        s.write(&data[..80 * MIB]).await.unwrap();
    }
    // Uploads finish in the background: wait for one before the crash.
    let waited = Instant::now();
    while journal.lock().unwrap().is_empty() && waited.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let first_run = w.stats();
    drop(w); // crash: no commit
    let uploaded = journal.lock().unwrap().clone();
    assert!(!uploaded.is_empty(), "no pack was reported");
    for pack in &uploaded {
        assert!(
            store.object(&pack.name).is_some(),
            "{} not stored",
            pack.name
        );
    }
    let journaled_bytes: u64 = uploaded.iter().map(UploadedPack::bytes).sum();
    // What the store holds of them: their blobs and each pack's padding.
    let journaled_pack_bytes: u64 = uploaded
        .iter()
        .map(|p| store.object(&p.name).map_or(0, |o| o.len() as u64))
        .sum();
    // A pack the journal names but the store lost is left out, not trusted.
    let mut with_lost = uploaded.clone();
    with_lost.push(UploadedPack {
        name: format!("packs/ab/{}", "ab".repeat(32)),
        chunks: uploaded[0].chunks.clone(),
    });

    let (mut w, resumed) = repo
        .resume_backup("pw", info("resumed", 1), with_lost)
        .await
        .unwrap();
    assert_eq!(resumed.packs, uploaded.len() as u64);
    assert_eq!(resumed.bytes, journaled_pack_bytes);
    assert_eq!(resumed.packs_missing, 1);
    {
        let mut s = w.begin_stage("s", "p").await.unwrap();
        s.begin_entry(file("f")).await.unwrap();
        for piece in data.chunks(3 * MIB + 7) {
            s.write(piece).await.unwrap();
        }
        s.end_entry().await.unwrap();
        s.finish(vec![], 1, 2).await.unwrap();
    }
    let second_run = w.stats();
    let committed = w.commit(3).await.unwrap();
    assert!(
        second_run.bytes_stored_new + journaled_bytes <= data.len() as u64 + 4096,
        "journaled chunks were written again: {second_run:?}, journaled {journaled_bytes}"
    );
    // Each upload is reported before the writer counts it as written.
    assert!(
        uploaded.len() as u64 >= first_run.packs_written,
        "an upload was not reported: {first_run:?}, reported {}",
        uploaded.len()
    );
    assert_eq!(committed.total_bytes, data.len() as u64);
    let reader = repo.open_backup("resumed", "pw").await.unwrap();
    let got = read_stage(&reader, "s").await.unwrap();
    assert_eq!(got, vec![(file("f"), data)]);
    reader.verify().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_stage_commits_the_others_as_a_partial_backup() {
    let (store, repo) = open_repo().await;
    let kept: Entries = vec![(file("kept"), random(2 * MIB, 31))];
    let mut w = repo.begin_backup("pw", info("partial", 1)).await.unwrap();
    let mut s = w.begin_stage("good", "p").await.unwrap();
    s.begin_entry(kept[0].0.clone()).await.unwrap();
    s.write(&kept[0].1).await.unwrap();
    s.end_entry().await.unwrap();
    s.finish(vec![], 1, 2).await.unwrap();
    {
        // Fails mid-entry: the stage is left open with data queued.
        let mut s = w.begin_stage("bad", "q").await.unwrap();
        s.begin_entry(file("half")).await.unwrap();
        s.write(&random(3 * MIB, 32)).await.unwrap();
    }
    w.stage_failed("bad", "q").await.unwrap();
    assert!(matches!(
        w.stage_failed("good", "p").await,
        Err(RepoError::Misuse(_))
    ));
    let info = w.commit(3).await.unwrap();
    assert!(info.is_partial());
    assert_eq!(info.stages.len(), 1);
    assert_eq!(info.incomplete_stages[0].name, "bad");
    // Public, without a passcode, and covered by the MAC.
    let record = record_json(&store, "partial");
    assert_eq!(
        record["info"]["incomplete_stages"],
        serde_json::json!([{"name": "bad", "plugin": "q"}])
    );
    assert!(repo.backup_info("partial").await.unwrap().is_partial());
    let reader = repo.open_backup("partial", "pw").await.unwrap();
    assert_eq!(read_stage(&reader, "good").await.unwrap(), kept);
    assert!(reader.stage_reader("bad").is_err());
    reader.verify().await.unwrap();

    // A complete backup's record has no such field (its MAC input is unchanged).
    let (r, e) = (repo.clone(), kept.clone());
    tokio::spawn(async move { backup(&r, "whole", "pw", &[("good", &e)]).await })
        .await
        .unwrap();
    assert!(
        record_json(&store, "whole")["info"]
            .get("incomplete_stages")
            .is_none()
    );
}

/// A store whose objects live under `prefix` of another store: how a store
/// whose directory was placed inside another store's looks to the outer one.
/// Remembers every name it wrote, so a test can check they all survive.
struct NestedStore {
    outer: Arc<MemoryStore>,
    prefix: String,
    written: std::sync::Mutex<Vec<String>>,
}

impl NestedStore {
    fn new(outer: &Arc<MemoryStore>, prefix: &str) -> Self {
        Self {
            outer: outer.clone(),
            prefix: prefix.to_string(),
            written: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn full(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Every object this store wrote, by its name in the outer store.
    fn snapshot(&self) -> Vec<(String, bytes::Bytes)> {
        let written = self.written.lock().unwrap().clone();
        written
            .into_iter()
            .filter_map(|name| self.outer.object(&name).map(|b| (name, b)))
            .collect()
    }
}

#[async_trait::async_trait]
impl drhost_repo::ObjectStore for NestedStore {
    async fn put(&self, name: &str, data: bytes::Bytes) -> Result<(), drhost_repo::StoreError> {
        self.written.lock().unwrap().push(self.full(name));
        self.outer.put(&self.full(name), data).await
    }
    async fn get(
        &self,
        name: &str,
        offset: u64,
        length: Option<u64>,
    ) -> Result<bytes::Bytes, drhost_repo::StoreError> {
        self.outer.get(&self.full(name), offset, length).await
    }
    async fn stat(
        &self,
        name: &str,
    ) -> Result<Option<drhost_repo::ObjectInfo>, drhost_repo::StoreError> {
        let info = self.outer.stat(&self.full(name)).await?;
        Ok(info.map(|i| drhost_repo::ObjectInfo {
            name: name.to_string(),
            size: i.size,
        }))
    }
    async fn list(
        &self,
        prefix: &str,
    ) -> Result<Vec<drhost_repo::ObjectInfo>, drhost_repo::StoreError> {
        let listed = self.outer.list(&self.full(prefix)).await?;
        Ok(listed
            .into_iter()
            .filter_map(|i| {
                let name = i.name.strip_prefix(&self.prefix)?.to_string();
                Some(drhost_repo::ObjectInfo { name, size: i.size })
            })
            .collect())
    }
    async fn delete(&self, name: &str) -> Result<(), drhost_repo::StoreError> {
        self.outer.delete(&self.full(name)).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_never_deletes_the_objects_of_a_store_nested_inside() {
    let (store, outer) = open_repo().await;
    let kept: Entries = vec![(file("kept"), random(MIB, 21))];
    let doomed: Entries = vec![(file("doomed"), random(2 * MIB, 22))];
    backup(&outer, "kept", "pw", &[("s", &kept)]).await;
    backup(&outer, "doomed", "pw", &[("s", &doomed)]).await;
    // One pack fan-out directory of the outer store, e.g. `packs/3f/`.
    let pack = packs_of(&store).first().cloned().expect("a pack");
    let fan_out = format!("{}/", &pack[..pack.rfind('/').expect("fan-out")]);

    // A store inside every directory collection lists or reads.
    let mut inner = Vec::new();
    for (i, prefix) in ["packs/", "manifests/", "backups/", fan_out.as_str()]
        .into_iter()
        .enumerate()
    {
        let nested = Arc::new(NestedStore::new(&store, prefix));
        let repo = Repository::open(nested.clone()).await.unwrap();
        let entries: Entries = vec![(file("inner"), random(MIB, 30 + i as u64))];
        backup(&repo, "inner", "pw", &[("s", &entries)]).await;
        // A deleted backup too, so the inner store holds catalog events and
        // (after its own collection) only what its live backup needs.
        backup(&repo, "gone", "pw", &[("s", &doomed)]).await;
        repo.delete_backup("gone").await.unwrap();
        inner.push((nested, repo, entries));
    }
    let before: Vec<_> = inner.iter().map(|(n, _, _)| n.snapshot()).collect();
    assert!(before.iter().all(|s| !s.is_empty()));

    let report = outer.delete_backup("doomed").await.unwrap();
    assert!(report.packs_deleted >= 1, "{report}");
    assert_eq!(report.manifests_deleted, 1, "{report}");
    assert_eq!(report.records_deleted, 1, "{report}");
    assert!(report.foreign_kept > 0, "{report}");

    for ((nested, repo, entries), before) in inner.iter().zip(&before) {
        for (name, bytes) in before {
            assert_eq!(
                store.object(name).as_ref(),
                Some(bytes),
                "{name} of the store under {} was touched",
                nested.prefix
            );
        }
        let reader = repo.open_backup("inner", "pw").await.unwrap();
        assert_eq!(&read_stage(&reader, "s").await.unwrap(), entries);
        reader.verify().await.unwrap();
    }
    let reader = outer.open_backup("kept", "pw").await.unwrap();
    assert_eq!(read_stage(&reader, "s").await.unwrap(), kept);
}

/// `check_objects` (a backup's `validate`, which has no passcode) finds a
/// lost pack and a corrupted one, naming each, and passes an intact backup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_are_checked_without_the_passcode() {
    let (store, repo) = open_repo().await;
    let entries: Entries = vec![
        (file("a.bin"), random(3 * MIB, 1)),
        (file("b.bin"), random(MIB, 2)),
    ];
    backup(&repo, "b1", "passcode-1", &[("files", &entries)]).await;
    let intact = repo.check_objects("b1").await.unwrap();
    let packs = packs_of(&store);
    assert!(intact.problems.is_empty(), "{intact:?}");
    assert_eq!(
        intact.objects,
        packs.len() as u64 + 1,
        "packs and the manifest"
    );
    assert!(intact.bytes >= 4 * MIB as u64);

    let lost = packs.first().expect("a pack").clone();
    assert!(store.remove_object(&lost));
    let manifest = store
        .names_with_prefix("manifests/")
        .pop()
        .expect("the manifest");
    assert!(store.flip_byte(&manifest, 100));
    let damaged = repo.check_objects("b1").await.unwrap();
    assert_eq!(damaged.problems.len(), 2, "{damaged:?}");
    assert!(damaged.problems[0].starts_with(&manifest), "{damaged:?}");
    assert!(damaged.problems[0].contains("SHA-256"), "{damaged:?}");
    assert!(damaged.problems[1].starts_with(&lost), "{damaged:?}");
    assert!(matches!(
        repo.check_objects("no-such-backup").await,
        Err(RepoError::NotFound(_))
    ));
}
