//! Store adapter plugins, and [`AdapterStore`]: the repository's
//! [`ObjectStore`] implemented by calls into an adapter.

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use drhost_repo::{ObjectInfo, ObjectStore, StoreError};
use wasmtime::Store;
use wasmtime::component::Resource;

use crate::PluginLimits;
use crate::bindings::adapter::exports::drhost::plugin::store_adapter as wit;
use crate::bindings::adapter::{StoreAdapterPlugin as Bindings, StoreAdapterPluginPre};
use crate::call::{self, BoxFuture, CallError, CallResult};
use crate::error::PluginErrorKind;
use crate::state::PluginState;
use crate::streams::{ByteSink, ByteSource};
use crate::{LoadStats, PluginContext, PluginFailure, Shared};

/// Largest object `get` collects when no length is given: a sanity bound,
/// the repository keeps objects far smaller.
pub const MAX_GET_BYTES: u64 = 64 << 20;
/// Objects one `list` may return before the adapter is considered broken.
const MAX_LIST_OBJECTS: usize = 10_000_000;
/// Objects one `list` page may hold (WIT contract).
const MAX_LIST_PAGE: usize = 1000;

/// A store adapter's identity and capabilities, from its `describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterInfo {
    pub name: String,
    pub version: String,
    /// The medium refuses deletes; the repository then never deletes.
    pub append_only: bool,
}

/// A loaded store adapter plugin. Every call gets a fresh instance.
pub struct StoreAdapter {
    name: Arc<str>,
    pre: StoreAdapterPluginPre<PluginState>,
    shared: Arc<Shared>,
    info: AdapterInfo,
    load_stats: LoadStats,
}

impl StoreAdapter {
    pub(crate) async fn new(
        name: &str,
        pre: StoreAdapterPluginPre<PluginState>,
        shared: Arc<Shared>,
        load_stats: LoadStats,
        describe_limits: PluginLimits,
    ) -> Result<Self, PluginFailure> {
        let mut adapter = Self {
            name: name.into(),
            pre,
            shared,
            info: AdapterInfo {
                name: String::new(),
                version: String::new(),
                append_only: false,
            },
            load_stats,
        };
        adapter.info = adapter.call_describe(describe_limits).await?;
        Ok(adapter)
    }

    /// The name the plugin was loaded under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How the compiled plugin was obtained at load time.
    pub fn load_stats(&self) -> LoadStats {
        self.load_stats
    }

    /// The adapter's self-description (asked once, at load: `append_only`
    /// must be answerable without a call).
    pub async fn describe(&self) -> Result<AdapterInfo, PluginFailure> {
        Ok(self.info.clone())
    }

    /// The adapter's self-description, as returned when it was loaded.
    pub fn info(&self) -> &AdapterInfo {
        &self.info
    }

    async fn call_describe(&self, limits: PluginLimits) -> Result<AdapterInfo, PluginFailure> {
        self.run(
            "describe",
            &crate::describe_context(limits),
            |store, plugin| {
                Box::pin(async move {
                    let info = plugin
                        .drhost_plugin_store_adapter()
                        .call_describe(store)
                        .await
                        .map_err(CallError::Call)?;
                    Ok(Ok(AdapterInfo {
                        name: info.name,
                        version: info.version,
                        append_only: info.append_only,
                    }))
                })
            },
        )
        .await
    }

    /// Checks a configuration and that the medium is reachable and writable.
    pub async fn validate(&self, ctx: &PluginContext) -> Result<(), PluginFailure> {
        let config = ctx.config_json.clone();
        self.run("validate", ctx, |store, plugin| {
            Box::pin(async move {
                plugin
                    .drhost_plugin_store_adapter()
                    .call_validate(store, &config)
                    .await
                    .map_err(CallError::Call)
            })
        })
        .await
    }

    /// Runs `body` against a fresh instance under `ctx`'s limits.
    async fn run<T: Send + 'static>(
        &self,
        operation: &'static str,
        ctx: &PluginContext,
        body: impl for<'a> FnOnce(
            &'a mut Store<PluginState>,
            &'a Bindings,
        ) -> BoxFuture<'a, CallResult<T>>
        + Send
        + 'static,
    ) -> Result<T, PluginFailure> {
        let span = tracing::debug_span!("plugin_call", plugin = %self.name, operation);
        let pre = self.pre.clone();
        call::run(
            &self.shared,
            &self.name,
            span,
            ctx,
            None,
            move |store| Box::pin(async move { pre.instantiate_async(store).await }),
            body,
        )
        .await
    }
}

