//! Posting from inside the server (incoming webhooks), as an account,
//! through exactly the path a client's `Send` takes: the same checks
//! (membership, bans, announce rooms, message length), the same commit and
//! fan-out. The poster is a short-lived invisible session, so nobody sees
//! a bot come online for each post, and the call returns once the store
//! has committed the message.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use natter_shared::{
    ErrorCode, ErrorReply, MessageId, PresenceChoice, PresenceState, Response, ServerFrame,
};

use super::{Caller, OpResult};
use crate::Shared;
use crate::front::Protocol;
use crate::outbox::Outbox;
use crate::store::UserRow;

/// The request id the internal session's one `Send` carries.
const REQUEST: u64 = 1;

/// How long a post may wait for its commit.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// The internal session's queue: it only ever holds the room's own
/// traffic while one message commits.
const QUEUE_BYTES: usize = 4 * 1024 * 1024;

/// Posts `body` to `room` as `user`, from `peer` (for the logs), and
/// returns the stored message's id once committed.
///
/// # Errors
/// What a client's `Send` would get (`not_member`, `invalid`, ...), or
/// `timeout` when the store did not commit in time.
pub async fn as_user(
    shared: &Shared,
    user: &UserRow,
    peer: SocketAddr,
    room: &str,
    body: String,
) -> OpResult<MessageId> {
    if user.suspended {
        return Err(ErrorReply::new(
            ErrorCode::Suspended,
            "this account is suspended",
        ));
    }
    let session = shared.new_session_id();
    let outbox = Arc::new(Outbox::new(QUEUE_BYTES));
    let invisible = PresenceChoice {
        state: PresenceState::Invisible,
        status: None,
    };
    shared.hub().add_session(
        session,
        user,
        Protocol::Natter,
        Arc::clone(&outbox),
        None,
        Some(invisible),
        // Lives for one post: no account change can need to end it.
        i64::MAX,
    );
    let caller = Caller { session, peer };
    let result = post(shared, caller, &outbox, room, body).await;
    shared.hub().remove_session(session);
    result
}

async fn post(
    shared: &Shared,
    caller: Caller,
    outbox: &Outbox,
    room: &str,
    body: String,
) -> OpResult<MessageId> {
    let msg = super::messages::Outgoing {
        room,
        body,
        action: false,
        nonce: None,
        reply_to: None,
        thread: None,
        request: REQUEST,
        attention: false,
        files: Vec::new(),
    };
    super::messages::send(shared, caller, msg).await?;
    let wait = async {
        loop {
            let (frames, ended) = outbox.take_frames().await;
            for frame in frames {
                match natter_shared::decode_server(&frame[4..]) {
                    Ok(ServerFrame::Ok {
                        id: REQUEST,
                        res: Response::Sent { id, .. },
                    }) => return Ok(id),
                    Ok(ServerFrame::Err { id: REQUEST, err }) => return Err(err),
                    _ => {}
                }
            }
            if ended {
                return Err(ErrorReply::new(
                    ErrorCode::Internal,
                    "the post was cut off; try again",
                ));
            }
        }
    };
    tokio::time::timeout(POST_TIMEOUT, wait)
        .await
        .unwrap_or_else(|_| {
            Err(ErrorReply::new(
                ErrorCode::Timeout,
                "the message was not stored in time; try again",
            ))
        })
}
