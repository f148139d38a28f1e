//! The relay agent: what ezctl places on a host for the length of a step so that hosts pass
//! bundle files on to each other instead of all receiving them from the deploy host.
//!
//! Two roles, one small binary (std + sha2, no async runtime):
//! * [`serve`]: listens on the host's own address, on a port the kernel picks, and answers
//!   requests for files by sha256 with the bytes of a file the deploy host recorded in
//!   `<dir>/holds` (`<sha256> <path>` lines). A request must carry the run's token
//!   (`<dir>/token`). It exits when `<dir>/token` disappears, when it was idle for
//!   `idle` seconds, or when killed; nothing of it outlives the step.
//! * [`fetch`]: asks a peer for a file by sha256 and writes it to a new temporary file,
//!   hashing every byte on the way. The file is kept only when its size and sha256 are the
//!   ones the deploy host gave; otherwise it is removed and the failure says whose fault it
//!   was ([`FetchError::Source`]: the peer died, stalled, closed early or sent other bytes;
//!   [`FetchError::Local`]: this host could not write).
//!
//! Protocol (plain TCP): request `EZR1 <token> <sha256>\n`; answer `OK <size>\n` followed by
//! exactly `size` bytes, or `NO <reason>\n`.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Exit status of `ez-relay fetch` when the source is at fault (retry elsewhere).
pub const EXIT_SOURCE: i32 = 10;
/// Exit status of `ez-relay fetch` when this host is at fault (writing failed).
pub const EXIT_LOCAL: i32 = 11;
/// Exit status for bad arguments.
pub const EXIT_USAGE: i32 = 2;

const MAGIC: &str = "EZR1";
const CHUNK: usize = 256 * 1024;

/// Why a fetch failed.
#[derive(Debug)]
pub enum FetchError {
    /// The peer could not be reached, stalled, closed early, refused or sent other bytes.
    Source(String),
    /// This host could not create or write the file.
    Local(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Source(m) => write!(f, "source: {m}"),
            FetchError::Local(m) => write!(f, "local: {m}"),
        }
    }
}

impl std::error::Error for FetchError {}

/// A deliberate misbehaviour of a serving agent, for fault tests only (ezctl passes it when
/// `EZ_RELAY_FAULT` names the host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// One byte in the middle of every answer is flipped.
    Corrupt,
    /// Half of every answer is sent, then nothing more (the connection stays open).
    Stall,
    /// Half of the first answer is sent, then the agent exits.
    Die,
}

impl Fault {
    pub fn parse(s: &str) -> Option<Fault> {
        match s {
            "corrupt" => Some(Fault::Corrupt),
            "stall" => Some(Fault::Stall),
            "die" => Some(Fault::Die),
            _ => None,
        }
    }
}

/// How a serving agent runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The agent's private directory: `token`, `holds`, and `port` (written once listening).
    pub dir: PathBuf,
    /// Address to listen on (the host's inventory address); the port is the kernel's pick.
    pub bind: String,
    /// Exit after this long without a request.
    pub idle: Duration,
    pub fault: Option<Fault>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Serves until the token file disappears or the agent was idle for `opts.idle`.
