//! Every scenario at small scale against an in-process natterd on a
//! provisioned data dir (real TCP on loopback, a real SQLite file): every
//! message reaches every member in order, and the reports add up.

use std::time::Duration;

use natter_load::proto::{Proto, Target};
use natter_load::rooms::{self, Load};
use natter_load::{history, idle, logins, provision};
use natter_server::embedded::Running;

struct Server {
    addr: String,
    running: Running,
    _dir: tempfile::TempDir,
}

async fn server(users: usize) -> Server {
    let dir = tempfile::tempdir().unwrap();
    provision::provision(dir.path(), users, 4).unwrap();
    // Provisioning twice tops up without duplicating.
    provision::provision(dir.path(), users, 4).unwrap();
    let mut config = natter_server::Config::load(&dir.path().join("bench.toml")).unwrap();
    config.data_dir = Some(dir.path().to_owned());
    config.irc.listen = "127.0.0.1:0".into();
    let running = Running::start(config).await.expect("natterd starts");
    Server {
        addr: running.addr.to_string(),
        running,
        _dir: dir,
    }
}

impl Server {
    fn target(&self) -> Target {
        Target {
            proto: Proto::Natter,
            addr: self.addr.clone(),
            oper: None,
            irc_token: false,
        }
    }

    /// The same server through its IRC listener, logging in by token.
    fn irc_target(&self) -> Target {
        Target {
            proto: Proto::Irc,
            addr: self.running.irc_addr.expect("IRC listens").to_string(),
            oper: None,
            irc_token: true,
        }
    }

    async fn stop(mut self) {
        self.running.stop().await.expect("natterd ran and stopped");
    }
}

fn params(
    target: Target,
    rooms: Vec<rooms::RoomPlan>,
    senders: usize,
    load: Load,
) -> rooms::Params {
    rooms::Params {
        target,
        rooms,
        senders,
        load,
        duration: Duration::from_millis(300),
        payload: 64,
        pid: Some(std::process::id()),
        slow_member: false,
        react_to: None,
    }
}

/// S10's engine: reactions fan out to every member, each sender's on/off
/// in order, every one acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_fan_out_to_everyone_in_order() {
    let s = server(200).await;
    let message = rooms::reaction_target(&s.target()).await.unwrap();
    let mut p = params(
        s.target(),
        vec![provision::bench_room(30)],
        3,
        Load::Window(4),
    );
    p.react_to = Some(message);
    let r = rooms::run(&p).await.unwrap();
    assert!(r.sent > 0, "{r:?}");
    assert_eq!(r.refused, 0, "{r:?}");
    assert_eq!(r.expected, r.sent * 30, "the reactor hears its own too");
    assert_eq!(r.acked, r.sent, "every reaction is acknowledged");
    assert!(r.complete(), "{r:?}");
    assert!(r.cpu_us_per_delivery().is_some());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_big_room_closed_loop_delivers_everything_in_order() {
    let s = server(200).await;
    let p = params(
        s.target(),
        vec![provision::bench_room(30)],
        3,
        Load::Window(4),
    );
    let r = rooms::run(&p).await.unwrap();
    assert!(r.sent > 0, "{r:?}");
    assert_eq!(r.expected, r.sent * 30, "natter echoes to the sender too");
    assert_eq!(r.acked, r.sent, "every send is acknowledged");
    assert!(r.complete(), "{r:?}");
    assert_eq!(r.latency.count(), r.deliveries);
    assert!(r.cpu_us_per_delivery().is_some());
    assert!(!r.rss_series.is_empty());
    s.stop().await;
}

