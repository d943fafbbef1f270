//! The guest's [`Transport`] over `wasi:http/outgoing-handler` and its
//! [`Clock`] over `wasi:clocks`. The request body is written through the
//! outgoing body's stream as the host accepts it (`check-write`), then
//! flushed; the response body is read in pieces as it arrives.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasi::clocks::monotonic_clock;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, IncomingBody, IncomingResponse, Method as WasiMethod, OutgoingBody,
    OutgoingRequest, Scheme,
};
use wasi::io::streams::{InputStream, OutputStream, StreamError};

use crate::transport::{
    Clock, Method, Request, Response, ResponseBody, Transport, TransportError, TransportErrorKind,
};

/// Largest single write to the request body stream.
const WRITE_PIECE: u64 = 1 << 20;

/// Outgoing HTTP through the host.
pub struct WasiHttp;

/// Wall clock for signing, monotonic-clock pollables for waiting.
pub struct WasiClock;

impl Clock for WasiClock {
    fn now_unix(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }

    fn sleep(&self, duration: Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        monotonic_clock::subscribe_duration(nanos).block();
    }
}

/// A response body being read. Fields drop in order: the stream before the
/// body before the response, as their parent-child relation requires.
pub struct WasiBody {
    stream: Option<InputStream>,
    _body: IncomingBody,
    _response: IncomingResponse,
}

impl ResponseBody for WasiBody {
    fn read(&mut self, max: usize) -> Result<Vec<u8>, TransportError> {
        let Some(stream) = &self.stream else {
            return Ok(Vec::new());
        };
        match stream.blocking_read(max as u64) {
            Ok(data) => Ok(data),
            Err(StreamError::Closed) => {
                self.stream = None;
                Ok(Vec::new())
            }
            Err(StreamError::LastOperationFailed(e)) => {
                self.stream = None;
                Err(match wasi::http::types::http_error_code(&e) {
                    Some(code) => from_code(&code),
                    None => {
                        TransportError::new(TransportErrorKind::Interrupted, e.to_debug_string())
                    }
                })
            }
        }
    }
}

impl Transport for WasiHttp {
    type Body = WasiBody;

    fn send(&self, request: &Request<'_>) -> Result<Response<WasiBody>, TransportError> {
        let (body, future) = start(request)?;
        let written = if request.body.is_empty() {
            Ok(())
        } else {
            let stream = body.write().map_err(|()| fatal("no request body stream"))?;
            let written = write_all(&stream, request.body).and_then(|()| flush(&stream));
            drop(stream);
            written
        };
        let response = match written {
            Ok(()) => {
                OutgoingBody::finish(body, None).map_err(|c| from_code(&c))?;
                wait_response(&future)?
            }
            // A server that answers before reading the whole body (an error,
            // or a closed connection) stops the upload; its answer, when
            // there is one, says why better than the broken stream does.
            Err(write_error) => {
                drop(body);
                wait_response(&future).map_err(|_| write_error)?
            }
        };
        finish(response)
    }
}

/// Builds and sends the request line and headers; the body is still to be
/// written.
fn start(
    request: &Request<'_>,
) -> Result<(OutgoingBody, wasi::http::types::FutureIncomingResponse), TransportError> {
    let fields = Fields::new();
    for (name, value) in &request.headers {
        fields
            .append(name, value.as_bytes())
            .map_err(|e| fatal(format!("header {name}: {e:?}")))?;
    }
    let outgoing = OutgoingRequest::new(fields);
    let method = match request.method {
        Method::Get => WasiMethod::Get,
        Method::Head => WasiMethod::Head,
        Method::Put => WasiMethod::Put,
        Method::Post => WasiMethod::Post,
        Method::Delete => WasiMethod::Delete,
    };
    let scheme = if request.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    outgoing
        .set_method(&method)
        .and_then(|()| outgoing.set_scheme(Some(&scheme)))
        .and_then(|()| outgoing.set_authority(Some(request.authority)))
        .and_then(|()| outgoing.set_path_with_query(Some(&request.path_and_query)))
        .map_err(|()| fatal("the host refused the request line"))?;
    let body = outgoing
        .body()
        .map_err(|()| fatal("no request body handle"))?;
    // No `request-options`: the host applies its own timeouts, and a
    // passed options handle leaks a host table entry per request in
    // wasmtime-wasi-http 48, failing a call after 10,000 requests.
    let future = outgoing_handler::handle(outgoing, None).map_err(|c| from_code(&c))?;
    Ok((body, future))
}

/// The status and headers of `response`, its body ready to be read.
fn finish(response: IncomingResponse) -> Result<Response<WasiBody>, TransportError> {
    let status = response.status();
    let headers = {
        let fields = response.headers();
        fields
            .entries()
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect()
    };
    let incoming = response
        .consume()
        .map_err(|()| fatal("no response body handle"))?;
    let stream = incoming
        .stream()
        .map_err(|()| fatal("no response body stream"))?;
    Ok(Response {
        status,
        headers,
        body: WasiBody {
            stream: Some(stream),
            _body: incoming,
            _response: response,
        },
    })
}

fn wait_response(
    future: &wasi::http::types::FutureIncomingResponse,
) -> Result<IncomingResponse, TransportError> {
    loop {
        match future.get() {
            Some(Ok(Ok(response))) => return Ok(response),
            Some(Ok(Err(code))) => return Err(from_code(&code)),
            Some(Err(())) => return Err(fatal("the response was already taken")),
            None => future.subscribe().block(),
        }
    }
}

