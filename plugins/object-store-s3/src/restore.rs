//! Restore: each archive entry becomes an object again, under its recorded
//! key below the configured prefix, with its recorded metadata headers. Its
//! bytes stream from the archive into a single PUT or, for a large object, a
//! multipart upload holding one part at a time.

use guest_sdk::s3::{from_plugin, to_plugin};
use guest_sdk::{EntryKind, EntryMeta, EntrySource, Host, Progress};
use s3_client::transport::{Clock, Transport};
use s3_client::{Client, Error, Source};

use plugin_util::entry_path::show;

use crate::{PluginError, attributes, key_path};

pub fn restore<T: Transport, C: Clock>(
    client: &Client<T, C>,
    input: &impl EntrySource,
    host: &impl Host,
) -> Result<Progress, PluginError> {
    let mut progress = Progress::default();
    while let Some(meta) = input.next_entry()? {
        match meta.kind {
            EntryKind::File => {}
            // This stage writes none; nothing to create for one in a bucket.
            EntryKind::Directory => continue,
            EntryKind::Symlink | EntryKind::HardLink => {
                return Err(PluginError::InvalidData(format!(
                    "entry {} is a link, which an object store cannot hold",
                    show(&meta.path)
                )));
            }
        }
        let (key, size, headers) = object_of(&meta)?;
        let mut source = EntryBytes {
            input,
            host,
            progress: &mut progress,
        };
        client
            .put_object(&key, size, &mut source, &headers)
            .map_err(to_plugin)?;
        progress.add_item(host);
    }
    progress.finish(host);
    Ok(progress)
}

type Object = (String, u64, Vec<(String, String)>);

/// The key, size and metadata headers an entry records.
fn object_of(meta: &EntryMeta) -> Result<Object, PluginError> {
    let bad = |why: String| PluginError::InvalidData(format!("entry {}: {why}", show(&meta.path)));
    let recorded = attributes::recorded(&meta.attributes).map_err(bad)?;
    // Backup writes UTF-8 paths only (keys are UTF-8): anything else is an
    // archive of another stage.
    let path = std::str::from_utf8(&meta.path).map_err(|_| {
        bad("the path is not UTF-8, so it is no object key this stage backed up".into())
    })?;
    let from_path = key_path::to_key(path).map_err(PluginError::InvalidData)?;
    let key = match recorded.key {
        Some(key) if key == from_path => key,
        Some(key) => {
            return Err(bad(format!(
                "its path does not encode its recorded key {key:?}"
            )));
        }
        None => from_path,
    };
    let size = recorded
        .size
        .ok_or_else(|| bad(format!("no {} attribute", attributes::SIZE)))?;
    Ok((key, size, recorded.headers))
}

/// The current entry's bytes as the client's upload source.
struct EntryBytes<'a, I, H> {
    input: &'a I,
    host: &'a H,
    progress: &'a mut Progress,
}

impl<I: EntrySource, H: Host> Source for EntryBytes<'_, I, H> {
    fn read(&mut self, max: usize) -> Result<Vec<u8>, Error> {
        let max = u32::try_from(max).unwrap_or(u32::MAX);
        let data = self.input.read(max).map_err(from_plugin)?;
        self.progress.add_bytes(data.len() as u64, self.host);
        Ok(data)
    }
}
