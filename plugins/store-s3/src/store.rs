//! The store operations on a bucket, over any `s3-client` transport. Object
//! contents move through the [`Source`]/[`BodySink`] adapters of the host's
//! streams.

use guest_sdk::PluginError;
use guest_sdk::s3::{from_plugin, to_plugin};
use s3_client::client::MAX_KEYS;
use s3_client::transport::{Clock, Transport};
use s3_client::{BodySink, Client, Error, Source};

use crate::bindings::exports::drhost::plugin::store_adapter::ObjectInfo;
use crate::name;

pub use guest_sdk::{HostSink, HostSource};

struct SourceAdapter<'a, S>(&'a S);

impl<S: HostSource> Source for SourceAdapter<'_, S> {
    fn read(&mut self, max: usize) -> Result<Vec<u8>, Error> {
        let max = u32::try_from(max).unwrap_or(u32::MAX);
        self.0.read(max).map_err(from_plugin)
    }
}

struct SinkAdapter<'a, S>(&'a S);

impl<S: HostSink> BodySink for SinkAdapter<'_, S> {
    fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        self.0.write(data).map_err(from_plugin)
    }
}

pub struct Store<'a, T, C> {
    pub client: &'a Client<T, C>,
}

impl<T: Transport, C: Clock> Store<'_, T, C> {
    /// Single PUT up to the part size, else multipart (aborted on failure):
    /// either way S3 shows the whole object or none of it.
    pub fn put(&self, name: &str, size: u64, source: &impl HostSource) -> Result<(), PluginError> {
        checked(name)?;
        self.client
            .put_object(name, size, &mut SourceAdapter(source), &[])
            .map_err(to_plugin)
    }

    pub fn get(
        &self,
        name: &str,
        offset: u64,
        length: Option<u64>,
        sink: &impl HostSink,
    ) -> Result<(), PluginError> {
        checked(name)?;
        self.client
            .get_object(name, offset, length, &mut SinkAdapter(sink))
            .map(drop)
            .map_err(to_plugin)
    }

    pub fn stat(&self, name: &str) -> Result<Option<ObjectInfo>, PluginError> {
        checked(name)?;
        let head = self.client.head_object(name).map_err(to_plugin)?;
        Ok(head.map(|head| ObjectInfo {
            name: name.to_owned(),
            size: head.size,
        }))
    }

    /// One ListObjectsV2 page: S3 lists in ascending byte order and
    /// `start-after` is exclusive, exactly the contract's paging.
    pub fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<ObjectInfo>, PluginError> {
        let page = self
            .client
            .list_page(prefix, start_after, None, MAX_KEYS)
            .map_err(to_plugin)?;
        Ok(page
            .objects
            .into_iter()
            .map(|o| ObjectInfo {
                name: o.key,
                size: o.size,
            })
            .collect())
    }

    pub fn delete(&self, name: &str) -> Result<(), PluginError> {
        checked(name)?;
        self.client.delete_object(name).map_err(to_plugin)
    }

    /// Lists one key and writes and removes a probe object, so that a bad
    /// endpoint, bucket, key or read-only credentials show at registration.
    pub fn probe(&self) -> Result<(), PluginError> {
        self.client.probe(true).map_err(to_plugin)
    }
}

fn checked(name: &str) -> Result<(), PluginError> {
    name::validate(name).map_err(PluginError::InvalidData)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use s3_client::transport::{Request, Response, ResponseBody, TransportError};

    use super::*;

    /// A network that must not be used: bad names fail before any request.
    struct NoNetwork;
    struct NoBody;

    impl ResponseBody for NoBody {
        fn read(&mut self, _: usize) -> Result<Vec<u8>, TransportError> {
            unreachable!()
        }
    }

    impl Transport for NoNetwork {
        type Body = NoBody;
        fn send(&self, request: &Request<'_>) -> Result<Response<NoBody>, TransportError> {
            panic!("unexpected request {request:?}")
        }
    }

    impl Clock for NoNetwork {
        fn now_unix(&self) -> i64 {
            0
        }
        fn sleep(&self, _: Duration) {}
    }

    /// An empty source and a sink that drops what it gets.
    struct Nothing;

    impl HostSink for Nothing {
        fn write(&self, _: &[u8]) -> Result<(), PluginError> {
            Ok(())
        }
    }

    impl HostSource for Nothing {
        fn read(&self, _: u32) -> Result<Vec<u8>, PluginError> {
            Ok(Vec::new())
        }
    }

    #[test]
    fn bad_names_fail_before_any_request() {
        let settings = crate::config::parse(
            r#"{"endpoint":"http://127.0.0.1:3900","bucket":"b","access_key":"a","secret_key":"s"}"#,
        )
        .unwrap();
        let client = Client::new(settings, NoNetwork, NoNetwork);
        let store = Store { client: &client };
        for bad in ["", "../x", "A", "a//b"] {
            assert!(matches!(
                store.put(bad, 0, &Nothing),
                Err(PluginError::InvalidData(_))
            ));
            assert!(matches!(
                store.get(bad, 0, None, &Nothing),
                Err(PluginError::InvalidData(_))
            ));
            assert!(matches!(store.stat(bad), Err(PluginError::InvalidData(_))));
            assert!(matches!(
                store.delete(bad),
                Err(PluginError::InvalidData(_))
            ));
        }
    }
}
