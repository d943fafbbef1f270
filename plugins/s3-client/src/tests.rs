//! The client against an in-memory S3 that checks every signature, with
//! scripted failures: round trips, multipart, pagination, retries, resumed
//! downloads and the error texts.

use std::cell::RefCell;
use std::time::Duration;

use crate::client::{BodySink, Client, ObjectHead};
use crate::error::{Error, ErrorKind};
use crate::fake::{FakeBody, FakeClock, FakeS3, Fault, SECRET, respond};
use crate::settings::{self, Settings};
use crate::transport::{Request, Response, Transport, TransportError, TransportErrorKind};
use crate::upload::Source;

const MIB: usize = 1 << 20;

fn settings(prefix: &str, part_mib: u64, secret: &str) -> Settings {
    let text = format!(
        r#"{{"endpoint": "http://127.0.0.1:3900", "region": "garage", "bucket": "drhost",
            "prefix": "{prefix}", "access_key": "GKtest", "secret_key": "{secret}",
            "part_size_mib": {part_mib}}}"#
    );
    let mut known = settings::KEYS.to_vec();
    known.push("secret_key");
    settings::connection(&settings::object(&text, &known).unwrap(), "secret_key").unwrap()
}

fn client<'a>(s3: &'a FakeS3, clock: &'a FakeClock) -> Client<&'a FakeS3, &'a FakeClock> {
    Client::new(settings("backups/team-a", 5, SECRET), s3, clock)
}

struct Bytes {
    data: Vec<u8>,
    at: usize,
    reads: usize,
}

impl Bytes {
    fn new(data: &[u8]) -> Self {
        Self {
            data: data.to_vec(),
            at: 0,
            reads: 0,
        }
    }
}

impl Source for Bytes {
    fn read(&mut self, max: usize) -> Result<Vec<u8>, Error> {
        assert!(max <= MIB);
        self.reads += 1;
        let end = self.data.len().min(self.at + max.min(300_000));
        let piece = self.data[self.at..end].to_vec();
        self.at = end;
        Ok(piece)
    }
}

#[derive(Default)]
struct Collect {
    head: Option<ObjectHead>,
    data: Vec<u8>,
}

impl BodySink for Collect {
    fn head(&mut self, head: &ObjectHead) -> Result<(), Error> {
        assert!(self.head.is_none(), "head is told once");
        self.head = Some(head.clone());
        Ok(())
    }
    fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        assert!(data.len() <= MIB);
        self.data.extend_from_slice(data);
        Ok(())
    }
}

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn get(
    c: &Client<&FakeS3, &FakeClock>,
    name: &str,
    offset: u64,
    length: Option<u64>,
) -> Result<Vec<u8>, Error> {
    let mut sink = Collect::default();
    c.get_object(name, offset, length, &mut sink)?;
    Ok(sink.data)
}

#[test]
fn small_objects_round_trip_under_the_prefix() {
    let (s3, clock) = (FakeS3::new(), FakeClock::default());
    let c = client(&s3, &clock);
    let meta = vec![
        ("content-type".to_owned(), "text/plain".to_owned()),
        ("x-amz-meta-owner".to_owned(), "team a".to_owned()),
    ];
    for name in ["packs/3f/3fa9", "a & b/ü 日本.txt", "config"] {
        let data = content(3000);
        c.put_object(name, 3000, &mut Bytes::new(&data), &meta)
            .unwrap();
        assert_eq!(
            s3.object(&format!("backups/team-a/{name}")),
            Some(data.clone())
        );
        assert_eq!(get(&c, name, 0, None).unwrap(), data);
        assert_eq!(get(&c, name, 10, Some(5)).unwrap(), &data[10..15]);
        assert_eq!(get(&c, name, 2990, None).unwrap(), &data[2990..]);
        let head = c.head_object(name).unwrap().unwrap();
        assert_eq!(head.size, 3000);
        assert_eq!(head.metadata, meta);
    }
    assert_eq!(c.head_object("missing").unwrap(), None);
    let err = get(&c, "missing", 0, None).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    c.delete_object("config").unwrap();
    c.delete_object("config").unwrap();
    assert_eq!(c.head_object("config").unwrap(), None);
    assert!(s3.log.borrow().iter().all(|l| l.contains("/drhost")));
}