pub fn serve(opts: &ServeOptions) -> std::io::Result<()> {
    let token = std::fs::read_to_string(opts.dir.join("token"))?
        .trim()
        .to_string();
    let listener = TcpListener::bind((opts.bind.as_str(), 0))?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let tmp = opts.dir.join("port.tmp");
    std::fs::write(&tmp, format!("{port}\n"))?;
    std::fs::rename(&tmp, opts.dir.join("port"))?;
    let last = Arc::new(AtomicU64::new(now_secs()));
    let busy = Arc::new(AtomicU64::new(0));
    loop {
        match listener.accept() {
            Ok((conn, _)) => {
                last.store(now_secs(), Ordering::Relaxed);
                busy.fetch_add(1, Ordering::Relaxed);
                let (dir, token, fault) = (opts.dir.clone(), token.clone(), opts.fault);
                let (last, busy) = (last.clone(), busy.clone());
                std::thread::spawn(move || {
                    let _ = answer(conn, &dir, &token, fault);
                    last.store(now_secs(), Ordering::Relaxed);
                    busy.fetch_sub(1, Ordering::Relaxed);
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(100));
                if !opts.dir.join("token").exists() {
                    return Ok(());
                }
                let idle = now_secs().saturating_sub(last.load(Ordering::Relaxed));
                if busy.load(Ordering::Relaxed) == 0 && idle >= opts.idle.as_secs() {
                    return Ok(());
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// The path the deploy host recorded for `sha` (the last record wins).
fn held(dir: &Path, sha: &str) -> Option<PathBuf> {
    let text = std::fs::read_to_string(dir.join("holds")).ok()?;
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(s, _)| *s == sha)
        .map(|(_, p)| PathBuf::from(p))
        .next_back()
}

/// Answers one request on `conn`.
fn answer(conn: TcpStream, dir: &Path, token: &str, fault: Option<Fault>) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    conn.set_write_timeout(Some(Duration::from_secs(60)))?;
    let mut line = String::new();
    BufReader::new((&conn).take(512)).read_line(&mut line)?;
    let mut w = &conn;
    let mut parts = line.split_whitespace();
    let (Some(MAGIC), Some(t), Some(sha), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return w.write_all(b"NO bad request\n");
    };
    if t != token {
        return w.write_all(b"NO bad token\n");
    }
    let Some(path) = held(dir, sha) else {
        return w.write_all(b"NO not held\n");
    };
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) => return w.write_all(format!("NO {}: {e}\n", path.display()).as_bytes()),
    };
    let size = file.metadata()?.len();
    w.write_all(format!("OK {size}\n").as_bytes())?;
    match fault {
        None => {
            std::io::copy(&mut (&mut file).take(size), &mut w)?;
        }
        Some(f) => {
            let half = size / 2;
            std::io::copy(&mut (&mut file).take(half), &mut w)?;
            match f {
                Fault::Corrupt => {
                    let mut b = [0u8; 1];
                    if file.read(&mut b)? == 1 {
                        w.write_all(&[b[0] ^ 0xff])?;
                    }
                    std::io::copy(&mut (&mut file).take(size), &mut w)?;
                }
                Fault::Stall => std::thread::sleep(Duration::from_secs(3600)),
                Fault::Die => std::process::exit(3),
            }
        }
    }
    w.flush()
}

/// What to fetch and from where.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// `address:port` of the serving peer.
    pub from: String,
    pub token: String,
    /// The sha256 (hex) the deploy host knows for the file.
    pub sha256: String,
    pub size: u64,
    /// A new file (it must not exist); removed unless the fetch succeeds.
    pub out: PathBuf,
    /// Give up when the peer sends nothing for this long.
    pub stall: Duration,
}

/// Fetches one file (see the module doc); on any error `out` does not exist afterwards.
pub fn fetch(o: &FetchOptions) -> Result<(), FetchError> {
    let r = fetch_inner(o);
    if r.is_err() {
        let _ = std::fs::remove_file(&o.out);
    }
    r
}

fn fetch_inner(o: &FetchOptions) -> Result<(), FetchError> {
    let src = |m: String| FetchError::Source(format!("{}: {m}", o.from));
    let addrs: Vec<_> = o
        .from
        .to_socket_addrs()
        .map_err(|e| src(format!("address: {e}")))?
        .collect();
    let addr = addrs
        .first()
        .ok_or_else(|| src("address resolves to nothing".into()))?;
    let conn = TcpStream::connect_timeout(addr, o.stall.min(Duration::from_secs(5)))
        .map_err(|e| src(format!("connect: {e}")))?;
    conn.set_read_timeout(Some(o.stall))
        .and_then(|_| conn.set_write_timeout(Some(o.stall)))
        .map_err(|e| src(e.to_string()))?;
    (&conn)
        .write_all(format!("{MAGIC} {} {}\n", o.token, o.sha256).as_bytes())
        .map_err(|e| src(format!("request: {e}")))?;
    let mut rd = BufReader::with_capacity(CHUNK, &conn);
    let mut head = String::new();
    (&mut rd)
        .take(512)
        .read_line(&mut head)
        .map_err(|e| src(format!("answer: {}", stalled(&e))))?;
    let size: u64 = match head.trim_end().split_once(' ') {
        Some(("OK", n)) => n.parse().map_err(|_| src(format!("bad answer {head:?}")))?,
        Some(("NO", why)) => return Err(src(format!("refused: {why}"))),
        _ => return Err(src(format!("bad answer {head:?}"))),
    };
    if size != o.size {
        return Err(src(format!("offers {size} bytes, {} expected", o.size)));
    }
    let local = |m: String| FetchError::Local(format!("{}: {m}", o.out.display()));
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&o.out)
        .map_err(|e| local(e.to_string()))?;
    let mut h = Sha256::new();
    let mut got = 0u64;
    let mut buf = vec![0u8; CHUNK];
    let started = Instant::now();
    while got < size {
        let want = ((size - got) as usize).min(CHUNK);
        let n = match rd.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(src(format!(
                    "closed after {got} of {size} bytes ({:.1} s)",
                    started.elapsed().as_secs_f64()
                )));
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(src(format!("after {got} of {size} bytes: {}", stalled(&e))));
            }
        };
        h.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| local(e.to_string()))?;
        got += n as u64;
    }
    let sum = hex::encode(h.finalize());
    if sum != o.sha256 {
        return Err(src(format!(
            "sent other bytes (sha256 {sum}, {} expected)",
            o.sha256
        )));
    }
    out.flush().map_err(|e| local(e.to_string()))
}

fn stalled(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            "stalled (nothing received within the stall limit)".into()
        }
        _ => e.to_string(),
    }
}

/// sha256 (hex) of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(h.finalize()));
        }
        h.update(&buf[..n]);
    }
}
