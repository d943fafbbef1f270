//! The client against a real S3 server, over a minimal native HTTP/1.1
//! transport. Skipped unless `S3_TEST_ENDPOINT` (plain `http://` only),
//! `S3_TEST_REGION`, `S3_TEST_BUCKET`, `S3_TEST_ACCESS_KEY` and
//! `S3_TEST_SECRET_KEY` are set, e.g. for a local Garage.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use s3_client::transport::{
    Clock, Request, Response, ResponseBody, Transport, TransportError, TransportErrorKind,
};
use s3_client::{BodySink, Client, Error, ErrorKind, Source, settings};

struct Tcp;
struct Body(Vec<u8>, usize);

impl ResponseBody for Body {
    fn read(&mut self, max: usize) -> Result<Vec<u8>, TransportError> {
        let end = self.0.len().min(self.1 + max);
        let piece = self.0[self.1..end].to_vec();
        self.1 = end;
        Ok(piece)
    }
}

fn io(e: std::io::Error) -> TransportError {
    TransportError::new(TransportErrorKind::Unreachable, e.to_string())
}

impl Transport for Tcp {
    type Body = Body;
    fn send(&self, r: &Request<'_>) -> Result<Response<Body>, TransportError> {
        let mut stream = TcpStream::connect(r.authority).map_err(io)?;
        let mut head = format!(
            "{} {} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n",
            r.method.as_str(),
            r.path_and_query,
            r.authority
        );
        for (k, v) in &r.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).map_err(io)?;
        stream.write_all(r.body).map_err(io)?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).map_err(io)?;
        let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            line.clear();
            reader.read_line(&mut line).map_err(io)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap();
            headers.push((k.to_ascii_lowercase(), v.trim().to_owned()));
        }
        let mut raw = Vec::new();
        if r.method.as_str() != "HEAD" {
            reader.read_to_end(&mut raw).map_err(io)?;
        }
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
        let body = if chunked { dechunk(&raw) } else { raw };
        Ok(Response {
            status,
            headers,
            body: Body(body, 0),
        })
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let nl = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = std::str::from_utf8(&raw[..nl])
            .unwrap()
            .split(';')
            .next()
            .unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        raw = &raw[nl + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

struct Bytes(Vec<u8>, usize);

impl Source for Bytes {
    fn read(&mut self, max: usize) -> Result<Vec<u8>, Error> {
        let end = self.0.len().min(self.1 + max);
        let piece = self.0[self.1..end].to_vec();
        self.1 = end;
        Ok(piece)
    }
}

#[derive(Default)]
struct Collect(Vec<u8>);

impl BodySink for Collect {
    fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        self.0.extend_from_slice(data);
        Ok(())
    }
}

fn client(secret: Option<&str>) -> Option<Client<Tcp, SystemClock>> {
    client_with(secret, None, None)
}

fn client_with(
    secret: Option<&str>,
    bucket: Option<&str>,
    access_key: Option<&str>,
) -> Option<Client<Tcp, SystemClock>> {
    let var = |name: &str| std::env::var(name).ok();
    let endpoint = var("S3_TEST_ENDPOINT")?;
    let text = serde_json::json!({
        "endpoint": endpoint,
        "region": var("S3_TEST_REGION")?,
        "bucket": bucket.map(str::to_owned).or_else(|| var("S3_TEST_BUCKET"))?,
        "prefix": "s3-client-test",
        "access_key": access_key.map(str::to_owned).or_else(|| var("S3_TEST_ACCESS_KEY"))?,
        "secret_key": secret.map(str::to_owned).or_else(|| var("S3_TEST_SECRET_KEY"))?,
        "part_size_mib": 5,
    })
    .to_string();
    let mut known = settings::KEYS.to_vec();
    known.push("secret_key");
    let settings =
        settings::connection(&settings::object(&text, &known).unwrap(), "secret_key").unwrap();
    Some(Client::new(settings, Tcp, SystemClock))
}

#[test]
fn round_trips_against_a_live_server() {
    let Some(c) = client(None) else {
        eprintln!("S3_TEST_* not set: skipped");
        return;
    };
    c.probe(true).unwrap();
    let meta = vec![
        ("content-type".to_owned(), "text/plain".to_owned()),
        ("x-amz-meta-owner".to_owned(), "team-a".to_owned()),
    ];
    let keys = [
        "plain",
        "a & b/ü 日本.txt",
        "a//b/./../c",
        "dir/",
        "100%+=?#",
    ];
    for key in keys {
        let data: Vec<u8> = key.bytes().cycle().take(3000).collect();
        c.put_object(key, 3000, &mut Bytes(data.clone(), 0), &meta)
            .unwrap();
        let mut sink = Collect::default();
        c.get_object(key, 0, None, &mut sink).unwrap();
        assert_eq!(sink.0, data, "{key}");
        let mut sink = Collect::default();
        c.get_object(key, 100, Some(50), &mut sink).unwrap();
        assert_eq!(sink.0, &data[100..150]);
        let head = c.head_object(key).unwrap().unwrap();
        assert_eq!(head.size, 3000);
        assert!(head.metadata.contains(&meta[1]), "{:?}", head.metadata);
    }
    let big: Vec<u8> = (0..11 * (1 << 20) + 7).map(|i| (i % 251) as u8).collect();
    c.put_object("big", big.len() as u64, &mut Bytes(big.clone(), 0), &meta)
        .unwrap();
    let mut sink = Collect::default();
    c.get_object("big", 0, None, &mut sink).unwrap();
    assert!(sink.0 == big);
    let mut listed = Vec::new();
    let mut token = None;
    loop {
        let page = c.list_page("", None, token.as_deref(), 2).unwrap();
        listed.extend(page.objects.into_iter().map(|o| o.key));
        match page.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    expected.push("big".into());
    expected.sort();
    assert_eq!(listed, expected);
    let after = c
        .list_page("", Some("a & b/ü 日本.txt"), None, 1000)
        .unwrap();
    assert_eq!(after.objects[0].key, "a//b/./../c");
    for key in &expected {
        c.delete_object(key).unwrap();
    }
    c.delete_object("big").unwrap();
    assert_eq!(c.head_object("big").unwrap(), None);
    let err = c
        .get_object("big", 0, None, &mut Collect::default())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);

    let wrong = client(Some(
        "0000000000000000000000000000000000000000000000000000000000000000",
    ))
    .unwrap();
    let err = wrong.probe(false).unwrap_err();
    assert_eq!(
        err.message,
        "signature mismatch: the secret key is wrong (or the clock is skewed)"
    );

    let endpoint = std::env::var("S3_TEST_ENDPOINT").unwrap();
    let missing = client_with(None, Some("no-such-bucket-here"), None).unwrap();
    assert_eq!(
        missing.probe(false).unwrap_err().message,
        format!("bucket no-such-bucket-here does not exist at {endpoint}")
    );
    let stranger = client_with(None, None, Some("GK000000000000000000000000")).unwrap();
    let err = stranger.probe(false).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidConfig);
    assert!(err.message.starts_with("access denied by"), "{err}");
}
