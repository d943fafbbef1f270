//! Creating a symlink, which std cannot do on wasm32-wasip2
//! (`std::os::wasi::fs::symlink_path` is unstable), relative to the restore
//! root opened once as a [`Target`].

#[cfg(target_os = "wasi")]
mod wasi;
#[cfg(target_os = "wasi")]
pub use wasi::Target;

#[cfg(not(target_os = "wasi"))]
mod native;
#[cfg(not(target_os = "wasi"))]
pub use native::Target;
