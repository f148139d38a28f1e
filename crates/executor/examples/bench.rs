//! Benchmark driver for `bench/ssh-bench.sh` (not a test): times the executor on N hosts.
//!
//! ```text
//! bench --hosts 10.250.0.11,10.250.0.12 --key K --known-hosts F cmds [COUNT]
//! bench --hosts ... --key K --known-hosts F upload FILE [stdin|scp|sftp] [BUFFER_KIB]
//! bench --hosts ... --key K --known-hosts F files FILE...
//! ```
//! `files` puts each file in turn on every host the way the install engine does (content
//! known to differ, placement plus a follow-up command in one round trip) and prints each
//! file's time: the per-file cost against the bytes (`BENCH_METHOD=sftp` for SFTP).
//! Prints one line `key=value ...` (wall seconds; for uploads the aggregate MB/s).

use std::path::PathBuf;
use std::time::Instant;

use ez_executor::{
    Command, Executor, ExecutorConfig, FailMode, FanOut, HostSpec, RemoteFile, TransferMethod,
    fan_out,
};

fn usage() -> ! {
    eprintln!(
        "usage: bench --hosts a,b --key K --known-hosts F [--forks N] (cmds [COUNT] | upload FILE [stdin|scp|sftp] [BUFFER_KIB])"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut take = |flag: &str| -> Option<String> {
        let i = args.iter().position(|a| a == flag)?;
        args.remove(i);
        (i < args.len()).then(|| args.remove(i))
    };
    let hosts: Vec<String> = take("--hosts")
        .unwrap_or_else(|| usage())
        .split(',')
        .map(str::to_string)
        .collect();
    let key = PathBuf::from(take("--key").unwrap_or_else(|| usage()));
    let kh = PathBuf::from(take("--known-hosts").unwrap_or_else(|| usage()));
    let forks: usize = take("--forks").and_then(|f| f.parse().ok()).unwrap_or(30);
    let mode = args.first().cloned().unwrap_or_else(|| usage());
    let mut cfg = ExecutorConfig {
        user_known_hosts: None,
        cluster_known_hosts: Some(kh),
        use_agent: false,
        use_default_keys: false,
        forks,
        ..ExecutorConfig::default()
    };
    if mode == "upload" {
        cfg.transfer = match args.get(2).map(String::as_str) {
            Some("sftp") => TransferMethod::Sftp,
            Some("scp") => TransferMethod::Scp,
            _ => TransferMethod::Stdin,
        };
        if let Some(kib) = args.get(3).and_then(|b| b.parse::<usize>().ok()) {
            cfg.transfer_buffer = kib * 1024;
        }
    }
    if mode == "files"
        && let Ok(m) = std::env::var("BENCH_METHOD")
    {
        cfg.transfer = match m.as_str() {
            "sftp" => TransferMethod::Sftp,
            "scp" => TransferMethod::Scp,
            _ => TransferMethod::Stdin,
        };
    }
    // BENCH_CIPHERS: another cipher preference (libssh2 method list) for a comparison run.
    if let Ok(c) = std::env::var("BENCH_CIPHERS") {
        cfg.ciphers = c;
    }
    let exec = Executor::new(cfg);
    let specs: Vec<HostSpec> = hosts
        .iter()
        .map(|h| HostSpec::new(h.clone()).key_file(&key))
        .collect();
    let opts = FanOut {
        forks,
        mode: FailMode::FailFast,
    };
    let t0 = Instant::now();
    match mode.as_str() {
        "cmds" => {
            let count: usize = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(20);
            let exec = &exec;
            let conn = fan_out(specs, opts, |spec| async move { exec.connect(&spec).await }).await;
            let handles = conn.into_result().unwrap_or_else(|e| {
                eprintln!("bench: {e}");
                std::process::exit(1)
            });
            let connect_s = t0.elapsed().as_secs_f64();
            let t1 = Instant::now();
            let report = fan_out(handles, opts, |h| async move {
                for i in 0..count {
                    h.run_checked(Command::new(format!("echo {i} >/dev/null; hostname")))
                        .await?;
                }
                Ok(())
            })
            .await;
            if let Some(e) = report.first_error() {
                eprintln!("bench: {e}");
                std::process::exit(1);
            }
            println!(
                "mode=cmds hosts={} count={count} connect_s={connect_s:.3} cmds_s={:.3} wall_s={:.3}",
                hosts.len(),
                t1.elapsed().as_secs_f64(),
                t0.elapsed().as_secs_f64()
            );
        }
        "upload" => {
            let file = PathBuf::from(args.get(1).unwrap_or_else(|| usage()));
            let size = std::fs::metadata(&file)
                .map(|m| m.len())
                .unwrap_or_else(|e| {
                    eprintln!("bench: {}: {e}", file.display());
                    std::process::exit(2)
                });
            let dest = format!("/var/tmp/ez-bench-{}", std::process::id());
            let exec = &exec;
            // connect first so the figure is transfer throughput
            let conn = fan_out(specs, opts, |spec| async move { exec.connect(&spec).await }).await;
            let handles = match conn.into_result() {
                Ok(h) => h,
                Err(e) => {
                    eprintln!("bench: {e}");
                    std::process::exit(1)
                }
            };
            // BENCH_KNOWN_STALE=1: the install engine's way, the content's sha256 known
            // beforehand (from the bundle manifest), so no local hashing and no comparison
            // round trip: what is left is the transfer itself.
            let known = std::env::var_os("BENCH_KNOWN_STALE").map(|_| sha256_hex(&file));
            let t1 = Instant::now();
            let cpu0 = cpu_secs();
            let report = fan_out(handles.clone(), opts, |h| {
                let (file, dest, known) = (file.clone(), dest.clone(), known.clone());
                async move {
                    let mut to = RemoteFile::new(dest);
                    if let Some(sha) = known {
                        to = to.known_stale(sha);
                    }
                    h.put_file(&file, to).await
                }
            })
            .await;
            let wall = t1.elapsed().as_secs_f64();
            let cpu = cpu_secs() - cpu0;
            let cleanup = fan_out(handles, opts, |h| {
                let dest = dest.clone();
                async move { h.run(Command::new(format!("rm -f {dest}"))).await }
            })
            .await;
            let _ = cleanup;
            match report.into_result() {
                Ok(r) => {
                    let bytes: u64 = r.iter().map(|p| p.transferred_bytes).sum();
                    println!(
                        "mode=upload hosts={} size_mb={:.1} wall_s={wall:.3} aggregate_mb_s={:.1} sent_mb={:.1} cpu_s={cpu:.3}",
                        hosts.len(),
                        size as f64 / 1e6,
                        bytes as f64 / 1e6 / wall,
                        bytes as f64 / 1e6
                    );
                }
                Err(e) => {
                    eprintln!("bench: {e}");
                    std::process::exit(1);
                }
            }
        }
        "files" => files(&exec, specs, opts, &args[1..]).await,
        _ => usage(),
    }
}

/// Sequential engine-style puts of `files` on every host, with per-file wall times.
async fn files(exec: &Executor, specs: Vec<HostSpec>, opts: FanOut, files: &[String]) {
    let conn = fan_out(specs, opts, |spec| async move { exec.connect(&spec).await }).await;
    let handles = conn.into_result().unwrap_or_else(|e| {
        eprintln!("bench: {e}");
        std::process::exit(1)
    });
    let dir = format!("/var/tmp/ez-bench-files-{}", std::process::id());
    let mk = fan_out(handles.clone(), opts, |h| {
        let dir = dir.clone();
        async move { h.run_checked(Command::new(format!("mkdir -p {dir}"))).await }
    })
    .await;
    if let Some(e) = mk.first_error() {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
    let t0 = Instant::now();
    let mut total = 0u64;
    for f in files {
        let path = PathBuf::from(f);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let name = path.file_name().map(|n| n.to_string_lossy().to_string());
        let dest = format!("{dir}/{}", name.unwrap_or_default());
        let t = Instant::now();
        let report = fan_out(handles.clone(), opts, |h| {
            let (path, dest) = (path.clone(), dest.clone());
            async move {
                let rf = RemoteFile::new(dest.clone())
                    .known_stale("0".repeat(64))
                    .mode(0o755)
                    .then(format!("echo {dest} >>{dest}.record"));
                h.put_file(&path, rf).await
            }
        })
        .await;
        if let Some(e) = report.first_error() {
            eprintln!("bench: {e}");
            std::process::exit(1);
        }
        total += size;
        println!(
            "file={f} size_mb={:.1} ms={:.1}",
            size as f64 / 1e6,
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    let wall = t0.elapsed().as_secs_f64();
    println!(
        "mode=files hosts={} files={} size_mb={:.1} wall_s={wall:.3} per_host_mb_s={:.1}",
        handles.len(),
        files.len(),
        total as f64 / 1e6,
        total as f64 / 1e6 / wall
    );
    let _ = fan_out(handles, opts, |h| {
        let dir = dir.clone();
        async move { h.run(Command::new(format!("rm -rf {dir}"))).await }
    })
    .await;
}

/// CPU seconds (user + system) this process has used so far, all threads.
fn cpu_secs() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

/// sha256 (hex) of a file, or exit.
fn sha256_hex(path: &std::path::Path) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut f = std::fs::File::open(path).unwrap_or_else(|e| {
        eprintln!("bench: {}: {e}", path.display());
        std::process::exit(2)
    });
    if let Err(e) = std::io::copy(&mut f, &mut h) {
        eprintln!("bench: {}: {e}", path.display());
        std::process::exit(2)
    }
    hex::encode(h.finalize())
}
