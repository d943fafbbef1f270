//! HTTPS for the admin API (the reference API is HTTPS-only): the operator's
//! certificate and key, or a self-signed certificate generated at the first
//! start and kept in the state directory, so clients can pin it.
//!
//! Handshakes run in their own tasks, with a deadline, so a client that
//! opens a connection and sends nothing holds up no one else.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Longest a client may take to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the server to take them.
const ACCEPT_QUEUE: usize = 64;
/// The HTTP versions offered in ALPN, preferred first.
const ALPN_PROTOCOLS: [&[u8]; 2] = [b"http/1.1", b"http/1.0"];

/// Why HTTPS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{path} holds no usable {what}: {reason}")]
    Pem {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("cannot write the self-signed certificate to {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(String),
    #[error("the TLS configuration is unusable: {0}")]
    Config(String),
}

/// Where the certificate and key come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateSource {
    /// PEM files the operator provides.
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed certificate in `<dir>/cert.pem` and `<dir>/key.pem`,
    /// generated when missing, for `names` (host names and IP addresses).
    SelfSigned { dir: PathBuf, names: Vec<String> },
}

impl CertificateSource {
    /// The certificate file clients can trust (`curl --cacert`).
    pub fn cert_path(&self) -> PathBuf {
        match self {
            Self::Files { cert, .. } => cert.clone(),
            Self::SelfSigned { dir, .. } => dir.join("cert.pem"),
        }
    }

    /// A rustls server configuration (TLS 1.2 and 1.3, HTTP/1.1 and 1.0).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let (cert, key) = match self {
            Self::Files { cert, key } => (cert.clone(), key.clone()),
            Self::SelfSigned { dir, names } => ensure_self_signed(dir, names)?,
        };
        let certs = read_pem(&cert, "certificate", |bytes| {
            CertificateDer::pem_slice_iter(bytes).collect::<Result<Vec<_>, _>>()
        })?;
        if certs.is_empty() {
            return Err(TlsError::Pem {
                what: "certificate",
                path: cert,
                reason: "no CERTIFICATE section".into(),
            });
        }
        let key = read_pem(&key, "private key", PrivateKeyDer::from_pem_slice)?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
        // rustls refuses the handshake of a client whose ALPN list shares no
        // protocol with ours, so HTTP/1.0 clients (which offer `http/1.0`
        // alone) must find it here; hyper serves both versions.
        config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

fn read_pem<T, E: std::fmt::Display>(
    path: &Path,
    what: &'static str,
    parse: impl FnOnce(&[u8]) -> Result<T, E>,
) -> Result<T, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })?;
    parse(&bytes).map_err(|e| TlsError::Pem {
        what,
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Generates the self-signed pair once; later starts reuse it, so a client
/// that pinned the certificate keeps working.
fn ensure_self_signed(dir: &Path, names: &[String]) -> Result<(PathBuf, PathBuf), TlsError> {
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    let generated = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    let write = |path: &Path, text: String| {
        std::fs::create_dir_all(dir)
            .and_then(|()| crate::fsutil::write_atomic(path, text.as_bytes()))
            .map_err(|source| TlsError::Write {
                path: path.to_path_buf(),
                source,
            })
    };
    // Key first: a certificate without its key would be reused but unusable.
    write(&key_path, generated.signing_key.serialize_pem())?;
    write(&cert_path, generated.cert.pem())?;
    tracing::info!(cert = %cert_path.display(), ?names, "generated a self-signed TLS certificate");
    Ok((cert_path, key_path))
}

/// A listener handing axum connections that completed their TLS handshake.
pub struct TlsListener {
    connections: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (tx, connections) = mpsc::channel(ACCEPT_QUEUE);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(%error, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { connections, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.connections.recv().await {
            Some(connection) => connection,
            // The accept task only ends once this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = CertificateSource::SelfSigned {
            dir: dir.path().join("tls"),
            names: vec!["localhost".into(), "127.0.0.1".into()],
        };
        source.server_config().expect("config");
        let first = std::fs::read(source.cert_path()).expect("cert");
        source.server_config().expect("config again");
        assert_eq!(std::fs::read(source.cert_path()).expect("cert"), first);
    }

    #[test]
    fn missing_or_bad_files_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = dir.path().join("cert.pem");
        let source = CertificateSource::Files {
            cert: cert.clone(),
            key: dir.path().join("key.pem"),
        };
        let error = source.server_config().expect_err("missing").to_string();
        assert!(error.contains("cert.pem"), "{error}");
        std::fs::write(&cert, "not pem").expect("write");
        let error = source.server_config().expect_err("bad").to_string();
        assert!(error.contains("certificate"), "{error}");
    }
}
