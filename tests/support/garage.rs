//! A throwaway Garage server (a real S3-compatible distributed object store,
//! from crates.io; `.ci/test` installs it) on loopback ports, one node, with
//! an access key and buckets made through Garage's own CLI, and a small S3
//! client for the tests to fill and read buckets.
//!
//! The client signs with AWS Signature V4 like any S3 tool; it is written
//! here, separately from the plugin's signer, so that a bug in one is caught
//! by the other.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::postgres::free_port;

pub const REGION: &str = "garage";
pub const ACCESS_KEY: &str = "GK0123456789abcdef01234567";
pub const SECRET_KEY: &str = "5ec7e7f00d5ec7e7f00d5ec7e7f00d5ec7e7f00d5ec7e7f00d5ec7e7f00d5ec7";
const RPC_SECRET: &str = "1799bccfd7411eddcf9ebd316bc1f5287ad12a68094e1c6ac6abde7e6feae1ec";

/// The `garage` binary: `DRHOST_GARAGE_BIN`, else `garage` on PATH, else
/// cargo's bin directory, else `target/tools/bin` (where `.ci/test` builds it).
pub fn binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("DRHOST_GARAGE_BIN") {
        return PathBuf::from(bin);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("garage"))
        .find(|p| p.is_file());
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    // Where `.ci/test` builds it when there is none.
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/bin/garage");
    on_path
        .or_else(|| {
            cargo_home
                .map(|h| h.join("bin/garage"))
                .filter(|p| p.is_file())
        })
        .or_else(|| tools.is_file().then_some(tools))
        .unwrap_or_else(|| {
            panic!(
                "the Garage S3 server is not installed: run `bash .ci/test` (it runs `cargo \
                 install garage`) or set DRHOST_GARAGE_BIN"
            )
        })
}

/// One Garage node with a key that may read and write every bucket it makes.
pub struct Garage {
    dir: tempfile::TempDir,
    pub s3_port: u16,
    child: Option<Child>,
}

