//! A whole backup over an established session: identify the system, stream
//! the base backup into the archive, verify it, and describe it.

use std::io::{Read, Write};

use guest_sdk::{EntrySink, Host};

use crate::basebackup::{self, Positions};
use crate::connection::Connection;
use crate::receive::{Receiver, Totals};
use crate::{Attribute, PluginError};

/// What a finished backup reports to the host.
#[derive(Debug)]
pub struct Summary {
    pub items: u64,
    pub bytes: u64,
    pub metadata: Vec<Attribute>,
}

/// Summary metadata key listing tablespaces as `oid=location`, comma-separated.
pub const TABLESPACES: &str = "tablespaces";

pub fn run<S: Read + Write, E: EntrySink, H: Host>(
    conn: &mut Connection<'_, S, H>,
    label: &str,
    sink: &E,
) -> Result<Summary, PluginError> {
    let host = conn.host();
    let identity = basebackup::identify_system(conn)?;
    let mut receiver = Receiver::new(sink, host);
    let positions = basebackup::base_backup(conn, label, &mut receiver)?;
    let totals = receiver.finish()?;
    host.message(
        4017,
        &format!(
            "Verified {} files against the server's backup manifest.",
            totals.manifest.files
        ),
    );
    let server_version = conn.server_version().unwrap_or_default().to_owned();
    Ok(Summary {
        items: totals.entries,
        bytes: totals.bytes,
        metadata: metadata(
            server_version,
            &identity.system_identifier,
            &positions,
            &totals,
        ),
    })
}

fn metadata(
    server_version: String,
    system_identifier: &str,
    positions: &Positions,
    totals: &Totals,
) -> Vec<Attribute> {
    let tablespaces = positions
        .tablespaces
        .iter()
        .map(|(oid, location)| format!("{oid}={location}"))
        .collect::<Vec<_>>()
        .join(",");
    [
        ("server-version", server_version),
        ("system-identifier", system_identifier.to_owned()),
        ("timeline", positions.start_timeline.clone()),
        ("start-lsn", positions.start_lsn.clone()),
        ("end-lsn", positions.end_lsn.clone()),
        ("files", totals.files.to_string()),
        (TABLESPACES, tablespaces),
        ("manifest-sha256", totals.manifest.sha256.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}
