//! natterd's HTTP listener (`[http] listen`, off by default): Prometheus
//! metrics, health checks and incoming webhooks.
//!
//! - `GET /healthz`: the process is alive (200 while it serves at all).
//! - `GET /readyz`: the store takes writes (a write job commits within a
//!   second) and the server is not shutting down; else 503.
//! - `GET /metrics`: every metric in the Prometheus text format
//!   ([`crate::metrics`]).
//! - `GET /top`: each room's message count, for `natterd top` (loopback
//!   clients only: room names are not the network's to see).
//! - `GET /files/{id}/{sig}/{name}`: a file a message carries, by the
//!   signed link IRC clients are shown ([`crate::file_links`]).
//! - `POST /hooks/{token}`: an incoming webhook. The body is JSON with a
//!   `text` field (the Slack- and Mattermost-compatible subset), or plain
//!   text; the message appears from the hook's bot, and the reply is 200
//!   only once it is stored.
//!
//! Built on hyper with axum's router. Every request counts against a
//! per-address token bucket (`http.requests_per_sec`, `http.burst`);
//! bodies are capped at `http.max_body_bytes`; headers must arrive within
//! the request timeout, and each request is answered within it. Every
//! error is JSON, `{"error": code, "message": text}`, with a 4xx or 5xx
//! status, and nothing that is refused reaches a room.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use natter_shared::{ErrorCode, ErrorReply};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::auth::TokenBucket;

/// Most addresses whose request rate is remembered; past it, the buckets
/// that have refilled are forgotten.
const MAX_TRACKED: usize = 10_000;

/// The listener's own state.
struct Http {
    shared: Arc<Shared>,
    buckets: Mutex<HashMap<IpAddr, TokenBucket>>,
}

type HttpState = Arc<Http>;

/// An error reply: a status and a JSON body.
#[derive(Debug)]
pub struct HttpError {
    status: StatusCode,
    /// natter's error code (`invalid`, `not_member`, ...) or the
    /// listener's own (`not_found`, `rate_limited`).
    code: String,
    message: String,
}

impl HttpError {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        (self.status, axum::Json(body)).into_response()
    }
}

/// An operation's refusal as HTTP: the status that fits its code.
impl From<ErrorReply> for HttpError {
    fn from(e: ErrorReply) -> Self {
        let status = match e.code {
            ErrorCode::RateLimited | ErrorCode::Throttled | ErrorCode::Quota => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ErrorCode::NotMember | ErrorCode::Banned | ErrorCode::Forbidden => {
                StatusCode::FORBIDDEN
            }
            ErrorCode::NoSuchRoom | ErrorCode::NoSuchUser => StatusCode::NOT_FOUND,
            ErrorCode::Invalid | ErrorCode::TooLong => StatusCode::BAD_REQUEST,
            ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::Suspended => StatusCode::FORBIDDEN,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.code.as_str(), e.message)
    }
}

/// Serves HTTP on `listener` until `stop` is cancelled; TLS with
/// `tls` when given.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<crate::tls::Acceptor>,
    stop: CancellationToken,
) {
    let state = Arc::new(Http {
        shared: Arc::clone(&shared),
        buckets: Mutex::new(HashMap::new()),
    });
    let config = shared.config();
    let router = router(Arc::clone(&state), config.http.max_body_bytes);
    let timeout = Duration::from_millis(config.http.request_timeout_ms);
    let tracker = shared.tasks.clone();
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let router = router.clone();
        let tls = tls.clone();
        let stop = stop.clone();
        tracker.spawn(async move {
            let service =
                hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    let router = router.clone();
                    async move {
                        let response = tokio::time::timeout(
                            timeout,
                            tower::ServiceExt::oneshot(router, req.map(axum::body::Body::new)),
                        )
                        .await;
                        Ok::<_, std::convert::Infallible>(match response {
                            Ok(Ok(r)) => r,
                            Ok(Err(never)) => match never {},
                            Err(_) => HttpError::new(
                                StatusCode::SERVICE_UNAVAILABLE,
                                "timeout",
                                "the request took too long",
                            )
                            .into_response(),
                        })
                    }
                });
            match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            connection(TokioIo::new(stream), service, timeout, stop).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "HTTPS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "HTTPS handshake timed out"),
                    }
                }
                None => connection(TokioIo::new(stream), service, timeout, stop).await,
            }
        });
    }
}

/// Serves one HTTP/1.1 connection: headers within `timeout`, and a
/// graceful end (the request in flight is answered) on `stop`.
async fn connection<I, S>(io: I, service: S, timeout: Duration, stop: CancellationToken)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::Service<
            Request<hyper::body::Incoming>,
            Response = Response,
            Error = std::convert::Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
        }
        () = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
        }
    }
}

fn router(state: HttpState, max_body: usize) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/top", get(top))
        .route("/hooks/{token}", post(incoming_hook))
        .route("/files/{id}/{sig}/{name}", get(file))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            rate_limit,
        ))
        .with_state(state)
}

