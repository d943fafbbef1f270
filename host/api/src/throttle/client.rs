//! The client address the throttles count a request against: the peer of
//! the TCP connection, as the server recorded it (`ConnectInfo`). Forwarded
//! headers are not trusted, since any client can send them; behind a reverse
//! proxy every client shares the proxy's address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::Extensions;

/// An IPv4 address, or the /64 network of an IPv6 one: a single IPv6 host
/// usually holds a whole /64, so counting its addresses one by one would
/// give it 2^64 budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey(IpAddr);

impl ClientKey {
    /// The key of the request's peer; requests that did not come through a
    /// server recording peers (in-process tests) share one unspecified key.
    pub(crate) fn of(extensions: &Extensions) -> Self {
        extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(Self(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), |info| {
                Self::from_ip(info.0.ip())
            })
    }

    pub(crate) fn from_ip(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let network = u128::from(v6) & !(u128::from(u64::MAX));
                    Self(IpAddr::V6(Ipv6Addr::from(network)))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_hosts_count_by_their_network_and_mapped_ipv4_as_ipv4() {
        let ip = |text: &str| text.parse::<IpAddr>().expect("address");
        assert_eq!(
            ClientKey::from_ip(ip("2001:db8:1:2:aaaa::1")),
            ClientKey::from_ip(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            ClientKey::from_ip(ip("2001:db8:1:2::1")),
            ClientKey::from_ip(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            ClientKey::from_ip(ip("::ffff:192.0.2.7")),
            ClientKey::from_ip(ip("192.0.2.7"))
        );
        assert_ne!(
            ClientKey::from_ip(ip("192.0.2.7")),
            ClientKey::from_ip(ip("192.0.2.8"))
        );
        let mut extensions = Extensions::new();
        assert_eq!(
            ClientKey::of(&extensions),
            ClientKey::from_ip(ip("0.0.0.0"))
        );
        extensions.insert(ConnectInfo(SocketAddr::new(ip("192.0.2.7"), 4000)));
        assert_eq!(
            ClientKey::of(&extensions),
            ClientKey::from_ip(ip("192.0.2.7"))
        );
    }
}
