//! Which network addresses an endpoint chosen through the API (an S3
//! store's) may lead to. Without a configured list every address is allowed
//! except the host's own and its link's (loopback, link-local, unspecified,
//! multicast, broadcast), where services trust their callers; with one, only
//! the listed networks are. An endpoint is judged by every address its host
//! name resolves to, so a name cannot smuggle a forbidden address in behind
//! an allowed one.
//!
//! Entries are `ADDRESS[/PREFIX]`, optionally with a port: `10.0.0.0/8`,
//! `192.0.2.10:9000`, `10.1.0.0/16:443`, `fd00::/8`, `[::1]:3900`,
//! `[2001:db8::/32]:443`. An IPv6 network with a port goes in brackets.

use std::net::{IpAddr, SocketAddr};

/// Why a configured entry is not a network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("store_endpoints entry {entry:?} {why}")]
pub struct EndpointRuleError {
    entry: String,
    why: &'static str,
}

/// Why an endpoint may not be used.
#[derive(Debug, thiserror::Error)]
pub enum EndpointRefusal {
    #[error("cannot resolve {authority}: {source}")]
    Unresolvable {
        authority: String,
        source: std::io::Error,
    },
    #[error("{authority} resolves to no address")]
    NoAddress { authority: String },
    #[error("{authority} resolves to {address}, {why}")]
    NotAllowed {
        authority: String,
        address: SocketAddr,
        why: &'static str,
    },
}

/// An address range, its host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    base: IpAddr,
    prefix: u8,
}

impl Network {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.base, ip) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(ip) & mask == u32::from(base)
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(ip) & mask == u128::from(base)
            }
            _ => false,
        }
    }

    fn parse(text: &str) -> Result<Self, &'static str> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let ip: IpAddr = address
            .parse()
            .map_err(|_| "does not start with an IP address")?;
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or("has a prefix length that does not fit its address")?,
        };
        let whole = Network { base: ip, prefix };
        let masked = Network {
            base: match ip {
                IpAddr::V4(v4) => {
                    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                    IpAddr::V4((u32::from(v4) & mask).into())
                }
                IpAddr::V6(v6) => {
                    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                    IpAddr::V6((u128::from(v6) & mask).into())
                }
            },
            prefix,
        };
        // `10.0.0.1/8` most likely means something else than `10.0.0.0/8`.
        if whole != masked {
            return Err("has bits set after its prefix length");
        }
        Ok(masked)
    }
}

/// One allowed network, on one port or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    network: Network,
    port: Option<u16>,
}

impl Rule {
    fn parse(entry: &str) -> Result<Self, EndpointRuleError> {
        let invalid = |why| EndpointRuleError {
            entry: entry.to_string(),
            why,
        };
        let text = entry.trim();
        let (network, port) = if let Some(rest) = text.strip_prefix('[') {
            let (network, port) = rest
                .split_once("]:")
                .ok_or(invalid("opens a bracket but has no `]:PORT` after it"))?;
            (network, Some(port))
        } else if text.matches(':').count() == 1 {
            let (network, port) = text.split_once(':').unwrap_or((text, ""));
            (network, Some(port))
        } else {
            (text, None)
        };
        let port = match port {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or(invalid("has a port that is not 1-65535"))?,
            ),
        };
        let network = Network::parse(network).map_err(invalid)?;
        Ok(Rule { network, port })
    }

    fn matches(&self, address: SocketAddr) -> bool {
        self.network.contains(address.ip()) && self.port.is_none_or(|p| p == address.port())
    }
}

/// The networks endpoints may lead to. The default allows every address
/// but the local ones ([`is_local`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointPolicy {
    /// `None`: not configured.
    allowed: Option<Vec<Rule>>,
}

impl EndpointPolicy {
    /// Only the listed networks (an empty list allows none).
    pub fn allow_only<S: AsRef<str>>(entries: &[S]) -> Result<Self, EndpointRuleError> {
        let rules = entries
            .iter()
            .map(|e| Rule::parse(e.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            allowed: Some(rules),
        })
    }

