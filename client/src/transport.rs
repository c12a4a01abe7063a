//! The byte stream under a [`crate::Connection`]: plain TCP for `host:port`
//! (or `tcp://host:port`), TLS for `tls://host:port`; and the choice of
//! server when there are several (`a:7878,b:7878`, a cluster's nodes, or a
//! name with several addresses), tried in turn until one answers.
//!
//! TLS verifies the server against the system's root certificates, or only
//! against a private CA given as `--ca-file` / `ca_file`. A certificate
//! problem is an error naming it; there is never a fallback to plain text.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::error::ClientError;

/// The read half of a connection.
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a connection.
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// Where to connect, parsed from a server address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port` for the TCP connection.
    pub hostport: String,
    /// The host to verify the certificate against, when TLS.
    pub tls_host: Option<String>,
}

impl Target {
    /// Parses `host:port`, `tcp://host:port` or `tls://host:port`.
    ///
    /// # Errors
    /// [`ClientError::Usage`] for another scheme or a missing port.
    pub fn parse(addr: &str) -> Result<Self, ClientError> {
        let addr = addr.trim();
        let (tls, rest) = if let Some(rest) = addr.strip_prefix("tls://") {
            (true, rest)
        } else if let Some(rest) = addr.strip_prefix("tcp://") {
            (false, rest)
        } else if let Some((scheme, _)) = addr.split_once("://") {
            return Err(ClientError::Usage(format!(
                "unknown scheme {scheme}:// in the server address {addr}; use host:port or tls://host:port"
            )));
        } else {
            (false, addr)
        };
        let rest = rest.trim_end_matches('/');
        let Some((host, port)) = rest.rsplit_once(':') else {
            return Err(ClientError::Usage(format!(
                "the server address {addr} has no port; use host:port or tls://host:port"
            )));
        };
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(ClientError::Usage(format!(
                "the server address {addr} is not host:port"
            )));
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Ok(Self {
            hostport: rest.to_owned(),
            tls_host: tls.then(|| host.to_owned()),
        })
    }
}

/// Several servers, written `a:7878,b:7878` (the nodes of one cluster),
/// parsed in the order written: each is one [`Target`].
///
/// # Errors
/// [`ClientError::Usage`] naming the first address that does not parse, or
/// for an empty list.
pub fn targets(list: &str) -> Result<Vec<(String, Target)>, ClientError> {
    let mut out = Vec::new();
    for addr in list.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        out.push((addr.to_owned(), Target::parse(addr)?));
    }
    if out.is_empty() {
        return Err(ClientError::Usage("the server address is empty".into()));
    }
    Ok(out)
}

/// An open stream, and which of the servers it reached.
pub struct Opened {
    pub reader: Reader,
    pub writer: Writer,
    /// The address of the server that answered, as written in the list.
    pub addr: String,
    /// Its place in the list.
    pub index: usize,
}

/// Opens a stream to one of the servers in `list` (one address, or several
/// written `a:7878,b:7878`), trying them in turn from the one at `start`
/// (wrapping round) until one answers: TCP, then the TLS handshake when
/// asked for. A name that resolves to several addresses has each tried in
/// turn too. Each server, and each address, gets `timeout` of its own, so
/// one host that has vanished without a reset costs one timeout, not the
/// whole attempt.
///
/// # Errors
/// With one server, its error ([`ClientError::Connect`],
/// [`ClientError::ConnectTimeout`], [`ClientError::Tls`]); with several,
/// [`ClientError::NoServer`] holding each one's.
pub async fn open(
    list: &str,
    start: usize,
    ca_file: Option<&Path>,
    timeout: Duration,
) -> Result<Opened, ClientError> {
    let servers = targets(list)?;
    let n = servers.len();
    let mut errors = Vec::new();
    for step in 0..n {
        let index = (start + step) % n;
        let (addr, target) = &servers[index];
        match open_one(addr, target, ca_file, timeout).await {
            Ok((reader, writer)) => {
                return Ok(Opened {
                    reader,
                    writer,
                    addr: addr.clone(),
                    index,
                });
            }
            Err(e) => {
                tracing::debug!(%addr, error = %e, "server did not answer");
                errors.push(e);
            }
        }
    }
    if errors.len() == 1 {
        return Err(errors.remove(0));
    }
    Err(ClientError::NoServer(errors))
}

