//! The client's rendering hot path with a big room: wrapping and laying
//! out messages, drawing one full 120x40 frame of a room holding 100,000
//! loaded messages (target: at most 2 ms), and the scroll keys that lay out
//! rows. The room is loaded through catch-up pages (see `support`), which
//! is quick; the resulting state is the same as scrolling up to it.
//!
//! Run: `cargo bench -p natter --bench render -- --warm-up-time 1
//! --measurement-time 3`.

mod support;

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use natter::app::text::{self, Layout, wrap};
use natter::app::{App, Scroll};
use natter::ui::{self, Theme};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use support::Load;

const LOADED: u64 = 100_000;

fn terminal() -> Terminal<TestBackend> {
    let (w, h) = support::SIZE;
    Terminal::new(TestBackend::new(w, h)).expect("a test terminal")
}

fn draw(terminal: &mut Terminal<TestBackend>, app: &App, theme: &Theme, now: Instant) {
    terminal
        .draw(|f| ui::draw(f, black_box(app), theme, now))
        .expect("a frame draws");
}

fn layout(c: &mut Criterion) {
    // Both load orders give the same timeline; the quick one is used.
    let a = support::loaded_app(2000, false, Load::CatchUp);
    let b = support::loaded_app(2000, false, Load::Older);
    assert_eq!(a.room().map(|r| &r.entries), b.room().map(|r| &r.entries));
    let app = support::loaded_app(LOADED, false, Load::CatchUp);
    let room = app.room().expect("a room");
    let body = text::messages_area(&app);
    let width = usize::from(body.width);
    let height = usize::from(body.height);
    let layout = Layout {
        width,
        utc_offset: 0,
        me: support::ME,
        blocked: &std::collections::BTreeSet::new(),
        thumbs: None,
    };
    let short = support::message(1).body;
    let long = support::message(2).body;
    assert!(wrap(&long, width - 15, width - 15).len() > 2);
    let last = room.entries.len() - 1;

    let mut g = c.benchmark_group("layout");
    g.bench_function("wrap_48_chars", |b| {
        b.iter(|| wrap(black_box(&short), width - 15, width - 15));
    });
    g.bench_function("wrap_200_chars", |b| {
        b.iter(|| wrap(black_box(&long), width - 15, width - 15));
    });
    g.bench_function("rows_of_one_message", |b| {
        b.iter(|| layout.rows(black_box(room), last, None));
    });
    g.bench_function("visible_rows_100k_bottom", |b| {
        b.iter(|| layout.visible(black_box(room), height));
    });
    g.finish();
}

fn frames(c: &mut Criterion) {
    let theme = Theme::default();
    let now = Instant::now();
    let bottom = support::loaded_app(LOADED, false, Load::CatchUp);
    // The same room one message later: every row of the pane moves, so the
    // frame differs from the previous one almost everywhere.
    let next = support::loaded_app(LOADED + 1, false, Load::CatchUp);
    let unread = support::loaded_app(LOADED, true, Load::CatchUp);
    let mut middle = support::loaded_app(LOADED, false, Load::CatchUp);
    let current = middle.rooms.current_index();
    middle.rooms[current].scroll = Some(Scroll {
        anchor: usize::try_from(LOADED / 2).unwrap_or(0),
        skip: 0,
    });
    let mut top = support::loaded_app(LOADED, false, Load::CatchUp);
    let ctrl = KeyModifiers::CONTROL;
    top.on_key(KeyEvent::new(KeyCode::Home, ctrl), now, support::T0);
    assert!(top.room().is_some_and(|r| r.scroll.is_some()));

    let mut g = c.benchmark_group("frame_120x40_100k");
    g.bench_function("bottom_unchanged", |b| {
        let mut t = terminal();
        b.iter(|| draw(&mut t, &bottom, &theme, now));
    });
    g.bench_function("bottom_new_message", |b| {
        let mut t = terminal();
        let mut flip = false;
        b.iter(|| {
            flip = !flip;
            draw(&mut t, if flip { &next } else { &bottom }, &theme, now);
        });
    });
    g.bench_function("all_unread_marker", |b| {
        let mut t = terminal();
        b.iter(|| draw(&mut t, &unread, &theme, now));
    });
    g.bench_function("scrolled_to_middle", |b| {
        let mut t = terminal();
        b.iter(|| draw(&mut t, &middle, &theme, now));
    });
    g.bench_function("scrolled_to_top", |b| {
        let mut t = terminal();
        b.iter(|| draw(&mut t, &top, &theme, now));
    });
    g.finish();
}

fn scroll_keys(c: &mut Criterion) {
    let now = Instant::now();
    let mut app = support::loaded_app(LOADED, false, Load::CatchUp);
    let key = |code, modifiers| KeyEvent::new(code, modifiers);
    let none = KeyModifiers::NONE;
    let ctrl = KeyModifiers::CONTROL;
    let mut g = c.benchmark_group("scroll_keys_100k");
    // Each pair returns to the bottom, so every iteration starts alike.
    g.bench_function("page_up_then_end", |b| {
        b.iter(|| {
            black_box(app.on_key(key(KeyCode::PageUp, none), now, support::T0));
            black_box(app.on_key(key(KeyCode::End, ctrl), now, support::T0));
        });
    });
    g.bench_function("ctrl_home_then_end", |b| {
        b.iter(|| {
            black_box(app.on_key(key(KeyCode::Home, ctrl), now, support::T0));
            black_box(app.on_key(key(KeyCode::End, ctrl), now, support::T0));
        });
    });
    g.finish();
}

criterion_group!(benches, layout, frames, scroll_keys);
criterion_main!(benches);
