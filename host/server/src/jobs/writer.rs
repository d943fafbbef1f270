//! Writes job records behind the in-memory registry, on a thread of its own.
//!
//! An fsync on a filesystem that a restore has just filled with gigabytes of
//! dirty pages waits for the journal to flush them: half a second was
//! measured. Written inline, that wait sat on the job's own path (a stage's
//! `report.message` blocked until its record was on disk) and under the
//! registry's lock (every status request waited with it). Here callers only
//! mark a record dirty; the thread writes each dirty record's newest state,
//! coalescing changes that arrive while it writes, and removes the files of
//! records pruned from memory.
//!
//! What a crash leaves behind: the record of every job that was created
//! (`create` waits for its first write), possibly without the changes of its
//! last moments. A restarted host settles such a job as it settles any job
//! that was running: from its journal, or as failed. It never shows a job
//! as done that was not.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::record::JobRecord;
use crate::fsutil::write_atomic;

/// The newest state of one record, as the writer finds it.
pub(super) enum Snapshot {
    Record(Vec<u8>),
    /// No longer kept: its file goes.
    Removed,
    /// Could not be encoded (logged): the file keeps its previous state.
    Unwritable,
}

#[derive(Default)]
struct Queue {
    dirty: BTreeSet<String>,
    /// Marks made so far, and how many of them are on disk: a flush waits
    /// for the count it saw to be written.
    marked: u64,
    written: u64,
    stopping: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Wakes the thread (work, stop) and flushers (progress).
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The writing thread; stops, after writing what is dirty, when dropped.
pub(super) struct RecordWriter {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RecordWriter {
    /// Starts the thread. `snapshot` reads a record's newest state from the
    /// registry (it must not hold the registry's lock while returning).
    pub fn start(
        dir: PathBuf,
        snapshot: impl Fn(&str) -> Snapshot + Send + 'static,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("drhost-job-records".into())
            .spawn(move || run(&worker, &dir, &snapshot))?;
        Ok(RecordWriter {
            shared,
            thread: Some(thread),
        })
    }

    /// Has `jobid`'s newest state written (or its file removed) soon;
    /// returns the ticket to [`wait`](Self::wait) for.
    pub fn mark(&self, jobid: &str) -> u64 {
        let mut queue = self.shared.lock();
        queue.dirty.insert(jobid.to_string());
        queue.marked += 1;
        let ticket = queue.marked;
        drop(queue);
        self.shared.changed.notify_all();
        ticket
    }

