//! One HTTP transfer into a `.part` file: resumable (Range), retried with backoff on
//! transient failures, cut when stalled, and refusing HTML where a binary is expected.
//!
//! Invariant: this module only ever writes the `.part` path it is given; moving a verified
//! file into the bundle is the caller's job. A `.part` is left in place on any failure so the
//! next attempt (or the next run) resumes it.

use crate::cause::{NetFailure, error_chain};
use crate::checksum::Sha256;
use crate::error::{BundleError, Result};
use crate::events::{Event, Events};
use crate::retry::{Retries, parse_retry_after};
use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, CONTENT_TYPE, RANGE, RETRY_AFTER};
use sha2::Digest;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::AsyncWriteExt;

/// Transfer tuning. Defaults suit the Internet; tests shrink the delays.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Attempts per source after the first (transient failures only).
    pub retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Longest wait honoured from a `Retry-After` header.
    pub retry_after_max: Duration,
    pub connect_timeout: Duration,
    /// No byte for this long (headers or body) cuts the connection.
    pub read_timeout: Duration,
    /// PEM files whose certificates are trusted besides the built-in and system roots (an
    /// intranet mirror signed by a private CA: `--ca-cert`).
    pub ca_certs: Vec<std::path::PathBuf>,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            retries: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            retry_after_max: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
            ca_certs: Vec::new(),
        }
    }
}

/// Builds the shared HTTP client: rustls trusting the built-in (Mozilla) roots, the system's
/// trust store (a CA installed with update-ca-certificates works as it does for curl) and
/// `cfg.ca_certs`; system proxy settings (`HTTPS_PROXY`, `NO_PROXY`, … are honoured by
/// reqwest), connect timeout, redirects followed.
pub fn client(cfg: &FetchConfig) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(cfg.connect_timeout)
        .user_agent(concat!("kubeasz-rs-ezdown/", env!("CARGO_PKG_VERSION")));
    for f in &cfg.ca_certs {
        let pem = std::fs::read(f).map_err(|e| BundleError::io("read", f, e))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).unwrap_or_default();
        if certs.is_empty() {
            return Err(BundleError::Other(format!(
                "--ca-cert {}: no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)",
                f.display()
            )));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build()
        .map_err(|e| BundleError::Other(format!("cannot build the HTTP client: {e}")))
}

/// What a successful transfer produced.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub sha256: Sha256,
    pub size: u64,
}

/// A failed attempt, with the server's `Retry-After` if it sent one.
struct Attempt {
    err: BundleError,
    retry_after: Option<Duration>,
}

impl From<BundleError> for Attempt {
    fn from(err: BundleError) -> Self {
        Attempt {
            err,
            retry_after: None,
        }
    }
}

/// What one download fetches and where it goes.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The artifact's name in events.
    pub id: &'a str,
    pub url: &'a str,
    /// The resumable `.part` file.
    pub part: &'a Path,
    /// Turns on HTML detection (a binary served as a web page is a proxy's answer).
    pub binary: bool,
    /// Sent as the `Authorization` header (registry bearer tokens).
    pub auth: Option<&'a str>,
}

/// Downloads `t.url` into `t.part`, resuming what is there. Transient failures are retried
/// on the same URL; anything else is returned at once.
pub async fn download(
    client: &reqwest::Client,
    cfg: &FetchConfig,
    events: &Events,
    t: Target<'_>,
) -> Result<Fetched> {
    let mut retries = Retries::new(cfg);
    loop {
        stop_if_tripped(events)?;
        let a = match try_once(client, cfg, events, t).await {
            Ok(f) => return Ok(f),
            Err(a) => a,
        };
        wait_to_retry(events, &mut retries, t.id, t.url, a).await?;
    }
}

/// Downloads a small text file (a checksum file) into memory, with the same retries.
pub async fn download_text(
    client: &reqwest::Client,
    cfg: &FetchConfig,
    events: &Events,
    url: &str,
) -> Result<String> {
    let mut retries = Retries::new(cfg);
    loop {
        stop_if_tripped(events)?;
        let r = async {
            let resp = tokio::time::timeout(cfg.read_timeout, client.get(url).send())
                .await
                .map_err(|_| no_answer(events, url, cfg))?
                .map_err(|e| network(events, url, &e))?;
            events.breaker().answered();
            let status = resp.status();
            if !status.is_success() {
                return Err(http_error(url, &resp));
            }
            if is_html_type(&resp) {
                return Err(BundleError::NotBinary {
                    url: url.to_string(),
                }
                .into());
            }
            let body = tokio::time::timeout(cfg.read_timeout, resp.bytes())
                .await
                .map_err(|_| stalled(url, cfg))?
                .map_err(|e| transfer(url, &e))?;
            events.add_fetched(body.len() as u64);
            if looks_like_html(&body) {
                return Err(BundleError::NotBinary {
                    url: url.to_string(),
                }
                .into());
            }
            String::from_utf8(body.to_vec()).map_err(|_| {
                Attempt::from(BundleError::ChecksumFormat {
                    url: url.to_string(),
                    line: 1,
                    text: "(not UTF-8 text)".into(),
                })
            })
        }
        .await;
        let a = match r {
            Ok(t) => return Ok(t),
            Err(a) => a,
        };
        wait_to_retry(events, &mut retries, url, url, a).await?;
    }
}

