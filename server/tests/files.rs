//! Files and operations: `natterd backup DIR` copies the blobs the
//! database names with it, and a server started on the copy serves them;
//! `Stats` counts them.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Client, PASSWORD, ServerExt, TestServer};
use natter_shared::{Request, Response};

#[tokio::test]
async fn a_backup_carries_the_files_and_a_server_on_it_serves_them() {
    let server = TestServer::start(&["alice"], |_| {}).await;
    let mut alice = server.login("alice").await;
    let file = common::upload(server.addr, &mut alice, "plan.txt", b"the plan, version 2")
        .await
        .unwrap();
    // Uploaded but never posted: not in the backup's blobs unless named.
    let loose = common::upload(server.addr, &mut alice, "draft.txt", b"a draft")
        .await
        .unwrap();
    alice
        .send_files("#general", "here", vec![file.file])
        .await
        .unwrap();
    let Response::Stats(stats) = alice.request(Request::Stats).await.unwrap() else {
        panic!("no stats");
    };
    assert_eq!(stats.blobs, 2);
    assert_eq!(stats.blob_bytes, 19 + 7);

    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("copy");
    let (dir, d) = (server.data_dir.clone(), dest.clone());
    tokio::task::spawn_blocking(move || natter_server::admin::backup(&dir, &d))
        .await
        .unwrap()
        .unwrap();
    let blob = dest
        .join("blobs")
        .join(&file.sha256[..2])
        .join(&file.sha256);
    assert_eq!(std::fs::read(&blob).unwrap(), b"the plan, version 2");
    // The unattached upload still has its file row, so it is named too.
    assert!(
        dest.join("blobs")
            .join(&loose.sha256[..2])
            .join(&loose.sha256)
            .exists()
    );
    assert_eq!(
        std::fs::metadata(&blob).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let copy = TestServer::start_in(&dest, |_| {}).await;
    let (mut c, _) = Client::login(copy.addr, "alice", PASSWORD).await;
    let Response::File(info) = c
        .request(Request::FileInfo { file: file.file })
        .await
        .unwrap()
    else {
        panic!("no file");
    };
    assert_eq!(info, file);
}
