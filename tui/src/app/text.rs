//! Layout arithmetic shared by scrolling (in the state) and drawing (in
//! `crate::ui`), so both agree on what a row is.
//!
//! Text is wrapped by display width (CJK and emoji count two columns). Only
//! the entries in view are laid out: the scroll position is an anchor entry
//! counted from the newest, so scrolling a room with 100,000 messages costs
//! the same as one with ten.
//!
//! A blocked user's messages stay in the timeline but have no rows of
//! their own: each run of them (consecutive, on one day) shows as one
//! dimmed [`Row::Hidden`] on its first message, and the others lay out to
//! nothing, which scrolling passes over.

use std::collections::BTreeSet;

use chrono::{DateTime, FixedOffset, Utc};
use natter_shared::{MessageId, RoomKind};
use ratatui::layout::Rect;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::safety::hidden_text;
use super::timeline::Mark;
use super::{App, Delivery, Entry, EntryKind, Room, Scroll};

/// Width of the rooms pane.
pub const ROOMS_WIDTH: u16 = 22;
/// Width of the users pane.
pub const USERS_WIDTH: u16 = 20;
/// Most rows the input line grows to.
pub const INPUT_MAX_ROWS: u16 = 5;

/// Milliseconds since the Unix epoch, now.
#[must_use]
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A duration in seconds as `3d 4h`, `2h 5m` or `42s`.
#[must_use]
pub fn duration(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {}s", secs % 60)
    } else {
        format!("{secs}s")
    }
}

fn local(ts: i64, offset: i32) -> DateTime<FixedOffset> {
    let utc = DateTime::<Utc>::from_timestamp_millis(ts).unwrap_or_default();
    let tz = FixedOffset::east_opt(offset).unwrap_or_else(|| Utc.fix());
    utc.with_timezone(&tz)
}

use chrono::Offset as _;

/// `HH:MM` in local time.
#[must_use]
pub fn clock(ts: i64, offset: i32) -> String {
    local(ts, offset).format("%H:%M").to_string()
}

fn day(ts: i64, offset: i32) -> chrono::NaiveDate {
    local(ts, offset).date_naive()
}

/// The rows of the input line (it grows with newlines, up to a cap).
#[must_use]
pub fn input_rows(app: &App) -> u16 {
    let lines = app.composer.value().split('\n').count();
    // A reply or an edit says so on a line of its own above.
    let label = u16::from(app.compose.is_some());
    u16::try_from(lines)
        .unwrap_or(u16::MAX)
        .clamp(1, INPUT_MAX_ROWS)
        + label
}

/// The panes' rectangles for the app's terminal size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub rooms: Rect,
    /// The messages pane including its title row.
    pub messages: Rect,
    pub users: Rect,
    pub typing: Rect,
    pub status: Rect,
    pub input: Rect,
}

/// Where everything goes.
#[must_use]
pub fn areas(app: &App) -> Areas {
    let (w, h) = app.size;
    let input_h = input_rows(app).min(h.saturating_sub(3)).max(1);
    let main_h = h.saturating_sub(input_h + 2);
    let rooms_w = if app.rooms_pane() {
        ROOMS_WIDTH.min(w / 3)
    } else {
        0
    };
    let users_w = if app.users_pane() {
        USERS_WIDTH.min(w / 4)
    } else {
        0
    };
    let msg_w = w.saturating_sub(rooms_w + users_w);
    Areas {
        rooms: Rect::new(0, 0, rooms_w, main_h),
        messages: Rect::new(rooms_w, 0, msg_w, main_h),
        users: Rect::new(rooms_w + msg_w, 0, users_w, main_h),
        typing: Rect::new(0, main_h, w, 1.min(h)),
        status: Rect::new(0, main_h + 1, w, 1.min(h.saturating_sub(main_h + 1))),
        input: Rect::new(0, main_h + 2, w, input_h.min(h.saturating_sub(main_h + 2))),
    }
}