/// After a failed attempt: its error when it is final or the budget is spent, else the
/// `Retry` event and the backoff (cut short when the breaker trips).
async fn wait_to_retry(
    events: &Events,
    retries: &mut Retries<'_>,
    id: &str,
    url: &str,
    a: Attempt,
) -> Result<()> {
    let Some(delay) = retries.next_delay(a.err.is_transient(), a.retry_after) else {
        return Err(a.err);
    };
    events.emit(Event::Retry {
        id: id.to_string(),
        url: url.to_string(),
        attempt: retries.count(),
        delay_ms: delay.as_millis() as u64,
        reason: a.err.to_string(),
    });
    pause(events, delay).await
}

fn stalled(url: &str, cfg: &FetchConfig) -> Attempt {
    BundleError::Stalled {
        url: url.to_string(),
        secs: cfg.read_timeout.as_secs().max(1),
    }
    .into()
}

/// A request that got no answer within the read timeout: a network failure for the breaker.
fn no_answer(events: &Events, url: &str, cfg: &FetchConfig) -> Attempt {
    let secs = cfg.read_timeout.as_secs().max(1);
    let f = NetFailure::timeout(url, secs);
    match events.breaker().failed(url, &f) {
        Some(t) => BundleError::Systemic(Box::new(t)).into(),
        None => stalled(url, cfg),
    }
}

fn network(events: &Events, url: &str, e: &reqwest::Error) -> Attempt {
    network_error(events, url, e).into()
}

/// A request that got no HTTP answer: classified, told to the breaker, and returned as the
/// run's verdict when it tripped the breaker.
pub fn network_error(events: &Events, url: &str, e: &reqwest::Error) -> BundleError {
    let failure = NetFailure::from_reqwest(url, e);
    if let Some(t) = events.breaker().failed(url, &failure) {
        return BundleError::Systemic(Box::new(t));
    }
    BundleError::Network {
        url: url.to_string(),
        failure: Box::new(failure),
    }
}

/// The error that ends a retry loop once the breaker has tripped.
pub fn stop_if_tripped(events: &Events) -> Result<()> {
    match events.breaker().tripped() {
        Some(t) => Err(BundleError::Systemic(Box::new(t))),
        None => Ok(()),
    }
}

/// A retry's backoff, cut short when the breaker trips.
pub async fn pause(events: &Events, d: Duration) -> Result<()> {
    events
        .breaker()
        .pause(d)
        .await
        .map_err(|t| BundleError::Systemic(Box::new(t)))
}

/// A body that broke off after the answer began: the network worked, so not the breaker's.
fn transfer(url: &str, e: &reqwest::Error) -> Attempt {
    BundleError::Transfer {
        url: url.to_string(),
        msg: error_chain(e),
    }
    .into()
}

fn http_error(url: &str, resp: &reqwest::Response) -> Attempt {
    let retry_after = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    Attempt {
        err: BundleError::Http {
            url: url.to_string(),
            status: resp.status().as_u16(),
        },
        retry_after,
    }
}

fn is_html_type(resp: &reqwest::Response) -> bool {
    resp.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase().starts_with("text/html"))
        .unwrap_or(false)
}

/// True when the first bytes are an HTML document (what a captive portal or a mirror's
/// error page sends with status 200).
pub fn looks_like_html(head: &[u8]) -> bool {
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    let head = &head[start..head.len().min(start + 64)];
    let lower: Vec<u8> = head.iter().map(|b| b.to_ascii_lowercase()).collect();
    lower.starts_with(b"<!doctype html")
        || lower.starts_with(b"<html")
        || lower.starts_with(b"<head")
}

async fn hash_prefix(part: &Path) -> Result<sha2::Sha256> {
    let p = part.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut h = sha2::Sha256::new();
        let mut f = std::fs::File::open(&p).map_err(|e| BundleError::io("open", &p, e))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| BundleError::io("read", &p, e))?;
            if n == 0 {
                return Ok(h);
            }
            h.update(&buf[..n]);
        }
    })
    .await
    .map_err(|e| BundleError::Other(format!("hashing task failed: {e}")))?
}

