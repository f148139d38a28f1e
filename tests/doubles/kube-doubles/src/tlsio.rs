//! TLS with rustls: server configs that demand a client certificate signed by a given CA,
//! client configs with a client certificate, and one-shot HTTPS requests.

use crate::http::{Response, read_response};
use crate::{Failed, Res};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// PEM bytes of a file, with the path in the error.
pub fn read(path: &str) -> Res<Vec<u8>> {
    std::fs::read(path).map_err(|e| Failed(format!("cannot read {path}: {e}")))
}

pub fn certs(pem: &[u8], what: &str) -> Res<Vec<CertificateDer<'static>>> {
    let v: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| Failed(format!("{what}: bad PEM certificate: {e}")))?;
    if v.is_empty() {
        return Err(Failed(format!("{what}: no certificate in it")));
    }
    Ok(v)
}

pub fn key(pem: &[u8], what: &str) -> Res<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| Failed(format!("{what}: bad PEM private key: {e}")))
}

fn roots(ca_pem: &[u8], what: &str) -> Res<rustls::RootCertStore> {
    let mut store = rustls::RootCertStore::empty();
    for c in certs(ca_pem, what)? {
        store
            .add(c)
            .map_err(|e| Failed(format!("{what}: not usable as a CA: {e}")))?;
    }
    Ok(store)
}

/// A server that presents `cert`/`key` and accepts only clients whose certificate chains to
/// `client_ca`.
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: &[u8],
) -> Res<Arc<rustls::ServerConfig>> {
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots(
        client_ca_pem,
        "--client-ca-file",
    )?))
    .build()
    .map_err(|e| Failed(format!("client CA: {e}")))?;
    let mut cfg = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            certs(cert_pem, "--tls-cert-file")?,
            key(key_pem, "--tls-private-key-file")?,
        )
        .map_err(|e| Failed(format!("serving certificate and key do not match: {e}")))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// A client that trusts `ca` and authenticates with `cert`/`key`.
pub fn client_config(
    ca_pem: &[u8],
    cert_pem: &[u8],
    key_pem: &[u8],
    what: &str,
) -> Res<Arc<rustls::ClientConfig>> {
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots(ca_pem, what)?)
        .with_client_auth_cert(certs(cert_pem, what)?, key(key_pem, what)?)
        .map_err(|e| {
            Failed(format!(
                "{what}: client certificate and key do not match: {e}"
            ))
        })?;
    Ok(Arc::new(cfg))
}

/// `https://host:port[/…]` → (host, port).
pub fn host_port(url: &str) -> Res<(String, u16)> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| Failed(format!("`{url}` is not an https:// URL")))?;
    let hp = rest.split('/').next().unwrap_or(rest);
    let (h, p) = hp
        .rsplit_once(':')
        .ok_or_else(|| Failed(format!("`{url}` has no port")))?;
    let port = p
        .parse()
        .map_err(|_| Failed(format!("`{url}`: bad port")))?;
    Ok((h.trim_matches(['[', ']']).to_string(), port))
}

/// One HTTPS request (`Connection: close`), verifying the server against the client config's
/// CA and the URL's host; times out after 10 s.
pub async fn request(
    cfg: Arc<rustls::ClientConfig>,
    base: &str,
    method: &str,
    path: &str,
    body: Option<(&str, &[u8])>,
) -> Res<Response> {
    let (host, port) = host_port(base)?;
    let fut = async {
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| Failed(format!("connect {host}:{port}: {e}")))?;
        let name =
            ServerName::try_from(host.clone()).map_err(|e| Failed(format!("{host}: {e}")))?;
        let mut tls = tokio_rustls::TlsConnector::from(cfg)
            .connect(name, tcp)
            .await
            .map_err(|e| Failed(format!("TLS with {host}:{port}: {e}")))?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\nAccept: application/json\r\nUser-Agent: kube-double\r\n"
        );
        if let Some((ct, b)) = body {
            req.push_str(&format!(
                "Content-Type: {ct}\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        if let Some((_, b)) = body {
            bytes.extend_from_slice(b);
        }
        tls.write_all(&bytes)
            .await
            .map_err(|e| Failed(format!("send to {host}:{port}: {e}")))?;
        read_response(&mut tls).await
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .map_err(|_| Failed(format!("{method} {base}{path}: no answer within 10 s")))?
}
