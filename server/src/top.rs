//! `natterd top`: a live terminal dashboard of a running server, read from
//! its HTTP listener, the same `/metrics` Prometheus scrapes (and `/top`
//! for the busiest rooms), once a second.
//!
//! - [`Scrape`]: one reading, parsed from the Prometheus text format.
//! - [`Top`]: the readings of the last minutes, and what is derived from
//!   them: rates, sparklines, a latency quantile from histogram buckets,
//!   the busiest rooms.
//! - [`draw`]: the screen, a pure function of a [`Top`].
//! - [`run`]: the loop: scrape, draw, quit on `q`, Esc or Ctrl-C.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};

/// How many readings are kept: ten minutes at one a second.
const KEEP: usize = 600;

/// The window rates and quantiles are taken over.
const WINDOW: Duration = Duration::from_secs(10);

/// What a sparkline spans.
const SPARK_SPAN: Duration = Duration::from_mins(5);

/// One reading of a server.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    /// Each sample by its full name with labels, as written
    /// (`natterd_connections{protocol="natter",state="open"}`).
    pub values: HashMap<String, f64>,
    /// Messages per room since the server started (`/top`).
    pub rooms: HashMap<String, u64>,
}

impl Scrape {
    /// Parses the Prometheus text format; comments and lines it cannot
    /// read are skipped.
    #[must_use]
    pub fn parse(metrics: &str) -> Self {
        let mut values = HashMap::new();
        for line in metrics.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            // The value follows the last space (label values may hold
            // spaces, but never after the closing brace).
            let Some((name, value)) = line.rsplit_once(' ') else {
                continue;
            };
            if let Ok(v) = value.parse::<f64>() {
                values.insert(name.to_owned(), v);
            }
        }
        Self {
            values,
            rooms: HashMap::new(),
        }
    }

    /// Reads `/top`'s JSON into [`Scrape::rooms`].
    pub fn add_rooms(&mut self, json: &str) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
            return;
        };
        for r in v["rooms"].as_array().into_iter().flatten() {
            if let (Some(room), Some(n)) = (r["room"].as_str(), r["messages"].as_u64()) {
                self.rooms.insert(room.to_owned(), n);
            }
        }
    }

    fn get(&self, key: &str) -> Option<f64> {
        self.values.get(key).copied()
    }

    /// A histogram's cumulative buckets, by upper bound.
    fn buckets(&self, name: &str) -> Vec<(f64, f64)> {
        let prefix = format!("{name}_bucket{{");
        let mut out: Vec<(f64, f64)> = self
            .values
            .iter()
            .filter_map(|(k, v)| {
                let labels = k.strip_prefix(&prefix)?;
                let le = labels.split("le=\"").nth(1)?.split('"').next()?;
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((bound, *v))
            })
            .collect();
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        out
    }
}

/// A reading and when it was taken.
type Reading = (Instant, Scrape);

/// The readings of one server, newest last.
#[derive(Debug)]
pub struct Top {
    /// What is read, for the title.
    pub url: String,
    readings: VecDeque<Reading>,
    /// The last failure to read, shown until a reading works again.
    pub error: Option<String>,
}

impl Top {
    #[must_use]
    pub fn new(url: String) -> Self {
        Self {
            url,
            readings: VecDeque::new(),
            error: None,
        }
    }

    /// Adds a reading taken at `at`.
    pub fn push(&mut self, at: Instant, scrape: Scrape) {
        self.readings.push_back((at, scrape));
        while self.readings.len() > KEEP {
            self.readings.pop_front();
        }
        self.error = None;
    }

    fn latest(&self) -> Option<&Scrape> {
        self.readings.back().map(|(_, s)| s)
    }

    /// The newest reading and the one about `over` before it.
    fn span(&self, over: Duration) -> Option<(&Reading, &Reading)> {
        let newest = self.readings.back()?;
        let oldest = self
            .readings
            .iter()
            .find(|(at, _)| newest.0.duration_since(*at) <= over)?;
        (oldest.0 < newest.0).then_some((oldest, newest))
    }

    /// A counter's rate per second over the last `over`.
    #[must_use]
    pub fn rate(&self, key: &str, over: Duration) -> Option<f64> {
        let ((t0, a), (t1, b)) = self.span(over)?;
        let secs = t1.duration_since(*t0).as_secs_f64();
        // A restarted server starts its counters over: no negative rates.
        Some((b.get(key)? - a.get(key).unwrap_or(0.0)).max(0.0) / secs)
    }

    /// A gauge's value now.
    #[must_use]
    pub fn gauge(&self, key: &str) -> Option<f64> {
        self.latest()?.get(key)
    }