/// The messages pane below its title row, inside its left margin.
#[must_use]
pub fn messages_area(app: &App) -> Rect {
    let m = areas(app).messages;
    let margin = u16::from(m.x > 0);
    Rect::new(
        m.x + margin,
        m.y + 1,
        m.width.saturating_sub(margin),
        m.height.saturating_sub(1),
    )
}

/// The rooms pane.
#[must_use]
pub fn rooms_area(app: &App) -> Rect {
    areas(app).rooms
}

/// One laid-out row of the messages pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// `── Mon 23 Nov 2026 ──`
    Day(String),
    /// The read marker: messages below are new.
    New,
    /// The first row of a message: time, nick (or `* nick` for actions),
    /// text; `own` marks your messages and their delivery.
    Head {
        time: String,
        nick: String,
        /// From an IRC guest in the room: ` (guest)` follows the nick.
        guest: bool,
        action: bool,
        text: String,
        delivery: Option<Delivery>,
        /// Drawn dim (a deleted message's `message deleted`).
        dim: bool,
    },
    /// A line about a message rather than of it, indented by `indent`:
    /// the quote of the message it replies to (above it), its thread
    /// summary and its reactions (below it).
    Meta {
        indent: usize,
        parts: Vec<(String, Tone)>,
    },
    /// A continuation of a message, indented by `indent` columns.
    More { indent: usize, text: String },
    /// Row `line` of `lines` of an image's preview, `cols` wide, drawn
    /// from its thumbnail in half blocks (two pixels a cell).
    Preview {
        indent: usize,
        file: natter_shared::FileId,
        line: usize,
        cols: usize,
        lines: usize,
    },
    /// Why your message was not sent, under it.
    Failed { indent: usize, text: String },
    /// A notice or error line (first or continued).
    Note {
        time: String,
        text: String,
        error: bool,
        /// Drawn dim throughout (the message of the day).
        dim: bool,
    },
    /// A run of messages from blocked users, collapsed: "3 messages from
    /// blocked users".
    Hidden { time: String, text: String },
}

/// How a part of a [`Row::Meta`] is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Secondary: quotes, summaries, others' reactions.
    Dim,
    /// A reaction you made, in the theme's `reaction` colour.
    Mine,
    /// A file a message carries (`📎 build.log 12.4 KiB text/plain`).
    File,
}

/// What marks an edited message, after its text.
pub const EDITED: &str = " (edited)";

/// What a deleted message shows instead of its text.
pub const DELETED: &str = "message deleted";

/// What follows a guest's nick in its messages (and in the members pane).
pub const GUEST: &str = " (guest)";

/// The reactions line: `👍 2  🎉 1`, yours marked.
#[must_use]
pub fn reaction_parts(reactions: &[natter_shared::Reaction], me: &str) -> Vec<(String, Tone)> {
    let mut parts = Vec::new();
    for (n, r) in reactions.iter().enumerate() {
        if n > 0 {
            parts.push(("  ".to_owned(), Tone::Dim));
        }
        let mine = r.users.iter().any(|u| u == me);
        let key = display_text(&r.key);
        parts.push((
            format!("{key} {}", r.users.len()),
            if mine { Tone::Mine } else { Tone::Dim },
        ));
    }
    parts
}

/// A thread root's summary: `3 replies, last by bob 14:02`.
#[must_use]
pub fn summary_text(s: &natter_shared::ThreadSummary, utc_offset: i32) -> String {
    format!(
        "{}, last by {} {}",
        count(u64::from(s.count), "reply", "replies"),
        display_text(&s.last_from),
        clock(s.last_ts, utc_offset)
    )
}

/// The quote above a reply: `↳ alice: first words…`, or `↳ a message`
/// when the parent is not loaded (Enter in selection mode fetches it).
#[must_use]
pub fn quote_text(room: &Room, parent: MessageId) -> String {
    match room.entries.message(parent) {
        Some(Entry {
            kind: EntryKind::Msg { from, body, .. },
            rich,
            ..
        }) => {
            let text = if rich.deleted {
                DELETED.to_owned()
            } else {
                crate::app::select::quote(&display_text(body))
            };
            format!("↳ {}: {text}", display_text(from))
        }
        _ => "↳ a message".to_owned(),
    }
}

