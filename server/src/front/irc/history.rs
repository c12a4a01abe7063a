//! History over IRC: `draft/chathistory` (`CHATHISTORY LATEST`, `BEFORE`,
//! `AFTER`, `AROUND`, `BETWEEN`, `TARGETS`) on natter's history, the read
//! markers of `draft/read-marker` (`MARKREAD`), and `soju.im/search`
//! (`SEARCH`). Messages are named by natter's id (`msgid=`) or by time
//! (`timestamp=`).

use bytes::Bytes;
use natter_shared::{HistoryQuery, Message, MessageId, Response, SearchQuery};

use super::connection::Conn;
use super::line::{self, Line, Out};
use super::reply;
use super::translate::{Links, message_lines, target_for};
use crate::ops;

/// A message reference: `*`, `msgid=N` or `timestamp=T`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ref {
    Any,
    Id(MessageId),
    Time(i64),
}

fn parse_ref(s: &str) -> Option<Ref> {
    if s == "*" {
        return Some(Ref::Any);
    }
    if let Some(id) = s.strip_prefix("msgid=") {
        return id.parse().ok().map(Ref::Id);
    }
    s.strip_prefix("timestamp=")
        .and_then(line::parse_time)
        .map(Ref::Time)
}

impl Conn {
    fn chathistory_fail(&self, code: &str, args: &[&str], text: &str) -> Vec<Bytes> {
        let mut out = Out::new(&self.server(), "FAIL")
            .arg("CHATHISTORY")
            .arg(code);
        for a in args {
            out = out.arg(a);
        }
        vec![out.trailing(text).bytes()]
    }

    /// The id a reference names in `room`: for `before` queries the first
    /// message at or after a time (so the page ends before it), otherwise
    /// the last at or before it. `Ok(None)` when no message qualifies.
    async fn resolve(
        &self,
        room: &str,
        r: Ref,
        before: bool,
    ) -> Result<Option<MessageId>, natter_shared::ErrorReply> {
        match r {
            Ref::Any => Ok(None),
            Ref::Id(id) => Ok(Some(id)),
            Ref::Time(ts) => {
                ops::messages::id_at_time(&self.shared, self.caller_of(), room, ts, before).await
            }
        }
    }

    fn caller_of(&self) -> ops::Caller {
        self.session.as_ref().map(|s| s.caller).expect("registered")
    }

    async fn page(
        &self,
        room: &str,
        query: HistoryQuery,
    ) -> Result<Vec<Message>, natter_shared::ErrorReply> {
        match ops::messages::history(&self.shared, self.caller_of(), room, query).await? {
            Response::Messages { messages, .. } => Ok(messages),
            _ => Ok(Vec::new()),
        }
    }