    /// A counter's rate per second over the last [`SPARK_SPAN`], in `n`
    /// columns of equal time, oldest first, for a sparkline: 0 where no
    /// reading falls.
    #[must_use]
    pub fn series(&self, key: &str, n: usize) -> Vec<u64> {
        let Some((newest, _)) = self.readings.back() else {
            return Vec::new();
        };
        let columns = n.max(1);
        let width = SPARK_SPAN / u32::try_from(columns).unwrap_or(u32::MAX);
        let start = newest.checked_sub(SPARK_SPAN).unwrap_or(self.readings[0].0);
        (0..columns)
            .map(|column| {
                let column = u32::try_from(column).unwrap_or(u32::MAX);
                let (from, to) = (start + width * column, start + width * (column + 1));
                // The last reading before the column, else its first one;
                // and its last one.
                let first = self
                    .readings
                    .iter()
                    .rev()
                    .find(|(at, _)| *at <= from)
                    .or_else(|| self.readings.iter().find(|(at, _)| *at > from && *at <= to));
                let last = self.readings.iter().rev().find(|(at, _)| *at <= to);
                match (first, last) {
                    (Some((t0, before)), Some((t1, after))) if t1 > t0 => {
                        let secs = t1.duration_since(*t0).as_secs_f64();
                        let d = (after.get(key).unwrap_or(0.0) - before.get(key).unwrap_or(0.0))
                            .max(0.0);
                        // Rates are small and positive; whole units are
                        // what a sparkline shows anyway.
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                        let per_sec = (d / secs).round() as u64;
                        per_sec
                    }
                    _ => 0,
                }
            })
            .collect()
    }

    /// Quantile `q` of a histogram over the last `over`, from the growth of
    /// its buckets (the upper bound of the bucket it falls in); `None`
    /// without observations.
    #[must_use]
    pub fn quantile(&self, histogram: &str, q: f64, over: Duration) -> Option<f64> {
        let ((_, a), (_, b)) = self.span(over)?;
        let before: HashMap<u64, f64> = a
            .buckets(histogram)
            .into_iter()
            .map(|(le, v)| (le.to_bits(), v))
            .collect();
        let grown: Vec<(f64, f64)> = b
            .buckets(histogram)
            .into_iter()
            .map(|(le, v)| (le, v - before.get(&le.to_bits()).copied().unwrap_or(0.0)))
            .collect();
        let total = grown.last()?.1;
        if total <= 0.0 {
            return None;
        }
        grown
            .iter()
            .find(|(_, n)| *n >= q * total)
            .map(|(le, _)| *le)
    }

