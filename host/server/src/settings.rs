//! DR settings (`<state>/settings.json`): the job timeout, whether backups
//! interrupted by a host stop resume, and the staging volume description the
//! reference API carries.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use drhost_api::model::DrSettings;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::now_ms;
use crate::fsutil::write_atomic;
use crate::storage_config::check_volume_config;

/// The reference API's default: jobs longer than two hours are cancelled.
const DEFAULT_TIMEOUT_SECONDS: u64 = 7200;
const MAX_TIMEOUT_SECONDS: u64 = 30 * 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot save settings {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    timeout_in_seconds: u64,
    /// Kept as given: drhost stages data through its own pipeline, not a volume.
    staging_volume_config: Option<Value>,
    /// Resume a backup that a host stop interrupted (from its job journal)
    /// instead of marking it failed. Absent in files written before it existed.
    #[serde(default = "resume_by_default")]
    resume_interrupted_backups: bool,
    updated: i64,
}

fn resume_by_default() -> bool {
    true
}

pub struct Settings {
    path: PathBuf,
    stored: Mutex<Stored>,
}

impl Settings {
    pub fn open(state_dir: &Path) -> Result<Self, SettingsError> {
        let path = state_dir.join("settings.json");
        let stored = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                SettingsError::Invalid(format!("{} is invalid: {e}", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Stored {
                timeout_in_seconds: DEFAULT_TIMEOUT_SECONDS,
                staging_volume_config: None,
                resume_interrupted_backups: true,
                updated: now_ms(),
            },
            Err(source) => return Err(SettingsError::Io { path, source }),
        };
        Ok(Self {
            path,
            stored: Mutex::new(stored),
        })
    }

    fn snapshot(&self) -> Stored {
        self.stored
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn job_timeout(&self) -> Duration {
        Duration::from_secs(self.snapshot().timeout_in_seconds)
    }

    pub fn resume_interrupted_backups(&self) -> bool {
        self.snapshot().resume_interrupted_backups
    }

    /// The settings object of spec §5.2 (`stagingVolumeConfig` omitted until
    /// set), plus drhost's `resumeInterruptedBackups`.
    pub fn view(&self) -> DrSettings {
        let stored = self.snapshot();
        let staging_volume_config = stored.staging_volume_config.map(|mut staging| {
            crate::masking::mask_secrets(&mut staging);
            if let Some(object) = staging.as_object_mut() {
                object.insert("g".into(), json!(stored.updated));
            }
            staging
        });
        DrSettings {
            timeout_in_seconds: stored.timeout_in_seconds,
            resume_interrupted_backups: stored.resume_interrupted_backups,
            staging_volume_config,
        }
    }

    /// Applies the `settings` JSON of `settings/update`; unknown keys are refused.
    pub fn update(&self, settings: &Value) -> Result<(), SettingsError> {
        let object = settings
            .as_object()
            .ok_or_else(|| SettingsError::Invalid("settings must be a JSON object".into()))?;
        let mut next = self.snapshot();
        for (key, value) in object {
            match key.as_str() {
                "timeoutInSeconds" => {
                    next.timeout_in_seconds = value
                        .as_u64()
                        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
                        .filter(|t| (1..=MAX_TIMEOUT_SECONDS).contains(t))
                        .ok_or_else(|| {
                            SettingsError::Invalid(format!(
                                "timeoutInSeconds must be a whole number of seconds from 1 to {MAX_TIMEOUT_SECONDS}"
                            ))
                        })?;
                }
                "resumeInterruptedBackups" => {
                    next.resume_interrupted_backups = match value {
                        Value::Bool(b) => *b,
                        Value::String(s) if s == "true" => true,
                        Value::String(s) if s == "false" => false,
                        _ => {
                            return Err(SettingsError::Invalid(
                                "resumeInterruptedBackups must be true or false".into(),
                            ));
                        }
                    };
                }
                "stagingVolumeConfig" => {
                    let mut config = value.clone();
                    check_volume_config("stagingVolumeConfig", &mut config)
                        .map_err(SettingsError::Invalid)?;
                    next.staging_volume_config = Some(config);
                }
                other => {
                    return Err(SettingsError::Invalid(format!(
                        "unknown setting '{}' (known: timeoutInSeconds, \
                         resumeInterruptedBackups, stagingVolumeConfig)",
                        other.chars().take(64).collect::<String>()
                    )));
                }
            }
        }
        next.updated = now_ms();
        let bytes =
            serde_json::to_vec_pretty(&next).map_err(|e| SettingsError::Invalid(e.to_string()))?;
        write_atomic(&self.path, &bytes).map_err(|source| SettingsError::Io {
            path: self.path.clone(),
            source,
        })?;
        *self.stored.lock().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_updates_persist_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = Settings::open(dir.path()).expect("open");
        assert_eq!(settings.job_timeout(), Duration::from_secs(7200));
        assert!(settings.resume_interrupted_backups());
        assert!(settings.view().staging_volume_config.is_none());
        settings
            .update(
                &json!({"timeoutInSeconds": 60, "stagingVolumeConfig": {"size": "64Gi"},
                            "resumeInterruptedBackups": false}),
            )
            .expect("update");
        let again = Settings::open(dir.path()).expect("reopen");
        assert_eq!(again.job_timeout(), Duration::from_secs(60));
        assert!(!again.resume_interrupted_backups());
        assert!(!again.view().resume_interrupted_backups);
        let staging = again.view().staging_volume_config.expect("staging");
        assert_eq!(staging["size"], "64Gi");
        for bad in [
            json!({"timeoutInSeconds": 0}),
            json!({"timeoutInSeconds": "x"}),
            json!({"nope": 1}),
            json!({"resumeInterruptedBackups": "maybe"}),
            json!({"stagingVolumeConfig": {"provisioningType": "ONDEMAND"}}),
            json!([1]),
        ] {
            assert!(again.update(&bad).is_err(), "{bad}");
        }
    }
}