/// Temporary keys: every request carries the session token, signed (the
/// fake server checks every signed header), and `Debug` never shows it.
#[test]
fn temporary_keys_send_their_session_token_signed() {
    let text = format!(
        r#"{{"endpoint": "http://127.0.0.1:3900", "region": "garage", "bucket": "drhost",
            "access_key": "GKtest", "secret_key": "{SECRET}", "session_token": "tok/en+=="}}"#
    );
    let mut known = settings::KEYS.to_vec();
    known.extend(["secret_key", settings::SESSION_TOKEN]);
    let with_token =
        settings::connection(&settings::object(&text, &known).unwrap(), "secret_key").unwrap();
    assert!(!format!("{with_token:?}").contains("tok/en"));
    let (s3, clock) = (FakeS3::new(), FakeClock::default());
    let c = Client::new(with_token, &s3, &clock);
    c.put_object("a", 3, &mut Bytes::new(b"abc"), &[]).unwrap();
    assert_eq!(get(&c, "a", 0, None).unwrap(), b"abc");
    let seen = s3.headers_seen.borrow();
    assert_eq!(seen.len(), 2);
    for headers in seen.iter() {
        let value = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(value("x-amz-security-token").as_deref(), Some("tok/en+=="));
        let auth = value("authorization").unwrap();
        assert!(auth.contains("x-amz-security-token"), "{auth}");
    }
    // A plugin that takes no temporary keys refuses the key.
    let mut plain = settings::KEYS.to_vec();
    plain.push("secret_key");
    let err = settings::object(&text, &plain).unwrap_err();
    assert!(err.contains("session_token"), "{err}");
    assert!(!err.contains("tok/en"), "{err}");
}

#[test]
fn ranges_past_the_end_are_invalid_data() {
    let (s3, clock) = (FakeS3::new(), FakeClock::default());
    let c = client(&s3, &clock);
    c.put_bytes("x", b"0123456789", &[]).unwrap();
    assert_eq!(get(&c, "x", 10, None).unwrap(), b"");
    assert_eq!(get(&c, "x", 3, Some(0)).unwrap(), b"");
    assert_eq!(get(&c, "x", 8, Some(2)).unwrap(), b"89");
    for (offset, length) in [(8, Some(3)), (11, None), (11, Some(0)), (10, Some(1))] {
        let err = get(&c, "x", offset, length).unwrap_err();
        assert_eq!(
            err.kind,
            ErrorKind::InvalidData,
            "{offset} {length:?}: {err}"
        );
        assert!(err.message.contains("exceeds its 10 bytes"), "{err}");
    }
}

#[test]
fn large_objects_go_up_in_parts_one_at_a_time() {
    let (s3, clock) = (FakeS3::new(), FakeClock::default());
    let c = client(&s3, &clock);
    let data = content(12 * MIB + 3);
    let meta = vec![("content-type".to_owned(), "application/x-tar".to_owned())];
    c.put_object("big", data.len() as u64, &mut Bytes::new(&data), &meta)
        .unwrap();
    assert_eq!(s3.object("backups/team-a/big"), Some(data.clone()));
    assert!(s3.largest_body.get() <= 5 * MIB);
    let log = s3.log.borrow().clone();
    let parts = log.iter().filter(|l| l.contains("partNumber=")).count();
    assert_eq!(parts, 3);
    assert!(log[0].starts_with("POST /drhost/backups/team-a/big?uploads="));
    assert!(
        log.last()
            .unwrap()
            .starts_with("POST /drhost/backups/team-a/big?uploadId=upload-1")
    );
    assert!(s3.uploads.borrow().is_empty());
    assert_eq!(c.head_object("big").unwrap().unwrap().metadata, meta);
    // Streamed back in pieces of at most 1 MiB.
    assert_eq!(get(&c, "big", 0, None).unwrap(), data);
}

