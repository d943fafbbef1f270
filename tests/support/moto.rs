//! A throwaway moto server (PyPI's `moto[server]`, a real implementation of
//! AWS APIs; `.ci/test` installs it): STS `AssumeRoleWithWebIdentity`, EC2
//! instance metadata with IMDSv2's token endpoint, and S3, on one loopback
//! port.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::postgres::free_port;

/// The `moto_server` program: `DRHOST_MOTO_SERVER_BIN`, else on PATH, else
/// `target/tools/moto/bin` (where `.ci/test` installs it).
pub fn binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("DRHOST_MOTO_SERVER_BIN") {
        return PathBuf::from(bin);
    }
    let tools =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/moto/bin/moto_server");
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("moto_server"))
        .find(|p| p.is_file())
        .or_else(|| tools.is_file().then_some(tools))
        .unwrap_or_else(|| {
            panic!(
                "moto_server is not installed: run `bash .ci/test` (it installs moto[server] \
                 from PyPI into target/tools/moto) or set DRHOST_MOTO_SERVER_BIN"
            )
        })
}

pub struct Moto {
    pub port: u16,
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Moto {
    pub fn start() -> Self {
        let port = free_port();
        let log = tempfile::NamedTempFile::new().expect("log file");
        let child = Command::new(binary())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("log"))
            .spawn()
            .expect("start moto_server");
        let mut moto = Self { port, child, log };
        // Ready once it answers HTTP, not once its port accepts: a CI run
        // saw the first request after a successful connect reset by the
        // peer while the server was still starting.
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Err(ureq::Error::Transport(e)) = ureq::get(&moto.endpoint()).call() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited ({status}): {}", moto.log());
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer: {e}: {}",
                moto.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates an S3 bucket (moto accepts unsigned requests).
    pub fn create_bucket(&self, bucket: &str) {
        ureq::put(&format!("{}/{bucket}", self.endpoint()))
            .call()
            .unwrap_or_else(|e| panic!("create bucket {bucket} on moto: {e}"));
    }

    /// The keys of every object in `bucket`.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let listing = ureq::get(&format!("{}/{bucket}?list-type=2", self.endpoint()))
            .call()
            .expect("list")
            .into_string()
            .expect("listing");
        listing
            .split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
