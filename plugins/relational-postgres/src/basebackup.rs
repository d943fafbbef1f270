//! The replication commands: `IDENTIFY_SYSTEM` and `BASE_BACKUP` with
//! PostgreSQL 15's response layout (`src/backend/backup/basebackup_copy.c`):
//!
//! 1. a result set with the start LSN and timeline;
//! 2. a result set listing tablespaces (spcoid, spclocation, size; the main
//!    data directory last, with NULL oid and location);
//! 3. CopyOutResponse, then CopyData messages whose first byte says what they
//!    carry: `n` a new archive (name, tablespace location), `d` data of the
//!    current archive or of the manifest, `p` progress (int64), `m` the
//!    manifest follows; then CopyDone;
//! 4. a result set with the end LSN and timeline; CommandComplete;
//!    ReadyForQuery.

use std::io::{Read, Write};

use guest_sdk::Host;

use crate::PluginError;
use crate::connection::{Connection, malformed, unexpected};
use crate::sql;
use crate::wire::{self, Fields, Malformed};

/// What the base backup stream carries, in order.
pub trait Stream {
    fn started(&mut self, lsn: &str, timeline: &str);
    fn begin_archive(&mut self, name: &str, location: &str) -> Result<(), PluginError>;
    fn archive_data(&mut self, data: &[u8]) -> Result<(), PluginError>;
    fn begin_manifest(&mut self) -> Result<(), PluginError>;
    fn manifest_data(&mut self, data: &[u8]) -> Result<(), PluginError>;
    /// The copy ended (CopyDone).
    fn done(&mut self) -> Result<(), PluginError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub system_identifier: String,
    pub timeline: String,
    pub xlogpos: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Positions {
    pub start_lsn: String,
    pub start_timeline: String,
    pub end_lsn: String,
    pub end_timeline: String,
    /// (oid, location) of every tablespace besides the main data directory.
    pub tablespaces: Vec<(String, String)>,
}

pub fn identify_system<S: Read + Write, H: Host>(
    conn: &mut Connection<'_, S, H>,
) -> Result<Identity, PluginError> {
    conn.send(&wire::query(sql::IDENTIFY_SYSTEM))?;
    let server = conn.server().to_owned();
    let mut identity = None;
    loop {
        match conn.next("IDENTIFY_SYSTEM failed")? {
            (b'T' | b'C', _) => {}
            (b'D', body) => {
                let row = wire::data_row(body).map_err(|m| malformed(&server, m))?;
                let col = |i: usize| row.get(i).cloned().flatten();
                match (col(0), col(1), col(2)) {
                    (Some(system_identifier), Some(timeline), Some(xlogpos)) => {
                        identity = Some(Identity {
                            system_identifier,
                            timeline,
                            xlogpos,
                        });
                    }
                    _ => return Err(malformed(&server, Malformed("IDENTIFY_SYSTEM row"))),
                }
            }
            (b'Z', _) => break,
            (tag, _) => return Err(unexpected(&server, tag, "IDENTIFY_SYSTEM")),
        }
    }
    identity.ok_or_else(|| malformed(&server, Malformed("IDENTIFY_SYSTEM row")))
}

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    /// Before CopyOutResponse; counts result sets seen.
    Results(u32),
    Copy,
    /// After CopyDone.
    End,
}

pub fn base_backup<S: Read + Write, H: Host>(
    conn: &mut Connection<'_, S, H>,
    label: &str,
    stream: &mut impl Stream,
) -> Result<Positions, PluginError> {
    conn.send(&wire::query(&sql::base_backup(label)))?;
    let server = conn.server().to_owned();
    let mut phase = Phase::Results(0);
    let mut positions = Positions::default();
    let mut in_manifest = false;
    loop {
        let (tag, body) = conn.next("BASE_BACKUP failed")?;
        match (tag, &phase) {
            (b'd', Phase::Copy) => {
                let mut f = Fields::new(body);
                match f.u8("CopyData kind").map_err(|m| malformed(&server, m))? {
                    b'd' if in_manifest => stream.manifest_data(f.rest())?,
                    b'd' => stream.archive_data(f.rest())?,
                    b'n' => {
                        let name = f.cstr("archive name").map_err(|m| malformed(&server, m))?;
                        let location = f
                            .cstr("tablespace location")
                            .map_err(|m| malformed(&server, m))?;
                        stream.begin_archive(&name, &location)?;
                    }
                    b'p' => {
                        f.i64("progress").map_err(|m| malformed(&server, m))?;
                    }
                    b'm' => {
                        in_manifest = true;
                        stream.begin_manifest()?;
                    }
                    other => {
                        return Err(PluginError::InvalidData(format!(
                            "PostgreSQL server {server}: unknown CopyData kind {:?} in the \
                             base backup stream",
                            char::from(other)
                        )));
                    }
                }
            }
            (b'T', Phase::Results(n)) => phase = Phase::Results(n + 1),
            (b'T', Phase::End) => {}
            (b'D', Phase::Results(1)) => {
                let row = wire::data_row(body).map_err(|m| malformed(&server, m))?;
                let (lsn, tli) = lsn_row(&server, &row, "start position")?;
                stream.started(&lsn, &tli);
                positions.start_lsn = lsn;
                positions.start_timeline = tli;
            }
            (b'D', Phase::Results(2)) => {
                let row = wire::data_row(body).map_err(|m| malformed(&server, m))?;
                // The main data directory's row has a NULL oid.
                if let Some(Some(oid)) = row.first() {
                    let location = row.get(1).cloned().flatten().unwrap_or_default();
                    positions.tablespaces.push((oid.clone(), location));
                }
            }
            (b'D', Phase::End) => {
                let row = wire::data_row(body).map_err(|m| malformed(&server, m))?;
                let (lsn, tli) = lsn_row(&server, &row, "end position")?;
                positions.end_lsn = lsn;
                positions.end_timeline = tli;
            }
            (b'H', Phase::Results(2)) => phase = Phase::Copy,
            (b'c', Phase::Copy) => {
                stream.done()?;
                phase = Phase::End;
            }
            (b'C', Phase::Results(_) | Phase::End) => {}
            (b'Z', Phase::End) => break,
            (tag, _) => {
                return Err(unexpected(
                    &server,
                    tag,
                    &format!("BASE_BACKUP ({phase:?})"),
                ));
            }
        }
    }
    if positions.end_lsn.is_empty() {
        return Err(malformed(&server, Malformed("BASE_BACKUP end position")));
    }
    Ok(positions)
}

fn lsn_row(
    server: &str,
    row: &[Option<String>],
    what: &'static str,
) -> Result<(String, String), PluginError> {
    match (row.first(), row.get(1)) {
        (Some(Some(lsn)), Some(Some(tli))) => Ok((lsn.clone(), tli.clone())),
        _ => Err(malformed(server, Malformed(what))),
    }
}
