//! A connection to the server: reading backend messages, answering the
//! asynchronous ones (ParameterStatus, NoticeResponse, BackendKeyData), and
//! turning ErrorResponse and transport failures into errors that name the
//! server.

use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;

use guest_sdk::{Host, LogLevel};

use crate::PluginError;
use crate::auth;
use crate::config::Server;
use crate::wire::{self, Fields, Malformed};

/// Read buffer size: large enough that CopyData of a few hundred KiB takes
/// few reads (each a host call on WASI).
const READ_BUFFER: usize = 256 << 10;
/// The oldest server major version whose BASE_BACKUP syntax and response
/// layout this plugin speaks.
const MIN_MAJOR: u32 = 15;

pub struct Connection<'h, S: Read + Write, H: Host> {
    stream: BufReader<S>,
    server: String,
    body: Vec<u8>,
    received: u64,
    server_version: Option<String>,
    host: &'h H,
}

/// Connects over TCP, authenticates and checks the server version.
pub fn open<'h, H: Host>(
    server: &Server,
    host: &'h H,
) -> Result<Connection<'h, TcpStream, H>, PluginError> {
    let name = server.addr.to_string();
    let stream = connect(server).map_err(|e| {
        // The host refuses addresses it has not granted with EACCES.
        let hint = if e.kind() == io::ErrorKind::PermissionDenied {
            " (is this address granted to the plugin?)"
        } else {
            ""
        };
        PluginError::Io(format!(
            "PostgreSQL server {name}: cannot connect: {e}{hint}"
        ))
    })?;
    // A silent server must not hang validation; the timeout is lifted once
    // the session is up, since a fast checkpoint may still take long.
    let timed = stream
        .set_read_timeout(Some(server.connect_timeout))
        .is_ok();
    let mut conn = Connection::new(stream, name, host);
    auth::startup(
        &mut conn,
        &server.user,
        server.password.as_deref(),
        &new_nonce()?,
    )?;
    if timed {
        // Failing to lift it only risks a timeout on a very slow backup.
        let _ = conn.stream.get_ref().set_read_timeout(None);
    }
    conn.check_version()?;
    Ok(conn)
}

fn connect(server: &Server) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&server.addr, server.connect_timeout)?;
    // On wasm32-wasip2, the timed (non-blocking) connect can report success
    // for a refused connection; the failure then surfaces on first use as
    // "not connected", which would hide the real cause.
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    stream.peer_addr()?;
    Ok(stream)
}