/// `text` cut to `width` columns, ending in `…` when cut.
#[must_use]
pub fn fit(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// Lays out a room's entries at a given width.
pub struct Layout<'a> {
    pub width: usize,
    pub utc_offset: i32,
    pub me: &'a str,
    /// Whose messages are collapsed (`Safety::blocked`).
    pub blocked: &'a BTreeSet<String>,
    /// Thumbnails to draw previews from (`None`: no previews).
    pub thumbs:
        Option<&'a std::collections::HashMap<natter_shared::FileId, Option<super::files::Thumb>>>,
}

/// `1 member`, `3 members`: a count with its noun in the right number.
#[must_use]
pub fn count(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Columns between tab stops when a tab in a message is shown as spaces.
pub const TAB_STOP: usize = 4;

/// Text from others as the screen shows it, so that what is drawn is what
/// was measured:
///
/// - a tab becomes spaces up to the next [`TAB_STOP`] (a terminal cell
///   cannot hold a tab, and dropping it glues words together);
/// - a flag (a pair of regional indicators, 🇫🇷) becomes its letters,
///   `[FR]`: terminals disagree on its width (1, 2 or 4 cells), and a
///   disagreement leaves stray cells on other lines and moves the border;
/// - other control characters and bidi controls become `�`: they would
///   drive the terminal or reorder the line.
///
/// Newlines stay: they separate paragraphs for [`wrap`]. Text with none of
/// these is borrowed.
#[must_use]
pub fn display_text(text: &str) -> std::borrow::Cow<'_, str> {
    let special =
        |c: char| (c != '\n' && natter_shared::text::is_unsafe(c)) || regional_letter(c).is_some();
    if !text.chars().any(special) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut column = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                out.push('\n');
                column = 0;
            }
            '\t' => {
                let n = TAB_STOP - column % TAB_STOP;
                out.extend(std::iter::repeat_n(' ', n));
                column += n;
            }
            c => {
                if let Some(first) = regional_letter(c) {
                    out.push('[');
                    out.push(first);
                    column += 3;
                    if let Some(second) = chars.peek().copied().and_then(regional_letter) {
                        chars.next();
                        out.push(second);
                        column += 1;
                    }
                    out.push(']');
                } else if natter_shared::text::is_unsafe(c) {
                    out.push('\u{fffd}');
                    column += 1;
                } else {
                    out.push(c);
                    column += c.width().unwrap_or(0);
                }
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The input line as drawn: each regional indicator as its letter (a flag
/// you type shows as `FR` rather than a glyph whose width the terminal and
/// natter may disagree on, which leaves stray cells behind), a tab as a
/// space, other control characters as `�`. One character for one, so the
/// cursor's position is unchanged; the text sent is what was typed.
#[must_use]
pub fn input_text(text: &str) -> std::borrow::Cow<'_, str> {
    let special =
        |c: char| (c != '\n' && natter_shared::text::is_unsafe(c)) || regional_letter(c).is_some();
    if !text.chars().any(special) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| match c {
            '\n' => '\n',
            '\t' => ' ',
            c => regional_letter(c).unwrap_or(if natter_shared::text::is_unsafe(c) {
                '\u{fffd}'
            } else {
                c
            }),
        })
        .collect()
}

/// The letter a regional indicator symbol stands for (🇦 is `A`).
fn regional_letter(c: char) -> Option<char> {
    let n = u32::from(c).checked_sub(0x1F1E6)?;
    (n < 26).then(|| char::from(b'A' + u8::try_from(n).unwrap_or(0)))
}

