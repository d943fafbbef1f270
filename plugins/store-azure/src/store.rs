//! The store operations on a container, over any `http-client` transport.
//! Object contents move through the host's streams, seen here as the
//! [`HostSource`]/[`HostSink`] traits so the logic is tested natively.

use guest_sdk::PluginError;
use http_client::transport::{Clock, Method, Transport, read_to_end};
use plugin_util::object_name;

use crate::bindings::exports::drhost::plugin::store_adapter::ObjectInfo;
use crate::client::{Call, Client, Failure, Target};
use crate::listing::{self, Page};

/// The longest page List Blobs returns, and the one the contract allows.
pub const MAX_RESULTS: u32 = 1000;
/// Largest List Blobs document read (1000 names of up to 1 KiB fit).
const MAX_DOCUMENT: usize = 16 << 20;
/// The object `validate` writes, reads back and removes.
pub const PROBE: &str = ".drhost-probe";
const PROBE_CONTENT: &[u8] = b"drhost validate probe\n";

pub use guest_sdk::{HostSink, HostSource};

pub struct Store<'a, T, C> {
    pub client: &'a Client<T, C>,
}

impl<T: Transport, C: Clock> Store<'_, T, C> {
    /// Succeeds if `length` bytes at `offset` lie within `name`.
    pub(crate) fn check_range(
        &self,
        name: &str,
        offset: u64,
        length: u64,
    ) -> Result<(), PluginError> {
        let Some(size) = self.size(name)? else {
            return Err(PluginError::NotFound(format!(
                "no object '{name}' in container '{}'",
                self.client.settings.container
            )));
        };
        if offset.checked_add(length).is_none_or(|end| end > size) {
            return Err(PluginError::InvalidData(format!(
                "{name}: the range of {length} bytes at {offset} runs past the end of the \
                 object ({size} bytes)"
            )));
        }
        Ok(())
    }

    pub fn stat(&self, name: &str) -> Result<Option<ObjectInfo>, PluginError> {
        checked(name)?;
        Ok(self.size(name)?.map(|size| ObjectInfo {
            name: name.to_owned(),
            size,
        }))
    }

    /// Get Blob Properties (HEAD): the size, or `None` if there is no blob.
    fn size(&self, name: &str) -> Result<Option<u64>, PluginError> {
        let call = Call {
            op: "inspect",
            method: Method::Head,
            target: Target::Object(name),
            query: Vec::new(),
            headers: Vec::new(),
        };
        match self.client.execute(&call, &[]) {
            Ok(response) => response
                .header("content-length")
                .and_then(|v| v.trim().parse().ok())
                .map(Some)
                .ok_or_else(|| self.client.malformed(&call, "no Content-Length")),
            Err(f) if f.is(404, "ContainerNotFound") => Err(self.client.error(&call, f)),
            Err(Failure::Status { status: 404, .. }) => Ok(None),
            Err(f) => Err(self.client.error(&call, f)),
        }
    }

    /// Objects whose names start with `prefix`, strictly after
    /// `start_after`: see `listing` for what Azure's lack of `start-after`
    /// costs.
    pub fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<ObjectInfo>, PluginError> {
        let found = listing::after(start_after, |marker| {
            self.list_page(prefix, marker, MAX_RESULTS)
        })?;
        Ok(found
            .into_iter()
            .map(|(name, size)| ObjectInfo { name, size })
            .collect())
    }

    /// One List Blobs page of the names (relative to the configured prefix)
    /// starting with `filter`.
    pub fn list_page(
        &self,
        filter: &str,
        marker: Option<&str>,
        max_results: u32,
    ) -> Result<Page, PluginError> {
        let mut query = vec![
            ("restype".to_owned(), "container".to_owned()),
            ("comp".to_owned(), "list".to_owned()),
        ];
        // An empty `prefix=` is left out rather than left to interpretation.
        let prefix = self.client.blob(filter);
        if !prefix.is_empty() {
            query.push(("prefix".to_owned(), prefix));
        }
        query.push(("maxresults".to_owned(), max_results.to_string()));
        if let Some(marker) = marker {
            query.push(("marker".to_owned(), marker.to_owned()));
        }
        let call = Call {
            op: "list",
            method: Method::Get,
            target: Target::Container,
            query,
            headers: Vec::new(),
        };
        let mut response = self
            .client
            .execute(&call, &[])
            .map_err(|f| self.client.error(&call, f))?;
        let body = read_to_end(&mut response.body, MAX_DOCUMENT)
            .map_err(|e| self.client.error(&call, Failure::Transport(e)))?;
        let doc = String::from_utf8(body)
            .map_err(|_| self.client.malformed(&call, "the answer is not UTF-8"))?;
        let mut page = listing::parse_page(&doc).map_err(|e| self.client.malformed(&call, &e))?;
        let prefix = &self.client.settings.prefix;
        for (name, _) in &mut page.blobs {
            match name.strip_prefix(prefix.as_str()) {
                Some(relative) => *name = relative.to_owned(),
                None => {
                    let why = format!("listed blob {name:?} is outside prefix {prefix:?}");
                    return Err(self.client.malformed(&call, &why));
                }
            }
        }
        Ok(page)
    }

    /// Delete Blob (its snapshots with it); a missing object is no error.
    pub fn delete(&self, name: &str) -> Result<(), PluginError> {
        checked(name)?;
        let call = Call {
            op: "delete",
            method: Method::Delete,
            target: Target::Object(name),
            query: Vec::new(),
            headers: vec![("x-ms-delete-snapshots".into(), "include".into())],
        };
        match self.client.execute(&call, &[]) {
            Ok(_) => Ok(()),
            Err(f) if f.is(404, "ContainerNotFound") => Err(self.client.error(&call, f)),
            Err(Failure::Status { status: 404, .. }) => Ok(()),
            Err(f) => Err(self.client.error(&call, f)),
        }
    }

    /// Checks that the container exists and the credential may list it
    /// (List Blobs of one name: `GET ?restype=container&comp=list`, which
    /// tells a missing container like Get Container Properties does but
    /// needs only the list permission a container SAS has), then writes,
    /// reads back and removes a probe object. An append-only store keeps
    /// its probe: it is written once, and never removed.
    pub fn probe(&self) -> Result<(), PluginError> {
        self.list_page("", None, 1)?;
        if self.client.settings.append_only && self.size(PROBE)?.is_some() {
            return Ok(());
        }
        self.put(
            PROBE,
            PROBE_CONTENT.len() as u64,
            &Bytes(std::cell::Cell::new(PROBE_CONTENT)),
        )?;
        let back = Collect::default();
        self.get(PROBE, 0, None, &back)?;
        if back.0.borrow().as_slice() != PROBE_CONTENT {
            return Err(PluginError::Io(format!(
                "the probe object '{PROBE}' read back from container '{}' differs from what \
                 was written",
                self.client.settings.container
            )));
        }
        if !self.client.settings.append_only {
            self.delete(PROBE)?;
        }
        Ok(())
    }
}

/// A source of fixed bytes (the probe).
struct Bytes(std::cell::Cell<&'static [u8]>);

impl HostSource for Bytes {
    fn read(&self, max: u32) -> Result<Vec<u8>, PluginError> {
        let rest = self.0.get();
        let (piece, rest) = rest.split_at((max as usize).min(rest.len()));
        self.0.set(rest);
        Ok(piece.to_vec())
    }
}

#[derive(Default)]
struct Collect(std::cell::RefCell<Vec<u8>>);

impl HostSink for Collect {
    fn write(&self, data: &[u8]) -> Result<(), PluginError> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(())
    }
}

pub(crate) fn checked(name: &str) -> Result<(), PluginError> {
    object_name::validate(name).map_err(PluginError::InvalidData)
}
