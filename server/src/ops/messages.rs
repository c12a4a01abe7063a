//! Messages: sending (acknowledged once the store has committed the
//! message, by the hub's fan-out) and history pages (from the in-memory
//! ring when it covers them, from the store otherwise).

use natter_shared::{ErrorCode, ErrorReply, HistoryQuery, Response};

use super::{Caller, OpResult, internal};
use crate::Shared;
use crate::hub::{HistoryPlan, SendPlan};
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
    /// The request to acknowledge: the `Sent` reply comes from the fan-out
    /// once the store has committed the message.
    pub request: u64,
}

/// Queues a message for the store. `Ok` means queued: the acknowledgement
/// (or a failure) reaches the sender later, in order with the fan-out.
pub async fn send(shared: &Shared, caller: Caller, msg: Outgoing<'_>) -> OpResult<()> {
    let mut created = false;
    loop {
        let plan = shared.hub().plan_send(
            caller.session,
            msg.request,
            msg.room,
            msg.body.clone(),
            msg.action,
            msg.nonce,
        )?;
        match plan {
            SendPlan::Ready(stored) => {
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

/// A page of a room's history.
pub async fn history(shared: &Shared, caller: Caller, room: &str, query: HistoryQuery) -> OpResult {
    let plan = shared.hub().plan_history(caller.session, room, query)?;
    match plan {
        HistoryPlan::Ready(res) => Ok(res),
        HistoryPlan::Disk {
            room_id,
            room,
            before,
            after,
            limit,
        } => {
            let rows = shared
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
                rev: 0,
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
