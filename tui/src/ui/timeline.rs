//! The messages pane: the room's name and topic on top, then as many of
//! the room's rows as fit, laid out by `app::text::Layout` (the same
//! arithmetic scrolling uses), with the "loading older" bar on top and the
//! "scrolled up" bar at the bottom when they apply. Without a room, a hint.

use ratatui::Frame;
use ratatui::buffer::{Buffer, CellDiffOption};
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

use super::Theme;
use crate::app::files::Thumb;
use crate::app::text::{self, GUEST, Layout, Row};
use crate::app::timeline::Mark;
use crate::app::{App, Delivery, EntryKind};

pub(super) fn draw(frame: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let Some(room) = app.room() else {
        let mut hint = vec![
            Line::from(""),
            Line::styled("  No room yet: /join #general · F1 help", theme.dim()),
        ];
        if let Some(text) = &app.loose {
            hint.push(Line::from(""));
            hint.push(Line::styled(format!("  {text}"), theme.fg(theme.error)));
        }
        frame.render_widget(Paragraph::new(hint).wrap(Wrap { trim: false }), area);
        return;
    };
    // Title: the room and its topic (also the room's name when the rooms
    // pane is collapsed).
    let name = Span::styled(
        format!(" {}", room.name),
        theme.fg(theme.title).add_modifier(Modifier::BOLD),
    );
    let title = if room.topic.is_empty() {
        vec![name]
    } else {
        vec![
            name,
            Span::styled(format!(" │ {}", room.topic), theme.soft(theme.topic)),
        ]
    };
    frame.render_widget(
        Paragraph::new(Line::from(title)),
        Rect::new(area.x, area.y, area.width, 1),
    );
    let body = text::messages_area(app);
    let layout = Layout {
        width: usize::from(body.width),
        utc_offset: app.settings.utc_offset,
        me: &app.user,
        blocked: app.safety.blocked(),
        thumbs: app.previews(),
    };
    let rows = layout.visible_entries(room, usize::from(body.height));
    let pad = usize::from(body.height).saturating_sub(rows.len());
    let plain: Vec<Row> = rows.iter().map(|(_, r)| r.clone()).collect();
    let on_screen = links(&plain, usize::from(body.width));
    let mut lines: Vec<Line<'_>> = vec![Line::from(""); pad];
    lines.extend(rows.into_iter().map(|(i, r)| {
        let entry = &room.entries[i];
        let mention = match &entry.kind {
            EntryKind::Msg { from, body, .. } => {
                *from != app.user
                    && !entry.rich.deleted
                    && (entry.rich.attention || app.mentions_me(body))
            }
            _ => false,
        };
        let line = match r {
            Row::Preview { .. } => preview_line(&r, app.previews(), theme),
            r => row_line(r, theme, usize::from(body.width), &app.user, mention),
        };
        let line = if entry.rich.edited && !entry.rich.deleted {
            dim_edited(line, theme)
        } else {
            line
        };
        if app.select.is_some() && app.select == entry.id {
            line.patch_style(theme.selection())
        } else {
            line
        }
    }));
    frame.render_widget(Paragraph::new(lines), body);
    hyperlink(frame.buffer_mut(), body, pad, &on_screen);
    graphics(frame, app, body, pad, &plain);
    if room.loading_older && body.height > 0 {
        frame.render_widget(
            Paragraph::new(Line::styled("  loading older messages…", theme.dim())),
            Rect::new(body.x, body.y, body.width, 1),
        );
    }
    if room.scroll.is_some() && body.height > 0 {
        let text = match room.new_below {
            0 => "  ↓ scrolled up — End returns to the bottom".to_owned(),
            n => format!("  ↓ {n} new below — End to read"),
        };
        let style = theme
            .fg(theme.accent)
            .add_modifier(Modifier::REVERSED | Modifier::BOLD);
        frame.render_widget(
            Paragraph::new(Line::styled(
                format!("{text:<width$}", width = usize::from(body.width)),
                style,
            )),
            Rect::new(body.x, body.y + body.height - 1, body.width, 1),
        );
    }
}

