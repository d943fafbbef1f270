//! What a plugin instance may touch: granted directories and TCP addresses,
//! turned into a WASI context that has nothing else (no env, args, stdin,
//! inherited stdio, DNS, UDP, listening sockets).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use crate::endpoints::EndpointPolicy;
use crate::notes::SandboxDenials;

/// Capabilities of one plugin call, derived from the operator's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Host directories preopened for the guest.
    pub dirs: Vec<DirGrant>,
    /// Exact addresses the guest may open TCP connections to. Empty: no
    /// networking at all.
    pub tcp_connect: Vec<SocketAddr>,
    /// Authorities (`host:port`, or endpoint URLs naming one) the guest may
    /// send `wasi:http` requests to. Empty: every request is refused.
    pub http_connect: Vec<String>,
    /// What `posix-fs` may change beyond file contents.
    pub fs_policy: FsPolicy,
    /// Where `http_connect`'s authorities may lead, checked on every request
    /// against every address the authority resolves to: set for authorities
    /// an API client chose (an S3 store's endpoint), `None` for the
    /// operator's own grants.
    pub http_addresses: Option<Arc<EndpointPolicy>>,
}

/// What a plugin's `posix-fs.set-metadata` may apply, as the operator
/// configured it for the stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FsPolicy {
    pub owners: OwnerPolicy,
    /// Setuid, setgid and sticky bits may be set. Off by default: a restore
    /// must not plant a setuid binary unless the operator asked for it.
    pub special_bits: bool,
}

/// How restored owners are applied. Whatever the policy, an owner is only
/// applied where the host may (root or `CAP_CHOWN`); elsewhere the job
/// warns, and setuid/setgid bits are dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OwnerPolicy {
    /// The recorded uid and gid.
    #[default]
    Numeric,
    /// The ids the recorded user and group names have on this host,
    /// falling back to the recorded numbers for unknown names.
    Names,
    /// Owners are never changed.
    Skip,
}

/// One host directory visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// Directory on the host.
    pub host: PathBuf,
    /// Absolute path the guest sees it at, e.g. `/data`.
    pub guest: String,
    /// Read-write instead of read-only.
    pub writable: bool,
}

impl Grants {
    /// Checks the grants themselves (the directories are opened later, per call).
    pub(crate) fn check(&self) -> Result<(), String> {
        for (i, dir) in self.dirs.iter().enumerate() {
            let guest = normalize_guest(&dir.guest);
            if !dir.guest.starts_with('/') || guest.split('/').any(|c| c == "." || c == "..") {
                return Err(format!(
                    "granted guest path {:?} must be absolute and free of `.`/`..`",
                    dir.guest
                ));
            }
            if self.dirs[..i]
                .iter()
                .any(|d| normalize_guest(&d.guest) == guest)
            {
                return Err(format!("guest path {:?} is granted twice", dir.guest));
            }
        }
        Ok(())
    }
}

/// Capacity of the captured stdout/stderr of one call; beyond it the guest's
/// writes fail, which Rust's `eprintln!` ignores.
pub(crate) const OUTPUT_CAPTURE_BYTES: usize = 64 << 10;

/// A WASI context with exactly `grants`; the guest's stdout and stderr go to
/// `output`. Calls run on threads of their own (`call_thread`), so
/// filesystem operations block that thread instead of going through
/// `spawn_blocking`.
pub(crate) fn wasi_ctx(
    plugin: &str,
    grants: &Grants,
    output: &MemoryOutputPipe,
    denials: &SandboxDenials,
) -> Result<WasiCtx, String> {
    grants.check()?;
    // `WasiCtxBuilder::new()` denies everything: no env, args or preopens,
    // stdin closed, no sockets, no name lookup. Only add what is granted.
    let mut builder = WasiCtxBuilder::new();
    builder.stdout(output.clone()).stderr(output.clone());
    builder.allow_blocking_current_thread(true);
    for dir in &grants.dirs {
        let perms = if dir.writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        builder
            .preopened_dir(&dir.host, &dir.guest, perms)
            .map_err(|e| {
                format!(
                    "cannot open granted directory {} (guest {}): {e}",
                    dir.host.display(),
                    dir.guest
                )
            })?;
    }
    // TCP sockets may be created even without a grant, so that a refused
    // connect reaches the check below and is named; connecting, listening
    // and UDP are still refused for every address not granted.
    let allowed: Arc<[SocketAddr]> = grants.tcp_connect.clone().into();
    let (plugin, denials) = (plugin.to_string(), denials.clone());
    builder
        .allow_tcp(true)
        .socket_addr_check(move |addr, usage| {
            let ok = tcp_permitted(&allowed, addr, usage);
            if !ok {
                let denial = denial_text(addr, usage);
                tracing::warn!(plugin = %plugin, "sandbox refused {denial}");
                denials.record(denial);
            }
            Box::pin(async move { ok })
        });
    Ok(builder.build())
}

