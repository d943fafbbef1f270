//! The S3 response documents the client reads: `ListBucketResult` (V2),
//! `InitiateMultipartUploadResult`, `CompleteMultipartUploadResult` and
//! `Error`. Errors are texts for the caller to wrap.

use crate::{encode, time, xml};

/// One object of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectEntry {
    /// The full key (the configured prefix included).
    pub key: String,
    pub size: u64,
    /// `LastModified` as (seconds since the epoch, nanoseconds).
    pub last_modified: Option<(i64, u32)>,
    /// The ETag, quotes included as S3 sends it.
    pub etag: Option<String>,
}

/// One page of a ListObjectsV2 listing.
#[derive(Debug, Default, PartialEq)]
pub struct ListPage {
    pub objects: Vec<ObjectEntry>,
    /// Where the next page starts, if the listing was truncated.
    pub next_token: Option<String>,
}

/// An S3 `<Error>` document's code and message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

pub fn list_page(body: &str) -> Result<ListPage, String> {
    let root = xml::parse(body)?;
    if root.name != "ListBucketResult" {
        return Err(format!("expected a ListBucketResult, got <{}>", root.name));
    }
    // With `encoding-type=url` the server percent-encodes keys (so that keys
    // with characters XML cannot carry survive); it says so in the reply.
    let url_encoded = root
        .child_text("EncodingType")
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("url"));
    let mut objects = Vec::new();
    for contents in root.children("Contents") {
        let raw_key = contents
            .child_text("Key")
            .ok_or("a <Contents> without <Key>")?;
        let key = if url_encoded {
            encode::decode(raw_key).ok_or_else(|| format!("badly encoded key {raw_key:?}"))?
        } else {
            raw_key.to_owned()
        };
        let size = contents
            .child_text("Size")
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| format!("object {key:?} has no valid <Size>"))?;
        objects.push(ObjectEntry {
            last_modified: contents
                .child_text("LastModified")
                .and_then(time::parse_iso8601),
            etag: contents.child_text("ETag").map(str::to_owned),
            key,
            size,
        });
    }
    let truncated = root
        .child_text("IsTruncated")
        .is_some_and(|t| t.trim() == "true");
    let next_token = match root.child_text("NextContinuationToken") {
        Some(token) if truncated && !token.is_empty() => Some(token.to_owned()),
        _ if truncated => return Err("a truncated listing without NextContinuationToken".into()),
        _ => None,
    };
    Ok(ListPage {
        objects,
        next_token,
    })
}

pub fn upload_id(body: &str) -> Result<String, String> {
    let root = xml::parse(body)?;
    root.child_text("UploadId")
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| "no UploadId in the InitiateMultipartUploadResult".into())
}

/// `Some` if `body` is an `<Error>` document.
pub fn error_body(body: &str) -> Option<ErrorBody> {
    let root = xml::parse(body).ok()?;
    (root.name == "Error").then(|| ErrorBody {
        code: root.child_text("Code").unwrap_or_default().to_owned(),
        message: root.child_text("Message").unwrap_or_default().to_owned(),
    })
}

/// CompleteMultipartUpload can fail after its `200 OK`: the error then
/// arrives as the body. `Ok` only for a `CompleteMultipartUploadResult`.
pub fn complete_result(body: &str) -> Result<(), CompleteFailure> {
    match xml::parse(body) {
        Ok(root) if root.name == "CompleteMultipartUploadResult" => Ok(()),
        Ok(root) if root.name == "Error" => Err(CompleteFailure::Error(ErrorBody {
            code: root.child_text("Code").unwrap_or_default().to_owned(),
            message: root.child_text("Message").unwrap_or_default().to_owned(),
        })),
        Ok(root) => Err(CompleteFailure::Malformed(format!(
            "unexpected <{}> completing a multipart upload",
            root.name
        ))),
        Err(e) => Err(CompleteFailure::Malformed(e)),
    }
}

