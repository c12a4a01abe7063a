//! The frozen fixture: `tests/golden-v1.txt` holds the bytes of every frame
//! of protocol version 1 as first shipped (`name hex` per line). This build
//! must decode every one of them, forever, into the frame the name says: an
//! old client or server keeps working against a new one.
//!
//! Nothing rewrites this file. `NATTER_UPDATE_GOLDEN` rewrites only
//! `tests/golden.txt`, today's encoding (see `golden.rs`).

use natter_shared::{Event, Request, Response, ServerFrame, decode_client, decode_server};

fn rows() -> Vec<(String, Vec<u8>)> {
    let text = include_str!("golden-v1.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (name, hex) = l.split_once(' ').expect("name hex");
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            (name.to_owned(), bytes)
        })
        .collect()
}

#[test]
fn every_v1_frame_still_decodes_as_what_it_was() {
    let rows = rows();
    assert!(rows.len() >= 50, "the fixture lost rows: {}", rows.len());
    for (name, bytes) in rows {
        let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        assert_eq!(len, bytes.len() - 4, "{name}: length prefix");
        let payload = &bytes[4..];
        let (side, what) = name.split_once('.').expect("side.what");
        match side {
            "client" => {
                let frame = decode_client(payload).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(frame.id, 7, "{name}");
                assert!(
                    !matches!(frame.req, Request::Unknown(_)),
                    "{name} decoded as unknown"
                );
                assert!(
                    what.starts_with(frame.req.kind()),
                    "{name}: {:?}",
                    frame.req
                );
            }
            "ok" | "err" | "event" => {
                let frame = decode_server(payload).unwrap_or_else(|e| panic!("{name}: {e}"));
                match (side, frame) {
                    ("ok", ServerFrame::Ok { id: 7, res }) => {
                        assert!(!matches!(res, Response::Unknown(_)), "{name}: {res:?}");
                    }
                    ("err", ServerFrame::Err { id: 7, .. }) => {}
                    ("event", ServerFrame::Event(ev)) => {
                        assert!(!matches!(ev, Event::Unknown(_)), "{name}: {ev:?}");
                    }
                    (_, other) => panic!("{name} decoded as {other:?}"),
                }
            }
            _ => panic!("unexpected row {name}"),
        }
    }
}

#[test]
fn the_fixture_is_not_the_file_that_gets_rewritten() {
    // The golden test rewrites golden.txt; this one must never be it.
    let golden = include_str!("golden.rs");
    assert!(
        !golden.contains("golden-v1"),
        "golden.rs must not touch the frozen fixture"
    );
}