/// S1 and S4 through natterd's IRC front end, as compare.sh runs them
/// beside ngircd: PASS by token, a PONG for every window that comes only
/// once the sends before it are stored, no echo to the sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_irc_front_end_runs_the_same_scenarios() {
    let s = server(200).await;
    let p = params(
        s.irc_target(),
        vec![provision::bench_room(30)],
        3,
        Load::Window(4),
    );
    let r = rooms::run(&p).await.unwrap();
    assert!(r.sent > 0, "{r:?}");
    assert_eq!(r.acked, r.sent, "PONGs acknowledge every send: {r:?}");
    assert_eq!(r.expected, r.sent * 29, "IRC does not echo to the sender");
    assert!(r.complete(), "{r:?}");

    let idle = idle::idle(
        &s.irc_target(),
        &provision::group_rooms(1, 40),
        Some(std::process::id()),
        Duration::from_millis(100),
    )
    .await
    .unwrap();
    assert_eq!(idle.connections, 40);

    // A bad token is refused with IRC's numeric, not a hang.
    let m = natter_load::proto::connect(
        &Target {
            proto: Proto::Irc,
            irc_token: false,
            ..s.irc_target()
        },
        3,
        &["#bench".into()],
        false,
    )
    .await;
    assert!(m.is_err(), "no PASS, no welcome");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_rooms_open_loop_keeps_each_room_to_itself() {
    let s = server(200).await;
    let p = params(
        s.target(),
        provision::group_rooms(2, 10),
        1,
        Load::Rate(200.0),
    );
    let r = rooms::run(&p).await.unwrap();
    // Two senders at 200/s for 0.3 s: about 60 each, scheduled not reactive.
    assert!((100..=130).contains(&r.sent), "{r:?}");
    assert_eq!(
        r.expected,
        r.sent * 10,
        "each message reaches its room only"
    );
    assert!(r.complete(), "{r:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_never_reads_costs_the_others_nothing() {
    let s = server(200).await;
    let mut p = params(
        s.target(),
        vec![provision::bench_room(12)],
        1,
        Load::Rate(500.0),
    );
    p.slow_member = true;
    let r = rooms::run(&p).await.unwrap();
    assert_eq!(r.connections, 12);
    assert_eq!(r.expected, r.sent * 11, "the slow member is not counted");
    assert!(r.complete(), "{r:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_history_and_storm_report() {
    let s = server(200).await;
    let target = s.target();
    let r = idle::idle(
        &target,
        &provision::group_rooms(2, 50),
        Some(std::process::id()),
        Duration::from_millis(200),
    )
    .await
    .unwrap();
    assert_eq!(r.connections, 100);
    assert!(r.rss_per_connection().is_some() && r.sockets_per_connection().is_some());

    let h = history::run(&target, 150, 20, 100, None).await.unwrap();
    assert_eq!(h.latency.count(), 20);
    assert!(h.rate() > 0.0);
    // More than the room holds is refused up front.
    assert!(history::run(&target, 10, 2, 20, None).await.is_err());

    let st = idle::storm(&target, 150, Some(std::process::id()))
        .await
        .unwrap();
    assert_eq!((st.clients, st.failed), (150, 0));
    assert_eq!(st.latency.count(), 150);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_storms_and_a_flood_report() {
    let s = server(10).await;
    let r = logins::run(
        &s.addr,
        Some(std::process::id()),
        4,
        2,
        6,
        Duration::from_millis(500),
    )
    .await
    .unwrap();
    assert_eq!((r.storm_failures, r.honest_failures), (0, 0));
    assert_eq!(r.rounds.len(), 2);
    assert!(r.honest.count() >= 1 && r.flood_logins >= 1, "{r:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_beside_honest_logins_report() {
    let s = server(10).await;
    let r = idle::idle_flood(&s.target(), 150, 5).await.unwrap();
    assert_eq!((r.opened, r.connect_failed, r.login_failures), (150, 0, 0));
    assert_eq!(r.logins.count(), 5);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_outside_the_room_is_refused_clearly() {
    let s = server(200).await;
    // u150.. are in #g1, not in #bench's first 100 (which only has 1000
    // members at most, and u150 is one of them): ask for a room it is not in.
    let plan = rooms::RoomPlan {
        name: "#g0".into(),
        users: vec![150],
    };
    let p = params(s.target(), vec![plan], 1, Load::Window(1));
    let e = rooms::run(&p).await.unwrap_err();
    assert!(format!("{e:#}").contains("is not in #g0"), "{e:#}");
    s.stop().await;
}
