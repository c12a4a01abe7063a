//! Search against a real server on loopback with a real SQLite file: the
//! query language, paging, snippets, and above all whose messages a search
//! may find (only those of rooms the searcher is in now).

mod common;

use common::{Client, ServerExt, TestServer};
use natter_shared::{
    ErrorCode, ErrorReply, Request, Response, SearchHit, SearchQuery, SnippetPart,
};

/// Runs a search; the hits and whether more exist.
async fn search_page(
    c: &mut Client,
    query: &str,
    room: Option<&str>,
    before: Option<u64>,
    limit: u32,
) -> Result<(Vec<SearchHit>, bool), ErrorReply> {
    let res = c
        .request(Request::Search(SearchQuery {
            query: query.into(),
            room: room.map(Into::into),
            before,
            limit,
        }))
        .await?;
    match res {
        Response::Found { hits, more } => Ok((hits, more)),
        other => panic!("expected Found, got {other:?}"),
    }
}

/// The bodies a search finds, newest first.
async fn find(c: &mut Client, query: &str) -> Vec<String> {
    search_page(c, query, None, None, 0)
        .await
        .unwrap_or_else(|e| panic!("{query}: {e}"))
        .0
        .into_iter()
        .map(|h| h.message.body)
        .collect()
}

async fn send(c: &mut Client, room: &str, body: &str) -> u64 {
    match c.send_text(room, body).await.unwrap() {
        Response::Sent { id, .. } => id,
        other => panic!("expected Sent, got {other:?}"),
    }
}