    /// Whether a connection to `address` is allowed, or why not.
    pub fn judge(&self, address: SocketAddr) -> Result<(), &'static str> {
        // `::ffff:127.0.0.1` is 127.0.0.1 to the kernel.
        let address = SocketAddr::new(address.ip().to_canonical(), address.port());
        match &self.allowed {
            None if is_local(address.ip()) => Err(
                "a loopback, link-local, unspecified or multicast address, which store \
                 endpoints may only have when store_endpoints lists it",
            ),
            None => Ok(()),
            Some(rules) if rules.iter().any(|r| r.matches(address)) => Ok(()),
            Some(_) => Err("which is outside the networks store_endpoints lists"),
        }
    }

    /// Resolves `authority` (`host:port`) and checks every address it
    /// resolves to, before anything is sent there.
    pub async fn check(&self, authority: &str) -> Result<Vec<SocketAddr>, EndpointRefusal> {
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host(authority)
            .await
            .map_err(|source| EndpointRefusal::Unresolvable {
                authority: authority.to_string(),
                source,
            })?
            .collect();
        if addresses.is_empty() {
            return Err(EndpointRefusal::NoAddress {
                authority: authority.to_string(),
            });
        }
        for &address in &addresses {
            self.judge(address)
                .map_err(|why| EndpointRefusal::NotAllowed {
                    authority: authority.to_string(),
                    address,
                    why,
                })?;
        }
        Ok(addresses)
    }
}

/// The host's own addresses and its link's: loopback, link-local,
/// unspecified (`0.0.0.0` reaches the host itself), multicast, broadcast.
fn is_local(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            v4.octets()[0] == 0
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SocketAddr {
        text.parse().expect("socket address")
    }

    #[test]
    fn by_default_local_addresses_are_refused_and_others_allowed() {
        let policy = EndpointPolicy::default();
        for local in [
            "127.0.0.1:3900",
            "127.1.2.3:80",
            "0.0.0.0:80",
            "0.1.2.3:80",
            "169.254.169.254:80",
            "224.0.0.1:80",
            "255.255.255.255:80",
            "[::1]:3900",
            "[::]:80",
            "[fe80::1]:80",
            "[febf::1]:80",
            "[ff02::1]:80",
            "[::ffff:127.0.0.1]:3900",
            "[::ffff:169.254.169.254]:80",
        ] {
            assert!(policy.judge(at(local)).is_err(), "{local}");
        }
        for remote in [
            "192.0.2.10:443",
            "10.0.0.5:9000",
            "[2001:db8::1]:443",
            "[fec0::1]:80",
            "[::ffff:192.0.2.1]:443",
        ] {
            assert!(policy.judge(at(remote)).is_ok(), "{remote}");
        }
    }

    #[test]
    fn a_configured_list_allows_exactly_its_networks() {
        let policy = EndpointPolicy::allow_only(&[
            "127.0.0.1:3900",
            "10.0.0.0/8",
            "192.0.2.0/24:443",
            "[::1]:3900",
            "fd00::/8",
            "[2001:db8::/32]:443",
        ])
        .expect("valid");
        for allowed in [
            "127.0.0.1:3900",
            "[::ffff:127.0.0.1]:3900",
            "10.255.0.1:1",
            "192.0.2.77:443",
            "[::1]:3900",
            "[fd12::5]:80",
            "[2001:db8:1::1]:443",
        ] {
            assert!(policy.judge(at(allowed)).is_ok(), "{allowed}");
        }
        for refused in [
            "127.0.0.1:3901",
            "127.0.0.2:3900",
            "11.0.0.1:80",
            "192.0.2.77:80",
            "[::1]:3901",
            "[fe80::1]:80",
            "[2001:db8:1::1]:80",
            "169.254.169.254:80",
        ] {
            assert!(policy.judge(at(refused)).is_err(), "{refused}");
        }
        let none = EndpointPolicy::allow_only::<&str>(&[]).expect("valid");
        assert!(none.judge(at("192.0.2.10:443")).is_err());
    }

    #[test]
    fn malformed_entries_are_refused_with_the_entry_named() {
        for bad in [
            "localhost",
            "10.0.0.0/33",
            "10.0.0.1/8",
            "10.0.0.0/8:0",
            "10.0.0.0:99999",
            "[::1]",
            "::1:80x",
            "fd00::/129",
            "",
        ] {
            let err = EndpointPolicy::allow_only(&[bad]).expect_err(bad);
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[tokio::test]
    async fn every_resolved_address_is_checked() {
        let policy = EndpointPolicy::default();
        let refused = policy.check("localhost:3900").await.expect_err("loopback");
        assert!(
            matches!(refused, EndpointRefusal::NotAllowed { .. }),
            "{refused}"
        );
        let allowed = EndpointPolicy::allow_only(&["127.0.0.0/8", "::1"]).expect("valid");
        assert!(allowed.check("localhost:3900").await.is_ok());
        assert!(allowed.check("127.0.0.1:3900").await.is_ok());
        assert!(matches!(
            allowed.check("no-such-host.invalid:80").await,
            Err(EndpointRefusal::Unresolvable { .. })
        ));
    }
}
