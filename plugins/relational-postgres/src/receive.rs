//! The archive side of a backup: turns the server's tar archives and manifest
//! into archive entries, hashing every regular file as it streams past, and
//! verifies the manifest at the end.

use std::time::{SystemTime, UNIX_EPOCH};

use guest_sdk::{EntryKind, EntryMeta, EntrySink, Host, Progress};
use plugin_util::CHUNK;

use crate::PluginError;
use crate::basebackup::Stream;
use crate::manifest::{self, Received};
use crate::tar::{self, Header, Kind, Members};
use plugin_util::entry_path;

/// Where the archives of non-default tablespaces are kept in the backup.
pub const TABLESPACE_DIR: &str = "pg_tblspc_archives";
/// The manifest's entry; also its name in a data directory.
pub const MANIFEST_ENTRY: &str = "backup_manifest";
const MANIFEST_MODE: u32 = 0o600;
const MODE_MASK: u32 = 0o7777;

/// Which archive is being read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Archive {
    Base,
    Tablespace(String),
}

/// What the stream produced, once complete.
#[derive(Debug)]
pub struct Totals {
    pub entries: u64,
    pub bytes: u64,
    /// Regular files written (manifest excluded).
    pub files: u64,
    pub manifest: manifest::Outcome,
}

pub struct Receiver<'a, S, H> {
    tar: tar::Reader,
    entries: Entries<'a, S, H>,
    stage: Stage,
    outcome: Option<manifest::Outcome>,
}

enum Stage {
    /// No archive begun yet.
    Idle,
    Archive(String),
    Manifest(Box<manifest::Check>),
    Done,
}

impl<'a, S: EntrySink, H: Host> Receiver<'a, S, H> {
    pub fn new(sink: &'a S, host: &'a H) -> Self {
        Self {
            tar: tar::Reader::new(),
            entries: Entries {
                sink,
                host,
                buf: Vec::with_capacity(CHUNK),
                progress: Progress::default(),
                received: Received::new(),
                archive: Archive::Base,
                current: None,
                files: 0,
            },
            stage: Stage::Idle,
            outcome: None,
        }
    }

    /// The totals and the manifest verdict; fails if the stream was
    /// incomplete.
    pub fn finish(mut self) -> Result<Totals, PluginError> {
        let manifest = self.outcome.take().ok_or_else(|| {
            PluginError::InvalidData(
                "the server ended the base backup without sending a backup manifest".into(),
            )
        })?;
        self.entries.progress.finish(self.entries.host);
        Ok(Totals {
            entries: self.entries.progress.items,
            bytes: self.entries.progress.bytes,
            files: self.entries.files,
            manifest,
        })
    }

    /// Ends the archive being read, if any: it must end between members.
    fn end_archive(&mut self) -> Result<(), PluginError> {
        if let Stage::Archive(name) = &self.stage {
            self.tar
                .finish::<PluginError>()
                .map_err(|e| tar_error(name, e))?;
            self.tar = tar::Reader::new();
        }
        Ok(())
    }
}

fn tar_error(archive: &str, e: tar::Error<PluginError>) -> PluginError {
    match e {
        tar::Error::Format(text) => {
            PluginError::InvalidData(format!("server archive {archive}: {text}"))
        }
        tar::Error::Members(e) => e,
    }
}

impl<S: EntrySink, H: Host> Stream for Receiver<'_, S, H> {
    fn started(&mut self, lsn: &str, timeline: &str) {
        self.entries.host.message(
            4016,
            &format!("Base backup started at LSN {lsn} on timeline {timeline}."),
        );
    }

    fn begin_archive(&mut self, name: &str, location: &str) -> Result<(), PluginError> {
        if matches!(self.stage, Stage::Manifest(_) | Stage::Done) {
            return Err(PluginError::InvalidData(format!(
                "the server began archive {name} after the backup manifest"
            )));
        }
        self.end_archive()?;
        self.entries.archive = archive_of(name, location)?;
        self.stage = Stage::Archive(name.to_owned());
        Ok(())
    }

    fn archive_data(&mut self, data: &[u8]) -> Result<(), PluginError> {
        let Stage::Archive(name) = &self.stage else {
            return Err(PluginError::InvalidData(
                "the server sent archive data outside an archive".into(),
            ));
        };
        self.tar
            .feed(data, &mut self.entries)
            .map_err(|e| tar_error(name, e))
    }

    fn begin_manifest(&mut self) -> Result<(), PluginError> {
        if matches!(self.stage, Stage::Manifest(_) | Stage::Done) {
            return Err(PluginError::InvalidData(
                "the server sent a second backup manifest".into(),
            ));
        }
        self.end_archive()?;
        let received = std::mem::take(&mut self.entries.received);
        self.stage = Stage::Manifest(Box::new(manifest::Check::new(received)));
        self.entries.begin(EntryMeta {
            path: MANIFEST_ENTRY.into(),
            kind: EntryKind::File,
            mode: MANIFEST_MODE,
            mtime_seconds: now(),
            mtime_nanoseconds: 0,
            link_target: None,
            owner: None,
            attributes: Vec::new(),
        })
    }

    fn manifest_data(&mut self, data: &[u8]) -> Result<(), PluginError> {
        let Stage::Manifest(check) = &mut self.stage else {
            return Err(PluginError::InvalidData(
                "the server sent manifest data outside the manifest".into(),
            ));
        };
        check.feed(data)?;
        self.entries.write(data)
    }

    fn done(&mut self) -> Result<(), PluginError> {
        self.end_archive()?;
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Manifest(check) => {
                self.entries.end(false)?;
                self.outcome = Some(check.finish()?);
                Ok(())
            }
            _ => Err(PluginError::InvalidData(
                "the server ended the base backup without sending a backup manifest \
                 (MANIFEST 'yes' was requested)"
                    .into(),
            )),
        }
    }
}

