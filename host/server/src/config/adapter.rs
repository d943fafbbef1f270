//! `[[adapter]]`: the store adapters a host offers, each serving one store
//! `type` of `stores/register`. The built-in `store-fs` (`HOSTED`) and
//! `store-s3` (`S3`) are entries like any other: configured ones with the
//! same name replace them (another build, other limits).

use serde::Deserialize;

use super::LimitsConfig;

/// What a store's adapter is granted: its directory, or its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdapterMedium {
    /// The store's `rootDir` (under `store_roots`), read-write at `/store`.
    Directory,
    /// The authority of the store's endpoint, for `wasi:http`.
    Http,
}

/// One `[[adapter]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterConfig {
    /// Shown in `system/plugins`; recorded with each store it serves.
    pub name: String,
    /// A built-in plugin name (`store-fs`, `store-s3`) or a path to a
    /// `.wasm` component.
    pub plugin: String,
    /// The `type` clients send to `stores/register` for stores this adapter
    /// serves (`[A-Z0-9_]+`).
    pub store_type: String,
    /// What each store grants it. The reference's types imply theirs
    /// (`HOSTED`: directory; `S3`, `AZURE_BLOBSTORE`: http).
    #[serde(default)]
    pub medium: Option<AdapterMedium>,
    /// Defaults to `store_limits`. Left out, `describe` runs at load under
    /// the tight [`drhost_runtime::default_describe_limits`].
    #[serde(default)]
    pub limits: Option<LimitsConfig>,
}

/// Store types whose registration form the reference defines (spec §9).
pub const HOSTED: &str = "HOSTED";
pub const S3: &str = "S3";
pub const AZURE_BLOBSTORE: &str = "AZURE_BLOBSTORE";

impl AdapterConfig {
    /// The built-in adapters, present unless an entry of the same name
    /// replaces them.
    pub fn builtins() -> Vec<AdapterConfig> {
        let builtin = |name: &str, store_type: &str, medium| AdapterConfig {
            name: name.into(),
            plugin: name.into(),
            store_type: store_type.into(),
            medium: Some(medium),
            limits: None,
        };
        vec![
            builtin("store-fs", HOSTED, AdapterMedium::Directory),
            builtin("store-s3", S3, AdapterMedium::Http),
        ]
    }

    /// The limits of `describe` when the plugin is loaded: the entry's own,
    /// else the tight default.
    pub fn describe_limits(&self) -> drhost_runtime::PluginLimits {
        super::describe_limits(self.limits.as_ref())
    }

    /// The medium: configured, or implied by a reference type.
    pub fn medium(&self) -> Option<AdapterMedium> {
        self.medium.or(self.implied_medium())
    }

    /// The medium the reference's store types imply.
    fn implied_medium(&self) -> Option<AdapterMedium> {
        match self.store_type.as_str() {
            HOSTED => Some(AdapterMedium::Directory),
            S3 | AZURE_BLOBSTORE => Some(AdapterMedium::Http),
            _ => None,
        }
    }

    fn check(&self) -> Result<(), String> {
        let owner = format!("adapter {:?}", self.name);
        if !super::is_plain_name(&self.name) {
            return Err(format!(
                "{owner}: an adapter name must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '-'"
            ));
        }
        let type_ok = !self.store_type.is_empty()
            && self.store_type.len() <= 64
            && self
                .store_type
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !type_ok {
            return Err(format!(
                "{owner}: store_type {:?} must be 1 to 64 characters of A-Z, 0-9 and '_'",
                self.store_type
            ));
        }
        match (self.medium, self.implied_medium()) {
            (None, None) => Err(format!(
                "{owner}: set medium = \"directory\" or \"http\" for store type {:?}",
                self.store_type
            )),
            (Some(given), Some(implied)) if given != implied => Err(format!(
                "{owner}: store type {} is served over {implied:?}, not {given:?}",
                self.store_type
            )),
            _ => Ok(()),
        }?;
        if let Some(limits) = &self.limits {
            super::check_limits(&owner, limits)?;
            if limits.max_archive_mib.is_some() {
                return Err(format!("{owner}: max_archive_mib applies to stages only"));
            }
        }
        Ok(())
    }
}

