//! Messages: sending (acknowledged once the store has committed the
//! message, by the hub's fan-out), replies and thread posts (checked
//! against the message they name), and history pages (from the in-memory
//! ring when it covers them, from the store otherwise; catch-ups, pages
//! around a message and thread pages always from the store).

use natter_shared::{ErrorCode, ErrorReply, HistoryQuery, MessageId, Response};

use super::{Caller, OpResult, internal};
use crate::Shared;
use crate::hub::{HistoryPlan, SendPlan, no_such_message};
use crate::store::StoredMessage;

/// A message to post.
#[derive(Debug)]
pub struct Outgoing<'a> {
    /// `#room` or `@user`.
    pub room: &'a str,
    pub body: String,
    pub action: bool,
    /// Echoed to the sender's sessions with the message.
    pub nonce: Option<&'a str>,
    /// The message it replies to (same room).
    pub reply_to: Option<MessageId>,
    /// The thread root it is posted under (same room, not itself a reply
    /// in a thread).
    pub thread: Option<MessageId>,
    /// The request to acknowledge: the `Sent` reply comes from the fan-out
    /// once the store has committed the message.
    pub request: u64,
    /// Call the whole room to attention (`Send.attention`), as `@room` in
    /// the body does.
    pub attention: bool,
    /// The sender's uploads to attach.
    pub files: Vec<natter_shared::FileId>,
}

/// Queues a message for the store. `Ok` means queued: the acknowledgement
/// (or a failure) reaches the sender later, in order with the fan-out.
pub async fn send(shared: &Shared, caller: Caller, msg: Outgoing<'_>) -> OpResult<()> {
    let mut created = false;
    let with_files = !msg.files.is_empty();
    let attachments = if with_files {
        let user = shared
            .hub()
            .session_user(caller.session)
            .ok_or_else(|| ErrorReply::new(ErrorCode::NotLoggedIn, "log in first"))?;
        super::files::attachments(shared, user, msg.files.clone()).await?
    } else {
        Vec::new()
    };
    loop {
        let plan = shared.hub().plan_send(
            caller.session,
            msg.request,
            msg.room,
            msg.body.clone(),
            msg.action,
            msg.nonce,
            with_files,
        )?;
        match plan {
            SendPlan::Ready(mut stored) => {
                if let Some(id) = msg.reply_to {
                    check_named(shared, stored.room_id, id, false).await?;
                }
                if let Some(root) = msg.thread {
                    check_named(shared, stored.room_id, root, true).await?;
                }
                stored.attention = shared.hub().check_attention(
                    caller.session,
                    stored.room_id,
                    msg.attention,
                    &msg.body,
                )?;
                stored.reply_to = msg.reply_to;
                stored.thread = msg.thread;
                stored.attachments = attachments;
                return shared.store.submit(stored).map_err(|e| internal(&e));
            }
            SendPlan::NeedDirect(peer) if !created => {
                super::ensure_direct(shared, caller, peer).await?;
                created = true;
            }
            SendPlan::NeedDirect(_) => {
                return Err(ErrorReply::new(
                    ErrorCode::Internal,
                    "cannot open the conversation",
                ));
            }
        }
    }
}

/// Checks that message `id` is in the room (the sender is a member, so
/// may see it) and, for a thread root, that it is not itself in a thread.
/// Deleted messages may be replied to: the tombstone keeps its place.
async fn check_named(shared: &Shared, room_id: i64, id: MessageId, root: bool) -> OpResult<()> {
    let held = shared.hub().held_message(room_id, id);
    let top_level = match held {
        Some(top_level) => top_level,
        None => shared
            .store
            .message(room_id, id)
            .await
            .map_err(|e| internal(&e))?
            .ok_or_else(no_such_message)?
            .thread
            .is_none(),
    };
    if root && !top_level {
        return Err(no_such_message());
    }
    Ok(())
}

/// A page of a room's history.
pub async fn history(shared: &Shared, caller: Caller, room: &str, query: HistoryQuery) -> OpResult {
    let started = std::time::Instant::now();
    let result = page_of(shared, caller, room, query).await;
    shared
        .metrics
        .history_seconds
        .observe(started.elapsed().as_secs_f64());
    result
}

async fn page_of(shared: &Shared, caller: Caller, room: &str, query: HistoryQuery) -> OpResult {
    let plan = shared.hub().plan_history(caller.session, room, query)?;
    match plan {
        HistoryPlan::Ready(res) => Ok(res),
        HistoryPlan::Rich {
            room_id,
            room,
            page,
            limit,
        } => {
            let read = shared
                .store
                .rich_page(room_id, page, limit)
                .await
                .map_err(|e| internal(&e))?
                .ok_or_else(no_such_message)?;
            let messages = read
                .messages
                .into_iter()
                .map(|m| m.to_wire(room.clone()))
                .collect();
            Ok(Response::Messages {
                room,
                messages,
                more: read.more,
                rev: read.rev,
            })
        }
        HistoryPlan::Disk {
            room_id,
            room,
            before,
            after,
            limit,
        } => {
            let (rows, rev) = shared
                .store
                .messages(room_id, before, after, limit + 1)
                .await
                .map_err(|e| internal(&e))?;
            let (rows, more) = page(rows, limit, after.is_some());
            let messages = rows.into_iter().map(|m| m.to_wire(room.clone())).collect();
            Ok(Response::Messages {
                room,
                messages,
                more,
                rev,
            })
        }
    }
}

/// Trims a page read from the store to `limit` and says whether more lie
/// beyond it: newer ones for an `after` query, older ones otherwise.
fn page(mut rows: Vec<StoredMessage>, limit: usize, after: bool) -> (Vec<StoredMessage>, bool) {
    let more = rows.len() > limit;
    if more {
        if after {
            rows.truncate(limit);
        } else {
            rows.drain(..rows.len() - limit);
        }
    }
    (rows, more)
}

/// The message of `room` nearest to time `ts` (ms): the newest at or
/// before it, or with `after` the oldest at or after it. `None` when there
/// is none; the room errors as for history when the caller may not see it.
pub async fn id_at_time(
    shared: &Shared,
    caller: Caller,
    room: &str,
    ts: i64,
    after: bool,
) -> OpResult<Option<MessageId>> {
    let scope = shared.hub().message_scope(caller.session, room)?;
    shared
        .store
        .message_at_time(scope.room_id, ts, after)
        .await
        .map_err(|e| internal(&e))
}

/// One message of `room` as it is now, if the caller may see it.
pub async fn one(
    shared: &Shared,
    caller: Caller,
    room: &str,
    id: MessageId,
) -> OpResult<Option<natter_shared::Message>> {
    let query = HistoryQuery {
        around: Some(id),
        limit: 1,
        ..HistoryQuery::default()
    };
    match history(shared, caller, room, query).await {
        Ok(Response::Messages { messages, .. }) => Ok(messages.into_iter().find(|m| m.id == id)),
        Ok(_) => Ok(None),
        Err(e) if e.code == natter_shared::ErrorCode::NoSuchMessage => Ok(None),
        Err(e) => Err(e),
    }
}
