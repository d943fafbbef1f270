//! Builds the guest plugins (`plugins/`, a workspace of its own) for
//! `wasm32-wasip2`, so that one `cargo build`/`cargo test` of the host yields a
//! binary with its default plugins embedded and test plugins next to it.
//!
//! The nested cargo runs with a clean environment: the outer build's rustflags,
//! wrappers (clippy, coverage) and target settings are for the host, not for
//! wasm guests.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .ancestors()
        .nth(2)
        .expect("host/server lives two levels below the repository root")
        .to_path_buf();
    let plugins = root.join("plugins");
    let target_dir = plugins.join("target");

    watch_sources(&root.join("wit"));
    watch_sources(&plugins);

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&plugins)
        .args(["build", "--release", "--locked", "--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir);
    for inherited in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        command.env_remove(inherited);
    }
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build the plugins: {e}"));
    if !status.success() {
        panic!(
            "building the plugins in {} failed (see the output above). If the \
             target is missing, run `rustup target add {TARGET}`.",
            plugins.display()
        );
    }
    let out = target_dir.join(TARGET).join("release");
    println!("cargo:rustc-env=DRHOST_PLUGIN_DIR={}", out.display());
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name}"))
}

/// Re-run when any source or manifest of the plugins changes, but not when
/// their build output (`plugins/target`) does: cargo scans a watched directory
/// recursively, so files are watched one by one.
fn watch_sources(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == "target") {
            continue;
        }
        if path.is_dir() {
            watch_sources(&path);
        } else {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}
