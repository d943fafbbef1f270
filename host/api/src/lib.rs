//! drhost's admin REST API, compatible with the disaster-recovery resources of
//! the Enterprise Administrator API (`../shared/spec/`).

pub mod ops;

pub use ops::{CreateBackup, DeleteBackup, DrOps, JobRef, OpError, RestoreBackup};