/// One server: every address its name resolves to, in turn, then TLS.
async fn open_one(
    addr: &str,
    target: &Target,
    ca_file: Option<&Path>,
    timeout: Duration,
) -> Result<(Reader, Writer), ClientError> {
    let timed_out = || ClientError::ConnectTimeout {
        addr: addr.to_owned(),
        after: timeout,
    };
    let connect_err = |source| ClientError::Connect {
        addr: addr.to_owned(),
        source,
    };
    let resolved: Vec<std::net::SocketAddr> =
        tokio::time::timeout(timeout, tokio::net::lookup_host(&target.hostport))
            .await
            .map_err(|_| timed_out())?
            .map_err(connect_err)?
            .collect();
    let stream = connect_any(&resolved, timeout).await.map_err(|e| match e {
        None => timed_out(),
        Some(source) => connect_err(source),
    })?;
    // Chat frames are small and latency matters more than packing.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!("set_nodelay failed: {e}");
    }
    let Some(host) = &target.tls_host else {
        let (r, w) = stream.into_split();
        return Ok((Box::new(r), Box::new(w)));
    };
    let tls_err = |message: String| ClientError::Tls {
        addr: addr.to_owned(),
        message,
    };
    let config = client_config(ca_file).map_err(tls_err)?;
    let name = ServerName::try_from(host.clone())
        .map_err(|_| tls_err(format!("{host} is not a valid host name for TLS")))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let tls = tokio::time::timeout(timeout, connector.connect(name, stream))
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| tls_err(describe(&e, host, ca_file)))?;
    let (r, w) = tokio::io::split(tls);
    Ok((Box::new(r), Box::new(w)))
}

/// The first of `addrs` that accepts a TCP connection, each given
/// `timeout`. The error is the last address's (`None`: it timed out).
async fn connect_any(
    addrs: &[std::net::SocketAddr],
    timeout: Duration,
) -> Result<TcpStream, Option<std::io::Error>> {
    let mut last = Some(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "the name resolves to no address",
    ));
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => {
                tracing::debug!(%addr, error = %e, "address did not answer");
                last = Some(e);
            }
            Err(_) => {
                tracing::debug!(%addr, "address timed out");
                last = None;
            }
        }
    }
    Err(last)
}

/// The client's TLS settings: the private CA alone when given (so a
/// certificate from a public CA does not pass for the private server),
/// else the system roots.
fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(format!(
                "the CA file {} holds no usable certificate",
                path.display()
            ));
        }
    } else {
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(
                "no system root certificates found (install ca-certificates, or pass --ca-file)"
                    .into(),
            );
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// One line saying what is wrong with the server's certificate.
fn describe(e: &std::io::Error, host: &str, ca_file: Option<&Path>) -> String {
    use rustls::CertificateError as C;
    let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return format!("TLS handshake failed: {e}");
    };
    let trusted = ca_file.map_or_else(
        || "a CA in the system's roots (for a private CA, pass --ca-file)".to_owned(),
        |p| format!("the CA in {}", p.display()),
    );
    match tls {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer | C::BadSignature => {
                format!("the server's certificate is not signed by {trusted}")
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                format!("the server's certificate is not valid for the name {host}")
            }
            C::Expired | C::ExpiredContext { .. } => {
                "the server's certificate has expired".to_owned()
            }
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet (check the clocks)".to_owned()
            }
            C::Revoked => "the server's certificate was revoked".to_owned(),
            other => format!("the server's certificate was refused: {other:?}"),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "the server did not answer with TLS (is that a plain-text port? use host:port without tls://)".to_owned()
        }
        other => format!("TLS handshake failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_with_and_without_a_scheme() {
        let t = Target::parse("chat.example.org:7878").unwrap();
        assert_eq!(t.hostport, "chat.example.org:7878");
        assert_eq!(t.tls_host, None);
        let t = Target::parse("tcp://127.0.0.1:1").unwrap();
        assert_eq!((t.hostport.as_str(), t.tls_host), ("127.0.0.1:1", None));
        let t = Target::parse("tls://chat.example.org:7879").unwrap();
        assert_eq!(t.hostport, "chat.example.org:7879");
        assert_eq!(t.tls_host.as_deref(), Some("chat.example.org"));
        let t = Target::parse("tls://[::1]:7879").unwrap();
        assert_eq!(t.hostport, "[::1]:7879");
        assert_eq!(t.tls_host.as_deref(), Some("::1"));
        for bad in ["https://x:1", "tls://x", "x", "tls://:5", "x:notaport"] {
            let e = Target::parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}: {e}");
        }
    }

    /// A name with several addresses (what DNS gives a cluster behind one
    /// name) has each tried in turn, from the first.
    #[tokio::test]
    async fn each_address_of_a_name_is_tried_in_turn() {
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_addr = dead.local_addr().unwrap();
        drop(dead);
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let live_addr = live.local_addr().unwrap();
        let stream = connect_any(&[dead_addr, live_addr], Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(stream.peer_addr().unwrap(), live_addr);
        let err = connect_any(&[dead_addr], Duration::from_secs(5))
            .await
            .unwrap_err()
            .unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(connect_any(&[], Duration::from_secs(5)).await.is_err());
    }

    #[test]
    fn lists_of_servers_parse_in_order() {
        let t = targets(" a:1, tls://b:2 ,").unwrap();
        let addrs: Vec<_> = t.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(addrs, ["a:1", "tls://b:2"]);
        assert_eq!(t[1].1.tls_host.as_deref(), Some("b"));
        assert_eq!(targets(" , ").unwrap_err().exit_code(), 2);
        let e = targets("a:1,b").unwrap_err();
        assert!(e.to_string().contains("b has no port"), "{e}");
    }
}
