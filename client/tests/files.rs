//! Files through the library against an in-process natterd on loopback:
//! an upload on a transfer connection, attached to a message, downloaded
//! by another member byte for byte; dedup; refusals that leave nothing
//! behind; privacy; garbage collection after a delete.

use std::os::unix::fs::PermissionsExt;

use natter_client::transfer::{Source, Transfer};
use natter_client::{ConnectOptions, Connection, Placement};
use natter_server::testing::{PASSWORD, TestServer};
use natter_shared::{Credential, ErrorCode, HistoryQuery, Request};
use tokio_util::sync::CancellationToken;

async fn login(server: &TestServer, user: &str) -> Connection {
    let (c, _events) = Connection::connect(&server.addr.to_string(), &ConnectOptions::default())
        .await
        .unwrap();
    c.login(user, Credential::PasswordOnly(PASSWORD.into()))
        .await
        .unwrap();
    c
}

fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> Source {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    Source::from_path(&p, None).unwrap()
}

fn blobs(server: &TestServer) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for d in std::fs::read_dir(server.data_dir.join("blobs"))
        .unwrap()
        .flatten()
    {
        if d.file_name() == "partial" {
            continue;
        }
        for f in std::fs::read_dir(d.path()).unwrap().flatten() {
            out.push(f.path());
        }
    }
    out.sort();
    out
}

fn partials(server: &TestServer) -> usize {
    std::fs::read_dir(server.data_dir.join("blobs/partial"))
        .unwrap()
        .count()
}