/// The links in `text`, with their byte offsets: `http://` and
/// `https://` URLs. One runs to the next whitespace, less what usually
/// ends the sentence around it: trailing `.,;:!?'"` and closing brackets
/// that were not opened inside it (`(see https://x.org/a_(b))`).
#[must_use]
pub fn urls(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    for piece in text.split_inclusive(char::is_whitespace) {
        let token = piece.trim_end_matches(char::is_whitespace);
        let offset = start;
        start += piece.len();
        let lower = token.to_ascii_lowercase();
        let Some(at) = ["https://", "http://"]
            .iter()
            .filter_map(|scheme| lower.find(scheme).map(|i| (i, scheme.len())))
            .min()
        else {
            continue;
        };
        let mut url = &token[at.0..];
        while let Some(last) = url.chars().next_back() {
            let unbalanced = |open: char| url.matches(open).count() < url.matches(last).count();
            let trim = match last {
                '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '"' => true,
                ')' => unbalanced('('),
                ']' => unbalanced('['),
                '>' => unbalanced('<'),
                '}' => unbalanced('{'),
                _ => false,
            };
            if !trim {
                break;
            }
            url = &url[..url.len() - last.len_utf8()];
        }
        if url.len() > at.1 {
            out.push((offset + at.0, url));
        }
    }
    out
}

/// Splits `text` into pieces of at most `first` then `rest` columns,
/// breaking at spaces where possible and inside words that do not fit. A
/// link is not broken when a line of its own holds it: one too wide for
/// the first line (the nick takes part of it) starts on the next.
#[must_use]
pub fn wrap(text: &str, first: usize, rest: usize) -> Vec<String> {
    let mut out = Vec::new();
    for (n, para) in text.split('\n').enumerate() {
        let mut line = String::new();
        let mut used = 0;
        let limit = |out: &Vec<String>| {
            if out.is_empty() && n == 0 {
                first
            } else {
                rest
            }
            .max(1)
        };
        for word in para.split_inclusive(' ') {
            let w = word.width();
            if used + w.saturating_sub(usize::from(word.ends_with(' '))) <= limit(&out) {
                line.push_str(word);
                used += w;
                continue;
            }
            if !line.is_empty() {
                out.push(line.trim_end().to_owned());
                line = String::new();
                used = 0;
            }
            if word.trim_end().width() <= limit(&out) {
                line.push_str(word);
                used = w;
                continue;
            }
            if out.is_empty() && n == 0 && word.trim_end().width() <= rest && !urls(word).is_empty()
            {
                // The first line is narrower: leave it empty rather than
                // cut the link.
                out.push(String::new());
                line.push_str(word);
                used = w;
                continue;
            }
            // A word longer than a line: break it by characters.
            for c in word.chars() {
                let cw = c.width().unwrap_or(0);
                if used + cw > limit(&out) && !line.is_empty() {
                    out.push(std::mem::take(&mut line));
                    used = 0;
                }
                line.push(c);
                used += cw;
            }
        }
        out.push(line.trim_end().to_owned());
    }
    out
}

