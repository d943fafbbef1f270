//! The adapter's logic against a scripted in-memory transport: request
//! shapes per credential, error texts per failure, retries, size checks of
//! uploads, ranges and listing pages.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Duration;

use guest_sdk::PluginError;
use http_client::transport::{
    Clock, Request, Response, ResponseBody, Transport, TransportError, TransportErrorKind,
};

use crate::client::Client;
use crate::config;
use crate::store::{HostSink, HostSource, Store};

/// Status, headers, body, and whether the body breaks off after its bytes.
type Answer = Result<(u16, Vec<(&'static str, String)>, Vec<u8>, bool), TransportErrorKind>;

/// A request as sent: method, path and query, headers, body length.
type Sent = (String, String, Vec<(String, String)>, usize);

/// Answers requests from a script, records them, and never sleeps.
#[derive(Default)]
struct Fake {
    answers: RefCell<VecDeque<Answer>>,
    requests: RefCell<Vec<Sent>>,
    sleeps: RefCell<u32>,
}

struct Body(Vec<u8>, bool);

impl ResponseBody for Body {
    fn read(&mut self, max: usize) -> Result<Vec<u8>, TransportError> {
        if self.0.is_empty() && self.1 {
            return Err(TransportError::new(
                TransportErrorKind::Interrupted,
                "connection-terminated",
            ));
        }
        let n = max.min(self.0.len());
        Ok(self.0.drain(..n).collect())
    }
}

impl Transport for &Fake {
    type Body = Body;
    fn send(&self, r: &Request<'_>) -> Result<Response<Body>, TransportError> {
        self.requests.borrow_mut().push((
            r.method.as_str().to_owned(),
            r.path_and_query.clone(),
            r.headers.clone(),
            r.body.len(),
        ));
        let answer = self
            .answers
            .borrow_mut()
            .pop_front()
            .expect("a scripted answer");
        match answer {
            Ok((status, headers, body, breaks)) => Ok(Response {
                status,
                headers: headers
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
                body: Body(body, breaks),
            }),
            Err(kind) => Err(TransportError::new(kind, "scripted failure")),
        }
    }
}

impl Clock for &Fake {
    fn now_unix(&self) -> i64 {
        1_796_390_138 // Fri, 04 Dec 2026 13:15:38 GMT
    }
    fn sleep(&self, _: Duration) {
        *self.sleeps.borrow_mut() += 1;
    }
}

impl Fake {
    fn answer(self, status: u16, headers: &[(&'static str, &str)], body: &[u8]) -> Self {
        let headers = headers.iter().map(|(k, v)| (*k, v.to_string())).collect();
        self.answers
            .borrow_mut()
            .push_back(Ok((status, headers, body.to_vec(), false)));
        self
    }
    /// An answer whose body breaks off after `body`.
    fn broken(self, status: u16, headers: &[(&'static str, &str)], body: &[u8]) -> Self {
        let headers = headers.iter().map(|(k, v)| (*k, v.to_string())).collect();
        self.answers
            .borrow_mut()
            .push_back(Ok((status, headers, body.to_vec(), true)));
        self
    }
    fn fail(self, kind: TransportErrorKind) -> Self {
        self.answers.borrow_mut().push_back(Err(kind));
        self
    }
    fn error(self, status: u16, code: &str) -> Self {
        self.answer(
            status,
            &[("x-ms-error-code", code)],
            b"<Error><Message>secret detail</Message></Error>",
        )
    }
}

const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn settings(credential: &str) -> config::Settings {
    config::parse(&format!(
        r#"{{"endpoint":"http://127.0.0.1:10000/devstoreaccount1","account":"devstoreaccount1",
            "container":"backups","prefix":"team/a","credential":{credential}}}"#
    ))
    .unwrap()
}

fn keyed() -> config::Settings {
    settings(&format!(r#"{{"type":"shared-key","key":"{KEY}"}}"#))
}

fn client(fake: &Fake, settings: config::Settings) -> Client<&Fake, &Fake> {
    Client::new(settings, fake, fake)
}

struct Src(RefCell<Vec<u8>>);

impl HostSource for Src {
    fn read(&self, max: u32) -> Result<Vec<u8>, PluginError> {
        let mut data = self.0.borrow_mut();
        let n = (max as usize).min(data.len());
        Ok(data.drain(..n).collect())
    }
}

fn src(data: &[u8]) -> Src {
    Src(RefCell::new(data.to_vec()))
}

#[derive(Default)]
struct Sink(RefCell<Vec<u8>>);

impl HostSink for Sink {
    fn write(&self, data: &[u8]) -> Result<(), PluginError> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(())
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn a_shared_key_put_is_addressed_dated_and_signed() {
    let fake = Fake::default().answer(201, &[], b"");
    let c = client(&fake, keyed());
    Store { client: &c }
        .put("packs/x", 5, &src(b"hello"))
        .unwrap();
    let requests = fake.requests.borrow();
    let (method, path, headers, len) = &requests[0];
    assert_eq!(method, "PUT");
    assert_eq!(path, "/devstoreaccount1/backups/team/a/packs/x");
    assert_eq!(*len, 5);
    assert_eq!(header(headers, "x-ms-blob-type"), Some("BlockBlob"));
    assert_eq!(header(headers, "content-length"), Some("5"));
    assert_eq!(header(headers, "x-ms-version"), Some("2023-11-03"));
    assert_eq!(
        header(headers, "x-ms-date"),
        Some("Fri, 04 Dec 2026 13:15:38 GMT")
    );
    // The string-to-sign of this request, HMAC'd by Python (see shared_key's tests).
    assert_eq!(
        header(headers, "authorization"),
        Some("SharedKey devstoreaccount1:mXI3coc2Nz0zjJaA0C3q80f0iyiixlf1W+78pjgxGrg=")
    );
}

#[test]
fn sas_and_bearer_credentials_travel_as_azure_wants() {
    let fake = Fake::default().answer(200, &[("content-length", "3")], b"");
    let c = client(
        &fake,
        settings(r#"{"type":"sas","token":"sv=2023-11-03&sp=rl&sig=a%2Bb"}"#),
    );
    assert_eq!(Store { client: &c }.stat("x").unwrap().unwrap().size, 3);
    let (_, path, headers, _) = &fake.requests.borrow()[0];
    assert_eq!(
        path,
        "/devstoreaccount1/backups/team/a/x?sv=2023-11-03&sp=rl&sig=a%2Bb"
    );
    assert_eq!(header(headers, "authorization"), None);

    let mut s = keyed();
    s.endpoint = config::Endpoint {
        https: true,
        authority: "acct.blob.core.windows.net".into(),
        base_path: String::new(),
        url: "https://acct.blob.core.windows.net".into(),
    };
    s.credential = config::Credential::Bearer("eyJ0".into());
    let fake = Fake::default().answer(
        200,
        &[],
        b"<EnumerationResults><Blobs><Blob><Name>team/a/p/1</Name><Properties><Content-Length>4</Content-Length></Properties></Blob></Blobs><NextMarker/></EnumerationResults>",
    );
    let c = client(&fake, s);
    let listed = Store { client: &c }.list("p/", None).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].name.as_str(), listed[0].size), ("p/1", 4));
    let (_, path, headers, _) = &fake.requests.borrow()[0];
    assert_eq!(
        path,
        "/backups?restype=container&comp=list&prefix=team%2Fa%2Fp%2F&maxresults=1000"
    );
    assert_eq!(header(headers, "authorization"), Some("Bearer eyJ0"));
}

fn message(e: PluginError) -> String {
    match e {
        PluginError::InvalidConfig(m)
        | PluginError::Io(m)
        | PluginError::NotFound(m)
        | PluginError::Denied(m)
        | PluginError::InvalidData(m)
        | PluginError::Other(m) => m,
    }
}

#[test]
fn failures_become_fixed_operator_texts() {
    let store_error = |fake: Fake| {
        let c = client(&fake, keyed());
        Store { client: &c }.probe().unwrap_err()
    };
    let e = store_error(Fake::default().error(403, "AuthenticationFailed"));
    assert!(matches!(e, PluginError::InvalidConfig(_)));
    assert!(message(e).starts_with(
        "Azure refused the credentials of storage account 'devstoreaccount1' \
         (AuthenticationFailed): check the account key"
    ));
    let e = store_error(Fake::default().error(404, "ContainerNotFound"));
    assert_eq!(
        format!("{e:?}"),
        format!(
            "{:?}",
            PluginError::InvalidConfig(
                "container 'backups' does not exist in storage account 'devstoreaccount1'".into()
            )
        ),
    );
    // A code outside the known list is not repeated, nor the body.
    let e = message(store_error(Fake::default().error(409, "Evil<Code>")));
    assert!(!e.contains("Evil") && !e.contains("secret detail"), "{e}");
    let e = store_error(Fake::default().fail(TransportErrorKind::Denied));
    assert!(
        matches!(&e, PluginError::Denied(m) if m.contains("127.0.0.1:10000")),
        "{e:?}"
    );
    for kind in [
        TransportErrorKind::Unreachable,
        TransportErrorKind::Interrupted,
        TransportErrorKind::Fatal,
    ] {
        let mut fake = Fake::default();
        for _ in 0..6 {
            fake = fake.fail(kind);
        }
        let e = store_error(fake);
        assert_eq!(
            format!("{e:?}"),
            format!("{:?}", PluginError::Io(
                "cannot reach the Azure Blob endpoint http://127.0.0.1:10000/devstoreaccount1: \
                 the connection failed or broke off (the host log has the cause)"
                    .into()
            )),
        );
    }
}

#[test]
fn busy_answers_are_retried_with_backoff_then_given_up() {
    let fake = Fake::default()
        .error(503, "ServerBusy")
        .error(500, "OperationTimedOut")
        .answer(202, &[], b"");
    let c = client(&fake, keyed());
    Store { client: &c }.delete("x").unwrap();
    assert_eq!(*fake.sleeps.borrow(), 2);

    let mut fake = Fake::default();
    for _ in 0..6 {
        fake = fake.error(503, "ServerBusy");
    }
    let c = client(&fake, keyed());
    let e = Store { client: &c }.delete("x").unwrap_err();
    assert!(matches!(&e, PluginError::Io(m) if m.contains("busy") && m.contains("(ServerBusy)")));
    assert_eq!(fake.requests.borrow().len(), 6);

    // Client errors are final; a missing blob is a deleted one, a missing
    // container is not.
    let fake = Fake::default().error(404, "BlobNotFound");
    let c = client(&fake, keyed());
    Store { client: &c }.delete("x").unwrap();
    let fake = Fake::default().error(404, "ContainerNotFound");
    let c = client(&fake, keyed());
    assert!(matches!(
        Store { client: &c }.delete("x"),
        Err(PluginError::InvalidConfig(_))
    ));
    assert_eq!(fake.requests.borrow().len(), 1);
}

#[test]
fn the_source_must_deliver_the_declared_size() {
    for (declared, data) in [
        (5u64, 4usize),
        (5, 6),
        (5 << 20, (5 << 20) - 1),
        (5 << 20, (5 << 20) + 1),
    ] {
        // Past 4 MiB blocks go up before the source runs short or long; no
        // blob is committed.
        let fake = Fake::default().answer(201, &[], b"").answer(201, &[], b"");
        let c = client(&fake, keyed());
        let e = Store { client: &c }
            .put("packs/x", declared, &src(&vec![7u8; data]))
            .unwrap_err();
        assert!(
            matches!(&e, PluginError::InvalidData(m) if m.contains("declared")),
            "{e:?}"
        );
        let commits = fake
            .requests
            .borrow()
            .iter()
            .filter(|(_, path, _, _)| !path.contains("comp=block&"))
            .count();
        assert_eq!(commits, 0, "nothing committed for {declared}/{data}");
    }
}

#[test]
fn large_objects_go_up_in_retried_blocks_committed_in_order() {
    let size = (9 << 20) + 5;
    let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let fake = Fake::default()
        .answer(201, &[], b"")
        // The second block's connection drops, then the service is busy:
        // both are retried with the same block.
        .fail(TransportErrorKind::Interrupted)
        .error(503, "ServerBusy")
        .answer(201, &[], b"")
        .answer(201, &[], b"")
        .error(500, "InternalError")
        .answer(201, &[], b"");
    let c = client(&fake, keyed());
    Store { client: &c }
        .put("packs/x", size as u64, &src(&data))
        .unwrap();
    assert_eq!(*fake.sleeps.borrow(), 3);

    let requests = fake.requests.borrow();
    let sent: Vec<(&str, usize)> = requests
        .iter()
        .map(|(method, path, _, len)| {
            assert_eq!(method, "PUT");
            assert!(
                path.starts_with("/devstoreaccount1/backups/team/a/packs/x?"),
                "{path}"
            );
            (path.split('?').nth(1).unwrap_or(""), *len)
        })
        .collect();
    let ids: Vec<String> = (0..3)
        .map(|i| crate::upload::block_id(0x0123_4567_89ab_cdef, i))
        .collect();
    let block = |i: usize| {
        format!(
            "comp=block&blockid={}",
            http_client::encode::component(&ids[i])
        )
    };
    let expected_blocks = [
        (0, 4 << 20),
        (1, 4 << 20),
        (1, 4 << 20),
        (1, 4 << 20),
        (2, (1 << 20) + 5),
    ];
    for (at, (index, len)) in expected_blocks.iter().enumerate() {
        assert_eq!(sent[at], (block(*index).as_str(), *len), "request {at}");
    }
    let list = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>{}</Latest><Latest>{}</Latest><Latest>{}</Latest></BlockList>"#,
        ids[0], ids[1], ids[2]
    );
    assert_eq!(
        &sent[5..],
        &[
            ("comp=blocklist", list.len()),
            ("comp=blocklist", list.len())
        ]
    );
    // Ids of one blob have one length, as Azure requires.
    assert!(ids.iter().all(|id| id.len() == ids[0].len()));
    // An object up to 4 MiB is one Put Blob.
    let fake = Fake::default().answer(201, &[], b"");
    let c = client(&fake, keyed());
    Store { client: &c }
        .put("packs/y", 4 << 20, &src(&vec![1; 4 << 20]))
        .unwrap();
    let (_, path, headers, len) = &fake.requests.borrow()[0];
    assert!(!path.contains('?'), "{path}");
    assert_eq!(header(headers, "x-ms-blob-type"), Some("BlockBlob"));
    assert_eq!(
        (header(headers, "content-length"), *len),
        (Some("4194304"), 4 << 20)
    );
}

#[test]
fn ranges_are_asked_exactly_and_short_answers_refused() {
    let fake = Fake::default().answer(206, &[("content-length", "3")], b"bcd");
    let c = client(&fake, keyed());
    let sink = Sink::default();
    Store { client: &c }.get("x", 1, Some(3), &sink).unwrap();
    assert_eq!(sink.0.borrow().as_slice(), b"bcd");
    assert_eq!(
        header(&fake.requests.borrow()[0].2, "x-ms-range"),
        Some("bytes=1-3")
    );

    // Azure answers a range running past the end with what there is.
    let fake = Fake::default().answer(206, &[("content-length", "2")], b"cd");
    let c = client(&fake, keyed());
    let e = Store { client: &c }
        .get("x", 2, Some(5), &Sink::default())
        .unwrap_err();
    assert!(matches!(e, PluginError::InvalidData(_)));

    // Past the end: 416, then the size tells whether the end itself was asked.
    let fake =
        Fake::default()
            .error(416, "InvalidRange")
            .answer(200, &[("content-length", "4")], b"");
    let c = client(&fake, keyed());
    Store { client: &c }
        .get("x", 4, None, &Sink::default())
        .unwrap();
    let fake =
        Fake::default()
            .error(416, "InvalidRange")
            .answer(200, &[("content-length", "4")], b"");
    let c = client(&fake, keyed());
    let e = Store { client: &c }
        .get("x", 5, None, &Sink::default())
        .unwrap_err();
    assert!(matches!(e, PluginError::InvalidData(_)));
    let fake = Fake::default().error(404, "BlobNotFound");
    let c = client(&fake, keyed());
    let e = Store { client: &c }
        .get("x", 0, None, &Sink::default())
        .unwrap_err();
    assert_eq!(
        format!("{e:?}"),
        format!(
            "{:?}",
            PluginError::NotFound("no object 'x' in container 'backups'".into())
        ),
    );
}

#[test]
fn listing_skips_to_start_after_through_markers() {
    let page = |names: &[&str], next: &str| {
        let blobs: String = names
            .iter()
            .map(|n| format!("<Blob><Name>team/a/{n}</Name><Properties><Content-Length>1</Content-Length></Properties></Blob>"))
            .collect();
        format!("<EnumerationResults><Blobs>{blobs}</Blobs><NextMarker>{next}</NextMarker></EnumerationResults>")
            .into_bytes()
    };
    let fake = Fake::default()
        .answer(200, &[], &page(&["i/1", "i/2"], "m1"))
        .answer(200, &[], &page(&["i/3", "i/4"], "m 2"))
        .answer(200, &[], &page(&["i/5"], ""));
    let c = client(&fake, keyed());
    let names: Vec<String> = Store { client: &c }
        .list("i/", Some("i/3"))
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(names, ["i/4"]);
    let requests = fake.requests.borrow();
    assert_eq!(requests.len(), 2);
    assert!(requests[1].1.contains("&marker=m1"), "{}", requests[1].1);
}

#[test]
fn bad_names_fail_before_any_request() {
    let fake = Fake::default();
    let c = client(&fake, keyed());
    let store = Store { client: &c };
    for bad in ["", "../x", "A", "a//b"] {
        assert!(matches!(
            store.put(bad, 0, &src(b"")),
            Err(PluginError::InvalidData(_))
        ));
        assert!(matches!(
            store.get(bad, 0, None, &Sink::default()),
            Err(PluginError::InvalidData(_))
        ));
        assert!(matches!(store.stat(bad), Err(PluginError::InvalidData(_))));
        assert!(matches!(
            store.delete(bad),
            Err(PluginError::InvalidData(_))
        ));
    }
    assert!(fake.requests.borrow().is_empty());
}

#[test]
fn a_broken_download_resumes_where_it_stopped_on_the_same_blob() {
    let fake = Fake::default()
        .broken(206, &[("content-length", "6"), ("etag", "\"0x1\"")], b"bcd")
        .answer(206, &[("content-length", "3")], b"efg");
    let c = client(&fake, keyed());
    let sink = Sink::default();
    Store { client: &c }.get("x", 1, Some(6), &sink).unwrap();
    assert_eq!(sink.0.borrow().as_slice(), b"bcdefg");
    let requests = fake.requests.borrow();
    assert_eq!(header(&requests[1].2, "x-ms-range"), Some("bytes=4-6"));
    assert_eq!(header(&requests[1].2, "if-match"), Some("\"0x1\""));

    // Replaced in between: the precondition fails, nothing is mixed.
    let fake = Fake::default()
        .broken(200, &[("content-length", "6"), ("etag", "\"0x1\"")], b"abc")
        .error(412, "ConditionNotMet");
    let c = client(&fake, keyed());
    let sink = Sink::default();
    let e = Store { client: &c }.get("x", 0, None, &sink).unwrap_err();
    assert!(
        matches!(&e, PluginError::Io(m) if m.contains("changed while")),
        "{e:?}"
    );
    assert_eq!(sink.0.borrow().as_slice(), b"abc");
}

#[test]
fn validation_probes_write_read_and_delete_except_on_append_only_stores() {
    let empty_page = b"<EnumerationResults><Blobs/><NextMarker/></EnumerationResults>";
    let probe = b"drhost validate probe\n";
    let methods = |fake: &Fake| -> Vec<String> {
        fake.requests.borrow().iter().map(|r| r.0.clone()).collect()
    };
    let fake = Fake::default()
        .answer(200, &[], empty_page)
        .answer(201, &[], b"")
        .answer(200, &[("content-length", "22")], probe)
        .answer(202, &[], b"");
    let c = client(&fake, keyed());
    Store { client: &c }.probe().unwrap();
    assert_eq!(methods(&fake), ["GET", "PUT", "GET", "DELETE"]);
    assert!(fake.requests.borrow()[0].1.ends_with("&maxresults=1"));
    assert!(
        fake.requests.borrow()[1]
            .1
            .ends_with("/team/a/.drhost-probe")
    );

    let mut append_only = keyed();
    append_only.append_only = true;
    let fake = Fake::default()
        .answer(200, &[], empty_page)
        .error(404, "BlobNotFound")
        .answer(201, &[], b"")
        .answer(200, &[("content-length", "22")], probe);
    let c = client(&fake, append_only.clone());
    Store { client: &c }.probe().unwrap();
    assert_eq!(methods(&fake), ["GET", "HEAD", "PUT", "GET"]);
    let fake =
        Fake::default()
            .answer(200, &[], empty_page)
            .answer(200, &[("content-length", "22")], b"");
    let c = client(&fake, append_only);
    Store { client: &c }.probe().unwrap();
    assert_eq!(methods(&fake), ["GET", "HEAD"]);

    // What is read back must be what was written.
    let fake = Fake::default()
        .answer(200, &[], empty_page)
        .answer(201, &[], b"")
        .answer(200, &[("content-length", "22")], b"something else, 22 by.");
    let c = client(&fake, keyed());
    let e = Store { client: &c }.probe().unwrap_err();
    assert!(
        matches!(&e, PluginError::Io(m) if m.contains("differs")),
        "{e:?}"
    );
}
