//! What natterd counts for operators: the Prometheus metrics served on the
//! HTTP listener's `/metrics` (see [`crate::http`]) and read by `natterd
//! top`.
//!
//! Each server has its own [`Metrics`] (no global registry: tests run many
//! servers in one process). Counters on the hot path are single relaxed
//! atomic adds, made once per committed run of messages rather than once
//! per delivery; histograms are observed once per message, request or
//! commit. What is a level rather than an event (sessions, queue bytes,
//! store size) is read when scraped, by [`Metrics::render`]'s caller, and
//! costs nothing in between.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The label of a count by error code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

/// The labels of a connection count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnLabel {
    pub protocol: &'static str,
    pub state: &'static str,
}

/// The label of a count by HTTP endpoint.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    pub endpoint: &'static str,
    pub status: u16,
}

/// Latency buckets from 50 µs to about 3.3 s, doubling.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 17))
}

/// Size buckets from 1 to 65,536, doubling.
fn sizes() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 17))
}

/// Every metric natterd keeps, and the registry that names them.
pub struct Metrics {
    registry: Registry,
    /// Connections accepted, of every protocol.
    pub accepted: Counter,
    /// Connections by protocol and state; set when scraped.
    pub connections: Family<ConnLabel, Gauge>,
    /// Logged-in sessions; set when scraped.
    pub sessions: Gauge,
    /// Users online (visible presence not offline); set when scraped.
    pub users_online: Gauge,
    /// Users with at least one session (invisible ones too); set when
    /// scraped.
    pub users_logged_in: Gauge,
    /// Transfer connections open now.
    pub transfers: Gauge,
    /// Successful logins.
    pub logins: Counter,
    /// Failed logins (wrong password, unknown account, suspended, ...).
    pub login_failures: Counter,
    /// Messages committed and fanned out.
    pub messages: Counter,
    /// Message frames queued for delivery to sessions.
    pub deliveries: Counter,
    /// Members of the room each committed run was fanned out to.
    pub fanout: Histogram,
    /// Operations in each committed batch.
    pub commit_batch: Histogram,
    /// Time to commit a batch, in seconds.
    pub commit_seconds: Histogram,
    /// Time of each write-ahead-log checkpoint, in seconds.
    pub checkpoint_seconds: Histogram,
    /// From a `Send` being read to its `Sent` being queued, in seconds.
    pub send_seconds: Histogram,
    /// Time to answer a history page, in seconds.
    pub history_seconds: Histogram,
    /// Time to answer a search, in seconds.
    pub search_seconds: Histogram,
    /// Error replies, by code.
    pub errors: Family<CodeLabel, Counter>,
    /// Requests refused for a rate or quota (`rate_limited`), all
    /// protocols and the HTTP listener.
    pub rate_limited: Counter,
    /// Connections dropped as slow consumers.
    pub slow_consumers: Counter,
    /// Bytes queued on outbound queues; set when scraped.
    pub outbound_bytes: Gauge,
    /// The database's size on disk (with its log), in bytes; set when
    /// scraped.
    pub store_bytes: Gauge,
    /// The blob store's size, in bytes; set when scraped.
    pub blob_bytes: Gauge,
    /// Blobs stored; set when scraped.
    pub blobs: Gauge,
    /// HTTP requests answered, by endpoint and status.
    pub http_requests: Family<EndpointLabel, Counter>,
    /// Messages posted by incoming webhooks.
    pub hooks_in: Counter,
    /// Outgoing webhook deliveries that succeeded.
    pub hooks_out: Counter,
    /// Outgoing webhook attempts that failed (each retried later).
    pub hooks_out_failures: Counter,
    /// Seconds since the server started; set when scraped.
    pub uptime: Gauge,
    /// Replies sent compressed (zstd), and the bytes that kept off the
    /// wire.
    pub compressed_frames: Counter,
    pub compression_saved_bytes: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero, registered under `natterd_`.
    #[must_use]
    #[allow(clippy::too_many_lines)] // one registration per metric
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("natterd");
        let m = Self {
            accepted: Counter::default(),
            connections: Family::default(),
            sessions: Gauge::default(),
            users_online: Gauge::default(),
            users_logged_in: Gauge::default(),
            transfers: Gauge::default(),
            logins: Counter::default(),
            login_failures: Counter::default(),
            messages: Counter::default(),
            deliveries: Counter::default(),
            fanout: sizes(),
            commit_batch: sizes(),
            commit_seconds: latency(),
            checkpoint_seconds: latency(),
            send_seconds: latency(),
            history_seconds: latency(),
            search_seconds: latency(),
            errors: Family::default(),
            rate_limited: Counter::default(),
            slow_consumers: Counter::default(),
            outbound_bytes: Gauge::default(),
            store_bytes: Gauge::default(),
            blob_bytes: Gauge::default(),
            blobs: Gauge::default(),
            http_requests: Family::default(),
            hooks_in: Counter::default(),
            hooks_out: Counter::default(),
            hooks_out_failures: Counter::default(),
            uptime: Gauge::default(),
            compressed_frames: Counter::default(),
            compression_saved_bytes: Counter::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "connections_accepted",
            "Connections accepted",
            m.accepted.clone(),
        );
        r.register(
            "connections",
            "Open connections by protocol and state",
            m.connections.clone(),
        );
        r.register("sessions", "Logged-in sessions", m.sessions.clone());
        r.register(
            "users_online",
            "Users whose presence is not offline",
            m.users_online.clone(),
        );
        r.register(
            "users_logged_in",
            "Users with at least one session",
            m.users_logged_in.clone(),
        );
        r.register("logins", "Successful logins", m.logins.clone());
        r.register("login_failures", "Failed logins", m.login_failures.clone());
        r.register(
            "messages",
            "Messages committed and fanned out",
            m.messages.clone(),
        );
        r.register(
            "deliveries",
            "Message frames queued for sessions",
            m.deliveries.clone(),
        );
        r.register(
            "fanout_members",
            "Members of the room each committed run went to",
            m.fanout.clone(),
        );
        r.register(
            "commit_batch_ops",
            "Operations per committed batch",
            m.commit_batch.clone(),
        );
        r.register_with_unit(
            "commit",
            "Time to commit a batch",
            Unit::Seconds,
            m.commit_seconds.clone(),
        );
        r.register_with_unit(
            "wal_checkpoint",
            "Time of each write-ahead-log checkpoint",
            Unit::Seconds,
            m.checkpoint_seconds.clone(),
        );
        r.register_with_unit(
            "send_to_sent",
            "From a Send read to its Sent queued",
            Unit::Seconds,
            m.send_seconds.clone(),
        );
        r.register_with_unit(
            "history",
            "Time to answer a history page",
            Unit::Seconds,
            m.history_seconds.clone(),
        );
        r.register_with_unit(
            "search",
            "Time to answer a search",
            Unit::Seconds,
            m.search_seconds.clone(),
        );
        r.register("errors", "Error replies by code", m.errors.clone());
        r.register(
            "rate_limited",
            "Requests refused for a rate or quota",
            m.rate_limited.clone(),
        );
        r.register(
            "slow_consumer_drops",
            "Connections dropped as slow consumers",
            m.slow_consumers.clone(),
        );
        r.register_with_unit(
            "outbound_queue",
            "Bytes waiting in outbound queues",
            Unit::Bytes,
            m.outbound_bytes.clone(),
        );
        r.register_with_unit(
            "store",
            "Database size on disk, with its log",
            Unit::Bytes,
            m.store_bytes.clone(),
        );
        r.register_with_unit(
            "blob_store",
            "Blob store size",
            Unit::Bytes,
            m.blob_bytes.clone(),
        );
        r.register("blobs", "Blobs stored", m.blobs.clone());
        r.register(
            "transfer_connections",
            "Transfer connections open",
            m.transfers.clone(),
        );
        r.register(
            "http_requests",
            "HTTP requests by endpoint and status",
            m.http_requests.clone(),
        );
        r.register(
            "webhook_messages",
            "Messages posted by incoming webhooks",
            m.hooks_in.clone(),
        );
        r.register(
            "outgoing_webhook_deliveries",
            "Outgoing webhook deliveries that succeeded",
            m.hooks_out.clone(),
        );
        r.register(
            "outgoing_webhook_failures",
            "Outgoing webhook attempts that failed",
            m.hooks_out_failures.clone(),
        );
        r.register_with_unit(
            "uptime",
            "Time since the server started",
            Unit::Seconds,
            m.uptime.clone(),
        );
        r.register(
            "compressed_replies",
            "Replies sent compressed with zstd",
            m.compressed_frames.clone(),
        );
        r.register_with_unit(
            "compression_saved",
            "Bytes compression kept off the wire",
            Unit::Bytes,
            m.compression_saved_bytes.clone(),
        );
        Self { registry, ..m }
    }

    /// Counts an error reply.
    pub fn error(&self, code: &natter_shared::ErrorCode) {
        if *code == natter_shared::ErrorCode::RateLimited {
            self.rate_limited.inc();
        }
        self.errors
            .get_or_create(&CodeLabel {
                code: code.as_str().to_owned(),
            })
            .inc();
    }

    /// Every metric in the Prometheus text format (0.0.4).
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_with_their_names() {
        let m = Metrics::new();
        m.messages.inc_by(3);
        m.error(&natter_shared::ErrorCode::RateLimited);
        m.commit_seconds.observe(0.002);
        let text = m.render();
        assert!(text.contains("natterd_messages_total 3"), "{text}");
        assert!(text.contains("natterd_rate_limited_total 1"), "{text}");
        assert!(
            text.contains("natterd_errors_total{code=\"rate_limited\"} 1"),
            "{text}"
        );
        assert!(text.contains("natterd_commit_seconds_count 1"), "{text}");
    }

    #[test]
    fn the_grafana_dashboard_reads_only_metrics_that_exist() {
        let m = Metrics::new();
        // Families show only once they have a label set.
        m.error(&natter_shared::ErrorCode::Invalid);
        m.connections
            .get_or_create(&ConnLabel {
                protocol: "natter",
                state: "open",
            })
            .set(1);
        m.http_requests
            .get_or_create(&EndpointLabel {
                endpoint: "healthz",
                status: 200,
            })
            .inc();
        let text = m.render();
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../assets/grafana-natterd.json")).unwrap();
        let mut names = Vec::new();
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"].as_str().unwrap();
                let mut rest = expr;
                while let Some(at) = rest.find("natterd_") {
                    let name: String = rest[at..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    rest = &rest[at + name.len()..];
                    names.push(name);
                }
            }
        }
        assert!(names.len() > 20, "{names:?}");
        for name in names {
            assert!(
                text.lines()
                    .any(|l| l.starts_with(&name) && l[name.len()..].starts_with([' ', '{'])),
                "the dashboard reads {name}, which natterd does not export"
            );
        }
    }
}
