//! A small HTTP/1.1 client on hyper, for what natterd itself asks of
//! other servers: outgoing webhooks' POSTs and `natterd top`'s scrapes.
//! One request per connection, http or https (the system's roots), the
//! reply's body read up to a limit.

use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;

/// Sends one request to `url` with `headers` and `body`, and returns the
/// status and at most `max_reply` bytes of the reply's body. Redirects are
/// not followed. The caller bounds the time.
///
/// # Errors
/// A bad URL, a connection, TLS or HTTP failure, or a reply over
/// `max_reply`, as one line.
pub async fn request(
    method: Method,
    url: &str,
    headers: &[(&str, String)],
    body: String,
    max_reply: usize,
) -> Result<(StatusCode, Bytes), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL {url:?}: {e}"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(format!("{url:?} is not an http or https URL")),
    };
    let host = uri
        .host()
        .ok_or_else(|| format!("{url:?} has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path = uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), ToString::to_string);
    let authority = uri
        .authority()
        .map_or_else(|| host.clone(), ToString::to_string);
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, authority)
        .header(
            hyper::header::USER_AGENT,
            concat!("natterd/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    let request = builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let response = if https {
        let name = rustls_pki_types::ServerName::try_from(host.clone())
            .map_err(|e| format!("bad host name {host:?}: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(client_tls()?)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {host} failed: {e}"))?;
        send(TokioIo::new(tls), request).await?
    } else {
        send(TokioIo::new(tcp), request).await?
    };
    let status = response.status();
    let reply = Limited::new(response.into_body(), max_reply)
        .collect()
        .await
        .map_err(|e| format!("cannot read the reply: {e}"))?
        .to_bytes();
    Ok((status, reply))
}

/// Sends one request on a fresh HTTP/1.1 connection.
async fn send<I>(
    io: I,
    request: Request<Full<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| format!("the request failed: {e}"))
}

/// TLS for https URLs: the system's root certificates.
fn client_tls() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: std::sync::OnceLock<Result<Arc<rustls::ClientConfig>, String>> =
        std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err("no system root certificates for https".into());
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
                .map_err(|e| e.to_string())
        })
        .clone()
}
