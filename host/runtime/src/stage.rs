//! Running stage plugins: describe, validate, backup into an archive channel,
//! restore from one.

use std::sync::Arc;

use tokio::sync::mpsc;
use wasmtime::Store;
use wasmtime::component::Resource;

use drhost_repo::UnchangedFiles;

use crate::archive::{ArchiveBatch, ArchiveReader, ArchiveWriter};
use crate::bindings::stage::exports::drhost::plugin::stage as wit;
use crate::bindings::stage::{StagePlugin as Bindings, StagePluginPre};
use crate::call::{self, BoxFuture, CallError, CallResult};
use crate::report::Reporter;
use crate::state::PluginState;
use crate::{LoadStats, PluginContext, PluginFailure, Shared};

/// Broad category of a stage (informational).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageKind {
    Relational,
    ObjectStore,
    SystemConfiguration,
    Other,
}

/// A stage plugin's identity, from its `describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageInfo {
    /// Stable machine name, e.g. `object-store-fs`.
    pub name: String,
    pub kind: StageKind,
    /// The plugin's own version.
    pub version: String,
}

/// Result of a successful backup or restore.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageSummary {
    pub items: u64,
    pub bytes: u64,
    /// Stage-specific facts kept in the backup manifest (at most 256 pairs).
    pub metadata: Vec<(String, String)>,
}

/// Metadata pairs a summary may carry (WIT contract).
const MAX_SUMMARY_METADATA: usize = 256;

/// A loaded stage plugin. Every call gets a fresh instance.
pub struct StagePlugin {
    name: Arc<str>,
    pre: StagePluginPre<PluginState>,
    shared: Arc<Shared>,
    info: StageInfo,
    load_stats: LoadStats,
}

impl StagePlugin {
    pub(crate) async fn new(
        name: &str,
        pre: StagePluginPre<PluginState>,
        shared: Arc<Shared>,
        load_stats: LoadStats,
        describe_limits: crate::PluginLimits,
    ) -> Result<Self, PluginFailure> {
        let mut plugin = Self {
            name: name.into(),
            pre,
            shared,
            info: StageInfo {
                name: String::new(),
                kind: StageKind::Other,
                version: String::new(),
            },
            load_stats,
        };
        plugin.info = plugin.call_describe(describe_limits).await?;
        Ok(plugin)
    }

    /// The name the plugin was loaded under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How the compiled plugin was obtained at load time.
    pub fn load_stats(&self) -> LoadStats {
        self.load_stats
    }

    /// The plugin's self-description (asked once, at load).
    pub async fn describe(&self) -> Result<StageInfo, PluginFailure> {
        Ok(self.info.clone())
    }

    /// The plugin's self-description, as returned when it was loaded.
    pub fn info(&self) -> &StageInfo {
        &self.info
    }

    async fn call_describe(&self, limits: crate::PluginLimits) -> Result<StageInfo, PluginFailure> {
        self.run(
            "describe",
            &crate::describe_context(limits),
            None,
            |store, plugin| {
                Box::pin(async move {
                    let info = plugin
                        .drhost_plugin_stage()
                        .call_describe(store)
                        .await
                        .map_err(CallError::Call)?;
                    Ok(Ok(StageInfo {
                        name: info.name,
                        kind: match info.kind {
                            wit::StageKind::Relational => StageKind::Relational,
                            wit::StageKind::ObjectStore => StageKind::ObjectStore,
                            wit::StageKind::SystemConfiguration => StageKind::SystemConfiguration,
                            wit::StageKind::Other => StageKind::Other,
                        },
                        version: info.version,
                    }))
                })
            },
        )
        .await
    }

    /// Checks `ctx.config_json` and that what it names is reachable with `ctx`'s grants.
    pub async fn validate(&self, ctx: &PluginContext) -> Result<(), PluginFailure> {
        let config = ctx.config_json.clone();
        self.run("validate", ctx, None, |store, plugin| {
            Box::pin(async move {
                plugin
                    .drhost_plugin_stage()
                    .call_validate(store, &config)
                    .await
                    .map_err(CallError::Call)
            })
        })
        .await
    }

