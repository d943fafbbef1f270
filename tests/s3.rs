//! S3 end to end, against a real Garage server started by the test: the
//! `store-s3` adapter as a backup store registered through the API, and the
//! `object-store-s3` stage backing up and restoring a bucket. Everything goes
//! through the host's sandboxed `wasi:http`, granted only the server's
//! authority.

use crate::support;

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::garage::{ACCESS_KEY, Garage, REGION, SECRET_KEY};
use support::{Deployment, TestHost, tree};

const STORE: &str = "s3store";

/// Garage listens on 127.0.0.1, a loopback address, which S3 store
/// endpoints may have only when the host's `store_endpoints` lists it.
const ALLOW_LOOPBACK: &str = "store_endpoints = [\"127.0.0.1\"]\n";

/// The test configuration with `extra`, allowing store endpoints on loopback.
fn s3_config(deployment: &Deployment, extra: &str) -> String {
    format!("{ALLOW_LOOPBACK}{}", deployment.config_toml(extra))
}

fn s3_settings(endpoint: &str, bucket: &str, secret: &str) -> String {
    json!({"type": "S3", "provider": {"name": "AWS", "cloudServices": [{
        "name": "AWS S3", "type": "objectStore", "usage": "BACKUP", "category": "storage",
        "connection": {"bucketName": bucket, "region": REGION, "rootDir": "drhost/backups",
                       "endpoint": endpoint,
                       "credential": {"type": "ACCESS-KEY",
                                      "secret": {"access_key": ACCESS_KEY, "secret_key": secret}}}}]}})
    .to_string()
}

/// Registers the S3 store and makes the test's backups go to it.
fn register(host: &mut TestHost, settings: &str) -> (u16, Value) {
    let answer = host.post(
        "/system/disasterrecovery/stores/register",
        &[
            ("storeName", STORE),
            ("settings", settings),
            ("isDefault", "true"),
        ],
    );
    if answer.0 == 200 {
        host.store = STORE.into();
    }
    answer
}

/// Garage with a `backups` bucket, a populated deployment (`extra` adds to
/// it before the host starts), and a host whose backups go to an S3 store
/// on that bucket.
fn host_on_s3(extra: impl FnOnce(&Deployment)) -> (Garage, Deployment, TestHost) {
    let garage = Garage::start();
    garage.create_bucket("backups");
    let deployment = Deployment::new();
    deployment.populate();
    extra(&deployment);
    let mut host = TestHost::start(&deployment, &s3_config(&deployment, ""));
    let (status, body) = register(
        &mut host,
        &s3_settings(&garage.endpoint(), "backups", SECRET_KEY),
    );
    assert_eq!(status, 200, "{body}");
    (garage, deployment, host)
}

#[test]
fn s3_store_round_trips_the_deployment_and_never_shows_the_secret() {
    let (garage, deployment, host) = host_on_s3(|_| {});
    let (status, store) = host.get(&format!("/system/disasterrecovery/stores/{STORE}"));
    assert_eq!(status, 200, "{store}");
    assert_eq!(store["type"], "S3");
    assert_eq!(store["bucketName"], "backups");
    assert_eq!(store["rootDir"], "drhost/backups");

    host.backup_ok("first");
    assert_eq!(host.backup_names(), vec!["first".to_string()]);
    // The objects are in the bucket, under the prefix, and only ciphertext.
    let objects = garage.client("backups").list();
    assert!(
        objects
            .iter()
            .any(|o| o.key.starts_with("drhost/backups/packs/")),
        "{objects:?}"
    );
    assert!(
        objects.iter().all(|o| o.key.starts_with("drhost/backups/")),
        "{objects:?}"
    );

    let job = host.restore_job("first");
    assert_eq!(job["status"], "COMPLETED", "{job}");
    tree::assert_same_tree(&deployment.objects(), &deployment.restored_objects());
    tree::assert_same_tree(&deployment.config_dir(), &deployment.restored_config());

    let (_, stores) = host.get("/system/disasterrecovery/stores");
    let shown = format!("{stores}{store}{}", host.status());
    assert!(!shown.contains(SECRET_KEY), "secret in a view: {shown}");
    assert!(!host.log().contains(SECRET_KEY), "secret in the host log");
    let registry =
        std::fs::read_to_string(deployment.state().join("stores.json")).expect("registry");
    assert!(
        registry.contains(SECRET_KEY),
        "the registry keeps the credential"
    );
    let mode = std::fs::metadata(deployment.state().join("stores.json"))
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .expect("stat");
    assert_eq!(
        mode, 0o600,
        "the registry holds a secret: private to the host's user"
    );
}