/// A link on screen: row (of the laid-out rows), first column, width in
/// columns, and where it points (the whole URL, also for a piece of one
/// cut across rows).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Link {
    row: usize,
    column: usize,
    width: usize,
    url: String,
}

/// Where a row's message text starts, and the columns it may fill.
fn message_text(row: &Row, width: usize) -> Option<(usize, usize, &str)> {
    match row {
        Row::Head {
            time,
            nick,
            guest,
            text,
            ..
        } => {
            let marked = nick.width() + if *guest { GUEST.width() } else { 0 };
            let column = time.width() + 1 + marked + 1;
            Some((column, width.saturating_sub(column), text))
        }
        Row::More { indent, text } => Some((*indent, width.saturating_sub(*indent), text)),
        _ => None,
    }
}

/// The links in message rows. A link too long for any line was cut at
/// the row's end (`text::wrap`): its pieces on the rows below are found
/// by that, and all point to the whole URL.
fn links(rows: &[Row], width: usize) -> Vec<Link> {
    let mut out = Vec::new();
    // Bytes at the start of a row that continue the row above's link.
    let mut continued = vec![0; rows.len()];
    for (i, row) in rows.iter().enumerate() {
        let Some((column, room_for, text)) = message_text(row, width) else {
            continue;
        };
        for (at, url) in text::urls(text) {
            if at < continued[i] || url.chars().any(natter_shared::text::is_unsafe) {
                continue;
            }
            let mut pieces = vec![(i, column + text[..at].width(), url.width())];
            let mut whole = url.to_owned();
            let (mut j, mut end, mut line, mut fill) = (i, at + url.len(), text, room_for);
            // A piece that ends its row, filling it, goes on below.
            while end == line.len() && line.width() == fill && j + 1 < rows.len() {
                let Row::More { indent, text: next } = &rows[j + 1] else {
                    break;
                };
                let piece = next.split(char::is_whitespace).next().unwrap_or_default();
                if piece.is_empty() {
                    break;
                }
                j += 1;
                whole.push_str(piece);
                pieces.push((j, *indent, piece.width()));
                continued[j] = piece.len();
                (end, line, fill) = (piece.len(), next, width.saturating_sub(*indent));
            }
            if whole.chars().any(natter_shared::text::is_unsafe) {
                continue;
            }
            out.extend(pieces.into_iter().map(|(row, column, width)| Link {
                row,
                column,
                width,
                url: whole.clone(),
            }));
        }
    }
    out
}

/// Makes the cells of each link an OSC 8 hyperlink, so terminals that
/// support them make it clickable (others ignore the escape). Each cell
/// carries its own escape around its own symbol, with a width forced to
/// what it shows: ratatui's diff then neither skips nor shifts cells, and
/// redrawing any one cell keeps the link. The `id` makes terminals treat
/// the cells (and the pieces of a cut link) as one link.
fn hyperlink(buf: &mut Buffer, area: Rect, pad: usize, links: &[Link]) {
    use std::hash::{Hash, Hasher};
    for link in links {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        link.url.hash(&mut hasher);
        let id = hasher.finish() & 0xffff_ffff;
        let Ok(y) = u16::try_from(pad + link.row) else {
            continue;
        };
        let y = area.y + y;
        let mut x = usize::from(area.x) + link.column;
        let end = (x + link.width).min(usize::from(area.right()));
        while x < end {
            let Some(cell) = u16::try_from(x).ok().and_then(|x| buf.cell_mut((x, y))) else {
                break;
            };
            let symbol = cell.symbol().to_owned();
            let w = symbol.width().max(1);
            if !symbol.contains('\x1b') {
                cell.set_symbol(&format!(
                    "\x1b]8;id={id:x};{}\x1b\\{symbol}\x1b]8;;\x1b\\",
                    link.url
                ));
                if let Some(w) = u16::try_from(w).ok().and_then(std::num::NonZeroU16::new) {
                    cell.set_diff_option(CellDiffOption::ForcedWidth(w));
                }
            }
            x += w;
        }
    }
}