impl Layout<'_> {
    /// Whether `e` is a message hidden because its author is blocked.
    fn hidden(&self, e: &Entry) -> bool {
        matches!(&e.kind, EntryKind::Msg { from, .. } if from != self.me && self.blocked.contains(from))
    }

    /// Whether hidden entry `i` continues a run shown further up (on the
    /// run's first message): then it has no rows of its own.
    fn in_run(&self, room: &Room, i: usize) -> bool {
        i > 0 && self.hidden(&room.entries[i - 1]) && !self.new_day(room, i)
    }

    /// Whether entry `i` starts a new day (the first loaded one does).
    fn new_day(&self, room: &Room, i: usize) -> bool {
        i == 0
            || day(room.entries[i - 1].ts, self.utc_offset)
                != day(room.entries[i].ts, self.utc_offset)
    }

    /// The index of the first entry after the room's "new" marker, if any.
    /// Scans back from the newest only as far as the marker.
    #[must_use]
    pub fn marker_index(&self, room: &Room) -> Option<usize> {
        let marker = room.marker?;
        let mut found = None;
        for (i, e) in room.entries.iter().enumerate().rev() {
            match e.id {
                Some(id) if id <= marker => break,
                Some(_) if !is_own(e, self.me) && !self.hidden(e) => found = Some(i),
                _ => {}
            }
        }
        found
    }

    /// The rows of entry `i`.
    #[must_use]
    pub fn rows(&self, room: &Room, i: usize, marker: Option<usize>) -> Vec<Row> {
        let e = &room.entries[i];
        let hidden = self.hidden(e);
        if hidden && self.in_run(room, i) {
            return Vec::new();
        }
        let mut rows = Vec::new();
        if self.new_day(room, i) {
            rows.push(Row::Day(
                local(e.ts, self.utc_offset)
                    .format("%a %d %b %Y")
                    .to_string(),
            ));
        }
        if marker == Some(i) {
            rows.push(Row::New);
        }
        let time = clock(e.ts, self.utc_offset);
        if hidden {
            let run = 1
                + (i + 1..room.entries.len())
                    .take_while(|&j| self.hidden(&room.entries[j]) && !self.new_day(room, j))
                    .count();
            rows.push(Row::Hidden {
                time,
                text: hidden_text(run),
            });
            return rows;
        }
        match &e.kind {
            EntryKind::Msg {
                from,
                body,
                action,
                delivery,
            } => {
                let nick = if *action {
                    format!("* {from}")
                } else {
                    from.clone()
                };
                // A guest is marked here as in the members pane: no account
                // behind the name, which another guest may take later.
                let guest = room.members.iter().any(|m| m.guest && m.name == *from);
                let nick_cols = nick.width() + if guest { GUEST.width() } else { 0 };
                let indent = 6 + nick_cols + 1;
                let indent = if indent * 2 > self.width { 2 } else { indent };
                // Your pending message keeps two columns for its mark, and
                // your last one of a direct conversation five for its
                // receipt (` seen`).
                let receipt = (from == self.me && *delivery == Delivery::Sent)
                    .then(|| receipt_mark(room, e.id, self.me))
                    .flatten();
                let mark = if from == self.me && *delivery == Delivery::Pending {
                    2
                } else if receipt.is_some() {
                    5
                } else {
                    0
                };
                let first = self.width.saturating_sub(6 + nick_cols + 1 + mark);
                if let Some(parent) = e.rich.reply_to {
                    let w = self.width.saturating_sub(indent);
                    let text = fit(&quote_text(room, parent), w);
                    rows.push(Row::Meta {
                        indent,
                        parts: vec![(text, Tone::Dim)],
                    });
                }
                let deleted = e.rich.deleted;
                let body = if deleted {
                    std::borrow::Cow::Borrowed(DELETED)
                } else if e.rich.edited {
                    std::borrow::Cow::Owned(format!("{}{EDITED}", display_text(body)))
                } else {
                    display_text(body)
                };
                let mut parts = wrap(&body, first, self.width.saturating_sub(indent)).into_iter();
                let delivery = (from == self.me)
                    .then(|| receipt.map_or_else(|| delivery.clone(), Delivery::Receipt));
                let failed = match &delivery {
                    Some(Delivery::Failed(why)) => {
                        Some(format!("✗ not sent: {why}. Up recalls it to send again."))
                    }
                    _ => None,
                };
                rows.push(Row::Head {
                    time,
                    nick,
                    guest,
                    action: *action,
                    text: parts.next().unwrap_or_default(),
                    delivery,
                    dim: deleted,
                });
                rows.extend(parts.map(|text| Row::More { indent, text }));
                let w = self.width.saturating_sub(indent);
                for a in &e.rich.attachments {
                    rows.push(Row::Meta {
                        indent,
                        parts: vec![(fit(&crate::format::attachment_line(a), w), Tone::File)],
                    });
                    if let Some(Some(thumb)) = self.thumbs.and_then(|t| t.get(&a.file)) {
                        let (cols, lines) =
                            super::files::preview_cells(thumb, w.min(super::files::PREVIEW_COLS));
                        rows.extend((0..lines).map(|line| Row::Preview {
                            indent,
                            file: a.file,
                            line,
                            cols,
                            lines,
                        }));
                    }
                }
                if let Some(summary) = &e.rich.replies
                    && summary.count > 0
                {
                    rows.push(Row::Meta {
                        indent,
                        parts: vec![(summary_text(summary, self.utc_offset), Tone::Dim)],
                    });
                }
                if !e.rich.reactions.is_empty() && !deleted {
                    rows.push(Row::Meta {
                        indent,
                        parts: reaction_parts(&e.rich.reactions, self.me),
                    });
                }
                // Who has read up to the newest message of a room.
                if room.receipts_shown
                    && room.kind != RoomKind::Direct
                    && let Some(id) = e.id
                    && id == room.entries.newest()
                    && let Some(seen) = super::receipts::seen_by(room.readers.iter(), from, id)
                {
                    let w = self.width.saturating_sub(indent);
                    rows.push(Row::Meta {
                        indent,
                        parts: vec![(fit(&format!("✓ {seen}"), w), Tone::Dim)],
                    });
                }
                if let Some(failed) = failed {
                    let w = self.width.saturating_sub(indent);
                    rows.extend(
                        wrap(&failed, w, w)
                            .into_iter()
                            .map(|text| Row::Failed { indent, text }),
                    );
                }
            }
            EntryKind::Notice(text) | EntryKind::Error(text) | EntryKind::Motd(text) => {
                let error = matches!(e.kind, EntryKind::Error(_));
                let dim = matches!(e.kind, EntryKind::Motd(_));
                for (n, part) in wrap(
                    &display_text(text),
                    self.width.saturating_sub(9),
                    self.width.saturating_sub(9),
                )
                .into_iter()
                .enumerate()
                {
                    rows.push(Row::Note {
                        time: if n == 0 { time.clone() } else { String::new() },
                        text: part,
                        error,
                        dim,
                    });
                }
            }
        }
        rows
    }

    fn count(&self, room: &Room, i: usize, marker: Option<usize>) -> usize {
        self.rows(room, i, marker).len()
    }

    /// The rows in view, top to bottom, at most `height`.
    #[must_use]
    pub fn visible(&self, room: &Room, height: usize) -> Vec<Row> {
        self.visible_entries(room, height)
            .into_iter()
            .map(|(_, row)| row)
            .collect()
    }

    /// [`Layout::visible`], each row with the index of its entry (for
    /// drawing what depends on the whole message, like a mention).
    #[must_use]
    pub fn visible_entries(&self, room: &Room, height: usize) -> Vec<(usize, Row)> {
        let n = room.entries.len();
        if n == 0 || height == 0 {
            return Vec::new();
        }
        let marker = self.marker_index(room);
        let s = room.scroll.unwrap_or(Scroll { anchor: 0, skip: 0 });
        let mut i = n - 1 - s.anchor.min(n - 1);
        let mut rows = self.rows(room, i, marker);
        rows.truncate(rows.len().saturating_sub(s.skip));
        let mut out: std::collections::VecDeque<(usize, Row)> =
            rows.into_iter().map(|r| (i, r)).collect();
        while out.len() < height && i > 0 {
            i -= 1;
            for r in self.rows(room, i, marker).into_iter().rev() {
                out.push_front((i, r));
            }
        }
        while out.len() > height {
            out.pop_front();
        }
        out.into()
    }

    /// The scroll position `rows` up or down from the room's, clamped so
    /// the oldest entry never leaves the top; `None` is the bottom. The
    /// flag says the top of what is loaded is in view.
    #[must_use]
    pub fn scroll(
        &self,
        room: &Room,
        rows: usize,
        up: bool,
        height: usize,
    ) -> (Option<Scroll>, bool) {
        let n = room.entries.len();
        if n == 0 {
            return (None, true);
        }
        let marker = self.marker_index(room);
        if up && rows == usize::MAX && height > 1 {
            // All the way up (Ctrl+Home): the walk below would lay out every
            // loaded entry (70 ms for 100,000) only to land on the top
            // position, which is found from the oldest end in a screenful.
            return (self.top_position(room, height, marker), true);
        }
        let mut s = room.scroll.unwrap_or(Scroll { anchor: 0, skip: 0 });
        s.anchor = s.anchor.min(n - 1);
        // The position may come from another width (a pane toggled).
        s.skip = s
            .skip
            .min(self.count(room, n - 1 - s.anchor, marker).saturating_sub(1));
        let mut left = rows;
        if up {
            loop {
                let total = self.count(room, n - 1 - s.anchor, marker);
                s.skip = s.skip.min(total.saturating_sub(1));
                if left < total - s.skip {
                    s.skip += left;
                    break;
                }
                left -= total - s.skip;
                if s.anchor + 1 >= n {
                    s.skip = total.saturating_sub(1);
                    break;
                }
                s.anchor += 1;
                s.skip = 0;
            }
        } else {
            loop {
                if left <= s.skip {
                    s.skip -= left;
                    break;
                }
                left -= s.skip + 1;
                // On to the first row of the next newer entry that has rows.
                let rows = loop {
                    if s.anchor == 0 {
                        return (None, self.fits(room, height, marker));
                    }
                    s.anchor -= 1;
                    let rows = self.count(room, n - 1 - s.anchor, marker);
                    if rows > 0 {
                        break rows;
                    }
                };
                s.skip = rows - 1;
            }
            // Nothing with rows below: that is the bottom.
            if s.skip == 0 && (0..s.anchor).all(|a| self.count(room, n - 1 - a, marker) == 0) {
                return (None, self.fits(room, height, marker));
            }
        }
        // Never scroll past the top: the view's top row is at most the
        // oldest entry's first row.
        let mut above = self.count(room, n - 1 - s.anchor, marker) - s.skip;
        let mut i = n - 1 - s.anchor;
        while above < height && i > 0 {
            i -= 1;
            above += self.count(room, i, marker);
        }
        if above >= height {
            return (Some(s), above == height && i == 0);
        }
        (self.top_position(room, height, marker), true)
    }

    fn fits(&self, room: &Room, height: usize, marker: Option<usize>) -> bool {
        let mut total = 0;
        for i in (0..room.entries.len()).rev() {
            total += self.count(room, i, marker);
            if total > height {
                return false;
            }
        }
        true
    }

    /// The position showing entry `index` at the top of the view (with
    /// the "new" line, when it is the first unread); `None` when
    /// everything from there down fits: that is the bottom.
    #[must_use]
    pub fn position_at(&self, room: &Room, index: usize, height: usize) -> Option<Scroll> {
        self.position_from(room, index, height, self.marker_index(room))
    }

    /// The position with entry `index` at the top; `None` is the bottom.
    fn position_from(
        &self,
        room: &Room,
        index: usize,
        height: usize,
        marker: Option<usize>,
    ) -> Option<Scroll> {
        let n = room.entries.len();
        let mut acc = 0;
        for i in index.min(n)..n {
            acc += self.count(room, i, marker);
            if acc >= height {
                let s = Scroll {
                    anchor: n - 1 - i,
                    skip: acc - height,
                };
                return (s.anchor > 0 || s.skip > 0).then_some(s);
            }
        }
        None
    }

    /// The newest message whose first row the view shows: what has been
    /// seen, and so what may be marked read. 0 when none is.
    #[must_use]
    pub fn newest_shown(room: &Room) -> MessageId {
        let n = room.entries.len();
        let Some(s) = room.scroll else {
            return room.entries.newest().max(room.thread_newest);
        };
        let bottom = n.saturating_sub(1 + s.anchor);
        (0..=bottom)
            .rev()
            .find_map(|i| room.entries.get(i).and_then(|e| e.id))
            .unwrap_or(0)
    }

    /// The position showing the oldest entry at the top of the view.
    fn top_position(&self, room: &Room, height: usize, marker: Option<usize>) -> Option<Scroll> {
        self.position_from(room, 0, height, marker)
    }
}