/// The adapters in effect: the built-ins, replaced by configured entries of
/// the same name, then the other configured entries. Each store type is
/// served by exactly one.
pub fn effective(configured: &[AdapterConfig]) -> Result<Vec<AdapterConfig>, String> {
    let mut names = std::collections::HashSet::new();
    for entry in configured {
        entry.check()?;
        if !names.insert(entry.name.as_str()) {
            return Err(format!("adapter name {:?} is used twice", entry.name));
        }
    }
    let mut adapters: Vec<AdapterConfig> = AdapterConfig::builtins()
        .into_iter()
        .filter(|builtin| !names.contains(builtin.name.as_str()))
        .collect();
    adapters.extend(configured.iter().cloned());
    let mut types = std::collections::HashMap::new();
    for entry in &adapters {
        if let Some(other) = types.insert(entry.store_type.as_str(), entry.name.as_str()) {
            return Err(format!(
                "store type {} is served by both adapter {other:?} and adapter {:?}; \
                 each type needs exactly one (rename the built-in by configuring an entry \
                 with its name to replace it)",
                entry.store_type, entry.name
            ));
        }
    }
    Ok(adapters)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HostConfig;
    use std::path::Path;

    fn parse(text: &str) -> Result<HostConfig, String> {
        HostConfig::parse(text, Path::new("t")).map_err(|e| e.to_string())
    }

    #[test]
    fn builtins_are_present_and_replaced_by_name() {
        let config = parse("").expect("valid");
        let adapters = config.adapters().expect("effective");
        let names: Vec<_> = adapters.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["store-fs", "store-s3"]);

        let text = "[[adapter]]\nname='store-s3'\nplugin='/opt/s3.wasm'\nstore_type='S3'\n\
                    limits={memory_mib=64}\n\
                    [[adapter]]\nname='azure'\nplugin='/opt/store_azure.wasm'\nstore_type='AZURE_BLOBSTORE'\n";
        let adapters = parse(text).expect("valid").adapters().expect("effective");
        let s3 = adapters.iter().find(|a| a.store_type == S3).expect("s3");
        assert_eq!(s3.plugin, "/opt/s3.wasm");
        assert_eq!(s3.limits.as_ref().map(|l| l.memory_mib), Some(64));
        let azure = adapters
            .iter()
            .find(|a| a.store_type == AZURE_BLOBSTORE)
            .expect("azure");
        assert_eq!(azure.medium(), Some(AdapterMedium::Http));
    }

    #[test]
    fn bad_entries_are_refused_with_the_reason() {
        for (text, expected) in [
            (
                "[[adapter]]\nname='x'\nplugin='/x.wasm'\nstore_type='MINE'\n",
                "set medium",
            ),
            (
                "[[adapter]]\nname='x'\nplugin='/x.wasm'\nstore_type='HOSTED'\nmedium='http'\n",
                "served over Directory",
            ),
            (
                "[[adapter]]\nname='x'\nplugin='/x.wasm'\nstore_type='HOSTED'\n",
                "served by both",
            ),
            (
                "[[adapter]]\nname='x'\nplugin='/x.wasm'\nstore_type='lower'\nmedium='http'\n",
                "must be 1 to 64 characters of A-Z",
            ),
            (
                "[[adapter]]\nname='x'\nplugin='/x.wasm'\nstore_type='A'\nmedium='http'\n\
                 [[adapter]]\nname='x'\nplugin='/y.wasm'\nstore_type='B'\nmedium='http'\n",
                "used twice",
            ),
            (
                "[[adapter]]\nname='x'\nplugin='/x.wasm'\nstore_type='A'\nmedium='http'\nurl='u'\n",
                "unknown field `url`",
            ),
            (
                "[[adapter]]\nname='x'\nplugin='/x.wasm'\nstore_type='A'\nmedium='http'\n\
                 limits={max_archive_mib=1}\n",
                "stages only",
            ),
        ] {
            let error = parse(text).expect_err(text);
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
