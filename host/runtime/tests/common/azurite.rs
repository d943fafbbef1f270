//! A throwaway Azurite Blob server (Microsoft's Azure Storage emulator, npm
//! package `azurite`; `.ci/test` installs it) on a free loopback port, data
//! in memory, with the emulator's well-known development account, and a
//! small Shared Key client to make containers and sign SAS tokens.
//!
//! The signing here is written apart from the `store-azure` plugin's, so a
//! bug in one is caught by the other. Self-contained (std, `tempfile`,
//! `hmac`, `sha2`, `base64`), so that other test suites can include it by
//! path.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The emulator's development account and its key (public, documented by
/// Microsoft for Azurite and the old Storage Emulator).
pub const ACCOUNT: &str = "devstoreaccount1";
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The REST version the test requests name.
const VERSION: &str = "2023-11-03";

/// The `azurite-blob` script: `DRHOST_AZURITE_BIN`, else on PATH, else
/// `target/tools/azurite` above this crate (where `.ci/test` installs it).
pub fn binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("DRHOST_AZURITE_BIN") {
        return PathBuf::from(bin);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("azurite-blob"))
        .find(|p| p.is_file());
    let installed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("target/tools/azurite/node_modules/.bin/azurite-blob"))
        .find(|p| p.is_file());
    on_path.or(installed).unwrap_or_else(|| {
        panic!(
            "the Azurite emulator is not installed: run `bash .ci/test` (it runs `npm install \
             --prefix target/tools/azurite azurite@3.35.0`) or set DRHOST_AZURITE_BIN to an \
             `azurite-blob`"
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One Azurite Blob service; stopped when dropped.
pub struct Azurite {
    dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

impl Azurite {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("azurite.log")).expect("log");
        let child = Command::new(binary())
            .args(["--blobHost", "127.0.0.1", "--blobPort"])
            .arg(port.to_string())
            .args([
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
                "--loose",
                "--disableTelemetry",
            ])
            // In memory, but anything it might still write stays in `dir`.
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary().display()));
        let mut azurite = Self { dir, port, child };
        let deadline = Instant::now() + Duration::from_secs(60);
        // Listening is not enough: the first answer says it is serving.
        while azurite
            .try_send("GET", "", &[("comp", "list")], &[])
            .is_err()
        {
            if let Ok(Some(status)) = azurite.child.try_wait() {
                panic!("azurite exited ({status}): {}", azurite.log());
            }
            assert!(
                Instant::now() < deadline,
                "azurite did not answer: {}",
                azurite.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        azurite
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("azurite.log")).unwrap_or_default()
    }

    /// `127.0.0.1:<port>`, the authority a store grants.
    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The account's path-style endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    /// Creates container `name`.
    pub fn create_container(&self, name: &str) {
        let (status, body) = self.send("PUT", name, &[("restype", "container")], &[]);
        assert_eq!(status, 201, "create container {name}: {body}");
    }

    /// A Shared Key request to `/<account>/<path>` with decoded `query`
    /// (names and values plain ASCII); the status and body.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        self.try_send(method, path, query, headers)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}; log: {}", self.log()))
    }

    fn try_send(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> std::io::Result<(u16, String)> {
        let uri_path = format!("/{ACCOUNT}/{path}");
        let date = http_date(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        );
        let mut ms: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        ms.push(("x-ms-date".into(), date));
        ms.push(("x-ms-version".into(), VERSION.into()));
        ms.sort();
        // Verb, eleven standard headers (all empty: no body), the x-ms-*
        // headers, the resource.
        let mut to_sign = format!("{method}\n{}", "\n".repeat(11));
        for (k, v) in &ms {
            to_sign.push_str(&format!("{k}:{v}\n"));
        }
        to_sign.push_str(&format!("/{ACCOUNT}{uri_path}"));
        let mut sorted: Vec<&(&str, &str)> = query.iter().collect();
        sorted.sort();
        for (k, v) in &sorted {
            to_sign.push_str(&format!("\n{k}:{v}"));
        }
        let signature = hmac_base64(&to_sign);
        let query_string: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let target = if query.is_empty() {
            uri_path
        } else {
            format!("{uri_path}?{}", query_string.join("&"))
        };
        let mut request = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\
             Authorization: SharedKey {ACCOUNT}:{signature}\r\n",
            self.authority()
        );
        for (k, v) in &ms {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.write_all(request.as_bytes())?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("no HTTP answer: {answer:?}")))?;
        Ok((status, answer))
    }

    /// An account SAS (version 2023-11-03) for the Blob service, every
    /// resource type, with `permissions` (e.g. `rwdlac`), valid until
    /// `expiry` (`YYYY-MM-DDTHH:MM:SSZ`): the query string, no leading `?`.
    pub fn account_sas(&self, permissions: &str, expiry: &str) -> String {
        // Account, permissions, services, resource types, start, expiry,
        // IP range, protocols, version, encryption scope, and a final newline.
        let to_sign =
            format!("{ACCOUNT}\n{permissions}\nb\nsco\n\n{expiry}\n\nhttps,http\n{VERSION}\n\n");
        format!(
            "sv={VERSION}&ss=b&srt=sco&sp={permissions}&se={}&spr=https%2Chttp&sig={}",
            expiry.replace(':', "%3A"),
            percent(&hmac_base64(&to_sign))
        )
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hmac_base64(message: &str) -> String {
    let key = STANDARD.decode(KEY).expect("the development key is base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(message.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Base64's `+`, `/` and `=` escaped for a query value.
fn percent(s: &str) -> String {
    s.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

/// The HTTP date (`Thu, 01 Jan 1970 00:00:00 GMT`) of `secs`.
fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
