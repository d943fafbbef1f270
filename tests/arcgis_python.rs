//! The ArcGIS API for Python (PyPI `arcgis` 2.4.4), unchanged, against the
//! real binary over HTTPS: it connects with both of its logins
//! (`use_gen_token=True`, and its default OAuth2 sign-in), reaches its
//! Kubernetes admin, and drives its recovery manager end to end
//! (`tests/arcgis_python/session.py`): settings, stores (register with a
//! job), backup and its status, backups, validate, restore, and a task with
//! its runs.
//!
//! The client lives in a virtualenv under `target/tools/arcgis-2.4.4`, made
//! once and reused (`.ci/test` makes it before the tests; this test makes it
//! when it is missing and fails when it cannot: it is never skipped).
//! `DRHOST_ARCGIS_PYTHON` names another interpreter that has the package.

use crate::support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::tree::assert_same_tree;
use support::{Deployment, PASSCODE, PASSWORD};

/// The client version the session was written against.
const ARCGIS: &str = "arcgis==2.4.4";
/// Imported by `arcgis` 2.4.4 (`arcgis.raster`) but not among its declared
/// dependencies.
const UNDECLARED_DEPENDENCIES: [&str; 1] = ["six"];

/// The virtualenv's interpreter, made on first use.
fn arcgis_python() -> PathBuf {
    if let Ok(python) = std::env::var("DRHOST_ARCGIS_PYTHON") {
        return PathBuf::from(python);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/arcgis-2.4.4");
    let python = venv.join("bin/python");
    let ready = venv.join(".installed");
    if ready.exists() {
        return python;
    }
    eprintln!(
        "making the ArcGIS API for Python virtualenv in {} (pip install {ARCGIS}; about 30 s)",
        venv.display()
    );
    let started = Instant::now();
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python3 (3.11 or later, with venv) is needed for this test");
    assert!(made.success(), "python3 -m venv {} failed", venv.display());
    let installed = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            ARCGIS,
        ])
        .args(UNDECLARED_DEPENDENCIES)
        .status()
        .expect("pip");
    assert!(installed.success(), "pip install {ARCGIS} failed");
    std::fs::write(&ready, ARCGIS).expect("mark the virtualenv ready");
    eprintln!("virtualenv ready in {:.0?}", started.elapsed());
    python
}

/// The host over HTTPS (the client upgrades every URL to https); returns
/// the child and its base URL.
fn start_https(deployment: &Deployment) -> (Child, String) {
    let config = deployment
        .config_toml("")
        .replace("plain_http = true\n", "");
    let path = deployment.path().join("drhost.toml");
    std::fs::write(&path, config).expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_drhost"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("DRHOST_ADMIN_PASSWORD", PASSWORD)
        .env("RUST_LOG", "info,wasmtime=warn,cranelift=warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn drhost");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut lines = stdout.lines().map_while(Result::ok);
    let base = lines
        .by_ref()
        .find_map(|line| {
            line.strip_prefix("drhost: serving ")
                .and_then(|rest| rest.split(" (").next())
                .map(|url| url.trim_end_matches("/admin").to_string())
        })
        .expect("drhost started");
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(|line| println!("[drhost] {line}")));
    (child, base)
}

#[test]
fn the_arcgis_api_for_python_connects_and_runs_its_recovery_manager() {
    let python = arcgis_python();
    let deployment = Deployment::new();
    deployment.populate();
    let (mut child, base) = start_https(&deployment);
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/arcgis_python/session.py");
    let started = Instant::now();
    let output = Command::new(&python)
        .arg(&script)
        .env("DRHOST_URL", &base)
        .env("DRHOST_USER", "admin")
        .env("DRHOST_PASSWORD", PASSWORD)
        .env("DRHOST_PASSCODE", PASSCODE)
        .env("DRHOST_STORE_ROOT", deployment.state().join("stores"))
        .env("DRHOST_CACERT", deployment.state().join("tls/cert.pem"))
        // No profile, keyring or proxy from the machine it runs on.
        .env("HOME", deployment.path())
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .output()
        .expect("run the session");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        output.status.success() && stdout.contains("SESSION COMPLETED"),
        "the ArcGIS API for Python session failed ({:?}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        started.elapsed() < Duration::from_secs(600),
        "the session took {:?}",
        started.elapsed()
    );
    // Backup.restore() returned True, and the data is back.
    assert_same_tree(&deployment.objects(), &deployment.restored_objects());
    assert_same_tree(&deployment.config_dir(), &deployment.restored_config());
}