/// 18 random bytes in base64, as PostgreSQL's own client uses.
fn new_nonce() -> Result<String, PluginError> {
    use base64::Engine;
    let mut raw = [0u8; 18];
    getrandom::fill(&mut raw)
        .map_err(|e| PluginError::Other(format!("no randomness for the SCRAM nonce: {e}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(raw))
}

impl<'h, S: Read + Write, H: Host> Connection<'h, S, H> {
    pub fn new(stream: S, server: String, host: &'h H) -> Self {
        Self {
            stream: BufReader::with_capacity(READ_BUFFER, stream),
            server,
            body: Vec::new(),
            received: 0,
            server_version: None,
            host,
        }
    }

    /// The server address, as every error names it.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Bytes received from the server so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    pub fn host(&self) -> &'h H {
        self.host
    }

    pub fn server_version(&self) -> Option<&str> {
        self.server_version.as_deref()
    }

    pub fn send(&mut self, message: &[u8]) -> Result<(), PluginError> {
        let inner = self.stream.get_mut();
        inner
            .write_all(message)
            .and_then(|()| inner.flush())
            .map_err(|e| self.io_error(&e))
    }

    /// The next message that is not ParameterStatus, NoticeResponse or
    /// BackendKeyData. An ErrorResponse becomes an error prefixed with
    /// `context` (what was being done, e.g. "authentication failed").
    pub fn next(&mut self, context: &str) -> Result<(u8, &[u8]), PluginError> {
        loop {
            let tag = wire::read_message(&mut self.stream, &mut self.body)
                .map_err(|e| self.io_error(&e))?;
            self.received += 5 + self.body.len() as u64;
            match tag {
                b'S' => self.parameter_status()?,
                b'N' => self.notice(),
                b'K' => {}
                b'E' => return Err(self.server_error(context)),
                _ => return Ok((tag, &self.body)),
            }
        }
    }

    pub fn unexpected(&self, tag: u8, during: &str) -> PluginError {
        unexpected(&self.server, tag, during)
    }

    pub fn malformed(&self, m: Malformed) -> PluginError {
        malformed(&self.server, m)
    }

    /// Ends the session politely; the server would clean up anyway.
    pub fn close(mut self) {
        let _ = self.send(&wire::terminate());
    }

    fn io_error(&self, e: &io::Error) -> PluginError {
        let server = &self.server;
        let received = self.received;
        PluginError::Io(match e.kind() {
            io::ErrorKind::UnexpectedEof => format!(
                "PostgreSQL server {server}: the server closed the connection \
                 after {received} bytes received"
            ),
            io::ErrorKind::InvalidData => {
                format!("PostgreSQL server {server}: protocol error: {e}")
            }
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => format!(
                "PostgreSQL server {server}: no answer within the connect timeout \
                 (`connect_timeout_seconds`) after {received} bytes received"
            ),
            _ => format!(
                "PostgreSQL server {server}: connection lost after {received} bytes received: {e}"
            ),
        })
    }

    fn parameter_status(&mut self) -> Result<(), PluginError> {
        let mut f = Fields::new(&self.body);
        let name = f
            .cstr("ParameterStatus name")
            .map_err(|m| self.malformed(m))?;
        let value = f
            .cstr("ParameterStatus value")
            .map_err(|m| self.malformed(m))?;
        if name == "server_version" {
            self.server_version = Some(value);
        }
        Ok(())
    }

    fn notice(&self) {
        let fields = error_fields(&self.body);
        let level = match fields.severity.as_str() {
            "WARNING" => LogLevel::Warn,
            "DEBUG" => LogLevel::Debug,
            _ => LogLevel::Info,
        };
        self.host.log(
            level,
            &format!(
                "PostgreSQL server {}: {}: {}",
                self.server,
                fields.severity,
                fields.text()
            ),
        );
    }

    fn server_error(&self, context: &str) -> PluginError {
        let fields = error_fields(&self.body);
        let text = format!(
            "PostgreSQL server {}: {context}: {}",
            self.server,
            fields.text()
        );
        // Class 28 is "invalid authorization"; 42501 a missing privilege
        // (e.g. no REPLICATION attribute): both are the operator's to grant.
        if fields.code.starts_with("28") || fields.code == "42501" {
            PluginError::Denied(text)
        } else {
            PluginError::Other(text)
        }
    }

    fn check_version(&self) -> Result<(), PluginError> {
        let Some(version) = self.server_version.as_deref() else {
            return Err(PluginError::InvalidData(format!(
                "PostgreSQL server {}: did not report its server_version",
                self.server
            )));
        };
        let major: Option<u32> = version
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|m| m.parse().ok());
        match major {
            Some(m) if m >= MIN_MAJOR => Ok(()),
            _ => Err(PluginError::Other(format!(
                "PostgreSQL server {}: runs version {version}; relational-postgres needs \
                 PostgreSQL {MIN_MAJOR} or later (upgrade the server or back it up another way)",
                self.server
            ))),
        }
    }
}

#[cfg(test)]
pub fn tests_check_version<S: Read + Write, H: Host>(
    conn: &Connection<'_, S, H>,
) -> Result<(), PluginError> {
    conn.check_version()
}

/// An error for a message that is out of place in the exchange.
pub fn unexpected(server: &str, tag: u8, during: &str) -> PluginError {
    PluginError::InvalidData(format!(
        "PostgreSQL server {server}: unexpected message {:?} during {during}",
        char::from(tag)
    ))
}

pub fn malformed(server: &str, m: Malformed) -> PluginError {
    PluginError::InvalidData(format!(
        "PostgreSQL server {server}: malformed message: bad or missing {}",
        m.0
    ))
}

/// The fields of an ErrorResponse or NoticeResponse that an operator needs.
#[derive(Debug, Default)]
pub struct ErrorFields {
    pub severity: String,
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl ErrorFields {
    /// `message (SQLSTATE)`, then detail and hint if the server gave them.
    pub fn text(&self) -> String {
        let mut text = format!("{} ({})", self.message, self.code);
        if let Some(d) = &self.detail {
            text.push_str(&format!("; detail: {d}"));
        }
        if let Some(h) = &self.hint {
            text.push_str(&format!("; hint: {h}"));
        }
        text
    }
}

/// Parses the `(type byte, cstring)*` fields; a malformed tail is ignored,
/// since this only shapes an error text.
pub fn error_fields(body: &[u8]) -> ErrorFields {
    let mut out = ErrorFields::default();
    let mut f = Fields::new(body);
    while let Ok(kind) = f.u8("field type") {
        if kind == 0 {
            break;
        }
        let Ok(value) = f.cstr("field value") else {
            break;
        };
        match kind {
            // 'V' is the non-localized severity; prefer it over 'S'.
            b'V' => out.severity = value,
            b'S' if out.severity.is_empty() => out.severity = value,
            b'C' => out.code = value,
            b'M' => out.message = value,
            b'D' => out.detail = Some(value),
            b'H' => out.hint = Some(value),
            _ => {}
        }
    }
    out
}