#[test]
fn unusable_s3_stores_are_refused_at_registration() {
    let garage = Garage::start();
    garage.create_bucket("backups");
    let deployment = Deployment::new();
    let mut host = TestHost::start(&deployment, &s3_config(&deployment, ""));
    let dead = format!("http://127.0.0.1:{}", support::postgres::free_port());
    let cases = [
        (s3_settings(&dead, "backups", SECRET_KEY), "cannot reach"),
        (
            s3_settings(&garage.endpoint(), "backups", &"0".repeat(64)),
            "secret key",
        ),
        (
            s3_settings(&garage.endpoint(), "no-such-bucket", SECRET_KEY),
            "does not exist",
        ),
    ];
    for (settings, expected) in cases {
        let (status, body) = register(&mut host, &settings);
        assert_ne!(status, 200, "{body}");
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            message.contains(expected),
            "{message:?} should say {expected:?}"
        );
        assert!(!message.contains(SECRET_KEY), "{message}");
    }
    let (_, stores) = host.get("/system/disasterrecovery/stores");
    assert_eq!(
        stores["backupStores"].as_array().map(Vec::len),
        Some(1),
        "{stores}"
    );
}

#[test]
fn server_killed_mid_upload_fails_the_job_and_the_next_backup_succeeds() {
    // Incompressible data, so the upload takes a while.
    let (mut garage, deployment, host) = host_on_s3(|deployment| {
        let mut file = std::fs::File::create(deployment.objects().join("big.bin")).expect("big");
        tree::write_random(&mut file, 400 << 20, 7);
    });

    let jobid = host.create_backup("interrupted");
    // Wait until packs are arriving, then take the server away.
    let client = garage.client("backups");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !client.list().iter().any(|o| o.key.contains("/packs/")) {
        assert!(Instant::now() < deadline, "no pack was uploaded");
        std::thread::sleep(Duration::from_millis(50));
    }
    garage.kill();
    let job = host.wait_job(&jobid, Duration::from_secs(300));
    assert_eq!(job["status"], "FAILED", "{job}");
    // The reason names the store's endpoint (connection refused or closed,
    // depending on where the upload was).
    let message = job["result"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains(&garage.endpoint()), "{message}");
    assert!(message.contains("store-s3"), "{message}");

    garage.restart();
    host.backup_ok("after");
    assert_eq!(host.backup_names(), vec!["after".to_string()]);
    let job = host.restore_job("after");
    assert_eq!(job["status"], "COMPLETED", "{job}");
    tree::assert_same_tree(&deployment.objects(), &deployment.restored_objects());
}

