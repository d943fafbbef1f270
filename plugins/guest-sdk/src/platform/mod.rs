//! The two restore operations std cannot do portably on wasm32-wasip2:
//! creating a symlink (`std::os::wasi::fs::symlink_path` is unstable) and
//! setting a modification time without following a symlink (std only sets
//! times through an open file, which cannot be a symlink).
//!
//! Both work relative to the restore root, opened once as a [`Target`],
//! which also creates restored files so that their content reaches the host
//! in whole writes rather than std's 64 KiB pieces.

#[cfg(target_os = "wasi")]
mod wasi;
#[cfg(target_os = "wasi")]
pub use wasi::{NewFile, Target};

#[cfg(not(target_os = "wasi"))]
mod native;
#[cfg(not(target_os = "wasi"))]
pub use native::{NewFile, Target};
