//! Invitations that wait for consent, and reports: the hub's side. An
//! invitation is checked here exactly as an invite always was (who may add
//! whom to which room); whether it adds the invitee at once or waits for
//! their `Accept` is the invitee's policy, decided in
//! [`crate::ops::safety`], which also stores the pending invitations.
//! Reports go to the server's admins and the room's moderators.

use natter_shared::{Invitation, Report, Role, RoomKind};

use super::{ErrorCode, ErrorReply, Event, Hub, Response, StoreChange, err, event, no_such_room};

/// What an invitation would do, once checked.
#[derive(Debug)]
pub enum InviteCheck {
    /// The invitee is in the room already: nothing to do.
    AlreadyMember,
    /// The inviter may add the invitee to `room`.
    Allowed {
        room: i64,
        /// `#name`.
        name: String,
        inviter: i64,
    },
}

/// A message someone may report: where it is, who wrote it, what it said.
#[derive(Debug)]
pub struct Reportable {
    pub room: i64,
    /// How moderators and admins see the room's name.
    pub name: String,
    pub reporter: String,
    /// From the in-memory ring, when the message is still there.
    pub found: Option<(String, String)>,
}

impl Hub {
    /// Checks that `session`'s user may invite `invitee` to `target`, with
    /// the same answers (and the same privacy) as an invite always had.
    pub fn check_invite(
        &self,
        session: u64,
        target: &str,
        invitee: i64,
    ) -> Result<InviteCheck, ErrorReply> {
        let user = self.logged_in(session)?;
        let id = self
            .find(user, target)?
            .ok_or_else(|| no_such_room(target))?;
        let room = &self.rooms[&id];
        match room.kind {
            RoomKind::Direct | RoomKind::Unknown => {
                return Err(err(ErrorCode::Invalid, "direct conversations are for two"));
            }
            RoomKind::Private => {
                self.moderator(user, target)?;
            }
            RoomKind::Public => {
                if !self.is_admin(user) {
                    self.member_room(user, target)?;
                }
            }
        }
        let room = &self.rooms[&id];
        if room.bans.contains(&invitee) {
            return Err(err(
                ErrorCode::Banned,
                format!(
                    "{} is banned from {target}; unban them first",
                    self.user_name(invitee)
                ),
            ));
        }
        if room.members.contains_key(&invitee) {
            return Ok(InviteCheck::AlreadyMember);
        }
        Ok(InviteCheck::Allowed {
            room: id,
            name: format!("#{}", room.name),
            inviter: user,
        })
    }

    /// Adds an invitee to a room an invitation was checked for (or
    /// accepted to). Nothing when they are in it already or banned.
    pub fn add_invited(&mut self, room: i64, invitee: i64) -> Option<StoreChange> {
        let r = self.rooms.get(&room)?;
        if r.members.contains_key(&invitee) || r.bans.contains(&invitee) {
            return None;
        }
        Some(self.add_member(room, invitee, Role::Member))
    }

    /// Whether `a` and `b` share a private room: the `shared` invitation
    /// policy. Only private rooms count, since `b` is in them by consent:
    /// anyone may join a public room `b` is in, or open a direct
    /// conversation with `b`, and so make themselves "shared".
    #[must_use]
    pub fn share_a_room(&self, a: i64, b: i64) -> bool {
        let (Some(ua), Some(ub)) = (self.users.get(&a), self.users.get(&b)) else {
            return false;
        };
        let (small, other) = if ua.rooms.len() <= ub.rooms.len() {
            (ua, b)
        } else {
            (ub, a)
        };
        small.rooms.iter().any(|r| {
            self.rooms.get(r).is_some_and(|room| {
                room.kind == RoomKind::Private && room.members.contains_key(&other)
            })
        })
    }

    /// Accepts a checked invitation: the user joins as a member.
    pub fn accept_invitation(
        &mut self,
        session: u64,
        room: i64,
    ) -> Result<(Response, Option<StoreChange>), ErrorReply> {
        let user = self.logged_in(session)?;
        let Some(r) = self.rooms.get(&room) else {
            return Err(err(ErrorCode::Invalid, "that room is gone"));
        };
        if r.bans.contains(&user) {
            return Err(err(
                ErrorCode::Banned,
                format!("you are banned from #{}", r.name),
            ));
        }
        Ok((Response::Done, self.add_invited(room, user)))
    }

    /// Tells `user`'s sessions of an invitation.
    pub fn tell_invited(&self, user: i64, invitation: Invitation) {
        if let Some(f) = event(Event::Invited(invitation)) {
            self.send_user(user, &f);
        }
    }

    /// Checks that `session`'s user may report message `id` of `target`
    /// (they must be in the room), and finds it if it is in memory.
    pub fn reportable(
        &self,
        session: u64,
        target: &str,
        id: natter_shared::MessageId,
    ) -> Result<Reportable, ErrorReply> {
        let user = self.logged_in(session)?;
        let room = self.member_room(user, target)?;
        let found = room
            .ring
            .iter()
            .find(|m| m.id == id)
            .map(|m| (m.author.to_string(), m.body.to_string()));
        let name = match room.direct {
            Some((a, b)) => format!("@{}+@{}", self.user_name(a), self.user_name(b)),
            None => format!("#{}", room.name),
        };
        Ok(Reportable {
            room: room.id,
            name,
            reporter: self.user_name(user).to_string(),
            found,
        })
    }

    /// Sends a report to the server's admins who are online and the room's
    /// moderators and owners, except the reported author (who is not told,
    /// moderator or not).
    pub fn tell_moderators(&self, room: i64, report: Report) {
        let author = self.user_ids.get(report.author.as_str()).copied();
        let Some(f) = event(Event::Reported(report)) else {
            return;
        };
        let mut told = super::IdSet::default();
        told.extend(author);
        if let Some(r) = self.rooms.get(&room) {
            for (uid, m) in &r.members {
                if m.role.rank() >= Role::Moderator.rank() && told.insert(*uid) {
                    self.send_user(*uid, &f);
                }
            }
        }
        for (uid, u) in &self.users {
            if u.admin && !u.sessions.is_empty() && told.insert(*uid) {
                self.send_user(*uid, &f);
            }
        }
    }
}
