//! The tamper-evident catalog and the write-once layout: every way of removing,
//! replacing or rolling back catalog objects in the store is reported by the
//! listing, naming the backup; retention and deletion are new objects, so the
//! whole lifecycle works on a store that refuses overwrites and deletes.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use drhost_repo::testing::{MemoryAnchor, MemoryStore};
use drhost_repo::{
    BackupInfo, BackupListing, CatalogFinding, EntryKind, EntryMeta, FindingKind, RepoError,
    Repository, RepositoryOptions,
};

const PASSCODE: &str = "catalog-test";

fn info(name: &str, start: i64) -> BackupInfo {
    BackupInfo::new(
        name,
        format!("backup {name}"),
        "manual",
        start,
        start + 86_400,
        "11.4",
    )
}

fn anchored(anchor: Arc<MemoryAnchor>) -> RepositoryOptions {
    RepositoryOptions {
        anchor: Some(anchor),
        ..RepositoryOptions::default()
    }
}

/// A store, a repository on it with the host's anchor, and the anchor.
async fn open(store: MemoryStore) -> (Arc<MemoryStore>, Repository, Arc<MemoryAnchor>) {
    let store = Arc::new(store);
    let anchor = Arc::new(MemoryAnchor::default());
    let repo = Repository::open_with(store.clone(), anchored(anchor.clone()))
        .await
        .expect("open");
    (store, repo, anchor)
}

/// One small backup whose content depends on `name` (so backups differ).
async fn backup(repo: &Repository, name: &str, start: i64) {
    let mut w = repo
        .begin_backup(PASSCODE, info(name, start))
        .await
        .expect("begin");
    let mut s = w.begin_stage("s", "test-plugin").await.expect("stage");
    s.begin_entry(EntryMeta {
        path: "f".into(),
        kind: EntryKind::File,
        mode: 0o644,
        mtime_seconds: 1_700_000_000,
        mtime_nanoseconds: 0,
        link_target: None,
        owner: None,
        attributes: vec![],
    })
    .await
    .expect("entry");
    s.write(format!("content of {name}").as_bytes())
        .await
        .expect("write");
    s.end_entry().await.expect("end");
    s.finish(vec![], start, start + 1).await.expect("finish");
    w.commit(start + 2).await.expect("commit");
}

fn record(name: &str) -> String {
    format!("backups/{}.json", hex::encode(name))
}

fn ok_names(listing: &[BackupListing]) -> Vec<String> {
    listing
        .iter()
        .filter_map(|l| match l {
            BackupListing::Ok(i) => Some(i.name.clone()),
            _ => None,
        })
        .collect()
}