/// `base.tar` is the data directory; `<oid>.tar` a tablespace. Anything else
/// (e.g. a compressed archive) was not asked for.
fn archive_of(name: &str, location: &str) -> Result<Archive, PluginError> {
    if name == "base.tar" {
        return Ok(Archive::Base);
    }
    match name.strip_suffix(".tar") {
        Some(oid) if !oid.is_empty() && oid.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(Archive::Tablespace(oid.to_owned()))
        }
        _ => Err(PluginError::InvalidData(format!(
            "the server sent an unexpected archive {name:?} (tablespace location {location:?}); \
             only uncompressed base.tar and <oid>.tar are understood"
        ))),
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A member being written.
struct Current {
    /// The path the server's manifest uses for it.
    manifest_path: String,
    /// The host hashes the content (files other than the manifest).
    hashed: bool,
    size: u64,
    /// The member is skipped (the archive root `./`).
    skip: bool,
}

struct Entries<'a, S, H> {
    sink: &'a S,
    host: &'a H,
    /// The one reused chunk buffer: the server's CopyData messages are
    /// smaller than the host's most efficient write size.
    buf: Vec<u8>,
    progress: Progress,
    received: Received,
    archive: Archive,
    current: Option<Current>,
    files: u64,
}

impl<S: EntrySink, H: Host> Entries<'_, S, H> {
    fn begin(&mut self, meta: EntryMeta) -> Result<(), PluginError> {
        self.sink.begin_entry(&meta)?;
        self.current = Some(Current {
            // Paths this stage writes come from UTF-8 text.
            manifest_path: String::from_utf8_lossy(&meta.path).into_owned(),
            hashed: false,
            size: 0,
            skip: false,
        });
        Ok(())
    }

    fn write(&mut self, mut data: &[u8]) -> Result<(), PluginError> {
        self.progress.add_bytes(data.len() as u64, self.host);
        while !data.is_empty() {
            let n = (CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buf.len() == CHUNK {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), PluginError> {
        if !self.buf.is_empty() {
            self.sink.write(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Ends the current entry; with `hashed`, returns the size and SHA-256
    /// the host computed of its content.
    fn end(&mut self, hashed: bool) -> Result<Option<(u64, [u8; 32])>, PluginError> {
        self.flush()?;
        let digest = if hashed {
            Some(guest_sdk::content::sized_sha256(
                &self.sink.entry_digest()?,
            )?)
        } else {
            None
        };
        self.sink.end_entry()?;
        self.progress.add_item(self.host);
        Ok(digest)
    }
}

impl<S: EntrySink, H: Host> Members for Entries<'_, S, H> {
    type Error = PluginError;

    fn begin(&mut self, header: &Header) -> Result<(), PluginError> {
        if header.path.is_empty() && header.kind == Kind::Directory {
            self.current = Some(Current {
                manifest_path: String::new(),
                hashed: false,
                size: 0,
                skip: true,
            });
            return Ok(());
        }
        let (path, manifest_path) = match &self.archive {
            Archive::Base => (header.path.clone(), header.path.clone()),
            Archive::Tablespace(oid) => (
                format!("{TABLESPACE_DIR}/{oid}/{}", header.path),
                format!("pg_tblspc/{oid}/{}", header.path),
            ),
        };
        entry_path::validate(path.as_bytes()).map_err(|e| {
            PluginError::InvalidData(format!(
                "the server's archive holds an unusable member: {e}"
            ))
        })?;
        if path == MANIFEST_ENTRY {
            return Err(PluginError::InvalidData(format!(
                "the server's archive holds a member named {MANIFEST_ENTRY}, which would clash \
                 with the manifest"
            )));
        }
        let kind = match header.kind {
            Kind::File => EntryKind::File,
            Kind::Directory => EntryKind::Directory,
            Kind::Symlink => EntryKind::Symlink,
        };
        self.sink.begin_entry(&EntryMeta {
            path: path.into_bytes(),
            kind,
            mode: header.mode & MODE_MASK,
            mtime_seconds: header.mtime,
            mtime_nanoseconds: 0,
            link_target: header.link_target.clone().map(String::into_bytes),
            // Restore gives every entry the data directory's configured
            // owner, whoever owned it on the server.
            owner: None,
            attributes: Vec::new(),
        })?;
        // The server's manifest holds every file's SHA-256 (the stage asks
        // for it); the host computes it, much faster than the sandbox.
        let hashed = header.kind == Kind::File;
        if hashed {
            self.sink.hash_entry()?;
        }
        self.current = Some(Current {
            manifest_path,
            hashed,
            size: 0,
            skip: false,
        });
        Ok(())
    }

    fn data(&mut self, data: &[u8]) -> Result<(), PluginError> {
        if let Some(current) = &mut self.current {
            current.size += data.len() as u64;
        }
        self.write(data)
    }

    fn end(&mut self) -> Result<(), PluginError> {
        let Some(current) = self.current.take() else {
            return Ok(());
        };
        if current.skip {
            return Ok(());
        }
        if let Some((size, digest)) = Entries::end(self, current.hashed)? {
            if size != current.size {
                return Err(PluginError::Other(format!(
                    "the host hashed {size} bytes of {}, the stage wrote {}",
                    current.manifest_path, current.size
                )));
            }
            self.files += 1;
            if self
                .received
                .insert(current.manifest_path.clone(), (size, digest))
                .is_some()
            {
                return Err(PluginError::InvalidData(format!(
                    "the server sent {} twice",
                    current.manifest_path
                )));
            }
        }
        Ok(())
    }
}
