//! An in-memory, one-bucket S3 server that checks every signature, with
//! scripted failures, and a clock that only records waits: the client's
//! tests and the S3 plugins' tests run against them natively.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::sigv4::{self, Canonical, Credentials};
use crate::transport::{
    Clock, Method, Request, Response, ResponseBody, Transport, TransportError, TransportErrorKind,
};
use crate::{encode, xml};

/// The secret key the fake server signs with (the AWS documentation's).
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// The access key and region requests must be signed with.
pub const ACCESS_KEY: &str = "GKtest";
pub const REGION: &str = "garage";
/// The only bucket the fake server has.
pub const BUCKET: &str = "drhost";

pub enum Fault {
    Status(u16, &'static str),
    Transport(TransportErrorKind),
    /// Serve the response but break its body off after this many bytes.
    BreakBody(usize),
    /// Serve this request normally (to script a later one).
    Pass,
}

/// An object's bytes and metadata headers.
pub type Stored = (Vec<u8>, Vec<(String, String)>);

#[derive(Default)]
pub struct Upload {
    pub key: String,
    pub meta: Vec<(String, String)>,
    pub parts: BTreeMap<u32, Vec<u8>>,
}

/// A one-bucket S3 server.
pub struct FakeS3 {
    pub bucket: &'static str,
    pub secret: &'static str,
    pub objects: RefCell<BTreeMap<String, Stored>>,
    pub uploads: RefCell<BTreeMap<String, Upload>>,
    pub faults: RefCell<VecDeque<Fault>>,
    /// `METHOD path?query` of every request, in order.
    pub log: RefCell<Vec<String>>,
    pub headers_seen: RefCell<Vec<Vec<(String, String)>>>,
    pub largest_body: Cell<usize>,
    pub next_id: Cell<u32>,
    pub garage: Cell<bool>,
}

impl Default for FakeS3 {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeS3 {
    pub fn new() -> Self {
        Self {
            bucket: BUCKET,
            secret: SECRET,
            objects: RefCell::default(),
            uploads: RefCell::default(),
            faults: RefCell::default(),
            log: RefCell::default(),
            headers_seen: RefCell::default(),
            largest_body: Cell::new(0),
            next_id: Cell::new(1),
            garage: Cell::new(false),
        }
    }

    /// The error answers of Garage rather than AWS S3.
    pub fn garage_errors(&self) {
        self.garage.set(true);
    }

    pub fn fail_next(&self, fault: Fault) {
        self.faults.borrow_mut().push_back(fault);
    }