impl Garage {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (rpc, s3, admin) = (free_port(), free_port(), free_port());
        let config = format!(
            "metadata_dir = \"{meta}\"\ndata_dir = \"{data}\"\ndb_engine = \"lmdb\"\n\
             replication_factor = 1\nrpc_bind_addr = \"127.0.0.1:{rpc}\"\n\
             rpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{RPC_SECRET}\"\n\n\
             [s3_api]\ns3_region = \"{REGION}\"\napi_bind_addr = \"127.0.0.1:{s3}\"\n\
             root_domain = \".s3.garage.localhost\"\n\n\
             [admin]\napi_bind_addr = \"127.0.0.1:{admin}\"\n",
            meta = dir.path().join("meta").display(),
            data = dir.path().join("data").display(),
        );
        std::fs::write(dir.path().join("garage.toml"), config).expect("garage.toml");
        let mut garage = Self {
            dir,
            s3_port: s3,
            child: None,
        };
        garage.spawn();
        let node = garage.cli(&["node", "id", "-q"]);
        let node = node
            .trim()
            .split('@')
            .next()
            .unwrap_or_default()
            .to_string();
        garage.cli(&["layout", "assign", "-z", "dc1", "-c", "10G", &node]);
        garage.cli(&["layout", "apply", "--version", "1"]);
        garage.cli(&[
            "key", "import", "--yes", "-n", "drhost", ACCESS_KEY, SECRET_KEY,
        ]);
        garage
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("server.log")).expect("log");
        let child = Command::new(binary())
            .arg("-c")
            .arg(self.dir.path().join("garage.toml"))
            .arg("server")
            .env("RUST_LOG", "garage=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start garage");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.s3_port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "garage did not listen: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs the garage CLI against this node; panics with its output on failure.
    pub fn cli(&self, args: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let output = Command::new(binary())
                .arg("-c")
                .arg(self.dir.path().join("garage.toml"))
                .args(args)
                .output()
                .expect("run garage");
            if output.status.success() {
                return String::from_utf8_lossy(&output.stdout).into_owned();
            }
            // The RPC layer may still be starting right after a (re)start.
            assert!(
                Instant::now() < deadline,
                "garage {args:?} failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Creates `bucket` and lets the test key read and write it.
    pub fn create_bucket(&self, bucket: &str) {
        self.cli(&["bucket", "create", bucket]);
        self.cli(&[
            "bucket", "allow", "--read", "--write", "--owner", bucket, "--key", "drhost",
        ]);
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// `kill -9` of the server.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same data and ports.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
        self.cli(&["status"]);
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn client(&self, bucket: &str) -> S3Client {
        S3Client {
            endpoint: self.endpoint(),
            host: format!("127.0.0.1:{}", self.s3_port),
            bucket: bucket.to_string(),
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(300))
                .build(),
        }
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Path-style S3 requests to one bucket of the test server.
pub struct S3Client {
    endpoint: String,
    host: String,
    bucket: String,
    agent: ureq::Agent,
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
}

impl S3Client {
    /// PUT of a body whose SHA-256 the request is signed with.
    pub fn put(&self, key: &str, body: &[u8], headers: &[(&str, &str)]) {
        let hash = hex(&Sha256::digest(body));
        let request = self.signed("PUT", key, "", &hash, headers);
        request
            .send_bytes(body)
            .unwrap_or_else(|e| panic!("PUT {key}: {}", describe(e)));
    }

    /// PUT of a large body streamed from `body` (unsigned payload, which S3
    /// allows: the headers are still signed).
    pub fn put_stream(&self, key: &str, length: u64, body: impl Read) {
        let request = self
            .signed("PUT", key, "", "UNSIGNED-PAYLOAD", &[])
            .set("Content-Length", &length.to_string());
        request
            .send(body)
            .unwrap_or_else(|e| panic!("PUT {key}: {}", describe(e)));
    }

    /// The object's body as a reader, and its response headers of interest.
    pub fn get(&self, key: &str) -> (Box<dyn Read + Send + Sync>, Vec<(String, String)>) {
        let response = self
            .signed("GET", key, "", &hex(&Sha256::digest(b"")), &[])
            .call()
            .unwrap_or_else(|e| panic!("GET {key}: {}", describe(e)));
        let headers = response
            .headers_names()
            .into_iter()
            .filter(|n| n.starts_with("x-amz-meta-") || n == "content-type")
            .map(|n| {
                let value = response.header(&n).unwrap_or_default().to_string();
                (n, value)
            })
            .collect();
        (response.into_reader(), headers)
    }

    /// Every object of the bucket, following continuation tokens.
    pub fn list(&self) -> Vec<Listed> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("list-type".to_string(), "2".to_string())];
            if let Some(t) = &token {
                query.push(("continuation-token".into(), t.clone()));
            }
            query.sort();
            let query = query
                .iter()
                .map(|(k, v)| format!("{}={}", uri_encode(k, true), uri_encode(v, true)))
                .collect::<Vec<_>>()
                .join("&");
            let body = self
                .signed("GET", "", &query, &hex(&Sha256::digest(b"")), &[])
                .call()
                .unwrap_or_else(|e| panic!("list: {}", describe(e)))
                .into_string()
                .expect("list body");
            for contents in body.split("<Contents>").skip(1) {
                out.push(Listed {
                    key: unescape(element(contents, "Key")),
                    size: element(contents, "Size").parse().expect("size"),
                });
            }
            if element(&body, "IsTruncated") != "true" {
                return out;
            }
            token = Some(unescape(element(&body, "NextContinuationToken")));
        }
    }

    fn signed(
        &self,
        method: &str,
        key: &str,
        query: &str,
        payload_hash: &str,
        headers: &[(&str, &str)],
    ) -> ureq::Request {
        let path = format!("/{}/{}", self.bucket, uri_encode(key, false));
        let now = now_amz();
        let date = &now[..8];
        let mut signed: Vec<(String, String)> = vec![
            ("host".into(), self.host.clone()),
            ("x-amz-content-sha256".into(), payload_hash.into()),
            ("x-amz-date".into(), now.clone()),
        ];
        signed.extend(
            headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())),
        );
        signed.sort();
        let canonical_headers: String = signed
            .iter()
            .map(|(k, v)| format!("{k}:{}\n", v.trim()))
            .collect();
        let names = signed
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let canonical =
            format!("{method}\n{path}\n{query}\n{canonical_headers}\n{names}\n{payload_hash}");
        let scope = format!("{date}/{REGION}/s3/aws4_request");
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{now}\n{scope}\n{}",
            hex(&Sha256::digest(canonical))
        );
        let mut key = format!("AWS4{SECRET_KEY}").into_bytes();
        for part in [date, REGION, "s3", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        let signature = hex(&hmac(&key, to_sign.as_bytes()));
        let url = if query.is_empty() {
            format!("{}{path}", self.endpoint)
        } else {
            format!("{}{path}?{query}", self.endpoint)
        };
        let mut request = self.agent.request(method, &url).set(
            "Authorization",
            &format!(
                "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders={names}, Signature={signature}"
            ),
        );
        for (k, v) in &signed {
            if k != "host" {
                request = request.set(k, v);
            }
        }
        request
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// S3's URI encoding: unreserved bytes stay, `/` stays in paths.
fn uri_encode(text: &str, encode_slash: bool) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            b'/' if !encode_slash => "/".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `YYYYMMDDTHHMMSSZ` from the system clock.
fn now_amz() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let (year, month, day) = drhost::tasks::cron::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn element<'a>(xml: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    xml.split_once(&open)
        .and_then(|(_, rest)| rest.split_once(&close))
        .map(|(value, _)| value)
        .unwrap_or_default()
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn describe(error: ureq::Error) -> String {
    match error {
        ureq::Error::Status(code, response) => {
            format!("{code}: {}", response.into_string().unwrap_or_default())
        }
        other => other.to_string(),
    }
}