#[test]
fn a_failed_part_aborts_the_upload() {
    let (s3, clock) = (FakeS3::new(), FakeClock::default());
    let c = client(&s3, &clock);
    let data = content(11 * MIB);
    // Create and part 1 pass; part 2 is refused (and not retried).
    s3.fail_next(Fault::Pass);
    s3.fail_next(Fault::Pass);
    s3.fail_next(Fault::Status(403, "AccessDenied"));
    let err = c
        .put_object("big", data.len() as u64, &mut Bytes::new(&data), &[])
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidConfig);
    assert_eq!(
        err.message,
        "http://127.0.0.1:3900 refused access to bucket drhost (HTTP 403): check the access \
         key, the secret key, their permissions and this machine's clock"
    );
    assert!(s3.uploads.borrow().is_empty(), "aborted");
    let log = s3.log.borrow();
    assert!(
        log.last()
            .unwrap()
            .starts_with("DELETE /drhost/backups/team-a/big?uploadId=upload-1")
    );
    assert_eq!(s3.object("backups/team-a/big"), None);
    assert!(clock.sleeps.borrow().is_empty());
}

#[test]
fn the_source_must_deliver_the_declared_size() {
    let (s3, clock) = (FakeS3::new(), FakeClock::default());
    let c = client(&s3, &clock);
    for (declared, actual) in [
        (100, 99),
        (100, 101),
        (11 * MIB, 11 * MIB - 1),
        (11 * MIB, 11 * MIB + 1),
        (0, 1),
    ] {
        let data = content(actual);
        let err = c
            .put_object("obj", declared as u64, &mut Bytes::new(&data), &[])
            .unwrap_err();
        assert_eq!(
            err.kind,
            ErrorKind::InvalidData,
            "{declared} {actual}: {err}"
        );
        assert!(
            err.message.starts_with("obj: the source delivered"),
            "{err}"
        );
        assert_eq!(s3.object("backups/team-a/obj"), None);
        assert!(s3.uploads.borrow().is_empty());
    }
    c.put_object("empty", 0, &mut Bytes::new(&[]), &[]).unwrap();
    assert_eq!(s3.object("backups/team-a/empty"), Some(Vec::new()));
}

#[test]
fn throttling_and_server_errors_are_retried_with_backoff() {
    let (s3, clock) = (FakeS3::new(), FakeClock::default());
    let c = client(&s3, &clock);
    s3.fail_next(Fault::Status(503, "SlowDown"));
    s3.fail_next(Fault::Status(500, "InternalError"));
    s3.fail_next(Fault::Transport(TransportErrorKind::Interrupted));
    s3.fail_next(Fault::Status(429, ""));
    c.put_bytes("x", b"data", &[]).unwrap();
    assert_eq!(
        *clock.sleeps.borrow(),
        [100, 200, 400, 800].map(Duration::from_millis)
    );
    assert_eq!(s3.log.borrow().len(), 5);
}

#[test]
fn retries_give_up_after_six_tries() {
    let (s3, clock) = (FakeS3::new(), FakeClock::default());
    let c = client(&s3, &clock);
    for _ in 0..6 {
        s3.fail_next(Fault::Status(503, "SlowDown"));
    }
    let err = c.head_object("x").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Io);
    assert_eq!(s3.log.borrow().len(), 6);
    assert_eq!(clock.sleeps.borrow().len(), 5);

    for _ in 0..6 {
        s3.fail_next(Fault::Transport(TransportErrorKind::Unreachable));
    }
    let err = c.list_page("", None, None, 1).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Io);
    assert_eq!(err.message, UNREACHABLE);
}

/// The one text of every transport failure.
const UNREACHABLE: &str = "cannot reach http://127.0.0.1:3900: the connection failed or broke \
                           off (the host log has the cause)";