/// Finishes the context of each call of an [`AdapterStore`] with what may
/// change between calls: short-lived credentials (temporary cloud keys) are
/// obtained, or refreshed, just before the call that uses them, so that a
/// store never outlives its keys and none is kept anywhere but in memory.
#[async_trait]
pub trait CallCredentials: Send + Sync {
    /// The context one call runs with, from the store's own `ctx`: its
    /// configuration with the credentials filled in, and those credentials
    /// listed in `secrets` so the runtime scrubs them from everything the
    /// call reports. An error names why no credentials could be had.
    async fn context_for_call(&self, ctx: &PluginContext) -> Result<PluginContext, String>;
}

/// The repository's object store, backed by a store adapter plugin with a
/// fixed configuration and grants (one per configured store).
#[derive(Clone)]
pub struct AdapterStore {
    adapter: Arc<StoreAdapter>,
    ctx: PluginContext,
    /// Fills credentials into `ctx` per call; `None`: `ctx` is complete.
    credentials: Option<Arc<dyn CallCredentials>>,
    /// The store was registered as append-only (its medium, e.g. object lock,
    /// refuses deletes) even if the adapter does not declare it in general.
    append_only: bool,
}

impl AdapterStore {
    pub fn new(adapter: Arc<StoreAdapter>, ctx: PluginContext) -> Self {
        Self {
            adapter,
            ctx,
            credentials: None,
            append_only: false,
        }
    }

    /// Has `credentials` complete the context before every call.
    pub fn with_call_credentials(mut self, credentials: Arc<dyn CallCredentials>) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Marks this store append-only: the repository then never asks it to
    /// delete (in addition to adapters that declare themselves append-only).
    pub fn with_append_only(mut self, append_only: bool) -> Self {
        self.append_only = append_only;
        self
    }

    /// Runs the adapter's `validate` with this store's configuration.
    pub async fn validate(&self) -> Result<(), PluginFailure> {
        let ctx = self.call_context().await?;
        self.adapter.validate(&ctx).await
    }

    /// The context of the next call: the store's, with fresh credentials
    /// when it has a [`CallCredentials`].
    async fn call_context(&self) -> Result<Cow<'_, PluginContext>, PluginFailure> {
        let Some(credentials) = &self.credentials else {
            return Ok(Cow::Borrowed(&self.ctx));
        };
        credentials
            .context_for_call(&self.ctx)
            .await
            .map(Cow::Owned)
            .map_err(|message| PluginFailure::Credentials {
                plugin: self.adapter.name().to_string(),
                message,
            })
    }

    async fn run<T: Send + 'static>(
        &self,
        operation: &'static str,
        body: impl for<'a> FnOnce(
            &'a mut Store<PluginState>,
            &'a Bindings,
        ) -> BoxFuture<'a, CallResult<T>>
        + Send
        + 'static,
    ) -> Result<T, PluginFailure> {
        let ctx = self.call_context().await?;
        self.adapter.run(operation, &ctx, body).await
    }
}

impl AdapterStore {
    /// `get` of `length` bytes (all when `None`) of `name` into `sink`.
    async fn get_through(
        &self,
        name: &str,
        offset: u64,
        length: Option<u64>,
        sink: ByteSink,
    ) -> Result<Vec<u8>, StoreError> {
        let object = name.to_string();
        self.run("get", move |store, plugin| {
            Box::pin(async move {
                let sink = store
                    .data_mut()
                    .table
                    .push(sink)
                    .map_err(|e| CallError::Call(e.into()))?;
                let result = plugin
                    .drhost_plugin_store_adapter()
                    .call_get(
                        &mut *store,
                        &object,
                        offset,
                        length,
                        Resource::new_borrow(sink.rep()),
                    )
                    .await
                    .map_err(CallError::Call)?;
                let sink = store
                    .data_mut()
                    .table
                    .delete(sink)
                    .map_err(|e| CallError::Call(e.into()))?;
                Ok(result.map(|()| sink.into_vec()))
            })
        })
        .await
        .map_err(|f| store_error(name, f))
    }

