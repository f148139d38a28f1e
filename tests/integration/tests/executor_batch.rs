//! ez-executor's batch put on a real host (12): several files on one command's stdin as a
//! tar stream, each placed atomically in order; a failure stops the batch cleanly; with sudo
//! the files go one by one.

mod executor_common;

use executor_common::*;
use ez_executor::{Command, ExecError, Executor, RemoteFile, Upload};
use ez_testbed::{Mode, Testbed};

fn sha(b: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b))
}

fn stale(path: &str, data: &[u8]) -> RemoteFile {
    RemoteFile::new(path).known_stale(sha(data))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_places_files_in_order_and_stops_cleanly() {
    let Some(hosts) = Testbed::require(&[12], Mode::Plain) else {
        return;
    };
    let h = &hosts[0];
    let exec = Executor::new(config());
    let hh = exec.connect(&root_spec(h)).await.unwrap();
    let base = remote_tmp("batch");
    // a path longer than tar's 100-byte name field
    let deep = format!("{base}/{}", "d".repeat(120));
    hh.run_checked(Command::new(format!("rm -rf {base}; mkdir -p {deep}")))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..700_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let local = dir.path().join("big");
    std::fs::write(&local, &big).unwrap();
    let small = b"small file\n".to_vec();
    let long_name = format!("{deep}/{}", "f".repeat(90));
    let items = vec![
        (
            Upload::File(local.clone()),
            stale(&format!("{base}/big"), &big).mode(0o755),
        ),
        (
            Upload::Bytes(small.clone()),
            stale(&format!("{base}/small"), &small)
                .mode(0o600)
                .owner("root:root")
                .then(format!("echo \"$ez_size\" > {base}/small.size")),
        ),
        (Upload::Bytes(Vec::new()), stale(&long_name, b"")),
    ];
    let reports = hh.put_batch(items).await.unwrap();
    let sent: Vec<u64> = reports.iter().map(|r| r.transferred_bytes).collect();
    assert_eq!(sent, vec![big.len() as u64, small.len() as u64, 0]);
    assert!(reports.iter().all(|r| r.changed));
    let on_disk = |p: &str| std::fs::read(h.root_path().join(p.trim_start_matches('/'))).unwrap();
    assert!(on_disk(&format!("{base}/big")) == big);
    assert_eq!(on_disk(&format!("{base}/small")), small);
    assert_eq!(on_disk(&long_name), b"");
    let st = hh
        .run_checked(Command::new(format!(
            "stat -c '%a %U' {base}/big {base}/small; cat {base}/small.size; \
             find {base} -name '*.ez-tmp-*' | wc -l"
        )))
        .await
        .unwrap();
    assert_eq!(
        st.stdout_str(),
        format!("755 root\n600 root\n{}\n0\n", small.len())
    );

    // Two files for one destination (two edits of the same file): the later one wins.
    let (v1, v2) = (b"first edit\n".to_vec(), b"second edit\n".to_vec());
    let same = format!("{base}/same");
    let items = vec![
        (Upload::Bytes(v1.clone()), stale(&same, &v1)),
        (Upload::Bytes(v2.clone()), stale(&same, &v2)),
    ];
    hh.put_batch(items).await.unwrap();
    assert_eq!(on_disk(&same), v2);

    // The second file's `then` fails: the first is replaced, the second is in place (its
    // command ran after the rename), the third is untouched, and no temporary is left.
    let one = b"one, second version\n".to_vec();
    let two = b"two\n".to_vec();
    let three = b"three\n".to_vec();
    let items = vec![
        (
            Upload::Bytes(one.clone()),
            stale(&format!("{base}/big"), &one),
        ),
        (
            Upload::Bytes(two.clone()),
            stale(&format!("{base}/two"), &two).then("false"),
        ),
        (
            Upload::Bytes(three.clone()),
            stale(&format!("{base}/three"), &three),
        ),
    ];
    let e = hh.put_batch(items).await.unwrap_err();
    assert!(matches!(e, ExecError::Transfer { .. }), "{e}");
    assert_eq!(on_disk(&format!("{base}/big")), one);
    assert_eq!(on_disk(&format!("{base}/two")), two);
    assert!(
        !h.root_path()
            .join(format!("{base}/three").trim_start_matches('/'))
            .exists()
    );

    // A missing directory is found before anything is unpacked: nothing changes.
    let items = vec![
        (
            Upload::Bytes(two.clone()),
            stale(&format!("{base}/big"), &two),
        ),
        (
            Upload::Bytes(two.clone()),
            stale("/nonexistent-dir/x", &two),
        ),
    ];
    let e = hh.put_batch(items).await.unwrap_err();
    assert!(
        e.to_string().contains("/nonexistent-dir does not exist"),
        "{e}"
    );
    assert_eq!(on_disk(&format!("{base}/big")), one);
    let left = hh
        .run_checked(Command::new(format!(
            "find {base} -name '*.ez-tmp-*' | wc -l; rm -rf {base}"
        )))
        .await
        .unwrap();
    assert_eq!(left.stdout_str(), "0\n");
}

/// With sudo the batch falls back to one put per file, with the same result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_with_sudo_puts_one_by_one() {
    let Some(hosts) = Testbed::require(&[12], Mode::Plain) else {
        return;
    };
    let h = &hosts[0];
    let exec = Executor::new(config());
    let spec = sudo_user_spec(h);
    let hh = exec.connect(&spec).await.unwrap();
    let base = format!("/root/ez-batch-sudo-{}", std::process::id());
    hh.run_checked(Command::new(format!("mkdir -p {base}")))
        .await
        .unwrap();
    let (a, b) = (b"a\n".to_vec(), b"bb\n".to_vec());
    let items = vec![
        (Upload::Bytes(a.clone()), stale(&format!("{base}/a"), &a)),
        (
            Upload::Bytes(b.clone()),
            stale(&format!("{base}/b"), &b).mode(0o600),
        ),
    ];
    let r = hh.put_batch(items).await.unwrap();
    assert_eq!(r.len(), 2);
    let st = hh
        .run_checked(Command::new(format!(
            "cat {base}/a {base}/b; stat -c '%a %U' {base}/b; rm -rf {base}"
        )))
        .await
        .unwrap();
    assert_eq!(st.stdout_str(), "a\nbb\n600 root\n");
}
