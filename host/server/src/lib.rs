//! drhost: a disaster-recovery backup host. It serves an admin API compatible
//! with the Enterprise Administrator API's disaster-recovery resources and runs
//! every backup stage and store adapter as a sandboxed WebAssembly component.

pub mod anchors;
pub mod app;
pub mod aws_credentials;
pub mod azure_store;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod fsutil;
pub mod jobs;
pub mod journal;
pub mod malloc;
pub mod masking;
pub mod orchestrator;
pub mod pipeline;
pub mod plugin_views;
pub mod plugins;
pub mod progress;
pub mod s3_store;
pub mod serve;
pub mod settings;
pub mod storage_config;
pub mod stores;
pub mod tasks;
#[cfg(test)]
mod test_server;
pub mod tls;
pub mod views;
