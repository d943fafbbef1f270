//! Durable job records. Every job is a JSON file in `<state>/jobs/`, written
//! when the job is created and rewritten atomically after each state change
//! (behind the job, by one writer thread), so a host restart finds every job;
//! jobs that were still running are then resumed (backups with a journal) or
//! marked failed with the reason.
//!
//! - [`record`]: the persisted schema (what a job *is*);
//! - [`lifecycle`]: every transition as a pure function on a record;
//! - [`store`]: the registry of records and the handle a running job reports
//!   through;
//! - [`writer`]: the thread that writes the records' files;
//! - [`codes`]: the host's own message codes.

pub mod codes;
pub mod lifecycle;
pub mod record;
mod store;
mod writer;

pub use record::{
    JobRecord, JobStatus, JobStep, Message, NewJob, Operation, StageProgress, StageState,
};
pub use store::{JobHandle, JobStore, JobStoreError};
