//! Backup job journals: `<state>/jobs/<jobid>.journal` (mode 0600), one JSON
//! line per record, appended and synced one at a time. The first line says
//! what the job is (store, backup, stage plan, the passcode sealed under the
//! host key); each further line is a pack whose upload completed, with its
//! chunks. After a crash the host reads the journal back and resumes the job,
//! treating those chunks as stored. A torn last line (the crash hit the
//! append) is dropped and cut off, so the next append starts on a clean line.
//! The journal is removed when its job ends, however it ends.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use drhost_repo::{PackChunk, UploadedPack};
use serde::{Deserialize, Serialize};

const JOURNAL_VERSION: u32 = 1;
/// A journal larger than this is not read back (a pack line is ~100 bytes per
/// chunk; 1 GiB covers ~10 M chunks, i.e. ~10 TB of data).
const MAX_JOURNAL_BYTES: u64 = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot use job journal {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("job journal {path} is unusable: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// What a backup job is: everything needed to run it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalHeader {
    pub version: u32,
    pub jobid: String,
    pub store: String,
    pub backup_name: String,
    pub description: String,
    pub schedule_type: String,
    pub retention_date: i64,
    pub start_time: i64,
    /// The configured stages the job backs up, in order; a host whose
    /// configuration changed since does not resume the job.
    pub stages: Vec<String>,
    /// The backup passcode, sealed (`tasks::sealed`).
    pub sealed_passcode: String,
}

impl JournalHeader {
    pub fn new(jobid: &str) -> Self {
        Self {
            version: JOURNAL_VERSION,
            jobid: jobid.to_string(),
            store: String::new(),
            backup_name: String::new(),
            description: String::new(),
            schedule_type: String::new(),
            retention_date: 0,
            start_time: 0,
            stages: Vec::new(),
            sealed_passcode: String::new(),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
enum Line {
    Job(JournalHeader),
    /// `chunks`: `[hex id, offset, length, size]`.
    Pack {
        name: String,
        chunks: Vec<(String, u32, u32, u32)>,
    },
}

/// A journal read back after a crash.
#[derive(Debug)]
pub struct Recovered {
    pub header: JournalHeader,
    pub packs: Vec<UploadedPack>,
    /// Bytes of a torn or unreadable tail that were dropped.
    pub dropped_bytes: u64,
}

/// An open journal, appended to by the backup writer's upload tasks.
#[derive(Debug)]
pub struct JobJournal {
    path: PathBuf,
    file: Mutex<File>,
}

pub fn journal_path(jobs_dir: &Path, jobid: &str) -> PathBuf {
    jobs_dir.join(format!("{jobid}.journal"))
}

impl JobJournal {
    /// Starts the journal of a new job (replacing any stale one of that id).
    pub fn create(jobs_dir: &Path, header: &JournalHeader) -> Result<Self, JournalError> {
        let path = journal_path(jobs_dir, &header.jobid);
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        let journal = Self {
            path: path.clone(),
            file: Mutex::new(file),
        };
        journal.append(&Line::Job(header.clone()))?;
        // The file's directory entry must survive a crash too.
        File::open(jobs_dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(journal)
    }

    /// Reads the journal of `jobid` back and opens it for appending, or
    /// `None` if the job has none. A torn last line is dropped and cut off.
    pub fn reopen(jobs_dir: &Path, jobid: &str) -> Result<Option<(Self, Recovered)>, JournalError> {
        let path = journal_path(jobs_dir, jobid);
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        let invalid = |reason: String| JournalError::Invalid {
            path: path.clone(),
            reason,
        };
        let bytes = match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
            Ok(meta) if meta.len() > MAX_JOURNAL_BYTES => {
                return Err(invalid("it is larger than 1 GiB".into()));
            }
            Ok(_) => std::fs::read(&path).map_err(io)?,
        };
        let (recovered, good_len) = parse(&bytes).map_err(invalid)?;
        if recovered.header.jobid != jobid {
            return Err(invalid(format!(
                "it belongs to job {}",
                recovered.header.jobid
            )));
        }
        let file = OpenOptions::new().write(true).open(&path).map_err(io)?;
        file.set_len(good_len).map_err(io)?;
        file.sync_all().map_err(io)?;
        let file = OpenOptions::new().append(true).open(&path).map_err(io)?;
        let journal = Self {
            path: path.clone(),
            file: Mutex::new(file),
        };
        Ok(Some((journal, recovered)))
    }

    /// Records a pack whose upload completed; durable when this returns.
    pub fn record_pack(&self, pack: &UploadedPack) -> Result<(), JournalError> {
        let chunks = pack
            .chunks
            .iter()
            .map(|c| (hex::encode(c.id), c.offset, c.length, c.size))
            .collect();
        self.append(&Line::Pack {
            name: pack.name.clone(),
            chunks,
        })
    }

    fn append(&self, line: &Line) -> Result<(), JournalError> {
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        let mut bytes = serde_json::to_vec(line).map_err(|e| io(std::io::Error::other(e)))?;
        bytes.push(b'\n');
        // One write per line under the lock, so concurrent upload tasks never
        // interleave their records.
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(&bytes).map_err(io)?;
        file.sync_data().map_err(io)
    }

    /// Deletes the journal: its job has ended and will not be resumed.
    pub fn remove(&self) {
        remove_journal(&self.path);
    }
}

/// Deletes a journal file, logging (not failing) if that is impossible.
pub fn remove_journal(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot remove job journal"),
    }
}

/// The records of a journal and the length of its intact prefix. Only
/// complete lines count; parsing stops at the first line that is torn or
/// does not parse, and everything from there on is dropped.
fn parse(bytes: &[u8]) -> Result<(Recovered, u64), String> {
    let mut header = None;
    let mut packs = Vec::new();
    let mut good_len = 0usize;
    let mut rest = bytes;
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        let Ok(line) = serde_json::from_slice::<Line>(&rest[..end]) else {
            break;
        };
        match (line, header.is_some()) {
            (Line::Job(h), false) => {
                if h.version != JOURNAL_VERSION {
                    return Err(format!("unsupported journal version {}", h.version));
                }
                header = Some(h);
            }
            (Line::Pack { name, chunks }, true) => match pack_from_line(name, chunks) {
                Some(pack) => packs.push(pack),
                None => break,
            },
            _ => break,
        }
        good_len += end + 1;
        rest = &rest[end + 1..];
    }
    let header = header.ok_or("it has no job record")?;
    Ok((
        Recovered {
            header,
            packs,
            dropped_bytes: (bytes.len() - good_len) as u64,
        },
        good_len as u64,
    ))
}

fn pack_from_line(name: String, chunks: Vec<(String, u32, u32, u32)>) -> Option<UploadedPack> {
    let chunks = chunks
        .into_iter()
        .map(|(id, offset, length, size)| {
            let id: [u8; 32] = hex::decode(id).ok()?.try_into().ok()?;
            Some(PackChunk {
                id,
                offset,
                length,
                size,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(UploadedPack { name, chunks })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> JournalHeader {
        JournalHeader {
            store: "default".into(),
            backup_name: "b1".into(),
            stages: vec!["Stage Object store".into()],
            sealed_passcode: "00ff".into(),
            ..JournalHeader::new("j1")
        }
    }

    fn pack(n: u8) -> UploadedPack {
        UploadedPack {
            name: format!("packs/{n:02x}/{}", "0".repeat(64)),
            chunks: vec![PackChunk {
                id: [n; 32],
                offset: 0,
                length: 100,
                size: 71,
            }],
        }
    }

    #[test]
    fn packs_survive_a_reopen_and_a_torn_tail_is_cut_off() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal = JobJournal::create(dir.path(), &header()).expect("create");
        journal.record_pack(&pack(1)).expect("record");
        journal.record_pack(&pack(2)).expect("record");
        drop(journal);
        let path = journal_path(dir.path(), "j1");
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A crash in the middle of the third append.
        let mut file = OpenOptions::new().append(true).open(&path).expect("open");
        file.write_all(br#"{"record":"pack","name":"packs/03/"#)
            .expect("torn write");
        drop(file);

        let (journal, recovered) = JobJournal::reopen(dir.path(), "j1")
            .expect("reopen")
            .expect("exists");
        assert_eq!(recovered.header, header());
        assert_eq!(recovered.packs, vec![pack(1), pack(2)]);
        assert!(recovered.dropped_bytes > 0);
        // The next record lands on a clean line.
        journal.record_pack(&pack(4)).expect("record after tear");
        let (_, recovered) = JobJournal::reopen(dir.path(), "j1")
            .expect("reopen")
            .expect("exists");
        assert_eq!(recovered.packs, vec![pack(1), pack(2), pack(4)]);
        assert_eq!(recovered.dropped_bytes, 0);

        journal.remove();
        assert!(
            JobJournal::reopen(dir.path(), "j1")
                .expect("reopen")
                .is_none()
        );
    }

    #[test]
    fn a_journal_without_its_job_record_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(journal_path(dir.path(), "j2"), b"garbage\n").expect("write");
        assert!(matches!(
            JobJournal::reopen(dir.path(), "j2"),
            Err(JournalError::Invalid { .. })
        ));
        let journal = JobJournal::create(dir.path(), &header()).expect("create");
        drop(journal);
        std::fs::rename(
            journal_path(dir.path(), "j1"),
            journal_path(dir.path(), "j3"),
        )
        .expect("rename");
        assert!(matches!(
            JobJournal::reopen(dir.path(), "j3"),
            Err(JournalError::Invalid { .. })
        ));
    }
}
