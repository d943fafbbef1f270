//! The replication commands the plugin sends, with the label quoted safely.

/// A string literal for the replication command grammar, which knows only
/// `''` as an escape (no backslash escapes): doubling quotes is complete.
/// Configuration refuses NUL, which could not be sent at all.
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

pub const IDENTIFY_SYSTEM: &str = "IDENTIFY_SYSTEM";

/// PostgreSQL 15's option syntax: a fast checkpoint so the backup starts at
/// once, the WAL needed for consistency inside the base archive, and a
/// manifest with SHA-256 checksums that the plugin verifies.
///
/// `WAIT false`, as `pg_basebackup` sends whenever it includes the WAL: the
/// backup carries its WAL, so it need not wait for the server's WAL archive
/// to take the last segment. Waiting cost 0.6 s of a 5 s backup with
/// pgbackrest archiving, and a failing `archive_command` would hold the
/// backup until its stage's wall-time limit.
pub fn base_backup(label: &str) -> String {
    format!(
        "BASE_BACKUP ( LABEL {}, PROGRESS true, CHECKPOINT 'fast', WAIT false, WAL true, \
         MANIFEST 'yes', MANIFEST_CHECKSUMS 'SHA256' )",
        quote_literal(label)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_labels() {
        assert_eq!(quote_literal("drhost"), "'drhost'");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\'); DROP"), "'a\\''); DROP'");
        assert_eq!(quote_literal(""), "''");
    }

    #[test]
    fn builds_base_backup_command() {
        assert_eq!(
            base_backup("o'k"),
            "BASE_BACKUP ( LABEL 'o''k', PROGRESS true, CHECKPOINT 'fast', WAIT false, \
             WAL true, MANIFEST 'yes', MANIFEST_CHECKSUMS 'SHA256' )"
        );
    }
}
