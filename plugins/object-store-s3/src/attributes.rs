//! What an object's archive entry carries besides its bytes: the exact key,
//! its size (a restore must know it before the first byte, to choose a
//! single PUT or a multipart upload), its ETag, and the metadata headers S3
//! keeps with it (`content-type`, `cache-control`, `content-encoding`,
//! `content-disposition`, `content-language`, `expires`, `x-amz-meta-*`),
//! each under its lowercase header name.

use s3_client::{ObjectHead, is_metadata_header};

use crate::{Attribute, PluginError};

/// The object's key, relative to the configured prefix.
pub const KEY: &str = "s3-key";
pub const SIZE: &str = "s3-size";
pub const ETAG: &str = "s3-etag";
/// The archive's limit of attributes per entry.
const MAX_ATTRIBUTES: usize = 64;

/// The attributes of the object `key` as a GET described it.
pub fn of_object(key: &str, head: &ObjectHead) -> Result<Vec<Attribute>, PluginError> {
    let mut attributes = vec![
        (KEY.to_owned(), key.to_owned()),
        (SIZE.to_owned(), head.size.to_string()),
    ];
    if let Some(etag) = &head.etag {
        attributes.push((ETAG.to_owned(), etag.clone()));
    }
    attributes.extend(head.metadata.iter().cloned());
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(PluginError::InvalidData(format!(
            "object {key:?} has {} metadata headers, more than an archive entry can keep",
            head.metadata.len()
        )));
    }
    Ok(attributes)
}

/// The recorded key, size and metadata headers of an entry.
pub struct Recorded {
    pub key: Option<String>,
    pub size: Option<u64>,
    pub headers: Vec<(String, String)>,
}

pub fn recorded(attributes: &[Attribute]) -> Result<Recorded, String> {
    let mut recorded = Recorded {
        key: None,
        size: None,
        headers: Vec::new(),
    };
    for (name, value) in attributes {
        match name.as_str() {
            KEY => recorded.key = Some(value.clone()),
            SIZE => {
                recorded.size = Some(
                    value
                        .parse()
                        .map_err(|_| format!("attribute {SIZE} is not a size: {value:?}"))?,
                );
            }
            _ if is_metadata_header(name) => recorded.headers.push((name.clone(), value.clone())),
            _ => {}
        }
    }
    Ok(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_key_size_and_headers() {
        let head = ObjectHead {
            size: 42,
            etag: Some("\"abc\"".into()),
            metadata: vec![
                ("content-type".into(), "image/jpeg".into()),
                ("x-amz-meta-camera".into(), "x100".into()),
            ],
        };
        let attributes = of_object("a//b", &head).unwrap();
        let r = recorded(&attributes).unwrap();
        assert_eq!(r.key.as_deref(), Some("a//b"));
        assert_eq!(r.size, Some(42));
        assert_eq!(r.headers, head.metadata);
        assert!(recorded(&[(SIZE.into(), "x".into())]).is_err());
    }

    #[test]
    fn refuses_more_metadata_than_an_entry_keeps() {
        let head = ObjectHead {
            size: 1,
            etag: None,
            metadata: (0..70)
                .map(|i| (format!("x-amz-meta-k{i}"), "v".into()))
                .collect(),
        };
        assert!(matches!(
            of_object("k", &head),
            Err(PluginError::InvalidData(_))
        ));
    }
}