    pub fn object(&self, key: &str) -> Option<Vec<u8>> {
        self.objects.borrow().get(key).map(|(d, _)| d.clone())
    }
}

pub struct FakeBody {
    pub data: Vec<u8>,
    pub at: usize,
    pub break_at: Option<usize>,
}

impl ResponseBody for FakeBody {
    fn read(&mut self, max: usize) -> Result<Vec<u8>, TransportError> {
        if self.break_at == Some(self.at) {
            return Err(TransportError::new(
                TransportErrorKind::Interrupted,
                "connection-terminated",
            ));
        }
        // Small pieces, as a network delivers them.
        let mut end = self.data.len().min(self.at + max.min(100_000));
        if let Some(b) = self.break_at {
            end = end.min(b);
        }
        let piece = self.data[self.at..end].to_vec();
        self.at = end;
        Ok(piece)
    }
}

pub fn respond(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Response<FakeBody> {
    Response {
        status,
        headers,
        body: FakeBody {
            data: body,
            at: 0,
            break_at: None,
        },
    }
}

pub fn error(status: u16, code: &str) -> Response<FakeBody> {
    let body = format!("<Error><Code>{code}</Code><Message>fake {code}</Message></Error>");
    respond(status, Vec::new(), body.into_bytes())
}

fn header<'a>(request: &'a Request<'_>, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl Transport for &FakeS3 {
    type Body = FakeBody;

    fn send(&self, request: &Request<'_>) -> Result<Response<FakeBody>, TransportError> {
        self.log.borrow_mut().push(format!(
            "{} {}",
            request.method.as_str(),
            request.path_and_query
        ));
        self.headers_seen.borrow_mut().push(request.headers.clone());
        self.largest_body
            .set(self.largest_body.get().max(request.body.len()));
        let mut break_at = None;
        match self.faults.borrow_mut().pop_front() {
            Some(Fault::Status(status, code)) => return Ok(error(status, code)),
            Some(Fault::Transport(kind)) => {
                return Err(TransportError::new(kind, "scripted failure"));
            }
            Some(Fault::BreakBody(at)) => break_at = Some(at),
            Some(Fault::Pass) | None => {}
        }
        assert!(header(request, "host").is_none(), "host is the transport's");
        let (path, query) = request
            .path_and_query
            .split_once('?')
            .unwrap_or((&request.path_and_query, ""));
        let query: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                (encode::decode(k).unwrap(), encode::decode(v).unwrap())
            })
            .collect();
        if !self.signature_ok(request, path, &query) {
            if self.garage.get() {
                let body = "<Error><Code>AccessDenied</Code><Message>Forbidden: Invalid signature</Message></Error>";
                return Ok(respond(403, Vec::new(), body.as_bytes().to_vec()));
            }
            return Ok(error(403, "SignatureDoesNotMatch"));
        }
        let q = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let rest = path.strip_prefix('/').unwrap();
        let (bucket, key) = match rest.split_once('/') {
            Some((b, k)) => (b, Some(encode::decode(k).unwrap())),
            None => (rest, None),
        };
        if bucket != self.bucket {
            return Ok(error(404, "NoSuchBucket"));
        }
        let mut response = match (request.method, key) {
            (Method::Get, None) => self.list(&q),
            (Method::Get, Some(key)) => {
                self.get(&key, header(request, "range"), header(request, "if-match"))
            }
            (Method::Head, Some(key)) => match self.objects.borrow().get(&key) {
                Some((data, meta)) => {
                    let mut h = meta.clone();
                    h.push(("content-length".into(), data.len().to_string()));
                    h.push(("etag".into(), etag(data)));
                    respond(200, h, Vec::new())
                }
                None => respond(404, Vec::new(), Vec::new()),
            },
            (Method::Put, Some(key)) => match (q("partNumber"), q("uploadId")) {
                (Some(n), Some(id)) => match self.uploads.borrow_mut().get_mut(&id) {
                    Some(upload) => {
                        upload
                            .parts
                            .insert(n.parse().unwrap(), request.body.to_vec());
                        respond(200, vec![("etag".into(), etag(request.body))], Vec::new())
                    }
                    None => error(404, "NoSuchUpload"),
                },
                _ => {
                    let meta = metadata(request);
                    self.objects
                        .borrow_mut()
                        .insert(key, (request.body.to_vec(), meta));
                    respond(200, vec![("etag".into(), etag(request.body))], Vec::new())
                }
            },
            (Method::Post, Some(key)) if q("uploads").is_some() => {
                let id = format!("upload-{}", self.next_id.get());
                self.next_id.set(self.next_id.get() + 1);
                self.uploads.borrow_mut().insert(
                    id.clone(),
                    Upload {
                        key,
                        meta: metadata(request),
                        ..Upload::default()
                    },
                );
                let doc = format!(
                    "<InitiateMultipartUploadResult><UploadId>{id}</UploadId></InitiateMultipartUploadResult>"
                );
                respond(200, Vec::new(), doc.into_bytes())
            }
            (Method::Post, Some(key)) => {
                let id = q("uploadId").unwrap();
                let Some(upload) = self.uploads.borrow_mut().remove(&id) else {
                    return Ok(error(404, "NoSuchUpload"));
                };
                assert_eq!(upload.key, key);
                let doc = xml::parse(std::str::from_utf8(request.body).unwrap()).unwrap();
                let mut data = Vec::new();
                for part in doc.children("Part") {
                    let n: u32 = part.child_text("PartNumber").unwrap().parse().unwrap();
                    let bytes = &upload.parts[&n];
                    assert_eq!(part.child_text("ETag").unwrap(), etag(bytes));
                    data.extend_from_slice(bytes);
                }
                self.objects.borrow_mut().insert(key, (data, upload.meta));
                let doc = "<CompleteMultipartUploadResult><ETag>\"x\"</ETag></CompleteMultipartUploadResult>";
                respond(200, Vec::new(), doc.as_bytes().to_vec())
            }
            (Method::Delete, Some(_)) if q("uploadId").is_some() => {
                self.uploads.borrow_mut().remove(&q("uploadId").unwrap());
                respond(204, Vec::new(), Vec::new())
            }
            (Method::Delete, Some(key)) => {
                self.objects.borrow_mut().remove(&key);
                respond(204, Vec::new(), Vec::new())
            }
            _ => error(400, "InvalidRequest"),
        };
        response.body.break_at = break_at;
        Ok(response)
    }
}