/// The socket policy: connect to exactly the granted addresses. wasmtime-wasi
/// asks about the implicit bind to `0.0.0.0:0`/`[::]:0` that every connect
/// does, so that (and only that) bind is allowed; listening, accepting and
/// UDP are not.
fn tcp_permitted(allowed: &[SocketAddr], addr: SocketAddr, usage: SocketAddrUse) -> bool {
    match usage {
        SocketAddrUse::TcpConnect => allowed.contains(&addr),
        SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
        _ => false,
    }
}

/// What was refused, and the grant that would have allowed it.
fn denial_text(addr: SocketAddr, usage: SocketAddrUse) -> String {
    match usage {
        SocketAddrUse::TcpConnect => {
            format!("a TCP connection to {addr}: no `tcp_connect` grant of this plugin lists it")
        }
        SocketAddrUse::TcpBind | SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => {
            format!("listening on {addr}: plugins may not accept connections")
        }
        _ => format!("UDP to or from {addr}: plugins may not use UDP"),
    }
}

/// `/data/` and `//data` name the same preopen as `/data`.
pub(crate) fn normalize_guest(path: &str) -> String {
    path.split('/')
        .filter(|c| !c.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_granted_connects_and_their_implicit_bind_pass() {
        let pg: SocketAddr = "127.0.0.1:5432".parse().unwrap();
        let allowed = [pg];
        assert!(tcp_permitted(&allowed, pg, SocketAddrUse::TcpConnect));
        let other: SocketAddr = "127.0.0.1:5433".parse().unwrap();
        assert!(!tcp_permitted(&allowed, other, SocketAddrUse::TcpConnect));
        let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
        assert!(tcp_permitted(&allowed, any, SocketAddrUse::TcpBind));
        let fixed: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(!tcp_permitted(&allowed, fixed, SocketAddrUse::TcpBind));
        assert!(!tcp_permitted(&allowed, any, SocketAddrUse::TcpListen));
        assert!(!tcp_permitted(&allowed, pg, SocketAddrUse::UdpSend));
        assert!(!tcp_permitted(&allowed, any, SocketAddrUse::UdpBind));
    }

    #[test]
    fn guest_paths_must_be_absolute_and_distinct() {
        let grant = |guest: &str| DirGrant {
            host: PathBuf::from("/tmp"),
            guest: guest.into(),
            writable: false,
        };
        let ok = Grants {
            dirs: vec![grant("/data"), grant("/restore")],
            tcp_connect: vec![],
            http_connect: vec![],
            fs_policy: FsPolicy::default(),
            http_addresses: None,
        };
        assert!(ok.check().is_ok());
        for bad in [
            vec![grant("data")],
            vec![grant("/a/../b")],
            vec![grant("/data"), grant("/data/")],
        ] {
            let grants = Grants {
                dirs: bad,
                tcp_connect: vec![],
                http_connect: vec![],
                fs_policy: FsPolicy::default(),
                http_addresses: None,
            };
            assert!(grants.check().is_err(), "{grants:?}");
        }
    }

    #[test]
    fn missing_granted_directory_is_reported() {
        let grants = Grants {
            dirs: vec![DirGrant {
                host: PathBuf::from("/nonexistent/drhost-test"),
                guest: "/data".into(),
                writable: false,
            }],
            tcp_connect: vec![],
            http_connect: vec![],
            fs_policy: FsPolicy::default(),
            http_addresses: None,
        };
        let err = wasi_ctx(
            "p",
            &grants,
            &MemoryOutputPipe::new(16),
            &SandboxDenials::default(),
        )
        .err()
        .unwrap();
        assert!(err.contains("/nonexistent/drhost-test"), "{err}");
    }
}
