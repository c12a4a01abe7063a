//! `/nick`, `/whois` and `Profile` events.

use std::time::Instant;

use natter_shared::{
    ErrorCode, ErrorReply, Event, Member, PresenceState, Request, Response, Role, UserInfo,
};

use super::Then;
use super::command::{Command, parse};
use super::tests::{enter, online_app, shown, the_request};

#[test]
fn nick_and_whois_parse() {
    assert_eq!(
        parse("/nick  Alice  Liddell "),
        Ok(Command::Nick(Some("Alice  Liddell".into())))
    );
    assert_eq!(parse("/nick"), Ok(Command::Nick(None)));
    assert_eq!(parse("/whois @Bob"), Ok(Command::Whois("bob".into())));
    assert_eq!(parse("/whois"), Err("usage: /whois user".into()));
    assert!(parse("/whois no way").is_err());
}

#[test]
fn nick_sets_and_clears_the_display_name() {
    let mut app = online_app();
    let (req, then) = the_request(&enter(&mut app, "/nick Alice Liddell"));
    assert_eq!(
        req,
        Request::SetProfile {
            display_name: Some("Alice Liddell".into())
        }
    );
    app.on_reply(then, Ok(Response::Done), 0);
    assert_eq!(
        shown(&app).last().unwrap(),
        "-- your display name is now Alice Liddell"
    );
    let (req, _) = the_request(&enter(&mut app, "/nick"));
    assert_eq!(req, Request::SetProfile { display_name: None });
}

#[test]
fn a_profile_event_updates_the_member_everywhere() {
    let mut app = online_app();
    let bob = Member {
        bot: false,
        guest: false,
        name: "bob".into(),
        role: Role::Member,
        presence: PresenceState::Online,
        status: None,
        display_name: None,
    };
    for room in ["#general", "#rust"] {
        app.on_reply(
            Then::Members { room: room.into() },
            Ok(Response::Members {
                room: room.into(),
                members: vec![bob.clone()],
            }),
            0,
        );
    }
    let now = Instant::now();
    let event = |d: Option<&str>| Event::Profile {
        user: "bob".into(),
        display_name: d.map(Into::into),
    };
    app.on_event(event(Some("Robert")), now);
    for r in &app.rooms {
        assert_eq!(
            r.members[0].display_name.as_deref(),
            Some("Robert"),
            "{}",
            r.name
        );
    }
    app.on_event(event(None), now);
    assert!(
        app.rooms
            .iter()
            .all(|r| r.members[0].display_name.is_none())
    );
}

#[test]
fn whois_prints_one_notice_in_the_room_it_was_typed_in() {
    let mut app = online_app();
    let (req, then) = the_request(&enter(&mut app, "/whois alice"));
    assert_eq!(
        req,
        Request::Whois {
            user: "alice".into()
        }
    );
    app.on_reply(
        then.clone(),
        Ok(Response::Whois(UserInfo {
            bot: false,
            guest: false,
            name: "alice".into(),
            display_name: Some("Alice Liddell".into()),
            presence: PresenceState::Away,
            status: Some("at lunch".into()),
            rooms: vec!["#general".into(), "#rust".into()],
            idle_secs: Some(303),
        })),
        0,
    );
    assert_eq!(
        shown(&app).last().unwrap(),
        "-- alice (Alice Liddell): away — \"at lunch\"; idle 5m 3s; rooms in common: #general, #rust"
    );
    app.on_reply(
        then.clone(),
        Ok(Response::Whois(UserInfo {
            bot: false,
            guest: false,
            name: "bob".into(),
            display_name: None,
            presence: PresenceState::Offline,
            status: None,
            rooms: Vec::new(),
            idle_secs: None,
        })),
        0,
    );
    assert_eq!(
        shown(&app).last().unwrap(),
        "-- bob: offline; no rooms in common"
    );
    app.on_reply(
        then,
        Err(ErrorReply::new(ErrorCode::NoSuchUser, "no such user: zed")),
        0,
    );
    assert_eq!(shown(&app).last().unwrap(), "!! whois: no such user: zed");
}
