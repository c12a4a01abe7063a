//! Search: the query parsed ([`super::search_query`]), the rooms to look in
//! decided by the hub (the caller's, now), the matching done by the store
//! on its search connection.
//!
//! Membership is checked at the time of the search, not of the message: a
//! user who left or was banned from a room no longer finds its messages,
//! and one who joined finds its older ones, as history would show them.

use natter_shared::{ErrorCode, ErrorReply, Response, SearchHit, SearchQuery};

use super::search_query::{self, ParsedQuery};
use super::{Caller, OpResult, internal, quotas};
use crate::Shared;
use crate::store::SearchSpec;

/// Runs a search for the caller.
///
/// # Errors
/// `not_logged_in`; `rate_limited` beyond `limits.searches_per_sec` (bursts of
/// `limits.search_burst`);
/// `invalid` for a query that asks for nothing or has a bad date, user or
/// room; `no_such_room` (or `not_member`) for a room the caller may not
/// search, answered exactly as history answers; `internal` when the store
/// fails.
pub async fn search(shared: &Shared, caller: Caller, q: SearchQuery) -> OpResult {
    let started = std::time::Instant::now();
    let result = run(shared, caller, q).await;
    shared
        .metrics
        .search_seconds
        .observe(started.elapsed().as_secs_f64());
    result
}

async fn run(shared: &Shared, caller: Caller, q: SearchQuery) -> OpResult {
    let user = super::user_of(shared, caller)?;
    quotas::take_search(shared, user)?;
    let parsed = search_query::parse(&q.query, q.room.as_deref())
        .map_err(|e| ErrorReply::new(ErrorCode::Invalid, e.to_string()))?;
    if let Some(name) = parsed.room.as_deref().and_then(|r| r.strip_prefix('@')) {
        // The peer may be an account the hub has not loaded yet; errors
        // come from the scope below.
        let _ = super::resolve_user(shared, name).await;
    }
    let (_, rooms) = shared
        .hub()
        .search_scope(caller.session, parsed.room.as_deref())?;
    let max = shared.config().history.max_page as usize;
    let limit = match q.limit as usize {
        0 => max,
        n => n.min(max),
    };
    let spec = spec(parsed, rooms.iter().map(|(id, _)| *id).collect(), &q, limit);
    let mut rows = shared.store.search(spec).await.map_err(|e| internal(&e))?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let hits = rows
        .into_iter()
        .filter_map(|row| {
            let name = rooms.iter().find(|(id, _)| *id == row.message.room_id)?;
            Some(SearchHit {
                message: row.message.to_wire(name.1.clone()),
                snippet: row.snippet,
            })
        })
        .collect();
    Ok(Response::Found { hits, more })
}

/// What the store is asked: one row more than the page, to tell whether
/// there is another.
fn spec(parsed: ParsedQuery, rooms: Vec<i64>, q: &SearchQuery, limit: usize) -> SearchSpec {
    SearchSpec {
        include: parsed.include,
        exclude: parsed.exclude,
        author: parsed.from,
        rooms,
        sent_before: parsed.sent_before,
        sent_from: parsed.sent_from,
        has_link: parsed.has_link,
        is_reply: parsed.is_reply,
        before: q.before,
        limit: limit + 1,
    }
}