/// The receipt of your stored message `id` when it is your last one in a
/// direct conversation whose receipts are known; `None` otherwise.
fn receipt_mark(room: &Room, id: Option<MessageId>, me: &str) -> Option<Mark> {
    let id = id?;
    if room.kind != RoomKind::Direct || !room.receipts_shown {
        return None;
    }
    // Your last stored message: the walk back ends there, so it is short
    // (what was said after it).
    let last = room
        .entries
        .iter()
        .rev()
        .find_map(|e| match (&e.kind, e.id) {
            (EntryKind::Msg { from, .. }, Some(id)) if from == me => Some(id),
            _ => None,
        })?;
    if last != id {
        return None;
    }
    let other = room.name.trim_start_matches('@');
    Some(if room.readers.get(other).is_some_and(|&read| read >= id) {
        Mark::Seen
    } else if room.delivered >= id {
        Mark::Delivered
    } else {
        Mark::Sent
    })
}

fn is_own(e: &Entry, me: &str) -> bool {
    matches!(&e.kind, EntryKind::Msg { from, .. } if from == me)
}

/// How well `filter` matches `item` as a case-insensitive subsequence:
/// lower is better, `None` is no match.
#[must_use]
pub fn fuzzy_score(filter: &str, item: &str) -> Option<usize> {
    let item_l = item.to_lowercase();
    let mut pos = 0;
    let mut score = 0;
    let mut first = None;
    let chars: Vec<char> = item_l.chars().collect();
    for f in filter.to_lowercase().chars() {
        let found = chars[pos..].iter().position(|c| *c == f)?;
        first.get_or_insert(pos + found);
        score += found;
        pos += found + 1;
    }
    Some(score * 4 + first.unwrap_or(0) + item.len() / 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_counts_display_width() {
        assert_eq!(wrap("hello world", 5, 5), ["hello", "world"]);
        assert_eq!(wrap("ab cd ef", 5, 5), ["ab cd", "ef"]);
        assert_eq!(wrap("abcdefgh", 3, 3), ["abc", "def", "gh"]);
        // Wide characters take two columns.
        assert_eq!(wrap("日本語テキスト", 6, 6), ["日本語", "テキス", "ト"]);
        assert_eq!(wrap("👍👍👍", 4, 4), ["👍👍", "👍"]);
        assert_eq!(wrap("a\nb", 10, 10), ["a", "b"]);
        assert_eq!(wrap("", 10, 10), [""]);
    }

    #[test]
    fn links_are_found_without_the_punctuation_around_them() {
        assert_eq!(
            urls("see https://example.org/a, or (http://x.io/b_(c)) and HTTPS://Y.io."),
            [
                (4, "https://example.org/a"),
                (31, "http://x.io/b_(c)"),
                (54, "HTTPS://Y.io")
            ]
        );
        assert_eq!(urls("<https://a.b/c>"), [(1, "https://a.b/c")]);
        assert_eq!(urls("https:// nothing, ftp://no"), []);
        assert_eq!(
            urls("日本 https://例え.jp/パス"),
            [(7, "https://例え.jp/パス")]
        );
    }

    #[test]
    fn a_link_that_fits_a_line_is_never_cut() {
        let url = "https://example.org/a/long/path";
        assert_eq!(url.len(), 31);
        // Too wide for the first line (20), not for the others (40): it
        // starts on the second, whole.
        assert_eq!(wrap(url, 20, 40), ["", url]);
        assert_eq!(
            wrap(&format!("see {url} now"), 20, 40),
            ["see".to_owned(), format!("{url} now")]
        );
        // A plain long word still fills the first line.
        let word = "x".repeat(31);
        assert_eq!(wrap(&word, 20, 40), ["x".repeat(20), "x".repeat(11)]);
        // A link wider than any line has to be cut.
        assert_eq!(
            wrap(url, 10, 20),
            ["https://ex", "ample.org/a/long/pat", "h"]
        );
    }

    #[test]
    fn fuzzy_prefers_tight_early_matches() {
        let a = fuzzy_score("gen", "#general").unwrap();
        let b = fuzzy_score("gen", "#green-energy").unwrap();
        assert!(a < b);
        assert!(fuzzy_score("xyz", "#general").is_none());
        assert!(fuzzy_score("", "#x").is_some());
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(42), "42s");
        assert_eq!(duration(125), "2m 5s");
        assert_eq!(duration(7300), "2h 1m");
        assert_eq!(duration(90_000), "1d 1h");
    }
}