fn findings(listing: &[BackupListing]) -> Vec<CatalogFinding> {
    listing
        .iter()
        .filter_map(|l| match l {
            BackupListing::Tampered(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

/// The one finding of `kind` naming `backup`; its reason names it too.
fn assert_finding(listing: &[BackupListing], kind: FindingKind, backup: &str) {
    let found = findings(listing);
    let hit = found
        .iter()
        .find(|f| f.kind == kind && f.backup.as_deref() == Some(backup));
    let Some(hit) = hit else {
        panic!("no {kind:?} finding for {backup}: {found:#?}");
    };
    assert!(hit.reason.contains(&format!("'{backup}'")), "{hit:#?}");
}

fn snapshot(store: &MemoryStore) -> BTreeMap<String, Bytes> {
    store
        .names()
        .into_iter()
        .filter_map(|n| store.object(&n).map(|b| (n, b)))
        .collect()
}

fn restore_snapshot(store: &MemoryStore, snapshot: &BTreeMap<String, Bytes>) {
    for name in store.names() {
        store.remove_object(&name);
    }
    for (name, bytes) in snapshot {
        store.set_object(name, bytes.clone());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intact_catalog_has_no_findings_and_chains_every_record() {
    let (store, repo, anchor) = open(MemoryStore::new()).await;
    backup(&repo, "a", 10).await;
    backup(&repo, "b", 20).await;
    let listing = repo.list_backups().await.expect("list");
    assert_eq!(ok_names(&listing), ["a", "b"]);
    assert!(findings(&listing).is_empty(), "{listing:#?}");
    let head = anchor.get().and_then(|a| a.head).expect("anchored");
    assert_eq!((head.seq, head.object.as_str()), (2, record("b").as_str()));

    let b: serde_json::Value =
        serde_json::from_slice(&store.object(&record("b")).expect("b")).expect("json");
    assert_eq!(b["record"]["seq"], 2);
    assert_eq!(b["record"]["prev"]["object"], record("a"));
    assert_eq!(b["record"]["prev"]["seq"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_deleted_without_a_tombstone_is_named() {
    let (store, repo, _) = open(MemoryStore::new()).await;
    backup(&repo, "a", 10).await;
    backup(&repo, "b", 20).await;
    backup(&repo, "c", 30).await;
    assert!(store.remove_object(&record("b")));
    let listing = repo.list_backups().await.expect("list");
    assert_eq!(ok_names(&listing), ["a", "c"]);
    assert_finding(&listing, FindingKind::DeletedWithoutTombstone, "b");

    // The newest records have no successor to link to them: the anchor names
    // them (with `c` gone, nothing in the store recalls `b` either).
    assert!(store.remove_object(&record("c")));
    let listing = repo.list_backups().await.expect("list");
    assert_finding(&listing, FindingKind::RolledBack, "c");
    assert_finding(&listing, FindingKind::RolledBack, "b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_replaced_by_another_valid_one_is_named() {
    let (store, repo, _) = open(MemoryStore::new()).await;
    backup(&repo, "a", 10).await;
    backup(&repo, "b", 20).await;
    // A valid record of the same name from another store (same position).
    let (other, other_repo, _) = open(MemoryStore::new()).await;
    backup(&other_repo, "a", 11).await;
    store.set_object(&record("a"), other.object(&record("a")).expect("other a"));
    let listing = repo.list_backups().await.expect("list");
    assert_finding(&listing, FindingKind::Replaced, "a");
    assert!(!ok_names(&listing).contains(&"a".to_string()));

    // The head has no successor: the anchor catches its replacement.
    backup(&other_repo, "b", 21).await;
    store.set_object(&record("a"), snapshot(&other)[&record("a")].clone());
    store.set_object(&record("b"), other.object(&record("b")).expect("other b"));
    let listing = repo.list_backups().await.expect("list");
    assert_finding(&listing, FindingKind::Replaced, "b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_manifest_is_named() {
    let (store, repo, _) = open(MemoryStore::new()).await;
    backup(&repo, "a", 10).await;
    backup(&repo, "b", 20).await;
    let b: serde_json::Value =
        serde_json::from_slice(&store.object(&record("b")).expect("b")).expect("json");
    let manifest = b["record"]["manifest"].as_str().expect("manifest");
    assert!(store.remove_object(manifest));
    let listing = repo.list_backups().await.expect("list");
    assert_eq!(ok_names(&listing), ["a"]);
    assert_finding(&listing, FindingKind::ManifestMissing, "b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_rolled_back_to_an_earlier_copy_is_named() {
    let (store, repo, anchor) = open(MemoryStore::new()).await;
    backup(&repo, "a", 10).await;
    let earlier = snapshot(&store);
    backup(&repo, "b", 20).await;
    repo.set_retention("a", 99).await.expect("retention");
    backup(&repo, "c", 30).await;
    restore_snapshot(&store, &earlier);

    // The earlier copy is consistent in itself: only the anchor shows it.
    let unanchored = Repository::open(store.clone()).await.expect("open");
    assert!(findings(&unanchored.list_backups().await.expect("list")).is_empty());

    let listing = repo.list_backups().await.expect("list");
    assert_eq!(ok_names(&listing), ["a"]);
    assert_finding(&listing, FindingKind::RolledBack, "b");
    assert_finding(&listing, FindingKind::RolledBack, "c");
    // The evidence stays: listing again does not accept the older head.
    assert_eq!(anchor.get().and_then(|a| a.head).map(|h| h.seq), Some(4));
    assert_finding(
        &repo.list_backups().await.expect("list"),
        FindingKind::RolledBack,
        "c",
    );
    assert!(!repo.check_catalog(None).await.expect("check").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_histories_in_one_store_are_a_fork() {
    let (store, repo, _) = open(MemoryStore::new()).await;
    backup(&repo, "a", 10).await;
    let earlier = snapshot(&store);
    backup(&repo, "b", 20).await;
    let b = store.object(&record("b")).expect("b");
    restore_snapshot(&store, &earlier);
    backup(&repo, "c", 30).await; // takes position 2 again
    store.set_object(&record("b"), b);
    let listing = repo.list_backups().await.expect("list");
    assert_finding(&listing, FindingKind::Forked, "b");
    assert_finding(&listing, FindingKind::Forked, "c");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_with_the_passcode_checks_the_mac_of_every_record() {
    let (store, repo, _) = open(MemoryStore::new()).await;
    backup(&repo, "a", 10).await;
    backup(&repo, "b", 20).await;
    // `a` edited and re-checksummed: without the passcode only its successor's
    // link shows it; with it, the MAC fails too.
    let original = store.object(&record("a")).expect("a");
    let mut v: serde_json::Value = serde_json::from_slice(&original).expect("json");
    v["record"]["info"]["description"] = "forged".into();
    let forged = serde_json::to_vec(&v["record"]).expect("json");
    let sealed = format!(
        "{{\"sha256\":\"{}\",\"record\":{}}}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&forged)),
        String::from_utf8(forged).expect("utf-8")
    );
    store.set_object(&record("a"), sealed.into_bytes());
    let reader = repo.open_backup("b", PASSCODE).await.expect("open b");
    let found = repo.check_catalog(Some(&reader)).await.expect("check");
    let kinds: Vec<(FindingKind, Option<&str>)> = found
        .iter()
        .map(|f| (f.kind, f.backup.as_deref()))
        .collect();
    assert!(
        kinds.contains(&(FindingKind::Replaced, Some("a"))),
        "{found:#?}"
    );
    assert!(
        kinds.contains(&(FindingKind::MacMismatch, Some("a"))),
        "{found:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_newest_retention_event_wins_and_records_are_never_rewritten() {
    let (store, repo, _) = open(MemoryStore::new()).await;
    backup(&repo, "a", 10).await;
    let record_bytes = store.object(&record("a")).expect("a");
    repo.set_retention("a", 500).await.expect("retention");
    repo.set_retention("a", 300).await.expect("retention");
    assert_eq!(
        repo.backup_info("a").await.expect("info").retention_date,
        300
    );
    assert_eq!(store.object(&record("a")), Some(record_bytes));
    assert_eq!(
        store.names_with_prefix("catalog/"),
        [
            "catalog/00000000000000000002.json",
            "catalog/00000000000000000003.json"
        ]
    );
    match &repo.list_backups().await.expect("list")[..] {
        [BackupListing::Ok(i)] => assert_eq!(i.retention_date, 300),
        other => panic!("{other:#?}"),
    }
    // A restore sees the current date too.
    let reader = repo.open_backup("a", PASSCODE).await.expect("open");
    assert_eq!(reader.info().retention_date, 300);
    // Removing the newest event falls back to the older one, and is reported.
    assert!(store.remove_object("catalog/00000000000000000003.json"));
    assert_eq!(
        repo.backup_info("a").await.expect("info").retention_date,
        500
    );
    let listing = repo.list_backups().await.expect("list");
    assert!(
        findings(&listing)
            .iter()
            .any(|f| f.kind.as_str() == "rolled-back"),
        "{listing:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_lifecycle_works_on_a_write_once_store() {
    let (store, repo, _) = open(MemoryStore::new_append_only()).await;
    backup(&repo, "a", 10).await;
    backup(&repo, "b", 20).await;
    repo.set_retention("b", 77).await.expect("retention");
    let before = store.bytes_under("");
    let report = repo.delete_backup("a").await.expect("delete");
    assert!(report.dry_run);
    assert_eq!(report.deleted_backup.as_deref(), Some("a"));
    assert_eq!(report.manifests_deleted, 1, "would free a's manifest");
    assert_eq!(report.records_deleted, 1, "would free a's record");
    assert!(report.packs_deleted >= 1 && report.bytes_freed > 0);
    assert!(report.to_string().contains("append-only"), "{report}");
    assert!(store.bytes_under("") > before, "only a tombstone was added");
    let gc = repo.collect_garbage().await.expect("gc");
    assert!(gc.dry_run);
    assert_eq!(gc.records_deleted, 1);

    let listing = repo.list_backups().await.expect("list");
    assert_eq!(ok_names(&listing), ["b"]);
    assert!(findings(&listing).is_empty(), "{listing:#?}");
    assert!(matches!(
        repo.backup_info("a").await,
        Err(RepoError::NotFound(_))
    ));
    assert!(matches!(
        repo.delete_backup("a").await,
        Err(RepoError::NotFound(_))
    ));
    assert_eq!(repo.backup_info("b").await.expect("b").retention_date, 77);
    backup(&repo, "c", 30).await;
    let reader = repo.open_backup("c", PASSCODE).await.expect("open c");
    reader.verify().await.expect("verify c");
    // The deleted backup's record stays, so its name stays taken.
    assert!(matches!(
        repo.begin_backup(PASSCODE, info("a", 40)).await,
        Err(RepoError::NameTaken(_))
    ));
    assert_eq!(store.deletes(), 0, "the store was asked to delete");
    assert_eq!(store.overwrites_refused(), 0, "an object was rewritten");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_removes_a_deleted_backup_and_its_name_can_be_reused() {
    let (store, repo, _) = open(MemoryStore::new()).await;
    backup(&repo, "a", 10).await;
    backup(&repo, "b", 20).await;
    let report = repo.delete_backup("a").await.expect("delete");
    assert!(!report.dry_run);
    assert_eq!(report.records_deleted, 1);
    assert!(store.object(&record("a")).is_none());
    assert_eq!(
        store.names_with_prefix("catalog/").len(),
        1,
        "tombstone kept"
    );
    // The missing record is covered by its tombstone: no finding.
    let listing = repo.list_backups().await.expect("list");
    assert_eq!(ok_names(&listing), ["b"]);
    assert!(findings(&listing).is_empty(), "{listing:#?}");

    backup(&repo, "a", 30).await;
    let listing = repo.list_backups().await.expect("list");
    assert_eq!(ok_names(&listing), ["b", "a"]);
    assert!(findings(&listing).is_empty(), "{listing:#?}");

    // A tombstone removed from the store brings nothing back silently.
    let tombstone = store.names_with_prefix("catalog/")[0].clone();
    assert!(store.remove_object(&tombstone));
    let listing = repo.list_backups().await.expect("list");
    assert!(
        findings(&listing)
            .iter()
            .any(|f| f.kind == FindingKind::DeletedWithoutTombstone),
        "{listing:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_from_before_the_catalog_are_listed_and_the_chain_starts_after_them() {
    let store = Arc::new(MemoryStore::new());
    let setup = Repository::open(store.clone()).await.expect("open");
    backup(&setup, "old", 10).await;
    // Turn it into a record as written before the catalog: no seq, no prev.
    let mut v: serde_json::Value =
        serde_json::from_slice(&store.object(&record("old")).expect("old")).expect("json");
    let fields = v["record"].as_object_mut().expect("record");
    fields.remove("seq");
    fields.remove("prev");
    let legacy = serde_json::to_vec(&v["record"]).expect("json");
    let sealed = format!(
        "{{\"sha256\":\"{}\",\"record\":{}}}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&legacy)),
        String::from_utf8(legacy).expect("utf-8")
    );
    store.set_object(&record("old"), sealed.into_bytes());

    let anchor = Arc::new(MemoryAnchor::default());
    let repo = Repository::open_with(store.clone(), anchored(anchor))
        .await
        .expect("open");
    // The first entry of the chain can be an event about such a record.
    repo.set_retention("old", 5).await.expect("retention");
    assert_eq!(
        repo.backup_info("old").await.expect("old").retention_date,
        5
    );
    backup(&repo, "new", 20).await;
    let new: serde_json::Value =
        serde_json::from_slice(&store.object(&record("new")).expect("new")).expect("json");
    assert_eq!(new["record"]["seq"], 2);
    assert_eq!(
        new["record"]["prev"]["object"],
        "catalog/00000000000000000001.json"
    );
    let listing = repo.list_backups().await.expect("list");
    assert_eq!(ok_names(&listing), ["old", "new"]);
    assert!(findings(&listing).is_empty(), "{listing:#?}");
    repo.delete_backup("old").await.expect("delete");
    let listing = repo.list_backups().await.expect("list");
    assert_eq!(ok_names(&listing), ["new"]);
    assert!(findings(&listing).is_empty(), "{listing:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_event_is_named_and_ignored() {
    let (store, repo, _) = open(MemoryStore::new()).await;
    backup(&repo, "a", 10).await;
    repo.set_retention("a", 500).await.expect("retention");
    let event = store.names_with_prefix("catalog/")[0].clone();
    assert!(store.flip_byte(&event, 30));
    let listing = repo.list_backups().await.expect("list");
    let found = findings(&listing);
    assert!(
        found
            .iter()
            .any(|f| f.kind == FindingKind::DamagedEvent && f.object == event),
        "{found:#?}"
    );
    assert_eq!(ok_names(&listing), ["a"]);
    assert_eq!(
        repo.backup_info("a").await.expect("info").retention_date,
        10 + 86_400
    );
    // New entries go past it rather than over it.
    repo.set_retention("a", 600).await.expect("retention");
    assert_eq!(store.names_with_prefix("catalog/").len(), 2);
    assert_eq!(
        repo.backup_info("a").await.expect("info").retention_date,
        600
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_pack_is_named_without_reading_any_pack() {
    let (store, repo, _) = open(MemoryStore::new()).await;
    backup(&repo, "a", 10).await;
    backup(&repo, "b", 20).await;
    let b: serde_json::Value =
        serde_json::from_slice(&store.object(&record("b")).expect("b")).expect("json");
    let packs: Vec<String> = b["record"]["packs"]
        .as_array()
        .expect("packs")
        .iter()
        .filter_map(|p| p.as_str().map(String::from))
        .collect();
    let a = String::from_utf8_lossy(&store.object(&record("a")).expect("a")).into_owned();
    // A pack of b's alone, so that a stays whole.
    let pack = packs
        .iter()
        .find(|p| !a.contains(p.as_str()))
        .expect("a pack only b uses");
    assert!(store.remove_object(pack));

    let gets = store.gets();
    let listing = repo.list_backups().await.expect("list");
    // The records and events, and nothing per backup beyond them: the
    // packs are judged from one listing.
    let catalog_objects =
        store.names_with_prefix("backups/").len() + store.names_with_prefix("catalog/").len();
    assert_eq!(store.gets() - gets, catalog_objects as u64);
    assert_eq!(ok_names(&listing), ["a"]);
    assert_finding(&listing, FindingKind::PacksMissing, "b");
    let finding = findings(&listing)
        .into_iter()
        .find(|f| f.kind == FindingKind::PacksMissing)
        .expect("finding");
    assert_eq!(&finding.object, pack);
    assert!(finding.reason.contains(pack.as_str()), "{finding:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_newest_record_is_damaged_not_a_rollback() {
    let (store, repo, _) = open(MemoryStore::new()).await;
    backup(&repo, "a", 10).await;
    backup(&repo, "b", 20).await;
    assert!(store.flip_byte(&record("b"), 40));
    let listing = repo.list_backups().await.expect("list");
    assert_eq!(ok_names(&listing), ["a"]);
    assert!(
        listing.iter().any(|l| matches!(
            l,
            BackupListing::Damaged { object, .. } if *object == record("b")
        )),
        "{listing:#?}"
    );
    assert!(findings(&listing).is_empty(), "{:#?}", findings(&listing));
}