async fn try_once(
    client: &reqwest::Client,
    cfg: &FetchConfig,
    events: &Events,
    t: Target<'_>,
) -> std::result::Result<Fetched, Attempt> {
    let Target {
        id,
        url,
        part,
        binary,
        auth,
    } = t;
    let have = match tokio::fs::metadata(part).await {
        Ok(m) => m.len(),
        Err(_) => 0,
    };
    let mut req = client.get(url);
    if let Some(a) = auth {
        req = req.header(reqwest::header::AUTHORIZATION, a);
    }
    if have > 0 {
        req = req.header(RANGE, format!("bytes={have}-"));
    }
    let resp = tokio::time::timeout(cfg.read_timeout, req.send())
        .await
        .map_err(|_| no_answer(events, url, cfg))?
        .map_err(|e| network(events, url, &e))?;
    events.breaker().answered();
    let status = resp.status();
    let resuming = match status {
        StatusCode::PARTIAL_CONTENT if have > 0 => {
            // Accept only a range that starts exactly where the .part ends.
            let start = resp
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("bytes "))
                .and_then(|v| v.split('-').next())
                .and_then(|v| v.parse::<u64>().ok());
            if start != Some(have) {
                remove(part).await?;
                return Err(BundleError::Transfer {
                    url: url.to_string(),
                    msg: "the server answered a different range; restarting from zero".into(),
                }
                .into());
            }
            true
        }
        StatusCode::OK => false,
        StatusCode::RANGE_NOT_SATISFIABLE if have > 0 => {
            remove(part).await?;
            return Err(BundleError::Transfer {
                url: url.to_string(),
                msg: "range not satisfiable; restarting from zero".into(),
            }
            .into());
        }
        _ => return Err(http_error(url, &resp)),
    };
    if binary && is_html_type(&resp) {
        return Err(BundleError::NotBinary {
            url: url.to_string(),
        }
        .into());
    }
    let remaining = resp.content_length();
    let offset = if resuming { have } else { 0 };
    let total = remaining.map(|r| r + offset);
    events.emit(Event::Start {
        id: id.to_string(),
        url: url.to_string(),
        total,
        resumed_from: offset,
    });

    let mut hasher = if resuming {
        hash_prefix(part).await?
    } else {
        sha2::Sha256::new()
    };
    let file = if resuming {
        tokio::fs::OpenOptions::new().append(true).open(part).await
    } else {
        tokio::fs::File::create(part).await
    }
    .map_err(|e| BundleError::io("open", part, e))?;
    // At most this much is lost when the transfer is dropped (Ctrl-C) before a flush.
    let mut out = tokio::io::BufWriter::with_capacity(256 << 10, file);
    let mut stream = resp.bytes_stream();
    let mut got = offset;
    let mut first = !resuming;
    let mut last_emit = Instant::now();
    loop {
        let next = match tokio::time::timeout(cfg.read_timeout, stream.next()).await {
            Ok(n) => n,
            Err(_) => {
                let _ = out.flush().await;
                return Err(stalled(url, cfg));
            }
        };
        let chunk = match next {
            None => break,
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                let _ = out.flush().await;
                return Err(transfer(url, &e));
            }
        };
        if first && binary {
            first = false;
            if looks_like_html(&chunk) {
                drop(out);
                remove(part).await?;
                return Err(BundleError::NotBinary {
                    url: url.to_string(),
                }
                .into());
            }
        }
        hasher.update(&chunk);
        out.write_all(&chunk)
            .await
            .map_err(|e| BundleError::io("write", part, e))?;
        got += chunk.len() as u64;
        events.add_fetched(chunk.len() as u64);
        if last_emit.elapsed() >= Duration::from_millis(100) {
            last_emit = Instant::now();
            events.emit(Event::Progress {
                id: id.to_string(),
                bytes: got,
                total,
            });
        }
    }
    out.flush()
        .await
        .map_err(|e| BundleError::io("write", part, e))?;
    // Durability comes from one syncfs before the manifest is written (manifest.rs), not
    // from an fsync per file; a file lost in a crash fails its sha256 on the next run.
    crate::manifest::start_writeback(out.get_ref());
    drop(out);
    if let Some(t) = total
        && got != t
    {
        return Err(BundleError::Transfer {
            url: url.to_string(),
            msg: format!("body cut after {got} of {t} bytes"),
        }
        .into());
    }
    events.emit(Event::Progress {
        id: id.to_string(),
        bytes: got,
        total,
    });
    Ok(Fetched {
        sha256: Sha256(hasher.finalize().into()),
        size: got,
    })
}

/// Removes a file, ignoring "not found".
pub async fn remove(path: &Path) -> Result<()> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(BundleError::io("remove", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_sniffing() {
        assert!(looks_like_html(b"  \n<!DOCTYPE html><html>"));
        assert!(looks_like_html(b"<HTML><body>"));
        assert!(!looks_like_html(b"\x7fELF\x02\x01"));
        assert!(!looks_like_html(b"\x1f\x8b\x08"));
        assert!(!looks_like_html(b""));
    }
}