/// Refuses a client over its rate before anything else runs, and counts
/// every answer by endpoint and status.
async fn rate_limit(
    State(http): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let endpoint = endpoint(req.uri().path());
    let allowed = {
        let config = http.shared.config();
        let mut buckets = http
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED {
            buckets.retain(|_, b| !b.is_full());
        }
        buckets
            .entry(crate::auth::client_key(peer.ip()))
            .or_insert_with(|| TokenBucket::new(config.http.requests_per_sec, config.http.burst))
            .take()
    };
    let response = match allowed {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            http.shared.metrics.rate_limited.inc();
            let mut r = HttpError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests; slow down",
            )
            .into_response();
            let secs = wait.as_secs().max(1).to_string();
            if let Ok(v) = header::HeaderValue::from_str(&secs) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
    };
    http.shared
        .metrics
        .http_requests
        .get_or_create(&crate::metrics::EndpointLabel {
            endpoint,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// The endpoint a path counts under (never the hook's token).
fn endpoint(path: &str) -> &'static str {
    match path {
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        "/top" => "top",
        p if p.starts_with("/hooks/") => "hooks",
        p if p.starts_with("/files/") => "files",
        _ => "other",
    }
}

async fn not_found() -> HttpError {
    HttpError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> HttpError {
    HttpError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

async fn healthz() -> impl IntoResponse {
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({"status": "ok"})),
    )
}

/// How long the readiness probe's write may take.
const READY_WRITE: Duration = Duration::from_secs(1);

async fn readyz(State(http): State<HttpState>) -> Result<impl IntoResponse, HttpError> {
    let shared = &http.shared;
    if shared.draining.is_cancelled() {
        return Err(HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        ));
    }
    match tokio::time::timeout(READY_WRITE, shared.store.flush()).await {
        Ok(Ok(())) => Ok((
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ready"})),
        )),
        Ok(Err(e)) => Err(HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store",
            format!("the store does not take writes: {e}"),
        )),
        Err(_) => Err(HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store",
            "the store did not take a write within a second",
        )),
    }
}

async fn metrics(State(http): State<HttpState>) -> Result<Response, HttpError> {
    let shared = &http.shared;
    if !shared.config().http.metrics {
        return Err(HttpError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "metrics are off (http.metrics)",
        ));
    }
    crate::ops::presence::refresh_levels(shared).await;
    Ok((
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        shared.metrics.render(),
    )
        .into_response())
}

/// What `natterd top` reads beside `/metrics`: each room's message count
/// since the server started. Room names are the operator's to see, not
/// the network's: only a client on this machine (loopback) is answered.
async fn top(
    State(http): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Response, HttpError> {
    if !peer.ip().to_canonical().is_loopback() {
        return Err(HttpError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "/top answers only on this machine (loopback)",
        ));
    }
    let rooms: Vec<serde_json::Value> = http
        .shared
        .hub()
        .room_activity()
        .into_iter()
        .map(|(room, messages)| serde_json::json!({"room": room, "messages": messages}))
        .collect();
    Ok(axum::Json(serde_json::json!({ "rooms": rooms })).into_response())
}

/// Bytes read from the blob store per chunk of a file's body.
const FILE_CHUNK: usize = 256 * 1024;

/// A file by its signed link: the bytes streamed from the blob store.
/// Images a browser shows safely are inline; everything else is a
/// download, never rendered by the browser as a page of this origin.
async fn file(
    State(http): State<HttpState>,
    Path((id, sig, _name)): Path<(String, String, String)>,
) -> Result<Response, HttpError> {
    let missing = || HttpError::new(StatusCode::NOT_FOUND, "not_found", "no such file");
    let Ok(id) = id.parse::<natter_shared::FileId>() else {
        return Err(missing());
    };
    if !http.shared.file_links.verify(id, &sig) {
        return Err(missing());
    }
    let Some(file) = http.shared.store.attached_file(id).await.map_err(|e| {
        tracing::warn!(error = %e, "cannot read a file's record");
        HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again")
    })?
    else {
        return Err(missing());
    };
    let blobs = std::sync::Arc::clone(http.shared.store.blobs());
    if !blobs.has(&file.sha256) {
        return Err(missing());
    }
    let inline = matches!(
        file.mime.as_str(),
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    );
    let content_type = if inline {
        file.mime.clone()
    } else {
        "application/octet-stream".to_owned()
    };
    let disposition = format!(
        "{}; filename=\"{}\"; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        file.name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "-_. ".contains(c) {
                c
            } else {
                '_'
            })
            .collect::<String>(),
        crate::file_links::url_segment(&file.name)
    );
    let size = file.size;
    let hash = file.sha256.clone();
    let body = futures_util::stream::unfold(0u64, move |offset| {
        let blobs = std::sync::Arc::clone(&blobs);
        let hash = hash.clone();
        async move {
            if offset >= size {
                return None;
            }
            let read = tokio::task::spawn_blocking(move || {
                let want = usize::try_from(size - offset).map_or(FILE_CHUNK, |r| r.min(FILE_CHUNK));
                let mut buf = vec![0; want];
                let mut got = 0;
                while got < want {
                    let n = blobs.read_at(&hash, false, offset + got as u64, &mut buf[got..])?;
                    if n == 0 {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the file is shorter than its record",
                        ));
                    }
                    got += n;
                }
                Ok(buf)
            })
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
            match read {
                Ok(buf) => {
                    let next = offset + buf.len() as u64;
                    Some((Ok::<_, std::io::Error>(Bytes::from(buf)), next))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a file's bytes cannot be read");
                    Some((Err(e), size))
                }
            }
        }
    });
    let mut r = Response::new(axum::body::Body::from_stream(body));
    let headers = r.headers_mut();
    let value = |s: &str| {
        header::HeaderValue::from_str(s).unwrap_or(header::HeaderValue::from_static("attachment"))
    };
    headers.insert(header::CONTENT_TYPE, value(&content_type));
    headers.insert(header::CONTENT_LENGTH, header::HeaderValue::from(size));
    headers.insert(header::CONTENT_DISPOSITION, value(&disposition));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, max-age=3600"),
    );
    Ok(r)
}

