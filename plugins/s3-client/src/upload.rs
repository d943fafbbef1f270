//! Storing an object from a stream: one PUT up to the part size, else a
//! multipart upload whose parts are read from the source one at a time (so
//! at most one part is ever in memory) and aborted on any failure, leaving no
//! partial object behind. The source must deliver exactly the declared size.

use plugin_util::CHUNK;

use crate::client::{Call, Client, Failure};
use crate::error::Error;
use crate::responses::{self, CompleteFailure};
use crate::retry;
use crate::transport::{Clock, Method, Transport, read_to_end};

/// S3 allows at most this many parts in one upload.
pub const MAX_PARTS: u64 = 10_000;
const MIB: u64 = 1 << 20;

/// Where `put_object` reads an object's bytes.
pub trait Source {
    /// Up to `max` bytes; an empty vector marks the end.
    fn read(&mut self, max: usize) -> Result<Vec<u8>, Error>;
}

/// The part size for an object of `size`: the configured one, or for a huge
/// object the next whole MiB that keeps it within [`MAX_PARTS`] parts.
pub fn part_size(size: u64, configured: usize) -> u64 {
    let configured = configured as u64;
    if size.div_ceil(configured.max(1)) <= MAX_PARTS {
        return configured;
    }
    size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB
}

/// The parts of an object of `size`: (number from 1, offset, length).
pub fn parts(size: u64, part: u64) -> impl Iterator<Item = (u32, u64, u64)> {
    let count = size.div_ceil(part.max(1));
    (0..count).map(move |i| {
        let offset = i * part;
        (
            u32::try_from(i + 1).unwrap_or(u32::MAX),
            offset,
            part.min(size - offset),
        )
    })
}

/// Escapes text for an XML element.
fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The CompleteMultipartUpload document for parts with these ETags.
pub fn complete_document(etags: &[String]) -> String {
    let mut doc = String::from("<CompleteMultipartUpload>");
    for (i, etag) in etags.iter().enumerate() {
        doc.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
            i + 1,
            xml_text(etag)
        ));
    }
    doc.push_str("</CompleteMultipartUpload>");
    doc
}

/// Appends to `buf` from `source` until it holds `want` bytes or the
/// source ends; returns whether it got them all.
fn fill(source: &mut impl Source, buf: &mut Vec<u8>, want: usize) -> Result<bool, Error> {
    while buf.len() < want {
        let max = (want - buf.len()).min(CHUNK);
        let piece = source.read(max)?;
        if piece.is_empty() {
            return Ok(false);
        }
        if piece.len() > max {
            return Err(Error::invalid_data(format!(
                "the source returned {} bytes when asked for at most {max}",
                piece.len()
            )));
        }
        buf.extend_from_slice(&piece);
    }
    Ok(true)
}

impl<T: Transport, C: Clock> Client<T, C> {
    /// Stores `size` bytes from `source` under `name` with the metadata
    /// `headers` (`content-type`, `x-amz-meta-*`, ...). Fails with
    /// `invalid-data` if the source delivers another amount.
    pub fn put_object(
        &self,
        name: &str,
        size: u64,
        source: &mut impl Source,
        headers: &[(String, String)],
    ) -> Result<(), Error> {
        let part = part_size(size, self.settings.part_size);
        if size <= part {
            let len = usize::try_from(size).map_err(|_| Error::invalid_data("object too large"))?;
            let mut body = Vec::with_capacity(len);
            self.read_part(name, size, 0, source, &mut body, len)?;
            self.expect_end(name, size, source)?;
            return self.put_bytes(name, &body, headers);
        }
        let upload_id = self.create_upload(name, headers)?;
        let result = self.upload_parts(name, size, part, &upload_id, source);
        if result.is_err() {
            // Best effort: a failed abort leaves the parts to the bucket's
            // lifecycle rules, and the original error is the one to report.
            let _ = self.abort_upload(name, &upload_id);
        }
        result
    }

    fn upload_parts(
        &self,
        name: &str,
        size: u64,
        part: u64,
        upload_id: &str,
        source: &mut impl Source,
    ) -> Result<(), Error> {
        let capacity = usize::try_from(part).map_err(|_| Error::invalid_data("part too large"))?;
        let mut buf = Vec::with_capacity(capacity);
        let mut etags = Vec::new();
        for (number, offset, length) in parts(size, part) {
            buf.clear();
            let want = usize::try_from(length).unwrap_or(capacity);
            self.read_part(name, size, offset, source, &mut buf, want)?;
            etags.push(self.upload_part(name, upload_id, number, &buf)?);
        }
        drop(buf);
        self.expect_end(name, size, source)?;
        self.complete_upload(name, size, upload_id, &etags)
    }

    /// Reads the `want` bytes at `offset` of the declared `size`.
    fn read_part(
        &self,
        name: &str,
        size: u64,
        offset: u64,
        source: &mut impl Source,
        buf: &mut Vec<u8>,
        want: usize,
    ) -> Result<(), Error> {
        if fill(source, buf, want)? {
            return Ok(());
        }
        let delivered = offset + buf.len() as u64;
        Err(Error::invalid_data(format!(
            "{name}: the source delivered {delivered} bytes, but {size} were declared"
        )))
    }

