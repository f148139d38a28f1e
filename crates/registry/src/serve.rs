//! The HTTP side: hyper's HTTP/1 server answering the pull routes from a [`Store`].
//!
//! Invariants: only GET and HEAD are answered (anything else is 405, nothing is ever written);
//! a blob is streamed from its tar in bounded chunks (memory does not grow with its size);
//! errors are the distribution spec's JSON (`{"errors":[{"code":…}]}`).

use crate::error::{RegistryError, Result};
use crate::route::{Route, ns_of};
use crate::store::Store;
use bytes::Bytes;
use futures::TryStreamExt as _;
use http_body_util::{BodyExt as _, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderValue, RANGE};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

type Body = BoxBody<Bytes, std::io::Error>;

/// One answered request, for the access log.
#[derive(Debug, Clone)]
pub struct Access {
    pub peer: SocketAddr,
    pub method: String,
    pub path: String,
    pub status: u16,
    /// Bytes of the body sent (planned: a client may hang up before the end).
    pub bytes: u64,
}

/// The access-log line: `<client ip> <method> <path> <status> <bytes>`.
impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ip = self.peer.ip();
        write!(
            f,
            "{ip} {} {} {} {}",
            self.method, self.path, self.status, self.bytes
        )
    }
}

/// Told of every request answered.
pub type Observer = Arc<dyn Fn(&Access) + Send + Sync>;

/// Serves `store` on `listener` until `shutdown` completes. Connections already open when it
/// does are dropped with the task.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Arc<Store>,
    observer: Observer,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                // a failed accept (a client gone, too many files for a moment) is that
                // client's problem, not the registry's: keep serving
                let Ok((stream, peer)) = accepted else { continue };
                let (store, observer) = (store.clone(), observer.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let (store, observer) = (store.clone(), observer.clone());
                        async move { Ok::<_, Infallible>(answer(&store, req, peer, &observer).await) }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, svc)
                        .await;
                });
            }
        }
    }
}

/// Binds `addr` (`0.0.0.0:5000`, `127.0.0.1:0`, …).
pub async fn bind(addr: &str) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| RegistryError::Listen {
            addr: addr.to_string(),
            source,
        })
}

async fn answer(
    store: &Store,
    req: Request<Incoming>,
    peer: SocketAddr,
    observer: &Observer,
) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let (mut resp, bytes) = respond(store, &req).await;
    resp.headers_mut().insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static("registry/2.0"),
    );
    if method == Method::HEAD {
        *resp.body_mut() = empty();
    }
    observer(&Access {
        peer,
        method: method.to_string(),
        path,
        status: resp.status().as_u16(),
        bytes: if method == Method::HEAD { 0 } else { bytes },
    });
    resp
}

/// The response and its body's length.
async fn respond(store: &Store, req: &Request<Incoming>) -> (Response<Body>, u64) {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "this registry serves a bundle read-only: pull only",
        );
    }
    let ns = ns_of(req.uri().query());
    match Route::parse(req.uri().path()) {
        Route::Base => json(StatusCode::OK, serde_json::json!({})),
        Route::Catalog => json(
            StatusCode::OK,
            serde_json::json!({ "repositories": store.repositories() }),
        ),
        Route::Tags { name } => match store.repo(&name, ns.as_deref()) {
            Some(repo) => json(
                StatusCode::OK,
                serde_json::json!({ "name": name, "tags": store.tags(repo) }),
            ),
            None => unknown_name(&name),
        },
        Route::Manifest { name, reference } => {
            let Some(repo) = store.repo(&name, ns.as_deref()) else {
                return unknown_name(&name);
            };
            let Some(m) = store.manifest(repo, &reference) else {
                return error(
                    StatusCode::NOT_FOUND,
                    "MANIFEST_UNKNOWN",
                    &format!("{name}: no {reference} in the bundle"),
                );
            };
            let len = m.bytes.len() as u64;
            let resp = Response::builder()
                .status(StatusCode::OK)
                .header(CONTENT_TYPE, m.media_type.as_str())
                .header(CONTENT_LENGTH, len)
                .header("Docker-Content-Digest", m.digest.as_str())
                .body(full(Bytes::from(m.bytes.clone())));
            (resp.unwrap_or_else(|_| internal()), len)
        }
        Route::Blob { digest, .. } => match store.blob(&digest) {
            Some(at) => blob(at, &digest, req.headers().get(RANGE)).await,
            None => error(
                StatusCode::NOT_FOUND,
                "BLOB_UNKNOWN",
                &format!("{digest} is not in the bundle"),
            ),
        },
        Route::Unknown => error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route"),
    }
}

