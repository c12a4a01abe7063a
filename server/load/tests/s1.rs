//! S1 at small scale against an in-process natterd on a provisioned data
//! dir: every message reaches every member, in order, and the report adds
//! up.

use std::time::Duration;

use natter_load::{provision, s1};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s1_delivers_everything_to_everyone_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    provision::provision(&dir, 20).unwrap();
    // Provisioning twice tops up without duplicating.
    provision::provision(&dir, 20).unwrap();
    let mut config = natter_server::Config::load(&dir.join("bench.toml")).unwrap();
    config.data_dir = Some(dir.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(natter_server::run(listener, config, async {
        let _ = stopped.await;
    }));
    let params = s1::Params {
        server: addr,
        members: 20,
        senders: 3,
        window: 4,
        duration: Duration::from_millis(300),
        payload: 64,
        pid: Some(std::process::id()),
    };
    let r = s1::run(&params).await.unwrap();
    assert!(r.sent > 0, "{r:?}");
    assert_eq!(r.expected, r.sent * 20);
    assert!(r.complete(), "{r:?}");
    assert!(r.p50.is_some() && r.p99 >= r.p50);
    assert!(r.cpu_us_per_delivery().is_some());
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
