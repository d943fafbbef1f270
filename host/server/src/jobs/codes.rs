//! Host-side message codes (plugins report their own, e.g. 4019).

pub const BACKUP_STARTED: u32 = 4014;
pub const STAGE_PERSISTED: u32 = 4026;
pub const BACKUP_PERSISTED: u32 = 4027;
pub const BACKUP_COMPLETED: u32 = 4028;
/// Some stages failed; the others were committed as a partial backup.
pub const BACKUP_PARTIAL: u32 = 4029;
pub const RESTORE_STARTED: u32 = 5014;
pub const RESTORE_STAGE_COMPLETED: u32 = 5026;
pub const RESTORE_COMPLETED: u32 = 5028;
pub const DELETE_COMPLETED: u32 = 6001;
pub const STORE_REGISTERED: u32 = 6006;
pub const VERIFY_COMPLETED: u32 = 6002;
pub const RETENTION_REMOVED: u32 = 6003;
pub const RETENTION_COMPLETED: u32 = 6004;
/// The store's catalog shows a backup deleted, replaced or rolled back
/// behind the host's back (one message per finding, naming the backup).
pub const CATALOG_TAMPERED: u32 = 6005;
pub const STORE_CONFIG_DAMAGED: u32 = 5030;
/// A partial backup is restored without its incomplete stages.
pub const RESTORE_PARTIAL: u32 = 5031;
/// A stage is restored by another component (its digest differs) than the
/// one that backed it up; the restore goes on.
pub const RESTORE_COMPONENT_CHANGED: u32 = 5034;
pub const JOB_FAILED: u32 = 9001;
pub const JOB_INTERRUPTED: u32 = 9002;
/// A backup interrupted by a host stop runs again under the same job id.
pub const JOB_RESUMED: u32 = 9003;
/// How much of the interrupted run's data the resumed backup reuses.
pub const BACKUP_RESUMED: u32 = 4015;