/// Writes all of `data`, as much at a time as the stream permits.
fn write_all(stream: &OutputStream, mut data: &[u8]) -> Result<(), TransportError> {
    while !data.is_empty() {
        let permit = stream.check_write().map_err(stream_error)?;
        if permit == 0 {
            stream.subscribe().block();
            continue;
        }
        let n = usize::try_from(permit.min(WRITE_PIECE))
            .unwrap_or(data.len())
            .min(data.len());
        stream.write(&data[..n]).map_err(stream_error)?;
        data = &data[n..];
    }
    Ok(())
}

fn flush(stream: &OutputStream) -> Result<(), TransportError> {
    stream.blocking_flush().map_err(stream_error)
}

fn stream_error(error: StreamError) -> TransportError {
    match error {
        StreamError::Closed => TransportError::new(
            TransportErrorKind::Interrupted,
            "the connection closed while sending the body",
        ),
        StreamError::LastOperationFailed(e) => match wasi::http::types::http_error_code(&e) {
            Some(code) => from_code(&code),
            None => TransportError::new(TransportErrorKind::Interrupted, e.to_debug_string()),
        },
    }
}

fn fatal(detail: impl Into<String>) -> TransportError {
    TransportError::new(TransportErrorKind::Fatal, detail)
}

/// The transport error for a `wasi:http` error code, its detail the code's
/// WIT name (e.g. `HTTP-request-denied`).
pub fn from_code(code: &ErrorCode) -> TransportError {
    use TransportErrorKind as K;
    let kind = match code {
        ErrorCode::HttpRequestDenied => K::Denied,
        ErrorCode::DnsTimeout
        | ErrorCode::DnsError(_)
        | ErrorCode::DestinationNotFound
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpUnroutable
        | ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionTimeout => K::Unreachable,
        ErrorCode::ConnectionTerminated
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::ConnectionLimitReached
        | ErrorCode::HttpResponseIncomplete
        | ErrorCode::HttpResponseTimeout
        | ErrorCode::HttpProtocolError
        | ErrorCode::InternalError(_) => K::Interrupted,
        _ => K::Fatal,
    };
    TransportError::new(kind, code_name(code))
}

/// The WIT name of an error code, with its payload where it says something.
pub fn code_name(code: &ErrorCode) -> String {
    let name = match code {
        ErrorCode::DnsTimeout => "DNS-timeout",
        ErrorCode::DnsError(e) => {
            return format!(
                "DNS-error ({})",
                e.rcode.clone().unwrap_or_else(|| "no rcode".into())
            );
        }
        ErrorCode::DestinationNotFound => "destination-not-found",
        ErrorCode::DestinationUnavailable => "destination-unavailable",
        ErrorCode::DestinationIpProhibited => "destination-IP-prohibited",
        ErrorCode::DestinationIpUnroutable => "destination-IP-unroutable",
        ErrorCode::ConnectionRefused => "connection-refused",
        ErrorCode::ConnectionTerminated => "connection-terminated",
        ErrorCode::ConnectionTimeout => "connection-timeout",
        ErrorCode::ConnectionReadTimeout => "connection-read-timeout",
        ErrorCode::ConnectionWriteTimeout => "connection-write-timeout",
        ErrorCode::ConnectionLimitReached => "connection-limit-reached",
        ErrorCode::TlsProtocolError => "TLS-protocol-error",
        ErrorCode::TlsCertificateError => "TLS-certificate-error",
        ErrorCode::TlsAlertReceived(_) => "TLS-alert-received",
        ErrorCode::HttpRequestDenied => "HTTP-request-denied",
        ErrorCode::HttpRequestLengthRequired => "HTTP-request-length-required",
        ErrorCode::HttpRequestBodySize(_) => "HTTP-request-body-size",
        ErrorCode::HttpRequestMethodInvalid => "HTTP-request-method-invalid",
        ErrorCode::HttpRequestUriInvalid => "HTTP-request-URI-invalid",
        ErrorCode::HttpRequestUriTooLong => "HTTP-request-URI-too-long",
        ErrorCode::HttpRequestHeaderSectionSize(_) => "HTTP-request-header-section-size",
        ErrorCode::HttpRequestHeaderSize(_) => "HTTP-request-header-size",
        ErrorCode::HttpRequestTrailerSectionSize(_) => "HTTP-request-trailer-section-size",
        ErrorCode::HttpRequestTrailerSize(_) => "HTTP-request-trailer-size",
        ErrorCode::HttpResponseIncomplete => "HTTP-response-incomplete",
        ErrorCode::HttpResponseHeaderSectionSize(_) => "HTTP-response-header-section-size",
        ErrorCode::HttpResponseHeaderSize(_) => "HTTP-response-header-size",
        ErrorCode::HttpResponseBodySize(_) => "HTTP-response-body-size",
        ErrorCode::HttpResponseTrailerSectionSize(_) => "HTTP-response-trailer-section-size",
        ErrorCode::HttpResponseTrailerSize(_) => "HTTP-response-trailer-size",
        ErrorCode::HttpResponseTransferCoding(_) => "HTTP-response-transfer-coding",
        ErrorCode::HttpResponseContentCoding(_) => "HTTP-response-content-coding",
        ErrorCode::HttpResponseTimeout => "HTTP-response-timeout",
        ErrorCode::HttpUpgradeFailed => "HTTP-upgrade-failed",
        ErrorCode::HttpProtocolError => "HTTP-protocol-error",
        ErrorCode::LoopDetected => "loop-detected",
        ErrorCode::ConfigurationError => "configuration-error",
        ErrorCode::InternalError(detail) => {
            return match detail {
                Some(detail) => format!("internal-error ({detail})"),
                None => "internal-error".into(),
            };
        }
    };
    name.to_owned()
}