/// The message text of a webhook body: JSON with `text` (what Slack and
/// Mattermost send), or the body itself as plain text.
fn hook_text(headers: &HeaderMap, body: &[u8]) -> Result<String, HttpError> {
    let invalid = |m: &str| HttpError::new(StatusCode::BAD_REQUEST, "invalid", m);
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().starts_with("application/json"))
        || body.first() == Some(&b'{');
    let text = if json {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| invalid(&format!("the body is not valid JSON: {e}")))?;
        match value.get("text") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(_) => return Err(invalid("\"text\" must be a string")),
            None => return Err(invalid("the JSON body has no \"text\"")),
        }
    } else {
        String::from_utf8(body.to_vec()).map_err(|_| invalid("the body is not UTF-8 text"))?
    };
    let text = text.trim_end_matches(['\n', '\r']).to_owned();
    if text.trim().is_empty() {
        return Err(invalid("the message is empty"));
    }
    Ok(text)
}

async fn incoming_hook(
    State(http): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, HttpError> {
    // A body over the limit (413) or cut off is answered in JSON too.
    let body = body.map_err(|e| {
        let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "invalid"
        };
        HttpError::new(e.status(), code, e.body_text())
    })?;
    let shared = &http.shared;
    let unknown = || HttpError::new(StatusCode::NOT_FOUND, "not_found", "no such hook");
    // Tokens are 64 hex characters; anything else is no hook's, and is
    // not worth a lookup.
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(unknown());
    }
    let text = hook_text(&headers, &body)?;
    let target = shared
        .store
        .hook_by_token(&token)
        .await
        .map_err(|e| HttpError::from(crate::ops::internal(&e)))?
        .ok_or_else(unknown)?;
    crate::ops::resolve_user(shared, &target.user.name).await?;
    let post = |text| crate::ops::post::as_user(shared, &target.user, peer, &target.room, text);
    let id = match post(text.clone()).await {
        // A hook added a moment ago: the store has the bot's membership,
        // which the hub follows within a fraction of a second. Follow it
        // now instead.
        Err(e) if e.code == ErrorCode::NotMember || e.code == ErrorCode::NoSuchRoom => {
            crate::follow_membership(shared, target.user.id, target.room_id)
                .await
                .map_err(|e| HttpError::from(crate::ops::internal(&e)))?;
            post(text).await?
        }
        other => other?,
    };
    shared.metrics.hooks_in.inc();
    tracing::info!(hook = target.hook_id, room = %target.room, id, "webhook posted");
    Ok((
        StatusCode::OK,
        axum::Json(serde_json::json!({"ok": true, "id": id, "room": target.room})),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_bodies_are_json_with_text_or_plain_text() {
        let mut json = HeaderMap::new();
        json.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        assert_eq!(
            hook_text(&json, br#"{"text":"build 812 passed","username":"x"}"#).unwrap(),
            "build 812 passed"
        );
        assert_eq!(
            hook_text(&HeaderMap::new(), b"deployed\n").unwrap(),
            "deployed"
        );
        // A JSON-looking body without the header is still JSON.
        assert_eq!(
            hook_text(&HeaderMap::new(), br#"{"text":"hi"}"#).unwrap(),
            "hi"
        );
        for bad in [
            &br#"{"text":1}"#[..],
            br#"{"x":"y"}"#,
            b"{nope",
            b"\xff\xfe",
            b"  \n",
        ] {
            let e = hook_text(&json, bad).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad:?}");
        }
    }
}