    /// A guest sees a full disk as a bare I/O error (WASI streams lose the
    /// errno), so for a store on a granted directory the host looks at the
    /// filesystem itself and says when it is full.
    fn explain_put_failure(&self, error: StoreError, size: u64) -> StoreError {
        let StoreError::Io(message) = error else {
            return error;
        };
        let full = self
            .ctx
            .grants
            .dirs
            .iter()
            .filter(|d| d.writable)
            .filter_map(|d| free_bytes(&d.host))
            .find(|&free| free < size.saturating_add(1 << 20));
        match full {
            Some(free) => StoreError::Io(format!(
                "{message} (no space left on the store's filesystem: {free} bytes free, \
                 {size} needed)"
            )),
            None => StoreError::Io(message),
        }
    }

    /// A `put` that reports success must have stored the object: one `stat`
    /// per object (cheap next to its upload) catches an adapter that drops
    /// data or stores part of it, before the repository builds a commit on
    /// it that could never be restored.
    async fn check_stored(&self, name: &str, size: u64) -> Result<(), StoreError> {
        let found = match self.stat(name).await? {
            Some(info) if info.size == size => return Ok(()),
            Some(info) => format!("{} bytes instead of {size}", info.size),
            None => "no such object".into(),
        };
        Err(StoreError::Adapter(format!(
            "adapter '{}' reported {name} as stored, but it was not stored \
             ({found})",
            self.adapter.name()
        )))
    }
}

/// Bytes an unprivileged writer may still use on the filesystem of `path`.
fn free_bytes(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and `stat` is written by statvfs
    // before it is read, which happens only when the call succeeded.
    let stat = unsafe {
        if libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) != 0 {
            return None;
        }
        stat.assume_init()
    };
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Maps an adapter failure onto the repository's error vocabulary.
fn store_error(name: &str, failure: PluginFailure) -> StoreError {
    match failure.plugin_error_kind() {
        Some(PluginErrorKind::NotFound) => StoreError::NotFound(name.to_string()),
        Some(PluginErrorKind::Denied) => StoreError::Denied(failure.to_string()),
        Some(PluginErrorKind::Io) => StoreError::Io(failure.to_string()),
        _ => StoreError::Adapter(failure.to_string()),
    }
}

#[async_trait]
impl ObjectStore for AdapterStore {
    async fn put(&self, name: &str, data: Bytes) -> Result<(), StoreError> {
        let size = data.len() as u64;
        let source = ByteSource::new(data);
        let object = name.to_string();
        self.run("put", move |store, plugin| {
            Box::pin(async move {
                let source = store
                    .data_mut()
                    .table
                    .push(source)
                    .map_err(|e| CallError::Call(e.into()))?;
                plugin
                    .drhost_plugin_store_adapter()
                    .call_put(
                        &mut *store,
                        &object,
                        size,
                        Resource::new_borrow(source.rep()),
                    )
                    .await
                    .map_err(CallError::Call)
            })
        })
        .await
        .map_err(|f| self.explain_put_failure(store_error(name, f), size))?;
        self.check_stored(name, size).await
    }

    async fn get(&self, name: &str, offset: u64, length: Option<u64>) -> Result<Bytes, StoreError> {
        let fetched = match length {
            Some(length) => self.get_into(name, offset, length, Vec::new()).await?,
            None => {
                let limit = usize::try_from(MAX_GET_BYTES).unwrap_or(usize::MAX);
                self.get_through(name, offset, None, ByteSink::new(limit))
                    .await?
            }
        };
        Ok(fetched.into())
    }

    async fn get_into(
        &self,
        name: &str,
        offset: u64,
        length: u64,
        buffer: Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        let limit = usize::try_from(length.min(MAX_GET_BYTES)).unwrap_or(usize::MAX);
        let sink = ByteSink::reserved(buffer, limit);
        self.get_through(name, offset, Some(length), sink).await
    }