    /// Waits until everything marked up to `ticket` is on disk.
    pub fn wait(&self, ticket: u64) {
        let mut queue = self.shared.lock();
        while queue.written < ticket && !queue.stopping {
            queue = self
                .shared
                .changed
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Waits until everything marked so far is on disk.
    pub fn flush(&self) {
        let ticket = self.shared.lock().marked;
        self.wait(ticket);
    }
}

impl Drop for RecordWriter {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Should the thread die (a panic), waiters are let go rather than left
/// blocked for ever; records are then no longer written, which is logged.
struct ReleaseWaiters<'a>(&'a Shared);

impl Drop for ReleaseWaiters<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!("the job record writer stopped; job records are no longer written");
            self.0.lock().stopping = true;
            self.0.changed.notify_all();
        }
    }
}

fn run(shared: &Shared, dir: &std::path::Path, snapshot: &impl Fn(&str) -> Snapshot) {
    let _release = ReleaseWaiters(shared);
    loop {
        let (batch, ticket) = {
            let mut queue = shared.lock();
            while queue.dirty.is_empty() && !queue.stopping {
                queue = shared
                    .changed
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if queue.dirty.is_empty() {
                return;
            }
            (std::mem::take(&mut queue.dirty), queue.marked)
        };
        for jobid in &batch {
            write_one(dir, jobid, snapshot(jobid));
        }
        shared.lock().written = ticket;
        shared.changed.notify_all();
    }
}

/// A failure is logged, not fatal: the job goes on and its next change
/// writes the record again.
fn write_one(dir: &std::path::Path, jobid: &str, snapshot: Snapshot) {
    let path = record_path(dir, jobid);
    let result = match snapshot {
        Snapshot::Record(bytes) => write_atomic(&path, &bytes),
        Snapshot::Removed => match std::fs::remove_file(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        },
        Snapshot::Unwritable => return,
    };
    if let Err(e) = result {
        tracing::error!(jobid, error = %e, "could not persist job record");
    }
}

pub(super) fn record_path(dir: &std::path::Path, jobid: &str) -> PathBuf {
    dir.join(format!("{jobid}.json"))
}

/// The bytes a record is stored as.
pub(super) fn encode(record: &JobRecord) -> Snapshot {
    match serde_json::to_vec(record) {
        Ok(bytes) => Snapshot::Record(bytes),
        Err(e) => {
            tracing::error!(jobid = record.jobid, error = %e, "could not encode job record");
            Snapshot::Unwritable
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    use super::*;

    /// Longer than any wait that is going to end.
    const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

    /// A writer whose snapshots wait for the test's go-ahead, like a disk
    /// that takes its time; each snapshot says when it begins, and the
    /// count of those taken is kept.
    struct Gated {
        writer: RecordWriter,
        go: mpsc::Sender<()>,
        entered: mpsc::Receiver<String>,
        taken: Arc<AtomicUsize>,
    }

    fn gated(dir: &std::path::Path) -> Gated {
        let (go, gate) = mpsc::channel::<()>();
        let (enter, entered) = mpsc::channel::<String>();
        let gate = Mutex::new((gate, enter));
        let taken = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&taken);
        let writer = RecordWriter::start(dir.to_path_buf(), move |jobid| {
            let gate = gate.lock().expect("gate");
            let _ = gate.1.send(jobid.to_string());
            let _ = gate.0.recv();
            count.fetch_add(1, Ordering::SeqCst);
            Snapshot::Record(jobid.as_bytes().to_vec())
        })
        .expect("start");
        Gated {
            writer,
            go,
            entered,
            taken,
        }
    }

    #[test]
    fn marking_never_waits_for_a_write_under_way_and_flush_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        let Gated {
            writer,
            go,
            entered,
            taken,
        } = gated(dir.path());
        let writer = Arc::new(writer);
        writer.mark("a");
        // Only once the thread waits in `a`'s snapshot: had it not taken `a`
        // yet, it could take `a` with some of the marks of `b` and then `b`
        // again, and the test would wait for a third write it never allows.
        assert_eq!(entered.recv_timeout(WAIT).expect("entered"), "a");
        // Marks still return at once, and changes to one record while the
        // thread waits are written once.
        for _ in 0..100 {
            writer.mark("b");
        }
        let flusher = {
            let writer = Arc::clone(&writer);
            std::thread::spawn(move || writer.flush())
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!flusher.is_finished(), "flush returned before the write");
        go.send(()).expect("go");
        assert_eq!(entered.recv_timeout(WAIT).expect("entered"), "b");
        go.send(()).expect("go");
        flusher.join().expect("flushed");
        assert_eq!(taken.load(Ordering::SeqCst), 2, "one write per record");
        for id in ["a", "b"] {
            let written = std::fs::read(record_path(dir.path(), id)).expect("written");
            assert_eq!(written, id.as_bytes());
        }
    }

    #[test]
    fn waiters_are_let_go_if_the_writer_dies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let writer =
            RecordWriter::start(dir.path().to_path_buf(), |_| panic!("a bug")).expect("start");
        writer.wait(writer.mark("a"));
        writer.flush();
    }

    #[test]
    fn a_removed_record_loses_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = record_path(dir.path(), "gone");
        std::fs::write(&path, b"old").expect("seed");
        let writer =
            RecordWriter::start(dir.path().to_path_buf(), |_| Snapshot::Removed).expect("start");
        writer.wait(writer.mark("gone"));
        assert!(!path.exists());
    }
}
