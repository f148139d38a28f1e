//! `poll(2)` on the socket under a libssh2 session, so non-blocking loops sleep until the
//! peer sends something (or a deadline) instead of spinning.

use std::os::fd::RawFd;
use std::time::Duration;

/// Readiness flags to wait for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Want {
    pub read: bool,
    pub write: bool,
}

/// Wait until any of `fds` is ready as requested, or `timeout`. Returns per-fd
/// (readable-or-hung-up, writable). Interrupted waits return all-false.
pub(crate) fn wait(fds: &[(RawFd, Want)], timeout: Duration) -> Vec<(bool, bool)> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|(fd, w)| libc::pollfd {
            fd: *fd,
            events: (if w.read { libc::POLLIN } else { 0 })
                | (if w.write { libc::POLLOUT } else { 0 }),
            revents: 0,
        })
        .collect();
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `pfds` is a valid, exclusively borrowed array of `pollfd` of the given length.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    if rc <= 0 {
        return vec![(false, false); fds.len()];
    }
    pfds.iter()
        .map(|p| {
            let r = p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0;
            let w = p.revents & libc::POLLOUT != 0;
            (r, w)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn reports_readable_after_write() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let want = Want {
            read: true,
            write: false,
        };
        assert_eq!(
            wait(&[(b.as_raw_fd(), want)], Duration::from_millis(1)),
            vec![(false, false)]
        );
        a.write_all(b"x").unwrap();
        assert_eq!(
            wait(&[(b.as_raw_fd(), want)], Duration::from_secs(5)),
            vec![(true, false)]
        );
    }
}
