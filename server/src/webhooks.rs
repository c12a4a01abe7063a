//! Outgoing webhooks: messages queued in the store (see
//! `store::hooks`, whose trigger queues them with the message itself) are
//! POSTed as JSON to each hook's URL, signed with HMAC-SHA256, and
//! retried with exponential backoff until they are taken or
//! `http.outgoing_max_attempts` is reached. A reply `{"text": ...}` is
//! posted back into the room as the hook's bot.
//!
//! The POST body is `{"id", "ts", "room", "from", "body", "hook"}`; its
//! headers:
//! - `X-Natter-Timestamp`: Unix seconds when it was signed;
//! - `X-Natter-Signature`: `sha256=` and the hex HMAC-SHA256, keyed with
//!   the hook's secret, of the timestamp, a `.`, and the body. A receiver
//!   recomputes it and refuses old timestamps, so a captured request
//!   cannot be replayed later.
//!
//! Messages go out in order per hook, except around a retry: a message
//! that failed waits for its next attempt while later ones go.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use hyper::body::Bytes;
use sha2::Sha256;

use crate::Shared;
use crate::store::{self, Delivery};

/// How often the queue is looked at for due deliveries.
const POLL: Duration = Duration::from_millis(250);

/// Most deliveries taken per look.
const BATCH: u32 = 32;

/// The longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_hours(1);

/// The largest reply read (a reply is at most one message).
const MAX_REPLY: usize = 64 * 1024;

/// Runs the delivery loop until the server stops.
pub async fn run(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if shared.draining.is_cancelled() {
            return;
        }
        let due = match shared.store.due_deliveries(store::now_ms(), BATCH).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the webhook queue");
                continue;
            }
        };
        if due.is_empty() {
            continue;
        }
        // Hooks in parallel, each hook's messages in order.
        let mut by_hook: std::collections::BTreeMap<i64, Vec<Delivery>> =
            std::collections::BTreeMap::new();
        for d in due {
            by_hook.entry(d.hook_id).or_default().push(d);
        }
        let runs = by_hook.into_values().map(|run| {
            let shared = Arc::clone(&shared);
            async move {
                for d in run {
                    if !deliver(&shared, d).await {
                        // Keep the order: the rest wait for the next look.
                        break;
                    }
                }
            }
        });
        futures_util::future::join_all(runs).await;
    }
}

/// One delivery: POST, record the outcome, post the reply. False when it
/// failed (to be retried).
async fn deliver(shared: &Shared, d: Delivery) -> bool {
    let Some(message) = &d.message else {
        // Deleted or past retention since it was queued: nothing to send.
        let _ = shared.store.delivery_done(d.id).await;
        return true;
    };
    // The store's match for mentions is rough; this is the real rule.
    if d.mentions
        && !d
            .trigger
            .as_deref()
            .is_some_and(|t| message.body.starts_with(t))
        && !natter_shared::names::mentions_user(&message.body, &d.bot.name)
    {
        let _ = shared.store.delivery_done(d.id).await;
        return true;
    }
    let config = shared.config();
    let timeout = Duration::from_millis(config.http.outgoing_timeout_ms);
    let body = serde_json::json!({
        "id": message.id,
        "ts": message.ts,
        "room": message.room,
        "from": message.from,
        "body": message.body,
        "hook": d.hook_id,
    })
    .to_string();
    let result = tokio::time::timeout(timeout, post(&d.url, &d.secret, d.hook_id, body))
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} ms", timeout.as_millis())));
    match result {
        Ok(reply) => {
            shared.metrics.hooks_out.inc();
            if let Err(e) = shared.store.delivery_done(d.id).await {
                tracing::warn!(error = %e, "cannot mark a webhook delivery done");
            }
            if let Some(text) = reply_text(&reply) {
                let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
                crate::ops::resolve_user(shared, &d.bot.name).await.ok();
                match crate::ops::post::as_user(shared, &d.bot, peer, &message.room, text).await {
                    Ok(id) => tracing::info!(hook = d.hook_id, id, "webhook reply posted"),
                    Err(e) => {
                        tracing::warn!(hook = d.hook_id, code = %e.code, error = %e.message, "webhook reply refused");
                    }
                }
            }
            true
        }
        Err(error) => {
            shared.metrics.hooks_out_failures.inc();
            let attempts = d.attempts + 1;
            let give_up = attempts >= config.http.outgoing_max_attempts;
            let wait = backoff(config.http.outgoing_retry_ms, attempts);
            let next_at = store::now_ms() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
            if give_up {
                tracing::error!(hook = d.hook_id, message = message.id, attempts, %error, "webhook delivery given up");
            } else {
                tracing::warn!(hook = d.hook_id, message = message.id, attempts, %error, retry_in_ms = wait.as_millis(), "webhook delivery failed");
            }
            if let Err(e) = shared
                .store
                .delivery_failed(d.id, next_at, error, give_up)
                .await
            {
                tracing::warn!(error = %e, "cannot record a webhook failure");
            }
            false
        }
    }
}