/// A message's last text row ends in ` (edited)`: that part dim.
pub(super) fn dim_edited<'a>(mut line: Line<'a>, theme: &Theme) -> Line<'a> {
    let Some(last) = line.spans.last_mut() else {
        return line;
    };
    let Some(text) = last.content.strip_suffix(text::EDITED) else {
        return line;
    };
    let text = text.to_owned();
    let style = last.style;
    *last = Span::styled(text, style);
    line.spans.push(Span::styled(text::EDITED, theme.dim()));
    line
}

/// `label` centred in a horizontal rule `width` columns wide.
fn rule(label: &str, width: usize) -> String {
    let side = width.saturating_sub(label.width()) / 2;
    format!(
        "{}{label}{}",
        "─".repeat(side),
        "─".repeat(width.saturating_sub(side + label.width()))
    )
}

/// Previews in the terminal's own graphics, over their half blocks: each
/// one whole on screen, at the size its graphic was made for (a preview cut
/// by the edge of the pane, or narrowed by it, keeps its half blocks).
fn graphics(frame: &mut Frame<'_>, app: &App, body: Rect, pad: usize, rows: &[Row]) {
    if app.files.graphics.is_empty() {
        return;
    }
    for (at, row) in rows.iter().enumerate() {
        let Row::Preview {
            indent,
            file,
            line: 0,
            cols,
            lines,
        } = *row
        else {
            continue;
        };
        let Some(graphic) = app.files.graphics.get(&file) else {
            continue;
        };
        let whole = rows.get(at..at + lines).is_some_and(|run| {
            run.iter()
                .all(|r| matches!(r, Row::Preview { file: same, .. } if *same == file))
        });
        if !whole || (graphic.cols, graphic.rows) != (cols, lines) {
            continue;
        }
        let (Ok(left), Ok(top), Ok(width), Ok(height)) = (
            u16::try_from(indent),
            u16::try_from(pad + at),
            u16::try_from(cols),
            u16::try_from(lines),
        ) else {
            continue;
        };
        let area = Rect::new(body.x + left, body.y + top, width, height).intersection(body);
        frame.render_widget(ratatui_image::Image::new(&graphic.protocol), area);
    }
}

/// A row of an image's preview: half blocks, each cell the upper pixel in
/// its foreground and the lower in its background, sampled from the
/// thumbnail (nearest pixel). Without colour, a dim placeholder.
pub(super) fn preview_line<'a>(
    row: &Row,
    thumbs: Option<&std::collections::HashMap<natter_shared::FileId, Option<Thumb>>>,
    theme: &Theme,
) -> Line<'a> {
    let Row::Preview {
        indent,
        file,
        line,
        cols,
        lines,
    } = *row
    else {
        return Line::from("");
    };
    let Some(Some(t)) = thumbs.and_then(|m| m.get(&file)) else {
        return Line::from("");
    };
    let mut spans = vec![Span::raw(" ".repeat(indent))];
    if !theme.color {
        spans.push(Span::styled("░".repeat(cols), theme.dim()));
        return Line::from(spans);
    }
    let (w, h) = (t.width as usize, t.height as usize);
    let rgb = |[r, g, b]: [u8; 3]| ratatui::style::Color::Rgb(r, g, b);
    let py = |half: usize| u32::try_from(half * h / (2 * lines).max(1)).unwrap_or(0);
    for c in 0..cols {
        let x = u32::try_from(c * w / cols.max(1)).unwrap_or(0);
        let top = t.at(x, py(2 * line));
        let bottom = t.at(x, py(2 * line + 1));
        spans.push(Span::styled(
            "▀",
            ratatui::style::Style::default()
                .fg(rgb(top))
                .bg(rgb(bottom)),
        ));
    }
    Line::from(spans)
}