    /// Backs up everything the stage covers into `out`, in batches of
    /// [`ArchiveEvent`](crate::ArchiveEvent)s; a full channel suspends the
    /// plugin. `unchanged` answers the plugin's `reuse-unchanged` questions
    /// (without it, every file is read). The channel closes when the call
    /// ends, successfully or not: only the result says which.
    pub async fn backup(
        &self,
        ctx: &PluginContext,
        out: mpsc::Sender<ArchiveBatch>,
        unchanged: Option<UnchangedFiles>,
        reporter: Arc<dyn Reporter>,
    ) -> Result<StageSummary, PluginFailure> {
        let writer = ArchiveWriter::new(out, unchanged, ctx.limits.max_archive_bytes);
        let summary = self
            .run("backup", ctx, Some(reporter), |store, plugin| {
                Box::pin(async move {
                    let writer = store
                        .data_mut()
                        .table
                        .push(writer)
                        .map_err(|e| CallError::Call(e.into()))?;
                    let result = plugin
                        .drhost_plugin_stage()
                        .call_backup(&mut *store, Resource::new_borrow(writer.rep()))
                        .await
                        .map_err(CallError::Call)?;
                    // Dropping the writer closes the channel for the consumer.
                    let mut writer = store
                        .data_mut()
                        .table
                        .delete(writer)
                        .map_err(|e| CallError::Call(e.into()))?;
                    if let Err(refusal) = writer.flush().await {
                        refusal.record(&mut store.data_mut().notes);
                    }
                    if let (Ok(_), Some(path)) = (&result, writer.unfinished_entry()) {
                        store
                            .data_mut()
                            .notes
                            .protocol(format!("backup returned with entry {path:?} still open"));
                    }
                    Ok(result.map(|s| summary_from_wit(s, store.data_mut())))
                })
            })
            .await?;
        Ok(summary)
    }

    /// Restores the entries arriving on `input` (an `Err` there is the
    /// pipeline's failure, e.g. damaged data: the plugin sees an I/O error
    /// and the call fails with [`PluginFailure::Host`] naming the cause).
    pub async fn restore(
        &self,
        ctx: &PluginContext,
        input: mpsc::Receiver<Result<ArchiveBatch, String>>,
        metadata: Vec<(String, String)>,
        reporter: Arc<dyn Reporter>,
    ) -> Result<StageSummary, PluginFailure> {
        let reader = ArchiveReader::new(input);
        self.run("restore", ctx, Some(reporter), |store, plugin| {
            Box::pin(async move {
                let reader = store
                    .data_mut()
                    .table
                    .push(reader)
                    .map_err(|e| CallError::Call(e.into()))?;
                let result = plugin
                    .drhost_plugin_stage()
                    .call_restore(&mut *store, Resource::new_borrow(reader.rep()), &metadata)
                    .await
                    .map_err(CallError::Call)?;
                let mut reader = store
                    .data_mut()
                    .table
                    .delete(reader)
                    .map_err(|e| CallError::Call(e.into()))?;
                if result.is_ok()
                    && let Err(problem) = reader.check_consumed().await
                {
                    let notes = &mut store.data_mut().notes;
                    if reader.failed() {
                        notes.host_failure(problem);
                    } else {
                        notes.protocol(problem);
                    }
                }
                Ok(result.map(|s| summary_from_wit(s, store.data_mut())))
            })
        })
        .await
    }

    /// Runs `body` against a fresh instance under `ctx`'s limits.
    async fn run<T: Send + 'static>(
        &self,
        operation: &'static str,
        ctx: &PluginContext,
        reporter: Option<Arc<dyn Reporter>>,
        body: impl for<'a> FnOnce(
            &'a mut Store<PluginState>,
            &'a Bindings,
        ) -> BoxFuture<'a, CallResult<T>>
        + Send
        + 'static,
    ) -> Result<T, PluginFailure> {
        let span = tracing::info_span!("plugin_call", plugin = %self.name, operation);
        let pre = self.pre.clone();
        call::run(
            &self.shared,
            &self.name,
            span,
            ctx,
            reporter,
            move |store| Box::pin(async move { pre.instantiate_async(store).await }),
            body,
        )
        .await
    }
}

/// Converts a summary, holding the plugin to the metadata bound.
fn summary_from_wit(summary: wit::StageSummary, state: &mut PluginState) -> StageSummary {
    let mut metadata = summary.metadata;
    if metadata.len() > MAX_SUMMARY_METADATA {
        state.notes.protocol(format!(
            "returned {} summary metadata pairs; at most {MAX_SUMMARY_METADATA} are allowed",
            metadata.len()
        ));
        metadata.truncate(MAX_SUMMARY_METADATA);
    }
    StageSummary {
        items: summary.items,
        bytes: summary.bytes,
        metadata,
    }
}
