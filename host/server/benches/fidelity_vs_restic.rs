//! Fidelity on real data nobody in this project wrote: drhost and restic
//! each back up system directories of this machine in place (read-only),
//! restore them into empty directories, and the restored trees are compared
//! with the originals by type, permission bits, owner, size, mtime to the
//! nanosecond, link target and hard-link group (`tests/support/listing.rs`),
//! plus content. Prints the number of differences of each tool, the first
//! few, and both tools' times.
//!
//! ```sh
//! cargo bench -p drhost --bench fidelity_vs_restic                      # /usr/lib and /usr/share
//! DRHOST_FIDELITY_DIRS=/usr/include:/etc cargo bench -p drhost --bench fidelity_vs_restic
//! ```
//!
//! Results depend on the machine's tree. Run as root so both tools may
//! restore owners; needs `restic` (Debian package). Entries a tool reports
//! as left out (sockets, unreadable files) count as differences too.

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::listing::{Listed, differences, listing};
use support::{Deployment, PASSCODE, TestHost};

/// Differences shown per tool and directory.
const SHOWN: usize = 5;

fn dirs() -> Vec<PathBuf> {
    std::env::var("DRHOST_FIDELITY_DIRS")
        .unwrap_or_else(|_| "/usr/lib:/usr/share".into())
        .split(':')
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// Files whose content differs (or cannot be read on one side).
fn content_differences(
    source: &Path,
    restored: &Path,
    listed: &std::collections::BTreeMap<Vec<u8>, Listed>,
) -> Vec<String> {
    use std::os::unix::ffi::OsStrExt;
    listed
        .iter()
        .filter(|(_, l)| l.kind == "file")
        .filter_map(|(rel, _)| {
            let rel = Path::new(std::ffi::OsStr::from_bytes(rel));
            let same = match (
                std::fs::read(source.join(rel)),
                std::fs::read(restored.join(rel)),
            ) {
                (Ok(a), Ok(b)) => a == b,
                (Err(_), Err(_)) => true,
                _ => false,
            };
            (!same).then(|| format!("{}: content differs", rel.display()))
        })
        .collect()
}

fn compare(tool: &str, source: &Path, restored: &Path) -> usize {
    let expected = listing(source);
    let mut found = differences(&expected, &listing(restored));
    found.extend(content_differences(source, restored, &expected));
    println!(
        "{tool:>7} {}: {} entries, {} differences",
        source.display(),
        expected.len(),
        found.len()
    );
    for line in found.iter().take(SHOWN) {
        println!("          {line}");
    }
    found.len()
}

fn run(command: &mut Command) {
    let status = command.status().expect("run");
    assert!(status.success(), "{command:?} failed");
}

fn restic(repo: &Path, args: &[&str]) {
    run(Command::new("restic")
        .args(["--no-cache", "-q", "-r"])
        .arg(repo)
        .args(args)
        .env("RESTIC_PASSWORD", PASSCODE));
}

fn drhost_side(sources: &[PathBuf], work: &Path) -> (Duration, Duration, usize) {
    let deployment = Deployment::new();
    let mut stages = String::new();
    let mut targets = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let target = work.join(format!("drhost-{i}"));
        std::fs::create_dir_all(&target).expect("target");
        stages.push_str(&format!(
            "[[stage]]\nname = \"Stage {i}\"\nplugin = \"object-store-fs\"\nsource = \"{}\"\ntarget = \"{}\"\nspecial_bits = true\n[stage.limits]\nwall_seconds = 3600\ncpu_seconds = 3600\n",
            source.display(),
            target.display()
        ));
        targets.push(target);
    }
    let host = TestHost::start(
        &deployment,
        &format!("{}\n{stages}", deployment.host_toml()),
    );
    let start = Instant::now();
    let job = host.backup_ok("fidelity");
    let backup = start.elapsed();
    println!("drhost backup: {}", job["result"]["state"]);
    let start = Instant::now();
    let restore = host.restore_job("fidelity");
    let restore_time = start.elapsed();
    assert_eq!(restore["status"], "COMPLETED", "{restore}");
    let diffs = sources
        .iter()
        .zip(&targets)
        .map(|(s, t)| compare("drhost", s, t))
        .sum();
    (backup, restore_time, diffs)
}

fn restic_side(sources: &[PathBuf], work: &Path) -> (Duration, Duration, usize) {
    let repo = work.join("restic-repo");
    restic(&repo, &["init"]);
    let start = Instant::now();
    let mut args = vec!["backup".to_string()];
    args.extend(sources.iter().map(|s| s.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    restic(&repo, &args);
    let backup = start.elapsed();
    let target = work.join("restic-restore");
    let start = Instant::now();
    restic(
        &repo,
        &[
            "restore",
            "latest",
            "--target",
            &target.display().to_string(),
        ],
    );
    let restore = start.elapsed();
    let diffs = sources
        .iter()
        .map(|s| {
            let relative = s.strip_prefix("/").expect("absolute source");
            compare("restic", s, &target.join(relative))
        })
        .sum();
    (backup, restore, diffs)
}

fn main() {
    let sources = dirs();
    let work = tempfile::Builder::new()
        .prefix("drhost-fidelity-")
        .tempdir_in(std::env::var("DRHOST_BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into()))
        .expect("work dir");
    println!("sources: {sources:?}");
    let (d_backup, d_restore, d_diffs) = drhost_side(&sources, work.path());
    let (r_backup, r_restore, r_diffs) = restic_side(&sources, work.path());
    println!(
        "\n| tool | backup | restore | differences |\n|---|---|---|---|\n| drhost | {:.1} s | {:.1} s | {d_diffs} |\n| restic | {:.1} s | {:.1} s | {r_diffs} |",
        d_backup.as_secs_f64(),
        d_restore.as_secs_f64(),
        r_backup.as_secs_f64(),
        r_restore.as_secs_f64()
    );
}