async fn create(c: &mut Client, room: &str, private: bool) {
    c.request(Request::Create {
        room: room.into(),
        private,
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_query_language_over_the_rooms_you_are_in() {
    let server = TestServer::start(&["ann", "bob"], |_| {}).await;
    let mut ann = server.login("ann").await;
    let mut bob = server.login("bob").await;
    create(&mut ann, "#ops", false).await;
    bob.request(Request::Join {
        room: "#ops".into(),
    })
    .await
    .unwrap();
    send(&mut ann, "#general", "lunch at the Café on friday?").await;
    send(&mut bob, "#general", "friday works, lunch it is").await;
    send(&mut bob, "#ops", "deploy notes: https://example.com/run").await;
    send(&mut ann, "#ops", "the lunch deploy failed").await;
    send(&mut bob, "@ann", "secret lunch plans").await;

    // Words: every one must appear; case and accents do not matter.
    assert_eq!(
        find(&mut ann, "LUNCH").await,
        [
            "secret lunch plans",
            "the lunch deploy failed",
            "friday works, lunch it is",
            "lunch at the Café on friday?"
        ]
    );
    assert_eq!(
        find(&mut ann, "cafe friday").await,
        ["lunch at the Café on friday?"]
    );
    // Phrases, exclusions.
    assert_eq!(
        find(&mut ann, "\"lunch it is\"").await,
        ["friday works, lunch it is"]
    );
    assert_eq!(find(&mut ann, "\"it lunch\"").await, Vec::<String>::new());
    assert_eq!(
        find(&mut ann, "lunch -friday -\"secret lunch\"").await,
        ["the lunch deploy failed"]
    );
    // Filters, alone or with words.
    assert_eq!(
        find(&mut ann, "from:bob lunch").await,
        ["secret lunch plans", "friday works, lunch it is"]
    );
    assert_eq!(
        find(&mut ann, "in:#ops").await,
        [
            "the lunch deploy failed",
            "deploy notes: https://example.com/run"
        ]
    );
    assert_eq!(
        find(&mut ann, "in:@bob lunch").await,
        ["secret lunch plans"]
    );
    assert_eq!(
        find(&mut ann, "has:link").await,
        ["deploy notes: https://example.com/run"]
    );
    assert_eq!(
        find(&mut ann, "from:bob -lunch").await,
        ["deploy notes: https://example.com/run"]
    );
    // The request's room is an in: filter.
    let (hits, _) = search_page(&mut ann, "lunch", Some("#ops"), None, 0)
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    // Unknown operators are words (here the phrase "deploy notes"); FTS5
    // syntax is text.
    assert_eq!(
        find(&mut ann, "deploy:notes").await,
        ["deploy notes: https://example.com/run"]
    );
    assert_eq!(find(&mut ann, "has:image").await, Vec::<String>::new());
    assert_eq!(
        find(&mut ann, "notes NOT (deploy) *").await,
        Vec::<String>::new()
    );
    assert_eq!(
        find(&mut ann, "https://example.com").await,
        ["deploy notes: https://example.com/run"]
    );
    // Hits name rooms as the searcher does.
    let (hits, _) = search_page(&mut ann, "secret", None, None, 0)
        .await
        .unwrap();
    assert_eq!(hits[0].message.room, "@bob");
    assert_eq!(hits[0].message.from, "bob");
    let (hits, _) = search_page(&mut bob, "secret", None, None, 0)
        .await
        .unwrap();
    assert_eq!(hits[0].message.room, "@ann");
}

#[tokio::test]
async fn dates_exclude_the_day_named() {
    let server = TestServer::start(&["ann"], |_| {}).await;
    let mut ann = server.login("ann").await;
    send(&mut ann, "#general", "dated words").await;
    let day = |offset: i64| {
        (chrono::Utc::now().date_naive() + chrono::Duration::days(offset))
            .format("%Y-%m-%d")
            .to_string()
    };
    let q = |op: &str, d: String| format!("dated {op}:{d}");
    assert_eq!(find(&mut ann, &q("before", day(1))).await.len(), 1);
    assert_eq!(find(&mut ann, &q("before", day(0))).await.len(), 0);
    assert_eq!(find(&mut ann, &q("after", day(-1))).await.len(), 1);
    assert_eq!(find(&mut ann, &q("after", day(0))).await.len(), 0);
    // Filters alone.
    assert_eq!(find(&mut ann, &format!("after:{}", day(-1))).await.len(), 1);
}

#[tokio::test]
async fn pages_run_newest_first_and_snippets_mark_the_hits() {
    let server = TestServer::start(&["ann"], |_| {}).await;
    let mut ann = server.login("ann").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(send(&mut ann, "#general", &format!("page marker {i}")).await);
    }
    // Findable as soon as Sent arrives.
    let last = send(
        &mut ann,
        "#general",
        "one two three four five six seven eight nine ten eleven twelve thirteen \
         fourteen fifteen needle sixteen seventeen eighteen nineteen twenty",
    )
    .await;
    let (hits, _) = search_page(&mut ann, "needle", None, None, 0)
        .await
        .unwrap();
    assert_eq!(hits[0].message.id, last);
    let snippet = &hits[0].snippet;
    let marked: Vec<&SnippetPart> = snippet.iter().filter(|p| p.hit).collect();
    assert_eq!(marked.len(), 1, "{snippet:?}");
    assert_eq!(marked[0].text, "needle");
    let text: String = snippet.iter().map(|p| p.text.as_str()).collect();
    assert!(text.starts_with('…'), "{text}");
    assert!(text.split_whitespace().count() <= 13, "{text}");

    // Paging: three at a time, newest first, `before` the last id seen.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let (hits, more) = search_page(&mut ann, "page marker", None, before, 3)
            .await
            .unwrap();
        assert!(hits.len() <= 3);
        seen.extend(hits.iter().map(|h| h.message.id));
        before = hits.last().map(|h| h.message.id);
        if !more {
            break;
        }
    }
    ids.reverse();
    assert_eq!(seen, ids);
    // A filter-only search's snippet is the body's start, with no hit.
    let (hits, _) = search_page(&mut ann, "from:ann", None, None, 1)
        .await
        .unwrap();
    assert_eq!(hits[0].message.id, last);
    assert!(hits[0].snippet.iter().all(|p| !p.hit));
    assert!(hits[0].snippet[0].text.starts_with("one two"));
}

#[tokio::test]
async fn rooms_you_are_not_in_are_never_searched() {
    let server = TestServer::start(&["ann", "bob", "cy"], |_| {}).await;
    let mut ann = server.login("ann").await;
    let mut bob = server.login("bob").await;
    let mut cy = server.login("cy").await;
    create(&mut ann, "#vault", true).await;
    create(&mut ann, "#open", false).await;
    send(&mut ann, "#vault", "zebra in the vault").await;
    send(&mut ann, "#open", "zebra in the open").await;
    send(&mut ann, "@bob", "zebra between ann and bob").await;
    send(&mut ann, "#general", "zebra for all").await;

    // Cy is in #general only.
    assert_eq!(find(&mut cy, "zebra").await, ["zebra for all"]);
    assert_eq!(find(&mut cy, "from:ann").await, ["zebra for all"]);
    // A private room is a missing one, byte for byte.
    let vault = search_page(&mut cy, "zebra", Some("#vault"), None, 0)
        .await
        .unwrap_err();
    let missing = search_page(&mut cy, "zebra in:#nowhere", None, None, 0)
        .await
        .unwrap_err();
    assert_eq!(vault.code, ErrorCode::NoSuchRoom);
    assert_eq!(
        vault.message.replace("vault", "X"),
        missing.message.replace("nowhere", "X")
    );
    // A public room not joined: join it first, as history says.
    let open = search_page(&mut cy, "in:#open zebra", None, None, 0)
        .await
        .unwrap_err();
    assert_eq!(open.code, ErrorCode::NotMember);
    // Someone else's conversation is not theirs to name.
    let (hits, _) = search_page(&mut cy, "zebra in:@bob", None, None, 0)
        .await
        .unwrap();
    assert!(hits.is_empty(), "{hits:?}");

    // Bob joins #open: its older messages are found now.
    bob.request(Request::Join {
        room: "#open".into(),
    })
    .await
    .unwrap();
    assert_eq!(
        find(&mut bob, "zebra").await,
        [
            "zebra for all",
            "zebra between ann and bob",
            "zebra in the open"
        ]
    );
    // Leaving and being banned end it: membership is checked now.
    bob.request(Request::Leave {
        room: "#open".into(),
    })
    .await
    .unwrap();
    assert_eq!(
        find(&mut bob, "zebra").await,
        ["zebra for all", "zebra between ann and bob"]
    );
    ann.request(Request::Invite {
        room: "#vault".into(),
        user: "cy".into(),
    })
    .await
    .unwrap();
    cy.request(Request::Accept {
        room: "#vault".into(),
    })
    .await
    .unwrap();
    assert_eq!(
        find(&mut cy, "zebra").await,
        ["zebra for all", "zebra in the vault"]
    );
    ann.request(Request::Ban {
        room: "#vault".into(),
        user: "cy".into(),
        reason: None,
    })
    .await
    .unwrap();
    assert_eq!(find(&mut cy, "zebra").await, ["zebra for all"]);
    let banned = search_page(&mut cy, "zebra in:#vault", None, None, 0)
        .await
        .unwrap_err();
    assert_eq!(banned.code, ErrorCode::NoSuchRoom);
}

#[tokio::test]
async fn queries_that_ask_for_nothing_are_refused_with_a_reason() {
    let server = TestServer::start(&["ann"], |_| {}).await;
    let mut ann = server.login("ann").await;
    for (query, says) in [
        ("", "empty"),
        ("  ", "empty"),
        ("-spam -\"buy now\"", "only exclude"),
        ("x before:2026-02-30", "before:2026-02-30"),
        ("x after:soon", "after:soon"),
    ] {
        let e = search_page(&mut ann, query, None, None, 0)
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Invalid, "{query}");
        assert!(e.message.contains(says), "{query}: {}", e.message);
    }
}

#[tokio::test]
async fn searches_have_a_rate_of_their_own() {
    let server = TestServer::start(&["ann"], |c| {
        c.limits.search_burst = 2.0;
        c.limits.searches_per_sec = 0.01;
    })
    .await;
    let (mut ann, _) = Client::login(server.addr, "ann", common::PASSWORD).await;
    for _ in 0..2 {
        search_page(&mut ann, "x", None, None, 0).await.unwrap();
    }
    let e = search_page(&mut ann, "x", None, None, 0).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::RateLimited);
    assert!(e.retry_after_ms.is_some_and(|ms| ms > 0));
    // Other requests are not held back.
    ann.request(Request::Ping).await.unwrap();
}

#[tokio::test]
async fn the_welcome_announces_search() {
    let server = TestServer::start(&[], |_| {}).await;
    let mut c = Client::connect(server.addr).await;
    match c.hello().await {
        Response::Welcome { features, .. } => {
            assert!(features.iter().any(|f| f == "search"), "{features:?}");
        }
        other => panic!("expected Welcome, got {other:?}"),
    }
}