fn code(e: &natter_client::ClientError) -> Option<ErrorCode> {
    e.server_code().cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_goes_up_and_comes_down_to_another_member_byte_for_byte() {
    let server = TestServer::start(&["alice", "bob", "eve"], |_| {}).await;
    let tmp = tempfile::tempdir().unwrap();
    let alice = login(&server, "alice").await;
    let bob = login(&server, "bob").await;
    // Three frames' worth and a bit, in a pattern a misplaced chunk breaks.
    let bytes: Vec<u8> = (0..200_003u32).map(|i| (i % 251) as u8).collect();
    let src = write(tmp.path(), "data.bin", &bytes);
    let up = Transfer::open(&alice, &ConnectOptions::default())
        .await
        .unwrap();
    let mut seen = Vec::new();
    let file = up
        .upload(&src, &CancellationToken::new(), |p| seen.push(p.done))
        .await
        .unwrap();
    assert_eq!(file.size, bytes.len() as u64);
    assert_eq!(file.mime, "application/octet-stream");
    assert_eq!(file.sha256, src.sha256);
    assert_eq!(*seen.last().unwrap(), bytes.len() as u64);
    let (id, _) = alice
        .send_files(
            "#general",
            "the data",
            Placement::default(),
            vec![file.file],
        )
        .await
        .unwrap();
    // Blob on disk, private, named by its hash.
    let on_disk = blobs(&server);
    assert_eq!(on_disk.len(), 1, "{on_disk:?}");
    assert!(on_disk[0].ends_with(format!("{}/{}", &file.sha256[..2], file.sha256)));
    assert_eq!(
        std::fs::metadata(&on_disk[0]).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Bob sees the attachment in history and downloads it.
    let (page, _) = bob
        .history(
            "#general",
            HistoryQuery {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let m = page.iter().find(|m| m.id == id).unwrap();
    assert_eq!(m.body, "the data");
    assert_eq!(m.attachments, vec![file.clone()]);
    let down = Transfer::open(&bob, &ConnectOptions::default())
        .await
        .unwrap();
    let dest = tmp.path().join("got.bin");
    down.download(&file, false, &dest, &CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);

    // The same content again completes at once and is stored once.
    let again = up
        .upload(&src, &CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_ne!(again.file, file.file);
    assert_eq!(again.sha256, file.sha256);
    assert_eq!(blobs(&server).len(), 1);

    // Eve left #general: to her the file is exactly a file that never was.
    let eve = login(&server, "eve").await;
    eve.request(Request::Leave {
        room: "#general".into(),
    })
    .await
    .unwrap();
    let spy = Transfer::open(&eve, &ConnectOptions::default())
        .await
        .unwrap();
    let denied = spy.info(file.file).await.unwrap_err();
    let never = spy.info(987_654).await.unwrap_err();
    assert_eq!(code(&denied), Some(ErrorCode::NoSuchFile));
    assert_eq!(denied.to_string(), never.to_string());
    let dest = tmp.path().join("stolen.bin");
    let e = spy
        .download(&file, false, &dest, &CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(code(&e), Some(ErrorCode::NoSuchFile));
    // Nor can she attach someone else's file.
    let e = eve
        .send_files("@alice", "", Placement::default(), vec![file.file])
        .await
        .unwrap_err();
    assert_eq!(code(&e), Some(ErrorCode::NoSuchFile));

    // Deleting the message frees the blob once nothing else refers to it:
    // the second upload (never attached) still does, until it is attached
    // and deleted too.
    let (id2, _) = alice
        .send_files("#general", "", Placement::default(), vec![again.file])
        .await
        .unwrap();
    alice.delete("#general", id).await.unwrap();
    assert_eq!(
        blobs(&server).len(),
        1,
        "still carried by the second message"
    );
    alice.delete("#general", id2).await.unwrap();
    assert!(blobs(&server).is_empty(), "{:?}", blobs(&server));
    let e = down
        .download(
            &file,
            false,
            &tmp.path().join("late.bin"),
            &CancellationToken::new(),
            |_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(code(&e), Some(ErrorCode::NoSuchFile));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_refuse_before_anything_is_stored() {
    let scan = tempfile::tempdir().unwrap();
    let script = scan.path().join("scan.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nif grep -q VIRUS; then echo 'stdin: Test-Signature FOUND'; exit 1; fi\n",
    )
    .unwrap();
    let command = format!("sh {}", script.display());
    let server = TestServer::start(&["alice"], move |c| {
        c.files.max_file_bytes = 100_000;
        c.files.user_quota_bytes = 150_000;
        c.files.refused_types = vec!["application/x-executable".into(), "image/*".into()];
        c.files.scan_command = Some(command);
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let alice = login(&server, "alice").await;
    let limits = &alice.welcome().limits;
    assert_eq!(
        (limits.max_file_bytes, limits.user_quota_bytes),
        (100_000, 150_000)
    );
    assert_eq!(
        limits.refused_file_types,
        ["application/x-executable", "image/*"]
    );
    let up = Transfer::open(&alice, &ConnectOptions::default())
        .await
        .unwrap();
    let go = |src: Source| {
        let up = up.clone();
        async move { up.upload(&src, &CancellationToken::new(), |_| {}).await }
    };
    let e = go(write(tmp.path(), "big", &vec![b'a'; 100_001]))
        .await
        .unwrap_err();
    assert_eq!(code(&e), Some(ErrorCode::TooLarge), "{e}");
    // A PNG by its bytes, whatever its name says.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
    let e = go(write(tmp.path(), "notes.txt", png)).await.unwrap_err();
    assert_eq!(code(&e), Some(ErrorCode::Rejected), "{e}");
    assert!(e.to_string().contains("image/png"), "{e}");
    let e = go(write(
        tmp.path(),
        "eicar.txt",
        b"harmless text with VIRUS inside\n",
    ))
    .await
    .unwrap_err();
    assert_eq!(code(&e), Some(ErrorCode::Rejected), "{e}");
    assert!(e.to_string().contains("FOUND"), "{e}");
    go(write(tmp.path(), "one", &vec![b'1'; 90_000]))
        .await
        .unwrap();
    let e = go(write(tmp.path(), "two", &vec![b'2'; 90_000]))
        .await
        .unwrap_err();
    assert_eq!(code(&e), Some(ErrorCode::Quota), "{e}");
    // Nothing partial remains of any refusal, and only the one file is kept.
    assert_eq!(partials(&server), 0);
    assert_eq!(blobs(&server).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_by_a_server_restart_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    natter_server::testing::add_users(dir.path(), &["alice"]);
    let mut server = TestServer::start_in(dir.path(), |_| {}).await;
    let tmp = tempfile::tempdir().unwrap();
    // Big enough to still be moving when the server goes.
    let bytes: Vec<u8> = (0..24_000_000u32).map(|i| (i % 253) as u8).collect();
    let src = write(tmp.path(), "big.bin", &bytes);
    let alice = login(&server, "alice").await;
    let up = Transfer::open(&alice, &ConnectOptions::default())
        .await
        .unwrap();
    let (half_tx, half_rx) = tokio::sync::oneshot::channel();
    let moving = {
        let src = src.clone();
        tokio::spawn(async move {
            let mut half = Some(half_tx);
            up.upload(&src, &CancellationToken::new(), move |p| {
                if p.done > p.total / 3
                    && let Some(t) = half.take()
                {
                    let _ = t.send(());
                }
            })
            .await
        })
    };
    half_rx.await.unwrap();
    server.stop().await;
    assert!(
        moving.await.unwrap().is_err(),
        "the upload outlived its server"
    );
    let stored = std::fs::read_dir(dir.path().join("blobs/partial"))
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum::<u64>();
    assert!(stored > 0 && stored < bytes.len() as u64, "{stored}");

    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let alice = login(&server, "alice").await;
    let up = Transfer::open(&alice, &ConnectOptions::default())
        .await
        .unwrap();
    let mut first = None;
    let file = up
        .upload(&src, &CancellationToken::new(), |p| {
            first.get_or_insert(p.done);
        })
        .await
        .unwrap();
    assert!(
        first.unwrap() >= stored,
        "resumed at {first:?}, {stored} were stored"
    );
    let dest = tmp.path().join("back.bin");
    up.download(&file, false, &dest, &CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert!(std::fs::read(&dest).unwrap() == bytes);
}