    fn expect_end(&self, name: &str, size: u64, source: &mut impl Source) -> Result<(), Error> {
        if source.read(CHUNK)?.is_empty() {
            return Ok(());
        }
        Err(Error::invalid_data(format!(
            "{name}: the source delivered more than the {size} bytes declared"
        )))
    }

    fn create_upload(&self, name: &str, headers: &[(String, String)]) -> Result<String, Error> {
        let key = self.key(name);
        let call = Call {
            op: "start multipart upload of".into(),
            method: Method::Post,
            key: Some(&key),
            query: vec![("uploads".into(), String::new())],
            headers: headers.to_vec(),
            body: &[],
        };
        let doc = self.document(&call)?;
        responses::upload_id(&doc).map_err(|e| self.malformed(&call, &e))
    }

    fn upload_part(
        &self,
        name: &str,
        upload_id: &str,
        number: u32,
        data: &[u8],
    ) -> Result<String, Error> {
        let key = self.key(name);
        let call = Call {
            op: format!("upload part {number} of").into(),
            method: Method::Put,
            key: Some(&key),
            query: vec![
                ("partNumber".into(), number.to_string()),
                ("uploadId".into(), upload_id.to_owned()),
            ],
            headers: Vec::new(),
            body: data,
        };
        let response = self.execute(&call).map_err(|f| self.error(&call, f))?;
        response
            .header("etag")
            .map(str::to_owned)
            .ok_or_else(|| self.malformed(&call, "no ETag for the part"))
    }

    fn complete_upload(
        &self,
        name: &str,
        size: u64,
        upload_id: &str,
        etags: &[String],
    ) -> Result<(), Error> {
        let key = self.key(name);
        let body = complete_document(etags);
        let call = Call {
            op: "complete multipart upload of".into(),
            method: Method::Post,
            key: Some(&key),
            query: vec![("uploadId".into(), upload_id.to_owned())],
            headers: vec![("content-type".into(), "application/xml".into())],
            body: body.as_bytes(),
        };
        let mut attempt = 1;
        loop {
            let doc = match self.execute(&call) {
                Ok(mut response) => read_to_end(&mut response.body, 1 << 20)
                    .map_err(|e| self.error(&call, Failure::Transport(e)))?,
                // A retried completion whose first try went through finds
                // the upload gone: the object itself tells.
                Err(Failure::Status { status: 404, error }) if error.code == "NoSuchUpload" => {
                    return match self.head_object(name)? {
                        Some(head) if head.size == size => Ok(()),
                        _ => Err(self.error(&call, Failure::Status { status: 404, error })),
                    };
                }
                Err(failure) => return Err(self.error(&call, failure)),
            };
            let error = match responses::complete_result(&String::from_utf8_lossy(&doc)) {
                Ok(()) => return Ok(()),
                Err(CompleteFailure::Malformed(why)) => return Err(self.malformed(&call, &why)),
                // The error arrived after `200 OK`, as the body.
                Err(CompleteFailure::Error(error)) => error,
            };
            if !retry::status_retryable(200, &error.code)
                || !self.retry.pause(&mut attempt, &self.clock)
            {
                return Err(self.error(&call, Failure::Status { status: 200, error }));
            }
        }
    }

    fn abort_upload(&self, name: &str, upload_id: &str) -> Result<(), Error> {
        let key = self.key(name);
        let call = Call {
            op: "abort multipart upload of".into(),
            method: Method::Delete,
            key: Some(&key),
            query: vec![("uploadId".into(), upload_id.to_owned())],
            headers: Vec::new(),
            body: &[],
        };
        self.execute(&call).map_err(|f| self.error(&call, f))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_into_parts() {
        const M: u64 = MIB;
        assert_eq!(parts(0, 8 * M).count(), 0);
        assert_eq!(
            parts(20 * M + 1, 8 * M).collect::<Vec<_>>(),
            [(1, 0, 8 * M), (2, 8 * M, 8 * M), (3, 16 * M, 4 * M + 1)]
        );
        assert_eq!(
            parts(16 * M, 8 * M).collect::<Vec<_>>(),
            [(1, 0, 8 * M), (2, 8 * M, 8 * M)]
        );
        let gib: Vec<_> = parts(1 << 30, 8 * M).collect();
        assert_eq!(gib.len(), 128);
        assert_eq!(gib.last(), Some(&(128, 127 * 8 * M, 8 * M)));
    }

    #[test]
    fn grows_parts_for_huge_objects() {
        let configured = 8 << 20;
        assert_eq!(part_size(1 << 30, configured), 8 * MIB);
        assert_eq!(part_size(10_000 * 8 * MIB, configured), 8 * MIB);
        let huge = 10_000 * 8 * MIB + 1;
        let part = part_size(huge, configured);
        assert_eq!(part, 9 * MIB);
        assert!(huge.div_ceil(part) <= MAX_PARTS);
        let five_tib: u64 = 5 << 40;
        assert!(five_tib.div_ceil(part_size(five_tib, configured)) <= MAX_PARTS);
    }

    #[test]
    fn writes_the_completion_document() {
        assert_eq!(
            complete_document(&["\"a\"".into(), "\"b&c\"".into()]),
            "<CompleteMultipartUpload>\
             <Part><PartNumber>1</PartNumber><ETag>\"a\"</ETag></Part>\
             <Part><PartNumber>2</PartNumber><ETag>\"b&amp;c\"</ETag></Part>\
             </CompleteMultipartUpload>"
        );
    }
}
