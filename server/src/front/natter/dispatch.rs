//! A logged-in session's requests: each natter request is mapped to its
//! operation in [`crate::ops`], and the result to the one reply it gets.

use natter_shared::{ErrorCode, ErrorReply, Request, Response, Secret};

use super::connection::{Conn, State};
use crate::ops::{self, Caller};

impl Conn {
    /// Handles one request of a ready session; false ends the connection.
    pub(super) async fn dispatch(&mut self, session: u64, id: u64, req: Request) -> bool {
        let caller = Caller {
            session,
            peer: self.peer,
        };
        if let Request::Send { room, .. } | Request::History { room, .. } | Request::Join { room } =
            &req
            && let Some(name) = room.trim().strip_prefix('@')
        {
            // The peer may be an account the hub has not loaded yet (added
            // by the admin CLI while the server runs); errors are reported
            // by the request itself.
            let _ = ops::resolve_user(&self.shared, name).await;
        }
        let shared = &self.shared;
        let result = match req {
            Request::Hello { .. } => Err(ErrorReply::new(
                ErrorCode::Invalid,
                "hello was already said",
            )),
            Request::Login { .. } | Request::Register { .. } | Request::TransferLogin { .. } => {
                Err(ErrorReply::new(ErrorCode::Invalid, "already logged in"))
            }
            Request::Unknown(name) => {
                self.unsupported(id, &name);
                return true;
            }
            Request::Logout => {
                let State::Ready { token_hash, .. } = &self.state else {
                    return false;
                };
                if let Err(e) = ops::auth::logout(shared, token_hash.clone()).await {
                    self.reply_err(id, e);
                    return true;
                }
                self.reply(id, Response::Done);
                self.outbox
                    .close(ErrorCode::NotLoggedIn, "logged out", None);
                return false;
            }
            Request::Ping => Ok(Response::Pong),
            Request::ChangePassword { old, new } => {
                let had_token = matches!(
                    self.state,
                    State::Ready {
                        token_hash: Some(_),
                        ..
                    }
                );
                match ops::auth::change_password(shared, caller, had_token, old.0, new.0).await {
                    Ok(changed) => {
                        let token = changed.token.map(|(token, hash)| {
                            self.state = State::Ready {
                                session,
                                token_hash: Some(hash),
                            };
                            Secret(token)
                        });
                        Ok(Response::PasswordChanged { token })
                    }
                    Err(e) => Err(e),
                }
            }
            Request::Send {
                room,
                body,
                action,
                nonce,
                reply_to,
                thread,
                attention,
                files,
            } => {
                let msg = ops::messages::Outgoing {
                    room: &room,
                    body,
                    action,
                    nonce: nonce.as_deref(),
                    reply_to,
                    thread,
                    request: id,
                    attention,
                    files,
                };
                // The reply (Sent) comes from the fan-out once the store has
                // committed the message.
                match ops::messages::send(shared, caller, msg).await {
                    Ok(()) => return true,
                    Err(e) => Err(e),
                }
            }
            // An empty room: the message's own (`natter edit ID`).
            Request::Edit {
                room,
                id: message,
                body,
            } => match ops::edits::room_of(shared, caller, room, message).await {
                Ok(room) => ops::edits::edit(shared, caller, &room, message, body).await,
                Err(e) => Err(e),
            },
            Request::Delete { room, id: message } => {
                match ops::edits::room_of(shared, caller, room, message).await {
                    Ok(room) => ops::edits::delete(shared, caller, &room, message).await,
                    Err(e) => Err(e),
                }
            }
            Request::React {
                room,
                id: message,
                key,
                op,
            } => match ops::edits::room_of(shared, caller, room, message).await {
                Ok(room) => match ops::reactions::queue(shared, caller, &room, message, key, op) {
                    Ok(queued) => {
                        // Answered once stored, as a send is: the next
                        // requests go on meanwhile (replies by id).
                        let shared = std::sync::Arc::clone(&self.shared);
                        let outbox = std::sync::Arc::clone(&self.outbox);
                        self.shared.tasks.spawn(async move {
                            let frame = match queued.finish(&shared).await {
                                Ok(res) => natter_shared::ServerFrame::Ok { id, res },
                                Err(err) => natter_shared::ServerFrame::Err { id, err },
                            };
                            outbox.send(&frame);
                        });
                        return true;
                    }
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            },
            // An empty room with `around`: the message's own room
            // (`natter download ID`).
            Request::History { room, query } => match query.around {
                Some(id) if room.is_empty() => {
                    match ops::edits::room_of(shared, caller, room, id).await {
                        Ok(room) => ops::messages::history(shared, caller, &room, query).await,
                        Err(e) => Err(e),
                    }
                }
                _ => ops::messages::history(shared, caller, &room, query).await,
            },
            Request::Join { room } => ops::rooms::join(shared, caller, &room).await,
            Request::Leave { room } => ops::rooms::leave(shared, caller, &room),
            Request::Create { room, private } => {
                ops::rooms::create(shared, caller, &room, private).await
            }
            Request::Invite { room, user } => {
                ops::safety::invite(shared, caller, &room, &user).await
            }
            Request::Kick { room, user, reason } => {
                ops::moderation::remove(shared, caller, &room, &user, false, reason).await
            }
            Request::Ban { room, user, reason } => {
                ops::moderation::remove(shared, caller, &room, &user, true, reason).await
            }
            Request::Unban { room, user } => {
                ops::moderation::unban(shared, caller, &room, &user).await
            }
            Request::SetRole { room, user, role } => {
                ops::moderation::set_role(shared, caller, &room, &user, role).await
            }
            Request::Topic { room, topic } => ops::moderation::topic(shared, caller, &room, &topic),
            Request::SetMode {
                room,
                announce,
                category,
            } => ops::moderation::set_mode(shared, caller, &room, announce, category.as_deref()),
            Request::Members { room } => ops::rooms::members(shared, caller, &room),
            Request::Rooms => ops::rooms::list(shared, caller),
            Request::Directory => ops::rooms::directory(shared, caller),
            Request::MarkRead { room, id: marker } => {
                ops::markers::mark_read(shared, caller, &room, marker)
            }
            Request::Readers { room, id: upto } => {
                ops::markers::readers(shared, caller, &room, upto)
            }
            Request::Received { room, id: upto } => {
                ops::markers::received(shared, caller, &room, upto)
            }
            Request::ShareReceipts { share } => ops::markers::share_receipts(shared, caller, share),
            Request::Typing { room, active } => {
                ops::presence::typing(shared, caller, &room, active)
            }
            Request::Presence { state, status } => {
                ops::presence::set(shared, caller, state, status)
            }
            Request::Stats => ops::presence::stats(shared, caller).await,
            Request::Block { user } => ops::safety::block(shared, caller, &user).await,
            Request::Unblock { user } => ops::safety::unblock(shared, caller, &user).await,
            Request::Blocked => ops::safety::blocked(shared, caller).await,
            Request::Report {
                room,
                id: message,
                reason,
            } => ops::safety::report(shared, caller, &room, message, &reason).await,
            Request::Accept { room } => ops::safety::accept(shared, caller, &room).await,
            Request::Decline { room } => ops::safety::decline(shared, caller, &room).await,
            Request::Invitations => ops::safety::invitations(shared, caller).await,
            Request::SetInvites { policy } => {
                ops::safety::set_invites(shared, caller, policy).await
            }
            Request::SetProfile { display_name } => {
                ops::profile::set_profile(shared, caller, display_name).await
            }
            Request::Whois { user } => ops::profile::whois(shared, caller, &user).await,
            Request::Search(query) => ops::search::search(shared, caller, query).await,
            Request::OpenTransfer => ops::files::open_transfer(shared, caller),
            Request::FileInfo { file } => ops::files::info(shared, caller, file).await,
            Request::UploadStart { .. }
            | Request::UploadChunk { .. }
            | Request::CancelUpload { .. }
            | Request::Download { .. } => Err(ErrorReply::new(
                ErrorCode::Invalid,
                "files move on a transfer connection: ask for a ticket with open_transfer",
            )),
        };
        self.answer(id, result);
        true
    }
}
