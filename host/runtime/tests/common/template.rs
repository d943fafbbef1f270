//! Builds a plugin template (`plugins/templates/<name>`) the way a third
//! party does: a copy outside the repository, its `guest-sdk` path
//! dependency pointed at this checkout's `plugins/guest-sdk`, built with
//! `cargo --locked` from the template's own lock file.
//!
//! Self-contained (std and `tempfile`), so any test binary can include it:
//! `#[path = "<...>/host/runtime/tests/common/template.rs"] mod template;`.

#![allow(dead_code)] // each test binary uses a different subset

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
/// How the templates name their SDK dependency, relative to their own
/// directory inside the repository.
const IN_TREE_SDK: &str = r#"path = "../../guest-sdk""#;

/// A template copied out of the repository and built.
pub struct TemplateBuild {
    /// The copy (removed when this is dropped).
    pub dir: tempfile::TempDir,
    /// The component, in the shared plugin target directory.
    pub wasm: PathBuf,
}

impl TemplateBuild {
    /// The copy's crate directory.
    pub fn crate_dir(&self) -> PathBuf {
        self.dir.path().join("template")
    }

    /// The component's bytes.
    pub fn wasm_bytes(&self) -> Vec<u8> {
        fs::read(&self.wasm).unwrap_or_else(|e| panic!("reading {}: {e}", self.wasm.display()))
    }

    /// Runs the template's own tests (`cargo test --locked`, native) in the
    /// copy; panics with cargo's output if they fail.
    pub fn run_own_tests(&self) {
        run_cargo(
            &self.crate_dir(),
            &["test", "--locked"],
            "test the template",
        );
    }
}

/// The root of this checkout: the first directory above the calling crate
/// that holds `plugins/guest-sdk`.
pub fn repository_root() -> PathBuf {
    let start = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    start
        .ancestors()
        .find(|dir| dir.join("plugins/guest-sdk/Cargo.toml").is_file())
        .unwrap_or_else(|| panic!("no plugins/guest-sdk above {}", start.display()))
        .to_path_buf()
}

/// Copies `plugins/templates/<template>` to a temporary directory outside
/// the repository, points its `guest-sdk` dependency at this checkout, and
/// builds the component with `cargo build --release --locked --target
/// wasm32-wasip2`. The target directory is `plugins/target`, shared with the
/// plugins' own build, so dependencies are compiled once.
pub fn build_template(template: &str) -> TemplateBuild {
    let repo = repository_root();
    let source = repo.join("plugins/templates").join(template);
    let dir = tempfile::Builder::new()
        .prefix("drhost-template-")
        .tempdir_in(std::env::temp_dir())
        .expect("a temporary directory");
    assert!(
        !dir.path().starts_with(&repo),
        "the copy must lie outside the repository: {}",
        dir.path().display()
    );
    let copy = dir.path().join("template");
    copy_tree(&source, &copy);

    let manifest = copy.join("Cargo.toml");
    let text = fs::read_to_string(&manifest).expect("the template's Cargo.toml");
    assert!(
        text.contains(IN_TREE_SDK),
        "{} no longer depends on guest-sdk by `{IN_TREE_SDK}`",
        source.display()
    );
    let sdk = repo.join("plugins/guest-sdk");
    let text = text.replace(
        IN_TREE_SDK,
        &format!("path = {:?}", sdk.display().to_string()),
    );
    fs::write(&manifest, &text).expect("rewrite Cargo.toml");

    run_cargo(
        &copy,
        &["build", "--release", "--locked", "--target", TARGET],
        "build the template",
    );
    let wasm = target_dir()
        .join(TARGET)
        .join("release")
        .join(format!("{}.wasm", package_name(&text).replace('-', "_")));
    assert!(wasm.is_file(), "cargo built no {}", wasm.display());
    TemplateBuild { dir, wasm }
}

/// Where template builds go: the plugins' target directory.
fn target_dir() -> PathBuf {
    repository_root().join("plugins/target")
}

/// Runs cargo in `dir` with a clean environment (the outer build's flags,
/// wrappers and target settings are for the host, as in
/// `host/server/build.rs`); panics with its output on failure.
fn run_cargo(dir: &Path, args: &[&str], what: &str) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(dir)
        .args(args)
        .arg("--target-dir")
        .arg(target_dir());
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
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("could not run cargo to {what}: {e}"));
    if !output.status.success() {
        panic!(
            "cargo {} in {} failed ({}), so a third party could not {what}. If the \
             {TARGET} target is missing, `.ci/test` installs it (`rustup target add {TARGET}`).\n\
             --- stdout\n{}\n--- stderr\n{}",
            args.join(" "),
            dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
    }
}

/// The `[package]` name of a manifest (the first `name = "..."` line).
fn package_name(manifest: &str) -> String {
    manifest
        .lines()
        .find_map(|line| {
            let value = line.trim().strip_prefix("name")?.trim_start();
            let value = value.strip_prefix('=')?.trim();
            Some(value.trim_matches('"').to_owned())
        })
        .expect("the manifest names its package")
}

/// Copies a source tree, leaving out build output (`target`).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let entry = entry.expect("a directory entry");
        let path = entry.path();
        let dest = to.join(entry.file_name());
        let kind = entry.file_type().expect("a file type");
        if kind.is_dir() {
            if entry.file_name() != "target" {
                copy_tree(&path, &dest);
            }
        } else {
            fs::copy(&path, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", path.display()));
        }
    }
}
