//! Backup: every object of the bucket below the prefix, page by page of the
//! listing, each streamed from its GET into one archive entry. Only one
//! listing page and one 1 MiB piece are in memory at a time, whatever the
//! number or size of the objects.

use guest_sdk::s3::{from_plugin, to_plugin};
use guest_sdk::{EntryKind, EntryMeta, EntrySink, Host, LogLevel, Progress};
use s3_client::client::MAX_KEYS;
use s3_client::transport::{Clock, Transport};
use s3_client::{BodySink, Client, Error, ErrorKind, ObjectEntry, ObjectHead};

use crate::{Attribute, PluginError, attributes, key_path};

/// Permission bits recorded for every object (S3 has none).
const MODE: u32 = 0o644;

pub struct Totals {
    pub progress: Progress,
    /// Objects listed but gone before they could be read.
    pub vanished: u64,
}

pub fn backup<T: Transport, C: Clock>(
    client: &Client<T, C>,
    out: &impl EntrySink,
    host: &impl Host,
) -> Result<Totals, PluginError> {
    let mut totals = Totals {
        progress: Progress::default(),
        vanished: 0,
    };
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_page("", None, token.as_deref(), MAX_KEYS)
            .map_err(to_plugin)?;
        for object in &page.objects {
            if !object_entry(client, object, out, host, &mut totals.progress)? {
                host.log(
                    LogLevel::Warn,
                    &format!(
                        "object {:?} was deleted during the backup; left out",
                        object.key
                    ),
                );
                totals.vanished += 1;
            }
        }
        match page.next_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    totals.progress.finish(host);
    Ok(totals)
}

/// Writes the entry of one listed object; `false` if it no longer exists.
fn object_entry<T: Transport, C: Clock>(
    client: &Client<T, C>,
    object: &ObjectEntry,
    out: &impl EntrySink,
    host: &impl Host,
    progress: &mut Progress,
) -> Result<bool, PluginError> {
    let (mtime_seconds, mtime_nanoseconds) = object.last_modified.unwrap_or((0, 0));
    let mut writer = EntryWriter {
        out,
        host,
        progress,
        key: &object.key,
        mtime: (mtime_seconds, mtime_nanoseconds),
        begun: false,
    };
    match client.get_object(&object.key, 0, None, &mut writer) {
        Ok(_) => {}
        Err(e) if e.kind == ErrorKind::NotFound && !writer.begun => return Ok(false),
        Err(e) => return Err(to_plugin(e)),
    }
    out.end_entry()?;
    progress.add_item(host);
    Ok(true)
}

/// Streams a GET into an archive entry, begun once the response tells the
/// object's size and metadata.
struct EntryWriter<'a, S, H> {
    out: &'a S,
    host: &'a H,
    progress: &'a mut Progress,
    key: &'a str,
    mtime: (i64, u32),
    begun: bool,
}

impl<S: EntrySink, H: Host> BodySink for EntryWriter<'_, S, H> {
    fn head(&mut self, head: &ObjectHead) -> Result<(), Error> {
        let attributes: Vec<Attribute> =
            attributes::of_object(self.key, head).map_err(from_plugin)?;
        let meta = EntryMeta {
            path: key_path::to_path(self.key).into_bytes(),
            kind: EntryKind::File,
            mode: MODE,
            mtime_seconds: self.mtime.0,
            mtime_nanoseconds: self.mtime.1,
            link_target: None,
            // Objects have no owner; the bucket's policy governs access.
            owner: None,
            attributes,
        };
        self.out.begin_entry(&meta).map_err(from_plugin)?;
        self.begun = true;
        Ok(())
    }

    fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        self.out.write(data).map_err(from_plugin)?;
        self.progress.add_bytes(data.len() as u64, self.host);
        Ok(())
    }
}