thread_local! {
    static DIAGNOSTICS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn record_diagnostic(line: &str) {
    DIAGNOSTICS.with(|d| d.borrow_mut().push(line.to_owned()));
}

fn take_diagnostics() -> Vec<String> {
    DIAGNOSTICS.with(|d| std::mem::take(&mut *d.borrow_mut()))
}

/// A server that answers every request with `status` and `body`, as an
/// internal service behind an endpoint registered by someone probing it.
struct Canned(u16, &'static str);

impl Transport for &Canned {
    type Body = FakeBody;
    fn send(&self, _: &Request<'_>) -> Result<Response<FakeBody>, TransportError> {
        Ok(respond(self.0, Vec::new(), self.1.as_bytes().to_vec()))
    }
}

/// A transport failing every request with `kind` and `detail`.
struct Failing(TransportErrorKind, &'static str);

impl Transport for &Failing {
    type Body = FakeBody;
    fn send(&self, _: &Request<'_>) -> Result<Response<FakeBody>, TransportError> {
        Err(TransportError::new(self.0, self.1))
    }
}

#[test]
fn errors_never_repeat_what_the_server_said() {
    let clock = FakeClock::default();
    const CANARY: &str = "internal-canary-7f3a";
    let xml = |code: &str| {
        format!("<Error><Code>{code}{CANARY}</Code><Message>{CANARY} secret db</Message></Error>")
    };
    let answers: Vec<(u16, String)> = [200, 301, 400, 401, 403, 404, 409, 429, 500, 503]
        .into_iter()
        .map(|status| (status, xml("AccessDenied")))
        .chain([
            (200, format!("<html><{CANARY}/></html>")),
            (200, format!("<ListBucketResult><Contents><Key>../{CANARY}</Key><Size>1</Size></Contents></ListBucketResult>")),
            (404, xml("NoSuchBucket")),
            (400, xml("AuthorizationHeaderMalformed")),
        ])
        .collect();
    for (status, body) in answers {
        let body: &'static str = Box::leak(body.into_boxed_str());
        let server = Canned(status, body);
        let c = Client::new(settings("p", 8, SECRET), &server, &clock)
            .with_diagnostics(record_diagnostic);
        take_diagnostics();
        let err = c.probe(true).unwrap_err();
        assert!(
            !err.message.contains(CANARY) && !err.message.contains("secret db"),
            "HTTP {status} {body}: {err}"
        );
        // The operator still learns what the server said, from the log.
        let logged = take_diagnostics().join("\n");
        assert!(!logged.is_empty(), "HTTP {status} {body}: nothing logged");
        if status >= 300 {
            assert!(logged.contains(CANARY), "HTTP {status} {body}: {logged:?}");
        }
    }
}

#[test]
fn every_transport_failure_reads_the_same() {
    let clock = FakeClock::default();
    // Closed port, no route, unknown name, a port speaking something else,
    // TLS on one side only, timeouts: told apart only in the log.
    let causes = [
        (TransportErrorKind::Unreachable, "connection-refused"),
        (TransportErrorKind::Unreachable, "connection-timeout"),
        (TransportErrorKind::Unreachable, "DNS-error (NXDOMAIN)"),
        (TransportErrorKind::Interrupted, "HTTP-protocol-error"),
        (TransportErrorKind::Interrupted, "connection-read-timeout"),
        (TransportErrorKind::Interrupted, "HTTP-response-timeout"),
        (TransportErrorKind::Fatal, "TLS-protocol-error"),
        (TransportErrorKind::Fatal, "TLS-certificate-error"),
    ];
    for (kind, detail) in causes {
        let transport = Failing(kind, detail);
        let c = Client::new(settings("p", 8, SECRET), &transport, &clock)
            .with_diagnostics(record_diagnostic);
        take_diagnostics();
        let err = c.probe(true).unwrap_err();
        assert_eq!(
            (err.kind, err.message.as_str()),
            (ErrorKind::Io, UNREACHABLE)
        );
        assert!(
            take_diagnostics().iter().any(|l| l.contains(detail)),
            "{detail} not logged"
        );
    }
    // A diagnostic is one line, however the server's text is made.
    let server = Canned(
        500,
        "<Error><Code>X</Code><Message>a\nforged: line\r</Message></Error>",
    );
    let c =
        Client::new(settings("p", 8, SECRET), &server, &clock).with_diagnostics(record_diagnostic);
    take_diagnostics();
    c.probe(false).unwrap_err();
    assert!(take_diagnostics().iter().all(|l| !l.contains(['\n', '\r'])));
}

#[test]
fn client_errors_are_not_retried_and_say_what_to_fix() {
    let (s3, clock) = (FakeS3::new(), FakeClock::default());
    let c = client(&s3, &clock);
    let cases: [(Fault, ErrorKind, &str); 5] = [
        (
            Fault::Status(403, "InvalidAccessKeyId"),
            ErrorKind::InvalidConfig,
            "http://127.0.0.1:3900 refused access to bucket drhost (HTTP 403): check the access \
             key, the secret key, their permissions and this machine's clock",
        ),
        (
            Fault::Status(404, "NoSuchBucket"),
            ErrorKind::InvalidConfig,
            "bucket drhost does not exist at http://127.0.0.1:3900",
        ),
        (
            Fault::Status(400, "InvalidArgument"),
            ErrorKind::InvalidConfig,
            "http://127.0.0.1:3900 refused list bucket drhost as a bad request (HTTP 400): check \
             `region`, `path_style` and this machine's clock",
        ),
        (
            Fault::Transport(TransportErrorKind::Denied),
            ErrorKind::Denied,
            "the host refused the connection to 127.0.0.1:3900: it is not granted to this plugin \
             or its address is not allowed (the host log says which)",
        ),
        (
            Fault::Status(301, "PermanentRedirect"),
            ErrorKind::InvalidConfig,
            "http://127.0.0.1:3900 redirected list bucket drhost (HTTP 301): set `region` to the \
             bucket's region, or `path_style`",
        ),
    ];
    for (fault, kind, message) in cases {
        s3.fail_next(fault);
        let err = c.probe(true).unwrap_err();
        assert_eq!((err.kind, err.message.as_str()), (kind, message));
    }
    assert!(clock.sleeps.borrow().is_empty());
    assert_eq!(s3.log.borrow().len(), 5);
}

#[test]
fn a_wrong_secret_is_refused_access_never_quoted() {
    let (s3, clock) = (FakeS3::new(), FakeClock::default());
    let c = Client::new(settings("", 8, "not-the-secret-XYZ"), &s3, &clock);
    let err = c.probe(false).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidConfig);
    assert_eq!(
        err.message,
        "http://127.0.0.1:3900 refused access to bucket drhost (HTTP 403): check the access \
         key, the secret key, their permissions and this machine's clock"
    );
    assert!(!format!("{err:?}").contains("XYZ"));
    // Garage says AccessDenied, "Forbidden: Invalid signature".
    s3.garage_errors();
    assert_eq!(c.probe(false).unwrap_err(), err);
    let other_bucket = {
        let mut s = settings("", 8, SECRET);
        s.bucket = "nope".into();
        Client::new(s, &s3, &clock)
    };
    assert_eq!(
        other_bucket.probe(false).unwrap_err().message,
        "bucket nope does not exist at http://127.0.0.1:3900"
    );
}

#[test]
fn probe_writes_and_removes_a_probe_object() {
    let (s3, clock) = (FakeS3::new(), FakeClock::default());
    let c = client(&s3, &clock);
    c.probe(true).unwrap();
    let log = s3.log.borrow();
    assert_eq!(log.len(), 3);
    assert!(log[0].starts_with("GET /drhost?"), "{}", log[0]);
    assert!(log[0].contains("max-keys=1"));
    assert_eq!(log[1], "PUT /drhost/backups/team-a/.drhost-probe");
    assert_eq!(log[2], "DELETE /drhost/backups/team-a/.drhost-probe");
    assert!(s3.objects.borrow().is_empty());
}

#[test]
fn a_broken_download_resumes_where_it_stopped() {
    let (s3, clock) = (FakeS3::new(), FakeClock::default());
    let c = client(&s3, &clock);
    let data = content(3 * MIB + 5);
    c.put_object("x", data.len() as u64, &mut Bytes::new(&data), &[])
        .unwrap();
    s3.log.borrow_mut().clear();
    s3.fail_next(Fault::BreakBody(MIB + MIB / 2));
    s3.fail_next(Fault::BreakBody(10));
    let mut sink = Collect::default();
    let head = c.get_object("x", 0, None, &mut sink).unwrap();
    assert_eq!(sink.data, data);
    assert_eq!(head.size, data.len() as u64);
    assert_eq!(clock.sleeps.borrow().len(), 2);
    let seen = s3.headers_seen.borrow();
    let n = seen.len();
    let ranges: Vec<_> = seen[n - 3..]
        .iter()
        .map(|h| h.iter().find(|(k, _)| k == "range").map(|(_, v)| v.clone()))
        .collect();
    assert_eq!(
        ranges,
        [
            None,
            Some(format!("bytes={}-", MIB + MIB / 2)),
            Some(format!("bytes={}-", MIB + MIB / 2 + 10))
        ]
    );
    assert!(seen[n - 1].iter().any(|(k, _)| k == "if-match"));
    drop(seen);

    // A ranged read resumes within its range.
    s3.fail_next(Fault::BreakBody(100));
    assert_eq!(get(&c, "x", 7, Some(1000)).unwrap(), &data[7..1007]);
}

#[test]
fn an_object_replaced_mid_download_fails() {
    let (s3, clock) = (FakeS3::new(), FakeClock::default());
    let c = client(&s3, &clock);
    c.put_bytes("x", &content(2 * MIB), &[]).unwrap();
    s3.fail_next(Fault::BreakBody(MIB));
    // Replace the object before the resumed request.
    struct Replace<'a>(&'a FakeS3, Vec<u8>);
    impl BodySink for Replace<'_> {
        fn write(&mut self, data: &[u8]) -> Result<(), Error> {
            self.0
                .objects
                .borrow_mut()
                .insert("backups/team-a/x".into(), (b"new".to_vec(), Vec::new()));
            self.1.extend_from_slice(data);
            Ok(())
        }
    }
    let mut sink = Replace(&s3, Vec::new());
    let err = c.get_object("x", 0, None, &mut sink).unwrap_err();
    assert!(
        err.message.contains("changed while it was being read"),
        "{err}"
    );
}

