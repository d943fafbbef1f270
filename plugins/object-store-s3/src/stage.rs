//! The exported `stage` interface over the host's `wasi:http`.

use guest_sdk::bindings::drhost::plugin::host;
use guest_sdk::s3::to_plugin;
use guest_sdk::{ArchiveReader, ArchiveWriter, GuestHost, Host};

use crate::bindings::exports::drhost::plugin::stage::{Guest, StageInfo, StageKind, StageSummary};
use crate::config::{self, Config};
use crate::{Attribute, ObjectStoreS3, PluginError, backup, restore};

const NAME: &str = "object-store-s3";

impl Guest for ObjectStoreS3 {
    fn describe() -> StageInfo {
        StageInfo {
            name: NAME.into(),
            kind: StageKind::ObjectStore,
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    /// With a `restore_bucket`, checks that it can be written (a restore may
    /// follow, and the source bucket may be the very thing lost). Without,
    /// checks that `bucket` can be listed: backup credentials are best
    /// read-only, so no probe object is written into the bucket backed up.
    fn validate(config: String) -> Result<(), PluginError> {
        let config = parse(&config)?;
        if config.separate_target {
            guest_sdk::s3::client(config.target)
                .probe(true)
                .map_err(to_plugin)
        } else {
            guest_sdk::s3::client(config.source)
                .probe(false)
                .map_err(to_plugin)
        }
    }

    fn backup(out: &ArchiveWriter) -> Result<StageSummary, PluginError> {
        let config = parse(&host::config())?;
        let guest = GuestHost;
        guest.message(4019, "Started object store backup.");
        let metadata = crate::summary_metadata(&config.source);
        let client = guest_sdk::s3::client(config.source);
        let totals = backup::backup(&client, out, &guest)?;
        guest.message(4021, "Completed objectstore backup.");
        Ok(StageSummary {
            items: totals.progress.items,
            bytes: totals.progress.bytes,
            metadata: crate::with_counts(metadata, &totals),
        })
    }

    fn restore(
        input: &ArchiveReader,
        _metadata: Vec<Attribute>,
    ) -> Result<StageSummary, PluginError> {
        let config = parse(&host::config())?;
        let guest = GuestHost;
        guest.message(5019, "Started object store restore.");
        let client = guest_sdk::s3::client(config.target);
        let totals = restore::restore(&client, input, &guest)?;
        guest.message(5021, "Completed object store restore.");
        Ok(StageSummary {
            items: totals.items,
            bytes: totals.bytes,
            metadata: Vec::new(),
        })
    }
}

fn parse(text: &str) -> Result<Config, PluginError> {
    config::parse(text).map_err(PluginError::InvalidConfig)
}
