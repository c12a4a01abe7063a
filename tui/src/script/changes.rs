//! The scripting modes that change or find messages rather than post
//! them: `natter edit`, `delete`, `react` and `search`. Each logs in,
//! makes one request, and returns once the server has stored the change
//! (or answered the query), so a script's exit code says what happened.

use std::future::Future;
use std::io::{self, Write};

use natter_shared::{ErrorCode, ErrorReply, MessageId, ReactOp, SearchHit, SearchQuery, features};

use super::{Context, connect_and_log_in, parse_room};
use crate::conn::Connection;
use crate::error::ClientError;

/// Which message a change is about: its id, and its room when the user
/// named one. Without a room the request carries an empty one, which the
/// server resolves from the id (with the same `no_such_message` for a
/// message the user may not see).
#[derive(Debug, Clone)]
pub struct Target {
    pub id: MessageId,
    pub room: Option<String>,
}

impl Target {
    fn room(&self) -> Result<String, ClientError> {
        self.room.as_deref().map_or(Ok(String::new()), parse_room)
    }
}

/// Logs in, checks that the server lists `feature` (named `what` for the
/// user), and runs `op` on the connection.
pub(super) async fn with_feature<T, F, Fut>(
    ctx: &Context,
    feature: &str,
    what: &str,
    op: F,
) -> Result<T, ClientError>
where
    F: FnOnce(Connection) -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let (conn, events, _) = connect_and_log_in(ctx).await?;
    drop(events);
    if !conn.welcome().features.iter().any(|f| f == feature) {
        conn.close();
        return Err(ClientError::Server(ErrorReply::new(
            ErrorCode::Unsupported,
            format!("this server does not support {what}"),
        )));
    }
    op(conn).await
}

/// `natter edit ID TEXT`: replaces the text of your message.
///
/// # Errors
/// [`ClientError::Usage`] for an empty text or a bad room; the server's
/// refusal (`forbidden`, `no_such_message`, `too_long`) otherwise.
pub async fn edit(ctx: &Context, target: &Target, body: &str) -> Result<(), ClientError> {
    if body.trim().is_empty() {
        return Err(ClientError::Usage(
            "empty text: to remove a message, use natter delete".into(),
        ));
    }
    let room = target.room()?;
    with_feature(ctx, features::EDITS, "edits", |conn| async move {
        let done = conn.edit(&room, target.id, body).await;
        conn.close();
        done
    })
    .await
}

/// `natter delete ID`.
///
/// # Errors
/// As [`edit`].
pub async fn delete(ctx: &Context, target: &Target) -> Result<(), ClientError> {
    let room = target.room()?;
    with_feature(ctx, features::DELETES, "deletes", |conn| async move {
        let done = conn.delete(&room, target.id).await;
        conn.close();
        done
    })
    .await
}

/// `natter react ID KEY [--remove]`: returns whether your reaction is
/// there now.
///
/// # Errors
/// [`ClientError::Usage`] for a key that is not one emoji or a
/// `:shortcode:`; the server's refusal otherwise.
pub async fn react(
    ctx: &Context,
    target: &Target,
    key: &str,
    remove: bool,
) -> Result<bool, ClientError> {
    natter_shared::names::reaction_key(key).map_err(|why| ClientError::Usage(why.into()))?;
    let room = target.room()?;
    let op = if remove {
        ReactOp::Remove
    } else {
        ReactOp::Toggle
    };
    with_feature(ctx, features::REACTIONS, "reactions", |conn| async move {
        let on = conn.react(&room, target.id, key, op).await;
        conn.close();
        on
    })
    .await
}

/// `natter search QUERY`: up to `limit` results, newest first, paging
/// through the server's pages.
///
/// # Errors
/// The server's refusal (`invalid` for a query it cannot read,
/// `no_such_room` for `--room`), connection and authentication errors.
pub async fn search(
    ctx: &Context,
    query: &str,
    room: Option<&str>,
    limit: u32,
) -> Result<Vec<SearchHit>, ClientError> {
    if query.trim().is_empty() {
        return Err(ClientError::Usage("empty query: nothing to search".into()));
    }
    let room = room.map(parse_room).transpose()?;
    with_feature(ctx, features::SEARCH, "search", |conn| async move {
        let mut all: Vec<SearchHit> = Vec::new();
        let mut before = None;
        let found = loop {
            let want = limit.saturating_sub(u32::try_from(all.len()).unwrap_or(u32::MAX));
            if want == 0 {
                break Ok(all);
            }
            let page = conn
                .search(SearchQuery {
                    query: query.to_owned(),
                    room: room.clone(),
                    before,
                    limit: want,
                })
                .await;
            match page {
                Ok((hits, more)) => {
                    before = hits.last().map(|h| h.message.id);
                    let empty = hits.is_empty();
                    all.extend(hits);
                    if !more || empty {
                        all.truncate(limit as usize);
                        break Ok(all);
                    }
                }
                Err(e) => break Err(e),
            }
        };
        conn.close();
        found
    })
    .await
}

/// Writes search results, one line each (see
/// [`crate::format::search_line`]); a closed stdout ends it quietly.
///
/// # Errors
/// [`ClientError::Io`] when stdout fails otherwise.
pub fn write_hits(out: &mut impl Write, hits: &[SearchHit], json: bool) -> Result<(), ClientError> {
    for hit in hits {
        let line = crate::format::search_line(hit, json, &chrono::Local);
        match writeln!(out, "{line}") {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            Err(source) => {
                return Err(ClientError::Io {
                    context: "cannot write to stdout",
                    source,
                });
            }
        }
    }
    out.flush().or_else(|e| {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Ok(())
        } else {
            Err(ClientError::Io {
                context: "cannot write to stdout",
                source: e,
            })
        }
    })
}
