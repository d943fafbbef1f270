//! A stage written in Python (`plugins/examples/python-stage`), built with
//! componentize-py into a component and run by the real binary as a
//! `[[stage]]` given by path: a backup of real files (Debian's documentation
//! of `bash` and `apt`, a 4 MiB file that takes five 1 MiB chunks, a
//! symlink, a hard link, a read-only directory, a socket it must report as
//! left out) through the API, a second backup that takes the unchanged files
//! over unread, then a restore into an empty target that must give back
//! every entry with its content, mode and mtime. A misspelt configuration
//! key then fails a job's validation, naming the key.
//!
//! componentize-py comes from the virtualenv `.ci/test` makes in
//! `target/tools/componentize-py`; `DRHOST_COMPONENTIZE_PY` names another.
//! Without it the test fails: it is never skipped. The component is kept in
//! the test's temporary directory under `target/`, keyed by the hash of what
//! the build reads, so a rerun on unchanged sources skips the build and hits
//! the host's cache of compiled components.

use crate::support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};

use support::tree::{assert_same_tree, write_random};
use support::{Deployment, TestHost, message_codes};

/// Debian documentation directories copied into the source; `bash` and
/// `apt` are on every Debian system (`apt`'s has a subdirectory).
const SYSTEM_DOCS: [&str; 2] = ["/usr/share/doc/bash", "/usr/share/doc/apt"];
/// Over four of the stage's 1 MiB chunks.
const LARGE_FILE_BYTES: u64 = (4 << 20) + 12_345;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The componentize-py program: `DRHOST_COMPONENTIZE_PY`, else the one
/// `.ci/test` installs.
fn componentize_py() -> PathBuf {
    if let Some(program) = std::env::var_os("DRHOST_COMPONENTIZE_PY") {
        return PathBuf::from(program);
    }
    let installed = repository().join("target/tools/componentize-py/bin/componentize-py");
    assert!(
        installed.is_file(),
        "componentize-py is missing: .ci/test installs it (PyPI componentize-py, pinned) into \
         target/tools/componentize-py; or set DRHOST_COMPONENTIZE_PY to the program"
    );
    installed
}

/// The built Python stage, from the component cache when the same
/// componentize-py already built the same sources and WIT: two builds of one
/// source are not byte-identical, so a rebuild would also cost the host's
/// compile again (about 12 s, against about 6 s for the build).
fn python_stage_component() -> PathBuf {
    let program = componentize_py();
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-stage");
    // The host names a plugin given by path after its file stem.
    let wasm = cache.join(build_key(&program)).join("python_stage.wasm");
    if wasm.is_file() {
        println!("reusing {}", wasm.display());
        return wasm;
    }
    std::fs::create_dir_all(wasm.parent().expect("key dir")).expect("component cache dir");
    let scratch = tempfile::tempdir_in(&cache).expect("build dir");
    let built = build_python_stage(&program, scratch.path());
    // A rename: a concurrent or interrupted run never leaves half a component.
    std::fs::rename(&built, &wasm).expect("cache the component");
    wasm
}

/// Names what a build depends on: the componentize-py version, the WIT and
/// the stage's sources (paths and contents).
fn build_key(program: &Path) -> String {
    let version = Command::new(program)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    assert!(
        version.status.success(),
        "{} --version failed",
        program.display()
    );
    let mut hasher = Sha256::new();
    hasher.update(&version.stdout);
    for dir in ["wit", "plugins/examples/python-stage/src"] {
        let root = repository().join(dir);
        for file in source_files(&root) {
            let rel = file.strip_prefix(&root).expect("relative");
            hasher.update(rel.as_os_str().as_encoded_bytes());
            hasher.update([0]);
            let content = std::fs::read(&file).expect("read source");
            hasher.update((content.len() as u64).to_le_bytes());
            hasher.update(&content);
        }
    }
    hex::encode(&hasher.finalize()[..16])
}

