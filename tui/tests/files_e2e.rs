//! Files where a user sees them: the real `natter` binary in a real
//! terminal (tmux on a private `-L` socket), against a real natterd (the
//! server library, in this process, on loopback), with bob on the other
//! side through the client library.
//!
//! Bob posts a log; alice sees its attachment line and saves it with
//! `/download` (into her download dir, then again, never over the first);
//! alice sends a file with `/upload`, which bob receives with its caption
//! and downloads byte for byte.
//!
//! Needs `tmux`: without it the test says why it skips, unless
//! `NATTER_REQUIRE_E2E=1`, where a missing tmux fails it.

use std::time::Duration;

use natter::conn::{ConnectOptions, Incoming};
use natter::transfer::{Source, Transfer};
use natter_shared::Event;
use tokio_util::sync::CancellationToken;

mod support;
use support::{Tmux, have_tmux};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_and_download_from_the_full_screen_client() {
    if !have_tmux() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (mut server, addr, bob, mut events) = support::server_and_bob(tmp.path()).await;
    let log = tmp.path().join("build.log");
    std::fs::write(&log, "ok 1 - compiles\nnot ok 2 - tests\n".repeat(300)).unwrap();
    let up = Transfer::open(&bob, &ConnectOptions::default())
        .await
        .unwrap();
    let file = up
        .upload(
            &Source::from_path(&log, None).unwrap(),
            &CancellationToken::new(),
            |_| {},
        )
        .await
        .unwrap();
    bob.send_files(
        "#general",
        "the failing build",
        natter::conn::Placement::default(),
        vec![file.file],
    )
    .await
    .unwrap();

    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let command = support::natter_command(&home, "alice", &addr);
    let tmux = Tmux::start(
        format!("natter-files-{}", std::process::id()),
        120,
        40,
        &command,
    );
    let screen = tmux.screen_with("📎 build.log 9.7 KiB text/plain").await;
    assert!(screen.contains("the failing build"), "{screen}");

    // Saved into the download dir, twice, never over the first.
    tmux.enter("/download");
    let downloads = home.join("Downloads");
    tmux.screen_with("saved build.log to").await;
    assert_eq!(
        std::fs::read(downloads.join("build.log")).unwrap(),
        std::fs::read(&log).unwrap()
    );
    tmux.enter("/download 1");
    tmux.screen_with("build (1).log").await;
    assert!(downloads.join("build (1).log").exists());
    assert!(!downloads.join("build.log.part").exists());

    // Alice uploads; bob gets the message with its caption and file.
    let shot = tmp.path().join("dump.bin");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&shot, &bytes).unwrap();
    tmux.enter(&format!("/upload {} tonight's dump", shot.display()));
    let got = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(incoming) = events.recv().await {
            if let Incoming::Event(Event::Message(m)) = incoming
                && m.from == "alice"
            {
                return Some(m);
            }
        }
        None
    })
    .await
    .expect("bob never saw alice's file")
    .expect("bob's connection closed");
    assert_eq!(got.body, "tonight's dump");
    assert_eq!(got.attachments.len(), 1);
    assert_eq!(got.attachments[0].name, "dump.bin");
    tmux.screen_with("📎 dump.bin 293.0 KiB").await;
    let dest = tmp.path().join("bob-dump.bin");
    up.download(
        &got.attachments[0],
        false,
        &dest,
        &CancellationToken::new(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);

    // A path that is no file is refused where it was typed.
    tmux.enter("/upload /nonexistent/file.txt");
    tmux.screen_with("/nonexistent/file.txt: No such file")
        .await;
    drop(tmux);
    server.stop().await.unwrap();
}
