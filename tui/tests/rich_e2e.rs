//! Rich messaging where a user sees it: the real `natter` binary in a real
//! terminal (tmux on a private `-L` socket), against a real natterd (the
//! server library, in this process, on loopback), with a second client
//! (the client library, as bob) on the other side.
//!
//! From the keyboard alice replies to bob's message, edits her reply,
//! reacts to bob's message and deletes her reply; bob sees each change as
//! its event. Bob's edit and reaction show on alice's screen as
//! `(edited)` and a reactions line. Alice posts in a thread from its
//! overlay (the reply stays out of the room's timeline) and finds a
//! message with `/search`.
//!
//! Needs `tmux`: without it the test says why it skips, unless
//! `NATTER_REQUIRE_E2E=1`, where a missing tmux fails it.

use std::time::Duration;

use natter::conn::{Events, Incoming};
use natter_shared::{Event, ReactOp};

mod support;
use support::{Tmux, have_tmux};

/// Bob's next event that `pick` accepts, within 20 s.
async fn bob_sees<T>(events: &mut Events, what: &str, pick: impl Fn(Event) -> Option<T>) -> T {
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(incoming) = events.recv().await {
            if let Incoming::Event(e) = incoming
                && let Some(t) = pick(e)
            {
                return Some(t);
            }
        }
        None
    })
    .await;
    found
        .unwrap_or_else(|_| panic!("bob never saw {what}"))
        .unwrap_or_else(|| panic!("bob's connection closed before {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_edit_react_and_delete_are_seen_by_the_other_side() {
    if !have_tmux() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (mut server, addr, bob, mut events) = support::server_and_bob(tmp.path()).await;
    let (question, _) = bob
        .send_message("#general", "when is the demo?", false)
        .await
        .unwrap();

    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let command = support::natter_command(&home, "alice", &addr);
    let tmux = Tmux::start(
        format!("natter-rich-{}", std::process::id()),
        120,
        40,
        &command,
    );
    tmux.screen_with("when is the demo?").await;

    // Reply: Alt+Up selects bob's message, r, the text, Enter.
    tmux.key("M-Up");
    tmux.screen_with("reply").await;
    tmux.keys("r");
    tmux.screen_with("replying to bob").await;
    tmux.enter("at three");
    let reply = bob_sees(&mut events, "alice's reply", |e| match e {
        Event::Message(m) if m.from == "alice" => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(
        (reply.body.as_str(), reply.reply_to),
        ("at three", Some(question))
    );
    tmux.screen_with("↳ bob: when is the demo?").await;

    // Edit her reply: Alt+Up selects it (the newest), e, a new text.
    tmux.key("M-Up");
    tmux.keys("e");
    tmux.screen_with("editing your message").await;
    tmux.key("C-u");
    tmux.enter("at four");
    let (id, body) = bob_sees(&mut events, "the edit", |e| match e {
        Event::Edited { id, body, .. } => Some((id, body)),
        _ => None,
    })
    .await;
    assert_eq!((id, body.as_str()), (reply.id, "at four"));
    tmux.screen_until("the edited reply", |s| {
        s.contains("at four") && s.contains("(edited)")
    })
    .await;

    // React to bob's message: Alt+Up, Up to it, +, a shortcode, Enter.
    tmux.key("M-Up");
    tmux.key("Up");
    tmux.keys("+");
    tmux.keys(":tada:");
    tmux.key("Enter");
    let (id, key, user, on) = bob_sees(&mut events, "alice's reaction", |e| match e {
        Event::Reaction {
            id, key, user, on, ..
        } => Some((id, key, user, on)),
        _ => None,
    })
    .await;
    assert_eq!(
        (id, key.as_str(), user.as_str(), on),
        (question, "🎉", "alice", true)
    );
    tmux.screen_with("🎉 1").await;
    // Selection stays after a reaction (to add another); Esc leaves it.
    tmux.key("Escape");

    // Bob edits his question and reacts to her reply: alice sees both.
    bob.edit("#general", question, "when is the demo, today?")
        .await
        .unwrap();
    bob.react("#general", reply.id, "👍", ReactOp::Add)
        .await
        .unwrap();
    tmux.screen_until("bob's edit and reaction", |s| {
        s.contains("when is the demo, today?") && s.contains("👍 1")
    })
    .await;

    // Delete her reply: Alt+Up, d, y.
    tmux.key("M-Up");
    tmux.keys("d");
    tmux.screen_with("y/n").await;
    tmux.keys("y");
    let (id, by) = bob_sees(&mut events, "the delete", |e| match e {
        Event::Deleted { id, by, .. } => Some((id, by)),
        _ => None,
    })
    .await;
    assert_eq!((id, by.as_str()), (reply.id, "alice"));
    let screen = tmux.screen_with("message deleted").await;
    assert!(!screen.contains("at four"), "{screen}");

    // A thread: t on bob's question (above the tombstone) opens it; its
    // own input posts in it.
    tmux.key("M-Up");
    tmux.key("Up");
    tmux.keys("t");
    tmux.screen_with("thread").await;
    tmux.enter("slides are ready");
    let in_thread = bob_sees(&mut events, "alice's thread reply", |e| match e {
        Event::Message(m) if m.from == "alice" => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(
        (in_thread.body.as_str(), in_thread.thread),
        ("slides are ready", Some(question))
    );
    tmux.key("Escape");
    // The reply stays in its thread; the root counts it.
    let screen = tmux.screen_with("1 reply").await;
    assert!(!screen.contains("slides are ready"), "{screen}");

    // Search: /search opens the results, Enter goes to the message.
    bob.send_message("#general", "unrelated chatter", false)
        .await
        .unwrap();
    tmux.screen_with("unrelated chatter").await;
    tmux.enter("/search demo");
    let results = tmux
        .screen_until("one result for demo", |s| {
            s.contains(" search · ") && s.contains("1 result")
        })
        .await;
    assert!(results.contains("bob: when is the demo"), "{results}");
    assert!(!results.contains("bob: unrelated chatter"), "{results}");
    tmux.key("Enter");
    tmux.screen_until("the chosen result in its room", |s| {
        !s.contains(" search · ") && s.contains("when is the demo, today?")
    })
    .await;
    tmux.key("Escape");

    tmux.enter("/quit");
    server.stop().await.expect("natterd stopped");
}
