//! ProxyJump: carry a target's SSH connection through a `direct-tcpip` channel of a jump
//! host's session.
//!
//! libssh2 needs a socket for each session, so the channel is bridged to one end of a
//! `UnixStream` pair by a pump thread; the other end is handed to the target `Session`.
//! The pump owns the jump session (libssh2 sessions are single-threaded) and runs in
//! non-blocking mode, sleeping in `poll(2)` on both sockets. It ends when either side closes,
//! when the bridge is dropped, or on any error; the target session then sees EOF and reports
//! `ConnectionLost`.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use ssh2::{Channel, Session};

use crate::poll::{Want, wait};

/// A running pump; dropping it stops the thread.
pub(crate) struct Bridge {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What the pump keeps alive: the jump connection (session, socket, nested bridge).
pub(crate) struct JumpLink {
    pub sess: Session,
    pub fd: RawFd,
    /// Keepalives for the link while the pump runs (see `connect::Keepalive`).
    pub keepalive_interval: std::time::Duration,
    pub _keep: Box<dyn Send>,
}

const BUF: usize = 256 * 1024;

/// Start pumping between `channel` (of `link.sess`) and `local`.
pub(crate) fn start(
    link: JumpLink,
    channel: Channel,
    local: UnixStream,
    name: &str,
) -> std::io::Result<Bridge> {
    local.set_nonblocking(true)?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name(format!("ez-jump-{name}"))
        .spawn(move || pump(link, channel, local, &stop2))?;
    Ok(Bridge {
        stop,
        thread: Some(thread),
    })
}

fn pump(link: JumpLink, mut ch: Channel, mut local: UnixStream, stop: &AtomicBool) {
    link.sess.set_blocking(false);
    // From here on the link is used only by this non-blocking loop, which sends them.
    link.sess
        .set_keepalive(true, link.keepalive_interval.as_secs().max(1) as u32);
    let mut to_local: Vec<u8> = Vec::with_capacity(BUF);
    let mut to_chan: Vec<u8> = Vec::with_capacity(BUF);
    let mut buf = vec![0u8; BUF];
    let mut local_eof = false;
    let lfd = local.as_raw_fd();
    while !stop.load(Ordering::SeqCst) {
        let mut progress = false;
        // channel -> local
        if to_local.is_empty() {
            match ch.read(&mut buf) {
                Ok(0) if ch.eof() => break,
                Ok(0) => {}
                Ok(n) => {
                    to_local.extend_from_slice(&buf[..n]);
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if !to_local.is_empty() {
            match local.write(&to_local) {
                Ok(n) => {
                    to_local.drain(..n);
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        // local -> channel
        if to_chan.is_empty() && !local_eof {
            match local.read(&mut buf) {
                Ok(0) => {
                    local_eof = true;
                    progress = true;
                }
                Ok(n) => {
                    to_chan.extend_from_slice(&buf[..n]);
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if !to_chan.is_empty() {
            match ch.write(&to_chan) {
                Ok(n) => {
                    to_chan.drain(..n);
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if local_eof && to_chan.is_empty() {
            break; // the target session is gone
        }
        let _ = link.sess.keepalive_send();
        if !progress {
            let dirs = link.sess.block_directions();
            let jump_want = Want {
                read: true,
                write: matches!(
                    dirs,
                    ssh2::BlockDirections::Outbound | ssh2::BlockDirections::Both
                ),
            };
            let local_want = Want {
                read: to_chan.is_empty() && !local_eof,
                write: !to_local.is_empty(),
            };
            wait(
                &[(link.fd, jump_want), (lfd, local_want)],
                Duration::from_millis(200),
            );
        }
    }
    let _ = ch.close();
    drop(ch);
    drop(link);
}