    async fn stat(&self, name: &str) -> Result<Option<ObjectInfo>, StoreError> {
        let object = name.to_string();
        self.run("stat", move |store, plugin| {
            Box::pin(async move {
                let result = plugin
                    .drhost_plugin_store_adapter()
                    .call_stat(store, &object)
                    .await
                    .map_err(CallError::Call)?;
                Ok(result.map(|info| {
                    info.map(|info| ObjectInfo {
                        name: info.name,
                        size: info.size,
                    })
                }))
            })
        })
        .await
        .map_err(|f| store_error(name, f))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let owned_prefix = prefix.to_string();
        // One instance serves every page: the pages belong to one listing.
        self.run("list", move |store, plugin| {
            Box::pin(async move {
                let mut objects: Vec<ObjectInfo> = Vec::new();
                loop {
                    let start_after = objects.last().map(|o| o.name.as_str());
                    let page = match plugin
                        .drhost_plugin_store_adapter()
                        .call_list(&mut *store, &owned_prefix, start_after)
                        .await
                        .map_err(CallError::Call)?
                    {
                        Ok(page) => page,
                        Err(e) => return Ok(Err(e)),
                    };
                    if page.is_empty() {
                        return Ok(Ok(objects));
                    }
                    if let Err(problem) =
                        check_page(&owned_prefix, start_after, &page, objects.len())
                    {
                        store.data_mut().notes.protocol(problem);
                        return Ok(Ok(objects));
                    }
                    objects.extend(page.into_iter().map(|o| ObjectInfo {
                        name: o.name,
                        size: o.size,
                    }));
                }
            })
        })
        .await
        .map_err(|f| store_error(prefix, f))
    }

    async fn delete(&self, name: &str) -> Result<(), StoreError> {
        let object = name.to_string();
        self.run("delete", move |store, plugin| {
            Box::pin(async move {
                plugin
                    .drhost_plugin_store_adapter()
                    .call_delete(store, &object)
                    .await
                    .map_err(CallError::Call)
            })
        })
        .await
        .map_err(|f| store_error(name, f))
    }

    fn append_only(&self) -> bool {
        self.append_only || self.adapter.info.append_only
    }
}

/// A page must continue the listing: names under `prefix`, strictly
/// increasing from `start_after`. Anything else could loop forever (a page
/// repeating itself) or return a wrong listing.
fn check_page(
    prefix: &str,
    start_after: Option<&str>,
    page: &[wit::ObjectInfo],
    listed: usize,
) -> Result<(), String> {
    if page.len() > MAX_LIST_PAGE {
        return Err(format!(
            "list returned {} objects in one page; at most {MAX_LIST_PAGE} are allowed",
            page.len()
        ));
    }
    if listed + page.len() > MAX_LIST_OBJECTS {
        return Err(format!(
            "list returned more than {MAX_LIST_OBJECTS} objects"
        ));
    }
    let mut previous = start_after;
    for object in page {
        if !object.name.starts_with(prefix) {
            return Err(format!(
                "list for prefix {prefix:?} returned {:?}",
                object.name
            ));
        }
        if previous.is_some_and(|p| object.name.as_str() <= p) {
            return Err(format!(
                "list returned {:?} after {:?}; names must be strictly increasing",
                object.name,
                previous.unwrap_or_default()
            ));
        }
        previous = Some(&object.name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(names: &[&str]) -> Vec<wit::ObjectInfo> {
        names
            .iter()
            .map(|n| wit::ObjectInfo {
                name: n.to_string(),
                size: 1,
            })
            .collect()
    }

    #[test]
    fn pages_must_continue_the_listing() {
        assert!(check_page("p/", None, &page(&["p/a", "p/b"]), 0).is_ok());
        assert!(check_page("p/", Some("p/b"), &page(&["p/c"]), 2).is_ok());
        // A page repeating the last name would make the loop spin forever.
        assert!(check_page("p/", Some("p/b"), &page(&["p/b"]), 2).is_err());
        assert!(check_page("p/", None, &page(&["p/b", "p/a"]), 0).is_err());
        assert!(check_page("p/", None, &page(&["q/a"]), 0).is_err());
        let names: Vec<String> = (0..1001).map(|i| format!("p/{i:05}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        assert!(check_page("p/", None, &page(&refs), 0).is_err());
        assert!(check_page("p/", None, &page(&["p/a"]), MAX_LIST_OBJECTS).is_err());
    }

    #[test]
    fn not_found_maps_to_store_not_found() {
        let failure = PluginFailure::Plugin {
            plugin: "store-fs".into(),
            kind: PluginErrorKind::NotFound,
            message: "no such object".into(),
        };
        assert!(
            matches!(store_error("packs/1", failure), StoreError::NotFound(n) if n == "packs/1")
        );
        let trap = PluginFailure::Trap {
            plugin: "store-fs".into(),
            message: "unreachable".into(),
        };
        assert!(matches!(store_error("x", trap), StoreError::Adapter(_)));
    }
}