    pub(super) async fn chathistory(&self, line: &Line, label: Option<&str>) -> Vec<Bytes> {
        let sub = line.param(0).to_ascii_uppercase();
        let max = self.shared.config().history.max_page;
        if sub == "TARGETS" {
            return self.targets(line, label).await;
        }
        let target = line.param(1);
        let n_limit = if sub == "BETWEEN" { 4 } else { 3 };
        if target.is_empty() || line.params.len() <= n_limit {
            return self.chathistory_fail("NEED_MORE_PARAMS", &[&sub], "Missing parameters");
        }
        let Ok(limit) = line.param(n_limit).parse::<u32>() else {
            return self.chathistory_fail("INVALID_PARAMS", &[&sub], "Invalid limit");
        };
        let limit = limit.clamp(1, max);
        let Some(first) = parse_ref(line.param(2)) else {
            return self.chathistory_fail("INVALID_PARAMS", &[&sub], "Invalid message reference");
        };
        let Ok(room) = self.room_of_target(target).await else {
            return self.invalid_target("CHATHISTORY", target);
        };
        let messages = match sub.as_str() {
            "LATEST" => {
                let after = self.resolve(&room, first, false).await;
                match after {
                    Ok(after) => self
                        .page(
                            &room,
                            HistoryQuery {
                                limit,
                                ..HistoryQuery::default()
                            },
                        )
                        .await
                        .map(|ms| {
                            ms.into_iter()
                                .filter(|m| after.is_none_or(|a| m.id > a))
                                .collect()
                        }),
                    Err(e) => Err(e),
                }
            }
            "BEFORE" => match self.resolve(&room, first, true).await {
                Ok(before) => {
                    let before = match (first, before) {
                        // Nothing at or after that time: the latest page.
                        (Ref::Time(_), None) => None,
                        (_, b) => b,
                    };
                    self.page(
                        &room,
                        HistoryQuery {
                            before,
                            limit,
                            ..HistoryQuery::default()
                        },
                    )
                    .await
                }
                Err(e) => Err(e),
            },
            "AFTER" => match self.resolve(&room, first, false).await {
                Ok(after) => {
                    self.page(
                        &room,
                        HistoryQuery {
                            after: Some(after.unwrap_or(0)),
                            limit,
                            ..HistoryQuery::default()
                        },
                    )
                    .await
                }
                Err(e) => Err(e),
            },
            "AROUND" => match self.resolve(&room, first, false).await {
                Ok(Some(id)) => {
                    self.page(
                        &room,
                        HistoryQuery {
                            around: Some(id),
                            limit,
                            ..HistoryQuery::default()
                        },
                    )
                    .await
                }
                Ok(None) => Ok(Vec::new()),
                Err(e) => Err(e),
            },
            "BETWEEN" => {
                let Some(second) = parse_ref(line.param(3)) else {
                    return self.chathistory_fail(
                        "INVALID_PARAMS",
                        &[&sub],
                        "Invalid message reference",
                    );
                };
                let a = self.resolve(&room, first, false).await;
                let b = self.resolve(&room, second, true).await;
                match (a, b) {
                    (Ok(a), Ok(b)) => {
                        let (lo, hi) = match (a, b) {
                            (Some(x), Some(y)) if x > y => (Some(y), Some(x)),
                            other => other,
                        };
                        self.page(
                            &room,
                            HistoryQuery {
                                after: Some(lo.unwrap_or(0)),
                                limit,
                                ..HistoryQuery::default()
                            },
                        )
                        .await
                        .map(|ms| {
                            ms.into_iter()
                                .filter(|m| hi.is_none_or(|h| m.id < h))
                                .collect()
                        })
                    }
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            }
            _ => {
                return self.chathistory_fail("INVALID_PARAMS", &[&sub], "Unknown subcommand");
            }
        };
        let Ok(messages) = messages else {
            return self.invalid_target("CHATHISTORY", target);
        };
        let me = self.nick();
        let file_links = Links::of(&self.shared);
        let mut lines = Vec::new();
        for m in &messages {
            let to = target_for(m, &me);
            lines.extend(message_lines(m, &to, true, &[], file_links.as_ref()));
        }
        reply::batch(
            &self.server(),
            "chathistory",
            &[target],
            label,
            lines,
            self.caps.get(),
        )
    }

    async fn room_of_target(&self, target: &str) -> Result<String, natter_shared::ErrorReply> {
        if target.starts_with('#') {
            return Ok(target.to_ascii_lowercase());
        }
        ops::resolve_user(&self.shared, target).await?;
        Ok(format!("@{}", target.to_ascii_lowercase()))
    }

    /// `CHATHISTORY TARGETS <from> <to> <limit>`: the rooms and
    /// conversations with messages between two times, by latest.
    async fn targets(&self, line: &Line, label: Option<&str>) -> Vec<Bytes> {
        let (Some(Ref::Time(a)), Some(Ref::Time(b))) =
            (parse_ref(line.param(1)), parse_ref(line.param(2)))
        else {
            return self.chathistory_fail("INVALID_PARAMS", &["TARGETS"], "Needs two timestamps");
        };
        let limit = line.param(3).parse::<usize>().unwrap_or(50).clamp(1, 1000);
        let (lo, hi) = (a.min(b), a.max(b));
        let caller = self.caller_of();
        let rooms = match ops::rooms::list(&self.shared, caller) {
            Ok(Response::Rooms(r)) => r,
            _ => Vec::new(),
        };
        let mut found = Vec::new();
        for r in rooms.iter().filter(|r| r.last_id > 0) {
            if let Ok(Some(m)) = ops::messages::one(&self.shared, caller, &r.name, r.last_id).await
                && (lo..=hi).contains(&m.ts)
            {
                let name = r.name.strip_prefix('@').unwrap_or(&r.name).to_owned();
                found.push((m.ts, name));
            }
        }
        found.sort_by_key(|f| std::cmp::Reverse(f.0));
        found.truncate(limit);
        let server = self.server();
        let lines = found
            .into_iter()
            .map(|(ts, name)| {
                Out::new(&server, "CHATHISTORY")
                    .arg("TARGETS")
                    .arg(&name)
                    .arg(&format!("timestamp={}", line::server_time(ts)))
                    .bytes()
            })
            .collect();
        reply::batch(
            &server,
            "draft/chathistory-targets",
            &[],
            label,
            lines,
            self.caps.get(),
        )
    }

    /// `MARKREAD <target> [timestamp=T]`: sets the read marker to the last
    /// message at or before T, or asks where it is.
    pub(super) async fn markread(&self, line: &Line) -> Vec<Bytes> {
        let target = line.param(0);
        if target.is_empty() {
            let mut out = Out::new(&self.server(), "FAIL")
                .arg("MARKREAD")
                .arg("NEED_MORE_PARAMS");
            out = out.trailing("Missing target");
            return vec![out.bytes()];
        }
        let Ok(room) = self.room_of_target(target).await else {
            return self.invalid_target("MARKREAD", target);
        };
        let caller = self.caller_of();
        match line.params.get(1) {
            None => {
                let marker = match ops::rooms::list(&self.shared, caller) {
                    Ok(Response::Rooms(rooms)) => rooms.into_iter().find(|r| r.name == room),
                    _ => None,
                };
                let Some(state) = marker else {
                    return self.invalid_target("MARKREAD", target);
                };
                let ts = if state.last_read == 0 {
                    None
                } else {
                    ops::messages::one(&self.shared, caller, &room, state.last_read)
                        .await
                        .ok()
                        .flatten()
                        .map(|m| m.ts)
                };
                vec![reply::markread(&self.server(), target, ts)]
            }
            Some(value) => {
                let Some(Ref::Time(ts)) = parse_ref(value) else {
                    let out = Out::new(&self.server(), "FAIL")
                        .arg("MARKREAD")
                        .arg("INVALID_PARAMS")
                        .arg(value)
                        .trailing("Needs timestamp=");
                    return vec![out.bytes()];
                };
                match ops::messages::id_at_time(&self.shared, caller, &room, ts, false).await {
                    Ok(Some(id)) => {
                        match ops::markers::mark_read(&self.shared, caller, &room, id) {
                            // Every session of the account hears of it
                            // (`Event::Read`), this one included.
                            Ok(_) => Vec::new(),
                            Err(_) => self.invalid_target("MARKREAD", target),
                        }
                    }
                    Ok(None) => vec![reply::markread(&self.server(), target, None)],
                    Err(_) => self.invalid_target("MARKREAD", target),
                }
            }
        }
    }

    /// `SEARCH text=...;in=#room;limit=N` (soju.im/search): the hits as a
    /// `soju.im/search` batch of messages.
    pub(super) async fn search(&self, line: &Line, label: Option<&str>) -> Vec<Bytes> {
        let mut query = SearchQuery {
            limit: 20,
            ..SearchQuery::default()
        };
        for (k, v) in line.param(0).split(';').filter_map(|kv| kv.split_once('=')) {
            let v = line::unescape(v);
            match k {
                "text" => query.query = v,
                "in" => query.room = Some(v),
                "limit" => query.limit = v.parse().unwrap_or(20).clamp(1, 100),
                "from" => query.query = format!("{} from:{v}", query.query),
                _ => {}
            }
        }
        if query.query.trim().is_empty() {
            let out = Out::new(&self.server(), "FAIL")
                .arg("SEARCH")
                .arg("INVALID_PARAMS")
                .trailing("Needs text=");
            return vec![out.bytes()];
        }
        let hits = match ops::search::search(&self.shared, self.caller_of(), query).await {
            Ok(Response::Found { hits, .. }) => hits,
            Ok(_) => Vec::new(),
            Err(e) => {
                return vec![reply::fail(
                    &self.server(),
                    &self.nick(),
                    "SEARCH",
                    "",
                    &e,
                    self.caps.get(),
                )];
            }
        };
        let me = self.nick();
        let file_links = Links::of(&self.shared);
        let mut lines = Vec::new();
        for h in &hits {
            let m = &h.message;
            let to = target_for(m, &me);
            lines.extend(message_lines(m, &to, true, &[], file_links.as_ref()));
        }
        reply::batch(
            &self.server(),
            "soju.im/search",
            &[],
            label,
            lines,
            self.caps.get(),
        )
    }
}
