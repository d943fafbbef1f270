//! The repository: opening a store, listing, writing, reading and deleting backups.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use tracing::{Instrument, info_span, warn};

use crate::catalog::{
    self, AnchorStore, Appender, Catalog, CatalogFinding, ChainLink, EventKind, FindingKind,
};
use crate::commit::{self, CommitRecord};
use crate::config::StoreConfig;
use crate::error::RepoError;
use crate::index::{BuildLimits, IndexCache, IndexSet, PackSizes};
use crate::key_cache::KeyCache;
use crate::keys::{KdfParams, Keys};
use crate::manifest::load::load_manifest;
use crate::names::{self, CONFIG, MANIFESTS_PREFIX, PACKS_PREFIX};
use crate::reader::BackupReader;
use crate::resume::{Resumed, UploadedPack};
use crate::store::ObjectStore;
use crate::writer::{BackupWriter, PreviousFiles};
use crate::{BackupInfo, BackupListing, GcReport, gc};

/// Longest description, in bytes.
const MAX_DESCRIPTION: usize = 64 * 1024;
/// Longest schedule type or release string, in bytes.
const MAX_LABEL: usize = 256;

/// A backup repository in an object store. Cheap to clone.
#[derive(Clone)]
pub struct Repository {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn ObjectStore>,
    /// The store's configuration, or why the `config` object is damaged.
    config: Result<StoreConfig, String>,
    /// Writes catalog entries and keeps the host's anchor of this store.
    catalog: Appender,
    index_cache: IndexCache,
    index_limits: BuildLimits,
    keys: KeyCache,
}

/// How a [`Repository`] is opened.
#[derive(Clone, Debug, Default)]
pub struct RepositoryOptions {
    /// Where the dedup index of each key is kept between backups (one
    /// directory per store; created 0700). Trusted like the host's state
    /// dir. `None` rebuilds the index in a temp directory for every backup.
    pub index_cache: Option<PathBuf>,
    /// Memory bounds for building the index.
    pub index_limits: BuildLimits,
    /// The host's anchor of this store's catalog: listing and verification
    /// then also detect a store rolled back to an older copy
    /// (`docs/repository.md` §9.1). `None` checks the store on its own.
    pub anchor: Option<Arc<dyn AnchorStore>>,
}

fn validate_info(info: &BackupInfo) -> Result<(), RepoError> {
    names::validate_backup_name(&info.name)?;
    if info.description.len() > MAX_DESCRIPTION {
        return Err(RepoError::InvalidInfo(
            "description is longer than 64 KiB".into(),
        ));
    }
    if info.schedule_type.len() > MAX_LABEL || info.release.len() > MAX_LABEL {
        return Err(RepoError::InvalidInfo(
            "schedule type and release are limited to 256 bytes".into(),
        ));
    }
    Ok(())
}

impl Repository {
    /// Opens the repository in `store`, creating its `config` (fresh salt,
    /// default KDF parameters) if there is none. A damaged `config` does not
    /// stop the repository from opening: existing backups carry their own KDF
    /// parameters, and new backups reuse those of the newest intact one.
    pub async fn open(store: Arc<dyn ObjectStore>) -> Result<Self, RepoError> {
        Self::open_with(store, RepositoryOptions::default()).await
    }

    /// As [`Repository::open`], with options (e.g. a persistent index cache).
    pub async fn open_with(
        store: Arc<dyn ObjectStore>,
        options: RepositoryOptions,
    ) -> Result<Self, RepoError> {
        let config = match store.stat(CONFIG).await? {
            None => {
                let c = StoreConfig::generate();
                store.put(CONFIG, Bytes::from(c.to_bytes())).await?;
                tracing::info!("created repository config");
                Ok(c)
            }
            Some(_) => {
                let bytes = store.get(CONFIG, 0, None).await?;
                StoreConfig::parse(&bytes)
                    .inspect_err(|reason| warn!(%reason, "repository config is damaged"))
            }
        };
        let catalog = Appender::new(store.clone(), options.anchor);
        let index_cache = match options.index_cache {
            Some(dir) => IndexCache::Dir(dir),
            None => IndexCache::Temporary,
        };
        Ok(Repository {
            inner: Arc::new(Inner {
                store,
                config,
                catalog,
                index_cache,
                index_limits: options.index_limits,
                keys: KeyCache::default(),
            }),
        })
    }