/// One row; `mention` when its message mentions you (or a highlight
/// word), drawn in the highlight style so that it stands out. `me` names
/// your own nick, which has its own colour.
pub(super) fn row_line<'a>(
    row: Row,
    theme: &Theme,
    width: usize,
    me: &str,
    mention: bool,
) -> Line<'a> {
    let text_style = if mention {
        theme.highlight()
    } else {
        theme.fg(theme.text)
    };
    match row {
        Row::Day(day) => Line::styled(rule(&format!(" {day} "), width), theme.dim()),
        Row::New => Line::styled(
            rule(" new ", width),
            theme.fg(theme.error).add_modifier(Modifier::BOLD),
        ),
        Row::Head {
            time,
            nick,
            guest,
            action,
            text,
            delivery,
            dim,
        } => {
            let text_style = if dim { theme.dim() } else { text_style };
            let time_style = if mention {
                theme.highlight_mark()
            } else {
                theme.soft(theme.time)
            };
            let mut spans = vec![Span::styled(time, time_style), Span::raw(" ")];
            let name = nick.trim_start_matches("* ").to_owned();
            if action {
                spans.push(Span::styled("* ", text_style));
            }
            spans.push(Span::styled(
                name,
                theme.nick(nick.trim_start_matches("* "), me),
            ));
            if guest {
                spans.push(Span::styled(GUEST, theme.dim()));
            }
            spans.push(Span::raw(" "));
            let text_style = match delivery {
                Some(Delivery::Pending) => theme.dim(),
                _ => text_style,
            };
            spans.push(Span::styled(text, text_style));
            match delivery {
                Some(Delivery::Pending) => spans.push(Span::styled(" ⋯", theme.dim())),
                Some(Delivery::Receipt(Mark::Sent)) => spans.push(Span::styled(" ✓", theme.dim())),
                Some(Delivery::Receipt(Mark::Delivered)) => {
                    spans.push(Span::styled(" ✓✓", theme.dim()));
                }
                Some(Delivery::Receipt(Mark::Seen)) => spans.push(Span::styled(
                    " seen",
                    theme.fg(theme.accent).add_modifier(Modifier::BOLD),
                )),
                _ => {}
            }
            Line::from(spans)
        }
        Row::Failed { indent, text } => Line::from(vec![
            Span::raw(" ".repeat(indent)),
            Span::styled(text, theme.fg(theme.error)),
        ]),
        Row::More { indent, text } => Line::from(vec![
            Span::raw(" ".repeat(indent)),
            Span::styled(text, text_style),
        ]),
        Row::Meta { indent, parts } => {
            let mut spans = vec![Span::raw(" ".repeat(indent))];
            spans.extend(parts.into_iter().map(|(text, tone)| match tone {
                text::Tone::Dim => Span::styled(text, theme.dim()),
                text::Tone::Mine => Span::styled(text, theme.reaction_mine()),
                text::Tone::File => Span::styled(text, theme.fg(theme.accent)),
            }));
            Line::from(spans)
        }
        // Drawn by `preview_line`, which has the thumbnails.
        Row::Preview { .. } => Line::from(""),
        Row::Hidden { time, text } => Line::styled(
            format!("{time} ·· {text}"),
            theme.dim().add_modifier(Modifier::ITALIC),
        ),
        Row::Note {
            time,
            text,
            error,
            dim,
        } => {
            // A wrapped notice's later lines have no time and no mark.
            let (time, mark) = if time.is_empty() {
                ("      ".to_owned(), "   ")
            } else if error {
                (format!("{time} "), "!! ")
            } else {
                (format!("{time} "), "-- ")
            };
            let style = if error {
                theme.fg(theme.error)
            } else {
                theme.dim()
            };
            let body = if error {
                theme.fg(theme.error)
            } else if dim {
                theme.dim()
            } else {
                theme.fg(theme.notice)
            };
            Line::from(vec![
                Span::styled(time, theme.soft(theme.time)),
                Span::styled(mark, style),
                Span::styled(text, body),
            ])
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use natter_shared::{Event, Message, Role, RoomKind, RoomState, SessionInfo};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::app::Settings;

    fn head(text: &str) -> Row {
        Row::Head {
            time: "10:00".into(),
            nick: "bob".into(),
            guest: false,
            action: false,
            text: text.into(),
            delivery: None,
            dim: false,
        }
    }

    #[test]
    fn links_in_message_rows_and_a_cut_one_points_to_the_whole_url() {
        let rows = [
            head("see https://a.example/x now"),
            Row::Note {
                time: "10:01".into(),
                text: "https://not.a.message".into(),
                error: false,
                dim: false,
            },
        ];
        assert_eq!(
            links(&rows, 80),
            [Link {
                row: 0,
                column: 10 + 4,
                width: 19,
                url: "https://a.example/x".into()
            }]
        );
        // A link longer than any line, cut by the wrap: 10 columns after
        // the nick, then a continuation row.
        let rows = [
            head("https://ab"),
            Row::More {
                indent: 2,
                text: "cdefghij tail".into(),
            },
            Row::More {
                indent: 2,
                text: "https://next.example".into(),
            },
        ];
        let whole = "https://abcdefghij".to_owned();
        assert_eq!(
            links(&rows, 20),
            [
                Link {
                    row: 0,
                    column: 10,
                    width: 10,
                    url: whole.clone()
                },
                Link {
                    row: 1,
                    column: 2,
                    width: 8,
                    url: whole
                },
                Link {
                    row: 2,
                    column: 2,
                    width: 20,
                    url: "https://next.example".into()
                },
            ]
        );
        // A link that ends its row without filling it is whole: the next
        // row is the message's next line.
        let rows = [
            head("https://a.b"),
            Row::More {
                indent: 2,
                text: "next".into(),
            },
        ];
        assert_eq!(links(&rows, 80)[0].url, "https://a.b");
        // Escapes in a "link" never reach the terminal inside OSC 8.
        assert!(links(&[head("https://x.y/\u{7}\u{1b}]52")], 80).is_empty());
    }

    /// What a cell shows, without its OSC 8 wrapping.
    fn shown(symbol: &str) -> &str {
        symbol
            .strip_prefix("\u{1b}]8;")
            .and_then(|s| s.split_once("\u{1b}\\"))
            .and_then(|(_, s)| s.strip_suffix("\u{1b}]8;;\u{1b}\\"))
            .unwrap_or(symbol)
    }

    #[test]
    fn link_cells_carry_osc8_and_keep_their_place() {
        let mut app = App::new("h:1", "alice", Settings::default());
        app.on_resize(70, 12);
        app.on_online(&SessionInfo {
            user: "alice".into(),
            admin: false,
            token: None,
            rooms: vec![RoomState {
                name: "#general".into(),
                kind: RoomKind::Public,
                topic: String::new(),
                role: Role::Member,
                unread: 0,
                mentions: 0,
                last_read: 0,
                last_id: 0,
                members: 2,
                announce: false,
                category: None,
            }],
            blocked: Vec::new(),
            invitations: Vec::new(),
        });
        let url = "https://example.org/ü?q=1";
        app.on_event(
            Event::Message(Message {
                id: 1,
                ts: 1_700_000_000_000,
                room: "#general".into(),
                from: "bob".into(),
                body: format!("look: {url} ok"),
                action: false,
                nonce: None,
                ..Default::default()
            }),
            Instant::now(),
        );
        let mut terminal = Terminal::new(TestBackend::new(70, 12)).unwrap();
        terminal
            .draw(|f| super::super::draw(f, &app, &super::super::Theme::plain(), Instant::now()))
            .unwrap();
        let buf = terminal.backend().buffer();
        let (y, linked) = (0..buf.area.height)
            .find_map(|y| {
                let linked: Vec<_> = (0..buf.area.width)
                    .filter(|&x| buf[(x, y)].symbol().starts_with("\u{1b}]8;"))
                    .collect();
                (!linked.is_empty()).then_some((y, linked))
            })
            .expect("a row with a link");
        assert_eq!(linked.len(), url.chars().count(), "one cell per character");
        let row: String = (0..buf.area.width)
            .map(|x| shown(buf[(x, y)].symbol()))
            .collect();
        assert!(row.contains("bob"), "{row:?}");
        assert!(row.contains(&format!("look: {url} ok")), "{row:?}");
        for &x in &linked {
            let cell = &buf[(x, y)];
            assert!(cell.symbol().contains(url), "{:?}", cell.symbol());
            assert_eq!(
                cell.diff_option,
                CellDiffOption::ForcedWidth(std::num::NonZeroU16::new(1).unwrap())
            );
        }
        // The cells are contiguous and cover exactly the link.
        assert_eq!(
            linked.last().unwrap() - linked[0] + 1,
            u16::try_from(linked.len()).unwrap()
        );
    }
}
