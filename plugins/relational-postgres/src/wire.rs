//! PostgreSQL protocol 3.0 message framing: building frontend messages and
//! splitting the backend byte stream into (tag, body) messages.

use std::io::{self, Read};

/// Protocol version 3.0 in the startup message.
const PROTOCOL_3_0: i32 = 196_608;

/// The largest backend message accepted. The server sends backup data in
/// CopyData messages of a few hundred KiB; a length beyond this means the
/// stream is not PostgreSQL's protocol (or is corrupt), and trusting it would
/// allocate without bound.
pub const MAX_MESSAGE: usize = 64 << 20;

/// A frontend message with a one-byte tag and a length-prefixed body.
fn tagged(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(body.len() + 5);
    msg.push(tag);
    msg.extend_from_slice(&len_field(body.len() + 4));
    msg.extend_from_slice(body);
    msg
}

fn len_field(len: usize) -> [u8; 4] {
    // Frontend messages are built from configuration-sized values.
    i32::try_from(len).unwrap_or(i32::MAX).to_be_bytes()
}

fn push_cstr(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(s.as_bytes());
    buf.push(0);
}

/// The untagged startup message with its parameters.
pub fn startup(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = PROTOCOL_3_0.to_be_bytes().to_vec();
    for (k, v) in params {
        push_cstr(&mut body, k);
        push_cstr(&mut body, v);
    }
    body.push(0);
    let mut msg = len_field(body.len() + 4).to_vec();
    msg.extend_from_slice(&body);
    msg
}

/// PasswordMessage (cleartext or MD5 hash).
pub fn password(text: &str) -> Vec<u8> {
    let mut body = Vec::new();
    push_cstr(&mut body, text);
    tagged(b'p', &body)
}

/// SASLInitialResponse.
pub fn sasl_initial(mechanism: &str, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    push_cstr(&mut body, mechanism);
    body.extend_from_slice(&len_field(data.len()));
    body.extend_from_slice(data);
    tagged(b'p', &body)
}

/// SASLResponse.
pub fn sasl_response(data: &[u8]) -> Vec<u8> {
    tagged(b'p', data)
}

/// Query (simple query protocol).
pub fn query(sql: &str) -> Vec<u8> {
    let mut body = Vec::new();
    push_cstr(&mut body, sql);
    tagged(b'Q', &body)
}

pub fn terminate() -> Vec<u8> {
    tagged(b'X', &[])
}

/// Reads one backend message into `body` (reused between calls) and returns
/// its tag. End of stream surfaces as `UnexpectedEof`.
pub fn read_message(reader: &mut impl Read, body: &mut Vec<u8>) -> io::Result<u8> {
    let mut header = [0u8; 5];
    reader.read_exact(&mut header)?;
    let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    let len = usize::try_from(len)
        .ok()
        .filter(|l| (4..=MAX_MESSAGE + 4).contains(l))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "message {:?} announces an invalid length {len}; is this a PostgreSQL server?",
                    char::from(header[0])
                ),
            )
        })?;
    body.clear();
    body.resize(len - 4, 0);
    reader.read_exact(body)?;
    Ok(header[0])
}

/// A field that a backend message should carry but does not.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// Reads the fields of a backend message body in order.
pub struct Fields<'a> {
    data: &'a [u8],
}

impl<'a> Fields<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, Malformed> {
        Ok(self.bytes(1, what)?[0])
    }

    pub fn i16(&mut self, what: &'static str) -> Result<i16, Malformed> {
        let b = self.bytes(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    pub fn i32(&mut self, what: &'static str) -> Result<i32, Malformed> {
        let b = self.bytes(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn i64(&mut self, what: &'static str) -> Result<i64, Malformed> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.bytes(8, what)?);
        Ok(i64::from_be_bytes(b))
    }

    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Malformed> {
        if self.data.len() < n {
            return Err(Malformed(what));
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }

    /// A NUL-terminated string; invalid UTF-8 is replaced rather than refused,
    /// since these are names and messages for display.
    pub fn cstr(&mut self, what: &'static str) -> Result<String, Malformed> {
        let end = self
            .data
            .iter()
            .position(|&b| b == 0)
            .ok_or(Malformed(what))?;
        let s = String::from_utf8_lossy(&self.data[..end]).into_owned();
        self.data = &self.data[end + 1..];
        Ok(s)
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// The columns of a DataRow message; `None` is SQL NULL.
pub fn data_row(body: &[u8]) -> Result<Vec<Option<String>>, Malformed> {
    let mut f = Fields::new(body);
    let n = f.i16("DataRow column count")?;
    let mut cols = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    for _ in 0..n {
        let len = f.i32("DataRow column length")?;
        if len < 0 {
            cols.push(None);
        } else {
            let len = usize::try_from(len).map_err(|_| Malformed("DataRow column length"))?;
            let v = f.bytes(len, "DataRow column value")?;
            cols.push(Some(String::from_utf8_lossy(v).into_owned()));
        }
    }
    Ok(cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_startup_message() {
        let msg = startup(&[("user", "u"), ("replication", "true")]);
        let mut expected = Vec::new();
        expected.extend_from_slice(&(4 + 4 + 7 + 17 + 1i32).to_be_bytes());
        expected.extend_from_slice(&196_608i32.to_be_bytes());
        expected.extend_from_slice(b"user\0u\0replication\0true\0\0");
        assert_eq!(msg, expected);
    }

    #[test]
    fn builds_tagged_messages() {
        assert_eq!(query("SELECT 1"), b"Q\0\0\0\x0dSELECT 1\0");
        assert_eq!(password("md5ab"), b"p\0\0\0\x0amd5ab\0");
        assert_eq!(terminate(), b"X\0\0\0\x04");
        assert_eq!(
            sasl_initial("SCRAM-SHA-256", b"n,,"),
            b"p\0\0\0\x19SCRAM-SHA-256\0\0\0\0\x03n,,"
        );
    }

    #[test]
    fn reads_messages_back_to_back() {
        let mut stream: &[u8] = b"Z\0\0\0\x05IC\0\0\0\x0dSELECT 1\0";
        let mut body = Vec::new();
        assert_eq!(read_message(&mut stream, &mut body).unwrap(), b'Z');
        assert_eq!(body, b"I");
        assert_eq!(read_message(&mut stream, &mut body).unwrap(), b'C');
        assert_eq!(body, b"SELECT 1\0");
        let err = read_message(&mut stream, &mut body).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn refuses_bad_lengths_and_truncation() {
        let mut body = Vec::new();
        let mut short: &[u8] = b"Z\0\0\0\x03";
        assert_eq!(
            read_message(&mut short, &mut body).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        let mut huge: &[u8] = b"d\x7f\xff\xff\xff";
        assert!(read_message(&mut huge, &mut body).is_err());
        let mut cut: &[u8] = b"d\0\0\0\x10abc";
        assert_eq!(
            read_message(&mut cut, &mut body).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn parses_fields_and_rows() {
        let mut f = Fields::new(b"\0\0\0\x05ab\0rest");
        assert_eq!(f.i32("x").unwrap(), 5);
        assert_eq!(f.cstr("s").unwrap(), "ab");
        assert_eq!(f.rest(), b"rest");
        assert_eq!(f.u8("y"), Err(Malformed("y")));
        let row = data_row(b"\0\x02\0\0\0\x01x\xff\xff\xff\xff").unwrap();
        assert_eq!(row, vec![Some("x".to_owned()), None]);
        assert!(data_row(b"\0\x01\0\0\0\x09x").is_err());
    }
}
