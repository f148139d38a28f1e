//! A 1 GiB upload keeps memory bounded (own test binary, so the process's peak RSS is ours
//! alone). Host 10 (see `executor_common/mod.rs`).

mod executor_common;

use std::io::Write;

use executor_common::*;
use ez_executor::{Command, Executor, RemoteFile};
use ez_testbed::{Mode, Testbed};
use sha2::Digest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_upload_with_bounded_memory() {
    let Some(hosts) = Testbed::require(&[10], Mode::Plain) else {
        return;
    };
    let h = &hosts[0];
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("1g");
    let mut sha = sha2::Sha256::new();
    {
        let mut f = std::fs::File::create(&local).unwrap();
        let mut block = vec![0u8; 1 << 20];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..1024 {
            for b in block.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            sha.update(&block);
            f.write_all(&block).unwrap();
        }
    }
    let want = hex::encode(sha.finalize());
    let exec = Executor::new(config());
    let hh = exec.connect(&root_spec(h)).await.unwrap();
    let path = remote_tmp("1g");
    let before = vm_hwm_kib();
    let r = hh
        .put_file(&local, RemoteFile::new(path.clone()))
        .await
        .expect("1 GiB put");
    let growth_mib = (vm_hwm_kib() - before) / 1024;
    eprintln!("peak RSS growth during 1 GiB upload: {growth_mib} MiB");
    assert_eq!(r.transferred_bytes, 1 << 30);
    assert_eq!(r.sha256, want);
    assert!(growth_mib < 64, "peak RSS grew by {growth_mib} MiB");
    assert_eq!(
        hh.remote_sha256(&path).await.unwrap().as_deref(),
        Some(want.as_str())
    );
    let r = hh
        .put_file(&local, RemoteFile::new(path.clone()))
        .await
        .unwrap();
    assert_eq!(r.transferred_bytes, 0);
    hh.run_checked(Command::new(format!("rm -f {path}")))
        .await
        .unwrap();
}
