//! Opening an authenticated SSH session to a host (directly or through a jump host).
//!
//! Invariant: every blocking libssh2 call made here is bounded by `connect_timeout`
//! (handshake, auth, opening the jump channel); on return the session timeout is set to
//! `io_timeout` and keepalives are enabled.

use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use ssh2::Session;

use crate::error::{ExecError, Result, code, from_ssh};
use crate::shell::SudoMode;
use crate::{ExecutorConfig, HostSpec, auth, hostkeys, jump};

/// An authenticated session plus what keeps its transport alive.
///
/// Field order matters: the session is dropped before the jump bridge that carries it.
pub(crate) struct Conn {
    pub sess: Session,
    pub fd: RawFd,
    /// How sudo works on this connection (probed on first use).
    pub sudo: Option<SudoMode>,
    _bridge: Option<jump::Bridge>,
}

fn ms(d: Duration) -> u32 {
    d.as_millis().clamp(1, u128::from(u32::MAX)) as u32
}

fn tcp_connect(spec: &HostSpec, cfg: &ExecutorConfig) -> Result<TcpStream> {
    let unreachable = |reason: String| ExecError::Unreachable {
        host: spec.name.clone(),
        addr: format!("{}:{}", spec.address, spec.port),
        reason,
    };
    let addrs: Vec<_> = (spec.address.as_str(), spec.port)
        .to_socket_addrs()
        .map_err(|e| unreachable(format!("cannot resolve: {e}")))?
        .collect();
    let mut last = String::from("no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, cfg.connect_timeout) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(unreachable(last))
}

/// Connect, handshake, verify the host key and authenticate (no retries here).
pub(crate) fn connect(spec: &HostSpec, cfg: &ExecutorConfig) -> Result<Conn> {
    // libssh2 takes C strings: a NUL would be cut (or panic inside the bindings).
    if [&spec.address, &spec.user]
        .iter()
        .any(|s| s.is_empty() || s.contains('\0'))
    {
        return Err(ExecError::Invalid {
            host: spec.name.clone(),
            what: "address or user".into(),
            reason: "empty or contains a NUL byte".into(),
        });
    }
    let mut sess = Session::new()
        .map_err(|e| from_ssh(&spec.name, "ssh session setup", cfg.connect_timeout, &e))?;
    let (fd, bridge) = match &spec.jump {
        None => {
            let tcp = tcp_connect(spec, cfg)?;
            let fd = tcp.as_raw_fd();
            sess.set_tcp_stream(tcp);
            (fd, None)
        }
        Some(j) => {
            let jconn = connect(j, cfg).map_err(|e| match e {
                ExecError::Unreachable { reason, addr, .. } => ExecError::Unreachable {
                    host: spec.name.clone(),
                    addr: format!("{}:{} via jump host {addr}", spec.address, spec.port),
                    reason,
                },
                other => other,
            })?;
            jconn.sess.set_timeout(ms(cfg.connect_timeout));
            let ch = jconn
                .sess
                .channel_direct_tcpip(&spec.address, spec.port, None)
                .map_err(|e| ExecError::Unreachable {
                    host: spec.name.clone(),
                    addr: format!("{}:{} via jump host {}", spec.address, spec.port, j.name),
                    reason: format!("jump host could not open a connection: {}", e.message()),
                })?;
            let (ours, theirs) = UnixStream::pair().map_err(|source| ExecError::Io {
                host: spec.name.clone(),
                path: "socketpair".into(),
                source,
            })?;
            let fd = ours.as_raw_fd();
            let Conn {
                sess: jsess,
                fd: jfd,
                sudo: _,
                _bridge,
            } = jconn;
            let link = jump::JumpLink {
                sess: jsess,
                fd: jfd,
                keepalive_interval: cfg.keepalive_interval,
                _keep: Box::new(_bridge),
            };
            let bridge =
                jump::start(link, ch, theirs, &spec.name).map_err(|source| ExecError::Io {
                    host: spec.name.clone(),
                    path: "jump pump thread".into(),
                    source,
                })?;
            sess.set_tcp_stream(ours);
            (fd, Some(bridge))
        }
    };
    sess.set_timeout(ms(cfg.connect_timeout));
    for m in [ssh2::MethodType::CryptCs, ssh2::MethodType::CryptSc] {
        if let Err(e) = sess.method_pref(m, &cfg.ciphers) {
            tracing::warn!(host = %spec.name, error = %e, "cipher preference not accepted; using libssh2 defaults");
        }
    }
    let known = hostkeys::known_key_types(&sess, &hostkeys::files(cfg), &spec.address, spec.port);
    if let Ok(supported) = sess.supported_algs(ssh2::MethodType::HostKey)
        && let Some(prefs) = hostkeys::hostkey_prefs(&known, &supported)
        && let Err(e) = sess.method_pref(ssh2::MethodType::HostKey, &prefs)
    {
        tracing::debug!(host = %spec.name, error = %e, "host key preference not accepted");
    }
    if let Err(e) = sess.handshake() {
        let addr = format!("{}:{}", spec.address, spec.port);
        return Err(match e.code() {
            ssh2::ErrorCode::Session(code::TIMEOUT) => ExecError::Timeout {
                host: spec.name.clone(),
                command: format!("ssh handshake with {addr}"),
                after: cfg.connect_timeout,
            },
            ssh2::ErrorCode::Session(code::KEX_FAILURE) => ExecError::Ssh {
                host: spec.name.clone(),
                context: "ssh handshake".into(),
                message: format!("no common algorithm with the server: {}", e.message()),
            },
            _ => ExecError::Unreachable {
                host: spec.name.clone(),
                addr,
                reason: format!("ssh handshake failed: {}", e.message()),
            },
        });
    }
    tracing::debug!(
        host = %spec.name,
        kex = ?sess.methods(ssh2::MethodType::Kex),
        cipher = ?sess.methods(ssh2::MethodType::CryptCs),
        mac = ?sess.methods(ssh2::MethodType::MacCs),
        "ssh handshake done"
    );
    hostkeys::verify(&sess, &spec.name, &spec.address, spec.port, cfg)?;
    auth::authenticate(&sess, spec, cfg)?;
    // Keepalives stay off outside our own non-blocking loops (see [`Keepalive`]).
    sess.set_timeout(ms(cfg.io_timeout));
    Ok(Conn {
        sess,
        fd,
        sudo: None,
        _bridge: bridge,
    })
}

/// Keepalives on `sess` for as long as the guard lives; off again when it drops.
///
/// Invariant: libssh2 keepalives are configured only while one of our non-blocking loops
/// runs (reading a command's output, pumping a jump channel), which send them and judge the
/// silence themselves. During a blocking libssh2 call they must be off: libssh2's wait then
/// sleeps only until the next keepalive is due and, when the peer stayed silent that long,
/// fails the call with `LIBSSH2_ERROR_TIMEOUT` ("Timed out waiting on socket"), however long
/// the session timeout. A host frozen or overloaded for a few seconds failed the command
/// whose channel it was opening; now such a call waits up to the session timeout.
pub(crate) struct Keepalive<'a>(&'a ssh2::Session);

impl<'a> Keepalive<'a> {
    pub(crate) fn on(sess: &'a ssh2::Session, interval: std::time::Duration) -> Self {
        sess.set_keepalive(true, interval.as_secs().max(1) as u32);
        Keepalive(sess)
    }
}

impl Drop for Keepalive<'_> {
    fn drop(&mut self) {
        self.0.set_keepalive(false, 0);
    }
}

/// Session timeout in ms for a call that must end by `remaining` (at most `io_timeout`).
pub(crate) fn bounded_ms(cfg: &ExecutorConfig, remaining: Duration) -> u32 {
    ms(remaining.min(cfg.io_timeout))
}
