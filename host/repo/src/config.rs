//! The plaintext `config` object: format version and the store's KDF
//! parameters with its random salt. Wrapped in the checksummed envelope.

use serde::{Deserialize, Serialize};

use crate::envelope;
use crate::keys::KdfParams;

pub const CONFIG_FORMAT: &str = "drhost-repo";
pub const CONFIG_VERSION: u32 = 1;
/// Largest `config` object accepted.
pub const MAX_CONFIG_SIZE: usize = 64 * 1024;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// Always `drhost-repo`.
    pub format: String,
    /// Repository format version (1).
    pub version: u32,
    /// KDF parameters and per-store salt used by new backups.
    pub kdf: KdfParams,
    /// Creation time, seconds since the Unix epoch.
    pub created: i64,
}

impl StoreConfig {
    /// A new configuration with default KDF parameters and a fresh salt.
    pub fn generate() -> Self {
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        StoreConfig {
            format: CONFIG_FORMAT.into(),
            version: CONFIG_VERSION,
            kdf: KdfParams::generate(),
            created,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        envelope::seal(&serde_json::to_vec(self).expect("config serialises"))
    }

    /// Verifies the checksum and parses; the error is the reason it is damaged.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_CONFIG_SIZE {
            return Err("config object is too large".into());
        }
        let record = envelope::open(bytes)?;
        let config: StoreConfig =
            serde_json::from_slice(record).map_err(|e| format!("config is not valid: {e}"))?;
        if config.format != CONFIG_FORMAT || config.version != CONFIG_VERSION {
            return Err(format!(
                "unsupported repository format {} version {}",
                config.format, config.version
            ));
        }
        config.kdf.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let c = StoreConfig::generate();
        let bytes = c.to_bytes();
        assert_eq!(StoreConfig::parse(&bytes).unwrap(), c);
        let mut bad = bytes.clone();
        bad[bytes.len() / 2] ^= 4;
        assert!(StoreConfig::parse(&bad).is_err());
    }
}