    /// Why the `config` object is damaged, if it is.
    pub fn config_damage(&self) -> Option<&str> {
        self.inner.config.as_ref().err().map(String::as_str)
    }

    /// Reads `config` from the store again and says why it is unusable now
    /// (missing or damaged), or `None` if it is intact. `config_damage` only
    /// knows the state at `open`.
    pub async fn check_config(&self) -> Result<Option<String>, RepoError> {
        if self.inner.store.stat(CONFIG).await?.is_none() {
            return Ok(Some("it is missing".into()));
        }
        let bytes = self.inner.store.get(CONFIG, 0, None).await?;
        Ok(StoreConfig::parse(&bytes).err())
    }

    /// The store's KDF parameters (from `config`), if it is intact.
    pub fn kdf_params(&self) -> Option<&KdfParams> {
        self.inner.config.as_ref().ok().map(|c| &c.kdf)
    }

    fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner.store
    }

    /// Reads and checks a backup's live commit record (no passcode), with its
    /// current retention date. A deleted (tombstoned) backup is `NotFound`.
    async fn read_record(&self, name: &str) -> Result<(ChainLink, CommitRecord), RepoError> {
        names::validate_backup_name(name)?;
        let object = names::record_object(name);
        let Some(entry) = catalog::load_record(self.store(), &object).await? else {
            return Err(RepoError::NotFound(name.to_string()));
        };
        let entry = entry.map_err(|reason| RepoError::damaged(object, reason))?;
        let events = catalog::load_events(self.store()).await?;
        let record = catalog::effective_record(&events, &entry)
            .ok_or_else(|| RepoError::NotFound(name.to_string()))?;
        Ok((entry.link(), record))
    }

    /// Every live commit record: `(object, record or why it is damaged)`.
    async fn all_records(&self) -> Result<Vec<(String, Result<CommitRecord, String>)>, RepoError> {
        let catalog = Catalog::load(self.store()).await?;
        let live = catalog
            .live_records()
            .map(|(entry, record)| (entry.object.clone(), Ok(record)));
        let damaged = catalog
            .damaged_records
            .iter()
            .map(|(object, reason)| (object.clone(), Err(reason.clone())));
        Ok(live.chain(damaged).collect())
    }

    /// All backups, sorted by start time (then name); then damaged records,
    /// sorted by object name; then what the catalog check found (a deleted,
    /// replaced or rolled-back backup, a missing manifest or pack), each
    /// naming its backup. A backup with a finding is listed only as that
    /// finding.
    pub async fn list_backups(&self) -> Result<Vec<BackupListing>, RepoError> {
        let (catalog, findings) = self.audit().await?;
        let suspect: std::collections::HashSet<&str> = findings
            .iter()
            .filter(|f| f.kind != FindingKind::DamagedEvent)
            .filter_map(|f| f.backup.as_deref())
            .collect();
        let mut ok: Vec<BackupInfo> = catalog
            .live_records()
            .map(|(_, record)| record.info)
            .filter(|info| !suspect.contains(info.name.as_str()))
            .collect();
        ok.sort_by(|a, b| (a.start_time, &a.name).cmp(&(b.start_time, &b.name)));
        let damaged =
            catalog
                .damaged_records
                .iter()
                .map(|(object, reason)| BackupListing::Damaged {
                    name: names::name_from_record_object(object).unwrap_or_default(),
                    object: object.clone(),
                    reason: reason.clone(),
                });
        Ok(ok
            .into_iter()
            .map(BackupListing::Ok)
            .chain(damaged)
            .chain(findings.iter().cloned().map(BackupListing::Tampered))
            .collect())
    }

    /// Reads the whole catalog and checks it (no passcode); moves the host's
    /// anchor forward when the history is intact.
    async fn audit(&self) -> Result<(Catalog, Vec<CatalogFinding>), RepoError> {
        let catalog = Catalog::load(self.store()).await?;
        let listed = |prefix| async move {
            let names: HashSet<String> = self
                .store()
                .list(prefix)
                .await?
                .into_iter()
                .map(|o| o.name)
                .collect();
            Ok::<_, RepoError>(names)
        };
        let manifests = listed(MANIFESTS_PREFIX).await?;
        let packs = listed(PACKS_PREFIX).await?;
        let anchor = self.inner.catalog.load_anchor();
        let findings = catalog::audit(&catalog, &manifests, &packs, anchor.as_ref());
        for f in &findings {
            warn!(kind = f.kind.as_str(), backup = ?f.backup, object = %f.object, "catalog: {}", f.reason);
        }
        self.inner.catalog.after_listing(&catalog, &findings);
        Ok((catalog, findings))
    }

    /// Checks the catalog like [`Repository::list_backups`] and, with an
    /// opened backup (passcode checked), also the MAC of every record under
    /// the same passcode, which authenticates the history before each one.
    pub async fn check_catalog(
        &self,
        opened: Option<&BackupReader>,
    ) -> Result<Vec<CatalogFinding>, RepoError> {
        let (catalog, mut findings) = self.audit().await?;
        let Some(reader) = opened else {
            return Ok(findings);
        };
        let keys = reader.keys();
        let key_id = keys.key_id_hex();
        for (entry, record) in catalog.live_records() {
            if record.key_id != key_id || commit::verify_mac_blocking(keys, &record).await? {
                continue;
            }
            findings.push(CatalogFinding {
                kind: FindingKind::MacMismatch,
                backup: Some(record.info.name.clone()),
                object: entry.object.clone(),
                reason: format!(
                    "Backup '{}' (record {}) was altered: its MAC does not verify.",
                    record.info.name, entry.object
                ),
            });
        }
        Ok(findings)
    }

    /// Public information of one backup (no passcode; checksum verified).
    pub async fn backup_info(&self, name: &str) -> Result<BackupInfo, RepoError> {
        Ok(self.read_record(name).await?.1.info)
    }

    /// Checks, without the passcode, that the objects of backup `name` are
    /// in the store and intact (see [`crate::ObjectCheck`]); a missing or
    /// damaged record is an error, missing or corrupted packs are listed.
    pub async fn check_objects(&self, name: &str) -> Result<crate::ObjectCheck, RepoError> {
        let (_, record) = self.read_record(name).await?;
        crate::object_check::check_record_objects(self.store(), &record)
            .instrument(info_span!("check_objects", name = %name))
            .await
    }

    /// Changes a backup's retention date by appending a retention event to
    /// the catalog (no object is rewritten). Needs no passcode; the newest
    /// event wins.
    pub async fn set_retention(&self, name: &str, retention_date: i64) -> Result<(), RepoError> {
        let (record, _) = self.read_record(name).await?;
        self.inner
            .catalog
            .append_event(EventKind::Retention, name, record, Some(retention_date))
            .instrument(info_span!("set_retention", name = %name))
            .await?;
        Ok(())
    }

    /// Starts a backup. Derives the keys (unless the repository's last
    /// operation used the same passcode) and loads the chunk tables of the
    /// committed backups written under the same key, so their chunks are reused.
    pub async fn begin_backup(
        &self,
        passcode: &str,
        info: BackupInfo,
    ) -> Result<BackupWriter, RepoError> {
        Ok(self.resume_backup(passcode, info, Vec::new()).await?.0)
    }

    /// [`begin_backup`](Self::begin_backup) for a backup that an interrupted
    /// run already started: the chunks of `uploaded` (the packs that run
    /// reported through [`BackupWriter::on_pack_uploaded`]) count as stored
    /// when their pack is still in the store, so they are not written again.
    /// Says how much of `uploaded` is reused.
    pub async fn resume_backup(
        &self,
        passcode: &str,
        info: BackupInfo,
        uploaded: Vec<UploadedPack>,
    ) -> Result<(BackupWriter, Resumed), RepoError> {
        let span = info_span!("begin_backup", name = %info.name);
        async move {
            validate_info(&info)?;
            if passcode.is_empty() {
                return Err(RepoError::Misuse("the passcode is empty".into()));
            }
            if self
                .store()
                .stat(&names::record_object(&info.name))
                .await?
                .is_some()
            {
                return Err(RepoError::NameTaken(info.name));
            }
            let records = self.all_records().await?;
            let kdf = match &self.inner.config {
                Ok(c) => c.kdf.clone(),
                Err(reason) => records
                    .iter()
                    .filter_map(|(_, r)| r.as_ref().ok())
                    .max_by_key(|r| (r.info.start_time, r.info.complete_time))
                    .map(|r| r.kdf.clone())
                    .ok_or_else(|| RepoError::damaged(CONFIG, reason.clone()))?,
            };
            let keys = self.inner.keys.keys(passcode, &kdf).await?;
            let key_id = keys.key_id_hex();
            let mut usable = Vec::new();
            for (object, record) in &records {
                let Ok(record) = record else { continue };
                if record.key_id != key_id {
                    continue;
                }
                if !commit::verify_mac_blocking(&keys, record).await? {
                    warn!(%object, "commit record MAC mismatch; its chunks are not reused");
                    continue;
                }
                if let Some(hash) = names::parse_manifest_object(&record.manifest) {
                    usable.push((hash, record));
                }
            }
            let newest = usable
                .iter()
                .enumerate()
                .rev()
                .max_by_key(|(_, (_, r))| r.info.start_time)
                .map(|(i, _)| i);
            let committed: BTreeSet<[u8; 32]> = usable.iter().map(|(hash, _)| *hash).collect();
            let packs = self.listed_packs().await?;
            let (known, previous, packs) = self
                .refresh_index(&keys, &usable, newest, committed, packs)
                .await?;
            tracing::info!(
                usable_backups = usable.len(),
                known_chunks = known.len(),
                index_memory = known.memory_bytes(),
                "backup started"
            );
            let writer = BackupWriter::new(
                self.store().clone(),
                keys,
                kdf,
                info,
                Arc::new(known),
                previous,
            )
            .with_catalog(self.inner.catalog.clone());
            seed_from_journal(writer, uploaded, packs).await
        }
        .instrument(span)
        .await
    }

    /// The packs in the store and their sizes (one `list`).
    async fn listed_packs(&self) -> Result<PackSizes, RepoError> {
        let listed = self.store().list(PACKS_PREFIX).await?;
        Ok(PackSizes::new(
            listed
                .into_iter()
                .filter_map(|o| names::parse_pack_object(&o.name).map(|h| (h, o.size)))
                .collect(),
        ))
    }

    /// Brings the cached dedup index of `keys` up to date with the usable
    /// backups (`(manifest hash, record)`), loading only the manifests it does
    /// not cover yet, one at a time, and the newest backup's manifest for
    /// [`PreviousFiles`]. A manifest that cannot be loaded is skipped with a
    /// warning: its chunks are simply not reused.
    async fn refresh_index(
        &self,
        keys: &Arc<Keys>,
        usable: &[([u8; 32], &CommitRecord)],
        newest: Option<usize>,
        committed: BTreeSet<[u8; 32]>,
        packs: PackSizes,
    ) -> Result<(IndexSet, PreviousFiles, PackSizes), RepoError> {
        let cache = self.inner.index_cache.clone();
        let limits = self.inner.index_limits;
        let key_id = keys.key_id();
        // Blocking closures do not inherit the span; their warnings should.
        let span = tracing::Span::current();
        let in_span = span.clone();
        let (mut refresh, packs) = tokio::task::spawn_blocking(move || {
            in_span.in_scope(|| {
                cache
                    .start(key_id, &committed, &packs, limits)
                    .map(|r| (r, packs))
            })
        })
        .await
        .map_err(RepoError::join)??;
        let mut previous = PreviousFiles::default();
        for (i, (hash, record)) in usable.iter().enumerate() {
            let is_newest = newest == Some(i);
            if !is_newest && !refresh.needs(hash) {
                continue;
            }
            let manifest = match load_manifest(self.store(), keys, record).await {
                Ok(m) => m,
                Err(e) => {
                    warn!(object = %record.manifest, error = %e, "manifest unusable; its chunks are not reused");
                    continue;
                }
            };
            let hash = *hash;
            let (r, p) = tokio::task::spawn_blocking(move || {
                refresh.add(hash, &manifest)?;
                let previous = is_newest.then(|| PreviousFiles::from_manifest(&manifest));
                Ok::<_, RepoError>((refresh, previous))
            })
            .await
            .map_err(RepoError::join)??;
            refresh = r;
            if let Some(p) = p {
                previous = p;
            }
        }
        let (known, packs) = tokio::task::spawn_blocking(move || {
            span.in_scope(|| refresh.finish(&packs).map(|known| (known, packs)))
        })
        .await
        .map_err(RepoError::join)??;
        Ok((known, previous, packs))
    }

    /// Opens a backup for restore: checks the record's checksum, the passcode
    /// (key-check value), the record's MAC and the manifest, before any entry
    /// is handed out.
    pub async fn open_backup(&self, name: &str, passcode: &str) -> Result<BackupReader, RepoError> {
        let span = info_span!("open_backup", name = %name);
        async move {
            let (_, record) = self.read_record(name).await?;
            let keys = self.inner.keys.keys(passcode, &record.kdf).await?;
            if !keys.key_id_matches(&record.key_id) {
                return Err(RepoError::WrongPasscode);
            }
            if !commit::verify_mac_blocking(&keys, &record).await? {
                return Err(RepoError::damaged(
                    names::record_object(name),
                    "commit record MAC mismatch: the record was altered",
                ));
            }
            let manifest = load_manifest(self.store(), &keys, &record).await?;
            Ok(BackupReader::new(
                self.store().clone(),
                keys,
                record.info,
                manifest,
            ))
        }
        .instrument(span)
        .await
    }

    /// Deletes a backup (no passcode): appends its tombstone to the catalog
    /// (from then on the backup is gone), then collects what no live record
    /// references, and the record itself. On an append-only store nothing is
    /// deleted and the report says what would be freed. If another record is
    /// damaged, the backup is still deleted but nothing is collected, and
    /// [`GcReport::blocked_by`] says why.
    pub async fn delete_backup(&self, name: &str) -> Result<GcReport, RepoError> {
        let span = info_span!("delete_backup", name = %name);
        async move {
            let (record, _) = self.read_record(name).await?;
            self.inner
                .catalog
                .append_event(EventKind::Delete, name, record, None)
                .await?;
            tracing::info!("tombstone written");
            let mut report = match gc::collect(self.store()).await {
                Ok(r) => r,
                Err(e @ RepoError::Damaged { .. }) => GcReport {
                    blocked_by: Some(e.to_string()),
                    dry_run: self.store().append_only(),
                    ..GcReport::default()
                },
                Err(e) => return Err(e),
            };
            report.deleted_backup = Some(name.to_string());
            Ok(report)
        }
        .instrument(span)
        .await
    }

    /// Removes packs and manifests no live commit record references (e.g.
    /// left by a crashed backup or a deleted one) and the records of deleted
    /// backups. Needs no passcode; on an append-only store it only reports.
    pub async fn collect_garbage(&self) -> Result<GcReport, RepoError> {
        gc::collect(self.store()).instrument(info_span!("gc")).await
    }
}

/// Seeds a resumed backup's writer with the packs its interrupted run
/// uploaded (a no-op without any).
async fn seed_from_journal(
    mut writer: BackupWriter,
    uploaded: Vec<UploadedPack>,
    pack_sizes: PackSizes,
) -> Result<(BackupWriter, Resumed), RepoError> {
    if uploaded.is_empty() {
        return Ok((writer, Resumed::default()));
    }
    let (writer, resumed) = tokio::task::spawn_blocking(move || {
        let resumed = writer.seed_uploaded(&uploaded, &pack_sizes);
        (writer, resumed)
    })
    .await
    .map_err(RepoError::join)?;
    let resumed = resumed?;
    tracing::info!(
        packs = resumed.packs,
        bytes = resumed.bytes,
        missing = resumed.packs_missing,
        "resumed from the journal"
    );
    Ok((writer, resumed))
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("config_damage", &self.config_damage())
            .finish_non_exhaustive()
    }
}