/// A blob, whole or the one range asked for (`bytes=a-` or `bytes=a-b`, as a resuming
/// client sends), streamed from its place in the tar.
async fn blob(
    at: &crate::store::BlobAt,
    digest: &str,
    range: Option<&HeaderValue>,
) -> (Response<Body>, u64) {
    let (start, end, partial) = match range.map(|r| parse_range(r.to_str().unwrap_or(""), at.size))
    {
        None => (0, at.size, false),
        Some(Some((s, e))) => (s, e, true),
        Some(None) => {
            let resp = Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(CONTENT_RANGE, format!("bytes */{}", at.size))
                .body(empty());
            return (resp.unwrap_or_else(|_| internal()), 0);
        }
    };
    let file = match tokio::fs::File::open(&at.tar).await {
        Ok(mut f) => match f.seek(std::io::SeekFrom::Start(at.offset + start)).await {
            Ok(_) => f,
            Err(e) => return io_failed(&e),
        },
        Err(e) => return io_failed(&e),
    };
    let len = end - start;
    let stream =
        tokio_util::io::ReaderStream::with_capacity(file.take(len), 256 << 10).map_ok(Frame::data);
    let mut b = Response::builder()
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(CONTENT_LENGTH, len)
        .header("Docker-Content-Digest", digest);
    b = if partial {
        b.status(StatusCode::PARTIAL_CONTENT).header(
            CONTENT_RANGE,
            format!("bytes {start}-{}/{}", end.saturating_sub(1), at.size),
        )
    } else {
        b.status(StatusCode::OK)
    };
    let resp = b.body(StreamBody::new(stream).boxed());
    (resp.unwrap_or_else(|_| internal()), len)
}

/// `bytes=a-` / `bytes=a-b` of a `size`-byte blob as the half-open [start, end); `None` when
/// not satisfiable or not of that form.
fn parse_range(h: &str, size: u64) -> Option<(u64, u64)> {
    let (a, b) = h.trim().strip_prefix("bytes=")?.split_once('-')?;
    let start: u64 = a.trim().parse().ok()?;
    let end = match b.trim() {
        "" => size,
        b => b.parse::<u64>().ok()?.saturating_add(1).min(size),
    };
    (start < end).then_some((start, end))
}

fn full(b: Bytes) -> Body {
    Full::new(b).map_err(|never| match never {}).boxed()
}

fn empty() -> Body {
    full(Bytes::new())
}

fn json(status: StatusCode, v: serde_json::Value) -> (Response<Body>, u64) {
    let body = serde_json::to_vec(&v).unwrap_or_default();
    let len = body.len() as u64;
    let resp = Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_LENGTH, len)
        .body(full(Bytes::from(body)));
    (resp.unwrap_or_else(|_| internal()), len)
}

fn error(status: StatusCode, code: &str, message: &str) -> (Response<Body>, u64) {
    json(
        status,
        serde_json::json!({ "errors": [{ "code": code, "message": message }] }),
    )
}

fn unknown_name(name: &str) -> (Response<Body>, u64) {
    error(
        StatusCode::NOT_FOUND,
        "NAME_UNKNOWN",
        &format!("{name}: no such image in the bundle (or more than one: name its registry)"),
    )
}

fn io_failed(e: &std::io::Error) -> (Response<Body>, u64) {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "UNKNOWN",
        &format!("reading the bundle: {e}"),
    )
}

fn internal() -> Response<Body> {
    let mut r = Response::new(empty());
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_a_resuming_client_sends() {
        assert_eq!(parse_range("bytes=0-", 10), Some((0, 10)));
        assert_eq!(parse_range("bytes=4-", 10), Some((4, 10)));
        assert_eq!(parse_range("bytes=2-5", 10), Some((2, 6)));
        assert_eq!(parse_range("bytes=2-99", 10), Some((2, 10)));
        assert_eq!(parse_range("bytes=10-", 10), None);
        assert_eq!(parse_range("bytes=-5", 10), None);
        assert_eq!(parse_range("items=0-1", 10), None);
    }
}