/// The object-store stage on a bucket of 10,000 small objects and a 1 GiB
/// one: backup into the local store, restore into another bucket, compare
/// every object's bytes and metadata, and the host's peak memory.
#[test]
fn object_store_stage_round_trips_a_bucket() {
    let garage = Garage::start();
    garage.create_bucket("deployment");
    garage.create_bucket("restored");
    let source = garage.client("deployment");
    const SMALL: usize = 10_000;
    let big_size: u64 = std::env::var("DRHOST_S3_BIG_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
        << 20;
    for i in 0..SMALL {
        let key = small_key(i);
        let body = format!("{{\"item\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 300));
        source.put(&key, body.as_bytes(), &[("x-amz-meta-owner", "team-a")]);
    }
    source.put(
        "odd keys/ü & space/a+b=c;d",
        b"odd",
        &[("content-type", "text/plain")],
    );
    source.put_stream(
        "big/blob.bin",
        big_size,
        tree::RandomReader::new(big_size, 11),
    );

    let deployment = Deployment::new();
    let secret_file = deployment.path().join("s3-secret");
    std::fs::write(&secret_file, SECRET_KEY).expect("secret file");
    let stage = format!(
        r#"{host}
[[stage]]
name = "Stage Object store"
plugin = "object-store-s3"
http_connect = ["{endpoint}"]
password_file = "{secret_file}"
config = {{ endpoint = "{endpoint}", region = "{REGION}", bucket = "deployment", access_key = "{ACCESS_KEY}", restore_bucket = "restored" }}
"#,
        host = deployment.host_toml(),
        endpoint = garage.endpoint(),
        secret_file = secret_file.display(),
    );
    let host = TestHost::start(&deployment, &stage);

    let started = Instant::now();
    host.backup_ok("bucket");
    let backup_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let job = host.restore_job("bucket");
    let restore_secs = started.elapsed().as_secs_f64();
    assert_eq!(job["status"], "COMPLETED", "{job}");
    let peak = host.peak_rss_bytes();

    let restored = garage.client("restored");
    let (mut want, mut got) = (source.list(), restored.list());
    want.sort_by(|a, b| a.key.cmp(&b.key));
    got.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(got.len(), SMALL + 2);
    assert_eq!(got, want, "same keys and sizes");
    for key in [
        small_key(0),
        small_key(9998),
        "odd keys/ü & space/a+b=c;d".to_string(),
    ] {
        let (mut a, ha) = source.get(&key);
        let (mut b, hb) = restored.get(&key);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        a.read_to_end(&mut x).expect("read");
        b.read_to_end(&mut y).expect("read");
        assert_eq!(x, y, "{key}");
        assert_eq!(ha, hb, "metadata of {key}");
    }
    assert_eq!(
        digest(&source, "big/blob.bin"),
        digest(&restored, "big/blob.bin")
    );
    println!(
        "object-store-s3: {SMALL} small objects + {} MiB: backup {backup_secs:.1} s, restore \
         {restore_secs:.1} s, host peak RSS {} MiB",
        big_size >> 20,
        peak >> 20
    );
    assert!(peak < 256 << 20, "host peak RSS {} MiB", peak >> 20);
}

fn small_key(i: usize) -> String {
    format!("content/{:02}/item-{i}.json", i % 97)
}

fn digest(client: &support::garage::S3Client, key: &str) -> String {
    let (mut body, _) = client.get(key);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = body.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    format!("{:x}", hasher.finalize())
}

#[test]
fn a_backup_with_a_wrong_passcode_is_refused_on_s3_too() {
    let (_garage, _deployment, host) = host_on_s3(|_| {});
    host.backup_ok("one");
    let (status, body) = host.restore("one", "not-the-passcode");
    assert_ne!(status, 200, "{body}");
    assert!(
        body.to_string().to_lowercase().contains("passcode"),
        "{body}"
    );
}

/// The reference API's S3 form as Esri's scripts send it: no keys, the
/// host's own AWS identity.
fn iam_role_settings(endpoint: &str, bucket: &str) -> String {
    json!({"type": "S3", "provider": {"name": "AWS", "cloudServices": [{
        "name": "AWS S3", "type": "objectStore", "usage": "BACKUP", "category": "storage",
        "connection": {"bucketName": bucket, "region": REGION, "rootDir": "drhost/backups",
                       "endpoint": endpoint, "credential": {"type": "IAM-ROLE"}}}]}})
    .to_string()
}

/// Registers an IAM-ROLE store on `endpoint`, backs the deployment up into
/// it and restores it, and checks that no key or token the host was given
/// (`secrets`) shows in a view, the log or a state file.
fn iam_role_round_trip(
    deployment: &Deployment,
    host: &mut TestHost,
    endpoint: &str,
    secrets: &[&str],
) {
    let (status, body) = register(host, &iam_role_settings(endpoint, "backups"));
    assert_eq!(status, 200, "{body}");
    let (status, store) = host.get(&format!("/system/disasterrecovery/stores/{STORE}"));
    assert_eq!(status, 200, "{store}");
    assert_eq!(
        store["provider"]["cloudServices"][0]["connection"]["credential"],
        json!({"type": "IAM-ROLE"}),
        "{store}"
    );
    for field in drhost::stores::REFERENCE_FIELDS {
        assert!(store.get(field).is_some(), "{field} missing: {store}");
    }
    assert_eq!(
        (&store["bucketName"], &store["region"]),
        (&json!("backups"), &json!(REGION))
    );
    assert!(store["storageConfig"].is_null(), "{store}");
    host.backup_ok("first");
    let job = host.restore_job("first");
    assert_eq!(job["status"], "COMPLETED", "{job}");
    tree::assert_same_tree(&deployment.objects(), &deployment.restored_objects());
    tree::assert_same_tree(&deployment.config_dir(), &deployment.restored_config());

    let (_, stores) = host.get("/system/disasterrecovery/stores");
    let shown = format!("{stores}{store}{}", host.status());
    let state = support::files_under(&deployment.state())
        .iter()
        .filter_map(|f| std::fs::read(deployment.state().join(f)).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .collect::<String>();
    for secret in secrets {
        assert!(!shown.contains(secret), "{secret} in a view: {shown}");
        assert!(!host.log().contains(secret), "{secret} in the host log");
        assert!(!state.contains(secret), "{secret} in a state file");
    }
}

/// Keys from the host's environment (`AWS_ACCESS_KEY_ID`, …), with a
/// session token as temporary keys carry: Garage checks the signature over
/// it like any signed header.
#[test]
fn iam_role_store_round_trips_with_keys_from_the_hosts_environment() {
    let garage = Garage::start();
    garage.create_bucket("backups");
    let deployment = Deployment::new();
    deployment.populate();
    let token = "drhost-test-session-token-0123456789";
    let mut host = TestHost::start_with_env(
        &deployment,
        &s3_config(&deployment, ""),
        &[
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_SESSION_TOKEN", token),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    iam_role_round_trip(
        &deployment,
        &mut host,
        &garage.endpoint(),
        &[SECRET_KEY, token],
    );
    assert!(
        host.log().contains("AWS credentials obtained") && host.log().contains("environment"),
        "{}",
        host.log()
    );
}

/// Keys from a profile of the shared credentials file (`AWS_PROFILE`).
#[test]
fn iam_role_store_round_trips_with_keys_from_a_shared_credentials_profile() {
    let garage = Garage::start();
    garage.create_bucket("backups");
    let deployment = Deployment::new();
    deployment.populate();
    let aws = deployment.path().join("home/.aws");
    std::fs::create_dir_all(&aws).expect(".aws");
    std::fs::write(
        aws.join("credentials"),
        format!(
            "[default]\naws_access_key_id = GKwrong\naws_secret_access_key = wrong\n\n\
             [drhost-backups]\naws_access_key_id = {ACCESS_KEY}\n\
             aws_secret_access_key = {SECRET_KEY}\n"
        ),
    )
    .expect("credentials file");
    let home = deployment.path().join("home");
    let mut host = TestHost::start_with_env(
        &deployment,
        &s3_config(&deployment, ""),
        &[
            ("HOME", home.to_str().expect("utf-8 path")),
            ("AWS_PROFILE", "drhost-backups"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    iam_role_round_trip(&deployment, &mut host, &garage.endpoint(), &[SECRET_KEY]);
    assert!(
        host.log().contains("shared credentials files"),
        "{}",
        host.log()
    );
}

/// Web identity: the host trades a token file for temporary keys with a real
/// STS implementation (moto's), and the store (moto's S3) is used with them.
#[test]
fn iam_role_store_round_trips_with_keys_from_sts_web_identity() {
    let moto = support::moto::Moto::start();
    moto.create_bucket("backups");
    let deployment = Deployment::new();
    // Small enough for single PUTs: moto 5.2 answers CompleteMultipartUpload
    // with a document real S3 (and so the adapter) does not use. Multipart
    // uploads are covered against Garage.
    for (dir, name) in [
        (deployment.objects(), "item.json"),
        (deployment.config_dir(), "site.conf"),
    ] {
        std::fs::write(dir.join(name), format!("{name} of the deployment\n")).expect("write");
    }
    let token_file = deployment.path().join("web-identity-token");
    std::fs::write(&token_file, "eyJhbGciOiJSUzI1NiJ9.drhost-test.signature").expect("token");
    let mut host = TestHost::start_with_env(
        &deployment,
        &s3_config(&deployment, ""),
        &[
            (
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                token_file.to_str().expect("utf-8 path"),
            ),
            (
                "AWS_ROLE_ARN",
                "arn:aws:iam::123456789012:role/drhost-backups",
            ),
            ("AWS_ENDPOINT_URL_STS", &moto.endpoint()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    iam_role_round_trip(
        &deployment,
        &mut host,
        &moto.endpoint(),
        &["eyJhbGciOiJSUzI1NiJ9.drhost-test.signature"],
    );
    assert!(
        host.log().contains("AssumeRoleWithWebIdentity") && host.log().contains("ASIA"),
        "{}",
        host.log()
    );
    assert!(
        moto.keys("backups")
            .iter()
            .any(|k| k.starts_with("drhost/backups/packs/")),
        "{:?}",
        moto.keys("backups")
    );
}

/// The chain's network providers against moto: STS AssumeRoleWithWebIdentity
/// and EC2 instance metadata through IMDSv2's token endpoint.
#[test]
fn the_provider_chain_gets_keys_from_moto_sts_and_instance_metadata() {
    use drhost::aws_credentials::{Env, resolve};
    let moto = support::moto::Moto::start();
    let endpoint = moto.endpoint();
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "a-web-identity-token").expect("token");
    let token_file = token_file.display().to_string();
    let sts = resolve(&Env::from_pairs([
        ("HOME", "/nonexistent"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.as_str()),
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/drhost"),
        ("AWS_ENDPOINT_URL_STS", endpoint.as_str()),
    ]))
    .expect("keys from STS");
    assert!(sts.access_key_id.starts_with("ASIA"), "{sts:?}");
    assert!(sts.session_token.is_some());
    let expires = sts.expiration.expect("temporary keys expire");
    assert!(expires > std::time::SystemTime::now());

    let imds = resolve(&Env::from_pairs([
        ("HOME", "/nonexistent"),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint.as_str()),
    ]))
    .expect("keys from instance metadata");
    assert_eq!(imds.provider, "EC2 instance metadata (IMDSv2)");
    assert!(
        !imds.access_key_id.is_empty() && imds.session_token.is_some(),
        "{imds:?}"
    );
    assert!(imds.expiration.is_some());
}

/// With no credentials anywhere, registration is refused with what each
/// provider looked for, and nothing is registered.
#[test]
fn an_iam_role_store_without_credentials_is_refused_naming_the_providers() {
    let garage = Garage::start();
    garage.create_bucket("backups");
    let deployment = Deployment::new();
    let home = deployment.path().join("empty-home");
    std::fs::create_dir_all(&home).expect("home");
    let mut host = TestHost::start_with_env(
        &deployment,
        &s3_config(&deployment, ""),
        &[
            ("HOME", home.to_str().expect("utf-8 path")),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    let (status, body) = register(&mut host, &iam_role_settings(&garage.endpoint(), "backups"));
    assert_ne!(status, 200, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    for needle in [
        "no AWS credentials were found",
        "AWS_ACCESS_KEY_ID",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        ".aws/credentials",
        "AWS_CONTAINER_CREDENTIALS",
    ] {
        assert!(message.contains(needle), "{message:?} should name {needle}");
    }
    let (_, stores) = host.get("/system/disasterrecovery/stores");
    assert_eq!(
        stores["backupStores"].as_array().map(Vec::len),
        Some(1),
        "{stores}"
    );
}

/// A stand-in for some internal service an S3 endpoint could be pointed at:
/// every connection gets `answer` (raw bytes) once its request head has
/// arrived (or after a second), then is closed. Counts the connections.
struct FakeService {
    port: u16,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl FakeService {
    fn start(answer: Vec<u8>) -> Self {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = connections.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().map_while(Result::ok) {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 64 << 10 {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let _ = stream.write_all(&answer);
            }
        });
        Self { port, connections }
    }

    /// An HTTP/1.1 answer with `status` and `body`.
    fn http(status: u16, headers: &str, body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 {status} Whatever\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The error message of an answer.
fn message_of(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Without `store_endpoints`, endpoints on loopback, link-local or
/// unspecified addresses are refused before anything is sent, whether the
/// address is written out or a name resolves to it, and the answer names
/// no resolved address.
#[test]
fn endpoints_on_local_addresses_are_refused_before_any_request() {
    let service = FakeService::start(FakeService::http(200, "", ""));
    let deployment = Deployment::new();
    let mut host = TestHost::start(&deployment, &deployment.config_toml(""));
    for endpoint in [
        service.endpoint(),
        format!("http://localhost:{}", service.port),
        format!("http://[::ffff:127.0.0.1]:{}", service.port),
        format!("http://0.0.0.0:{}", service.port),
        "http://169.254.169.254".to_string(),
    ] {
        let (status, body) = register(&mut host, &s3_settings(&endpoint, "backups", SECRET_KEY));
        assert_eq!(status, 400, "{endpoint}: {body}");
        let message = message_of(&body);
        assert!(
            message.contains("does not allow") && message.contains("store_endpoints"),
            "{endpoint}: {message}"
        );
        if endpoint.contains("localhost") {
            assert!(!message.contains("127.0.0.1"), "{message}");
        }
    }
    assert_eq!(service.connections(), 0, "a request reached the service");
    let (_, stores) = host.get("/system/disasterrecovery/stores");
    assert_eq!(
        stores["backupStores"].as_array().map(Vec::len),
        Some(1),
        "{stores}"
    );
    assert!(
        host.log().contains("refused a store endpoint"),
        "{}",
        host.log()
    );
}

/// An endpoint the operator allowed, pointed at something that is not the
/// store: the host's answer never repeats what that service said (its XML
/// `Code` and `Message`, its page), only a fixed text for the HTTP status;
/// what the service said goes to the host log.
#[test]
fn store_errors_never_repeat_what_the_endpoint_answered() {
    const CANARY: &str = "internal-service-canary-4711";
    let xml = |code: &str| {
        format!(
            "<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>{CANARY}: \
             db password is hunter2</Message><Resource>/{CANARY}</Resource></Error>"
        )
    };
    let cases = [
        (
            FakeService::http(403, "", &xml("AccessDenied")),
            "refused access",
        ),
        (
            FakeService::http(404, "", &xml("NoSuchBucket")),
            "does not exist",
        ),
        (FakeService::http(400, "", &xml(CANARY)), "bad request"),
        (
            FakeService::http(
                301,
                &format!("Location: http://{CANARY}/\r\n"),
                &xml(CANARY),
            ),
            "redirected",
        ),
        (
            FakeService::http(
                200,
                "Content-Type: text/html\r\n",
                &format!("<html><{CANARY}/></html>"),
            ),
            "unexpected answer",
        ),
        (
            FakeService::http(
                200,
                "",
                &format!(
                    "<ListBucketResult><Contents><Key>{CANARY}</Key><Size>1</Size>\
                     </Contents></ListBucketResult>"
                ),
            ),
            "unexpected answer",
        ),
    ];
    let deployment = Deployment::new();
    let mut host = TestHost::start(&deployment, &s3_config(&deployment, ""));
    for (answer, class) in cases {
        let service = FakeService::start(answer);
        let (status, body) = register(
            &mut host,
            &s3_settings(&service.endpoint(), "backups", SECRET_KEY),
        );
        assert_eq!(status, 400, "{body}");
        let message = message_of(&body);
        assert!(
            service.connections() > 0,
            "the probe never reached the service"
        );
        assert!(
            !message.contains(CANARY) && !message.contains("hunter2"),
            "the answer repeats the service: {message}"
        );
        assert!(message.contains(class), "{message:?} should say {class:?}");
    }
    // The operator can still see what the endpoints said.
    assert!(host.log().contains(CANARY), "{}", host.log());
}

/// A closed port, a port speaking another protocol, a server closing at
/// once, TLS to a plain HTTP server and a name that does not resolve all
/// read the same: the answer does not help map what listens where.
#[test]
fn every_unreachable_endpoint_reads_the_same() {
    let closed = support::postgres::free_port();
    let banner = FakeService::start(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n".to_vec());
    let hangup = FakeService::start(Vec::new());
    let plain = FakeService::start(FakeService::http(200, "", ""));
    let endpoints = [
        format!("http://127.0.0.1:{closed}"),
        banner.endpoint(),
        hangup.endpoint(),
        format!("https://127.0.0.1:{}", plain.port),
        "http://no-such-host.invalid:3900".to_string(),
    ];
    let deployment = Deployment::new();
    let mut host = TestHost::start(&deployment, &s3_config(&deployment, ""));
    let mut messages = Vec::new();
    for endpoint in &endpoints {
        let (status, body) = register(&mut host, &s3_settings(endpoint, "backups", SECRET_KEY));
        assert_eq!(status, 400, "{endpoint}: {body}");
        messages.push(message_of(&body).replace(endpoint.as_str(), "<endpoint>"));
    }
    assert!(
        messages[0].contains("cannot reach <endpoint>"),
        "{}",
        messages[0]
    );
    for (endpoint, message) in endpoints.iter().zip(&messages) {
        assert_eq!(message, &messages[0], "{endpoint} reads differently");
    }
}

/// A viewer sees a store's provider in the shape it was registered in, with
/// every secret masked: those of every cloud service and the provider's
/// own, in JSON and in the HTML pages.
#[test]
fn no_cloud_service_secret_reaches_a_viewer() {
    let garage = Garage::start();
    garage.create_bucket("backups");
    let deployment = Deployment::new();
    let password_file = deployment.path().join("watcher.pass");
    std::fs::write(&password_file, "watcher-password-123\n").expect("password file");
    let users = format!(
        "\n[[user]]\nname = \"watcher\"\nrole = \"viewer\"\npassword_file = \"{}\"\n",
        password_file.display()
    );
    let mut host = TestHost::start(&deployment, &s3_config(&deployment, &users));
    let spare = [
        "spare-secret-key-1",
        "spare-session-token-2",
        "provider-secret-3",
    ];
    let mut settings: Value =
        serde_json::from_str(&s3_settings(&garage.endpoint(), "backups", SECRET_KEY))
            .expect("settings");
    settings["provider"]["credential"] = json!({"type": "ACCESS-KEY", "secret": {"access_key": "AKPROVIDER", "secret_key": spare[2]}});
    if let Some(services) = settings["provider"]["cloudServices"].as_array_mut() {
        services.push(
            json!({"name": "spare", "type": "objectStore", "usage": "BACKUP",
            "category": "storage", "connection": {"bucketName": "spare", "region": REGION,
            "credential": {"type": "ACCESS-KEY", "secret": {
                "access_key": "AKSPARE", "secret_key": spare[0], "sessionToken": spare[1]}}}}),
        );
    }
    let (status, body) = register(&mut host, &settings.to_string());
    assert_eq!(status, 200, "{body}");

    let (code, body) = host.generate_token("watcher", "watcher-password-123");
    assert_eq!(code, 200, "{body}");
    let viewer = body["token"].as_str().expect("token").to_string();
    let mut shown = String::new();
    for path in [
        "/system/disasterrecovery/stores".to_string(),
        format!("/system/disasterrecovery/stores/{STORE}"),
    ] {
        let (code, body) = host.get_with(&path, Some(&viewer));
        assert_eq!(code, 200, "{body}");
        shown.push_str(&body.to_string());
        let html = ureq::get(&format!("{}/admin{path}?f=html", host.base))
            .set("Authorization", &format!("Bearer {viewer}"))
            .call()
            .expect("html page")
            .into_string()
            .expect("html body");
        shown.push_str(&html);
    }
    for secret in spare.iter().chain([&SECRET_KEY]) {
        assert!(
            !shown.contains(secret),
            "{secret} shown to a viewer: {shown}"
        );
    }
    // The shape stays: the spare service and its key id are there.
    assert!(
        shown.contains("AKSPARE") && shown.contains("spare"),
        "{shown}"
    );
}