    /// The rooms with the most messages per second over the last `over`,
    /// busiest first.
    #[must_use]
    pub fn busiest(&self, over: Duration, n: usize) -> Vec<(String, f64)> {
        let Some(((t0, a), (t1, b))) = self.span(over) else {
            return Vec::new();
        };
        let secs = t1.duration_since(*t0).as_secs_f64();
        let mut rooms: Vec<(String, f64)> = b
            .rooms
            .iter()
            .filter_map(|(room, now)| {
                #[allow(clippy::cast_precision_loss)] // message counts
                let d = now.saturating_sub(a.rooms.get(room).copied().unwrap_or(0)) as f64;
                (d > 0.0).then(|| (room.clone(), d / secs))
            })
            .collect();
        rooms.sort_by(|x, y| y.1.total_cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
        rooms.truncate(n);
        rooms
    }
}

/// `12`, `3.4k`, `1.2M`.
fn short(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{:.1}M", v / 1_000_000.0)
    } else if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 1000.0 {
        format!("{:.1}k", v / 1000.0)
    } else if v >= 10.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A latency in seconds as people read it.
fn latency(secs: Option<f64>) -> String {
    match secs {
        None => "-".into(),
        Some(s) if s.is_infinite() => "> 3 s".into(),
        Some(s) if s < 0.001 => format!("{:.0} µs", s * 1e6),
        Some(s) if s < 1.0 => format!("{:.1} ms", s * 1e3),
        Some(s) => format!("{s:.1} s"),
    }
}

/// One sparkline of a counter's rate, titled with its rate now.
fn rate_panel(frame: &mut Frame<'_>, top: &Top, area: Rect, title: &str, key: &str, color: Color) {
    let now = top.rate(key, WINDOW).map_or_else(|| "-".into(), short);
    let width = usize::from(area.width.saturating_sub(2));
    let data = top.series(key, width);
    let block = Block::default().borders(Borders::ALL).title(format!(
        " {title} {now}/s, last {} min ",
        SPARK_SPAN.as_secs() / 60
    ));
    frame.render_widget(
        Sparkline::default()
            .block(block)
            .data(&data)
            .style(Style::default().fg(color)),
        area,
    );
}

/// Draws the dashboard.
pub fn draw(frame: &mut Frame<'_>, top: &Top) {
    let [head, rates1, rates2, lat, rooms] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(4),
        Constraint::Min(3),
    ])
    .areas(frame.area());
    let g = |k: &str| top.gauge(k).map_or_else(|| "-".into(), short);
    let uptime = top.gauge("natterd_uptime_seconds").map_or_else(
        || "-".into(),
        |s| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let s = s as u64;
            format!("{}h {:02}m", s / 3600, s % 3600 / 60)
        },
    );
    let mut title = vec![
        Span::styled("natterd top", Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(format!("  {}  up {uptime}", top.url)),
        Span::raw(format!(
            "  connections {}  sessions {}  online {}",
            g("natterd_connections{protocol=\"natter\",state=\"open\"}"),
            g("natterd_sessions"),
            g("natterd_users_online")
        )),
    ];
    if let Some(e) = &top.error {
        title.push(Span::styled(
            format!("  cannot read: {e}"),
            Style::default().fg(Color::Red),
        ));
    }
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(title),
            Line::styled("q quits", Style::default().add_modifier(Modifier::DIM)),
        ]),
        head,
    );
    let [a, b] = Layout::horizontal([Constraint::Ratio(1, 2); 2]).areas(rates1);
    rate_panel(
        frame,
        top,
        a,
        "messages",
        "natterd_messages_total",
        Color::Green,
    );
    rate_panel(
        frame,
        top,
        b,
        "deliveries",
        "natterd_deliveries_total",
        Color::Cyan,
    );
    let [a, b] = Layout::horizontal([Constraint::Ratio(1, 2); 2]).areas(rates2);
    rate_panel(
        frame,
        top,
        a,
        "connections",
        "natterd_connections_accepted_total",
        Color::Yellow,
    );
    rate_panel(
        frame,
        top,
        b,
        "logins",
        "natterd_logins_total",
        Color::Magenta,
    );
    let drops = top
        .gauge("natterd_slow_consumer_drops_total")
        .map_or_else(|| "-".into(), short);
    let lines = vec![
        Line::from(format!(
            "commit p99 {}   send→sent p50 {}  p99 {}   history p99 {}",
            latency(top.quantile("natterd_commit_seconds", 0.99, WINDOW)),
            latency(top.quantile("natterd_send_to_sent_seconds", 0.5, WINDOW)),
            latency(top.quantile("natterd_send_to_sent_seconds", 0.99, WINDOW)),
            latency(top.quantile("natterd_history_seconds", 0.99, WINDOW)),
        )),
        Line::from(format!(
            "slow-consumer drops {drops} ({}/s)   rate-limited {}/s   failed logins {}/s",
            top.rate("natterd_slow_consumer_drops_total", WINDOW)
                .map_or_else(|| "-".into(), short),
            top.rate("natterd_rate_limited_total", WINDOW)
                .map_or_else(|| "-".into(), short),
            top.rate("natterd_login_failures_total", WINDOW)
                .map_or_else(|| "-".into(), short),
        )),
    ];
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(format!(
            " latency and trouble, last {} s ",
            WINDOW.as_secs()
        ))),
        lat,
    );
    let busiest = top.busiest(WINDOW, usize::from(rooms.height.saturating_sub(2)));
    let lines: Vec<Line> = if busiest.is_empty() {
        vec![Line::styled(
            "no messages in the last seconds",
            Style::default().add_modifier(Modifier::DIM),
        )]
    } else {
        busiest
            .iter()
            .map(|(room, rate)| Line::from(format!("{:>8}/s  {room}", short(*rate))))
            .collect()
    };
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" busiest rooms, messages per second "),
        ),
        rooms,
    );
}

/// How long one reading may take.
const READ_TIMEOUT: Duration = Duration::from_secs(3);

/// Reads `/metrics` and `/top` from `base` (`http://host:port`).
///
/// # Errors
/// One line saying why the server could not be read.
pub async fn scrape(base: &str) -> Result<Scrape, String> {
    let get = |path: &str| {
        let url = format!("{base}{path}");
        async move {
            let (status, body) = tokio::time::timeout(
                READ_TIMEOUT,
                crate::http_client::request(hyper::Method::GET, &url, &[], String::new(), 16 << 20),
            )
            .await
            .map_err(|_| format!("{url}: no answer in {} s", READ_TIMEOUT.as_secs()))??;
            if !status.is_success() {
                return Err(format!("{url}: {status}"));
            }
            Ok(String::from_utf8_lossy(&body).into_owned())
        }
    };
    let mut scrape = Scrape::parse(&get("/metrics").await?);
    // Busiest rooms are a bonus: a server that refuses /top (not on
    // loopback) still shows everything else.
    if let Ok(rooms) = get("/top").await {
        scrape.add_rooms(&rooms);
    }
    Ok(scrape)
}