#[test]
fn listing_pages_strip_the_prefix() {
    let (s3, clock) = (FakeS3::new(), FakeClock::default());
    let c = client(&s3, &clock);
    s3.objects
        .borrow_mut()
        .insert("elsewhere/a".into(), (vec![1], Vec::new()));
    // In byte order, as S3 lists them.
    let names = ["a b", "a&b", "keys/1", "keys/2", "keys/3", "z/", "ü/日本"];
    for name in names {
        c.put_bytes(name, name.as_bytes(), &[]).unwrap();
    }
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let page = c.list_page("", None, token.as_deref(), 3).unwrap();
        assert!(page.objects.len() <= 3);
        all.extend(page.objects.iter().map(|o| (o.key.clone(), o.size)));
        match page.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    let expected: Vec<_> = names
        .iter()
        .map(|n| (n.to_string(), n.len() as u64))
        .collect();
    assert_eq!(all, expected);
    let page = c.list_page("keys/", Some("keys/1"), None, 1000).unwrap();
    let keys: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["keys/2", "keys/3"]);
    assert_eq!(page.objects[0].last_modified, Some((1_704_164_645, 0)));
}

#[test]
fn virtual_host_style_puts_the_bucket_in_the_authority() {
    struct Capture(RefCell<Vec<(String, String)>>);
    impl Transport for &Capture {
        type Body = FakeBody;
        fn send(&self, r: &Request<'_>) -> Result<Response<FakeBody>, TransportError> {
            self.0
                .borrow_mut()
                .push((r.authority.to_owned(), r.path_and_query.clone()));
            Ok(respond(
                200,
                vec![("content-length".into(), "0".into())],
                Vec::new(),
            ))
        }
    }
    let capture = Capture(RefCell::default());
    let clock = FakeClock::default();
    let mut s = settings("p", 8, SECRET);
    s.endpoint = settings::Endpoint::parse("https://s3.example.com").unwrap();
    s.path_style = false;
    let c = Client::new(s, &capture, &clock);
    c.head_object("a b").unwrap();
    assert_eq!(
        capture.0.borrow()[0],
        ("drhost.s3.example.com".to_owned(), "/p/a%20b".to_owned())
    );
}