/// Regular files below `dir` in a stable order, without `__pycache__`.
fn source_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read source dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                if !path.ends_with("__pycache__") {
                    pending.push(path);
                }
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Builds the Python stage into `out_dir` and returns the component's path.
/// The sources are built from a copy: componentize-py leaves `__pycache__`
/// directories beside the modules it compiles.
fn build_python_stage(program: &Path, out_dir: &Path) -> PathBuf {
    let sources = out_dir.join("src");
    copy_tree(
        &repository().join("plugins/examples/python-stage/src"),
        &sources,
    );
    let wasm = out_dir.join("python_stage.wasm");
    let started = Instant::now();
    let output = Command::new(program)
        .arg("-d")
        .arg(repository().join("wit"))
        .args(["-w", "stage-plugin", "componentize", "app", "-p"])
        .arg(&sources)
        .arg("-o")
        .arg(&wasm)
        .output()
        .expect("run componentize-py");
    assert!(
        output.status.success(),
        "componentize-py failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let size = std::fs::metadata(&wasm).expect("built component").len();
    println!(
        "componentize-py built {} ({size} bytes) in {:?}",
        wasm.display(),
        started.elapsed()
    );
    wasm
}

/// Copies a directory tree with modes and mtimes, symlinks as symlinks.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.expect("dir entry");
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let meta = source.symlink_metadata().expect("lstat");
        if meta.file_type().is_symlink() {
            let link = std::fs::read_link(&source).expect("readlink");
            std::os::unix::fs::symlink(link, &target).expect("symlink");
            continue;
        }
        if meta.is_dir() {
            copy_tree(&source, &target);
        } else {
            std::fs::copy(&source, &target).expect("copy file");
        }
        std::fs::set_permissions(&target, meta.permissions()).expect("chmod");
        set_mtime(&target, meta.modified().expect("mtime"));
    }
}

fn set_mtime(path: &Path, when: SystemTime) {
    std::fs::File::open(path)
        .and_then(|f| f.set_modified(when))
        .unwrap_or_else(|e| panic!("set mtime of {}: {e}", path.display()));
}

/// System documentation plus the entries the stage must handle besides.
fn populate(source: &Path) {
    for docs in SYSTEM_DOCS {
        let docs = Path::new(docs);
        assert!(
            docs.is_dir(),
            "{} is missing: this test copies Debian's documentation of bash and apt",
            docs.display()
        );
        let name = docs.file_name().expect("doc dir name");
        copy_tree(docs, &source.join("doc").join(name));
    }
    let large = source.join("data/large.bin");
    std::fs::create_dir_all(large.parent().expect("parent")).expect("mkdir");
    let mut file = std::fs::File::create(&large).expect("create large file");
    write_random(&mut file, LARGE_FILE_BYTES, 17);
    drop(file);
    std::fs::hard_link(&large, source.join("data/large-again.bin")).expect("hard link");
    std::os::unix::fs::symlink("../doc/bash/copyright", source.join("data/bash-copyright"))
        .expect("symlink");
    std::fs::create_dir_all(source.join("data/empty")).expect("empty dir");
    std::fs::write(source.join("data/sealed-note.txt"), b"kept read-only\n").expect("write");
    std::fs::set_permissions(
        source.join("data/sealed-note.txt"),
        std::fs::Permissions::from_mode(0o440),
    )
    .expect("chmod");
    // Sub-second mtimes must survive to the nanosecond.
    let precise = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
    set_mtime(&large, precise);
    // Read-only last: the restore can only give it back by setting
    // directory modes after creating what is inside.
    std::fs::set_permissions(source.join("data"), std::fs::Permissions::from_mode(0o555))
        .expect("chmod");
    set_mtime(&source.join("data"), precise);
}

/// The stage with `extra` TOML keys.
fn stage_toml(plugin: &Path, source: &Path, target: &Path, extra: &str) -> String {
    format!(
        r#"
[[stage]]
name = "Stage Python example"
plugin = "{}"
source = "{}"
target = "{}"
{extra}
"#,
        plugin.display(),
        source.display(),
        target.display()
    )
}