#[derive(Debug, PartialEq)]
pub enum CompleteFailure {
    Error(ErrorBody),
    Malformed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>drhost</Name><Prefix>backups/</Prefix><KeyCount>3</KeyCount>
  <MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents>
    <Key>backups/a &amp; b.txt</Key>
    <LastModified>2009-10-12T17:50:30.000Z</LastModified>
    <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag>
    <Size>434234</Size><StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents>
    <Key>backups/with space/ünïcode/日本</Key>
    <LastModified>2024-02-29T12:00:00.5Z</LastModified>
    <Size>0</Size>
  </Contents>
  <Contents><Key>backups//x/../</Key><Size>1</Size></Contents>
</ListBucketResult>"#;

    #[test]
    fn parses_a_truncated_listing() {
        let page = list_page(LIST).unwrap();
        assert_eq!(
            page.next_token.as_deref(),
            Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        );
        assert_eq!(page.objects.len(), 3);
        assert_eq!(
            page.objects[0],
            ObjectEntry {
                key: "backups/a & b.txt".into(),
                size: 434_234,
                last_modified: Some((1_255_369_830, 0)),
                etag: Some("\"fba9dede5f27731c9771645a39863328\"".into()),
            }
        );
        assert_eq!(page.objects[1].key, "backups/with space/ünïcode/日本");
        assert_eq!(
            page.objects[1].last_modified,
            Some((1_709_208_000, 500_000_000))
        );
        assert_eq!(page.objects[2].key, "backups//x/../");
        assert_eq!(page.objects[2].last_modified, None);
    }

    #[test]
    fn decodes_url_encoded_keys() {
        let doc = "<ListBucketResult><EncodingType>url</EncodingType>\
                   <IsTruncated>false</IsTruncated>\
                   <Contents><Key>a%20b/%C3%BC%01+x</Key><Size>3</Size></Contents>\
                   </ListBucketResult>";
        let page = list_page(doc).unwrap();
        assert_eq!(page.objects[0].key, "a b/ü\u{1} x");
        assert_eq!(page.next_token, None);
    }

    #[test]
    fn parses_an_empty_listing() {
        let doc = "<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount>\
                   <IsTruncated>false</IsTruncated></ListBucketResult>";
        assert_eq!(list_page(doc).unwrap(), ListPage::default());
    }

    #[test]
    fn refuses_broken_listings() {
        assert!(list_page("<Error><Code>x</Code></Error>").is_err());
        assert!(
            list_page("<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>")
                .is_err()
        );
        assert!(list_page("<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>").is_err());
        assert!(
            list_page("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>")
                .is_err()
        );
    }

    #[test]
    fn parses_multipart_documents() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>example-bucket</Bucket><Key>example-object</Key>
  <UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>
</InitiateMultipartUploadResult>"#;
        assert_eq!(
            upload_id(doc).unwrap(),
            "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA"
        );
        assert!(upload_id("<InitiateMultipartUploadResult/>").is_err());
        assert_eq!(
            complete_result(
                "<CompleteMultipartUploadResult><ETag>\"x-2\"</ETag></CompleteMultipartUploadResult>"
            ),
            Ok(())
        );
        assert_eq!(
            complete_result(
                "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"
            ),
            Err(CompleteFailure::Error(ErrorBody {
                code: "InternalError".into(),
                message: "We encountered an internal error.".into()
            }))
        );
        assert!(matches!(
            complete_result(""),
            Err(CompleteFailure::Malformed(_))
        ));
    }

    #[test]
    fn parses_error_documents() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The resource you requested does not exist</Message>
<Resource>/mybucket/myfoto.jpg</Resource><RequestId>4442587FB7D0A2F9</RequestId></Error>"#;
        assert_eq!(
            error_body(doc),
            Some(ErrorBody {
                code: "NoSuchKey".into(),
                message: "The resource you requested does not exist".into()
            })
        );
        assert_eq!(error_body("not xml"), None);
        assert_eq!(error_body("<Other/>"), None);
    }
}