/// Runs the dashboard on the terminal until `q`, Esc or Ctrl-C.
///
/// # Errors
/// When the terminal cannot be used.
pub async fn run(base: String, every: Duration) -> std::io::Result<()> {
    use crossterm::event::{Event, EventStream, KeyCode, KeyEventKind, KeyModifiers};
    use futures_util::StreamExt;
    let mut terminal = ratatui::init();
    let mut events = EventStream::new();
    let mut top = Top::new(base.clone());
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result = loop {
        tokio::select! {
            _ = tick.tick() => {
                match scrape(&base).await {
                    Ok(s) => top.push(Instant::now(), s),
                    Err(e) => top.error = Some(e),
                }
                if let Err(e) = terminal.draw(|f| draw(f, &top)) {
                    break Err(e);
                }
            }
            event = events.next() => match event {
                Some(Ok(Event::Key(k))) if k.kind == KeyEventKind::Press => {
                    let ctrl_c = k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                    if matches!(k.code, KeyCode::Char('q') | KeyCode::Esc) || ctrl_c {
                        break Ok(());
                    }
                }
                Some(Ok(Event::Resize(..))) => {
                    if let Err(e) = terminal.draw(|f| draw(f, &top)) {
                        break Err(e);
                    }
                }
                Some(Err(e)) => break Err(e),
                None => break Ok(()),
                _ => {}
            },
        }
    };
    ratatui::restore();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = "# HELP natterd_messages_total Messages.\n\
        # TYPE natterd_messages_total counter\n\
        natterd_messages_total 100\n\
        natterd_sessions 3\n\
        natterd_connections{protocol=\"natter\",state=\"open\"} 4\n\
        natterd_commit_seconds_bucket{le=\"0.001\"} 10\n\
        natterd_commit_seconds_bucket{le=\"0.002\"} 20\n\
        natterd_commit_seconds_bucket{le=\"+Inf\"} 20\n";
    const TWO: &str = "natterd_messages_total 150\n\
        natterd_sessions 5\n\
        natterd_connections{protocol=\"natter\",state=\"open\"} 6\n\
        natterd_commit_seconds_bucket{le=\"0.001\"} 10\n\
        natterd_commit_seconds_bucket{le=\"0.002\"} 119\n\
        natterd_commit_seconds_bucket{le=\"+Inf\"} 120\n";

    fn top() -> Top {
        let t0 = Instant::now();
        let mut top = Top::new("http://x".into());
        let mut a = Scrape::parse(ONE);
        a.add_rooms(
            r##"{"rooms":[{"room":"#general","messages":90},{"room":"#ops","messages":10}]}"##,
        );
        let mut b = Scrape::parse(TWO);
        b.add_rooms(
            r##"{"rooms":[{"room":"#general","messages":100},{"room":"#ops","messages":50}]}"##,
        );
        top.push(t0, a);
        top.push(t0 + Duration::from_secs(5), b);
        top
    }

    #[test]
    fn rates_gauges_quantiles_and_rooms_come_from_two_readings() {
        let top = top();
        assert_eq!(top.rate("natterd_messages_total", WINDOW), Some(10.0));
        assert_eq!(top.gauge("natterd_sessions"), Some(5.0));
        // Five minutes in ten columns: the readings fall in the last.
        assert_eq!(
            top.series("natterd_messages_total", 10),
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 10]
        );
        // 100 commits in the window: 99 of them within 2 ms.
        assert_eq!(
            top.quantile("natterd_commit_seconds", 0.5, WINDOW),
            Some(0.002)
        );
        assert_eq!(
            top.quantile("natterd_commit_seconds", 0.999, WINDOW),
            Some(f64::INFINITY)
        );
        assert_eq!(
            top.busiest(WINDOW, 5),
            [("#ops".to_owned(), 8.0), ("#general".to_owned(), 2.0)]
        );
    }

    #[test]
    fn the_dashboard_shows_rates_latency_and_the_busiest_rooms() {
        let top = top();
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 30)).unwrap();
        terminal.draw(|f| draw(f, &top)).unwrap();
        let screen = format!("{}", terminal.backend());
        assert!(screen.contains("messages 10/s"), "{screen}");
        assert!(screen.contains("sessions 5"), "{screen}");
        assert!(screen.contains("connections 6"), "{screen}");
        assert!(screen.contains("commit p99 2.0 ms"), "{screen}");
        assert!(screen.contains("8/s  #ops"), "{screen}");
        assert!(screen.find("#ops").unwrap() < screen.find("#general").unwrap());
    }
}
