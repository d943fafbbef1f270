//! The end-to-end tests, in one binary with a module per area (as wasmtime's
//! `crates/wasi/tests/all`): one link instead of one per area, and the
//! areas' tests share the two test threads instead of running one binary
//! after another. Each drives the real `drhost` binary (see `support`).

mod support;

mod adapters;
mod admin_pages;
mod api_contract;
mod arcgis_python;
mod azure;
mod backup_restore;
mod catalog;
mod cli;
mod crash_recovery;
mod disabled_stages;
mod fault_injection;
mod fidelity;
mod hostile_plugins;
mod https;
mod integrity;
mod memory_bound;
mod partial_backups;
mod plugin_builds;
mod plugin_kit;
mod python_plugin;
mod relational_postgres;
mod resume;
mod s3;
mod sandbox_limits;
mod schedules;
mod store_overlap;
