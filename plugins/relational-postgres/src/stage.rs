//! The exported `stage` interface: configuration, status messages, and the
//! backup and restore flows.

use guest_sdk::bindings::drhost::plugin::host;
use guest_sdk::{ArchiveReader, ArchiveWriter, FileType, GuestFs, GuestHost, Host, PosixFs};

use crate::bindings::exports::drhost::plugin::stage::{Guest, StageInfo, StageKind, StageSummary};
use crate::config::{self, Config};
use crate::{Attribute, PluginError, RelationalPostgres, backup, connection, restore};

const NAME: &str = "relational-postgres";

impl Guest for RelationalPostgres {
    fn describe() -> StageInfo {
        StageInfo {
            name: NAME.into(),
            kind: StageKind::Relational,
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    /// Before a backup, connects and authenticates so that bad credentials
    /// fail before the job starts. Before a restore, checks the target
    /// instead: the server may be the very thing being recovered. The host
    /// grants the restore target only to restores and no directory to
    /// backups, so a reachable `root` is what tells the two apart.
    fn validate(config: String) -> Result<(), PluginError> {
        let config = parse(&config)?;
        if GuestFs
            .stat(config.root.as_bytes())
            .is_ok_and(|stat| matches!(stat.type_, FileType::Directory))
        {
            return Ok(());
        }
        let server = config.server().map_err(PluginError::InvalidConfig)?;
        connection::open(server, &GuestHost)?.close();
        Ok(())
    }

    fn backup(out: &ArchiveWriter) -> Result<StageSummary, PluginError> {
        let config = parse(&host::config())?;
        let server = config.server().map_err(PluginError::InvalidConfig)?;
        let guest = GuestHost;
        guest.message(4015, "Started relational store backup.");
        let mut conn = connection::open(server, &guest)?;
        let summary = backup::run(&mut conn, &config.label, out)?;
        conn.close();
        guest.message(4018, "Completed relational store backup.");
        Ok(StageSummary {
            items: summary.items,
            bytes: summary.bytes,
            metadata: summary.metadata,
        })
    }

    fn restore(
        input: &ArchiveReader,
        metadata: Vec<Attribute>,
    ) -> Result<StageSummary, PluginError> {
        let config = parse(&host::config())?;
        let guest = GuestHost;
        guest.message(5015, "Started relational store restore.");
        let totals = restore::restore(
            &config.root,
            input,
            &guest,
            &GuestFs,
            &metadata,
            &config.data_owner,
        )?;
        guest.message(5017, "Completed relational store restore.");
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