pub fn etag(data: &[u8]) -> String {
    format!("\"{}\"", &sigv4::payload_hash(data)[..16])
}

fn metadata(request: &Request<'_>) -> Vec<(String, String)> {
    request
        .headers
        .iter()
        .filter(|(k, _)| crate::is_metadata_header(k))
        .cloned()
        .collect()
}

impl FakeS3 {
    /// Recomputes the signature from the request as received.
    fn signature_ok(&self, request: &Request<'_>, path: &str, query: &[(String, String)]) -> bool {
        let auth = header(request, "authorization").unwrap();
        let signed_names = auth
            .split("SignedHeaders=")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap();
        let mut headers = Vec::new();
        for name in signed_names.split(';') {
            let value = if name == "host" {
                request.authority.to_owned()
            } else {
                header(request, name).unwrap().to_owned()
            };
            headers.push((name.to_owned(), value));
        }
        let payload = header(request, "x-amz-content-sha256").unwrap();
        assert_eq!(payload, sigv4::payload_hash(request.body));
        let date = header(request, "x-amz-date").unwrap();
        let expected = sigv4::authorization(
            &Credentials {
                access_key: ACCESS_KEY.into(),
                secret_key: self.secret.into(),
                session_token: None,
            },
            REGION,
            date,
            &Canonical {
                method: request.method.as_str(),
                path,
                query,
                headers: &headers,
                payload_sha256: payload,
            },
        );
        expected == auth
    }

    fn list(&self, q: &dyn Fn(&str) -> Option<String>) -> Response<FakeBody> {
        assert_eq!(q("list-type").as_deref(), Some("2"));
        let prefix = q("prefix").unwrap_or_default();
        let max: usize = q("max-keys").unwrap().parse().unwrap();
        let after = q("continuation-token").or_else(|| q("start-after"));
        let objects = self.objects.borrow();
        let keys: Vec<_> = objects
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| after.as_ref().is_none_or(|a| k.as_str() > a.as_str()))
            .collect();
        let mut doc = String::from("<ListBucketResult><EncodingType>url</EncodingType>");
        for (key, (data, _)) in keys.iter().take(max) {
            doc.push_str(&format!(
                "<Contents><Key>{}</Key><LastModified>2024-01-02T03:04:05.000Z</LastModified>\
                 <ETag>&quot;e&quot;</ETag><Size>{}</Size></Contents>",
                encode::path(key),
                data.len()
            ));
        }
        if keys.len() > max {
            doc.push_str(&format!(
                "<IsTruncated>true</IsTruncated><NextContinuationToken>{}</NextContinuationToken>",
                keys[max - 1].0.replace('&', "&amp;").replace('<', "&lt;")
            ));
        } else {
            doc.push_str("<IsTruncated>false</IsTruncated>");
        }
        doc.push_str("</ListBucketResult>");
        respond(200, Vec::new(), doc.into_bytes())
    }

    fn get(&self, key: &str, range: Option<&str>, if_match: Option<&str>) -> Response<FakeBody> {
        let objects = self.objects.borrow();
        let Some((data, meta)) = objects.get(key) else {
            return error(404, "NoSuchKey");
        };
        if if_match.is_some_and(|e| e != etag(data)) {
            return error(412, "PreconditionFailed");
        }
        let mut headers = meta.clone();
        headers.push(("etag".into(), etag(data)));
        let Some(range) = range else {
            headers.push(("content-length".into(), data.len().to_string()));
            return respond(200, headers, data.clone());
        };
        let (first, last) = range
            .strip_prefix("bytes=")
            .unwrap()
            .split_once('-')
            .unwrap();
        let first: usize = first.parse().unwrap();
        let last: usize = if last.is_empty() {
            data.len().saturating_sub(1)
        } else {
            last.parse::<usize>()
                .unwrap()
                .min(data.len().saturating_sub(1))
        };
        if first >= data.len() {
            return error(416, "InvalidRange");
        }
        headers.push((
            "content-range".into(),
            format!("bytes {first}-{last}/{}", data.len()),
        ));
        respond(206, headers, data[first..=last].to_vec())
    }
}

#[derive(Default)]
pub struct FakeClock {
    pub sleeps: RefCell<Vec<Duration>>,
}

impl Clock for &FakeClock {
    fn now_unix(&self) -> i64 {
        1_700_000_000
    }
    fn sleep(&self, duration: Duration) {
        self.sleeps.borrow_mut().push(duration);
    }
}