#[test]
fn python_stage_backs_up_and_restores_real_files_and_refuses_a_bad_configuration() {
    let deployment = Deployment::new();
    let wasm = python_stage_component();
    let source = deployment.path().join("source/python");
    let target = deployment.path().join("restored/python");
    populate(&source);
    std::fs::create_dir_all(&target).expect("empty target");

    let config = format!(
        "{}{}",
        deployment.host_toml(),
        stage_toml(&wasm, &source, &target, "")
    );
    let host = TestHost::start(&deployment, &config);

    // A socket cannot be backed up: the stage reports it as left out.
    let run = source.join("run");
    std::fs::create_dir(&run).expect("run dir");
    let socket = std::os::unix::net::UnixListener::bind(run.join("app.sock")).expect("socket");
    let run_mtime = std::fs::metadata(&run)
        .and_then(|m| m.modified())
        .expect("run mtime");

    let started = Instant::now();
    let job = host.backup_ok("python");
    println!("backup took {:?}", started.elapsed());
    assert_eq!(job["result"]["state"], "completed_with_warnings", "{job}");
    let text = job.to_string();
    assert!(text.contains("1 entries left out: run/app.sock"), "{text}");
    let codes = message_codes(&host.status());
    for code in [9001, 9002] {
        assert!(codes.contains(&code), "message {code} missing: {codes:?}");
    }
    let names: Vec<&str> = job["result"]["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(names.contains(&"Stage Python example"), "{job}");

    // Unchanged files are taken over through `archive-reuse`, unread.
    let again = host.backup_ok("python-again").to_string();
    assert!(again.contains(" unchanged files taken over"), "{again}");
    assert!(!again.contains(" of 0 unchanged files"), "{again}");

    drop(socket);
    std::fs::remove_file(run.join("app.sock")).expect("remove socket");
    set_mtime(&run, run_mtime);

    let started = Instant::now();
    let restore = host.restore_job("python");
    println!("restore took {:?}", started.elapsed());
    assert_eq!(restore["status"], "COMPLETED", "{restore}");
    let status = host.status();
    assert_eq!(status["state"], "success", "{status}");
    let codes = message_codes(&status);
    for code in [9003, 9004] {
        assert!(codes.contains(&code), "message {code} missing: {codes:?}");
    }

    assert_same_tree(&source, &target);
    let root = |dir: &Path| {
        let meta = std::fs::metadata(dir).expect("root");
        (meta.mode() & 0o7777, meta.mtime(), meta.mtime_nsec())
    };
    assert_eq!(root(&source), root(&target), "the stage root's metadata");
    let inode = |name: &str| {
        std::fs::metadata(target.join("data").join(name))
            .expect("restored file")
            .ino()
    };
    assert_eq!(
        inode("large.bin"),
        inode("large-again.bin"),
        "the hard link is one file again"
    );

    // Here rather than in a test of its own: a second test would compile
    // the component in parallel with this one (about 12 s of CPU) on a
    // fresh target directory, as in CI.
    assert_misspelt_key_is_refused(&wasm);
}

/// A stage whose configuration has a misspelt key fails the job's validation,
/// naming the key.
fn assert_misspelt_key_is_refused(wasm: &Path) {
    let deployment = Deployment::new();
    let source = deployment.path().join("source/python");
    std::fs::create_dir_all(&source).expect("source");
    let config = format!(
        "{}{}",
        deployment.host_toml(),
        stage_toml(wasm, &source, &source, r#"config = { rooot = "/data" }"#)
    );
    let host = TestHost::start(&deployment, &config);

    let jobid = host.create_backup("misspelt");
    let job = host.wait_job(&jobid, Duration::from_secs(120));
    assert_eq!(job["status"], "FAILED", "{job}");
    let text = job.to_string();
    assert!(
        text.contains("invalid config") && text.contains("unknown configuration key `rooot`"),
        "{text}"
    );
}