/// The wait before attempt `attempts + 1`: `base` doubled per attempt,
/// at most an hour, with a fifth of jitter so many failing hooks do not
/// retry in step.
fn backoff(base_ms: u64, attempts: u32) -> Duration {
    let exp = base_ms.saturating_mul(1u64 << attempts.saturating_sub(1).min(30));
    let capped = Duration::from_millis(exp).min(MAX_BACKOFF);
    let jitter = rand::random_range(0.8..1.2);
    capped.mul_f64(jitter)
}

/// A reply's `text`, when it is JSON with a non-empty one.
fn reply_text(reply: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(reply).ok()?;
    let text = value.get("text")?.as_str()?.trim_end();
    (!text.trim().is_empty()).then(|| text.to_owned())
}

/// The signature header's value for `body` signed at `timestamp`.
#[must_use]
pub fn signature(secret: &str, timestamp: u64, body: &str) -> String {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs `body` to `url`, signed, and returns the reply's body when the
/// status is 2xx.
async fn post(url: &str, secret: &str, hook: i64, body: String) -> Result<Bytes, String> {
    let timestamp = u64::try_from(store::now_ms() / 1000).unwrap_or(0);
    let signature = signature(secret, timestamp, &body);
    let headers = [
        ("content-type", "application/json".to_owned()),
        ("x-natter-hook", hook.to_string()),
        ("x-natter-timestamp", timestamp.to_string()),
        ("x-natter-signature", signature),
    ];
    let (status, reply) =
        crate::http_client::request(hyper::Method::POST, url, &headers, body, MAX_REPLY).await?;
    if status.is_success() {
        Ok(reply)
    } else {
        Err(format!("the receiver answered {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231 style check against an independent computation: the
        // same MAC over the concatenation.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
        mac.update(b"1700000000.{\"a\":1}");
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(signature("key", 1_700_000_000, "{\"a\":1}"), expected);
        assert_ne!(signature("other", 1_700_000_000, "{\"a\":1}"), expected);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let ms = |a| backoff(1000, a).as_millis();
        assert!((800..=1200).contains(&ms(1)), "{}", ms(1));
        assert!((1600..=2400).contains(&ms(2)), "{}", ms(2));
        assert!((6400..=9600).contains(&ms(4)), "{}", ms(4));
        assert!(ms(40) <= 3_600_000 * 12 / 10);
    }

    #[test]
    fn replies_post_only_non_empty_text() {
        assert_eq!(reply_text(br#"{"text":"pong"}"#).as_deref(), Some("pong"));
        assert_eq!(reply_text(br#"{"text":"  "}"#), None);
        assert_eq!(reply_text(b"ok"), None);
        assert_eq!(reply_text(br#"{"ok":true}"#), None);
    }
}
